"""jaxnn.optim.swa_utils against torch.optim.swa_utils: AveragedModel (SWA and EMA, with
and without buffers), update_bn and SWALR.

The same sequence of model states is fed to both AveragedModels (torch's through
``load_state_dict``), and the averaged state_dicts are compared after every update.
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as S
from torch.optim import swa_utils as TS

import jaxnn as nn
from jaxnn import lr_scheduler
from jaxnn.compat import flax_to_torch
from jaxnn.optim import swa_utils
from jaxnn.state_dict import load_state_dict, state_dict

# averages of float32 values over a few updates; BatchNorm statistics over a few batches
ATOL = 1e-6
STATS_ATOL = 1e-5
LR_RTOL = 1e-7


def _model():
    return nn.Sequential(
        nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 4),
        nn.BatchNorm1d(4), nn.Linear(4, 2),
    )  # fmt: skip


def _torch_model():
    t = torch.nn
    return t.Sequential(
        t.Conv2d(2, 3, 3), t.BatchNorm2d(3), t.ReLU(), t.Flatten(), t.Linear(12, 4),
        t.BatchNorm1d(4), t.Linear(4, 2),
    )  # fmt: skip


@functools.cache
def _variables():
    return _model().init(jax.random.key(0), jnp.ones((2, 2, 4, 4)))


def _states(rng, n=5):
    """n random model states (parameters and statistics), as numpy state_dicts."""
    template = state_dict(_variables())
    states = []
    for i in range(n):
        sd = {k: rng.normal(size=v.shape).astype(v.dtype) for k, v in template.items()}
        for k in sd:
            if k.endswith("running_var"):
                sd[k] = np.abs(sd[k]) + 0.5
            if k.endswith("num_batches_tracked"):
                sd[k] = np.array(3 * i + 1, np.int64)
        states.append(sd)
    return states


AVERAGING_CASES = {
    "swa": dict(),
    "swa-buffers": dict(use_buffers=True),
    "ema-avg_fn": dict(avg_fn=("ema", 0.9)),
    "ema-multi-buffers": dict(multi_avg_fn=("ema_multi", 0.8), use_buffers=True),
    "swa-multi": dict(multi_avg_fn=("swa_multi",)),
    "custom-buffers": dict(avg_fn=("custom",), use_buffers=True),
}


def _build(module, kwargs):
    def fn(spec):
        name, *args = spec
        if name == "custom":
            return lambda avg, cur, n: 0.5 * avg + 0.5 * cur
        return getattr(module, f"get_{name}_avg_fn")(*args)

    return {k: fn(v) if k in ("avg_fn", "multi_avg_fn") else v for k, v in kwargs.items()}


@pytest.mark.parametrize("kwargs", AVERAGING_CASES.values(), ids=AVERAGING_CASES)
def test_averaged_model_matches_torch(kwargs, rng):
    ours = swa_utils.AveragedModel(_model(), **_build(swa_utils, kwargs))
    torch_model = _torch_model()
    theirs = TS.AveragedModel(torch_model, **_build(TS, kwargs))
    state = ours.init(_variables())
    traces = []

    @jax.jit
    def update(state, variables):
        traces.append(1)  # runs once per compilation
        return ours.update_parameters(state, variables)

    for sd in _states(rng):
        state = update(state, load_state_dict(_variables(), sd))
        torch_model.load_state_dict({k: torch.tensor(v) for k, v in sd.items()})
        theirs.update_parameters(torch_model)
        assert int(state.n_averaged) == int(theirs.n_averaged)
        expected = theirs.module.state_dict()
        for key, value in state_dict(state.variables).items():
            np.testing.assert_allclose(value, expected[key].numpy(), rtol=0, atol=ATOL, err_msg=key)
    assert len(traces) == 1  # the first update (a copy) and the averages: one compilation


def test_ema_in_a_jitted_train_step_and_apply(rng):
    """The averaged model runs with apply; its output is the model's on averaged weights."""
    model = _model()
    ema = swa_utils.AveragedModel(model, multi_avg_fn=swa_utils.get_ema_multi_avg_fn(0.5))
    states = [load_state_dict(_variables(), sd) for sd in _states(rng, 3)]
    averaged = ema.init(states[0])
    for variables in states:
        averaged = ema.update_parameters(averaged, variables)
    x = rng.normal(size=(2, 2, 4, 4)).astype(np.float32)
    params = jax.tree.map(
        lambda a, b, c: 0.5 * (0.5 * a + 0.5 * b) + 0.5 * c, *(s["params"] for s in states)
    )
    expected = model.apply({**states[-1], "params": params}, x)
    np.testing.assert_allclose(ema.apply(averaged, x), expected, rtol=1e-6, atol=1e-6)


def _loader(rng, n=4, with_targets=True):
    batches = [rng.normal(size=(5, 2, 4, 4)).astype(np.float32) for _ in range(n)]
    return [(x, np.zeros(5, np.int32)) for x in batches] if with_targets else batches


@pytest.mark.parametrize("with_targets", [True, False])
def test_update_bn_matches_torch(with_targets, rng):
    variables = load_state_dict(_variables(), _states(rng, 1)[0])
    loader = _loader(rng, with_targets=with_targets)
    updated = swa_utils.update_bn(loader, _model(), variables)
    torch_model = _torch_model()
    torch_model.load_state_dict(flax_to_torch(variables))
    torch_loader = (
        [(torch.tensor(x), torch.tensor(y)) for x, y in loader]
        if with_targets
        else [torch.tensor(x) for x in loader]
    )
    TS.update_bn(torch_loader, torch_model)
    expected = torch_model.state_dict()
    ours = state_dict(updated)
    for key in expected:
        tol = STATS_ATOL if "running" in key else 0.0  # parameters are untouched
        np.testing.assert_allclose(ours[key], expected[key].numpy(), rtol=0, atol=tol, err_msg=key)
    assert ours["1.num_batches_tracked"] == 4 and ours["5.num_batches_tracked"] == 4


def test_update_bn_without_batchnorm_and_empty_loader(rng):
    model = nn.Sequential(nn.Linear(3, 2))
    variables = model.init(jax.random.key(0), jnp.ones((1, 3)))
    same = swa_utils.update_bn([np.ones((1, 3), np.float32)], model, variables)
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), same, variables))
    with pytest.raises(ValueError, match=r"update_bn: the loader yielded no batch"):
        swa_utils.update_bn([], _model(), _variables())


# --------------------------------------------------------------------------- SWALR


def _torch_lrs(make, n=20, lr=0.1):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    scheduler = make(opt)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(n - 1):
        opt.step()
        scheduler.step()
        lrs.append(opt.param_groups[0]["lr"])
    return np.array(lrs)


def _assert_schedule(schedule, expected):
    steps = np.arange(len(expected))
    np.testing.assert_allclose([schedule(int(s)) for s in steps], expected, rtol=LR_RTOL)
    as_f32 = jax.jit(jax.vmap(schedule))(jnp.asarray(steps, jnp.int32))
    np.testing.assert_allclose(as_f32, expected, rtol=2e-6)


@pytest.mark.parametrize(
    ("anneal_epochs", "anneal_strategy"), [(10, "cos"), (3, "linear"), (0, "cos"), (5, "cos")]
)
def test_swalr_matches_torch(anneal_epochs, anneal_strategy):
    expected = _torch_lrs(lambda o: TS.SWALR(o, 0.02, anneal_epochs, anneal_strategy))
    _assert_schedule(swa_utils.SWALR(0.1, 0.02, anneal_epochs, anneal_strategy), expected)


def test_swalr_in_sequential_lr_starts_from_the_reached_lr():
    expected = _torch_lrs(
        lambda o: S.SequentialLR(o, [S.CosineAnnealingLR(o, 20), TS.SWALR(o, 0.05, 4)], [8]), 20
    )
    schedule = lr_scheduler.SequentialLR(
        [lr_scheduler.CosineAnnealingLR(0.1, 20), swa_utils.SWALR(0.1, 0.05, 4)], [8]
    )
    _assert_schedule(schedule, expected)
    reached = 0.1 * (1 + math.cos(math.pi * 7 / 20)) / 2  # the cosine at epoch 7
    assert schedule(8) == pytest.approx(reached, rel=1e-12)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: swa_utils.get_ema_avg_fn(1.5), r"Invalid decay value 1.5 provided"),
        (lambda: swa_utils.get_ema_multi_avg_fn(-0.1), r"Invalid decay value -0.1 provided"),
        (
            lambda: swa_utils.AveragedModel(
                None, swa_utils.get_swa_avg_fn(), swa_utils.get_swa_multi_avg_fn()
            ),
            r"Only one of avg_fn and multi_avg_fn should be provided",
        ),
        (
            lambda: swa_utils.AveragedModel().apply(None, 1),
            r"AveragedModel.apply: this AveragedModel was built without a model",
        ),
        (lambda: swa_utils.SWALR(0.1, 0.01, anneal_strategy="exp"), r"'cos' or 'linear'"),
        (lambda: swa_utils.SWALR(0.1, 0.01, anneal_epochs=-1), r"equal or greater than 0, got -1"),
    ],
)
def test_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()
