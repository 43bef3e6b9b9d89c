"""Pooling layers against torch.nn, incl. ceil_mode, padding and adaptive bins."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from conftest import assert_close, to_numpy

import jaxnn as nn
import jaxnn.functional as F

ATOL = 1e-5


def _check(layer, ref, x):
    out = layer.apply({}, x)
    assert_close(out, to_numpy(ref(torch.from_numpy(x))), ATOL)


MAX_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=2, stride=2),
    dict(kernel_size=3, stride=2),
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0)),
    dict(kernel_size=3, stride=1, dilation=2),
    dict(kernel_size=2, stride=3, dilation=(1, 2), ceil_mode=True),
    dict(kernel_size=4, stride=3, padding=2, ceil_mode=True),
]


@pytest.mark.parametrize("kwargs", MAX_CASES, ids=str)
@pytest.mark.parametrize("spatial", [(7, 7), (10, 9), (14, 14)])
def test_max_pool(kwargs, spatial, rng):
    x = rng.standard_normal((2, 3, *spatial)).astype(np.float32)
    _check(nn.MaxPool2d(**kwargs), torch.nn.MaxPool2d(**kwargs), x)


AVG_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2),
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=(4, 2), stride=(3, 1), padding=(2, 1), ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, divisor_override=5),
]


@pytest.mark.parametrize("kwargs", AVG_CASES, ids=str)
@pytest.mark.parametrize("spatial", [(7, 7), (10, 9)])
def test_avg_pool(kwargs, spatial, rng):
    x = rng.standard_normal((2, 3, *spatial)).astype(np.float32)
    _check(nn.AvgPool2d(**kwargs), torch.nn.AvgPool2d(**kwargs), x)


ADAPTIVE = [
    ((7, 7), 7),
    ((8, 8), 4),
    ((10, 9), (3, 4)),
    ((5, 7), (7, 7)),
    ((2, 2), 7),
    ((9, 6), (None, 4)),
    ((1, 1), (3, 2)),
    ((13, 11), 1),
]


@pytest.mark.parametrize(("spatial", "output_size"), ADAPTIVE, ids=str)
def test_adaptive_avg_pool(spatial, output_size, rng):
    x = rng.standard_normal((2, 3, *spatial)).astype(np.float32)
    _check(nn.AdaptiveAvgPool2d(output_size), torch.nn.AdaptiveAvgPool2d(output_size), x)


@pytest.mark.parametrize(("spatial", "output_size"), ADAPTIVE, ids=str)
def test_adaptive_max_pool(spatial, output_size, rng):
    x = rng.standard_normal((2, 3, *spatial)).astype(np.float32)
    _check(nn.AdaptiveMaxPool2d(output_size), torch.nn.AdaptiveMaxPool2d(output_size), x)


def test_unbatched_input(rng):
    x = rng.standard_normal((3, 9, 9)).astype(np.float32)
    _check(nn.MaxPool2d(3, 2, 1), torch.nn.MaxPool2d(3, 2, 1), x)
    _check(nn.AvgPool2d(2), torch.nn.AvgPool2d(2), x)
    _check(nn.AdaptiveAvgPool2d(4), torch.nn.AdaptiveAvgPool2d(4), x)


def test_max_pool_gradient_matches_torch(rng):
    x = rng.standard_normal((2, 2, 9, 9)).astype(np.float32)
    layer = nn.MaxPool2d(3, 2, padding=1, ceil_mode=True)
    g = jax.grad(lambda x: jnp.sum(layer.apply({}, x) ** 2))(x)
    xt = torch.from_numpy(x).requires_grad_()
    (torch.nn.MaxPool2d(3, 2, padding=1, ceil_mode=True)(xt) ** 2).sum().backward()
    assert_close(g, to_numpy(xt.grad), ATOL)


def _max_pool_grads(x, kwargs, rng):
    xt = torch.from_numpy(x).requires_grad_()
    yt = torch.nn.MaxPool2d(**kwargs)(xt)
    g = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.from_numpy(g))
    f = jax.jit(lambda x, g: jax.vjp(nn.MaxPool2d(**kwargs).apply, {}, x)[1](g)[1])
    return f(x, g), to_numpy(xt.grad)


@pytest.mark.parametrize("kwargs", [*MAX_CASES, dict(kernel_size=9, stride=3, padding=4)], ids=str)
def test_max_pool_gradient_on_ties_and_nans(kwargs, rng):
    # whole numbers tie often: the gradient must go where torch's goes (the first
    # maximum in window order; the last NaN of a window), not be split or misplaced.
    # kernel 9 (81 offsets) takes the reduce_window path, the others the strided views.
    x = np.round(rng.standard_normal((2, 3, 11, 10))).astype(np.float32)
    got, want = _max_pool_grads(x, kwargs, rng)
    np.testing.assert_array_equal(np.asarray(got), want)
    x[0, 0, :3, :3] = np.nan
    x[1, 2, 4, 5] = np.nan
    if kwargs["kernel_size"] != 9:  # reduce_window's gradient does not route NaNs as torch
        got, want = _max_pool_grads(x, kwargs, rng)
        np.testing.assert_array_equal(np.asarray(got), want)


def test_max_pool_forward_mode_matches_reverse(rng):
    # the pooling rule is a JVP, so jax.jvp / jacfwd work as well as grad
    x = jnp.asarray(rng.standard_normal((1, 2, 6, 6)).astype(np.float32))
    f = nn.MaxPool2d(3, 2, padding=1).apply
    fwd = jax.jacfwd(lambda x: f({}, x))(x)
    rev = jax.jacrev(lambda x: f({}, x))(x)
    np.testing.assert_array_equal(np.asarray(fwd), np.asarray(rev))
    assert float(jnp.sum(fwd)) == 2 * 3 * 3  # one input per output


def test_avg_pool_gradient_matches_torch(rng):
    x = rng.standard_normal((2, 2, 9, 9)).astype(np.float32)
    kwargs = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
    g = jax.grad(lambda x: jnp.sum(nn.AvgPool2d(**kwargs).apply({}, x) ** 2))(x)
    xt = torch.from_numpy(x).requires_grad_()
    (torch.nn.AvgPool2d(**kwargs)(xt) ** 2).sum().backward()
    assert_close(g, to_numpy(xt.grad), ATOL)


def test_repr_matches_torch():
    for kwargs in MAX_CASES:
        assert repr(nn.MaxPool2d(**kwargs)) == repr(torch.nn.MaxPool2d(**kwargs))
    assert repr(nn.AdaptiveAvgPool2d((7, 7))) == repr(torch.nn.AdaptiveAvgPool2d((7, 7)))


def test_errors():
    with pytest.raises(ValueError, match=r"padding \(2, 2\) should be at most half"):
        nn.MaxPool2d(3, padding=2)
    with pytest.raises(
        ValueError,
        match=r"expected input of shape \(N, C, H, W\) or \(C, H, W\), "
        r"got \(4, 4\)",
    ):
        nn.MaxPool2d(2).apply({}, jnp.ones((4, 4)))
    with pytest.raises(ValueError, match=r"input of spatial size \(1, 1\) is too small"):
        nn.AvgPool2d(2).apply({}, jnp.ones((1, 1, 1, 1)))
    with pytest.raises(ValueError, match="divisor_override must be non-zero"):
        nn.AvgPool2d(2, divisor_override=0)
    with pytest.raises(ValueError, match="output_size must be positive"):
        nn.AdaptiveAvgPool2d(0).apply({}, jnp.ones((1, 1, 4, 4)))


@pytest.mark.parametrize(
    ("layer", "ref"),
    [
        (nn.MaxPool2d(3, 2, padding=1), torch.nn.MaxPool2d(3, 2, padding=1)),
        (nn.AvgPool2d(3, 2, padding=1), torch.nn.AvgPool2d(3, 2, padding=1)),
        (nn.AdaptiveAvgPool2d(3), torch.nn.AdaptiveAvgPool2d(3)),
        (nn.AdaptiveMaxPool2d(3), torch.nn.AdaptiveMaxPool2d(3)),
    ],
    ids=repr,
)
def test_gradient_under_jit(layer, ref, rng):
    # jit traces the init values of reduce_window; they must stay concrete or the
    # reduction loses its gradient (it did once: eager gradients hid it)
    x = rng.standard_normal((2, 2, 9, 9)).astype(np.float32)
    g = jax.jit(jax.grad(lambda x: jnp.sum(layer.apply({}, x) ** 2)))(x)
    xt = torch.from_numpy(x).requires_grad_()
    (ref(xt) ** 2).sum().backward()
    assert_close(g, to_numpy(xt.grad), ATOL)


# ----------------------------------------------------------------------------- 1-D, indices


POOL_1D = [
    (nn.MaxPool1d(3), torch.nn.MaxPool1d(3)),
    (
        nn.MaxPool1d(3, 2, 1, dilation=2, ceil_mode=True),
        torch.nn.MaxPool1d(3, 2, 1, dilation=2, ceil_mode=True),
    ),
    (nn.AvgPool1d(3, 2, 1), torch.nn.AvgPool1d(3, 2, 1)),
    (
        nn.AvgPool1d(4, 3, 2, ceil_mode=True, count_include_pad=False),
        torch.nn.AvgPool1d(4, 3, 2, ceil_mode=True, count_include_pad=False),
    ),
    (nn.AdaptiveAvgPool1d(4), torch.nn.AdaptiveAvgPool1d(4)),
    (nn.AdaptiveAvgPool1d(13), torch.nn.AdaptiveAvgPool1d(13)),
    (nn.AdaptiveMaxPool1d(4), torch.nn.AdaptiveMaxPool1d(4)),
    (nn.AdaptiveMaxPool1d(5), torch.nn.AdaptiveMaxPool1d(5)),
]


@pytest.mark.parametrize(("layer", "ref"), POOL_1D, ids=repr)
def test_1d_pooling_forward_gradient_and_repr(layer, ref, rng):
    x = rng.standard_normal((2, 3, 11)).astype(np.float32)
    xt = torch.from_numpy(x).requires_grad_()
    (ref(xt) ** 2).sum().backward()
    g = jax.jit(jax.grad(lambda x: jnp.sum(layer.apply({}, x) ** 2)))(x)
    assert_close(layer.apply({}, x), to_numpy(ref(torch.from_numpy(x))), ATOL)
    assert_close(g, to_numpy(xt.grad), ATOL)
    assert repr(layer) == repr(ref)
    assert_close(layer.apply({}, x[0]), to_numpy(ref(torch.from_numpy(x[0]))), ATOL)  # (C, L)


INDEX_CASES = [
    (1, dict(kernel_size=3, stride=2, padding=1)),
    (1, dict(kernel_size=2, dilation=2, ceil_mode=True)),
    (2, dict(kernel_size=2)),
    (2, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    (2, dict(kernel_size=(3, 2), stride=1, dilation=(2, 1), padding=(1, 0))),
    (2, dict(kernel_size=9, stride=3, padding=4)),  # 81 offsets: values via reduce_window
]


@pytest.mark.parametrize(("n", "kwargs"), INDEX_CASES, ids=str)
def test_max_pool_indices_match_torch_on_ties_nans_and_padding(n, kwargs, rng):
    # whole numbers tie; -inf rows make windows whose only finite values are padding
    x = np.round(rng.standard_normal((2, 3, *(10,) * n))).astype(np.float32)
    x[0, 0, :2] = -np.inf
    x[1, 1, 3] = np.nan
    x[1, 2, 4:6] = np.nan
    layer = (nn.MaxPool1d if n == 1 else nn.MaxPool2d)(**kwargs, return_indices=True)
    ref = (torch.nn.MaxPool1d if n == 1 else torch.nn.MaxPool2d)(**kwargs, return_indices=True)
    y, idx = layer.apply({}, x)
    yt, it = ref(torch.from_numpy(x))
    np.testing.assert_array_equal(np.asarray(y), to_numpy(yt))
    np.testing.assert_array_equal(np.asarray(idx), to_numpy(it))
    assert idx.dtype == jnp.int32
    fy, fi = (F.max_pool1d if n == 1 else F.max_pool2d)(x, **kwargs, return_indices=True)
    np.testing.assert_array_equal(np.asarray(fy), to_numpy(yt))
    np.testing.assert_array_equal(np.asarray(fi), to_numpy(it))


@pytest.mark.parametrize(("spatial", "output_size"), [((10, 9), (3, 4)), ((5, 7), 7), ((8,), 3)])
def test_adaptive_max_pool_indices_and_gradient(spatial, output_size, rng):
    x = np.round(rng.standard_normal((2, 3, *spatial)) * 2).astype(np.float32)
    n = len(spatial)
    layer = (nn.AdaptiveMaxPool1d if n == 1 else nn.AdaptiveMaxPool2d)(output_size, True)
    ref = (torch.nn.AdaptiveMaxPool1d if n == 1 else torch.nn.AdaptiveMaxPool2d)(output_size, True)
    xt = torch.from_numpy(x).requires_grad_()
    yt, it = ref(xt)
    (yt**2).sum().backward()
    y, idx = layer.apply({}, x)
    np.testing.assert_array_equal(np.asarray(y), to_numpy(yt))
    np.testing.assert_array_equal(np.asarray(idx), to_numpy(it))
    g = jax.grad(lambda x: jnp.sum(layer.apply({}, x)[0] ** 2))(x)
    np.testing.assert_array_equal(np.asarray(g), to_numpy(xt.grad))  # on ties too


@pytest.mark.parametrize(
    ("n", "kwargs", "output_size"),
    [
        (2, dict(kernel_size=(2, 3), stride=(2, 2)), (10, 11)),
        (2, dict(kernel_size=3, stride=2, padding=1), None),
        (2, dict(kernel_size=3, stride=2), (11, 12)),
        (1, dict(kernel_size=3, stride=2, padding=1), None),
        (1, dict(kernel_size=2), [2, 3, 11]),
    ],
    ids=str,
)
def test_max_unpool_inverts_max_pool_as_torch(n, kwargs, output_size, rng):
    x = rng.standard_normal((2, 3, *(11,) * n)).astype(np.float32)
    pool_t = (torch.nn.MaxPool1d if n == 1 else torch.nn.MaxPool2d)(**kwargs, return_indices=True)
    unpool_t = (torch.nn.MaxUnpool1d if n == 1 else torch.nn.MaxUnpool2d)(**kwargs)
    unpool = (nn.MaxUnpool1d if n == 1 else nn.MaxUnpool2d)(**kwargs)
    yt, it = pool_t(torch.from_numpy(x))
    y, idx = to_numpy(yt), to_numpy(it).astype(np.int32)
    expected = to_numpy(unpool_t(yt, it, output_size=output_size))
    np.testing.assert_array_equal(np.asarray(unpool.apply({}, y, idx, output_size)), expected)
    assert repr(unpool) == repr(unpool_t)
    # gradient: each value's gradient is the output gradient at its index
    g = jax.grad(lambda y: jnp.sum(unpool.apply({}, y, idx, output_size) * 3.0))(y)
    np.testing.assert_array_equal(np.asarray(g), np.full_like(y, 3.0))
    f = F.max_unpool1d if n == 1 else F.max_unpool2d
    np.testing.assert_array_equal(
        np.asarray(f(y, idx, **kwargs, output_size=output_size)), expected
    )
    unbatched = np.asarray(unpool.apply({}, y[0], idx[0], output_size))
    np.testing.assert_array_equal(unbatched, expected[0])


def test_index_and_unpool_errors():
    y, idx = nn.MaxPool2d(2, return_indices=True).apply({}, jnp.ones((1, 1, 4, 4)))
    with pytest.raises(
        ValueError,
        match=r'invalid output_size "\(6, 6\)" \(dim 0 must be '
        r"between 2 and 6\)",
    ):
        nn.MaxUnpool2d(2).apply({}, y, idx, (6, 6))
    with pytest.raises(ValueError, match=r"output_size should be a sequence containing 2 or 4"):
        F.max_unpool2d(y, idx, 2, output_size=(4,))
    with pytest.raises(ValueError, match=r"indices of shape \(1, 1, 2\) do not match"):
        F.max_unpool2d(y, idx[..., 0], 2)
    with pytest.raises(TypeError, match=r"indices must be integers"):
        F.max_unpool2d(y, idx.astype(jnp.float32), 2)
    with pytest.raises(ValueError, match=r"expected input of shape \(N, C, L\) or \(C, L\)"):
        nn.MaxPool1d(2).apply({}, jnp.ones((1, 1, 4, 4)))
    with pytest.raises(TypeError, match=r"output_size must be an int, None or a tuple of 1"):
        F.adaptive_avg_pool1d(jnp.ones((1, 2, 4)), (2, 2))
