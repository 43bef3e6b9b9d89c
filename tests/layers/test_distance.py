"""nn.CosineSimilarity and nn.PairwiseDistance against torch, forward and gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from conftest import assert_close, to_numpy

import jaxnn as nn
import jaxnn.functional as F

ATOL = 1e-5

CASES = [
    (nn.CosineSimilarity(), torch.nn.CosineSimilarity(), (4, 5), (4, 5)),
    (
        nn.CosineSimilarity(dim=0, eps=1e-3),
        torch.nn.CosineSimilarity(dim=0, eps=1e-3),
        (5, 3),
        (5, 1),
    ),
    (nn.CosineSimilarity(dim=-1), torch.nn.CosineSimilarity(dim=-1), (2, 3, 4), (3, 4)),
    (nn.PairwiseDistance(), torch.nn.PairwiseDistance(), (4, 5), (4, 5)),
    (
        nn.PairwiseDistance(p=1.0, keepdim=True),
        torch.nn.PairwiseDistance(p=1.0, keepdim=True),
        (4, 5),
        (1, 5),
    ),
    (nn.PairwiseDistance(p=3.0, eps=0.0), torch.nn.PairwiseDistance(p=3.0, eps=0.0), (6,), (6,)),
    (
        nn.PairwiseDistance(p=float("inf")),
        torch.nn.PairwiseDistance(p=float("inf")),
        (3, 4),
        (3, 4),
    ),
]


@pytest.mark.parametrize(("layer", "ref", "s1", "s2"), CASES, ids=str)
def test_forward_and_gradients_match_torch(layer, ref, s1, s2, rng):
    x1 = rng.standard_normal(s1).astype(np.float32)
    x2 = rng.standard_normal(s2).astype(np.float32)
    x1.reshape(-1)[0] = 0.0
    t1, t2 = (torch.from_numpy(a).requires_grad_() for a in (x1, x2))
    yt = ref(t1, t2)
    g = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.from_numpy(g))
    y, vjp = jax.vjp(lambda a, b: layer.apply({}, a, b), x1, x2)
    g1, g2 = vjp(g)
    assert_close(y, to_numpy(yt), ATOL, what="forward")
    assert_close(g1, to_numpy(t1.grad), ATOL, what="x1 gradient")
    assert_close(g2, to_numpy(t2.grad), ATOL, what="x2 gradient")
    assert repr(layer) == repr(ref)


def test_cosine_similarity_clamps_each_norm_as_torch():
    # a near-zero vector: the clamp decides the value; torch's gradient ignores the clamp
    x1 = np.array([[1e-9, 2e-9, 0.0], [1.0, 2.0, 3.0]], np.float32)
    x2 = np.array([[1.0, 0.5, -1.0], [0.0, 1e-10, 0.0]], np.float32)
    t1, t2 = (torch.from_numpy(a).requires_grad_() for a in (x1, x2))
    torch.nn.functional.cosine_similarity(t1, t2).sum().backward()
    y, vjp = jax.vjp(lambda a, b: F.cosine_similarity(a, b), x1, x2)
    expected = torch.nn.functional.cosine_similarity(torch.from_numpy(x1), torch.from_numpy(x2))
    assert_close(y, to_numpy(expected), ATOL)
    g1, g2 = vjp(jnp.ones(2))  # ~1e7 where a norm is clamped: relative tolerance
    assert_close(g1, to_numpy(t1.grad), 1e-4, rtol=1e-5)
    assert_close(g2, to_numpy(t2.grad), 1e-4, rtol=1e-5)


def test_distance_errors():
    with pytest.raises(IndexError, match=r"cosine_similarity: dim 2 is out of range"):
        F.cosine_similarity(jnp.ones((2, 3)), jnp.ones((2, 3)), dim=2)
    with pytest.raises(
        ValueError,
        match=r"pairwise_distance: x1 of shape \(2, 3\) and x2 of shape \(2, 4\) do not "
        r"broadcast together",
    ):
        F.pairwise_distance(jnp.ones((2, 3)), jnp.ones((2, 4)))
