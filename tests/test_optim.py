"""jaxnn.optim against torch.optim: optimizer steps, schedulers, param groups.

Optimizers: 30 steps from the same float32 parameters with the same gradients fed to
both (and one run per optimizer where the gradients come from a loss, so that the
state matters); the parameters are compared after every step. Schedulers: the lr
sequence of torch's scheduler, driven with a dummy optimizer, against the schedule.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
from flax import linen
from torch.optim import lr_scheduler

import jaxnn as nn
from jaxnn import init, optim
from jaxnn.state_dict import torch_key

# Parameters after every step agree with torch's within this (float32).
PARAM_ATOL = 2e-5
# Schedules evaluated with Python ints (float64) agree with torch within this...
LR_RTOL = 1e-7
# ...and evaluated with int32 steps as inside the optimizer (float32) within this.
LR_RTOL_F32 = 2e-6

N_STEPS = 30
SHAPES = {"weight": (5, 3), "bias": (3,)}


def _initial_params(rng):
    return {k: rng.normal(size=s).astype(np.float32) for k, s in SHAPES.items()}


def _grad_sequence(rng):
    return [
        {k: rng.normal(size=s).astype(np.float32) for k, s in SHAPES.items()}
        for _ in range(N_STEPS)
    ]


class _Run:
    """A jaxnn optimizer and a torch optimizer stepping the same parameter tree.

    With ``jit=False`` the update runs op by op (cheaper than a compilation per
    configuration for 30 tiny steps); ``traces`` counts compilations otherwise.
    """

    def __init__(self, tx, torch_opt_fn, params, jit=True):
        self.traces = 0

        def step(grads, opt_state, params):
            self.traces += 1
            updates, opt_state = tx.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state

        self.step = jax.jit(step) if jit else step
        self.params = jax.tree.map(jnp.asarray, params)
        self.opt_state = tx.init(self.params)
        self.torch_params = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
        self.torch_opt = torch_opt_fn(self.torch_params)
        self.max_error = 0.0

    def apply(self, grads, torch_grads):
        self.params, self.opt_state = self.step(grads, self.opt_state, self.params)
        for k, p in self.torch_params.items():
            p.grad = torch_grads[k]
        self.torch_opt.step()
        for k, p in self.torch_params.items():
            error = np.abs(np.asarray(self.params[k]) - p.detach().numpy()).max()
            self.max_error = max(self.max_error, float(error))
        assert self.max_error <= PARAM_ATOL


# (jaxnn/torch optimizer name, keyword arguments shared by both)
OPTIMIZER_CASES = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.5, dampening=0.1, weight_decay=0.1, maximize=True)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01, maximize=True)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01, betas=(0.5, 0.9), eps=1e-3)),
    ("Adam", dict(lr=0.01, betas=(0.3, 0.99))),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1, maximize=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("Adam", dict(lr=0.01, betas=(0.0, 0.0))),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01, betas=(0.8, 0.95), maximize=True)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-3)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, weight_decay=0.1, maximize=True)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.5, eps=1e-3)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.1, maximize=True)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.1)),
]


def _case_id(case):
    name, kwargs = case
    return name + "-" + ",".join(f"{k}={v}" for k, v in kwargs.items())


@pytest.mark.parametrize("case", OPTIMIZER_CASES, ids=_case_id)
def test_optimizer_matches_torch_step_for_step(case, rng):
    name, kwargs = case
    params = _initial_params(rng)
    run = _Run(
        getattr(optim, name)(**kwargs),
        lambda ps: getattr(torch.optim, name)(list(ps.values()), **kwargs),
        params,
        jit=False,
    )
    for grads in _grad_sequence(rng):
        run.apply(grads, {k: torch.tensor(g) for k, g in grads.items()})
    leaves = jax.tree.leaves((run.params, run.opt_state))
    assert all(leaf.dtype in (jnp.float32, jnp.int32) for leaf in leaves)


# one configuration per optimizer where every piece of state is exercised
STATEFUL_CASES = [
    ("SGD", dict(lr=0.02, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.02, momentum=0.8, dampening=0.2)),
    ("Adam", dict(lr=0.02, amsgrad=True, weight_decay=0.01)),
    ("AdamW", dict(lr=0.02, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.005, momentum=0.5, centered=True, weight_decay=0.01)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)),
]


@pytest.mark.parametrize("case", STATEFUL_CASES, ids=_case_id)
def test_optimizer_on_a_quadratic_loss(case, rng):
    """Gradients computed by each framework from its own parameters; jitted step."""
    name, kwargs = case
    x = rng.normal(size=(8, 5)).astype(np.float32)
    y = rng.normal(size=(8, 3)).astype(np.float32)

    def loss(p):
        return jnp.mean((x @ p["weight"] + p["bias"][None, :] - y) ** 2)

    def torch_loss(p):
        out = torch.tensor(x) @ p["weight"] + p["bias"]
        return ((out - torch.tensor(y)) ** 2).mean()

    tx = getattr(optim, name)(**kwargs)
    params = jax.tree.map(jnp.asarray, _initial_params(rng))
    opt_state = tx.init(params)

    traces = []

    @jax.jit
    def step(params, opt_state):
        traces.append(1)  # runs once per compilation
        value, grads = jax.value_and_grad(loss)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    torch_params = {k: torch.tensor(np.asarray(v), requires_grad=True) for k, v in params.items()}
    torch_opt = getattr(torch.optim, name)(list(torch_params.values()), **kwargs)
    for _ in range(N_STEPS):
        params, opt_state, value = step(params, opt_state)
        torch_opt.zero_grad()
        torch_value = torch_loss(torch_params)
        torch_value.backward()
        torch_opt.step()
        np.testing.assert_allclose(value, torch_value.item(), rtol=1e-5)
        for k, p in torch_params.items():
            np.testing.assert_allclose(params[k], p.detach().numpy(), rtol=0, atol=PARAM_ATOL)
    assert len(traces) == 1, "the jitted step recompiled"


@pytest.mark.parametrize(
    ("name", "kwargs", "schedule", "torch_scheduler"),
    [
        (
            "Adam",
            dict(lr=0.01),
            optim.ExponentialLR(0.01, gamma=0.9),
            lambda opt: lr_scheduler.ExponentialLR(opt, gamma=0.9),
        ),
        (
            "SGD",
            dict(lr=0.1, momentum=0.9),
            optim.OneCycleLR(0.1, total_steps=N_STEPS, cycle_momentum=False),
            lambda opt: lr_scheduler.OneCycleLR(
                opt, 0.1, total_steps=N_STEPS, cycle_momentum=False
            ),
        ),
        (
            "Adagrad",
            dict(lr=0.1, lr_decay=0.05),
            optim.StepLR(0.1, step_size=4, gamma=0.5),
            lambda opt: lr_scheduler.StepLR(opt, step_size=4, gamma=0.5),
        ),
    ],
)
def test_lr_schedule_inside_optimizer(name, kwargs, schedule, torch_scheduler, rng):
    """An optax schedule as lr equals torch's scheduler stepped after every step."""
    jax_kwargs = {k: v for k, v in kwargs.items() if k != "lr"}
    torch_sched = []

    def torch_opt_fn(ps):
        opt = getattr(torch.optim, name)(list(ps.values()), **kwargs)
        torch_sched.append(torch_scheduler(opt))
        return opt

    run = _Run(getattr(optim, name)(lr=schedule, **jax_kwargs), torch_opt_fn, _initial_params(rng))
    for grads in _grad_sequence(rng):
        run.apply(grads, {k: torch.tensor(g) for k, g in grads.items()})
        torch_sched[0].step()
    assert run.traces == 1


def test_adamw_decay_rounds_like_torch_over_many_steps():
    """torch rounds 1 - lr * wd to float32; without that the decay drifts (0.14% here)."""
    params = {"w": jnp.asarray(np.linspace(-3, 3, 15, dtype=np.float32).reshape(5, 3))}
    tx = optim.AdamW()  # lr=1e-3, weight_decay=1e-2
    state = tx.init(params)
    update = jax.jit(tx.update)
    zeros = jax.tree.map(jnp.zeros_like, params)  # Adam's direction is 0: only the decay acts
    w = torch.tensor(np.asarray(params["w"]), requires_grad=True)
    torch_opt = torch.optim.AdamW([w])
    for _ in range(500):
        updates, state = update(zeros, state, params)
        params = optax.apply_updates(params, updates)
        w.grad = torch.zeros_like(w)
        torch_opt.step()
    np.testing.assert_allclose(params["w"], w.detach().numpy(), rtol=1e-7, atol=0)


def test_jitted_update_does_not_recompile():
    tx = optax.chain(optax.clip_by_global_norm(1.0), optim.Adam(1e-3, amsgrad=True))
    params = {"w": jnp.ones((5, 3)), "b": jnp.zeros(3)}
    state = tx.init(params)
    traces = []

    @jax.jit
    def update(grads, state, params):
        traces.append(1)  # runs once per compilation
        return tx.update(grads, state, params)

    grads = jax.tree.map(jnp.ones_like, params)
    for _ in range(3):
        updates, state = update(grads, state, params)
        params = optax.apply_updates(params, updates)
    assert len(traces) == 1


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: optim.SGD(lr=-0.1), r"Invalid learning rate: -0.1"),
        (lambda: optim.SGD(0.1, momentum=-0.5), r"Invalid momentum value: -0.5"),
        (lambda: optim.SGD(0.1, weight_decay=-1), r"Invalid weight_decay value: -1"),
        (lambda: optim.SGD(0.1, nesterov=True), r"Nesterov momentum requires a momentum and zero"),
        (
            lambda: optim.SGD(0.1, momentum=0.9, dampening=0.1, nesterov=True),
            r"Nesterov momentum requires a momentum and zero dampening",
        ),
        (lambda: optim.Adam(lr=-1.0), r"Invalid learning rate: -1.0"),
        (lambda: optim.Adam(eps=-1e-8), r"Invalid epsilon value: -1e-08"),
        (lambda: optim.Adam(betas=(1.0, 0.999)), r"Invalid beta parameter at index 0: 1.0"),
        (lambda: optim.AdamW(betas=(0.9, -0.1)), r"Invalid beta parameter at index 1: -0.1"),
        (lambda: optim.AdamW(weight_decay=-0.01), r"Invalid weight_decay value: -0.01"),
        (lambda: optim.RMSprop(alpha=-0.9), r"Invalid alpha value: -0.9"),
        (lambda: optim.RMSprop(momentum=-0.9), r"Invalid momentum value: -0.9"),
        (lambda: optim.RMSprop(eps=-1.0), r"Invalid epsilon value: -1.0"),
        (lambda: optim.Adagrad(lr_decay=-1.0), r"Invalid lr_decay value: -1.0"),
        (
            lambda: optim.Adagrad(initial_accumulator_value=-1.0),
            r"Invalid initial_accumulator_value value: -1.0",
        ),
        (lambda: optim.StepLR(0.1, step_size=0), r"StepLR: step_size must be a positive int"),
        (lambda: optim.StepLR(0.1, 2, steps_per_epoch=0), r"steps_per_epoch must be a positive"),
        (lambda: optim.CosineAnnealingLR(0.1, T_max=0), r"T_max must be a positive int, got 0"),
        (lambda: optim.LinearLR(0.1, start_factor=0.0), r"Starting multiplicative factor"),
        (lambda: optim.LinearLR(0.1, end_factor=1.5), r"Ending multiplicative factor"),
        (lambda: optim.OneCycleLR(0.1), r"either total_steps OR \(epochs AND steps_per_epoch\)"),
        (lambda: optim.OneCycleLR(0.1, total_steps=0), r"positive integer total_steps"),
        (lambda: optim.OneCycleLR(0.1, 10, pct_start=1.5), r"between 0 and 1 pct_start"),
        (lambda: optim.OneCycleLR(0.1, 10, anneal_strategy="exp"), r"'cos' or 'linear'"),
        (lambda: optim.OneCycleLR(0.1, 10, pct_start=0.05), r"leaves a phase without steps"),
        (lambda: optim.ReduceLROnPlateau(0.1, factor=1.0), r"Factor should be < 1.0"),
        (lambda: optim.ReduceLROnPlateau(0.1, mode="up"), r"mode 'up' is unknown"),
        (lambda: optim.ReduceLROnPlateau(0.1, threshold_mode="x"), r"threshold mode 'x'"),
    ],
)
def test_argument_validation(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_torch_agrees_with_validation():
    """The invalid arguments above are invalid for torch too (spot check)."""
    p = [torch.zeros(1, requires_grad=True)]
    with pytest.raises(ValueError, match="Nesterov momentum requires"):
        torch.optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 0"):
        torch.optim.Adam(p, betas=(1.0, 0.999))


# --------------------------------------------------------------------------- schedulers


def _torch_lrs(make_scheduler, n, base_lr=0.1):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base_lr)
    scheduler = make_scheduler(opt)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(n - 1):
        opt.step()
        scheduler.step()
        lrs.append(opt.param_groups[0]["lr"])
    return np.array(lrs)


def _assert_schedule(schedule, expected, steps_per_epoch=1, float32=True):
    steps = np.arange(len(expected) * steps_per_epoch)
    expected = expected[steps // steps_per_epoch]
    as_python = np.array([schedule(int(s)) for s in steps])
    np.testing.assert_allclose(as_python, expected, rtol=LR_RTOL, atol=0)
    if float32:  # one compilation per schedule: only where the float32 path adds something
        as_float32 = np.asarray(jax.jit(jax.vmap(schedule))(jnp.asarray(steps, jnp.int32)))
        assert as_float32.dtype == np.float32
        np.testing.assert_allclose(as_float32, expected, rtol=LR_RTOL_F32, atol=1e-12)


S = lr_scheduler
SCHEDULER_CASES = [
    ("StepLR", (3,), {}, lambda o: S.StepLR(o, 3)),
    ("StepLR", (1,), dict(gamma=0.7), lambda o: S.StepLR(o, 1, gamma=0.7)),
    ("MultiStepLR", ([4, 10],), {}, lambda o: S.MultiStepLR(o, [4, 10])),
    ("MultiStepLR", ([9, 2, 9],), dict(gamma=0.5), lambda o: S.MultiStepLR(o, [9, 2, 9], 0.5)),
    ("ExponentialLR", (0.9,), {}, lambda o: S.ExponentialLR(o, 0.9)),
    ("ExponentialLR", (0.999,), {}, lambda o: S.ExponentialLR(o, 0.999)),
    ("CosineAnnealingLR", (10,), {}, lambda o: S.CosineAnnealingLR(o, 10)),
    ("CosineAnnealingLR", (7,), dict(eta_min=1e-3), lambda o: S.CosineAnnealingLR(o, 7, 1e-3)),
    ("LinearLR", (), {}, lambda o: S.LinearLR(o)),
    ("LinearLR", (0.5, 0.1, 8), {}, lambda o: S.LinearLR(o, 0.5, 0.1, 8)),
]


@pytest.mark.parametrize("steps_per_epoch", [1, 3])
@pytest.mark.parametrize(
    ("name", "args", "kwargs", "make"), SCHEDULER_CASES, ids=[c[0] for c in SCHEDULER_CASES]
)
def test_epoch_scheduler_matches_torch(name, args, kwargs, make, steps_per_epoch):
    # 35 epochs: CosineAnnealingLR goes past T_max into its periodic continuation
    expected = _torch_lrs(make, 35)
    schedule = getattr(optim, name)(0.1, *args, **kwargs, steps_per_epoch=steps_per_epoch)
    # the epoch index is the same integer code in both paths: float32 once per schedule
    _assert_schedule(schedule, expected, steps_per_epoch, float32=steps_per_epoch == 1)


ONE_CYCLE_CASES = [
    dict(total_steps=100),
    dict(total_steps=37, pct_start=0.45),
    dict(total_steps=50, anneal_strategy="linear"),
    dict(total_steps=60, three_phase=True),
    dict(total_steps=45, three_phase=True, anneal_strategy="linear", pct_start=0.25),
    dict(epochs=4, steps_per_epoch=11, div_factor=10.0, final_div_factor=100.0),
]


@pytest.mark.parametrize("kwargs", ONE_CYCLE_CASES, ids=str)
def test_one_cycle_matches_torch_per_step(kwargs):
    total = kwargs.get("total_steps") or kwargs["epochs"] * kwargs["steps_per_epoch"]
    # torch allows stepping to total_steps itself: total + 1 values
    expected = _torch_lrs(lambda o: S.OneCycleLR(o, 0.3, cycle_momentum=False, **kwargs), total + 1)
    _assert_schedule(optim.OneCycleLR(0.3, **kwargs), expected)


def test_one_cycle_holds_past_total_steps():
    schedule = optim.OneCycleLR(0.1, total_steps=20)
    assert schedule(25) == schedule(20)


def test_cosine_closed_form_equals_torch_chained_form():
    """The docstring's claim: torch's chained form is the closed form to float64 rounding."""
    expected = _torch_lrs(lambda o: S.CosineAnnealingLR(o, 6, eta_min=0.01), 40)
    ours = np.array([optim.CosineAnnealingLR(0.1, 6, eta_min=0.01)(e) for e in range(40)])
    np.testing.assert_allclose(ours, expected, rtol=1e-12)


PLATEAU_CASES = [
    dict(),
    dict(patience=2, factor=0.5),
    dict(mode="max", patience=1, threshold=0.05, threshold_mode="abs"),
    dict(patience=0, cooldown=2, min_lr=0.02),
    dict(mode="max", patience=1, threshold=0.1, eps=0.05),
]


@pytest.mark.parametrize("kwargs", PLATEAU_CASES, ids=str)
def test_reduce_lr_on_plateau_matches_torch(kwargs, rng):
    metrics = np.concatenate(
        [np.linspace(1.0, 0.5, 5), np.full(12, 0.5), rng.uniform(0.4, 0.6, 20)]
    )
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    theirs = S.ReduceLROnPlateau(opt, **kwargs)
    ours = optim.ReduceLROnPlateau(0.1, **kwargs)
    for metric in metrics:
        theirs.step(metric)
        assert ours.step(metric) == opt.param_groups[0]["lr"]
    assert ours.lr < 0.1


def test_reduce_lr_on_plateau_through_inject_hyperparams(rng):
    params = _initial_params(rng)
    tx = optax.inject_hyperparams(optim.SGD, static_args=("momentum",))(lr=0.1, momentum=0.9)
    run = _Run(tx, lambda ps: torch.optim.SGD(list(ps.values()), lr=0.1, momentum=0.9), params)
    ours = optim.ReduceLROnPlateau(0.1, patience=1)
    theirs = S.ReduceLROnPlateau(run.torch_opt, patience=1)
    grads = _grad_sequence(rng)
    for epoch, metric in enumerate([1.0, 0.9, 0.9, 0.9, 0.9, 0.9]):
        for grad in grads[epoch * 5 : (epoch + 1) * 5]:
            run.apply(grad, {k: torch.tensor(g) for k, g in grad.items()})
        theirs.step(metric)
        run.opt_state.hyperparams["lr"] = jnp.asarray(ours.step(metric), jnp.float32)
    assert run.torch_opt.param_groups[0]["lr"] == pytest.approx(ours.lr)
    assert ours.lr == pytest.approx(1e-3)
    assert run.traces == 1


def test_reduce_lr_on_plateau_state_dict_round_trip():
    a = optim.ReduceLROnPlateau(0.1, patience=0)
    for metric in [1.0, 2.0, 3.0]:
        a.step(metric)
    b = optim.ReduceLROnPlateau(0.1, patience=0)
    b.load_state_dict(a.state_dict())
    assert b.step(4.0) == a.step(4.0) == pytest.approx(1e-4)


# --------------------------------------------------------------------------- param groups

GROUP_SHAPES = {"fc": {"kernel": (5, 3), "bias": (3,)}, "bn1": {"scale": (3,), "bias": (3,)}}


def _group_params(rng):
    return jax.tree.map(
        lambda s: rng.normal(size=s).astype(np.float32),
        GROUP_SHAPES,
        is_leaf=lambda x: isinstance(x, tuple),
    )


def _flat(tree):
    return {
        "/".join(k.key for k in path): v for path, v in jax.tree_util.tree_leaves_with_path(tree)
    }


def test_weight_decay_mask():
    matrix, vector = np.ones((3, 3)), np.ones(3)
    mask = optim.weight_decay_mask(
        {
            "conv1": {"kernel": np.ones((3, 3, 2, 4)), "bias": vector},
            "bn1": {"scale": vector, "bias": vector},
            "BatchNorm_0": {"anything": matrix},  # under a Flax-named norm layer
            "ln_1": {"weight": vector, "bias": vector},  # a norm layer keeping torch's names
            "prelu": {"weight": np.ones(())},  # gains and other 0-d / 1-d parameters
            "layers": [{"kernel": matrix}],
        }
    )
    assert mask == {
        "conv1": {"kernel": True, "bias": False},
        "bn1": {"scale": False, "bias": False},
        "BatchNorm_0": {"anything": False},
        "ln_1": {"weight": False, "bias": False},
        "prelu": {"weight": False},
        "layers": [{"kernel": True}],
    }


def test_decay_mask_follows_nanogpts_rule_on_torch_named_modules():
    """nanoGPT's configure_optimizers decays exactly the parameters with dim >= 2."""

    class TorchNamedNorm(nn.Module):  # a LayerNorm written with torch's parameter names
        @linen.compact
        def __call__(self, x):
            weight = self.param("weight", init.ones_(), (x.shape[-1],))
            bias = self.param("bias", init.zeros_(), (x.shape[-1],))
            mean = x.mean(-1, keepdims=True)
            var = ((x - mean) ** 2).mean(-1, keepdims=True)
            return (x - mean) / jnp.sqrt(var + 1e-5) * weight[None] + bias[None]

    class Block(nn.Module):
        def setup(self):
            self.ln_1 = TorchNamedNorm()
            self.c_fc = nn.Linear(4, 8)
            self.c_proj = nn.Linear(8, 4, bias=False)

        def __call__(self, x):
            return x + self.c_proj(self.c_fc(self.ln_1(x)))

    t = torch.nn
    twin = t.Module()
    twin.ln_1, twin.c_fc, twin.c_proj = t.LayerNorm(4), t.Linear(4, 8), t.Linear(8, 4, bias=False)
    params = Block().init(jax.random.key(0), jnp.ones((1, 4)))["params"]
    mask = optim.weight_decay_mask(params)
    decayed = {
        torch_key("params", tuple(k.key for k in path))
        for path, on in jax.tree_util.tree_leaves_with_path(mask)
        if on
    }
    assert decayed == {n for n, p in twin.named_parameters() if p.dim() >= 2}


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.1)),
        ("AdamW", dict(lr=0.01, weight_decay=0.5)),
    ],
)
def test_no_decay_on_bias_and_norm_matches_two_torch_param_groups(name, kwargs, rng):
    params = _group_params(rng)
    flat = _flat(params)
    decayed = ["fc/kernel"]
    excluded = ["fc/bias", "bn1/scale", "bn1/bias"]

    def torch_opt_fn(ps):
        groups = [
            {"params": [ps[k] for k in decayed]},
            {"params": [ps[k] for k in excluded], "weight_decay": 0.0},
        ]
        return getattr(torch.optim, name)(groups, **kwargs)

    tx = optim.no_decay_on_bias_and_norm(getattr(optim, name), **kwargs)
    run = _TreeRun(tx, torch_opt_fn, params, flat)
    for _ in range(N_STEPS):
        run.apply(jax.tree.map(lambda p: rng.normal(size=p.shape).astype(np.float32), params))


def test_param_groups_with_different_lr_matches_torch(rng):
    params = _group_params(rng)
    flat = _flat(params)
    head = ["fc/kernel", "fc/bias"]
    rest = ["bn1/scale", "bn1/bias"]

    def torch_opt_fn(ps):
        groups = [{"params": [ps[k] for k in rest]}, {"params": [ps[k] for k in head], "lr": 0.5}]
        return torch.optim.SGD(groups, lr=0.05, momentum=0.9)

    tx = optim.param_groups(
        optim.SGD(0.05, momentum=0.9),
        {"head": optim.SGD(0.5, momentum=0.9)},
        lambda path, leaf: "head" if path[0] == "fc" else None,
    )
    run = _TreeRun(tx, torch_opt_fn, params, flat)
    for _ in range(N_STEPS):
        run.apply(jax.tree.map(lambda p: rng.normal(size=p.shape).astype(np.float32), params))


def test_param_groups_unknown_label():
    tx = optim.param_groups(optim.SGD(0.1), {"a": optim.SGD(0.2)}, lambda path, leaf: "b")
    with pytest.raises(ValueError, match=r"label_fn gave 'b' for fc/kernel.*groups are \['a'\]"):
        tx.init({"fc": {"kernel": jnp.zeros(2)}})


class _TreeRun:
    """Like _Run for a nested tree, torch parameters keyed by 'module/leaf'."""

    def __init__(self, tx, torch_opt_fn, params, flat):
        @jax.jit
        def step(grads, opt_state, params):
            updates, opt_state = tx.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state

        self.step = step
        self.params = jax.tree.map(jnp.asarray, params)
        self.opt_state = tx.init(self.params)
        self.torch_params = {k: torch.tensor(v, requires_grad=True) for k, v in flat.items()}
        self.torch_opt = torch_opt_fn(self.torch_params)

    def apply(self, grads):
        self.params, self.opt_state = self.step(grads, self.opt_state, self.params)
        for k, g in _flat(grads).items():
            self.torch_params[k].grad = torch.tensor(g)
        self.torch_opt.step()
        for k, v in _flat(self.params).items():
            np.testing.assert_allclose(
                v, self.torch_params[k].detach().numpy(), rtol=0, atol=PARAM_ATOL, err_msg=k
            )
