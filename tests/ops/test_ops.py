"""jaxnn.ops against torchvision.ops' own code (imported as tests/conftest.py explains):
forward and gradients, state_dict keys both ways, train/eval behaviour."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from conftest import assert_close, import_torchvision, load_torch, to_numpy

import jaxnn as nn
from jaxnn import ops
from jaxnn.state_dict import state_dict

ATOL = 1e-5


@pytest.fixture(scope="module")
def tv():
    return import_torchvision("ops.misc")


def _compare(ours, theirs, x, rng, mutable=False, atol=ATOL):
    """Forward (eval, or train with batch statistics) and input/parameter gradients."""
    v = ours.init(jax.random.key(0), x)
    ref = load_torch(theirs, v)
    assert list(state_dict(v)) == list(ref.state_dict())  # torchvision's keys, in order
    ref.train(mutable)
    xt = torch.from_numpy(x).requires_grad_()
    yt = ref(xt)
    g = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.from_numpy(g))
    rest = {k: c for k, c in v.items() if k != "params"}

    def run(params, x):
        kw = {"mutable": ["batch_stats"]} if mutable else {}
        out = ours.apply({"params": params, **rest}, x, **kw)
        return out[0] if mutable else out

    y, vjp = jax.vjp(run, v.get("params", {}), x)
    gp, gx = vjp(g)
    assert_close(y, to_numpy(yt), atol, what="forward")
    assert_close(gx, to_numpy(xt.grad), atol, what="input gradient")
    torch_grads = {k: p.grad for k, p in ref.named_parameters()}
    for key, grad in state_dict({"params": gp}).items():
        assert_close(grad, to_numpy(torch_grads[key]), 1e-4, what=key)
    return v, ref


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),
        dict(kernel_size=1, stride=2),
        dict(kernel_size=3, stride=2, groups=4, activation_layer="Hardswish"),
        dict(kernel_size=(3, 5), dilation=2, norm_layer=None, activation_layer="SiLU"),
        dict(kernel_size=3, activation_layer=None, bias=True, padding=0),
        dict(kernel_size=3, norm_layer="bn_eps", inplace=None, activation_layer="ReLU6"),
    ],
    ids=str,
)
@pytest.mark.parametrize("train", [False, True])
def test_conv2d_norm_activation(kwargs, train, tv, rng):
    def resolve(value, mod, eps_kind):
        if value == "bn_eps":  # what torchvision's mobilenet/efficientnet pass
            return functools.partial(mod.BatchNorm2d, eps=0.001, momentum=0.01)
        return getattr(mod, value) if isinstance(value, str) else value

    ours_kw = {k: resolve(v, nn, k) for k, v in kwargs.items()}
    theirs_kw = {k: resolve(v, torch.nn, k) for k, v in kwargs.items()}
    x = rng.standard_normal((2, 4, 9, 8)).astype(np.float32)
    ours = ops.Conv2dNormActivation(4, 8, **ours_kw)
    theirs = tv.Conv2dNormActivation(4, 8, **theirs_kw)
    _compare(ours, theirs, x, rng, mutable=train)
    assert ours.out_channels == theirs.out_channels == 8
    assert len(ours) == len(theirs)


def test_conv2d_norm_activation_batch_stats_update_as_torch(tv, rng):
    x = rng.standard_normal((4, 3, 6, 6)).astype(np.float32)
    ours, theirs = ops.Conv2dNormActivation(3, 5), tv.Conv2dNormActivation(3, 5)
    v = ours.init(jax.random.key(0), x)
    ref = load_torch(theirs, v).train()
    ref(torch.from_numpy(x))
    _, updates = ours.apply(v, x, mutable=["batch_stats"])
    sd = state_dict({**v, **updates})
    for key in ("1.running_mean", "1.running_var", "1.num_batches_tracked"):
        assert_close(sd[key], to_numpy(ref.state_dict()[key]), ATOL, what=key)


@pytest.mark.parametrize(
    ("activation", "scale"), [("ReLU", "Sigmoid"), ("SiLU", "Hardsigmoid")], ids=str
)
def test_squeeze_excitation(activation, scale, tv, rng):
    x = rng.standard_normal((2, 6, 5, 4)).astype(np.float32)
    ours = ops.SqueezeExcitation(6, 3, getattr(nn, activation), getattr(nn, scale))
    theirs = tv.SqueezeExcitation(6, 3, getattr(torch.nn, activation), getattr(torch.nn, scale))
    _compare(ours, theirs, x, rng)


def test_conv_layer_builds_the_convolutions(tv, rng):
    """conv_layer (torchvision's _ConvNormActivation argument; a jaxnn addition for
    SqueezeExcitation) is how a model gives its convolutions their initialisation."""
    conv = functools.partial(
        nn.Conv2d, weight_init=nn.init.constant_(0.25), bias_init=nn.init.constant_(-0.5)
    )
    x = rng.standard_normal((2, 6, 5, 4)).astype(np.float32)
    block = ops.Conv2dNormActivation(6, 4, groups=2, bias=True, conv_layer=conv)
    se = ops.SqueezeExcitation(6, 3, conv_layer=conv)
    for ours, keys in ((block, ("0",)), (se, ("fc1", "fc2"))):
        params = ours.init(jax.random.key(0), x)["params"]
        for key in keys:
            np.testing.assert_array_equal(params[key]["kernel"], 0.25)
            np.testing.assert_array_equal(params[key]["bias"], -0.5)
    _compare(se, tv.SqueezeExcitation(6, 3), x, rng)
    _compare(block, tv.Conv2dNormActivation(6, 4, groups=2, bias=True), x, rng)


def test_linear_layer_builds_the_mlp_layers(tv, rng):
    """linear_layer (a jaxnn addition to MLP) is how a model (ViT's MLPBlock) gives its
    Linear layers their initialisation; the layers compute as torchvision's."""
    linear = functools.partial(
        nn.Linear, weight_init=nn.init.constant_(0.25), bias_init=nn.init.constant_(-0.5)
    )
    x = rng.standard_normal((3, 4)).astype(np.float32)
    ours = ops.MLP(4, [6, 2], linear_layer=linear)
    params = ours.init(jax.random.key(0), x)["params"]
    assert sorted(params) == ["0", "3"]
    for key in params:
        np.testing.assert_array_equal(params[key]["kernel"], 0.25)
        np.testing.assert_array_equal(params[key]["bias"], -0.5)
    _compare(ours, tv.MLP(4, [6, 2]), x, rng)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(hidden_channels=[8, 3]),
        dict(hidden_channels=[5], bias=False),
        dict(hidden_channels=[8, 8, 2], activation_layer="GELU", inplace=None, dropout=0.2),
    ],
    ids=str,
)
def test_mlp_in_eval_mode(kwargs, tv, rng):
    ours_kw = {k: getattr(nn, v) if k == "activation_layer" else v for k, v in kwargs.items()}
    theirs_kw = {
        k: getattr(torch.nn, v) if k == "activation_layer" else v for k, v in kwargs.items()
    }
    x = rng.standard_normal((3, 5, 4)).astype(np.float32)
    ours, theirs = ops.MLP(4, **ours_kw), tv.MLP(4, **theirs_kw)
    _compare(ours, theirs, x, rng)
    assert [type(m).__name__ for m in ours] == [type(m).__name__ for m in theirs]


def test_frozen_batch_norm_buffers_convert_and_never_train(tv, rng):
    ours, theirs = ops.FrozenBatchNorm2d(5, eps=1e-3), tv.FrozenBatchNorm2d(5, eps=1e-3)
    x = rng.standard_normal((2, 5, 3, 4)).astype(np.float32)
    v = ours.init(jax.random.key(0), x)
    assert set(v) == {"buffers"}  # nothing to train
    values = {
        k: rng.uniform(0.5, 2.0, 5).astype(np.float32)
        for k in ("weight", "bias", "running_mean", "running_var")
    }
    theirs.load_state_dict({k: torch.from_numpy(a) for k, a in values.items()})
    v = {"buffers": {k: jnp.asarray(a) for k, a in values.items()}}
    # buffers without a table row come in alphabetical order (state_dict's documented rule)
    assert sorted(state_dict(v)) == sorted(theirs.state_dict())
    xt = torch.from_numpy(x).requires_grad_()
    yt = theirs(xt)
    yt.sum().backward()
    assert_close(ours.apply(v, x), to_numpy(yt), ATOL)
    assert_close(jax.grad(lambda x: ours.apply(v, x).sum())(x), to_numpy(xt.grad), ATOL)
    assert repr(ours) == repr(theirs)
    with pytest.raises(
        ValueError,
        match=r"FrozenBatchNorm2d\(5, eps=0.001\).*expected input "
        r"of shape \(N, 5, H, W\)",
    ):
        ours.apply(v, x[:, :3])


def test_permute(tv, rng):
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    ref = tv.Permute([0, 2, 3, 1])
    np.testing.assert_array_equal(
        np.asarray(ops.Permute((0, 2, 3, 1)).apply({}, x)), to_numpy(ref(torch.from_numpy(x)))
    )
    with pytest.raises(ValueError, match=r"dims \(0, 1\) is not a permutation of the 4 dims"):
        ops.Permute((0, 1)).apply({}, x)


@pytest.mark.parametrize("mode", ["row", "batch"])
def test_stochastic_depth_train_and_eval(mode):
    sd_module = import_torchvision("ops.stochastic_depth")
    layer = ops.StochasticDepth(0.3, mode)
    assert repr(layer) == repr(sd_module.StochasticDepth(0.3, mode))
    x = jnp.ones((4000 if mode == "row" else 10, 3, 2))
    np.testing.assert_array_equal(layer.apply({}, x), x)  # eval mode: the identity
    keys = jax.random.split(jax.random.key(0), 1 if mode == "row" else 400)
    outs = np.stack([np.asarray(layer.apply({}, x, rngs={"dropout": k})) for k in keys])
    rows = outs.reshape(-1, 6)
    # a row (or the whole batch) is all zero or all 1 / (1 - p)
    assert np.all((rows == 0).all(1) | np.isclose(rows, 1 / 0.7).all(1))
    if mode == "batch":
        flat = outs.reshape(len(keys), -1)
        assert np.all(flat.max(1) == flat.min(1))  # one draw per batch
    kept = np.mean(outs.reshape(len(keys), x.shape[0], -1)[:, :, 0] != 0)
    n = x.shape[0] if mode == "row" else len(keys)
    assert abs(kept - 0.7) < 5 * np.sqrt(0.21 / n)
    # torchvision's own function (its random draws are torch's) yields the same two values
    torch.manual_seed(0)
    theirs = to_numpy(sd_module.stochastic_depth(torch.ones(4000, 3, 2), 0.3, mode, True))
    for values in (np.unique(theirs), np.unique(outs)):
        assert np.all(np.isclose(values, 0.0) | np.isclose(values, 1 / 0.7)), values


def test_stochastic_depth_errors():
    with pytest.raises(ValueError, match=r"mode has to be either 'batch' or 'row', but got col"):
        ops.StochasticDepth(0.1, "col")
    with pytest.raises(ValueError, match=r"drop probability has to be between 0 and 1"):
        ops.stochastic_depth(jnp.ones(3), 1.5, "row")
    with pytest.raises(ValueError, match=r"training=True needs a random key"):
        ops.stochastic_depth(jnp.ones(3), 0.5, "row")
    with pytest.raises(ValueError, match=r"MLP: hidden_channels must list at least one"):
        ops.MLP(4, [])
