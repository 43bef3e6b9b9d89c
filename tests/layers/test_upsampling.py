"""nn.Upsample / F.interpolate against torch's index rules, plus PixelShuffle,
PixelUnshuffle and ChannelShuffle."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from conftest import assert_close, to_numpy

import jaxnn as nn
import jaxnn.functional as F

ATOL = 1e-5
NDIM = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}

CASES = [
    ("nearest", dict(scale_factor=2)),
    ("nearest", dict(scale_factor=1.7)),
    ("nearest", dict(scale_factor=0.6)),
    ("nearest", dict(size=(7, 3))),
    ("nearest", dict(scale_factor=1.7, recompute_scale_factor=True)),
    ("nearest-exact", dict(scale_factor=1.7)),
    ("nearest-exact", dict(size=(3, 11))),
    ("area", dict(size=(3, 4))),
    ("linear", dict(scale_factor=2.5)),
    ("linear", dict(size=3, align_corners=True)),
    ("bilinear", dict(scale_factor=2)),
    ("bilinear", dict(scale_factor=(1.5, 0.7))),
    ("bilinear", dict(size=(9, 4), align_corners=True)),
    ("bilinear", dict(scale_factor=1.3, recompute_scale_factor=True)),
    ("bicubic", dict(scale_factor=2)),
    ("bicubic", dict(size=(3, 9), align_corners=True)),
    ("bicubic", dict(scale_factor=0.5)),
    ("trilinear", dict(scale_factor=(2, 1.5, 0.8))),
    ("trilinear", dict(size=4, align_corners=True)),
]


@pytest.mark.parametrize(("mode", "kwargs"), CASES, ids=str)
def test_interpolate_matches_torch(mode, kwargs, rng):
    n = NDIM.get(mode, 2)
    x = rng.standard_normal((2, 3, *(5, 6, 4)[:n])).astype(np.float32)
    if "size" in kwargs and n == 1 and isinstance(kwargs["size"], tuple):
        kwargs = {**kwargs, "size": kwargs["size"][:1]}
    xt = torch.from_numpy(x).requires_grad_()
    yt = torch.nn.functional.interpolate(xt, mode=mode, **kwargs)
    g = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.from_numpy(g))
    layer = nn.Upsample(mode=mode, **kwargs)
    y, vjp = jax.vjp(lambda x: layer.apply({}, x), x)
    assert_close(y, to_numpy(yt), ATOL, what="forward")
    assert_close(vjp(g)[0], to_numpy(xt.grad), 1e-4, what="gradient")
    assert_close(F.interpolate(x, mode=mode, **kwargs), to_numpy(yt), ATOL, what="F")
    assert repr(layer) == repr(torch.nn.Upsample(mode=mode, **kwargs))


def test_nearest_on_1d_and_3d_input(rng):
    for shape in [(2, 3, 7), (1, 2, 3, 4, 5)]:
        x = rng.standard_normal(shape).astype(np.float32)
        expected = torch.nn.functional.interpolate(torch.from_numpy(x), scale_factor=2.3)
        assert_close(F.interpolate(x, scale_factor=2.3), to_numpy(expected), 0.0)


def test_upsampling_nearest_and_bilinear_2d(rng):
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    t = torch.from_numpy(x)
    for ours, theirs in [
        (nn.UpsamplingNearest2d(scale_factor=2), torch.nn.UpsamplingNearest2d(scale_factor=2)),
        (nn.UpsamplingNearest2d(size=(3, 7)), torch.nn.UpsamplingNearest2d(size=(3, 7))),
        (nn.UpsamplingBilinear2d(scale_factor=2), torch.nn.UpsamplingBilinear2d(scale_factor=2)),
        (nn.UpsamplingBilinear2d(size=6), torch.nn.UpsamplingBilinear2d(size=6)),
    ]:
        assert_close(ours.apply({}, x), to_numpy(theirs(t)), ATOL, what=repr(ours))
        assert repr(ours) == repr(theirs)


def test_interpolate_errors():
    x = jnp.ones((1, 2, 4, 4))
    with pytest.raises(ValueError, match="only one of size or scale_factor should be defined"):
        F.interpolate(x, size=3, scale_factor=2)
    with pytest.raises(ValueError, match="either size or scale_factor should be defined"):
        F.interpolate(x)
    with pytest.raises(
        ValueError,
        match=r"align_corners option can only be set with the "
        r"interpolating modes",
    ):
        F.interpolate(x, scale_factor=2, align_corners=True)
    with pytest.raises(
        ValueError, match=r"mode 'linear' needs 3-D input .*got shape \(1, 2, 4, 4\)"
    ):
        F.interpolate(x, scale_factor=2, mode="linear")
    with pytest.raises(NotImplementedError, match=r"mode 'lanczos' is not supported"):
        F.interpolate(x, scale_factor=2, mode="lanczos")
    with pytest.raises(NotImplementedError, match=r"antialias=True is not supported"):
        F.interpolate(x, scale_factor=0.5, mode="bilinear", antialias=True)
    with pytest.raises(ValueError, match=r"needs size of length 2, got \(3, 3, 3\)"):
        F.interpolate(x, size=(3, 3, 3))
    with pytest.raises(ValueError, match=r"scale_factor 0.1 gives an empty output"):
        F.interpolate(x, scale_factor=0.1)
    with pytest.raises(ValueError, match=r"Upsample: mode must be one of"):
        nn.Upsample(scale_factor=2, mode="cubic")


# ----------------------------------------------------------------------------- shuffles


@pytest.mark.parametrize("shape", [(2, 18, 4, 5), (18, 4, 5), (2, 3, 9, 2, 3)])
def test_pixel_shuffle_and_unshuffle_match_torch(shape, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    t = torch.from_numpy(x)
    shuffled = nn.PixelShuffle(3).apply({}, x)
    np.testing.assert_array_equal(np.asarray(shuffled), to_numpy(torch.nn.PixelShuffle(3)(t)))
    back = nn.PixelUnshuffle(3).apply({}, shuffled)
    np.testing.assert_array_equal(np.asarray(back), x)
    y = rng.standard_normal((2, 2, 6, 9)).astype(np.float32)
    expected = torch.nn.PixelUnshuffle(3)(torch.from_numpy(y))
    np.testing.assert_array_equal(np.asarray(F.pixel_unshuffle(y, 3)), to_numpy(expected))
    assert repr(nn.PixelShuffle(3)) == repr(torch.nn.PixelShuffle(3))
    assert repr(nn.PixelUnshuffle(3)) == repr(torch.nn.PixelUnshuffle(3))


def test_channel_shuffle_matches_torch(rng):
    for shape, groups in [((2, 6, 3, 4), 3), ((2, 8, 5), 2), ((1, 6, 2, 2, 2), 6)]:
        x = rng.standard_normal(shape).astype(np.float32)
        expected = torch.nn.ChannelShuffle(groups)(torch.from_numpy(x))
        np.testing.assert_array_equal(
            np.asarray(nn.ChannelShuffle(groups).apply({}, x)), to_numpy(expected)
        )
    assert repr(nn.ChannelShuffle(2)) == repr(torch.nn.ChannelShuffle(2))


def test_shuffle_errors():
    with pytest.raises(ValueError, match=r"channel dim \(8\) must be divisible by the square"):
        F.pixel_shuffle(jnp.ones((1, 8, 2, 2)), 2 + 1)
    with pytest.raises(ValueError, match=r"height \(5\) and width \(4\) must be divisible"):
        F.pixel_unshuffle(jnp.ones((1, 1, 5, 4)), 2)
    with pytest.raises(
        ValueError,
        match=r"number of channels \(6\) must be divisible by "
        r"groups \(4\)",
    ):
        F.channel_shuffle(jnp.ones((1, 6, 2)), 4)
    with pytest.raises(ValueError, match=r"at least 3 dims"):
        F.pixel_shuffle(jnp.ones((4, 4)), 2)
