"""jaxnn.functional against torch.nn.functional (weights in torch's layout here)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from conftest import assert_close, to_numpy

import jaxnn.functional as F

ATOL = 1e-5


def t(x):
    return torch.from_numpy(np.asarray(x))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),
        dict(stride=2, padding=1),
        dict(padding="same", dilation=2),
        dict(groups=2, padding=(1, 0)),
    ],
    ids=str,
)
def test_conv2d_takes_torch_layout(kwargs, rng):
    x = rng.standard_normal((2, 4, 9, 8)).astype(np.float32)
    w = rng.standard_normal((6, 4 // kwargs.get("groups", 1), 3, 3)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    assert_close(F.conv2d(x, w, b, **kwargs), to_numpy(TF.conv2d(t(x), t(w), t(b), **kwargs)), ATOL)


def test_linear_takes_torch_layout(rng):
    x = rng.standard_normal((3, 5, 4)).astype(np.float32)
    w, b = rng.standard_normal((2, 4)).astype(np.float32), rng.standard_normal(2).astype(np.float32)
    assert_close(F.linear(x, w, b), to_numpy(TF.linear(t(x), t(w), t(b))), ATOL)
    assert_close(F.linear(x, w), to_numpy(TF.linear(t(x), t(w))), ATOL)
    with pytest.raises(ValueError, match=r"linear: input has 4 features .* weight expects 3"):
        F.linear(x, w[:, :3])


def test_pools_and_activations(rng):
    x = rng.standard_normal((2, 3, 9, 7)).astype(np.float32)
    cases = [
        (F.max_pool2d(x, 3, 2, 1, ceil_mode=True), TF.max_pool2d(t(x), 3, 2, 1, ceil_mode=True)),
        (
            F.avg_pool2d(x, 2, count_include_pad=False),
            TF.avg_pool2d(t(x), 2, count_include_pad=False),
        ),
        (F.adaptive_avg_pool2d(x, (4, 5)), TF.adaptive_avg_pool2d(t(x), (4, 5))),
        (F.adaptive_max_pool2d(x, 4), TF.adaptive_max_pool2d(t(x), 4)),
        (F.relu(x), TF.relu(t(x))),
        (F.leaky_relu(x, 0.1), TF.leaky_relu(t(x), 0.1)),
        (F.elu(x, 0.7), TF.elu(t(x), 0.7)),
        (F.gelu(x), TF.gelu(t(x))),
        (F.silu(x), TF.silu(t(x))),
        (F.sigmoid(x), torch.sigmoid(t(x))),
        (F.tanh(x), torch.tanh(t(x))),
        (F.softmax(x, dim=1), TF.softmax(t(x), dim=1)),
        (F.log_softmax(x, dim=-1), TF.log_softmax(t(x), dim=-1)),
        (F.flatten(x, 1), torch.flatten(t(x), 1)),
        (F.flatten(x), torch.flatten(t(x))),
    ]
    for i, (ours, theirs) in enumerate(cases):
        assert_close(ours, to_numpy(theirs), ATOL, what=f"case {i}")


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_modes_match_torch(mode, rng):
    # torch's non-constant modes take 2 pads for 3-D input and 4 for 4-D
    for shape, pad in [
        ((2, 5, 6), (1, 2)),
        ((2, 3, 5, 6), (1, 2, 3, 0)),
        ((2, 3, 5, 6), (0, 1, 2, 2)),
    ]:
        x = rng.standard_normal(shape).astype(np.float32)
        expected = TF.pad(t(x), pad, mode=mode)
        np.testing.assert_array_equal(F.pad(x, pad, mode=mode), to_numpy(expected))


def test_pad_constant_value_and_negative_crop(rng):
    x = rng.standard_normal((2, 5, 6)).astype(np.float32)
    np.testing.assert_array_equal(
        F.pad(x, (2, -1), value=3.5), to_numpy(TF.pad(t(x), (2, -1), value=3.5))
    )
    np.testing.assert_array_equal(
        F.pad(x, (1, 1, -2, 0, 1, 0)), to_numpy(TF.pad(t(x), (1, 1, -2, 0, 1, 0)))
    )


def test_pad_errors():
    x = jnp.ones((1, 2, 3))
    with pytest.raises(ValueError, match="must have an even length"):
        F.pad(x, (1, 2, 3))
    with pytest.raises(
        ValueError, match="reflect padding 3 must be smaller than the padded dimension"
    ):
        F.pad(x, (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="mode must be 'constant'"):
        F.pad(x, (1, 1), mode="symmetric")
    with pytest.raises(ValueError, match=r"negative padding \(-4, 0\) removes more than"):
        F.pad(x, (-4, 0), mode="replicate")


def test_batch_norm_functional(rng):
    x = rng.standard_normal((4, 3, 5)).astype(np.float32)
    mean, var = rng.standard_normal(3).astype(np.float32), rng.uniform(0.5, 2, 3).astype(np.float32)
    w, b = rng.standard_normal(3).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    for training in (False, True):
        expected = TF.batch_norm(
            t(x), t(mean).clone(), t(var).clone(), t(w), t(b), training=training
        )
        assert_close(F.batch_norm(x, mean, var, w, b, training=training), to_numpy(expected), ATOL)
    with pytest.raises(ValueError, match="running_mean and running_var are required"):
        F.batch_norm(x, None, None)


def test_one_hot_and_unflatten():
    idx = np.array([[0, 2], [1, 3]])
    np.testing.assert_array_equal(F.one_hot(idx), to_numpy(TF.one_hot(t(idx))))
    np.testing.assert_array_equal(F.one_hot(idx, 6), to_numpy(TF.one_hot(t(idx), 6)))
    with pytest.raises(TypeError, match="expected an integer tensor"):
        F.one_hot(jnp.ones(3))
    with pytest.raises(ValueError, match="pass num_classes inside jit"):
        jax.jit(F.one_hot)(jnp.arange(3))
    x = np.arange(24.0).reshape(2, 12)
    np.testing.assert_array_equal(F.unflatten(x, 1, (3, -1)), to_numpy(t(x).unflatten(1, (3, -1))))


def test_dropout_functional():
    x = jnp.ones((10_000,))
    np.testing.assert_array_equal(F.dropout(x, 0.5, training=False), x)
    y = np.asarray(F.dropout(x, 0.25, key=jax.random.key(0)))
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, -0.1)
