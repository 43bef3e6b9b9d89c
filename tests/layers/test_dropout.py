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
