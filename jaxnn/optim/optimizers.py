"""torch.optim's optimizers and learning-rate schedulers as optax transformations.

Optimizers
----------
``SGD``, ``Adam``, ``AdamW``, ``RMSprop`` and ``Adagrad`` take torch.optim's
arguments and defaults (minus ``params``, and minus ``foreach``/``fused``/
``capturable``/``differentiable``, which are about torch's kernels) and return an
``optax.GradientTransformation``, so they chain with everything optax offers::

    tx = optim.SGD(lr=0.01, momentum=0.9, weight_decay=5e-4)
    opt_state = tx.init(params)
    updates, opt_state = tx.update(grads, opt_state, params)  # params: needed for weight decay
    params = optax.apply_updates(params, updates)

One ``update`` is one ``torch.optim.Optimizer.step()``, and from the same parameters
and gradients the parameters stay equal to torch's to float32 rounding. ``lr`` is a
float or an optax schedule (``step -> lr``, the step counted from 0 at the first
update), e.g. one of the schedulers below.

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

Hyper-parameters that decide the structure of the state (``momentum``,
``weight_decay``, ``centered``, ``amsgrad``, ...) are meant to be Python values:
with ``optax.inject_hyperparams`` list the numeric ones among them in
``static_args`` and inject ``lr`` (an injected array is taken as nonzero).

Schedulers
----------
torch.optim.lr_scheduler's schedulers live in :mod:`jaxnn.lr_scheduler` (its twin);
they are also importable from here (``optim.StepLR``), as before.

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
from jaxnn.lr_scheduler import *  # noqa: F403 -- optim.StepLR etc. keep working

__all__ = [
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "RMSprop",
    "TorchAdagradState",
    "TorchAdamState",
    "TorchDecoupledDecayState",
    "TorchMomentumState",
    "TorchRMSpropState",
    "add_torch_decoupled_weight_decay",
    "is_bias_or_norm",
    "no_decay_on_bias_and_norm",
    "param_groups",
    "scale_by_torch_adagrad",
    "scale_by_torch_adam",
    "scale_by_torch_rmsprop",
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


def _lerp(start: jax.Array, end: jax.Array, weight: float) -> jax.Array:
    # torch's CPU lerp switches formula at weight 0.5 to stay accurate near both ends.
    if _is_number(weight) and weight >= 0.5:
        return end - (end - start) * (1 - weight)
    return start + weight * (end - start)


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
    """State of :func:`trace_torch_momentum`: steps taken and torch's momentum buffer."""

    count: jax.Array
    momentum_buffer: optax.Updates


def trace_torch_momentum(
    momentum: float, dampening: float = 0.0, nesterov: bool = False
) -> optax.GradientTransformation:
    """torch.optim.SGD's momentum: ``buf = momentum * buf + (1 - dampening) * g``.

    On the first step the buffer is the gradient itself (no dampening), as in
    torch. The output is ``buf``, or ``g + momentum * buf`` with ``nesterov``.

    Args:
        momentum: momentum factor.
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

        def new_buffer(g: jax.Array, buf: jax.Array) -> jax.Array:
            return jnp.where(first, g, buf * momentum + (1 - dampening) * g).astype(buf.dtype)

        buffer = jax.tree.map(new_buffer, updates, state.momentum_buffer)
        if nesterov:
            updates = jax.tree.map(lambda g, b: g + momentum * b, updates, buffer)
        else:
            updates = buffer
        return updates, TorchMomentumState(optax.safe_increment(state.count), buffer)

    return optax.GradientTransformation(init_fn, update_fn)


class TorchAdamState(NamedTuple):
    """State of :func:`scale_by_torch_adam`; ``max_exp_avg_sq`` is None without amsgrad."""

    count: jax.Array
    exp_avg: optax.Updates
    exp_avg_sq: optax.Updates
    max_exp_avg_sq: optax.Updates | None


def scale_by_torch_adam(
    b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, amsgrad: bool = False
) -> optax.GradientTransformation:
    """torch's Adam direction ``(m / (1 - b1**t)) / (sqrt(v) / sqrt(1 - b2**t) + eps)``.

    Args:
        b1: decay of the first moment ``m``.
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
        count = optax.safe_increment(state.count)
        t = count.astype(jnp.float32)
        bc1 = _bias_correction(b1, t)
        bc2_sqrt = jnp.sqrt(_bias_correction(b2, t))

        exp_avg = jax.tree.map(lambda m, g: _lerp(m, g, 1 - b1), state.exp_avg, updates)
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
    """State of :func:`scale_by_torch_rmsprop`; unused buffers are None."""

    square_avg: optax.Updates
    grad_avg: optax.Updates | None
    momentum_buffer: optax.Updates | None


def scale_by_torch_rmsprop(
    alpha: float = 0.99, eps: float = 1e-8, centered: bool = False, momentum: float = 0.0
) -> optax.GradientTransformation:
    """torch's RMSprop direction ``g / (sqrt(avg) + eps)``, optionally centered and with momentum.

    Args:
        alpha: smoothing constant of the running average of ``g**2``.
        eps: added to the denominator, outside the square root.
        centered: subtract the square of the running average of ``g``.
        momentum: momentum factor; the buffer accumulates the direction.
    """
    use_momentum = _nonzero(momentum)

    def init_fn(params: optax.Params) -> TorchRMSpropState:
        # a separate buffer per statistic: a donated state must not hold one array twice
        def zeros():
            return jax.tree.map(jnp.zeros_like, params)

        return TorchRMSpropState(
            square_avg=zeros(),
            grad_avg=zeros() if centered else None,
            momentum_buffer=zeros() if use_momentum else None,
        )

    def update_fn(
        updates: optax.Updates, state: TorchRMSpropState, params: optax.Params | None = None
    ) -> tuple[optax.Updates, TorchRMSpropState]:
        del params
        square_avg = jax.tree.map(
            lambda s, g: s * alpha + (1 - alpha) * g * g, state.square_avg, updates
        )
        if centered:
            grad_avg = jax.tree.map(lambda a, g: _lerp(a, g, 1 - alpha), state.grad_avg, updates)
            avg = jax.tree.map(lambda s, a: jnp.sqrt(s - a * a) + eps, square_avg, grad_avg)
        else:
            grad_avg = None
            avg = jax.tree.map(lambda s: jnp.sqrt(s) + eps, square_avg)
        if use_momentum:
            buffer = jax.tree.map(
                lambda b, g, a: b * momentum + g / a, state.momentum_buffer, updates, avg
            )
            updates = buffer
        else:
            buffer = None
            updates = jax.tree.map(lambda g, a: g / a, updates, avg)
        return updates, TorchRMSpropState(square_avg, grad_avg, buffer)

    return optax.GradientTransformation(init_fn, update_fn)


class TorchAdagradState(NamedTuple):
    """State of :func:`scale_by_torch_adagrad`: the running sum of squared gradients."""

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
    """State of :func:`add_torch_decoupled_weight_decay`: steps taken (for a schedule)."""

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


# --------------------------------------------------------------------------- optimizers


def _maximize(maximize: bool) -> optax.GradientTransformation | None:
    return optax.scale(-1.0) if maximize else None


def _l2(weight_decay: float) -> optax.GradientTransformation | None:
    # torch's coupled weight decay, g + wd * p, is exactly optax.add_decayed_weights.
    return optax.add_decayed_weights(weight_decay) if _nonzero(weight_decay) else None


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
        momentum: momentum factor.
        dampening: dampening for momentum.
        weight_decay: L2 penalty, added to the gradient.
        nesterov: Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
        maximize: maximize the objective (ascend the gradient).

    Example::

        >>> tx = SGD(lr=0.01, momentum=0.9, weight_decay=5e-4)
        >>> opt_state = tx.init(params)
        >>> updates, opt_state = tx.update(grads, opt_state, params)
        >>> params = optax.apply_updates(params, updates)
    """
    _check_lr(lr)
    _check_nonneg(momentum, "momentum")
    _check_nonneg(weight_decay, "weight_decay")
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
        betas: decay rates of the first and second moments, each in ``[0, 1)``.
        eps: added to the denominator, outside the square root.
        weight_decay: L2 penalty added to the gradient (decoupled if
            ``decoupled_weight_decay``, i.e. :func:`AdamW`).
        amsgrad: use the running maximum of the second moment.
        maximize: maximize the objective.
        decoupled_weight_decay: decay the parameters as AdamW does.

    Example::

        >>> tx = Adam(lr=1e-3)
        >>> updates, opt_state = tx.update(grads, tx.init(params), params)
    """
    _check_lr(lr)
    _check_nonneg(eps, "epsilon")
    _check_betas(betas)
    _check_nonneg(weight_decay, "weight_decay")
    b1, b2 = betas
    if decoupled_weight_decay:
        return _chain(
            _maximize(maximize),
            scale_by_torch_adam(b1, b2, eps, amsgrad),
            optax.scale_by_learning_rate(lr),
            add_torch_decoupled_weight_decay(lr, weight_decay) if _nonzero(weight_decay) else None,
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
        momentum: momentum factor.
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
        scale_by_torch_rmsprop(alpha, eps, centered, momentum),
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

    Example::

        >>> weight_decay_mask({"fc": {"kernel": w, "bias": b}})
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
