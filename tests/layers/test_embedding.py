"""nn.Embedding and F.embedding against torch: lookups, N(0, 1) init with a zero padding
row, gradients (padding row never updated, scale_grad_by_freq, max_norm), from_pretrained,
out-of-range indices and errors. Tolerance: 1e-6 abs (a lookup is exact; max_norm
rescales)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from conftest import assert_close, load_torch, to_numpy

import jaxnn as nn
import jaxnn.functional as F
from jaxnn.compat import flax_to_torch

ATOL = 1e-6
IDX = np.array([[1, 2, 4, 5], [4, 3, 2, 9], [0, 0, 9, 1]], np.int32)


def grads(layer, variables, idx, r):
    """Gradient of sum(sin(out) * r) w.r.t. the table (jaxnn)."""
    return jax.jit(jax.grad(lambda p: jnp.sum(jnp.sin(layer.apply({"params": p}, idx)) * r)))(
        variables["params"]
    )["embedding"]


def torch_grads(ref, idx, r):
    out = ref(torch.from_numpy(idx).long())
    (torch.sin(out) * torch.from_numpy(r)).sum().backward()
    grad = ref.weight.grad
    return to_numpy(out), to_numpy(grad.to_dense() if grad.is_sparse else grad)


CASES = [
    dict(num_embeddings=10, embedding_dim=3),
    dict(num_embeddings=10, embedding_dim=3, padding_idx=0),
    dict(num_embeddings=10, embedding_dim=3, padding_idx=-1),
    dict(num_embeddings=10, embedding_dim=3, scale_grad_by_freq=True, padding_idx=2),
    dict(num_embeddings=10, embedding_dim=3, max_norm=1.0),
    dict(num_embeddings=10, embedding_dim=3, max_norm=0.5, norm_type=1.0),
    dict(num_embeddings=10, embedding_dim=3, sparse=True),
]


@pytest.mark.parametrize("kwargs", CASES, ids=str)
def test_lookup_and_gradient_match_torch(kwargs, rng):
    layer = nn.Embedding(**kwargs)
    v = layer.init(jax.random.key(0), IDX)
    v = {"params": {"embedding": v["params"]["embedding"] * 2.0}}  # some rows above max_norm
    ref = load_torch(torch.nn.Embedding(**kwargs), v)
    r = rng.standard_normal((*IDX.shape, 3)).astype(np.float32)
    want, want_grad = torch_grads(ref, IDX, r)
    assert_close(layer.apply(v, IDX), want, ATOL)
    grad = grads(layer, v, IDX, r)
    assert_close(grad, want_grad, ATOL, what="weight grad")
    if layer.padding_idx is not None:
        assert not np.any(np.asarray(grad)[layer.padding_idx])
    assert repr(layer) == repr(torch.nn.Embedding(**kwargs))


def test_max_norm_renormalizes_looked_up_rows_as_torch_writes_them(rng):
    weight = (rng.standard_normal((10, 3)) * 3).astype(np.float32)
    out = F.embedding(IDX, weight, max_norm=1.0)
    table = torch.from_numpy(weight.copy())
    want = torch.nn.functional.embedding(torch.from_numpy(IDX).long(), table, max_norm=1.0)
    assert_close(out, to_numpy(want), ATOL)
    # torch rewrote the rows in its table; jaxnn's table is unchanged (immutable arrays)
    assert_close(F.embedding(IDX, to_numpy(table)), to_numpy(want), ATOL)
    assert not np.allclose(weight, to_numpy(table))


def test_default_init_is_standard_normal_with_a_zero_padding_row():
    v = nn.Embedding(4000, 16, padding_idx=3).init(jax.random.key(0), IDX)
    w = np.asarray(v["params"]["embedding"])
    assert w.shape == (4000, 16) and not np.any(w[3])
    rest = np.delete(w, 3, axis=0)
    assert abs(rest.mean()) < 0.01 and abs(rest.std() - 1.0) < 0.01  # 64k draws of N(0, 1)


def test_state_dict_is_torchs_weight_unchanged(rng):
    v = nn.Embedding(10, 3).init(jax.random.key(0), IDX)
    sd = flax_to_torch(v)
    assert list(sd) == ["weight"]
    np.testing.assert_array_equal(to_numpy(sd["weight"]), np.asarray(v["params"]["embedding"]))


@pytest.mark.parametrize("freeze", [True, False])
def test_from_pretrained(freeze, rng):
    table = rng.standard_normal((5, 4)).astype(np.float32)
    layer = nn.Embedding.from_pretrained(table, freeze=freeze, padding_idx=1)
    ref = torch.nn.Embedding.from_pretrained(torch.from_numpy(table), freeze=freeze, padding_idx=1)
    idx = np.array([[0, 1, 4], [3, 3, 1]], np.int32)
    v = layer.init(jax.random.key(0), idx)
    np.testing.assert_array_equal(np.asarray(v["params"]["embedding"]), table)  # row 1 kept
    r = rng.standard_normal((2, 3, 4)).astype(np.float32)
    out = ref(torch.from_numpy(idx).long())
    assert_close(layer.apply(v, idx), to_numpy(out), ATOL)
    grad = grads(layer, v, idx, r)
    if freeze:
        assert not np.any(np.asarray(grad)) and not out.requires_grad
    else:
        (torch.sin(out) * torch.from_numpy(r)).sum().backward()
        assert_close(grad, to_numpy(ref.weight.grad), ATOL)
    assert repr(layer) == repr(ref)


def test_attend_scores_every_row(rng):
    layer = nn.Embedding(6, 4)
    v = layer.init(jax.random.key(0), IDX[:, :1])
    q = rng.standard_normal((2, 3, 4)).astype(np.float32)
    got = layer.apply(v, q, method="attend")
    assert_close(got, q @ np.asarray(v["params"]["embedding"]).T, ATOL)


def test_functional_embedding_matches_torch(rng):
    weight = rng.standard_normal((10, 5)).astype(np.float32)
    want = torch.nn.functional.embedding(torch.from_numpy(IDX).long(), torch.from_numpy(weight))
    assert_close(F.embedding(IDX, weight), to_numpy(want), ATOL)
    assert_close(F.embedding(IDX[0, 0], weight), weight[IDX[0, 0]], ATOL)  # 0-d index


# ----------------------------------------------------------------------------- out of range


@pytest.mark.parametrize("bad", [10, -1])
def test_out_of_range_index_raises_when_concrete(bad):
    layer = nn.Embedding(10, 3)
    v = layer.init(jax.random.key(0), IDX)
    idx = IDX.copy()
    idx[1, 2] = bad
    with pytest.raises(IndexError, match=rf"Embedding\(10, 3\).*index {bad} is out of range"):
        layer.apply(v, idx)
    with pytest.raises(IndexError, match=rf"embedding: index {bad} is out of range for 10"):
        F.embedding(idx, v["params"]["embedding"])
    # under jit the values are unknown: the row is NaN, never another row's values
    out = np.asarray(jax.jit(layer.apply)(v, idx))
    assert np.isnan(out[1, 2]).all() and not np.isnan(np.delete(out.reshape(-1, 3), 6, 0)).any()


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (
            lambda: nn.Embedding(10, 3, padding_idx=10),
            ValueError,
            r"padding_idx must be within num_embeddings \(10\), got 10",
        ),
        (
            lambda: nn.Embedding(10, 3, padding_idx=-11),
            ValueError,
            r"padding_idx must be within num_embeddings \(10\), got -11",
        ),
        (
            lambda: nn.Embedding.from_pretrained(np.ones(3)),
            ValueError,
            r"embeddings must be 2-dimensional, got shape \(3,\)",
        ),
        (
            lambda: nn.Embedding(4, 3, _weight=np.ones((3, 3))),
            ValueError,
            r"_weight has shape \(3, 3\), expected \(4, 3\)",
        ),
        (
            lambda: nn.Embedding(10, 3).init(jax.random.key(0), jnp.ones((2, 2))),
            TypeError,
            r"Embedding\(10, 3\).*expected integer indices, got dtype float32",
        ),
        (
            lambda: F.embedding(IDX, jnp.ones(10)),
            ValueError,
            r"embedding: weight must be 2-D \(num_embeddings, embedding_dim\), got shape \(10,\)",
        ),
        (
            lambda: nn.Embedding(10, 3).apply(
                nn.Embedding(10, 3).init(jax.random.key(0), IDX), jnp.ones((2, 4)), method="attend"
            ),
            ValueError,
            r"attend: query has 4 features \(shape \(2, 4\)\), expected 3",
        ),
    ],
)
def test_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()
