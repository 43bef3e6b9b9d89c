"""Gradient accumulation in jaxnn.train against torch: N micro-batches, each
``(criterion(model(x_i), y_i) / N).backward()``, then one ``optimizer.step()``.

The model has BatchNorm, whose running statistics torch updates at every micro-batch's
forward; parameters, statistics and the per-micro-batch loss are compared after every
optimizer step.
"""

import functools

import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jaxnn as nn
from jaxnn import optim
from jaxnn.compat import flax_to_torch
from jaxnn.state_dict import state_dict
from jaxnn.train import DataParallel, TrainState, fit, init_metrics, make_train_step, summarize

# parameters and statistics after a few optimizer steps (float32)
ATOL = 2e-5
MICRO = 4  # micro-batch size
N = 3  # micro-batches per optimizer step


def _model():
    # no bias before BatchNorm: its gradient is 0 up to rounding, which Adam would amplify
    return nn.Sequential(nn.Linear(6, 8, bias=False), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def _torch_model(variables):
    t = torch.nn
    model = t.Sequential(t.Linear(6, 8, bias=False), t.BatchNorm1d(8), t.ReLU(), t.Linear(8, 3))
    model.load_state_dict(flax_to_torch(variables))
    return model.train()


@functools.cache
def _data(n_micro=12):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n_micro, MICRO, 6)).astype(np.float32)
    y = rng.integers(0, 3, size=(n_micro, MICRO)).astype(np.int32)
    return x, y


def _torch_run(variables, micro_batches, groups, make_opt):
    """torch's accumulation loop; ``groups`` lists how many micro-batches each step takes."""
    model = _torch_model(variables)
    opt = make_opt(model.parameters())
    criterion = torch.nn.CrossEntropyLoss()
    states, losses, it = [], [], iter(micro_batches)
    for size in groups:
        opt.zero_grad()
        for _ in range(size):
            x, y = next(it)
            loss = criterion(model(torch.tensor(x)), torch.tensor(y, dtype=torch.long))
            (loss / N).backward()
            losses.append(loss.item())
        opt.step()
        states.append({k: v.detach().numpy().copy() for k, v in model.state_dict().items()})
    return states, losses


def _assert_state(variables, expected, what):
    ours = state_dict(variables)
    for key, value in expected.items():
        np.testing.assert_allclose(ours[key], value, rtol=0, atol=ATOL, err_msg=f"{what}: {key}")


def test_make_train_step_accumulates_like_torch():
    # SGD: the update is proportional to the gradient, so a wrong 1/N scaling shows
    tx, torch_opt = optim.SGD(0.1, momentum=0.9), lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)
    model, loss = _model(), nn.CrossEntropyLoss()
    x, y = _data()
    state = TrainState.create(model, tx, jnp.asarray(x[0]))
    expected, torch_losses = _torch_run(state.variables, zip(x, y, strict=True), [N] * 4, torch_opt)
    step = make_train_step(model, loss, tx, accumulation_steps=N)
    metrics = init_metrics()
    for i in range(4):
        group = slice(i * N, (i + 1) * N)
        state, metrics = step(state, metrics, (x[group], y[group]))  # (N, MICRO, ...)
        _assert_state(state.variables, expected[i], f"step {i}")
    assert int(state.step) == 4
    assert int(state.batch_stats["1"]["num_batches_tracked"]) == 4 * N  # one per micro-batch
    summary = summarize(metrics)
    assert summary["count"] == 4 * N * MICRO
    np.testing.assert_allclose(summary["loss"], np.mean(torch_losses), rtol=1e-5)


@pytest.mark.parametrize("steps_per_call", [1, 2])
def test_fit_groups_micro_batches_and_steps_on_the_short_last_group(steps_per_call):
    """7 loader batches with N=3: groups of 3, 3 and 1 (the last still divided by N);
    with steps_per_call=2 the two full groups run fused, the short one alone."""
    model, loss, tx = _model(), nn.CrossEntropyLoss(), optim.SGD(0.05, momentum=0.5)
    x, y = _data()
    loader = list(zip(x[:7], y[:7], strict=True))
    state = TrainState.create(model, tx, jnp.asarray(x[0]))
    expected, torch_losses = _torch_run(
        state.variables, loader, [3, 3, 1], lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.5)
    )
    state, history = fit(
        model, state, loader, loss_fn=loss, optimizer=tx, epochs=1, progress=False,
        accumulation_steps=N, steps_per_call=steps_per_call,
    )  # fmt: skip
    assert int(state.step) == 3
    _assert_state(state.variables, expected[-1], "after the epoch")
    np.testing.assert_allclose(history[0]["train_loss"], np.mean(torch_losses), rtol=1e-5)


def test_accumulation_errors():
    model, loss, tx = _model(), nn.CrossEntropyLoss(), optim.SGD(0.1)
    with pytest.raises(ValueError, match=r"accumulation_steps must be >= 1, got 0"):
        make_train_step(model, loss, tx, accumulation_steps=0)
    state = TrainState.create(model, tx, jnp.ones((MICRO, 6)))
    with pytest.raises(NotImplementedError, match=r"DataParallel with both steps_per_call and"):
        fit(
            model, state, [], loss_fn=loss, optimizer=tx, epochs=1, parallel=DataParallel(),
            steps_per_call=2, accumulation_steps=2,
        )  # fmt: skip
