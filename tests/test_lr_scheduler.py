"""jaxnn.lr_scheduler against torch.optim.lr_scheduler, value for value over a run.

torch's scheduler drives a dummy optimizer; its lr (and, for CyclicLR / OneCycleLR, the
momentum or beta1 it writes into the optimizer) after every ``step()`` is compared with
the schedule evaluated at Python ints (float64) and, jitted, at int32 steps (float32).
The older schedulers (StepLR, ..., OneCycleLR's lr) are covered in test_optim.py.
"""

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
from torch.optim import lr_scheduler as S

from jaxnn import lr_scheduler as L
from jaxnn import optim

# Schedules evaluated with Python ints (float64) agree with torch within this (relative)...
LR_RTOL = 1e-7
# ...and evaluated with int32 steps as inside the optimizer (float32) within this.
LR_RTOL_F32 = 2e-6
N = 40


def _torch_values(make_scheduler, n=N, lr=0.1, optimizer="SGD", **opt_kwargs):
    """torch's lr (and momentum / beta1) for optimizer steps 0 .. n-1."""
    opt = getattr(torch.optim, optimizer)([torch.zeros(1, requires_grad=True)], lr=lr, **opt_kwargs)
    scheduler = make_scheduler(opt)
    group = opt.param_groups[0]

    def momentum():
        return group["betas"][0] if "betas" in group else group.get("momentum")

    lrs, momenta = [group["lr"]], [momentum()]
    for _ in range(n - 1):
        opt.step()
        scheduler.step()
        lrs.append(group["lr"])
        momenta.append(momentum())
    return np.array(lrs), np.array(momenta, dtype=float)


def _assert_schedule(schedule, expected, steps_per_epoch=1, atol=0.0):
    steps = np.arange(len(expected) * steps_per_epoch)
    expected = expected[steps // steps_per_epoch]
    as_python = np.array([schedule(int(s)) for s in steps])
    np.testing.assert_allclose(as_python, expected, rtol=LR_RTOL, atol=atol)
    as_float32 = np.asarray(jax.jit(jax.vmap(schedule))(jnp.asarray(steps, jnp.int32)))
    assert as_float32.dtype == np.float32
    np.testing.assert_allclose(as_float32, expected, rtol=LR_RTOL_F32, atol=max(atol, 1e-12))


def _warmup(epoch):  # a Python function that cannot be traced (min on the epoch)
    return min(1.0, (epoch + 1) / 5)


SCHEDULER_CASES = {
    "LambdaLR-python": (
        lambda: L.LambdaLR(0.1, _warmup),
        lambda o: S.LambdaLR(o, _warmup),
    ),
    "LambdaLR-branches": (
        lambda: L.LambdaLR(0.1, lambda e: 0.5 * (1 + math.cos(math.pi * e / 40)) if e > 3 else 1.0),
        lambda o: S.LambdaLR(o, lambda e: 0.5 * (1 + math.cos(math.pi * e / 40)) if e > 3 else 1.0),
    ),
    "LambdaLR-jnp": (
        lambda: L.LambdaLR(0.1, lambda e: 0.95**e),
        lambda o: S.LambdaLR(o, lambda e: 0.95**e),
    ),
    "MultiplicativeLR": (
        lambda: L.MultiplicativeLR(0.1, lambda e: 0.9 if e % 3 else 1.05),
        lambda o: S.MultiplicativeLR(o, lambda e: 0.9 if e % 3 else 1.05),
    ),
    "ConstantLR": (lambda: L.ConstantLR(0.1), lambda o: S.ConstantLR(o)),
    "ConstantLR-0.5-7": (
        lambda: L.ConstantLR(0.1, factor=0.5, total_iters=7),
        lambda o: S.ConstantLR(o, factor=0.5, total_iters=7),
    ),
    "PolynomialLR": (lambda: L.PolynomialLR(0.1), lambda o: S.PolynomialLR(o)),
    "PolynomialLR-2.0": (
        lambda: L.PolynomialLR(0.1, total_iters=30, power=2.0),
        lambda o: S.PolynomialLR(o, total_iters=30, power=2.0),
    ),
    "PolynomialLR-0.9": (
        lambda: L.PolynomialLR(0.1, total_iters=25, power=0.9),
        lambda o: S.PolynomialLR(o, total_iters=25, power=0.9),
    ),
    "WarmRestarts": (
        lambda: L.CosineAnnealingWarmRestarts(0.1, T_0=7),
        lambda o: S.CosineAnnealingWarmRestarts(o, T_0=7),
    ),
    "WarmRestarts-mult2": (
        lambda: L.CosineAnnealingWarmRestarts(0.1, T_0=3, T_mult=2, eta_min=1e-3),
        lambda o: S.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=1e-3),
    ),
    "WarmRestarts-mult3": (
        lambda: L.CosineAnnealingWarmRestarts(0.1, T_0=1, T_mult=3),
        lambda o: S.CosineAnnealingWarmRestarts(o, T_0=1, T_mult=3),
    ),
    "SequentialLR-warmup-cosine": (
        lambda: L.SequentialLR(
            [L.LinearLR(0.1, 0.01, total_iters=5), L.CosineAnnealingLR(0.1, 30)], [5]
        ),
        lambda o: S.SequentialLR(
            o, [S.LinearLR(o, 0.01, total_iters=5), S.CosineAnnealingLR(o, 30)], [5]
        ),
    ),
    "SequentialLR-three": (
        lambda: L.SequentialLR(
            [
                L.ConstantLR(0.1, factor=0.2, total_iters=3),
                L.ExponentialLR(0.1, 0.9),
                L.StepLR(0.1, 4, gamma=0.5),
            ],
            [6, 20],
        ),
        lambda o: S.SequentialLR(
            o,
            [
                S.ConstantLR(o, factor=0.2, total_iters=3),
                S.ExponentialLR(o, 0.9),
                S.StepLR(o, 4, 0.5),
            ],
            [6, 20],
        ),
    ),
    "SequentialLR-lambda-multistep": (
        lambda: L.SequentialLR([L.LambdaLR(0.1, _warmup), L.MultiStepLR(0.1, [3, 9], 0.3)], [4]),
        lambda o: S.SequentialLR(o, [S.LambdaLR(o, _warmup), S.MultiStepLR(o, [3, 9], 0.3)], [4]),
    ),
    "SequentialLR-polynomial-restarts": (
        lambda: L.SequentialLR(
            [L.PolynomialLR(0.1, 10, 2.0), L.CosineAnnealingWarmRestarts(0.1, 4, 2)], [10]
        ),
        lambda o: S.SequentialLR(
            o, [S.PolynomialLR(o, 10, 2.0), S.CosineAnnealingWarmRestarts(o, 4, 2)], [10]
        ),
    ),
    "ChainedScheduler": (
        lambda: L.ChainedScheduler(
            [L.ConstantLR(0.1, factor=0.1, total_iters=2), L.ExponentialLR(0.1, gamma=0.9)]
        ),
        lambda o: S.ChainedScheduler(
            [S.ConstantLR(o, factor=0.1, total_iters=2), S.ExponentialLR(o, gamma=0.9)]
        ),
    ),
    "ChainedScheduler-four": (
        lambda: L.ChainedScheduler(
            [
                L.LinearLR(0.1, 0.2, total_iters=6),
                L.MultiStepLR(0.1, [10, 25], 0.5),
                L.PolynomialLR(0.1, 35, 1.5),
                L.MultiplicativeLR(0.1, lambda e: 0.99),
            ]
        ),
        lambda o: S.ChainedScheduler(
            [
                S.LinearLR(o, 0.2, total_iters=6),
                S.MultiStepLR(o, [10, 25], 0.5),
                S.PolynomialLR(o, 35, 1.5),
                S.MultiplicativeLR(o, lambda e: 0.99),
            ]
        ),
    ),
}


@pytest.mark.parametrize(("make", "make_torch"), SCHEDULER_CASES.values(), ids=SCHEDULER_CASES)
def test_scheduler_matches_torch(make, make_torch):
    expected, _ = _torch_values(make_torch)
    # PolynomialLR reaches exactly 0, where only an absolute bound makes sense
    _assert_schedule(make(), expected, atol=1e-15)


# (the schedule for steps_per_epoch=k, torch's scheduler stepped once per epoch)
PER_EPOCH_CASES = {
    "LambdaLR": (
        lambda k: L.LambdaLR(0.1, _warmup, steps_per_epoch=k),
        lambda o: S.LambdaLR(o, _warmup),
    ),
    "MultiplicativeLR": (
        lambda k: L.MultiplicativeLR(0.1, lambda e: 0.9 if e % 3 else 1.05, steps_per_epoch=k),
        lambda o: S.MultiplicativeLR(o, lambda e: 0.9 if e % 3 else 1.05),
    ),
    "WarmRestarts": (
        lambda k: L.CosineAnnealingWarmRestarts(0.1, 3, 2, 1e-3, steps_per_epoch=k),
        lambda o: S.CosineAnnealingWarmRestarts(o, 3, 2, 1e-3),
    ),
    "SequentialLR": (
        lambda k: L.SequentialLR(
            [
                L.ConstantLR(0.1, 0.2, 3, steps_per_epoch=k),
                L.ExponentialLR(0.1, 0.9, steps_per_epoch=k),
            ],
            [6],
            steps_per_epoch=k,
        ),
        lambda o: S.SequentialLR(o, [S.ConstantLR(o, 0.2, 3), S.ExponentialLR(o, 0.9)], [6]),
    ),
}


@pytest.mark.parametrize(("make", "make_torch"), PER_EPOCH_CASES.values(), ids=PER_EPOCH_CASES)
def test_per_epoch_schedulers_count_optimizer_steps(make, make_torch):
    expected, _ = _torch_values(make_torch, n=12)
    _assert_schedule(make(3), expected, steps_per_epoch=3)


CYCLIC_CASES = {
    "triangular": dict(step_size_up=5),
    "triangular-updown": dict(step_size_up=3, step_size_down=7),
    "triangular2": dict(step_size_up=4, mode="triangular2"),
    "exp_range": dict(step_size_up=4, step_size_down=2, mode="exp_range", gamma=0.97),
    "scale_fn-cycle": dict(step_size_up=3, scale_fn=lambda c: 1 / (1 + c), scale_mode="cycle"),
    "scale_fn-iterations": dict(
        step_size_up=3, scale_fn=lambda i: 1.0 if i < 10 else 0.5, scale_mode="iterations"
    ),
    "momentum": dict(step_size_up=4, base_momentum=0.7, max_momentum=0.95),
}


@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
@pytest.mark.parametrize("kwargs", CYCLIC_CASES.values(), ids=CYCLIC_CASES)
def test_cyclic_lr_and_momentum_match_torch(kwargs, optimizer):
    opt_kwargs = {"momentum": 0.9} if optimizer == "SGD" else {}
    lrs, momenta = _torch_values(
        lambda o: S.CyclicLR(o, 0.01, 0.1, **kwargs), optimizer=optimizer, **opt_kwargs
    )
    schedule = L.CyclicLR(0.01, 0.1, **kwargs)
    assert schedule.lr == 0.01
    _assert_schedule(schedule, lrs)
    _assert_schedule(schedule.momentum, momenta)


ONE_CYCLE_CASES = [
    dict(total_steps=N),
    dict(total_steps=N, three_phase=True, base_momentum=0.6),
    dict(total_steps=N, anneal_strategy="linear", max_momentum=0.99),
    dict(epochs=4, steps_per_epoch=10, pct_start=0.45),
]


@pytest.mark.parametrize("kwargs", ONE_CYCLE_CASES, ids=str)
def test_one_cycle_momentum_matches_torch(kwargs):
    lrs, momenta = _torch_values(lambda o: S.OneCycleLR(o, 0.3, **kwargs), momentum=0.9)
    schedule = L.OneCycleLR(0.3, **kwargs)
    _assert_schedule(schedule, lrs)
    _assert_schedule(schedule.momentum, momenta)
    assert L.OneCycleLR(0.3, **kwargs, cycle_momentum=False).momentum is None


def test_cosine_warm_restarts_reach_eta_min_precisely():
    """float32: the value just before a restart keeps its relative precision."""
    schedule = L.CosineAnnealingWarmRestarts(1.0, T_0=1000)
    expected = 0.5 * (1 + math.cos(math.pi * 999 / 1000))
    np.testing.assert_allclose(jax.jit(schedule)(jnp.int32(999)), expected, rtol=1e-6)


def test_user_lambdas_inside_a_jitted_optimizer_step():
    """A Python lambda (host callback) and a jnp one (traced), with torch's per-step values;
    the step compiles once."""
    schedules = [L.LambdaLR(0.1, _warmup), L.LambdaLR(0.1, lambda e: 0.9**e)]
    params = {"w": jnp.ones(3)}
    for schedule in schedules:
        tx = optim.SGD(lr=schedule)
        traces = []

        @jax.jit
        def step(params, state, tx=tx, traces=traces):
            traces.append(1)
            updates, state = tx.update({"w": jnp.ones(3)}, state, params)
            return optax.apply_updates(params, updates), state

        p, state = params, tx.init(params)
        for _ in range(8):
            p, state = step(p, state)
        expected = 1.0 - sum(schedule(i) for i in range(8))
        np.testing.assert_allclose(p["w"], np.full(3, expected), rtol=1e-6)
        assert len(traces) == 1


def test_multiplicative_lr_calls_the_lambda_once_per_epoch():
    calls = []

    def decay(epoch):
        calls.append(epoch)
        return 0.5

    schedule = L.MultiplicativeLR(1.0, decay)
    assert schedule(3) == 0.125 and schedule(2) == 0.25 and schedule(0) == 1.0
    assert calls == [1, 2, 3]


def test_sequential_lr_hands_over_at_the_milestone():
    """Each scheduler restarts from its epoch 0 when it takes over (torch's step(0))."""
    schedule = L.SequentialLR([L.ConstantLR(1.0, 0.5, 100), L.ExponentialLR(1.0, 0.5)], [3])
    assert [schedule(e) for e in range(6)] == [0.5, 0.5, 0.5, 1.0, 0.5, 0.25]


def test_schedule_repr_and_attributes():
    schedule = L.OneCycleLR(0.25, total_steps=10)
    assert repr(schedule) == "OneCycleLR(lr=0.01)" and schedule.lr == 0.25 / 25
    assert schedule.momentum.name == "OneCycleLR.momentum"
    assert L.scheduled_momentum(schedule) is schedule.momentum
    assert L.scheduled_momentum(0.1) is None and L.scheduled_momentum(L.StepLR(0.1, 2)) is None


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: L.LambdaLR(0.1, 0.5), TypeError, r"lr_lambda should be a function, but got float"),
        (
            lambda: L.MultiplicativeLR(0.1, None),
            TypeError,
            r"should be a function, but got NoneType",
        ),
        (lambda: L.ConstantLR(0.1, factor=1.5), ValueError, r"Constant multiplicative factor"),
        (lambda: L.PolynomialLR(0.1, total_iters=0), ValueError, r"total_iters must be a positive"),
        (
            lambda: L.CosineAnnealingWarmRestarts(0.1, T_0=0),
            ValueError,
            r"Expected positive integer T_0, but got 0",
        ),
        (
            lambda: L.CosineAnnealingWarmRestarts(0.1, T_0=2, T_mult=0),
            ValueError,
            r"Expected integer T_mult >= 1, but got 0",
        ),
        (
            lambda: L.CosineAnnealingWarmRestarts(0.1, T_0=2, eta_min="0"),
            ValueError,
            r"Expected float or int eta_min",
        ),
        (
            lambda: L.CyclicLR(0.1, 1.0, mode="sine"),
            ValueError,
            r"mode is invalid and scale_fn is None",
        ),
        (
            lambda: L.CyclicLR(0.1, 1.0, scale_fn=abs, scale_mode="epoch"),
            ValueError,
            r"scale_mode must be 'cycle' or 'iterations', got 'epoch'",
        ),
        (
            lambda: L.CyclicLR(0.1, 1.0, step_size_up=0),
            ValueError,
            r"step_size_up must be a positive",
        ),
        (lambda: L.LambdaLR(0.1, abs, steps_per_epoch=0), ValueError, r"steps_per_epoch must be a"),
        (
            lambda: L.SequentialLR([], []),
            ValueError,
            r"SequentialLR expects at least one scheduler",
        ),
        (
            lambda: L.SequentialLR([L.StepLR(0.1, 2), L.StepLR(0.1, 3)], []),
            ValueError,
            r"expects number of schedulers provided to be one more than the number of milestone",
        ),
        (
            lambda: L.SequentialLR([L.StepLR(0.1, 2)] * 3, [5, 2]),
            ValueError,
            r"milestones must be increasing positive ints, got \[5, 2\]",
        ),
        (
            lambda: L.SequentialLR([L.ReduceLROnPlateau(0.1)], []),
            ValueError,
            r"does not support `ReduceLROnPlateau` scheduler",
        ),
        (
            lambda: L.SequentialLR([optax.constant_schedule(0.1)], []),
            TypeError,
            r"SequentialLR: the scheduler at index 0 is function, not one of jaxnn",
        ),
        (
            lambda: L.SequentialLR([L.StepLR(0.1, 2), L.OneCycleLR(0.1, 10)], [3]),
            NotImplementedError,
            r"the OneCycleLR at index 1 cycles momentum.*cycle_momentum=False",
        ),
        (
            lambda: L.SequentialLR([L.StepLR(0.1, 2), L.MultiplicativeLR(0.1, abs)], [3]),
            NotImplementedError,
            r"a MultiplicativeLR at index 1 continues in torch from the previous",
        ),
        (lambda: L.ChainedScheduler([]), ValueError, r"ChainedScheduler expects at least one"),
        (
            lambda: L.ChainedScheduler([L.StepLR(0.1, 2), L.CosineAnnealingLR(0.1, 5)]),
            ValueError,
            r"the CosineAnnealingLR at index 1 sets the learning rate from its closed form",
        ),
        (
            lambda: L.ChainedScheduler([L.StepLR(0.1, 2), L.ExponentialLR(0.2, 0.9)]),
            ValueError,
            r"start from different learning rates \[0.1, 0.2\]",
        ),
    ],
)
def test_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_torch_agrees_with_the_errors():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match=r"Expected positive integer T_0"):
        S.CosineAnnealingWarmRestarts(opt, T_0=0)
    with pytest.raises(ValueError, match=r"mode is invalid and scale_fn is None"):
        S.CyclicLR(opt, 0.1, 1.0, mode="sine")
    with pytest.raises(ValueError, match=r"does not support `ReduceLROnPlateau`"):
        S.SequentialLR(opt, [S.ReduceLROnPlateau(opt)], [])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=r"one more than the number of milestone"):
            S.SequentialLR(opt, [S.StepLR(opt, 2), S.StepLR(opt, 3)], [])
