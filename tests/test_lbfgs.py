"""jaxnn.optim.LBFGS against torch.optim.LBFGS: trajectories over several step() calls.

Both optimize the same loss from the same float32 start: after every call the
parameters, the returned loss and torch's counters (``func_evals``, ``n_iter``) are
compared. torch computes the line search's scalars partly in float64 (Python floats)
and jaxnn in float32, so on a problem with a near tie inside the line search the two
may take different branches; the problems here have none, and the trajectories agree
to float32 rounding.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as S

from jaxnn import lr_scheduler, optim

# parameters after every step() call agree within this, the optimizer tests' bound
# (float32 rounding amplified through up to 24 iterations reaches 1.4e-5 here)
PARAM_ATOL = 2e-5
LOSS_RTOL = 1e-5
CALLS = 4


@functools.cache
def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 5)).astype(np.float32) * np.array([1, 2, 0.5, 3, 1], np.float32)
    targets = (x @ rng.normal(size=5) + rng.normal(size=32)).astype(np.float32)
    labels = (rng.uniform(size=32) > 0.5).astype(np.float32)
    start = {"w": rng.normal(size=5).astype(np.float32), "b": np.zeros(1, np.float32)}
    return x, targets, labels, start


# each problem twice, written once with jax.numpy and once with torch (same operations)
def _least_squares(p, x, y):
    r = x @ p["w"] + p["b"][0] - y
    return 0.5 * jnp.mean(r * r) + 0.01 * jnp.sum(p["w"] ** 2)


def _torch_least_squares(w, b, x, y):
    r = x @ w + b[0] - y
    return 0.5 * torch.mean(r * r) + 0.01 * torch.sum(w**2)


def _logistic(p, x, y):
    z = x @ p["w"] + p["b"][0]
    softplus = jnp.maximum(z, 0) + jnp.log1p(jnp.exp(-jnp.abs(z)))
    return jnp.mean(softplus - y * z) + 0.01 * jnp.sum(p["w"] ** 2)


def _torch_logistic(w, b, x, y):
    z = x @ w + b[0]
    softplus = torch.clamp(z, min=0) + torch.log1p(torch.exp(-z.abs()))
    return torch.mean(softplus - y * z) + 0.01 * torch.sum(w**2)


def _rosenbrock(p):
    a = p["v"]
    return jnp.sum(100 * (a[1:] - a[:-1] ** 2) ** 2 + (1 - a[:-1]) ** 2)


def _torch_rosenbrock(a):
    return torch.sum(100 * (a[1:] - a[:-1] ** 2) ** 2 + (1 - a[:-1]) ** 2)


PROBLEMS = {
    "least_squares": (_least_squares, _torch_least_squares, 1),
    "logistic": (_logistic, _torch_logistic, 2),
}

# two history sizes: the other settings are traced, so each (problem, line search,
# history size) compiles once
CONFIGS = [
    dict(max_iter=3),
    dict(max_iter=4, history_size=2),  # the history wraps around
    dict(max_iter=5, history_size=2, lr=0.5),
    dict(max_iter=6, max_eval=7),  # stops on the evaluation budget
    dict(max_iter=20, tolerance_change=1e-4),  # stops on lack of progress
]


def _compare(
    opt_kwargs,
    loss_fn,
    torch_closure_fn,
    params,
    torch_params,
    args=(),
    calls=CALLS,
    scheduler=None,
):
    opt = optim.LBFGS(**opt_kwargs)
    torch_kwargs = {**opt_kwargs}
    if isinstance(opt.lr, lr_scheduler.Schedule):
        torch_kwargs["lr"] = opt.lr.lr
    torch_opt = torch.optim.LBFGS(list(torch_params.values()), **torch_kwargs)
    torch_scheduler = scheduler(torch_opt) if scheduler else None
    closure = torch_closure_fn(torch_opt)
    state = opt.init(params)
    first = next(iter(torch_params.values()))
    for _ in range(calls):
        params, state, loss = opt.step(loss_fn, params, state, *args)
        torch_loss = torch_opt.step(closure)
        if torch_scheduler:
            torch_scheduler.step()
        for k, p in torch_params.items():
            np.testing.assert_allclose(
                params[k], p.detach().numpy(), rtol=0, atol=PARAM_ATOL, err_msg=k
            )
        np.testing.assert_allclose(loss, torch_loss.item(), rtol=LOSS_RTOL)
        torch_state = torch_opt.state[first]
        assert int(state.func_evals) == torch_state["func_evals"]
        assert int(state.n_iter) == torch_state["n_iter"]
    return params, state


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
@pytest.mark.parametrize("config", CONFIGS, ids=str)
@pytest.mark.parametrize("problem", PROBLEMS)
def test_trajectory_matches_torch(problem, config, line_search_fn):
    loss_fn, torch_loss_fn, which = PROBLEMS[problem]
    x, targets, labels, start = _data()
    y = (targets, labels)[which - 1]
    params = jax.tree.map(jnp.asarray, start)
    torch_params = {k: torch.tensor(v, requires_grad=True) for k, v in start.items()}

    def torch_closure_fn(opt):
        def closure():
            opt.zero_grad()
            loss = torch_loss_fn(
                torch_params["w"], torch_params["b"], torch.tensor(x), torch.tensor(y)
            )
            loss.backward()
            return loss

        return closure

    _compare(
        dict(config, line_search_fn=line_search_fn),
        loss_fn,
        torch_closure_fn,
        params,
        torch_params,
        (x, y),
    )


@pytest.mark.parametrize(
    ("config", "calls"),
    [
        (dict(max_iter=8), 3),  # the zoom phase of the line search
        (dict(max_iter=10, lr=2.0), 2),
        (dict(max_iter=10, lr=0.05), 1),  # the bracketing phase extrapolates
    ],
    ids=str,
)
def test_strong_wolfe_on_rosenbrock(config, calls):
    start = np.array([-1.2, 1.0, -0.5, 0.8], np.float32)
    a = torch.tensor(start, requires_grad=True)

    def torch_closure_fn(opt):
        def closure():
            opt.zero_grad()
            loss = _torch_rosenbrock(a)
            loss.backward()
            return loss

        return closure

    _compare(
        dict(config, line_search_fn="strong_wolfe"),
        _rosenbrock,
        torch_closure_fn,
        {"v": jnp.asarray(start)},
        {"v": a},
        calls=calls,
    )


def test_lr_schedule_counts_step_calls():
    x, targets, _, start = _data()
    torch_params = {k: torch.tensor(v, requires_grad=True) for k, v in start.items()}

    def torch_closure_fn(opt):
        def closure():
            opt.zero_grad()
            loss = _torch_least_squares(
                torch_params["w"], torch_params["b"], torch.tensor(x), torch.tensor(targets)
            )
            loss.backward()
            return loss

        return closure

    _compare(
        dict(lr=lr_scheduler.ExponentialLR(1.0, 0.5), max_iter=3),
        _least_squares,
        torch_closure_fn,
        jax.tree.map(jnp.asarray, start),
        torch_params,
        (x, targets),
        scheduler=lambda o: S.ExponentialLR(o, 0.5),
    )


def test_converged_parameters_return_at_once_like_torch():
    """max |g| <= tolerance_grad: one evaluation, no iteration, parameters untouched."""
    opt = optim.LBFGS(tolerance_grad=1e-3)
    params = {"v": jnp.ones(4)}  # Rosenbrock's minimum
    state = opt.init(params)
    new, state, loss = opt.step(_rosenbrock, params, state)
    a = torch.ones(4, requires_grad=True)
    torch_opt = torch.optim.LBFGS([a], tolerance_grad=1e-3)

    def closure():
        torch_opt.zero_grad()
        loss = _torch_rosenbrock(a)
        loss.backward()
        return loss

    torch_opt.step(closure)
    np.testing.assert_array_equal(new["v"], a.detach().numpy())
    assert float(loss) == 0.0
    assert int(state.func_evals) == torch_opt.state[a]["func_evals"] == 1
    assert int(state.n_iter) == torch_opt.state[a]["n_iter"] == 0


def test_step_compiles_once_per_loss_function():
    traces = []

    def loss_fn(p, x, y):
        traces.append(1)  # runs while tracing only
        return _least_squares(p, x, y)

    x, targets, _, start = _data()
    opt = optim.LBFGS(max_iter=2)
    params = jax.tree.map(jnp.asarray, start)
    state = opt.init(params)
    for _ in range(3):
        params, state, _ = opt.step(loss_fn, params, state, x, targets)
    assert 0 < len(traces) <= 2  # once per place the loss is evaluated; not per call
    before = len(traces)
    opt.step(loss_fn, params, state, x, targets)
    # settings other than history_size / line_search_fn are traced: no recompilation
    dataclasses.replace(opt, lr=0.5, max_iter=3, tolerance_change=1e-3).step(
        loss_fn, params, state, x, targets
    )
    assert len(traces) == before


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: optim.LBFGS(lr=-1.0), ValueError, r"Invalid learning rate: -1.0"),
        (
            lambda: optim.LBFGS(line_search_fn="backtracking"),
            ValueError,
            r"line_search_fn must be None or 'strong_wolfe', got 'backtracking'",
        ),
        (lambda: optim.LBFGS(history_size=0), ValueError, r"history_size must be a positive int"),
        (lambda: optim.LBFGS(max_iter=0), ValueError, r"max_iter must be a positive int, got 0"),
        (
            lambda: optim.param_groups(
                optim.LBFGS(), {"head": optim.SGD(0.1)}, lambda p, leaf: None
            ),
            ValueError,
            r"LBFGS doesn't support per-parameter options \(parameter groups\)",
        ),
        (
            lambda: optim.LBFGS().update({}, None),
            TypeError,
            r"LBFGS needs the loss function, not gradients: call opt.step\(loss_fn, params",
        ),
    ],
)
def test_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_torch_refuses_parameter_groups_too():
    groups = [
        {"params": [torch.zeros(1, requires_grad=True)]},
        {"params": [torch.zeros(1, requires_grad=True)]},
    ]
    with pytest.raises(ValueError, match=r"LBFGS doesn't support per-parameter options"):
        torch.optim.LBFGS(groups)
