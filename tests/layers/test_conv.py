"""nn.Conv2d against torch.nn.Conv2d over its options."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from conftest import assert_close, load_torch, to_numpy

import jaxnn as nn
import jaxnn.functional as F

ATOL = 1e-5

# torch warns that it copies the input for even kernels with padding='same'
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")

CASES = [
    dict(in_channels=3, out_channels=6, kernel_size=5),
    dict(in_channels=3, out_channels=4, kernel_size=(3, 2), stride=(2, 1)),
    dict(in_channels=3, out_channels=4, kernel_size=3, padding=1, bias=False),
    dict(in_channels=3, out_channels=4, kernel_size=3, padding=(2, 0), stride=2),
    dict(in_channels=3, out_channels=4, kernel_size=4, padding="same"),
    dict(in_channels=3, out_channels=4, kernel_size=3, padding="same", dilation=2),
    dict(in_channels=3, out_channels=4, kernel_size=3, padding="valid"),
    dict(in_channels=3, out_channels=5, kernel_size=3, dilation=(2, 3), padding=2),
    dict(in_channels=4, out_channels=6, kernel_size=3, groups=2, padding=1),
    dict(in_channels=4, out_channels=4, kernel_size=3, groups=4, stride=2),
    dict(in_channels=3, out_channels=4, kernel_size=3, padding=2, padding_mode="reflect"),
    dict(in_channels=3, out_channels=4, kernel_size=3, padding=1, padding_mode="replicate"),
    dict(in_channels=3, out_channels=4, kernel_size=3, padding=(1, 2), padding_mode="circular"),
    dict(in_channels=3, out_channels=4, kernel_size=4, padding="same", padding_mode="reflect"),
]


@pytest.mark.parametrize("kwargs", CASES, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
@pytest.mark.parametrize("spatial", [(11, 9), (16, 16)])
def test_forward_matches_torch(kwargs, spatial, rng):
    layer = nn.Conv2d(**kwargs)
    x = rng.standard_normal((2, kwargs["in_channels"], *spatial)).astype(np.float32)
    v = layer.init(jax.random.key(0), x)
    ref = load_torch(torch.nn.Conv2d(**kwargs), v)
    assert_close(layer.apply(v, x), to_numpy(ref(torch.from_numpy(x))), ATOL)


def test_unbatched_input(rng):
    layer = nn.Conv2d(3, 2, 3)
    x = rng.standard_normal((3, 7, 7)).astype(np.float32)
    v = layer.init(jax.random.key(0), x)
    ref = load_torch(torch.nn.Conv2d(3, 2, 3), v)
    assert_close(layer.apply(v, x), to_numpy(ref(torch.from_numpy(x))), ATOL)


@pytest.mark.parametrize("groups", [1, 2])
def test_gradients_match_torch(groups, rng):
    kwargs = dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1, groups=groups)
    layer = nn.Conv2d(**kwargs)
    x = rng.standard_normal((2, 4, 9, 9)).astype(np.float32)
    v = layer.init(jax.random.key(0), x)
    ref = load_torch(torch.nn.Conv2d(**kwargs), v)

    def loss(params, x):
        return jnp.sum(jnp.sin(layer.apply({"params": params}, x)))

    g, gx = jax.grad(loss, argnums=(0, 1))(v["params"], x)
    xt = torch.from_numpy(x).requires_grad_()
    torch.sin(ref(xt)).sum().backward()
    assert_close(gx, to_numpy(xt.grad), ATOL)
    assert_close(np.transpose(g["kernel"], (3, 2, 0, 1)), to_numpy(ref.weight.grad), 1e-4)
    assert_close(g["bias"], to_numpy(ref.bias.grad), 1e-4)


@pytest.mark.parametrize("groups", [1, 3])
def test_default_init_uses_torch_fan_in(groups):
    layer = nn.Conv2d(6, 12, 3, groups=groups)
    v = layer.init(jax.random.key(0), jnp.ones((1, 6, 8, 8)))
    bound = 1 / np.sqrt(6 // groups * 9)
    kernel, bias = np.asarray(v["params"]["kernel"]), np.asarray(v["params"]["bias"])
    assert kernel.shape == (3, 3, 6 // groups, 12)
    assert np.abs(kernel).max() <= bound and kernel.max() > 0.9 * bound
    assert np.abs(bias).max() <= bound


def test_repr_matches_torch():
    for kwargs in CASES:
        assert repr(nn.Conv2d(**kwargs)) == repr(torch.nn.Conv2d(**kwargs))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            dict(in_channels=3, out_channels=4, kernel_size=3, groups=2),
            r"in_channels \(3\) must be divisible by groups \(2\)",
        ),
        (
            dict(in_channels=4, out_channels=3, kernel_size=3, groups=2),
            r"out_channels \(3\) must be divisible by groups \(2\)",
        ),
        (
            dict(in_channels=3, out_channels=4, kernel_size=3, stride=2, padding="same"),
            r"padding='same' is not supported for strided convolutions",
        ),
        (
            dict(in_channels=3, out_channels=4, kernel_size=3, padding="full"),
            r"padding must be 'valid', 'same'",
        ),
        (
            dict(in_channels=3, out_channels=4, kernel_size=3, padding_mode="mirror"),
            r"padding_mode must be one of",
        ),
        (dict(in_channels=3, out_channels=4, kernel_size=0), r"must be positive"),
    ],
)
def test_constructor_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        nn.Conv2d(**kwargs)


def test_wrong_channels_names_layer_and_shapes():
    with pytest.raises(
        ValueError,
        match=r"Conv2d\(3, 6, kernel_size=\(5, 5\).*expected input of "
        r"shape \(N, 3, H, W\) or \(3, H, W\), got \(2, 4, 32, 32\)",
    ):
        nn.Conv2d(3, 6, 5).init(jax.random.key(0), jnp.ones((2, 4, 32, 32)))


def test_input_smaller_than_kernel():
    with pytest.raises(
        ValueError,
        match=r"padded input size per channel \(3, 3\) is smaller "
        r"than the \(dilated\) kernel size \(5, 5\)",
    ):
        nn.Conv2d(1, 1, 5).init(jax.random.key(0), jnp.ones((1, 1, 3, 3)))


def test_reflect_padding_too_large():
    with pytest.raises(ValueError, match="reflect padding 3 must be smaller"):
        nn.Conv2d(1, 1, 1, padding=3, padding_mode="reflect").init(
            jax.random.key(0), jnp.ones((1, 1, 3, 3))
        )


ND_CASES = [
    (nn.Conv1d, torch.nn.Conv1d, dict(in_channels=3, out_channels=4, kernel_size=3), (11,)),
    (
        nn.Conv1d,
        torch.nn.Conv1d,
        dict(
            in_channels=4,
            out_channels=6,
            kernel_size=3,
            stride=2,
            padding=2,
            dilation=2,
            groups=2,
            padding_mode="reflect",
        ),
        (12,),
    ),
    (
        nn.Conv1d,
        torch.nn.Conv1d,
        dict(in_channels=3, out_channels=2, kernel_size=4, padding="same"),
        (9,),
    ),
    (nn.Conv3d, torch.nn.Conv3d, dict(in_channels=2, out_channels=4, kernel_size=3), (5, 6, 5)),
    (
        nn.Conv3d,
        torch.nn.Conv3d,
        dict(
            in_channels=4,
            out_channels=2,
            kernel_size=(1, 3, 2),
            stride=(1, 2, 1),
            padding=(0, 1, 1),
            groups=2,
            bias=False,
            padding_mode="circular",
        ),
        (3, 7, 6),
    ),
]


@pytest.mark.parametrize(
    ("layer_cls", "ref_cls", "kwargs", "spatial"),
    ND_CASES,
    ids=lambda c: str(c) if isinstance(c, dict) else "",
)
def test_conv1d_conv3d_forward_and_gradients_match_torch(layer_cls, ref_cls, kwargs, spatial, rng):
    layer = layer_cls(**kwargs)
    x = rng.standard_normal((2, kwargs["in_channels"], *spatial)).astype(np.float32)
    v = layer.init(jax.random.key(0), x)
    ref = load_torch(ref_cls(**kwargs), v)
    xt = torch.from_numpy(x).requires_grad_()
    yt = ref(xt)
    g = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.from_numpy(g))
    y, vjp = jax.vjp(lambda p, x: layer.apply({"params": p}, x), v["params"], x)
    grads, gx = vjp(g)
    assert_close(y, to_numpy(yt), ATOL, what="forward")
    assert_close(gx, to_numpy(xt.grad), ATOL, what="input gradient")
    n = len(spatial)
    kernel = np.transpose(np.asarray(grads["kernel"]), (n + 1, n, *range(n)))
    assert_close(kernel, to_numpy(ref.weight.grad), 1e-4, what="weight gradient")
    assert repr(layer) == repr(ref)


def test_conv1d_conv3d_functional_and_unbatched(rng):
    t = torch.from_numpy
    x = rng.standard_normal((4, 10)).astype(np.float32)  # unbatched (C, L)
    w = rng.standard_normal((6, 2, 3)).astype(np.float32)
    expected = torch.nn.functional.conv1d(t(x), t(w), stride=2, groups=2)
    assert_close(F.conv1d(x, w, stride=2, groups=2), to_numpy(expected), ATOL)
    x3 = rng.standard_normal((1, 2, 4, 5, 6)).astype(np.float32)
    w3 = rng.standard_normal((3, 2, 2, 3, 3)).astype(np.float32)
    expected = torch.nn.functional.conv3d(t(x3), t(w3), padding="same")
    assert_close(F.conv3d(x3, w3, padding="same"), to_numpy(expected), ATOL)
    with pytest.raises(ValueError, match=r"conv1d: weight must be 3-D"):
        F.conv1d(x, w3)
    with pytest.raises(ValueError, match=r"Conv1d\(3, 2.*expected input of shape \(N, 3, L\)"):
        nn.Conv1d(3, 2, 3).init(jax.random.key(0), jnp.ones((2, 3, 4, 4)))
    with pytest.raises(TypeError, match=r"kernel_size must be an int or a triple of ints"):
        nn.Conv3d(3, 2, (3, 3))
