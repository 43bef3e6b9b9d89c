"""Activation layers and their functional forms against torch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from conftest import assert_close, to_numpy

import jaxnn as nn
import jaxnn.functional as F

ATOL = 1e-5

PAIRS = [
    (nn.ReLU(), torch.nn.ReLU()),
    (nn.LeakyReLU(), torch.nn.LeakyReLU()),
    (nn.LeakyReLU(0.2), torch.nn.LeakyReLU(0.2)),
    (nn.ELU(), torch.nn.ELU()),
    (nn.ELU(alpha=0.5), torch.nn.ELU(alpha=0.5)),
    (nn.GELU(), torch.nn.GELU()),
    (nn.GELU("tanh"), torch.nn.GELU("tanh")),
    (nn.SiLU(), torch.nn.SiLU()),
    (nn.Sigmoid(), torch.nn.Sigmoid()),
    (nn.Tanh(), torch.nn.Tanh()),
    (nn.Softmax(dim=1), torch.nn.Softmax(dim=1)),
    (nn.Softmax(dim=-1), torch.nn.Softmax(dim=-1)),
    (nn.LogSoftmax(dim=1), torch.nn.LogSoftmax(dim=1)),
    (nn.LogSoftmax(dim=0), torch.nn.LogSoftmax(dim=0)),
]


@pytest.mark.parametrize(("layer", "ref"), PAIRS, ids=lambda m: repr(m))
def test_forward_and_gradient_match_torch(layer, ref, rng):
    x = (rng.standard_normal((4, 6, 3)) * 3).astype(np.float32)
    assert_close(layer.apply({}, x), to_numpy(ref(torch.from_numpy(x))), ATOL)
    g = jax.grad(lambda x: jnp.sum(jnp.cos(layer.apply({}, x))))(x)
    xt = torch.from_numpy(x).requires_grad_()
    torch.cos(ref(xt)).sum().backward()
    assert_close(g, to_numpy(xt.grad), ATOL)
    assert repr(layer) == repr(ref)


@pytest.mark.filterwarnings("ignore:Implicit dimension choice")
@pytest.mark.parametrize("ndim", [1, 2, 3, 4])
def test_softmax_implicit_dim_follows_torch(ndim, rng):
    x = rng.standard_normal((3, 4, 5, 6)[:ndim]).astype(np.float32)
    expected = to_numpy(torch.nn.functional.softmax(torch.from_numpy(x), dim=None))
    assert_close(F.softmax(x), expected, ATOL)


def test_softmax_implicit_dim_warns_and_bad_dim_raises():
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        F.softmax(jnp.ones((2, 3)))
    with pytest.raises(IndexError, match="dim 2 is out of range for an input of rank 2"):
        F.log_softmax(jnp.ones((2, 3)), dim=2)
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        nn.GELU("fast")
