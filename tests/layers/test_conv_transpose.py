"""nn.ConvTranspose1d/2d/3d and F.conv_transpose* against torch over their options:
forward and gradients (input, weight, bias), output_size, state_dict layout, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from conftest import assert_close, load_torch, to_numpy

import jaxnn as nn
import jaxnn.functional as F

ATOL = 1e-5

LAYERS = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
TORCH = {1: torch.nn.ConvTranspose1d, 2: torch.nn.ConvTranspose2d, 3: torch.nn.ConvTranspose3d}

CASES = [
    (2, dict(in_channels=3, out_channels=4, kernel_size=3)),
    (2, dict(in_channels=3, out_channels=4, kernel_size=4, stride=2, padding=1)),
    (2, dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1, output_padding=1)),
    (2, dict(in_channels=4, out_channels=6, kernel_size=(3, 2), stride=(2, 3), groups=2)),
    (2, dict(in_channels=4, out_channels=4, kernel_size=3, stride=2, groups=4, bias=False)),
    (2, dict(in_channels=3, out_channels=2, kernel_size=3, stride=2, dilation=2, output_padding=1)),
    (2, dict(in_channels=3, out_channels=2, kernel_size=2, stride=3, padding=(0, 1))),
    (2, dict(in_channels=3, out_channels=2, kernel_size=3, padding=3)),  # padding crops
    (2, dict(in_channels=2, out_channels=3, kernel_size=5, stride=5)),  # 25 phases: fallback
    (1, dict(in_channels=3, out_channels=4, kernel_size=4, stride=2, padding=1)),
    (1, dict(in_channels=4, out_channels=2, kernel_size=3, stride=3, dilation=2, groups=2)),
    (3, dict(in_channels=2, out_channels=3, kernel_size=3, stride=2, padding=1, output_padding=1)),
    (3, dict(in_channels=2, out_channels=4, kernel_size=(2, 3, 1), stride=(1, 2, 2), groups=2)),
]


def _ids(case):
    n, kwargs = case
    return f"{n}d-" + ",".join(f"{k}={v}" for k, v in kwargs.items() if "channels" not in k)


def _pair(n, kwargs, rng, batch=2, size=5):
    layer = LAYERS[n](**kwargs)
    x = rng.standard_normal((batch, kwargs["in_channels"], *(size,) * n)).astype(np.float32)
    v = layer.init(jax.random.key(0), x)
    return layer, v, load_torch(TORCH[n](**kwargs), v), x


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_forward_and_gradients_match_torch(case, rng):
    n, kwargs = case
    layer, v, ref, x = _pair(n, kwargs, rng)
    xt = torch.from_numpy(x).requires_grad_()
    yt = ref(xt)
    g = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.from_numpy(g))

    @jax.jit
    def forward_and_vjp(params, x, g):  # one compilation instead of one per operation
        y, vjp = jax.vjp(lambda p, x: layer.apply({"params": p}, x), params, x)
        return y, *vjp(g)

    y, grads, gx = forward_and_vjp(v["params"], x, g)
    assert_close(y, to_numpy(yt), ATOL, what="forward")
    assert_close(gx, to_numpy(xt.grad), ATOL, what="input gradient")
    kernel = np.moveaxis(np.asarray(grads["kernel"]), (-1, -2), (0, 1))  # (*k, O/g, I) -> torch
    assert_close(kernel, to_numpy(ref.weight.grad), 1e-4, what="weight gradient")
    if kwargs.get("bias", True):
        assert_close(grads["bias"], to_numpy(ref.bias.grad), 1e-4, what="bias gradient")


def test_kernel_converts_through_the_existing_kernel_row(rng):
    # the Flax kernel is the HWIO kernel of the adjoint convolution: no special case
    layer = nn.ConvTranspose2d(4, 6, (3, 2), groups=2)
    v = layer.init(jax.random.key(0), jnp.ones((1, 4, 5, 5)))
    assert v["params"]["kernel"].shape == (3, 2, 3, 4)
    ref = load_torch(torch.nn.ConvTranspose2d(4, 6, (3, 2), groups=2), v)
    assert tuple(ref.weight.shape) == (4, 3, 3, 2)
    np.testing.assert_array_equal(
        to_numpy(ref.weight), np.transpose(np.asarray(v["params"]["kernel"]), (3, 2, 0, 1))
    )


@pytest.mark.parametrize("output_size", [(11, 12), (12, 11), [1, 6, 12, 12], (11, 11)])
def test_output_size_picks_output_padding(output_size, rng):
    kwargs = dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1)
    layer, v, ref, x = _pair(2, kwargs, rng, size=6)
    expected = to_numpy(ref(torch.from_numpy(x), output_size=output_size))
    assert_close(layer.apply(v, x, output_size=output_size), expected, ATOL)


def test_unbatched_input_and_output_size(rng):
    kwargs = dict(in_channels=3, out_channels=2, kernel_size=3, stride=2)
    layer, v, ref, _ = _pair(1, kwargs, rng)
    x = rng.standard_normal((3, 6)).astype(np.float32)
    assert_close(layer.apply(v, x), to_numpy(ref(torch.from_numpy(x))), ATOL)
    got = layer.apply(v, x, output_size=[14])
    assert_close(got, to_numpy(ref(torch.from_numpy(x), output_size=[14])), ATOL)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_functional_takes_torch_layout(n, rng):
    x = rng.standard_normal((2, 4, *(4,) * n)).astype(np.float32)
    w = rng.standard_normal((4, 3, *(3,) * n)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    kwargs = dict(stride=2, padding=1, output_padding=1, groups=2, dilation=1)
    got = getattr(F, f"conv_transpose{n}d")(x, w, b, **kwargs)
    t = torch.from_numpy
    expected = getattr(torch.nn.functional, f"conv_transpose{n}d")(t(x), t(w), t(b), **kwargs)
    assert_close(got, to_numpy(expected), ATOL)


def test_default_init_uses_torch_fan_in():
    layer = nn.ConvTranspose2d(8, 6, 3, groups=2)
    v = layer.init(jax.random.key(0), jnp.ones((1, 8, 4, 4)))
    bound = 1 / np.sqrt(6 // 2 * 9)  # torch's fan_in: weight.shape[1] * k * k
    kernel, bias = np.asarray(v["params"]["kernel"]), np.asarray(v["params"]["bias"])
    assert np.abs(kernel).max() <= bound and kernel.max() > 0.9 * bound
    assert 0.5 * bound < np.abs(bias).max() <= bound


def test_repr_matches_torch():
    for n, kwargs in CASES:
        assert repr(LAYERS[n](**kwargs)) == repr(TORCH[n](**kwargs))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(padding_mode="reflect"), r'only "zeros" padding mode is supported'),
        (dict(padding="same"), r"padding must be an int or a tuple of ints"),
        (dict(stride=2, output_padding=2), r"output padding must be smaller than either"),
        (dict(groups=4), r"in_channels \(6\) must be divisible by groups \(4\)"),
        (dict(kernel_size=0), r"must be positive"),
    ],
)
def test_constructor_errors(kwargs, match):
    args = dict(in_channels=6, out_channels=4, kernel_size=3)
    with pytest.raises(ValueError, match=match):
        nn.ConvTranspose2d(**{**args, **kwargs})


def test_call_errors():
    layer = nn.ConvTranspose2d(4, 6, 3, stride=2)
    x = jnp.ones((1, 4, 5, 5))
    v = layer.init(jax.random.key(0), x)
    with pytest.raises(
        ValueError,
        match=r"requested an output size of \(20, 20\), but valid sizes range "
        r"from \[11, 11\] to \[12, 12\] \(for an input of \(5, 5\)\)",
    ):
        layer.apply(v, x, output_size=(20, 20))
    with pytest.raises(ValueError, match=r"output_size must have 2 or 4 elements \(got 1\)"):
        layer.apply(v, x, output_size=(12,))
    with pytest.raises(
        ValueError, match=r"ConvTranspose2d\(4, 6.*expected input of shape \(N, 4, H, W\)"
    ):
        layer.apply(v, jnp.ones((1, 3, 5, 5)))
    with pytest.raises(ValueError, match=r"the output would have size \(0,\)"):
        F.conv_transpose1d(jnp.ones((1, 2, 4)), jnp.ones((2, 3, 1)), padding=2)
    with pytest.raises(ValueError, match=r"weight must be 4-D \(in, out/groups, \*kernel\)"):
        F.conv_transpose2d(jnp.ones((1, 2, 4, 4)), jnp.ones((2, 3, 1)))
    with pytest.raises(ValueError, match=r"input has 2 channels .* expects 3"):
        F.conv_transpose2d(jnp.ones((1, 2, 4, 4)), jnp.ones((3, 3, 1, 1)))
