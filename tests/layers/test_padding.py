"""Padding layers and F.pad against torch, negative pads included in every mode."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from conftest import to_numpy

import jaxnn as nn
import jaxnn.functional as F

LAYERS = [
    ("ZeroPad", {}),
    ("ConstantPad", {"value": 2.5}),
    ("ReflectionPad", {}),
    ("ReplicationPad", {}),
    ("CircularPad", {}),
]
PADS = {
    1: [2, (1, 3), (-1, 2), (2, -2), (-1, -2)],
    2: [1, (1, 0, 2, 1), (-1, 2, 1, -2), (0, -3, -1, 0)],
    3: [1, (1, 0, -1, 2, 0, 1)],
}


@pytest.mark.parametrize(("kind", "extra"), LAYERS, ids=lambda v: str(v))
@pytest.mark.parametrize("n", [1, 2, 3])
def test_layers_match_torch_incl_negative_pads(kind, extra, n, rng):
    x = rng.standard_normal((2, 3, *(5, 4, 6)[:n])).astype(np.float32)
    for pad in PADS[n]:
        args = (pad, extra["value"]) if extra else (pad,)
        layer, ref = getattr(nn, f"{kind}{n}d")(*args), getattr(torch.nn, f"{kind}{n}d")(*args)
        xt = torch.from_numpy(x).requires_grad_()
        yt = ref(xt)
        g = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
        yt.backward(torch.from_numpy(g))
        y, vjp = jax.vjp(lambda x, layer=layer: layer.apply({}, x), x)
        np.testing.assert_array_equal(np.asarray(y), to_numpy(yt), err_msg=f"{layer}")
        np.testing.assert_allclose(vjp(g)[0], to_numpy(xt.grad), atol=1e-6, err_msg=f"{layer}")
        assert repr(layer) == repr(ref)
        unbatched = layer.apply({}, x[0])  # (C, *S)
        np.testing.assert_array_equal(np.asarray(unbatched), to_numpy(ref(torch.from_numpy(x[0]))))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_functional_negative_pads_crop_as_torch(mode, rng):
    # reflect/replicate read the whole input before cropping, circular crops first
    for pad in [(-3, 3), (3, -3), (-2, 1, 2, -4), (-5, 1)]:
        x = rng.standard_normal((1, 2, 6, 7)[4 - len(pad) :]).astype(np.float32)
        if mode == "circular" and -min(pad) + max(pad) > 5:
            continue  # wraps past what is left: torch rejects it (memory overlap)
        expected = torch.nn.functional.pad(torch.from_numpy(x), pad, mode=mode)
        np.testing.assert_array_equal(np.asarray(F.pad(x, pad, mode=mode)), to_numpy(expected))


def test_padding_errors():
    with pytest.raises(
        ValueError,
        match=r"reflect padding 4 must be smaller than the padded "
        r"dimension \(4\)",
    ):
        nn.ReflectionPad1d(4).apply({}, jnp.ones((1, 2, 4)))
    with pytest.raises(ValueError, match=r"circular padding 4 wraps around more than once"):
        F.pad(jnp.ones((1, 2, 4)), (-1, 4), mode="circular")
    with pytest.raises(ValueError, match=r"ZeroPad2d\(\(1, 1, 1, 1\)\).*expected a 3-D or 4-D"):
        nn.ZeroPad2d(1).apply({}, jnp.ones((4, 4)))
    with pytest.raises(
        ValueError,
        match=r"replicate padding of length 2 pads the last 1 dims of "
        r"a 2-D or 3-D input, got shape \(4,\)",
    ):
        F.pad(jnp.ones(4), (1, 1), mode="replicate")
    with pytest.raises(ValueError, match=r"value is only used with mode='constant'"):
        F.pad(jnp.ones((1, 4)), (1, 1), mode="reflect", value=1.0)
    with pytest.raises(TypeError, match=r"padding must be an int or 4 ints"):
        nn.ZeroPad2d((1, 2))
