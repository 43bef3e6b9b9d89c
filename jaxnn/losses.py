"""Loss functions with torch.nn's names, arguments and numerics.

Every loss exists twice, as in torch: a function with ``torch.nn.functional``'s
name and signature (``cross_entropy(input, target, ...)``) and a class with
``torch.nn``'s name and constructor (``CrossEntropyLoss(...)``) whose instances
are called as ``loss(input, target)``. The classes are plain frozen dataclasses,
not Flax modules: they hold configuration only, so they can be created anywhere
and closed over inside ``jax.jit``.

Inputs are in torch's layout: the class dimension is dimension 1 (``(N, C)``,
``(N, C, d1, d2, ...)``), or dimension 0 for an unbatched ``(C,)`` input.

Where jaxnn differs from torch:

* Shape and dtype mistakes raise ``ValueError``/``TypeError`` naming both sides,
  also under ``jax.jit`` (they are static). Element-wise losses require target
  and input of the same shape; torch broadcasts them with a warning.
* Checks on values cannot raise under ``jax.jit``. A class index outside
  ``[0, C)`` that is not ``ignore_index`` gives a NaN loss where torch raises;
  ``binary_cross_entropy`` does not check that its inputs lie in ``[0, 1]``.
* Integer class targets may have any integer dtype (torch wants int64 or uint8);
  JAX's default integer is int32.
* The deprecated ``size_average``/``reduce`` arguments are not supported; use
  ``reduction``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import xlogy
from jax.typing import ArrayLike

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "HuberLoss",
    "KLDivLoss",
    "L1Loss",
    "MSELoss",
    "NLLLoss",
    "SmoothL1Loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "huber_loss",
    "kl_div",
    "l1_loss",
    "mse_loss",
    "nll_loss",
    "smooth_l1_loss",
]

_REDUCTIONS = ("mean", "sum", "none")
# torch clamps log(x) and log(1 - x) at -100 in binary_cross_entropy so that a
# probability of exactly 0 or 1 gives a finite loss.
_BCE_LOG_CLAMP = -100.0
# torch's binary_cross_entropy backward divides by max(x * (1 - x), 1e-12).
_BCE_GRAD_EPS = 1e-12


# --------------------------------------------------------------------------- helpers


def _check_reduction(fn: str, reduction: str, valid: Sequence[str] = _REDUCTIONS) -> None:
    if reduction not in valid:
        names = ", ".join(repr(r) for r in valid)
        raise ValueError(f"{fn}: reduction={reduction!r} is not one of {names}")


def _reduce(loss: jax.Array, reduction: str) -> jax.Array:
    if reduction == "mean":
        return jnp.mean(loss)
    if reduction == "sum":
        return jnp.sum(loss)
    return loss


def _float_array(fn: str, name: str, x: ArrayLike) -> jax.Array:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{fn}: {name} must be a floating-point array, got dtype {x.dtype}")
    return x


def _same_shape_target(fn: str, input: jax.Array, target: ArrayLike) -> jax.Array:
    """A floating target of exactly the input's shape, cast to the input's dtype."""
    target = jnp.asarray(target)
    if not jnp.issubdtype(target.dtype, jnp.floating):
        raise TypeError(
            f"{fn}: target must be a floating-point array, got dtype {target.dtype} "
            f"(shape {target.shape})"
        )
    if target.shape != input.shape:
        raise ValueError(
            f"{fn}: target of shape {target.shape} does not match input of shape "
            f"{input.shape}; both must have the same shape"
        )
    return target.astype(input.dtype)


def _broadcast_weight(fn: str, name: str, weight: ArrayLike, shape: tuple[int, ...]) -> jax.Array:
    """`weight` broadcast (explicitly, torch's rules) to `shape`."""
    weight = _float_array(fn, name, weight)
    try:
        fits = np.broadcast_shapes(weight.shape, shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{fn}: {name} of shape {weight.shape} does not broadcast to {shape}")
    return jnp.broadcast_to(weight, shape)


def _class_weight(fn: str, weight: ArrayLike | None, input: jax.Array) -> jax.Array | None:
    """The (C,) class weight in the input's dtype, C from the input's class dimension."""
    if weight is None:
        return None
    n_classes = input.shape[0 if input.ndim == 1 else 1]
    weight = _float_array(fn, "weight", weight)
    if weight.shape != (n_classes,):
        raise ValueError(
            f"{fn}: weight of shape {weight.shape} does not fit {n_classes} classes: "
            f"expected shape ({n_classes},)"
        )
    return weight.astype(input.dtype)


def _along_class_dim(weight: jax.Array, ndim: int, class_dim: int) -> jax.Array:
    """(C,) -> shape with C at `class_dim` and 1 elsewhere (same rank as the input)."""
    return weight.reshape([weight.shape[0] if d == class_dim else 1 for d in range(ndim)])


def _class_index_target(fn: str, input: jax.Array, target: jax.Array) -> None:
    """Raise unless `target` is an integer array of the input's shape without dim 1."""
    class_dim = 0 if input.ndim == 1 else 1
    expected = input.shape[:class_dim] + input.shape[class_dim + 1 :]
    if target.shape != expected:
        raise ValueError(
            f"{fn}: target of shape {target.shape} does not fit input {input.shape}: "
            f"expected class indices of shape {expected}"
        )
    if not jnp.issubdtype(target.dtype, jnp.integer):
        raise TypeError(
            f"{fn}: class-index target must be an integer array, got dtype {target.dtype} "
            f"(shape {target.shape})"
        )


def _weighted_nll(
    logp: jax.Array,
    target: jax.Array,
    weight: jax.Array | None,
    ignore_index: int,
    class_dim: int,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Per-element -weight[t] * logp[t], the per-element weight[t] and the kept mask.

    Ignored elements contribute 0 loss and 0 weight; an index outside [0, C)
    that is not ignored gives NaN (torch raises, which jit cannot).
    """
    n_classes = logp.shape[class_dim]
    keep = target != ignore_index
    in_range = (target >= 0) & (target < n_classes)
    safe = jnp.where(in_range, target, 0).astype(jnp.int32)
    picked = jnp.take_along_axis(logp, jnp.expand_dims(safe, class_dim), axis=class_dim)
    picked = jnp.squeeze(picked, class_dim)
    if weight is None:
        w_t = jnp.ones_like(picked)
    else:
        w_t = jnp.take(weight, safe, mode="clip")
    w_t = jnp.where(keep, w_t, 0)
    loss = jnp.where(keep, -w_t * picked, 0)
    loss = jnp.where(keep & ~in_range, jnp.nan, loss)
    return loss, w_t, keep


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


# --------------------------------------------------------------------------- functions


def cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> jax.Array:
    """Cross entropy between logits and class indices or class probabilities.

    ``log_softmax`` over the class dimension followed by the negative
    log-likelihood, as ``torch.nn.functional.cross_entropy``.

    Args:
        input: unnormalized logits.
        target: class indices (integer dtype, the input's shape without the class
            dimension) or class probabilities (floating dtype, the input's shape).
        weight: optional ``(C,)`` rescaling weight for each class.
        ignore_index: a class-index target equal to this contributes nothing to
            the loss nor to the mean's divisor. Only for class-index targets.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. With class indices,
            ``'mean'`` divides by the summed weight of the non-ignored targets
            (their count without ``weight``); with probabilities, by the number of
            elements without the class dimension.
        label_smoothing: in ``[0, 1]``; the target becomes
            ``(1 - label_smoothing) * target + label_smoothing / C``. With class
            indices and ``weight``, the uniform part is weighted per class as well.

    Shape:
        - input: ``(C,)``, ``(N, C)`` or ``(N, C, d1, ..., dK)``.
        - target: ``()``, ``(N,)`` or ``(N, d1, ..., dK)`` for class indices; the
          input's shape for probabilities.
        - output: a scalar, or the target's shape (indices) / the input's shape
          without the class dimension (probabilities) when ``reduction='none'``.

    Example::

        >>> logits = jnp.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> cross_entropy(logits, jnp.array([0, 2]), label_smoothing=0.1)
    """
    fn = "cross_entropy"
    with jax.named_scope(f"jaxnn.{fn}"):
        _check_reduction(fn, reduction)
        if _is_number(label_smoothing) and not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"{fn}: label_smoothing must be in [0, 1], got {label_smoothing}")
        input = _float_array(fn, "input", input)
        target = jnp.asarray(target)
        if input.ndim == 0:
            raise ValueError(f"{fn}: input must have a class dimension, got a scalar")
        class_dim = 0 if input.ndim == 1 else 1
        n_classes = input.shape[class_dim]
        weight = _class_weight(fn, weight, input)
        smoothing = not (_is_number(label_smoothing) and label_smoothing == 0)

        if target.shape == input.shape:
            if not jnp.issubdtype(target.dtype, jnp.floating):
                raise TypeError(
                    f"{fn}: target of shape {target.shape} has the input's shape, so it is read "
                    f"as class probabilities, which must be floating point; got dtype "
                    f"{target.dtype}"
                )
            if ignore_index != -100:
                raise ValueError(f"{fn}: ignore_index is not supported with probability targets")
            logp = jax.nn.log_softmax(input, axis=class_dim)
            probs = target.astype(input.dtype)
            if smoothing:
                probs = probs * (1 - label_smoothing) + label_smoothing / n_classes
            terms = logp * probs
            if weight is not None:
                terms = terms * _along_class_dim(weight, input.ndim, class_dim)
            if reduction == "none":
                return -jnp.sum(terms, axis=class_dim)
            total = -jnp.sum(terms)
            return total / (input.size // n_classes) if reduction == "mean" else total

        expected = input.shape[:class_dim] + input.shape[class_dim + 1 :]
        if target.shape != expected:
            raise ValueError(
                f"{fn}: target of shape {target.shape} does not fit input {input.shape}: "
                f"expected class indices of shape {expected} or probabilities of shape "
                f"{input.shape}"
            )
        _class_index_target(fn, input, target)
        logp = jax.nn.log_softmax(input, axis=class_dim)
        nll, w_t, keep = _weighted_nll(logp, target, weight, ignore_index, class_dim)
        if not smoothing:
            return _reduce_nll(nll, w_t, reduction)
        # The uniform part of the smoothed target: sum_c weight[c] * -logp[c],
        # zero for ignored elements, reduced with the same divisor as the nll part.
        if weight is None:
            uniform = -jnp.sum(logp, axis=class_dim)
        else:
            uniform = -jnp.sum(logp * _along_class_dim(weight, input.ndim, class_dim), class_dim)
        uniform = jnp.where(keep, uniform, 0)
        return (1 - label_smoothing) * _reduce_nll(nll, w_t, reduction) + (
            label_smoothing / n_classes
        ) * _reduce_nll(uniform, w_t, reduction)


def _reduce_nll(loss: jax.Array, w_t: jax.Array, reduction: str) -> jax.Array:
    if reduction == "mean":
        return jnp.sum(loss) / jnp.sum(w_t)
    return _reduce(loss, reduction)


def nll_loss(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> jax.Array:
    """Negative log-likelihood of class indices given log-probabilities.

    Args:
        input: log-probabilities (e.g. the output of ``log_softmax`` over dim 1).
        target: integer class indices in ``[0, C)``.
        weight: optional ``(C,)`` rescaling weight for each class.
        ignore_index: targets equal to this contribute nothing to the loss nor to
            the mean's divisor.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``; ``'mean'`` divides by the
            summed weight of the non-ignored targets.

    Shape:
        - input: ``(C,)``, ``(N, C)`` or ``(N, C, d1, ..., dK)``.
        - target: ``()``, ``(N,)`` or ``(N, d1, ..., dK)``.
        - output: a scalar, or the target's shape when ``reduction='none'``.

    Example::

        >>> logp = jax.nn.log_softmax(jnp.array([[2.0, 0.5, -1.0]]), axis=1)
        >>> nll_loss(logp, jnp.array([0]))
    """
    fn = "nll_loss"
    with jax.named_scope(f"jaxnn.{fn}"):
        _check_reduction(fn, reduction)
        input = _float_array(fn, "input", input)
        target = jnp.asarray(target)
        if input.ndim == 0:
            raise ValueError(f"{fn}: input must have a class dimension, got a scalar")
        class_dim = 0 if input.ndim == 1 else 1
        weight = _class_weight(fn, weight, input)
        _class_index_target(fn, input, target)
        nll, w_t, _ = _weighted_nll(input, target, weight, ignore_index, class_dim)
        return _reduce_nll(nll, w_t, reduction)


@jax.custom_jvp
def _bce_elementwise(x: jax.Array, t: jax.Array) -> jax.Array:
    log_x = jnp.maximum(jnp.log(x), _BCE_LOG_CLAMP)
    log_1mx = jnp.maximum(jnp.log1p(-x), _BCE_LOG_CLAMP)
    return (t - 1) * log_1mx - t * log_x


@_bce_elementwise.defjvp
def _bce_elementwise_jvp(
    primals: tuple[jax.Array, jax.Array], tangents: tuple[jax.Array, jax.Array]
) -> tuple[jax.Array, jax.Array]:
    # torch's own derivative, not the derivative of the clamped forward: it stays
    # finite (and equal to torch's) at x = 0 and x = 1 where autodiff gives NaN.
    x, t = primals
    dx, dt = tangents
    d_x = (x - t) / jnp.maximum((1 - x) * x, _BCE_GRAD_EPS)
    d_t = jnp.log1p(-x) - jnp.log(x)
    return _bce_elementwise(x, t), d_x * dx + d_t * dt


def binary_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    reduction: str = "mean",
) -> jax.Array:
    """Binary cross entropy between probabilities and targets.

    ``-weight * (target * log(input) + (1 - target) * log(1 - input))`` with
    both logs clamped at -100, as torch does, so probabilities of exactly 0 or 1
    give a finite loss and a finite gradient (torch's gradient formula is used).

    Args:
        input: probabilities in ``[0, 1]`` (e.g. a sigmoid output).
        target: floating targets in ``[0, 1]``, the input's shape.
        weight: optional rescaling weight, broadcast to the input's shape.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input: ``(*)``; target: the same shape.
        - output: a scalar, or ``(*)`` when ``reduction='none'``.

    Example::

        >>> binary_cross_entropy(jax.nn.sigmoid(jnp.array([0.3, -2.0])), jnp.array([1.0, 0.0]))
    """
    fn = "binary_cross_entropy"
    with jax.named_scope(f"jaxnn.{fn}"):
        _check_reduction(fn, reduction)
        input = _float_array(fn, "input", input)
        target = _same_shape_target(fn, input, target)
        loss = _bce_elementwise(input, target)
        if weight is not None:
            loss = loss * _broadcast_weight(fn, "weight", weight, input.shape).astype(input.dtype)
        return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    reduction: str = "mean",
    pos_weight: ArrayLike | None = None,
) -> jax.Array:
    """Binary cross entropy on logits (a sigmoid and BCE, computed stably).

    Args:
        input: logits.
        target: floating targets in ``[0, 1]``, the input's shape.
        weight: optional rescaling weight, broadcast to the input's shape.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        pos_weight: optional weight of the positive term, broadcast to the input's
            shape (typically ``(C,)`` for ``(N, C)`` inputs, one per class).

    Shape:
        - input: ``(*)``; target: the same shape.
        - output: a scalar, or ``(*)`` when ``reduction='none'``.

    Example::

        >>> binary_cross_entropy_with_logits(
        ...     jnp.array([[0.3, -2.0]]), jnp.array([[1.0, 0.0]]), pos_weight=jnp.array([3.0, 1.0]))
    """
    fn = "binary_cross_entropy_with_logits"
    with jax.named_scope(f"jaxnn.{fn}"):
        _check_reduction(fn, reduction)
        input = _float_array(fn, "input", input)
        target = _same_shape_target(fn, input, target)
        log_sig = jax.nn.log_sigmoid(input)
        if pos_weight is not None:
            pw = _broadcast_weight(fn, "pos_weight", pos_weight, input.shape).astype(input.dtype)
            log_sig = log_sig * ((pw - 1) * target + 1)
        loss = (1 - target) * input - log_sig
        if weight is not None:
            loss = loss * _broadcast_weight(fn, "weight", weight, input.shape).astype(input.dtype)
        return _reduce(loss, reduction)


def mse_loss(input: ArrayLike, target: ArrayLike, reduction: str = "mean") -> jax.Array:
    """Squared error ``(input - target) ** 2``, reduced.

    Args:
        input: predictions.
        target: floating targets, the input's shape.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input: ``(*)``; target: the same shape.
        - output: a scalar, or ``(*)`` when ``reduction='none'``.

    Example::

        >>> mse_loss(jnp.array([1.0, 2.0]), jnp.array([1.5, 1.0]))
    """
    fn = "mse_loss"
    with jax.named_scope(f"jaxnn.{fn}"):
        _check_reduction(fn, reduction)
        input = _float_array(fn, "input", input)
        target = _same_shape_target(fn, input, target)
        return _reduce(jnp.square(input - target), reduction)


def l1_loss(input: ArrayLike, target: ArrayLike, reduction: str = "mean") -> jax.Array:
    """Absolute error ``|input - target|``, reduced.

    Args:
        input: predictions.
        target: floating targets, the input's shape.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input: ``(*)``; target: the same shape.
        - output: a scalar, or ``(*)`` when ``reduction='none'``.

    Example::

        >>> l1_loss(jnp.array([1.0, 2.0]), jnp.array([1.5, 1.0]))
    """
    fn = "l1_loss"
    with jax.named_scope(f"jaxnn.{fn}"):
        _check_reduction(fn, reduction)
        input = _float_array(fn, "input", input)
        target = _same_shape_target(fn, input, target)
        return _reduce(jnp.abs(input - target), reduction)


def smooth_l1_loss(
    input: ArrayLike, target: ArrayLike, reduction: str = "mean", beta: float = 1.0
) -> jax.Array:
    """Squared error below ``beta`` and absolute error above, joined smoothly.

    Per element, with ``z = |input - target|``: ``0.5 * z ** 2 / beta`` if
    ``z < beta`` else ``z - 0.5 * beta``. ``beta=0`` is the L1 loss.

    Args:
        input: predictions.
        target: floating targets, the input's shape.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        beta: the non-negative threshold between the two regimes.

    Shape:
        - input: ``(*)``; target: the same shape.
        - output: a scalar, or ``(*)`` when ``reduction='none'``.

    Example::

        >>> smooth_l1_loss(jnp.array([1.0, 4.0]), jnp.array([1.5, 1.0]), beta=0.5)
    """
    fn = "smooth_l1_loss"
    with jax.named_scope(f"jaxnn.{fn}"):
        _check_reduction(fn, reduction)
        if _is_number(beta) and beta < 0:
            raise ValueError(f"{fn}: beta must be non-negative, got {beta}")
        input = _float_array(fn, "input", input)
        target = _same_shape_target(fn, input, target)
        z = jnp.abs(input - target)
        if _is_number(beta) and beta == 0:
            return _reduce(z, reduction)
        return _reduce(jnp.where(z < beta, 0.5 * z * z / beta, z - 0.5 * beta), reduction)


def huber_loss(
    input: ArrayLike, target: ArrayLike, reduction: str = "mean", delta: float = 1.0
) -> jax.Array:
    """Squared error below ``delta`` and ``delta``-scaled absolute error above.

    Per element, with ``z = |input - target|``: ``0.5 * z ** 2`` if ``z < delta``
    else ``delta * (z - 0.5 * delta)``; equals ``delta * smooth_l1_loss(beta=delta)``.

    Args:
        input: predictions.
        target: floating targets, the input's shape.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        delta: the positive threshold between the two regimes.

    Shape:
        - input: ``(*)``; target: the same shape.
        - output: a scalar, or ``(*)`` when ``reduction='none'``.

    Example::

        >>> huber_loss(jnp.array([1.0, 4.0]), jnp.array([1.5, 1.0]), delta=2.0)
    """
    fn = "huber_loss"
    with jax.named_scope(f"jaxnn.{fn}"):
        _check_reduction(fn, reduction)
        if _is_number(delta) and delta <= 0:
            raise ValueError(f"{fn}: delta must be positive, got {delta}")
        input = _float_array(fn, "input", input)
        target = _same_shape_target(fn, input, target)
        z = jnp.abs(input - target)
        return _reduce(jnp.where(z < delta, 0.5 * z * z, delta * (z - 0.5 * delta)), reduction)


def kl_div(
    input: ArrayLike,
    target: ArrayLike,
    reduction: str = "mean",
    log_target: bool = False,
) -> jax.Array:
    """Kullback-Leibler divergence ``KL(target || exp(input))`` with log-prob input.

    Per element: ``target * (log(target) - input)`` (0 where ``target == 0``), or
    ``exp(target) * (target - input)`` when ``log_target=True``.

    Args:
        input: log-probabilities.
        target: probabilities, or log-probabilities when ``log_target=True``; the
            input's shape.
        reduction: ``'none'`` | ``'batchmean'`` | ``'sum'`` | ``'mean'``.
            ``'batchmean'`` (sum divided by the batch size ``input.shape[0]``) is the
            mathematical KL divergence; ``'mean'`` divides by the number of
            elements, as torch does (torch warns about it, jaxnn does not).
        log_target: whether ``target`` holds log-probabilities.

    Shape:
        - input: ``(*)``; target: the same shape.
        - output: a scalar, or ``(*)`` when ``reduction='none'``.

    Example::

        >>> logp = jax.nn.log_softmax(jnp.array([[1.0, 2.0, 0.5]]), axis=1)
        >>> kl_div(logp, jnp.array([[0.2, 0.5, 0.3]]), reduction="batchmean")
    """
    fn = "kl_div"
    with jax.named_scope(f"jaxnn.{fn}"):
        _check_reduction(fn, reduction, (*_REDUCTIONS, "batchmean"))
        input = _float_array(fn, "input", input)
        target = _same_shape_target(fn, input, target)
        if log_target:
            loss = jnp.exp(target) * (target - input)
        else:
            loss = xlogy(target, target) - target * input
        if reduction == "batchmean":
            total = jnp.sum(loss)
            return total / input.shape[0] if input.ndim > 0 else total
        return _reduce(loss, reduction)


# --------------------------------------------------------------------------- classes


def _format_value(value: Any) -> str:
    if isinstance(value, (jax.Array, np.ndarray)):
        return f"Array(shape={tuple(value.shape)}, dtype={value.dtype})"
    return repr(value)


class _Loss:
    """Shared behaviour: torch's repr (non-default arguments only) and `forward`."""

    def __repr__(self) -> str:
        args = []
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, field.name)
            default = field.default
            if value is None and default is None:
                continue
            if not isinstance(value, (jax.Array, np.ndarray)) and value == default:
                continue
            args.append(f"{field.name}={_format_value(value)}")
        return f"{type(self).__name__}({', '.join(args)})"

    def forward(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        """The loss of `input` against `target` (torch's name for calling the loss)."""
        return self(input, target)  # type: ignore[operator]

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        raise NotImplementedError


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class CrossEntropyLoss(_Loss):
    """Cross entropy between logits and class indices or class probabilities.

    See :func:`cross_entropy` for the exact semantics, including how ``weight``,
    ``ignore_index`` and ``label_smoothing`` combine.

    Args:
        weight: optional ``(C,)`` rescaling weight for each class.
        ignore_index: class-index targets equal to this are ignored.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        label_smoothing: in ``[0, 1]``, mixes the target with the uniform distribution.

    Shape:
        - input: ``(C,)``, ``(N, C)`` or ``(N, C, d1, ..., dK)`` logits.
        - target: ``()``, ``(N,)`` or ``(N, d1, ..., dK)`` integer class indices, or
          probabilities of the input's shape.
        - output: a scalar, or per element when ``reduction='none'``.

    Example::

        >>> loss = CrossEntropyLoss(label_smoothing=0.1)
        >>> loss(jnp.zeros((4, 10)), jnp.array([1, 0, 9, 3]))
    """

    weight: ArrayLike | None = None
    _: dataclasses.KW_ONLY
    ignore_index: int = -100
    reduction: str = "mean"
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        _check_reduction("CrossEntropyLoss", self.reduction)
        if _is_number(self.label_smoothing) and not 0.0 <= self.label_smoothing <= 1.0:
            raise ValueError(
                f"CrossEntropyLoss: label_smoothing must be in [0, 1], got {self.label_smoothing}"
            )

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return cross_entropy(
            input, target, self.weight, self.ignore_index, self.reduction, self.label_smoothing
        )


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class NLLLoss(_Loss):
    """Negative log-likelihood of class indices given log-probabilities.

    See :func:`nll_loss`.

    Args:
        weight: optional ``(C,)`` rescaling weight for each class.
        ignore_index: targets equal to this are ignored.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input: ``(C,)``, ``(N, C)`` or ``(N, C, d1, ..., dK)`` log-probabilities.
        - target: ``()``, ``(N,)`` or ``(N, d1, ..., dK)`` integer class indices.
        - output: a scalar, or the target's shape when ``reduction='none'``.

    Example::

        >>> NLLLoss()(jax.nn.log_softmax(jnp.zeros((2, 3)), axis=1), jnp.array([0, 2]))
    """

    weight: ArrayLike | None = None
    _: dataclasses.KW_ONLY
    ignore_index: int = -100
    reduction: str = "mean"

    def __post_init__(self) -> None:
        _check_reduction("NLLLoss", self.reduction)

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class BCELoss(_Loss):
    """Binary cross entropy between probabilities and targets (logs clamped at -100).

    See :func:`binary_cross_entropy`.

    Args:
        weight: optional rescaling weight, broadcast to the input's shape.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input: ``(*)`` probabilities; target: the same shape.
        - output: a scalar, or ``(*)`` when ``reduction='none'``.

    Example::

        >>> BCELoss()(jnp.array([0.8, 0.1]), jnp.array([1.0, 0.0]))
    """

    weight: ArrayLike | None = None
    _: dataclasses.KW_ONLY
    reduction: str = "mean"

    def __post_init__(self) -> None:
        _check_reduction("BCELoss", self.reduction)

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return binary_cross_entropy(input, target, self.weight, self.reduction)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class BCEWithLogitsLoss(_Loss):
    """Binary cross entropy on logits, numerically stable.

    See :func:`binary_cross_entropy_with_logits`.

    Args:
        weight: optional rescaling weight, broadcast to the input's shape.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        pos_weight: optional weight of the positive term (e.g. ``(C,)``).

    Shape:
        - input: ``(*)`` logits; target: the same shape.
        - output: a scalar, or ``(*)`` when ``reduction='none'``.

    Example::

        >>> BCEWithLogitsLoss(pos_weight=jnp.array([2.0]))(jnp.zeros((4, 1)), jnp.ones((4, 1)))
    """

    weight: ArrayLike | None = None
    _: dataclasses.KW_ONLY
    reduction: str = "mean"
    pos_weight: ArrayLike | None = None

    def __post_init__(self) -> None:
        _check_reduction("BCEWithLogitsLoss", self.reduction)

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return binary_cross_entropy_with_logits(
            input, target, self.weight, self.reduction, self.pos_weight
        )


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class MSELoss(_Loss):
    """Mean squared error (squared L2 norm) between input and target.

    See :func:`mse_loss`.

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input: ``(*)``; target: the same shape.
        - output: a scalar, or ``(*)`` when ``reduction='none'``.

    Example::

        >>> MSELoss()(jnp.array([1.0, 2.0]), jnp.array([1.5, 1.0]))
    """

    reduction: str = "mean"

    def __post_init__(self) -> None:
        _check_reduction("MSELoss", self.reduction)

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return mse_loss(input, target, self.reduction)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class L1Loss(_Loss):
    """Mean absolute error between input and target.

    See :func:`l1_loss`.

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input: ``(*)``; target: the same shape.
        - output: a scalar, or ``(*)`` when ``reduction='none'``.

    Example::

        >>> L1Loss()(jnp.array([1.0, 2.0]), jnp.array([1.5, 1.0]))
    """

    reduction: str = "mean"

    def __post_init__(self) -> None:
        _check_reduction("L1Loss", self.reduction)

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return l1_loss(input, target, self.reduction)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class SmoothL1Loss(_Loss):
    """Squared error below ``beta``, absolute error above.

    See :func:`smooth_l1_loss`.

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        beta: the non-negative threshold between the two regimes.

    Shape:
        - input: ``(*)``; target: the same shape.
        - output: a scalar, or ``(*)`` when ``reduction='none'``.

    Example::

        >>> SmoothL1Loss(beta=0.5)(jnp.array([1.0, 4.0]), jnp.array([1.5, 1.0]))
    """

    reduction: str = "mean"
    beta: float = 1.0

    def __post_init__(self) -> None:
        _check_reduction("SmoothL1Loss", self.reduction)
        if _is_number(self.beta) and self.beta < 0:
            raise ValueError(f"SmoothL1Loss: beta must be non-negative, got {self.beta}")

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return smooth_l1_loss(input, target, self.reduction, self.beta)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class HuberLoss(_Loss):
    """Squared error below ``delta``, ``delta``-scaled absolute error above.

    See :func:`huber_loss`.

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        delta: the positive threshold between the two regimes.

    Shape:
        - input: ``(*)``; target: the same shape.
        - output: a scalar, or ``(*)`` when ``reduction='none'``.

    Example::

        >>> HuberLoss(delta=2.0)(jnp.array([1.0, 4.0]), jnp.array([1.5, 1.0]))
    """

    reduction: str = "mean"
    delta: float = 1.0

    def __post_init__(self) -> None:
        _check_reduction("HuberLoss", self.reduction)
        if _is_number(self.delta) and self.delta <= 0:
            raise ValueError(f"HuberLoss: delta must be positive, got {self.delta}")

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return huber_loss(input, target, self.reduction, self.delta)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class KLDivLoss(_Loss):
    """Kullback-Leibler divergence between a target distribution and log-prob input.

    See :func:`kl_div`; ``reduction='batchmean'`` gives the mathematical KL divergence.

    Args:
        reduction: ``'none'`` | ``'batchmean'`` | ``'sum'`` | ``'mean'``.
        log_target: whether the target holds log-probabilities.

    Shape:
        - input: ``(*)`` log-probabilities; target: the same shape.
        - output: a scalar, or ``(*)`` when ``reduction='none'``.

    Example::

        >>> loss = KLDivLoss(reduction="batchmean")
        >>> loss(jax.nn.log_softmax(jnp.zeros((2, 3)), axis=1), jnp.full((2, 3), 1 / 3))
    """

    reduction: str = "mean"
    log_target: bool = False

    def __post_init__(self) -> None:
        _check_reduction("KLDivLoss", self.reduction, (*_REDUCTIONS, "batchmean"))

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return kl_div(input, target, self.reduction, self.log_target)
