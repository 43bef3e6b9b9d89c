"""nn.Dropout: train only with a 'dropout' rng, torch's scaling and statistics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn as nn
import jaxnn.functional as F


def test_eval_mode_is_identity():
    x = jnp.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(nn.Dropout(0.5).apply({}, x), x)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_train_statistics_and_scaling(p):
    x = jnp.ones((200_000,))
    y = np.asarray(nn.Dropout(p).apply({}, x, rngs={"dropout": jax.random.key(3)}))
    zeroed = np.mean(y == 0)
    # binomial std of the zeroed fraction is sqrt(p(1-p)/n) ~ 1.1e-3: allow 5 sigma
    assert abs(zeroed - p) < 5 * np.sqrt(p * (1 - p) / x.size)
    np.testing.assert_allclose(y[y != 0], 1 / (1 - p), rtol=1e-6)
    assert abs(y.mean() - 1.0) < 0.02  # expectation is preserved


def test_same_key_same_mask_and_new_key_new_mask():
    x = jnp.ones((1000,))
    a = nn.Dropout(0.5).apply({}, x, rngs={"dropout": jax.random.key(0)})
    b = nn.Dropout(0.5).apply({}, x, rngs={"dropout": jax.random.key(0)})
    c = nn.Dropout(0.5).apply({}, x, rngs={"dropout": jax.random.key(1)})
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_p_zero_and_one():
    x = jnp.ones((5, 5))
    key = {"dropout": jax.random.key(0)}
    np.testing.assert_array_equal(nn.Dropout(0.0).apply({}, x, rngs=key), x)
    np.testing.assert_array_equal(nn.Dropout(1.0).apply({}, x, rngs=key), jnp.zeros((5, 5)))


def test_invalid_p_and_missing_key():
    with pytest.raises(
        ValueError, match=r"dropout probability has to be between 0 and 1, but got 1\.5"
    ):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match="training=True needs a random key"):
        F.dropout(jnp.ones(3), 0.5, training=True)


@pytest.mark.parametrize(
    ("layer", "shape", "channel_axes"),
    [
        (nn.Dropout1d(0.4), (50, 40, 7), 2),
        (nn.Dropout1d(0.4), (400, 7), 1),  # unbatched (C, L)
        (nn.Dropout2d(0.4), (50, 40, 3, 4), 2),
        (nn.Dropout3d(0.4), (50, 40, 2, 3, 2), 2),
        (nn.Dropout3d(0.4), (400, 2, 3, 2), 1),  # unbatched (C, D, H, W)
    ],
    ids=repr,
)
def test_channel_dropout_zeroes_whole_channels(layer, shape, channel_axes):
    x = jnp.ones(shape)
    y = np.asarray(layer.apply({}, x, rngs={"dropout": jax.random.key(1)}))
    per_channel = y.reshape(*shape[:channel_axes], -1)
    # every channel is all zero or all 1/(1-p)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 1 / 0.6).all(-1))
    kept = np.mean((per_channel != 0).all(-1))
    n = np.prod(shape[:channel_axes])
    assert abs(kept - 0.6) < 5 * np.sqrt(0.24 / n)
    np.testing.assert_array_equal(layer.apply({}, x), x)  # eval mode
    assert repr(layer) == f"{type(layer).__name__}(p=0.4, inplace=False)"


def test_dropout2d_takes_3d_input_as_batched_1d_with_torchs_warning():
    x = jnp.ones((30, 50, 4))
    with pytest.warns(UserWarning, match=r"Received a 3D input to dropout2d"):
        y = np.asarray(nn.Dropout2d(0.5).apply({}, x, rngs={"dropout": jax.random.key(0)}))
    assert np.all((y == 0).all(-1) | (y == 2).all(-1))  # (N, C) channels of length 4


def test_channel_dropout_errors():
    with pytest.raises(ValueError, match=r"dropout1d: expected a 2-D or 3-D input"):
        F.dropout1d(jnp.ones((2, 3, 4, 5)), key=jax.random.key(0))
    with pytest.raises(ValueError, match=r"dropout3d: expected a 4-D or 5-D input"):
        F.dropout3d(jnp.ones((2, 3, 4)), key=jax.random.key(0))
    with pytest.raises(ValueError, match=r"dropout2d: training=True needs a random key"):
        F.dropout2d(jnp.ones((2, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"between 0 and 1, but got 1.5"):
        nn.Dropout2d(1.5)
