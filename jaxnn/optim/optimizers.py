"""torch.optim's optimizers as optax transformations: the catalogue.

Optimizers
----------
``SGD``, ``Adam``, ``AdamW``, ``RMSprop``, ``Adagrad``, ``Adadelta``, ``Adamax``,
``NAdam``, ``RAdam``, ``Rprop`` and ``ASGD`` take torch.optim's arguments and defaults
(minus ``params``, and minus ``foreach``/``fused``/``capturable``/``differentiable``,
which are about torch's kernels) and return an
``optax.GradientTransformation``, so they chain with everything optax offers::

    tx = optim.SGD(lr=0.01, momentum=0.9, weight_decay=5e-4)
    opt_state = tx.init(params)
    updates, opt_state = tx.update(grads, opt_state, params)  # params: needed for weight decay
    params = optax.apply_updates(params, updates)

One ``update`` is one ``torch.optim.Optimizer.step()``, and from the same parameters
and gradients the parameters stay equal to torch's to float32 rounding. ``lr`` is a
float or an optax schedule (``step -> lr``, the step counted from 0 at the first
update), e.g. one of :mod:`jaxnn.lr_scheduler`'s. A momentum (SGD's and RMSprop's
``momentum``, ``betas[0]`` of the Adam family) may be a schedule too, evaluated at the
same step; a ``CyclicLR`` / ``OneCycleLR`` lr with ``cycle_momentum`` brings its own,
which replaces the optimizer's as torch's scheduler overwrites it. ``LBFGS``, which
needs the loss function itself, is :class:`jaxnn.optim.lbfgs.LBFGS`.

Where these differ from optax's aliases of the same name:

* ``SGD``: torch's ``dampening`` and first-step momentum buffer (the raw gradient),
  and ``weight_decay`` (L2, added to the gradient); ``optax.sgd`` has neither.
* ``Adam``/``AdamW``: the same mathematics as ``optax.adam``/``optax.adamw`` with
  torch's operation order (``denom = sqrt(v) / sqrt(1 - beta2**t) + eps``); torch's
  ``amsgrad`` keeps the maximum of the raw second moment (``optax.amsgrad`` keeps
  that of the bias-corrected one). ``AdamW``'s default ``weight_decay`` is 1e-2
  (optax's 1e-4); the decay is decoupled and scaled by ``lr``, ``p *= 1 - lr * wd``
  with the factor rounded to float32 as torch rounds it (see
  :func:`add_torch_decoupled_weight_decay`).
* ``RMSprop``: ``eps`` is added outside the square root and ``alpha`` defaults to
  0.99 (``optax.rmsprop``: ``eps`` inside, ``decay=0.9``); torch's momentum buffer
  accumulates ``g / (sqrt(avg) + eps)``.
* ``Adagrad``: the accumulator starts at 0 and ``eps=1e-10`` is added outside the
  square root (``optax.adagrad``: 0.1 and 1e-7 inside); ``lr_decay`` divides the lr
  by ``1 + (t - 1) * lr_decay``.
* ``Adadelta``: ``lr`` (default 1.0) scales the step (``optax.adadelta`` has
  ``learning_rate`` too, but ``eps`` 1e-6 is added inside both square roots as torch).
* ``Adamax``: ``eps`` is added to ``|g|`` before the running maximum, as torch.
* ``NAdam``: torch's momentum schedule ``mu_t = beta1 * (1 - 0.5 * 0.96 ** (t *
  momentum_decay))`` and its running product (``optax.nadam`` has neither).
* ``RAdam``: torch's rectification threshold (``rho_t > 5``) and unrectified steps
  ``p -= lr * m_hat`` before it (``optax.radam``: threshold 5 too, but ``eps``
  inside and the steps before it as SGD with momentum on the raw gradient).
* ``Rprop``: torch's sign rule (a gradient that changed sign is zeroed for that
  step); ``lr`` is only the initial step size, so a schedule matters only at step 0,
  as in torch.
* ``ASGD``: torch's ``eta``/``mu`` schedules; the running average of the parameters
  is the ``ax`` field of the :class:`TorchASGDState` in the optimizer state.

Hyper-parameters that decide the structure of the state (``momentum``,
``weight_decay``, ``centered``, ``amsgrad``, ...) are meant to be Python values:
with ``optax.inject_hyperparams`` list the numeric ones among them in
``static_args`` and inject ``lr`` (an injected array is taken as nonzero).

Schedulers
----------
torch.optim.lr_scheduler's schedulers live in :mod:`jaxnn.lr_scheduler` (its twin);
they are also importable from here (``optim.StepLR``), as before.
:mod:`jaxnn.utils` has torch.nn.utils' gradient clipping, also as transforms to chain
in front of an optimizer.

Parameter groups
----------------
torch's ``param_groups`` (different hyper-parameters for different parameters)
are :func:`param_groups`: one transformation per group, chosen per leaf by a
function of the leaf's path. :func:`no_decay_on_bias_and_norm` is the common case
"no weight decay on biases and normalization parameters".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnn import lr_scheduler
from jaxnn.core.lerp import lerp
from jaxnn.lr_scheduler import *  # noqa: F403 -- optim.StepLR etc. keep working
from jaxnn.optim.lbfgs import LBFGS

__all__ = [
    "ASGD",
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "NAdam",
    "RAdam",
    "RMSprop",
    "Rprop",
    "TorchASGDState",
    "TorchAdadeltaState",
    "TorchAdagradState",
    "TorchAdamState",
    "TorchAdamaxState",
    "TorchDecoupledDecayState",
    "TorchMomentumState",
    "TorchNAdamState",
    "TorchRAdamState",
    "TorchRMSpropState",
    "TorchRpropState",
    "add_torch_decoupled_weight_decay",
    "is_bias_or_norm",
    "no_decay_on_bias_and_norm",
    "param_groups",
    "scale_by_torch_adadelta",
    "scale_by_torch_adagrad",
    "scale_by_torch_adam",
    "scale_by_torch_adamax",
    "scale_by_torch_asgd",
    "scale_by_torch_nadam",
    "scale_by_torch_radam",
    "scale_by_torch_rmsprop",
    "scale_by_torch_rprop",
    "trace_torch_momentum",
    "weight_decay_mask",
    *lr_scheduler.__all__,
]

ScalarOrSchedule = float | Callable[[Any], Any]


# --------------------------------------------------------------------------- helpers


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _nonzero(x: Any) -> bool:
    """False only for a Python 0; an injected (array) hyper-parameter may be anything."""
    return not (_is_number(x) and x == 0)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _check_lr(lr: ScalarOrSchedule) -> None:
    if _is_number(lr):
        _check(lr >= 0.0, f"Invalid learning rate: {lr}")


def _check_nonneg(value: Any, what: str) -> None:
    if _is_number(value):
        _check(value >= 0.0, f"Invalid {what} value: {value}")


def _check_betas(betas: tuple[float, float]) -> None:
    for i, beta in enumerate(betas):
        if _is_number(beta):
            _check(0.0 <= beta < 1.0, f"Invalid beta parameter at index {i}: {beta}")


def _at(value: Any, count: jax.Array) -> Any:
    """A hyper-parameter at the update ``count`` (0 at the first): a number or a schedule."""
    return value(count) if callable(value) else value


def _bias_correction(beta: float, t: jax.Array) -> jax.Array:
    """1 - beta**t, accurate in float32 also when it is small (beta near 1, t small)."""
    if _is_number(beta):
        if beta == 0:
            return jnp.ones_like(t)
        return -jnp.expm1(t * math.log(beta))
    return -jnp.expm1(t * jnp.log(beta))


def _chain(*transforms: optax.GradientTransformation | None) -> optax.GradientTransformation:
    return optax.chain(*(t for t in transforms if t is not None))


# --------------------------------------------------------------------------- transforms


class TorchMomentumState(NamedTuple):
    """State of :func:`trace_torch_momentum`: steps taken and torch's momentum buffer.

    Attributes:
        count: steps taken (int32).
        momentum_buffer: torch's ``momentum_buffer``, like the parameters.
    """

    count: jax.Array
    momentum_buffer: optax.Updates


def trace_torch_momentum(
    momentum: float, dampening: float = 0.0, nesterov: bool = False
) -> optax.GradientTransformation:
    """torch.optim.SGD's momentum: ``buf = momentum * buf + (1 - dampening) * g``.

    On the first step the buffer is the gradient itself (no dampening), as in
    torch. The output is ``buf``, or ``g + momentum * buf`` with ``nesterov``.

    Args:
        momentum: momentum factor, or a schedule ``step -> momentum``.
        dampening: dampening of the gradient's contribution after the first step.
        nesterov: use Nesterov momentum.
    """

    def init_fn(params: optax.Params) -> TorchMomentumState:
        return TorchMomentumState(
            count=jnp.zeros([], jnp.int32), momentum_buffer=jax.tree.map(jnp.zeros_like, params)
        )

    def update_fn(
        updates: optax.Updates, state: TorchMomentumState, params: optax.Params | None = None
    ) -> tuple[optax.Updates, TorchMomentumState]:
        del params
        first = state.count == 0
        m = _at(momentum, state.count)

        def new_buffer(g: jax.Array, buf: jax.Array) -> jax.Array:
            return jnp.where(first, g, buf * m + (1 - dampening) * g).astype(buf.dtype)

        buffer = jax.tree.map(new_buffer, updates, state.momentum_buffer)
        if nesterov:
            updates = jax.tree.map(lambda g, b: g + m * b, updates, buffer)
        else:
            updates = buffer
        return updates, TorchMomentumState(optax.safe_increment(state.count), buffer)

    return optax.GradientTransformation(init_fn, update_fn)


class TorchAdamState(NamedTuple):
    """State of :func:`scale_by_torch_adam`, torch's Adam state.

    Attributes:
        count: steps taken (int32).
        exp_avg: the first moment (running mean of the gradients), like the parameters.
        exp_avg_sq: the second moment (running mean of the squared gradients).
        max_exp_avg_sq: the running maximum of ``exp_avg_sq`` with amsgrad; None without.
    """

    count: jax.Array
    exp_avg: optax.Updates
    exp_avg_sq: optax.Updates
    max_exp_avg_sq: optax.Updates | None


def scale_by_torch_adam(
    b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, amsgrad: bool = False
) -> optax.GradientTransformation:
    """torch's Adam direction ``(m / (1 - b1**t)) / (sqrt(v) / sqrt(1 - b2**t) + eps)``.

    Args:
        b1: decay of the first moment ``m``, or a schedule ``step -> b1``.
        b2: decay of the second moment ``v``.
        eps: added to the denominator, outside the square root.
        amsgrad: use the running maximum of ``v`` in the denominator.
    """

    def init_fn(params: optax.Params) -> TorchAdamState:
        # a separate buffer per moment: a donated state must not hold one array twice
        def zeros():
            return jax.tree.map(jnp.zeros_like, params)

        return TorchAdamState(
            count=jnp.zeros([], jnp.int32),
            exp_avg=zeros(),
            exp_avg_sq=zeros(),
            max_exp_avg_sq=zeros() if amsgrad else None,
        )

    def update_fn(
        updates: optax.Updates, state: TorchAdamState, params: optax.Params | None = None
    ) -> tuple[optax.Updates, TorchAdamState]:
        del params
        beta1 = _at(b1, state.count)
        count = optax.safe_increment(state.count)
        t = count.astype(jnp.float32)
        bc1 = _bias_correction(beta1, t)
        bc2_sqrt = jnp.sqrt(_bias_correction(b2, t))

        exp_avg = jax.tree.map(lambda m, g: lerp(m, g, 1 - beta1), state.exp_avg, updates)
        exp_avg_sq = jax.tree.map(lambda v, g: v * b2 + (1 - b2) * g * g, state.exp_avg_sq, updates)
        if amsgrad:
            max_exp_avg_sq = jax.tree.map(jnp.maximum, state.max_exp_avg_sq, exp_avg_sq)
            second = max_exp_avg_sq
        else:
            max_exp_avg_sq = None
            second = exp_avg_sq

        def direction(m: jax.Array, v: jax.Array) -> jax.Array:
            denom = jnp.sqrt(v) / bc2_sqrt.astype(v.dtype) + eps
            return (m / bc1.astype(m.dtype)) / denom

        updates = jax.tree.map(direction, exp_avg, second)
        return updates, TorchAdamState(count, exp_avg, exp_avg_sq, max_exp_avg_sq)

    return optax.GradientTransformation(init_fn, update_fn)


class TorchRMSpropState(NamedTuple):
    """State of :func:`scale_by_torch_rmsprop`; unused buffers are None.

    Attributes:
        square_avg: the running mean of the squared gradients, like the parameters.
        grad_avg: the running mean of the gradients when ``centered``; None otherwise.
        momentum_buffer: the momentum buffer when momentum is used; None otherwise.
        count: steps taken (int32), kept only for a momentum schedule; None otherwise.
    """

    square_avg: optax.Updates
    grad_avg: optax.Updates | None
    momentum_buffer: optax.Updates | None
    count: jax.Array | None = None


def scale_by_torch_rmsprop(
    alpha: float = 0.99, eps: float = 1e-8, centered: bool = False, momentum: float = 0.0
) -> optax.GradientTransformation:
    """torch's RMSprop direction ``g / (sqrt(avg) + eps)``, optionally centered and with momentum.

    Args:
        alpha: smoothing constant of the running average of ``g**2``.
        eps: added to the denominator, outside the square root.
        centered: subtract the square of the running average of ``g``.
        momentum: momentum factor (or a schedule ``step -> momentum``); the buffer
            accumulates the direction.
    """
    use_momentum = _nonzero(momentum)
    scheduled = callable(momentum)

    def init_fn(params: optax.Params) -> TorchRMSpropState:
        # a separate buffer per statistic: a donated state must not hold one array twice
        def zeros():
            return jax.tree.map(jnp.zeros_like, params)

        return TorchRMSpropState(
            square_avg=zeros(),
            grad_avg=zeros() if centered else None,
            momentum_buffer=zeros() if use_momentum else None,
            count=jnp.zeros([], jnp.int32) if scheduled else None,
        )

    def update_fn(
        updates: optax.Updates, state: TorchRMSpropState, params: optax.Params | None = None
    ) -> tuple[optax.Updates, TorchRMSpropState]:
        del params
        square_avg = jax.tree.map(
            lambda s, g: s * alpha + (1 - alpha) * g * g, state.square_avg, updates
        )
        if centered:
            grad_avg = jax.tree.map(lambda a, g: lerp(a, g, 1 - alpha), state.grad_avg, updates)
            avg = jax.tree.map(lambda s, a: jnp.sqrt(s - a * a) + eps, square_avg, grad_avg)
        else:
            grad_avg = None
            avg = jax.tree.map(lambda s: jnp.sqrt(s) + eps, square_avg)
        if use_momentum:
            m = _at(momentum, state.count)
            buffer = jax.tree.map(
                lambda b, g, a: b * m + g / a, state.momentum_buffer, updates, avg
            )
            updates = buffer
        else:
            buffer = None
            updates = jax.tree.map(lambda g, a: g / a, updates, avg)
        count = optax.safe_increment(state.count) if scheduled else None
        return updates, TorchRMSpropState(square_avg, grad_avg, buffer, count)

    return optax.GradientTransformation(init_fn, update_fn)


class TorchAdagradState(NamedTuple):
    """State of :func:`scale_by_torch_adagrad`.

    Attributes:
        sum: the running sum of squared gradients (torch's ``sum``), like the parameters.
    """

    sum: optax.Updates


def scale_by_torch_adagrad(
    initial_accumulator_value: float = 0.0, eps: float = 1e-10
) -> optax.GradientTransformation:
    """torch's Adagrad direction ``g / (sqrt(sum g**2) + eps)``.

    Args:
        initial_accumulator_value: starting value of the sum of squares.
        eps: added to the denominator, outside the square root.
    """

    def init_fn(params: optax.Params) -> TorchAdagradState:
        return TorchAdagradState(
            jax.tree.map(lambda p: jnp.full_like(p, initial_accumulator_value), params)
        )

    def update_fn(
        updates: optax.Updates, state: TorchAdagradState, params: optax.Params | None = None
    ) -> tuple[optax.Updates, TorchAdagradState]:
        del params
        total = jax.tree.map(lambda s, g: s + g * g, state.sum, updates)
        updates = jax.tree.map(lambda g, s: g / (jnp.sqrt(s) + eps), updates, total)
        return updates, TorchAdagradState(total)

    return optax.GradientTransformation(init_fn, update_fn)


class TorchDecoupledDecayState(NamedTuple):
    """State of :func:`add_torch_decoupled_weight_decay`.

    Attributes:
        count: steps taken (int32), for an lr schedule.
    """

    count: jax.Array


def add_torch_decoupled_weight_decay(
    lr: ScalarOrSchedule, weight_decay: float
) -> optax.GradientTransformation:
    """AdamW's ``p *= 1 - lr * weight_decay``, as an additive update after the lr scaling.

    The factor ``1 - lr * weight_decay`` is rounded to the parameters' dtype before
    multiplying, as torch does. That rounding changes the decay itself noticeably in
    float32 (for lr=1e-3, weight_decay=1e-2 torch decays 0.14% more than nominal), so
    ``optax.add_decayed_weights`` followed by the lr (``p - lr * wd * p``) drifts away
    from torch over many steps while this does not. ``p * factor - p`` is exact.

    Args:
        lr: the learning rate, a float or a schedule ``step -> lr``.
        weight_decay: the decoupled weight decay coefficient.
    """

    def init_fn(params: optax.Params) -> TorchDecoupledDecayState:
        del params
        return TorchDecoupledDecayState(count=jnp.zeros([], jnp.int32))

    def update_fn(
        updates: optax.Updates, state: TorchDecoupledDecayState, params: optax.Params | None = None
    ) -> tuple[optax.Updates, TorchDecoupledDecayState]:
        if params is None:
            raise ValueError("AdamW's weight decay needs the parameters: call update(g, s, params)")
        lr_t = lr(state.count) if callable(lr) else lr
        factor = 1 - lr_t * weight_decay

        def decay(u: jax.Array, p: jax.Array) -> jax.Array:
            return u + (p * jnp.asarray(factor, p.dtype) - p)

        updates = jax.tree.map(decay, updates, params)
        return updates, TorchDecoupledDecayState(optax.safe_increment(state.count))

    return optax.GradientTransformation(init_fn, update_fn)


class TorchAdadeltaState(NamedTuple):
    """State of :func:`scale_by_torch_adadelta`.

    Attributes:
        square_avg: the running average of ``g**2``, like the parameters.
        acc_delta: the running average of ``delta**2`` (the squared updates).
    """

    square_avg: optax.Updates
    acc_delta: optax.Updates


def scale_by_torch_adadelta(rho: float = 0.9, eps: float = 1e-6) -> optax.GradientTransformation:
    """torch's Adadelta direction ``sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g``.

    Args:
        rho: decay of both running averages.
        eps: added inside both square roots.
    """

    def init_fn(params: optax.Params) -> TorchAdadeltaState:
        return TorchAdadeltaState(
            jax.tree.map(jnp.zeros_like, params), jax.tree.map(jnp.zeros_like, params)
        )

    def update_fn(
        updates: optax.Updates, state: TorchAdadeltaState, params: optax.Params | None = None
    ) -> tuple[optax.Updates, TorchAdadeltaState]:
        del params
        square_avg = jax.tree.map(
            lambda s, g: s * rho + (1 - rho) * g * g, state.square_avg, updates
        )
        delta = jax.tree.map(
            lambda a, s, g: jnp.sqrt(a + eps) / jnp.sqrt(s + eps) * g,
            state.acc_delta,
            square_avg,
            updates,
        )
        acc_delta = jax.tree.map(lambda a, d: a * rho + (1 - rho) * d * d, state.acc_delta, delta)
        return delta, TorchAdadeltaState(square_avg, acc_delta)

    return optax.GradientTransformation(init_fn, update_fn)


class TorchAdamaxState(NamedTuple):
    """State of :func:`scale_by_torch_adamax`.

    Attributes:
        count: steps taken (int32).
        exp_avg: the first moment, like the parameters.
        exp_inf: the exponentially weighted infinity norm of the gradients.
    """

    count: jax.Array
    exp_avg: optax.Updates
    exp_inf: optax.Updates


def scale_by_torch_adamax(
    b1: Any = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> optax.GradientTransformation:
    """torch's Adamax direction ``m / (1 - b1**t) / u`` with ``u = max(b2 * u, |g| + eps)``.

    Args:
        b1: decay of the first moment ``m``, or a schedule ``step -> b1``.
        b2: decay of the infinity norm ``u``.
        eps: added to ``|g|`` before the maximum.
    """

    def init_fn(params: optax.Params) -> TorchAdamaxState:
        return TorchAdamaxState(
            jnp.zeros([], jnp.int32),
            jax.tree.map(jnp.zeros_like, params),
            jax.tree.map(jnp.zeros_like, params),
        )

    def update_fn(
        updates: optax.Updates, state: TorchAdamaxState, params: optax.Params | None = None
    ) -> tuple[optax.Updates, TorchAdamaxState]:
        del params
        beta1 = _at(b1, state.count)
        count = optax.safe_increment(state.count)
        bc1 = _bias_correction(beta1, count.astype(jnp.float32))
        exp_avg = jax.tree.map(lambda m, g: lerp(m, g, 1 - beta1), state.exp_avg, updates)
        exp_inf = jax.tree.map(
            lambda u, g: jnp.maximum(u * b2, jnp.abs(g) + eps), state.exp_inf, updates
        )
        updates = jax.tree.map(lambda m, u: m / u / bc1.astype(m.dtype), exp_avg, exp_inf)
        return updates, TorchAdamaxState(count, exp_avg, exp_inf)

    return optax.GradientTransformation(init_fn, update_fn)


class TorchNAdamState(NamedTuple):
    """State of :func:`scale_by_torch_nadam`.

    Attributes:
        count: steps taken (int32).
        mu_product: torch's running product of the momentum schedule, a float32
            scalar (as torch keeps it).
        exp_avg: the first moment, like the parameters.
        exp_avg_sq: the second moment.
    """

    count: jax.Array
    mu_product: jax.Array
    exp_avg: optax.Updates
    exp_avg_sq: optax.Updates


def scale_by_torch_nadam(
    b1: Any = 0.9, b2: float = 0.999, eps: float = 1e-8, momentum_decay: float = 4e-3
) -> optax.GradientTransformation:
    """torch's NAdam direction: Nesterov momentum with the schedule
    ``mu_t = b1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))``.

    ``(1 - mu_t) / (1 - prod mu) * g / d + mu_{t+1} / (1 - prod mu * mu_{t+1}) * m / d``
    with ``d = sqrt(v / (1 - b2**t)) + eps``.

    Args:
        b1: decay of the first moment, or a schedule ``step -> b1``.
        b2: decay of the second moment.
        eps: added to the denominator, outside the square root.
        momentum_decay: the momentum schedule's decay ``psi``.
    """

    def init_fn(params: optax.Params) -> TorchNAdamState:
        return TorchNAdamState(
            jnp.zeros([], jnp.int32),
            jnp.ones([], jnp.float32),
            jax.tree.map(jnp.zeros_like, params),
            jax.tree.map(jnp.zeros_like, params),
        )

    def update_fn(
        updates: optax.Updates, state: TorchNAdamState, params: optax.Params | None = None
    ) -> tuple[optax.Updates, TorchNAdamState]:
        del params
        beta1 = _at(b1, state.count)
        count = optax.safe_increment(state.count)
        t = count.astype(jnp.float32)
        bc2 = _bias_correction(b2, t)
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * momentum_decay))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
        mu_product = state.mu_product * mu
        grad_coef = (1.0 - mu) / (1.0 - mu_product)
        avg_coef = mu_next / (1.0 - mu_product * mu_next)

        exp_avg = jax.tree.map(lambda m, g: lerp(m, g, 1 - beta1), state.exp_avg, updates)
        exp_avg_sq = jax.tree.map(lambda v, g: v * b2 + (1 - b2) * g * g, state.exp_avg_sq, updates)

        def direction(g: jax.Array, m: jax.Array, v: jax.Array) -> jax.Array:
            denom = jnp.sqrt(v / bc2.astype(v.dtype)) + eps
            return grad_coef.astype(g.dtype) * (g / denom) + avg_coef.astype(m.dtype) * (m / denom)

        updates = jax.tree.map(direction, updates, exp_avg, exp_avg_sq)
        return updates, TorchNAdamState(count, mu_product, exp_avg, exp_avg_sq)

    return optax.GradientTransformation(init_fn, update_fn)


class TorchRAdamState(NamedTuple):
    """State of :func:`scale_by_torch_radam`.

    Attributes:
        count: steps taken (int32).
        exp_avg: the first moment, like the parameters.
        exp_avg_sq: the second moment.
    """

    count: jax.Array
    exp_avg: optax.Updates
    exp_avg_sq: optax.Updates


def _first_rectified_step(b2: float) -> float:
    """The first step ``t`` with ``rho_t > 5``, found in float64 as torch compares it: in
    float32, ``rho_t = rho_inf - 2 t b2**t / (1 - b2**t)`` cancels to about 1e-4 near 5."""
    rho_inf = 2 / (1 - b2) - 1
    for t in range(1, 100_000):
        if rho_inf - 2 * t * b2**t / (1 - b2**t) > 5.0:
            return float(t)
    return math.inf


def scale_by_torch_radam(
    b1: Any = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> optax.GradientTransformation:
    """torch's RAdam direction: ``m_hat * r_t * sqrt(1 - b2**t) / (sqrt(v) + eps)`` once
    the variance is tractable (``rho_t > 5``), ``m_hat`` before.

    Args:
        b1: decay of the first moment, or a schedule ``step -> b1``.
        b2: decay of the second moment.
        eps: added to the denominator, outside the square root.
    """
    rho_inf = 2 / (1 - b2) - 1
    first_rectified = _first_rectified_step(b2) if _is_number(b2) else None

    def init_fn(params: optax.Params) -> TorchRAdamState:
        def zeros():
            return jax.tree.map(jnp.zeros_like, params)

        return TorchRAdamState(jnp.zeros([], jnp.int32), zeros(), zeros())

    def update_fn(
        updates: optax.Updates, state: TorchRAdamState, params: optax.Params | None = None
    ) -> tuple[optax.Updates, TorchRAdamState]:
        del params
        beta1 = _at(b1, state.count)
        count = optax.safe_increment(state.count)
        t = count.astype(jnp.float32)
        bc1 = _bias_correction(beta1, t)
        bc2 = _bias_correction(b2, t)
        rho_t = rho_inf - 2 * t * b2**t / bc2
        rectified = rho_t > 5.0 if first_rectified is None else t >= first_rectified
        # clamp keeps the unused branch finite before the threshold (rho_t may be < 4)
        rho = jnp.maximum(rho_t, 5.0)
        rect = jnp.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))

        exp_avg = jax.tree.map(lambda m, g: lerp(m, g, 1 - beta1), state.exp_avg, updates)
        exp_avg_sq = jax.tree.map(lambda v, g: v * b2 + (1 - b2) * g * g, state.exp_avg_sq, updates)

        def direction(m: jax.Array, v: jax.Array) -> jax.Array:
            m_hat = m / bc1.astype(m.dtype)
            adaptive = jnp.sqrt(bc2).astype(v.dtype) / (jnp.sqrt(v) + eps)
            return jnp.where(rectified, m_hat * adaptive * rect.astype(m.dtype), m_hat)

        updates = jax.tree.map(direction, exp_avg, exp_avg_sq)
        return updates, TorchRAdamState(count, exp_avg, exp_avg_sq)

    return optax.GradientTransformation(init_fn, update_fn)


class TorchRpropState(NamedTuple):
    """State of :func:`scale_by_torch_rprop`.

    Attributes:
        prev: the previous gradient, zero where its sign flipped (torch's ``prev``).
        step_size: the per-element step sizes, like the parameters.
    """

    prev: optax.Updates
    step_size: optax.Updates


def scale_by_torch_rprop(
    lr: ScalarOrSchedule = 1e-2,
    etas: tuple[float, float] = (0.5, 1.2),
    step_sizes: tuple[float, float] = (1e-6, 50),
) -> optax.GradientTransformation:
    """torch's Rprop update ``-sign(g) * step_size`` (the full update, lr included).

    Where ``g`` kept its sign the step size grows by ``etas[1]``, where it flipped it
    shrinks by ``etas[0]`` and that gradient is zeroed for this step; step sizes stay
    within ``step_sizes`` and start at ``lr`` (its value at step 0 for a schedule: torch
    reads the lr only when it creates the state).

    Args:
        lr: the initial step size.
        etas: (decrease, increase) factors, ``0 < etas[0] < 1 < etas[1]``.
        step_sizes: (minimum, maximum) step size.
    """
    eta_minus, eta_plus = etas
    size_min, size_max = step_sizes

    def init_fn(params: optax.Params) -> TorchRpropState:
        start = _at(lr, jnp.zeros([], jnp.int32))
        return TorchRpropState(
            jax.tree.map(jnp.zeros_like, params),
            jax.tree.map(lambda p: jnp.full_like(p, start), params),
        )

    def update_fn(
        updates: optax.Updates, state: TorchRpropState, params: optax.Params | None = None
    ) -> tuple[optax.Updates, TorchRpropState]:
        del params
        sign = jax.tree.map(lambda g, p: jnp.sign(g * p), updates, state.prev)
        step_size = jax.tree.map(
            lambda s, q: jnp.clip(
                s * jnp.where(q > 0, eta_plus, jnp.where(q < 0, eta_minus, 1.0)).astype(s.dtype),
                size_min,
                size_max,
            ),
            state.step_size,
            sign,
        )
        grads = jax.tree.map(lambda g, q: jnp.where(q < 0, 0, g), updates, sign)
        updates = jax.tree.map(lambda g, s: -jnp.sign(g) * s, grads, step_size)
        return updates, TorchRpropState(grads, step_size)

    return optax.GradientTransformation(init_fn, update_fn)


class TorchASGDState(NamedTuple):
    """State of :func:`scale_by_torch_asgd`.

    Attributes:
        count: steps taken (int32).
        ax: torch's running average of the parameters (the averaged model ASGD is named
            for), like the parameters.
    """

    count: jax.Array
    ax: optax.Params


def scale_by_torch_asgd(
    lr: ScalarOrSchedule = 1e-2, lambd: float = 1e-4, alpha: float = 0.75, t0: float = 1e6
) -> optax.GradientTransformation:
    """torch's ASGD update (the full update, lr included): ``p *= 1 - lambd * eta``,
    ``p -= eta * g``, and the average ``ax`` of the parameters from step ``t0`` on.

    ``eta`` starts at ``lr`` and becomes ``lr / (1 + lambd * lr * t) ** alpha`` after
    step ``t``; ``mu = 1 / max(1, t - t0)`` weighs the new parameters in ``ax``.

    Args:
        lr: learning rate, a float or a schedule ``step -> lr``.
        lambd: decay term.
        alpha: power of the ``eta`` update.
        t0: step from which to average.
    """

    def init_fn(params: optax.Params) -> TorchASGDState:
        return TorchASGDState(jnp.zeros([], jnp.int32), jax.tree.map(jnp.zeros_like, params))

    def update_fn(
        updates: optax.Updates, state: TorchASGDState, params: optax.Params | None = None
    ) -> tuple[optax.Updates, TorchASGDState]:
        if params is None:
            raise ValueError("ASGD needs the parameters: call update(g, s, params)")
        # torch computes eta and mu at the end of the previous step, with its lr
        c = state.count
        first = c == 0
        previous = jnp.maximum(c - 1, 0)
        lr_prev = _at(lr, previous)
        t = c.astype(jnp.float32)
        eta = jnp.where(first, _at(lr, c), lr_prev / (1 + lambd * lr_prev * t) ** alpha)
        mu = jnp.where(first, 1.0, 1 / jnp.maximum(1.0, t - t0))

        def step(p: jax.Array, g: jax.Array) -> jax.Array:
            decay = (1 - lambd * eta).astype(p.dtype)
            return p * decay - eta.astype(p.dtype) * g

        new_params = jax.tree.map(step, params, updates)
        ax = jax.tree.map(
            lambda a, p: jnp.where(mu == 1, p, a + (p - a) * mu.astype(a.dtype)),
            state.ax,
            new_params,
        )
        updates = jax.tree.map(lambda new, p: new - p, new_params, params)
        return updates, TorchASGDState(optax.safe_increment(c), ax)

    return optax.GradientTransformation(init_fn, update_fn)


# --------------------------------------------------------------------------- optimizers


def _maximize(maximize: bool) -> optax.GradientTransformation | None:
    return optax.scale(-1.0) if maximize else None


def _l2(weight_decay: float) -> optax.GradientTransformation | None:
    # torch's coupled weight decay, g + wd * p, is exactly optax.add_decayed_weights.
    return optax.add_decayed_weights(weight_decay) if _nonzero(weight_decay) else None


def _cycled(lr: ScalarOrSchedule, momentum: Any) -> Any:
    """The momentum to use: torch's CyclicLR / OneCycleLR (``cycle_momentum``) overwrite
    the optimizer's momentum (or beta1) at every step, so their schedule replaces it."""
    cycled = lr_scheduler.scheduled_momentum(lr)
    return momentum if cycled is None else cycled


def _no_momentum(name: str, lr: ScalarOrSchedule) -> None:
    if lr_scheduler.scheduled_momentum(lr) is not None:
        raise ValueError(
            f"{name}: optimizer must support momentum or beta1 with `cycle_momentum` option "
            f"enabled (lr is a {lr.name} that cycles momentum; give it cycle_momentum=False)"
        )


def _decoupled(lr: ScalarOrSchedule, weight_decay: float) -> optax.GradientTransformation | None:
    return add_torch_decoupled_weight_decay(lr, weight_decay) if _nonzero(weight_decay) else None


def SGD(
    lr: ScalarOrSchedule = 1e-3,
    momentum: float = 0.0,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    """Stochastic gradient descent with torch.optim.SGD's momentum, dampening and decay.

    Per step: ``g += weight_decay * p``; with momentum, ``buf = g`` on the first step
    and ``buf = momentum * buf + (1 - dampening) * g`` after, then ``g = buf`` (or
    ``g + momentum * buf`` with ``nesterov``); ``p -= lr * g``.

    Args:
        lr: learning rate, a float or a schedule ``step -> lr``. torch's default 1e-3.
        momentum: momentum factor, or a schedule ``step -> momentum`` (a ``CyclicLR`` /
            ``OneCycleLR`` lr with ``cycle_momentum`` supplies its own, as in torch).
        dampening: dampening for momentum.
        weight_decay: L2 penalty, added to the gradient.
        nesterov: Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
        maximize: maximize the objective (ascend the gradient).

    Example::

        >>> params = {"w": jnp.ones(3)}
        >>> grads = {"w": jnp.array([0.1, -0.2, 0.3])}
        >>> tx = SGD(lr=0.01, momentum=0.9, weight_decay=5e-4)
        >>> opt_state = tx.init(params)
        >>> updates, opt_state = tx.update(grads, opt_state, params)
        >>> params = optax.apply_updates(params, updates)
    """
    _check_lr(lr)
    _check_nonneg(momentum, "momentum")
    _check_nonneg(weight_decay, "weight_decay")
    momentum = _cycled(lr, momentum)
    if nesterov:
        no_momentum = _is_number(momentum) and momentum <= 0
        dampened = _is_number(dampening) and dampening != 0
        if no_momentum or dampened:
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
    return _chain(
        _maximize(maximize),
        _l2(weight_decay),
        trace_torch_momentum(momentum, dampening, nesterov) if _nonzero(momentum) else None,
        optax.scale_by_learning_rate(lr),
    )


def Adam(
    lr: ScalarOrSchedule = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
    *,
    maximize: bool = False,
    decoupled_weight_decay: bool = False,
) -> optax.GradientTransformation:
    """Adam with torch.optim.Adam's arguments, defaults and operation order.

    Per step ``t``: ``g += weight_decay * p`` (L2); ``m = lerp(m, g, 1 - beta1)``,
    ``v = beta2 * v + (1 - beta2) * g**2`` (``v_max = max(v_max, v)`` with amsgrad);
    ``p -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)``.

    Args:
        lr: learning rate, a float or a schedule ``step -> lr``.
        betas: decay rates of the first and second moments, each in ``[0, 1)``; the
            first may be a schedule (a ``CyclicLR`` / ``OneCycleLR`` lr with
            ``cycle_momentum`` supplies it, as in torch).
        eps: added to the denominator, outside the square root.
        weight_decay: L2 penalty added to the gradient (decoupled if
            ``decoupled_weight_decay``, i.e. :func:`AdamW`).
        amsgrad: use the running maximum of the second moment.
        maximize: maximize the objective.
        decoupled_weight_decay: decay the parameters as AdamW does.

    Example::

        >>> params, grads = {"w": jnp.ones(2)}, {"w": jnp.array([0.5, -0.5])}
        >>> tx = Adam(lr=1e-3)
        >>> updates, opt_state = tx.update(grads, tx.init(params), params)
        >>> updates["w"]  # the first step moves each weight by lr against its gradient
        Array([-0.001,  0.001], dtype=float32)
    """
    _check_lr(lr)
    _check_nonneg(eps, "epsilon")
    _check_betas(betas)
    _check_nonneg(weight_decay, "weight_decay")
    b1, b2 = betas
    b1 = _cycled(lr, b1)
    if decoupled_weight_decay:
        return _chain(
            _maximize(maximize),
            scale_by_torch_adam(b1, b2, eps, amsgrad),
            optax.scale_by_learning_rate(lr),
            _decoupled(lr, weight_decay),
        )
    return _chain(
        _maximize(maximize),
        _l2(weight_decay),
        scale_by_torch_adam(b1, b2, eps, amsgrad),
        optax.scale_by_learning_rate(lr),
    )


def AdamW(
    lr: ScalarOrSchedule = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    amsgrad: bool = False,
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    """Adam with decoupled weight decay, torch.optim.AdamW's arguments and defaults.

    Per step: ``p *= 1 - lr * weight_decay``, then the :func:`Adam` step on the
    undecayed gradient. ``weight_decay`` defaults to 1e-2 as in torch (optax.adamw: 1e-4).

    Args:
        lr: learning rate, a float or a schedule ``step -> lr``.
        betas: decay rates of the first and second moments, each in ``[0, 1)``.
        eps: added to the denominator, outside the square root.
        weight_decay: decoupled weight decay coefficient.
        amsgrad: use the running maximum of the second moment.
        maximize: maximize the objective.

    Example::

        >>> tx = AdamW(lr=1e-3, weight_decay=0.05)
    """
    return Adam(
        lr, betas, eps, weight_decay, amsgrad, maximize=maximize, decoupled_weight_decay=True
    )


def RMSprop(
    lr: ScalarOrSchedule = 1e-2,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    centered: bool = False,
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    """RMSprop with torch.optim.RMSprop's arguments, defaults and ``eps`` placement.

    Per step: ``g += weight_decay * p``; ``s = alpha * s + (1 - alpha) * g**2``;
    ``avg = sqrt(s) + eps`` (``sqrt(s - a**2) + eps`` if centered, with
    ``a = lerp(a, g, 1 - alpha)``); ``p -= lr * g / avg``, or with momentum
    ``buf = momentum * buf + g / avg`` and ``p -= lr * buf``.

    Args:
        lr: learning rate, a float or a schedule ``step -> lr``.
        alpha: smoothing constant (optax.rmsprop's ``decay``, whose default is 0.9).
        eps: added outside the square root (optax.rmsprop adds it inside by default).
        weight_decay: L2 penalty, added to the gradient.
        momentum: momentum factor, or a schedule (a ``CyclicLR`` / ``OneCycleLR`` lr with
            ``cycle_momentum`` supplies it, as in torch).
        centered: normalize by an estimate of the gradient's variance.
        maximize: maximize the objective.

    Example::

        >>> tx = RMSprop(lr=1e-2, momentum=0.9, centered=True)
    """
    _check_lr(lr)
    _check_nonneg(eps, "epsilon")
    _check_nonneg(momentum, "momentum")
    _check_nonneg(weight_decay, "weight_decay")
    _check_nonneg(alpha, "alpha")
    return _chain(
        _maximize(maximize),
        _l2(weight_decay),
        scale_by_torch_rmsprop(alpha, eps, centered, _cycled(lr, momentum)),
        optax.scale_by_learning_rate(lr),
    )


def Adagrad(
    lr: ScalarOrSchedule = 1e-2,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
    initial_accumulator_value: float = 0.0,
    eps: float = 1e-10,
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    """Adagrad with torch.optim.Adagrad's arguments and defaults.

    Per step ``t``: ``g += weight_decay * p``; ``s += g**2``;
    ``p -= lr / (1 + (t - 1) * lr_decay) * g / (sqrt(s) + eps)``.

    Args:
        lr: learning rate, a float or a schedule ``step -> lr``.
        lr_decay: learning-rate decay per step.
        weight_decay: L2 penalty, added to the gradient.
        initial_accumulator_value: starting value of the sum of squares (optax: 0.1).
        eps: added outside the square root (optax.adagrad: 1e-7, inside).
        maximize: maximize the objective.

    Example::

        >>> tx = Adagrad(lr=0.1, lr_decay=1e-3)
    """
    _check_lr(lr)
    _check_nonneg(lr_decay, "lr_decay")
    _check_nonneg(weight_decay, "weight_decay")
    _check_nonneg(initial_accumulator_value, "initial_accumulator_value")
    _check_nonneg(eps, "epsilon")
    _no_momentum("Adagrad", lr)
    if _nonzero(lr_decay):
        base = lr

        def lr(count: jax.Array) -> jax.Array:  # count = t - 1
            return (base(count) if callable(base) else base) / (1 + count * lr_decay)

    return _chain(
        _maximize(maximize),
        _l2(weight_decay),
        scale_by_torch_adagrad(initial_accumulator_value, eps),
        optax.scale_by_learning_rate(lr),
    )


def Adadelta(
    lr: ScalarOrSchedule = 1.0,
    rho: float = 0.9,
    eps: float = 1e-6,
    weight_decay: float = 0.0,
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    """Adadelta with torch.optim.Adadelta's arguments and defaults.

    Per step: ``g += weight_decay * p``; ``s = rho * s + (1 - rho) * g**2``;
    ``delta = sqrt(a + eps) / sqrt(s + eps) * g``; ``a = rho * a + (1 - rho) * delta**2``;
    ``p -= lr * delta``.

    Args:
        lr: coefficient that scales ``delta``, a float or a schedule. torch's default 1.0.
        rho: decay of the running averages, in ``[0, 1]``.
        eps: added inside the square roots.
        weight_decay: L2 penalty, added to the gradient.
        maximize: maximize the objective.

    Example::

        >>> tx = Adadelta(lr=1.0)  # the PyTorch MNIST example's optimizer
    """
    _check_lr(lr)
    if _is_number(rho):
        _check(0.0 <= rho <= 1.0, f"Invalid rho value: {rho}")
    _check_nonneg(eps, "epsilon")
    _check_nonneg(weight_decay, "weight_decay")
    _no_momentum("Adadelta", lr)
    return _chain(
        _maximize(maximize),
        _l2(weight_decay),
        scale_by_torch_adadelta(rho, eps),
        optax.scale_by_learning_rate(lr),
    )


def Adamax(
    lr: ScalarOrSchedule = 2e-3,
    betas: tuple[Any, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    """Adamax (Adam with the infinity norm) with torch.optim.Adamax's arguments and defaults.

    Per step ``t``: ``g += weight_decay * p``; ``m = lerp(m, g, 1 - beta1)``;
    ``u = max(beta2 * u, |g| + eps)``; ``p -= lr / (1 - beta1**t) * m / u``.

    Args:
        lr: learning rate, a float or a schedule.
        betas: decay of ``m`` and of ``u``, each in ``[0, 1)``; the first may be a schedule.
        eps: added to ``|g|``.
        weight_decay: L2 penalty, added to the gradient.
        maximize: maximize the objective.

    Example::

        >>> tx = Adamax(lr=2e-3)
    """
    _check_lr(lr)
    _check_nonneg(eps, "epsilon")
    _check_betas(betas)
    _check_nonneg(weight_decay, "weight_decay")
    return _chain(
        _maximize(maximize),
        _l2(weight_decay),
        scale_by_torch_adamax(_cycled(lr, betas[0]), betas[1], eps),
        optax.scale_by_learning_rate(lr),
    )


def NAdam(
    lr: ScalarOrSchedule = 2e-3,
    betas: tuple[Any, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum_decay: float = 4e-3,
    decoupled_weight_decay: bool = False,
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    """Adam with Nesterov momentum, torch.optim.NAdam's arguments, defaults and schedule.

    See :func:`scale_by_torch_nadam` for the direction; ``p -= lr * direction``.

    Args:
        lr: learning rate, a float or a schedule.
        betas: decay rates of the first and second moments, each in ``[0, 1)``; the
            first may be a schedule.
        eps: added to the denominator, outside the square root.
        weight_decay: L2 penalty added to the gradient, or decoupled (``p *= 1 - lr *
            weight_decay``, as AdamW) with ``decoupled_weight_decay`` (NAdamW).
        momentum_decay: the momentum schedule's decay.
        decoupled_weight_decay: decay the parameters as AdamW does.
        maximize: maximize the objective.

    Example::

        >>> tx = NAdam(lr=2e-3, weight_decay=0.01, decoupled_weight_decay=True)
    """
    _check_lr(lr)
    _check_nonneg(eps, "epsilon")
    _check_betas(betas)
    _check_nonneg(weight_decay, "weight_decay")
    _check_nonneg(momentum_decay, "momentum_decay")
    direction = scale_by_torch_nadam(_cycled(lr, betas[0]), betas[1], eps, momentum_decay)
    if decoupled_weight_decay:
        return _chain(
            _maximize(maximize),
            direction,
            optax.scale_by_learning_rate(lr),
            _decoupled(lr, weight_decay),
        )
    return _chain(
        _maximize(maximize), _l2(weight_decay), direction, optax.scale_by_learning_rate(lr)
    )


def RAdam(
    lr: ScalarOrSchedule = 1e-3,
    betas: tuple[Any, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    decoupled_weight_decay: bool = False,
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    """Rectified Adam with torch.optim.RAdam's arguments and defaults.

    See :func:`scale_by_torch_radam` for the direction; ``p -= lr * direction``.

    Args:
        lr: learning rate, a float or a schedule.
        betas: decay rates of the first and second moments, each in ``[0, 1)``; the
            first may be a schedule.
        eps: added to the denominator, outside the square root.
        weight_decay: L2 penalty added to the gradient, or decoupled (``p *= 1 - lr *
            weight_decay``, as AdamW) with ``decoupled_weight_decay``.
        decoupled_weight_decay: decay the parameters as AdamW does.
        maximize: maximize the objective.

    Example::

        >>> tx = RAdam(lr=1e-3)
    """
    _check_lr(lr)
    _check_nonneg(eps, "epsilon")
    _check_betas(betas)
    _check_nonneg(weight_decay, "weight_decay")
    direction = scale_by_torch_radam(_cycled(lr, betas[0]), betas[1], eps)
    if decoupled_weight_decay:
        return _chain(
            _maximize(maximize),
            direction,
            optax.scale_by_learning_rate(lr),
            _decoupled(lr, weight_decay),
        )
    return _chain(
        _maximize(maximize), _l2(weight_decay), direction, optax.scale_by_learning_rate(lr)
    )


def Rprop(
    lr: ScalarOrSchedule = 1e-2,
    etas: tuple[float, float] = (0.5, 1.2),
    step_sizes: tuple[float, float] = (1e-6, 50),
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    """The resilient backpropagation algorithm, torch.optim.Rprop's arguments and defaults.

    Each parameter element moves by its own step size against the sign of its
    gradient; see :func:`scale_by_torch_rprop`. ``lr`` is the initial step size.

    Args:
        lr: the initial step size (a schedule counts at step 0 only, as in torch).
        etas: (decrease, increase) multiplicative factors, ``0 < etas[0] < 1 < etas[1]``.
        step_sizes: (minimum, maximum) allowed step size.
        maximize: maximize the objective.

    Example::

        >>> tx = Rprop(lr=0.01, etas=(0.5, 1.2))
    """
    _check_lr(lr)
    _check(0.0 < etas[0] < 1.0 < etas[1], f"Invalid eta values: {etas[0]}, {etas[1]}")
    _no_momentum("Rprop", lr)
    return _chain(_maximize(maximize), scale_by_torch_rprop(lr, etas, step_sizes))


def ASGD(
    lr: ScalarOrSchedule = 1e-2,
    lambd: float = 1e-4,
    alpha: float = 0.75,
    t0: float = 1e6,
    weight_decay: float = 0.0,
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    """Averaged stochastic gradient descent with torch.optim.ASGD's arguments and defaults.

    See :func:`scale_by_torch_asgd`. The averaged parameters torch keeps as
    ``optimizer.state[p]['ax']`` are the ``ax`` field of the :class:`TorchASGDState`
    in the optimizer state (e.g. ``optax.tree_utils.tree_get(opt_state, 'ax')``).

    Args:
        lr: learning rate, a float or a schedule.
        lambd: decay term.
        alpha: power for the ``eta`` update.
        t0: step at which averaging starts.
        weight_decay: L2 penalty, added to the gradient.
        maximize: maximize the objective.

    Example::

        >>> tx = ASGD(lr=0.01, t0=100)
    """
    _check_lr(lr)
    _check_nonneg(weight_decay, "weight_decay")
    _no_momentum("ASGD", lr)
    return _chain(_maximize(maximize), _l2(weight_decay), scale_by_torch_asgd(lr, lambd, alpha, t0))


# --------------------------------------------------------------------------- param groups

_DEFAULT_GROUP = "__default__"


def _path_names(path: tuple[Any, ...]) -> tuple[str, ...]:
    names = []
    for key in path:
        for attr in ("key", "name", "idx"):
            if hasattr(key, attr):
                names.append(str(getattr(key, attr)))
                break
        else:
            names.append(str(key))
    return tuple(names)


def param_groups(
    default: optax.GradientTransformation,
    groups: Mapping[str, optax.GradientTransformation],
    label_fn: Callable[[tuple[str, ...], jax.Array], str | None],
) -> optax.GradientTransformation:
    """torch's ``param_groups``: a different optimizer for some of the parameters.

    ``label_fn(path, leaf)`` gets each parameter's path in the tree (e.g.
    ``('conv1', 'bias')``) and returns the name of its group in ``groups``, or
    None for ``default``. Each group keeps its own optimizer state, as each torch
    parameter does, so this equals torch with one param group per label.

    Args:
        default: the transformation of parameters not in any group.
        groups: group name -> transformation.
        label_fn: ``(path, leaf) -> group name or None``.

    Example::

        >>> tx = param_groups(
        ...     SGD(0.1, momentum=0.9),
        ...     {"head": SGD(0.01, momentum=0.9)},
        ...     lambda path, leaf: "head" if path[0] == "fc" else None,
        ... )
    """
    if _DEFAULT_GROUP in groups:
        raise ValueError(f"param_groups: {_DEFAULT_GROUP!r} is reserved for the default group")
    if any(isinstance(tx, LBFGS) for tx in (default, *groups.values())):
        raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")

    def labels(tree: Any) -> Any:
        def label(path: tuple[Any, ...], leaf: jax.Array) -> str:
            names = _path_names(path)
            name = label_fn(names, leaf)
            if name is None:
                return _DEFAULT_GROUP
            if name not in groups:
                raise ValueError(
                    f"param_groups: label_fn gave {name!r} for {'/'.join(names)}, which is not "
                    f"a group; groups are {sorted(groups)}"
                )
            return name

        return jax.tree_util.tree_map_with_path(label, tree)

    return optax.multi_transform({_DEFAULT_GROUP: default, **groups}, labels)


_NORM_MODULE_PREFIXES = ("BatchNorm", "LayerNorm", "GroupNorm", "RMSNorm", "InstanceNorm")


def is_bias_or_norm(path: tuple[str, ...], leaf: Any = None) -> bool:
    """Whether a parameter is exempt from weight decay in torch practice: a bias, a
    normalization layer's parameter, or any parameter with fewer than two dimensions
    (what nanoGPT's ``configure_optimizers`` decays is exactly the matmul and embedding
    weights, ``p.dim() >= 2``).

    True for leaves named ``bias`` or ``scale`` (a BatchNorm's or LayerNorm's
    parameters), for anything under a module with Flax's automatic name for a
    normalization layer (``BatchNorm_0``, ...), and, when ``leaf`` is given, for every
    0-d or 1-d leaf -- so a norm layer that keeps torch's names (``ln_1.weight``) and
    gains such as PReLU's ``weight`` are exempt too.

    Args:
        path: the parameter's path, e.g. ``('bn1', 'scale')``.
        leaf: the parameter (or anything with ``ndim``/``shape``); None judges by the
            path alone.
    """
    if leaf is not None and np.ndim(leaf) < 2:
        return True
    if path and path[-1] in ("bias", "scale"):
        return True
    return any(part.startswith(_NORM_MODULE_PREFIXES) for part in path)


def weight_decay_mask(params: Any) -> Any:
    """A tree of bools like ``params``: True where weight decay applies.

    False for biases, normalization parameters and every parameter with fewer than two
    dimensions (:func:`is_bias_or_norm`). Use it
    as optax's ``mask``, e.g. ``optax.add_decayed_weights(1e-4, mask=weight_decay_mask)``.

    Args:
        params: the parameters (a pytree of arrays or shapes).

    Example::

        >>> weight_decay_mask({"fc": {"kernel": jnp.ones((4, 2)), "bias": jnp.ones(2)}})
        {'fc': {'bias': False, 'kernel': True}}
    """
    return jax.tree_util.tree_map_with_path(
        lambda path, leaf: not is_bias_or_norm(_path_names(path), leaf), params
    )


def no_decay_on_bias_and_norm(
    optimizer: Callable[..., optax.GradientTransformation], **kwargs: Any
) -> optax.GradientTransformation:
    """``optimizer(**kwargs)`` with ``weight_decay=0`` for biases and normalization parameters.

    The torch recipe of two param groups, ``[{'params': weights}, {'params':
    biases_and_norms, 'weight_decay': 0}]``, with every other argument shared.

    Args:
        optimizer: one of this module's optimizers (anything with ``weight_decay``).
        **kwargs: its arguments.

    Example::

        >>> tx = no_decay_on_bias_and_norm(AdamW, lr=1e-3, weight_decay=0.05)
    """
    return param_groups(
        optimizer(**kwargs),
        {"no_decay": optimizer(**{**kwargs, "weight_decay": 0.0})},
        lambda path, leaf: "no_decay" if is_bias_or_norm(path, leaf) else None,
    )
