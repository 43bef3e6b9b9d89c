"""jaxnn.utils gradient clipping against torch.nn.utils: the clipped gradients and the
returned total norm, as functions and as optax transforms inside a training step."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from jaxnn import optim, utils

# float32 norms of ~30 elements and the gradients scaled by them
ATOL = 1e-6
RTOL = 1e-6
SHAPES = {"conv": (2, 3, 2), "fc": (4,), "head": (3, 2)}


def _grads(rng, scale=1.0):
    return {k: (scale * rng.normal(size=s)).astype(np.float32) for k, s in SHAPES.items()}


def _torch_clip(grads, fn, *args, **kwargs):
    params = {k: torch.zeros(v.shape, requires_grad=True) for k, v in grads.items()}
    for k, p in params.items():
        p.grad = torch.tensor(grads[k])
    out = fn(list(params.values()), *args, **kwargs)
    return {k: p.grad.numpy() for k, p in params.items()}, out


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5, float("inf"), "inf", 0.5])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])  # clipping, and a norm already below
def test_clip_grad_norm_matches_torch(norm_type, max_norm, rng):
    grads = _grads(rng)
    ours, total = utils.clip_grad_norm_(grads, max_norm, norm_type)
    theirs, torch_total = _torch_clip(grads, torch.nn.utils.clip_grad_norm_, max_norm, norm_type)
    np.testing.assert_allclose(total, torch_total.numpy(), rtol=RTOL)
    for k in grads:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=RTOL, atol=ATOL, err_msg=k)
    if max_norm == 0.5:  # it clipped: the result has (almost) the norm asked for
        np.testing.assert_allclose(utils.get_total_norm(ours, norm_type), 0.5, rtol=1e-5)


def test_get_total_norm_and_clip_grads_with_norm_match_torch(rng):
    grads = _grads(rng)
    total = utils.get_total_norm(grads, 3.0)
    torch_total = torch.nn.utils.get_total_norm([torch.tensor(g) for g in grads.values()], 3.0)
    np.testing.assert_allclose(total, torch_total.numpy(), rtol=RTOL)
    clipped = utils.clip_grads_with_norm_(grads, 1.0, total)
    theirs, _ = _torch_clip(grads, torch.nn.utils.clip_grads_with_norm_, 1.0, torch_total)
    for k in grads:
        np.testing.assert_allclose(clipped[k], theirs[k], rtol=RTOL, atol=ATOL, err_msg=k)
    assert float(utils.get_total_norm({})) == 0.0  # torch: tensor(0.) for no tensors


@pytest.mark.parametrize("clip_value", [0.3, 5.0])
def test_clip_grad_value_matches_torch(clip_value, rng):
    grads = _grads(rng)
    ours = utils.clip_grad_value_(grads, clip_value)
    theirs, _ = _torch_clip(grads, torch.nn.utils.clip_grad_value_, clip_value)
    for k in grads:
        np.testing.assert_array_equal(ours[k], theirs[k])


def test_nonfinite_norm_scales_by_it_like_torch(rng):
    grads = _grads(rng)
    grads["fc"][1] = np.inf
    ours, total = utils.clip_grad_norm_(grads, 1.0)
    theirs, torch_total = _torch_clip(grads, torch.nn.utils.clip_grad_norm_, 1.0)
    assert np.isinf(total) and torch.isinf(torch_total)
    for k in grads:  # max_norm / inf = 0: finite gradients become 0, inf * 0 is NaN
        np.testing.assert_array_equal(ours[k], theirs[k])


@pytest.mark.parametrize("jit", [False, True])
def test_error_if_nonfinite(jit, rng):
    grads = _grads(rng)
    grads["head"][0, 0] = np.nan
    fn = lambda g: utils.clip_grad_norm_(g, 1.0, error_if_nonfinite=True)  # noqa: E731
    if jit:
        fn = jax.jit(fn)
    match = r"The total norm of order 2.0 for gradients from `parameters` is non-finite"
    with pytest.raises(RuntimeError, match=match):
        jax.block_until_ready(fn(grads))
    with pytest.raises(RuntimeError, match=match):
        _torch_clip(grads, torch.nn.utils.clip_grad_norm_, 1.0, error_if_nonfinite=True)
    # finite gradients pass the check, jitted or not
    jax.block_until_ready(fn(_grads(rng)))


def test_transforms_in_a_training_step_match_torch(rng):
    """clip_grad_norm / clip_grad_value chained before SGD: torch's clip-then-step loop."""
    params = _grads(rng)
    tx = optax.chain(utils.clip_grad_value(2.0), utils.clip_grad_norm(1.5), optim.SGD(0.1, 0.9))
    state = tx.init(params)
    torch_params = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    torch_opt = torch.optim.SGD(list(torch_params.values()), lr=0.1, momentum=0.9)
    step = jax.jit(lambda g, s, p: tx.update(g, s, p))
    for _ in range(5):
        grads = _grads(rng, scale=3.0)
        updates, state = step(grads, state, params)
        params = optax.apply_updates(params, updates)
        for k, p in torch_params.items():
            p.grad = torch.tensor(grads[k])
        torch.nn.utils.clip_grad_value_(torch_params.values(), 2.0)
        torch_total = torch.nn.utils.clip_grad_norm_(torch_params.values(), 1.5)
        torch_opt.step()
        np.testing.assert_allclose(state[1].total_norm, torch_total.numpy(), rtol=RTOL)
        for k, p in torch_params.items():
            np.testing.assert_allclose(params[k], p.detach().numpy(), rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda: utils.clip_grad_norm({"w": jnp.ones(2)}, 1.0),
            r"clip_grad_norm_\(grads, max_norm",
        ),
        (lambda: utils.clip_grad_value({"w": jnp.ones(2)}), r"clip_grad_value_\(grads, clip_value"),
    ],
)
def test_transform_builders_name_the_function_form(make, match):
    with pytest.raises(TypeError, match=match):
        make()
