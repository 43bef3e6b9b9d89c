"""nn.Linear and nn.Identity against torch.nn."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from conftest import assert_close, load_torch, to_numpy

import jaxnn as nn
from jaxnn import init

ATOL = 1e-5


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(8, 20), (20,), (2, 3, 20)])
def test_forward_matches_torch(bias, shape, rng):
    layer = nn.Linear(20, 30, bias=bias)
    x = rng.standard_normal(shape).astype(np.float32)
    v = layer.init(jax.random.key(0), x)
    ref = load_torch(torch.nn.Linear(20, 30, bias=bias), v)
    assert_close(layer.apply(v, x), to_numpy(ref(torch.from_numpy(x))), ATOL)


def test_gradients_match_torch(rng):
    layer = nn.Linear(6, 4)
    x = rng.standard_normal((5, 6)).astype(np.float32)
    v = layer.init(jax.random.key(1), x)
    ref = load_torch(torch.nn.Linear(6, 4), v)

    def loss(params, x):
        return jnp.sum(jnp.tanh(layer.apply({"params": params}, x)))

    g_params, g_x = jax.grad(loss, argnums=(0, 1))(v["params"], x)
    xt = torch.from_numpy(x).requires_grad_()
    torch.tanh(ref(xt)).sum().backward()
    assert_close(g_x, to_numpy(xt.grad), ATOL)
    assert_close(g_params["kernel"].T, to_numpy(ref.weight.grad), ATOL)
    assert_close(g_params["bias"], to_numpy(ref.bias.grad), ATOL)


def test_default_init_is_torch_uniform():
    fan_in = 400
    v = nn.Linear(fan_in, 300).init(jax.random.key(0), jnp.ones((1, fan_in)))
    bound = 1 / np.sqrt(fan_in)
    for leaf in (v["params"]["kernel"], v["params"]["bias"]):
        a = np.asarray(leaf)
        assert np.abs(a).max() <= bound
    kernel = np.asarray(v["params"]["kernel"])
    # U(-b, b): std b/sqrt(3), all of [-b, b] used
    assert abs(kernel.std() - bound / np.sqrt(3)) < 0.02 * bound
    assert kernel.max() > 0.99 * bound and kernel.min() < -0.99 * bound


def test_custom_initializers():
    layer = nn.Linear(4, 2, weight_init=init.constant_(0.5), bias_init=init.zeros_())
    v = layer.init(jax.random.key(0), jnp.ones((1, 4)))
    np.testing.assert_array_equal(v["params"]["kernel"], np.full((4, 2), 0.5, np.float32))
    np.testing.assert_array_equal(v["params"]["bias"], np.zeros(2, np.float32))


def test_wrong_features_names_layer_and_shapes():
    layer = nn.Linear(7, 3)
    with pytest.raises(
        ValueError,
        match=r"Linear\(in_features=7.*input has 9 features "
        r"\(shape \(2, 9\)\), expected 7",
    ):
        layer.init(jax.random.key(0), jnp.ones((2, 9)))


def test_error_inside_model_names_path():
    model = nn.Sequential(nn.Linear(4, 5), nn.Linear(4, 2))
    with pytest.raises(ValueError, match=r"at '1': input has 5 features"):
        model.init(jax.random.key(0), jnp.ones((2, 4)))


def test_bf16_compute_dtype_keeps_float32_params():
    layer = nn.Linear(4, 2, dtype=jnp.bfloat16)
    v = layer.init(jax.random.key(0), jnp.ones((1, 4)))
    assert v["params"]["kernel"].dtype == jnp.float32
    assert layer.apply(v, jnp.ones((1, 4))).dtype == jnp.bfloat16


def test_identity_and_repr():
    x = jnp.arange(6.0).reshape(2, 3)
    assert nn.Identity().apply({}, x) is x
    assert repr(nn.Linear(3, 4, bias=False)) == repr(torch.nn.Linear(3, 4, bias=False))
    assert repr(nn.Identity()) == repr(torch.nn.Identity())


def test_jitted_apply_compiles_once(rng):
    layer = nn.Linear(3, 2)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    v = layer.init(jax.random.key(0), x)
    traces = []

    @jax.jit
    def run(v, x):
        traces.append(1)
        return layer.apply(v, x)

    run(v, x)
    run(v, x + 1)
    assert len(traces) == 1
