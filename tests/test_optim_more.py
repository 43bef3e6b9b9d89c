"""Adadelta, Adamax, NAdam, RAdam, Rprop and ASGD against torch.optim, and momentum
schedules (CyclicLR / OneCycleLR's cycle_momentum, a schedule as momentum or beta1).

As in test_optim.py: 30 steps from the same float32 parameters with the same gradients
fed to both, the parameters compared after every step; one run per optimizer where the
gradients come from a loss (jitted, checked not to recompile); torch's scheduler is
stepped after every optimizer step, as torch's per-batch recipe does.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
from torch.optim import lr_scheduler as S

from jaxnn import lr_scheduler, optim

# Parameters after every step agree with torch's within this (float32), as test_optim.py.
PARAM_ATOL = 2e-5
N_STEPS = 30
SHAPES = {"weight": (5, 3), "bias": (3,)}


def _params(rng):
    return {k: rng.normal(size=s).astype(np.float32) for k, s in SHAPES.items()}


def _grads(rng):
    return [_params(rng) for _ in range(N_STEPS)]


def _run(tx, torch_opt_fn, rng, torch_scheduler_fn=None, jit=False):
    """Steps both with the same gradients; returns (jaxnn params, torch optimizer, max error)."""
    traces = []

    def step(grads, opt_state, params):
        traces.append(1)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    step = jax.jit(step) if jit else step
    start = _params(rng)
    params = jax.tree.map(jnp.asarray, start)
    opt_state = tx.init(params)
    torch_params = {k: torch.tensor(v, requires_grad=True) for k, v in start.items()}
    torch_opt = torch_opt_fn(list(torch_params.values()))
    scheduler = torch_scheduler_fn(torch_opt) if torch_scheduler_fn else None
    worst = 0.0
    for grads in _grads(rng):
        params, opt_state = step(grads, opt_state, params)
        for k, p in torch_params.items():
            p.grad = torch.tensor(grads[k])
        torch_opt.step()
        if scheduler is not None:
            scheduler.step()
        for k, p in torch_params.items():
            worst = max(worst, float(np.abs(np.asarray(params[k]) - p.detach().numpy()).max()))
        assert worst <= PARAM_ATOL
    if jit:
        assert len(traces) == 1, "the jitted step recompiled"
    return params, opt_state, torch_opt, torch_params


OPTIMIZER_CASES = [
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-4)),
    ("Adadelta", dict(lr=1.0, weight_decay=0.1)),
    ("Adadelta", dict(lr=0.3, rho=0.95, weight_decay=0.05, maximize=True)),
    ("Adamax", dict()),
    ("Adamax", dict(lr=0.01, betas=(0.5, 0.9), eps=1e-3)),
    ("Adamax", dict(lr=0.01, weight_decay=0.1)),
    ("Adamax", dict(lr=0.01, betas=(0.0, 0.99), weight_decay=0.1, maximize=True)),
    ("NAdam", dict()),
    ("NAdam", dict(lr=0.01, betas=(0.8, 0.95), momentum_decay=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("NAdam", dict(lr=0.01, eps=1e-3, momentum_decay=0.0, maximize=True)),
    ("RAdam", dict()),
    ("RAdam", dict(lr=0.01, betas=(0.8, 0.99))),
    ("RAdam", dict(lr=0.01, betas=(0.9, 0.9))),  # rho_inf = 19: rectified from step 2
    ("RAdam", dict(lr=0.01, weight_decay=0.1)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("Rprop", dict()),
    ("Rprop", dict(lr=0.05, etas=(0.3, 1.5))),
    ("Rprop", dict(lr=0.05, step_sizes=(1e-3, 0.1), maximize=True)),
    ("ASGD", dict()),
    ("ASGD", dict(lr=0.05, lambd=1e-2, alpha=0.5, t0=5)),
    ("ASGD", dict(lr=0.05, t0=0, weight_decay=0.1)),
    ("ASGD", dict(lr=0.02, lambd=0.1, alpha=1.0, t0=10, maximize=True)),
]


def _case_id(case):
    name, kwargs = case
    return name + "-" + ",".join(f"{k}={v}" for k, v in kwargs.items())


@pytest.mark.parametrize("case", OPTIMIZER_CASES, ids=_case_id)
def test_optimizer_matches_torch_step_for_step(case, rng):
    name, kwargs = case
    params, opt_state, _, _ = _run(
        getattr(optim, name)(**kwargs),
        lambda ps: getattr(torch.optim, name)(ps, **kwargs),
        rng,
    )
    leaves = jax.tree.leaves((params, opt_state))
    assert all(leaf.dtype in (jnp.float32, jnp.int32) for leaf in leaves)


def test_asgd_average_is_torchs_ax(rng):
    kwargs = dict(lr=0.05, t0=10)
    _, opt_state, torch_opt, torch_params = _run(
        optim.ASGD(**kwargs), lambda ps: torch.optim.ASGD(ps, **kwargs), rng
    )
    ax = optax.tree_utils.tree_get(opt_state, "ax")
    for k, p in torch_params.items():
        np.testing.assert_allclose(
            ax[k], torch_opt.state[p]["ax"].numpy(), rtol=0, atol=PARAM_ATOL, err_msg=k
        )


# one configuration per optimizer on a least-squares loss, gradients from each framework
STATEFUL_CASES = [
    ("Adadelta", dict(lr=1.0, weight_decay=0.01)),
    ("Adamax", dict(lr=0.02, weight_decay=0.01)),
    ("NAdam", dict(lr=0.02, weight_decay=0.01, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=0.02, weight_decay=0.01)),
    ("Rprop", dict(lr=0.01)),
    ("ASGD", dict(lr=0.02, t0=5, weight_decay=0.01)),
]


@pytest.mark.parametrize("case", STATEFUL_CASES, ids=_case_id)
def test_optimizer_on_a_quadratic_loss(case, rng):
    name, kwargs = case
    x = rng.normal(size=(8, 5)).astype(np.float32)
    y = rng.normal(size=(8, 3)).astype(np.float32)

    def loss(p):
        return jnp.mean((x @ p["weight"] + p["bias"][None, :] - y) ** 2)

    tx = getattr(optim, name)(**kwargs)
    params = jax.tree.map(jnp.asarray, _params(rng))
    opt_state = tx.init(params)
    traces = []

    @jax.jit
    def step(params, opt_state):
        traces.append(1)
        value, grads = jax.value_and_grad(loss)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    torch_params = {k: torch.tensor(np.asarray(v), requires_grad=True) for k, v in params.items()}
    torch_opt = getattr(torch.optim, name)(list(torch_params.values()), **kwargs)
    for _ in range(N_STEPS):
        params, opt_state, value = step(params, opt_state)
        torch_opt.zero_grad()
        out = torch.tensor(x) @ torch_params["weight"] + torch_params["bias"]
        torch_value = ((out - torch.tensor(y)) ** 2).mean()
        torch_value.backward()
        torch_opt.step()
        np.testing.assert_allclose(value, torch_value.item(), rtol=1e-5)
        for k, p in torch_params.items():
            np.testing.assert_allclose(params[k], p.detach().numpy(), rtol=0, atol=PARAM_ATOL)
    assert len(traces) == 1, "the jitted step recompiled"


# --------------------------------------------------------------------------- schedules


@pytest.mark.parametrize(
    ("name", "kwargs", "schedule", "torch_scheduler"),
    [
        # the PyTorch MNIST example's recipe, stepped per step here
        ("Adadelta", {}, lr_scheduler.StepLR(1.0, 4, gamma=0.7), lambda o: S.StepLR(o, 4, 0.7)),
        (
            "ASGD",
            dict(t0=3),
            lr_scheduler.ExponentialLR(0.05, 0.9),
            lambda o: S.ExponentialLR(o, 0.9),
        ),
        ("Rprop", {}, lr_scheduler.ExponentialLR(0.05, 0.5), lambda o: S.ExponentialLR(o, 0.5)),
        (
            "NAdam",
            dict(weight_decay=0.1, decoupled_weight_decay=True),
            lr_scheduler.LinearLR(0.01, 0.1, total_iters=10),
            lambda o: S.LinearLR(o, 0.1, total_iters=10),
        ),
        (
            "RAdam",
            dict(weight_decay=0.1, decoupled_weight_decay=True),
            lr_scheduler.CosineAnnealingLR(0.01, 12),
            lambda o: S.CosineAnnealingLR(o, 12),
        ),
    ],
    ids=[
        "Adadelta-StepLR",
        "ASGD-ExponentialLR",
        "Rprop-ExponentialLR",
        "NAdam-LinearLR",
        "RAdam-Cosine",
    ],
)
def test_lr_schedule_inside_optimizer(name, kwargs, schedule, torch_scheduler, rng):
    _run(
        getattr(optim, name)(lr=schedule, **kwargs),
        lambda ps: getattr(torch.optim, name)(ps, lr=schedule.lr, **kwargs),
        rng,
        torch_scheduler,
        jit=True,
    )


# (jaxnn/torch optimizer name, keyword arguments, jaxnn schedule, torch scheduler): the
# scheduler cycles momentum (SGD, RMSprop) or betas[0] (the Adam family), as torch's does
MOMENTUM_CASES = [
    (
        "SGD",
        dict(momentum=0.9),
        lambda: lr_scheduler.OneCycleLR(0.1, total_steps=N_STEPS),
        lambda o: S.OneCycleLR(o, 0.1, total_steps=N_STEPS),
    ),
    (
        "SGD",
        dict(momentum=0.0, nesterov=False, dampening=0.1),  # torch's momentum 0 gets cycled too
        lambda: lr_scheduler.OneCycleLR(0.1, total_steps=N_STEPS, three_phase=True),
        lambda o: S.OneCycleLR(o, 0.1, total_steps=N_STEPS, three_phase=True),
    ),
    (
        "SGD",
        dict(momentum=0.9, nesterov=True),
        lambda: lr_scheduler.CyclicLR(0.01, 0.1, step_size_up=4, mode="triangular2"),
        lambda o: S.CyclicLR(o, 0.01, 0.1, step_size_up=4, mode="triangular2"),
    ),
    (
        "RMSprop",
        dict(momentum=0.5),
        lambda: lr_scheduler.OneCycleLR(0.01, total_steps=N_STEPS, anneal_strategy="linear"),
        lambda o: S.OneCycleLR(o, 0.01, total_steps=N_STEPS, anneal_strategy="linear"),
    ),
    (
        "Adam",
        dict(),
        lambda: lr_scheduler.OneCycleLR(0.01, total_steps=N_STEPS, base_momentum=0.5),
        lambda o: S.OneCycleLR(o, 0.01, total_steps=N_STEPS, base_momentum=0.5),
    ),
    (
        "AdamW",
        dict(weight_decay=0.1, amsgrad=True),
        lambda: lr_scheduler.CyclicLR(0.001, 0.01, 3, 5, mode="exp_range", gamma=0.95),
        lambda o: S.CyclicLR(o, 0.001, 0.01, 3, 5, mode="exp_range", gamma=0.95),
    ),
    (
        "Adamax",
        dict(),
        lambda: lr_scheduler.CyclicLR(0.001, 0.01, 5, base_momentum=0.6),
        lambda o: S.CyclicLR(o, 0.001, 0.01, 5, base_momentum=0.6),
    ),
    (
        "NAdam",
        dict(),
        lambda: lr_scheduler.OneCycleLR(0.01, total_steps=N_STEPS),
        lambda o: S.OneCycleLR(o, 0.01, total_steps=N_STEPS),
    ),
    (
        "RAdam",
        dict(),
        lambda: lr_scheduler.OneCycleLR(0.01, total_steps=N_STEPS, max_momentum=0.9),
        lambda o: S.OneCycleLR(o, 0.01, total_steps=N_STEPS, max_momentum=0.9),
    ),
]


@pytest.mark.parametrize(
    ("name", "kwargs", "make_schedule", "torch_scheduler"),
    MOMENTUM_CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(MOMENTUM_CASES)],
)
def test_cycled_momentum_reaches_the_optimizer(name, kwargs, make_schedule, torch_scheduler, rng):
    schedule = make_schedule()
    assert schedule.momentum is not None
    _run(
        getattr(optim, name)(lr=schedule, **kwargs),
        lambda ps: getattr(torch.optim, name)(ps, lr=schedule.lr, **kwargs),
        rng,
        torch_scheduler,
        jit=True,
    )


def test_momentum_schedule_passed_explicitly(rng):
    """SGD(lr=s, momentum=s.momentum) with cycle_momentum off on the lr: the same as torch's."""
    schedule = lr_scheduler.OneCycleLR(0.1, total_steps=N_STEPS)
    plain = lr_scheduler.OneCycleLR(0.1, total_steps=N_STEPS, cycle_momentum=False)
    assert plain.momentum is None
    _run(
        optim.SGD(lr=plain, momentum=schedule.momentum),
        lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
        rng,
        lambda o: S.OneCycleLR(o, 0.1, total_steps=N_STEPS),
        jit=True,
    )


def test_any_schedule_as_beta1(rng):
    """A user schedule as Adam's beta1 is the beta1 torch would see when set per step."""
    betas = [0.9 - 0.01 * i for i in range(N_STEPS)]

    class SetBeta1:  # torch: group["betas"] written before each step
        def __init__(self, opt):
            self.opt, self.i = opt, 0
            opt.param_groups[0]["betas"] = (betas[0], 0.999)

        def step(self):
            self.i += 1
            if self.i < N_STEPS:
                self.opt.param_groups[0]["betas"] = (betas[self.i], 0.999)

    _run(
        optim.Adam(lr=0.01, betas=(lambda count: 0.9 - 0.01 * count, 0.999)),
        lambda ps: torch.optim.Adam(ps, lr=0.01),
        rng,
        SetBeta1,
        jit=True,
    )


@pytest.mark.parametrize("name", ["Adagrad", "Adadelta", "Rprop", "ASGD"])
def test_optimizers_without_momentum_refuse_a_cycling_lr(name):
    with pytest.raises(ValueError, match=r"optimizer must support momentum or beta1"):
        getattr(optim, name)(lr=lr_scheduler.OneCycleLR(0.1, total_steps=10))
    getattr(optim, name)(lr=lr_scheduler.OneCycleLR(0.1, total_steps=10, cycle_momentum=False))
    with pytest.raises(ValueError, match=r"optimizer must support momentum or beta1"):
        opt = getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)], lr=0.1)
        S.OneCycleLR(opt, 0.1, total_steps=10)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: optim.Adadelta(lr=-1.0), r"Invalid learning rate: -1.0"),
        (lambda: optim.Adadelta(rho=1.5), r"Invalid rho value: 1.5"),
        (lambda: optim.Adadelta(eps=-1.0), r"Invalid epsilon value: -1.0"),
        (lambda: optim.Adadelta(weight_decay=-1.0), r"Invalid weight_decay value: -1.0"),
        (lambda: optim.Adamax(betas=(1.0, 0.9)), r"Invalid beta parameter at index 0: 1.0"),
        (lambda: optim.Adamax(eps=-1.0), r"Invalid epsilon value: -1.0"),
        (lambda: optim.NAdam(momentum_decay=-0.1), r"Invalid momentum_decay value: -0.1"),
        (lambda: optim.NAdam(betas=(0.9, 1.0)), r"Invalid beta parameter at index 1: 1.0"),
        (lambda: optim.RAdam(weight_decay=-0.1), r"Invalid weight_decay value: -0.1"),
        (lambda: optim.RAdam(lr=-0.1), r"Invalid learning rate: -0.1"),
        (lambda: optim.Rprop(etas=(1.5, 1.2)), r"Invalid eta values: 1.5, 1.2"),
        (lambda: optim.Rprop(lr=-1.0), r"Invalid learning rate: -1.0"),
        (lambda: optim.ASGD(weight_decay=-1.0), r"Invalid weight_decay value: -1.0"),
        (lambda: optim.ASGD(lr=-1.0), r"Invalid learning rate: -1.0"),
    ],
)
def test_argument_validation(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_torch_agrees_with_validation():
    p = [torch.zeros(1, requires_grad=True)]
    with pytest.raises(ValueError, match=r"Invalid rho value: 1.5"):
        torch.optim.Adadelta(p, rho=1.5)
    with pytest.raises(ValueError, match=r"Invalid eta values: 1.5, 1.2"):
        torch.optim.Rprop(p, etas=(1.5, 1.2))
    with pytest.raises(ValueError, match=r"Invalid momentum_decay value: -0.1"):
        torch.optim.NAdam(p, momentum_decay=-0.1)


def test_asgd_needs_params():
    tx = optim.ASGD()
    state = tx.init({"w": jnp.zeros(2)})
    with pytest.raises(ValueError, match=r"ASGD needs the parameters"):
        tx.update({"w": jnp.ones(2)}, state)
