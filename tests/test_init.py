"""jaxnn.init against torch.nn.init: gains, fans and sampled distributions.

The random streams differ between frameworks, so distributions are compared: for each
initializer, samples of the same logical shape from both sides must pass a two-sample
Kolmogorov-Smirnov test (p > 1e-3 at fixed seeds) and respect the same bounds.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from scipy import stats

import jaxnn as nn
from jaxnn import init

TORCH_SHAPE = (64, 32, 3, 3)  # (out, in, kH, kW)
FLAX_SHAPE = (3, 3, 32, 64)  # the same kernel in HWIO


@pytest.mark.parametrize(
    ("nonlinearity", "param"),
    [
        ("linear", None),
        ("conv2d", None),
        ("sigmoid", None),
        ("tanh", None),
        ("relu", None),
        ("leaky_relu", None),
        ("leaky_relu", 0.2),
        ("selu", None),
    ],
)
def test_calculate_gain_matches_torch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-12
    )


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="Unsupported nonlinearity swish"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="negative_slope"):
        init.calculate_gain("leaky_relu", "steep")


CASES = [
    (init.uniform_(-0.3, 0.7), lambda w: torch.nn.init.uniform_(w, -0.3, 0.7)),
    (init.normal_(0.5, 2.0), lambda w: torch.nn.init.normal_(w, 0.5, 2.0)),
    (
        init.trunc_normal_(0.1, 0.5, -0.4, 0.9),
        lambda w: torch.nn.init.trunc_normal_(w, 0.1, 0.5, -0.4, 0.9),
    ),
    (init.xavier_uniform_(), torch.nn.init.xavier_uniform_),
    (init.xavier_uniform_(gain=2.0), lambda w: torch.nn.init.xavier_uniform_(w, gain=2.0)),
    (init.xavier_normal_(), torch.nn.init.xavier_normal_),
    (init.kaiming_uniform_(), torch.nn.init.kaiming_uniform_),
    (
        init.kaiming_uniform_(a=math.sqrt(5)),
        lambda w: torch.nn.init.kaiming_uniform_(w, a=math.sqrt(5)),
    ),
    (
        init.kaiming_normal_(mode="fan_out", nonlinearity="relu"),
        lambda w: torch.nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu"),
    ),
    (
        init.kaiming_uniform_(a=0.1, mode="fan_out"),
        lambda w: torch.nn.init.kaiming_uniform_(w, a=0.1, mode="fan_out"),
    ),
    (init.default_weight_init(), lambda w: torch.nn.init.kaiming_uniform_(w, a=math.sqrt(5))),
]


@pytest.mark.parametrize(("ours", "theirs"), CASES, ids=range(len(CASES)))
def test_distribution_matches_torch(ours, theirs):
    a = np.asarray(ours(jax.random.key(0), FLAX_SHAPE, jnp.float32)).ravel()
    torch.manual_seed(0)
    b = theirs(torch.empty(TORCH_SHAPE)).numpy().ravel()
    assert stats.ks_2samp(a, b).pvalue > 1e-3
    assert (
        a.min() >= b.min() - 0.05 * np.abs(b).max() and a.max() <= b.max() + 0.05 * np.abs(b).max()
    )


@pytest.mark.parametrize("shape", [(5, 5, 3, 6), (3, 3, 16, 32), (120,), ()])
def test_draws_equal_jax_random_at_the_full_shape(shape):
    # the initializers draw flat and reshape (faster to compile); the values must be the
    # ones jax.random gives for the full shape, so seeds keep their meaning
    key = jax.random.key(7)
    cases = [
        (init.uniform_(-0.5, 2.0), jax.random.uniform(key, shape, jnp.float32, -0.5, 2.0)),
        (init.normal_(0.0, 1.0), jax.random.normal(key, shape, jnp.float32)),
        (
            init.trunc_normal_(0.0, 1.0, -2.0, 2.0),
            jax.random.truncated_normal(key, -2.0, 2.0, shape, jnp.float32),
        ),
    ]
    for initializer, expected in cases:
        got = initializer(key, shape)
        assert got.shape == shape
        np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))


def test_dropout_mask_equals_a_full_shape_draw():
    key = jax.random.key(3)
    x = jnp.ones((4, 3, 8, 8))
    got = nn.functional.dropout(x, 0.25, training=True, key=key)
    keep = jax.random.bernoulli(key, 0.75, x.shape)
    np.testing.assert_array_equal(np.asarray(got) != 0, np.asarray(keep))


def test_constants():
    np.testing.assert_array_equal(
        init.constant_(0.25)(jax.random.key(0), (2, 3)), np.full((2, 3), 0.25)
    )
    np.testing.assert_array_equal(init.zeros_()(jax.random.key(0), (2,)), np.zeros(2))
    np.testing.assert_array_equal(init.ones_()(jax.random.key(0), (2,)), np.ones(2))


@pytest.mark.parametrize("shape", [(16, 8), (8, 16), (3, 3, 4, 20), (3, 3, 8, 4)])
def test_orthogonal(shape):
    k = np.asarray(init.orthogonal_(gain=2.0)(jax.random.key(0), shape, jnp.float32))
    # torch's view: (out, in * receptive) with orthonormal rows (or columns) times gain
    m = np.transpose(k, (len(shape) - 1, len(shape) - 2, *range(len(shape) - 2))).reshape(
        shape[-1], -1
    )
    small = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    np.testing.assert_allclose(small, 4.0 * np.eye(small.shape[0]), atol=1e-4)


def test_fan_errors():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_()(jax.random.key(0), (5,))
    with pytest.raises(ValueError, match="mode 'fan_avg' not supported"):
        init.kaiming_normal_(mode="fan_avg")(jax.random.key(0), (5, 5))


class _Net(nn.Module):
    def setup(self):
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 3)
        self.bn = nn.BatchNorm1d(3)

    def forward(self, x):
        return self.bn(self.fc(nn.functional.flatten(self.conv1(x), 1)))


def test_reinitialize_by_layer_type():
    model, x = _Net(), jnp.ones((2, 1, 8, 8))
    v = model.init(jax.random.key(0), x)
    rules = {
        nn.Conv2d: {"kernel": init.xavier_uniform_(), "bias": init.constant_(0.1)},
        nn.Linear: {"bias": init.zeros_()},
    }
    new = init.reinitialize(model, v, rules, x, key=jax.random.key(1))
    p, q = v["params"], new["params"]
    np.testing.assert_array_equal(q["conv1"]["bias"], np.full(4, 0.1, np.float32))
    np.testing.assert_array_equal(q["fc"]["bias"], np.zeros(3))
    assert not np.array_equal(q["conv1"]["kernel"], p["conv1"]["kernel"])
    np.testing.assert_array_equal(q["fc"]["kernel"], p["fc"]["kernel"])  # no rule: untouched
    np.testing.assert_array_equal(q["bn"]["scale"], p["bn"]["scale"])
    assert new["batch_stats"] is v["batch_stats"]
    bound = math.sqrt(6 / (9 * 1 + 9 * 4))
    assert np.abs(np.asarray(q["conv1"]["kernel"])).max() <= bound
    with pytest.raises(ValueError, match="no parameters of Dropout"):
        init.reinitialize(
            model, v, {nn.Dropout: {"kernel": init.zeros_()}}, x, key=jax.random.key(1)
        )
