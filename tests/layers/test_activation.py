"""Activation layers and their functional forms against torch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from conftest import assert_close, load_torch, to_numpy

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


# every kink of the activations below, hit exactly, plus the linear regions of Softplus
KINKS = np.array([-6, -3, -2, -1, -0.5, -0.3, 0, 0.1, 0.3, 0.5, 1, 2, 3, 6, 7, 25, -25], np.float32)

KINK_PAIRS = [
    (nn.ReLU(), torch.nn.ReLU()),
    (nn.LeakyReLU(0.2), torch.nn.LeakyReLU(0.2)),
    (nn.ELU(alpha=0.5), torch.nn.ELU(alpha=0.5)),
    (nn.ReLU6(), torch.nn.ReLU6()),
    (nn.ReLU6(inplace=True), torch.nn.ReLU6(inplace=True)),
    (nn.Hardtanh(), torch.nn.Hardtanh()),
    (nn.Hardtanh(-2.0, 3.0), torch.nn.Hardtanh(-2.0, 3.0)),
    (nn.Hardswish(), torch.nn.Hardswish()),
    (nn.Hardsigmoid(), torch.nn.Hardsigmoid()),
    (nn.Mish(), torch.nn.Mish()),
    (nn.Softplus(), torch.nn.Softplus()),
    (nn.Softplus(beta=2.0, threshold=4.0), torch.nn.Softplus(beta=2.0, threshold=4.0)),
    (nn.SELU(), torch.nn.SELU()),
    (nn.CELU(), torch.nn.CELU()),
    (nn.CELU(alpha=0.5), torch.nn.CELU(alpha=0.5)),
    (nn.LogSigmoid(), torch.nn.LogSigmoid()),
    (nn.Softsign(), torch.nn.Softsign()),
    (nn.Softmin(dim=1), torch.nn.Softmin(dim=1)),
    (nn.Threshold(0.1, 20.0), torch.nn.Threshold(0.1, 20.0)),
    (nn.Tanhshrink(), torch.nn.Tanhshrink()),
    (nn.Hardshrink(), torch.nn.Hardshrink()),
    (nn.Hardshrink(1.0), torch.nn.Hardshrink(1.0)),
    (nn.Softshrink(), torch.nn.Softshrink()),
    (nn.Softshrink(0.3), torch.nn.Softshrink(0.3)),
    (nn.GLU(), torch.nn.GLU()),
    (nn.GLU(dim=0), torch.nn.GLU(dim=0)),
]


@pytest.mark.parametrize(("layer", "ref"), KINK_PAIRS, ids=lambda m: repr(m))
def test_forward_and_gradient_at_the_kinks_match_torch(layer, ref, rng):
    noise = (rng.standard_normal((4, KINKS.size)) * 3).astype(np.float32)
    x = np.concatenate([np.stack([KINKS] * 4), noise], axis=1)  # (4, 34): GLU halves it
    xt = torch.from_numpy(x).requires_grad_()
    yt = ref(xt.clone() if "inplace=True" in repr(ref) else xt)
    g = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.from_numpy(g))
    y, vjp = jax.vjp(lambda x: layer.apply({}, x), x)
    assert_close(y, to_numpy(yt), ATOL, what="forward")
    assert_close(vjp(g)[0], to_numpy(xt.grad), ATOL, what="gradient")
    assert repr(layer) == repr(ref)


FUNCTIONAL = [
    ("relu6", {}, {}),
    ("hardtanh", {"min_val": -0.5, "max_val": 2.0}, {"min_val": -0.5, "max_val": 2.0}),
    ("hardswish", {}, {}),
    ("hardsigmoid", {}, {}),
    ("mish", {}, {}),
    ("softplus", {"beta": 0.5, "threshold": 3.0}, {"beta": 0.5, "threshold": 3.0}),
    ("selu", {}, {}),
    ("celu", {"alpha": 2.0}, {"alpha": 2.0}),
    ("glu", {"dim": 1}, {"dim": 1}),
    ("logsigmoid", {}, {}),
    ("softsign", {}, {}),
    ("softmin", {"dim": 0}, {"dim": 0}),
    ("threshold", {"threshold": 1.0, "value": -1.0}, {"threshold": 1.0, "value": -1.0}),
    ("tanhshrink", {}, {}),
    ("hardshrink", {"lambd": 2.0}, {"lambd": 2.0}),
    ("softshrink", {"lambd": 1.0}, {"lambd": 1.0}),
]


@pytest.mark.parametrize(("name", "ours", "theirs"), FUNCTIONAL, ids=lambda v: str(v))
def test_functional_forms_match_torch(name, ours, theirs, rng):
    x = np.concatenate([np.stack([KINKS] * 2), rng.standard_normal((2, 3)).astype(np.float32)], 1)
    expected = getattr(torch.nn.functional, name)(torch.from_numpy(x), **theirs)
    assert_close(getattr(F, name)(x, **ours), to_numpy(expected), ATOL)


@pytest.mark.parametrize(
    ("num_parameters", "shape"), [(1, (4, 3, 5)), (3, (4, 3, 5)), (1, (6,)), (3, (2, 3))]
)
def test_prelu_matches_torch_and_keeps_torchs_init(num_parameters, shape, rng):
    layer = nn.PReLU(num_parameters, init=0.1)
    x = rng.standard_normal(shape).astype(np.float32)
    x.reshape(-1)[:3] = 0.0  # the kink
    v = layer.init(jax.random.key(0), x)
    assert set(v["params"]) == {"weight"}
    np.testing.assert_array_equal(v["params"]["weight"], np.full(num_parameters, 0.1, np.float32))
    v = {"params": {"weight": jnp.asarray(rng.uniform(0.1, 0.5, num_parameters), jnp.float32)}}
    ref = load_torch(torch.nn.PReLU(num_parameters, init=0.1), v)
    xt = torch.from_numpy(x).requires_grad_()
    yt = ref(xt)
    g = rng.standard_normal(shape).astype(np.float32)
    yt.backward(torch.from_numpy(g))
    y, vjp = jax.vjp(lambda p, x: layer.apply({"params": p}, x), v["params"], x)
    gp, gx = vjp(g)
    assert_close(y, to_numpy(yt), ATOL)
    assert_close(gx, to_numpy(xt.grad), ATOL)
    assert_close(gp["weight"], to_numpy(ref.weight.grad), 1e-4)
    assert repr(layer) == repr(ref)
    assert_close(F.prelu(x, v["params"]["weight"]), to_numpy(yt), ATOL)


def test_prelu_init_argument_does_not_shadow_flax_init():
    class Net(nn.Module):
        def setup(self):
            self.fc = nn.Linear(3, 3)
            self.act = nn.PReLU(init=0.3)

        def __call__(self, x):
            return self.act(self.fc(x))

    v = Net().init(jax.random.key(0), jnp.ones((2, 3)))  # Flax's init, through the model
    assert float(v["params"]["act"]["weight"][0]) == pytest.approx(0.3)
    layer = nn.PReLU(2, init=0.5)
    assert layer.init_value == 0.5 and callable(layer.init)
    v = layer.init(jax.random.key(0), -jnp.ones((1, 2)))  # and on the layer itself
    np.testing.assert_array_equal(layer.apply(v, -jnp.ones((1, 2))), [[-0.5, -0.5]])
    assert layer.clone().init_value == 0.5  # Flax's clone passes the field by keyword


def test_new_activation_errors():
    with pytest.raises(
        ValueError,
        match=r"glu: halving dimension must be even, but dimension "
        r"-1 is size 3",
    ):
        F.glu(jnp.ones((2, 3)))
    with pytest.raises(ValueError, match=r"Hardtanh: max_val \(1.0\) must be greater than min_val"):
        nn.Hardtanh(1.0, 1.0)
    with pytest.raises(ValueError, match=r"lambda must be greater or equal to 0"):
        nn.Softshrink(-1.0)
    with pytest.raises(ValueError, match=r"PReLU: num_parameters must be a positive int"):
        nn.PReLU(0)
    with pytest.raises(TypeError, match=r"PReLU got unexpected keyword arguments \['slope'\]"):
        nn.PReLU(slope=0.1)
    with pytest.raises(
        ValueError,
        match=r"PReLU\(num_parameters=3\).*3 parameters need the "
        r"input's dim 1",
    ):
        nn.PReLU(3).init(jax.random.key(0), jnp.ones((2, 4)))
    with pytest.raises(
        ValueError,
        match=r"prelu: the weight has 3 parameters but the input has "
        r"1 channels",
    ):
        F.prelu(jnp.ones(4), jnp.ones(3))
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmin"):
        F.softmin(jnp.ones((2, 3)))
