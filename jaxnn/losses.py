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
  ``binary_cross_entropy`` does not check that its inputs lie in ``[0, 1]``;
  ``gaussian_nll_loss`` checks ``var >= 0`` only outside ``jit``; ``ctc_loss`` does
  not check that lengths fit the arrays.
* Integer class targets may have any integer dtype (torch wants int64 or uint8);
  JAX's default integer is int32.
* The deprecated ``size_average``/``reduce`` arguments are not supported; use
  ``reduction``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.scipy.special import xlogy
from jax.typing import ArrayLike

from jaxnn.core.distance import pairwise_distance

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CTCLoss",
    "CosineEmbeddingLoss",
    "CrossEntropyLoss",
    "GaussianNLLLoss",
    "HingeEmbeddingLoss",
    "HuberLoss",
    "KLDivLoss",
    "L1Loss",
    "MSELoss",
    "MarginRankingLoss",
    "MultiLabelMarginLoss",
    "MultiLabelSoftMarginLoss",
    "MultiMarginLoss",
    "NLLLoss",
    "PoissonNLLLoss",
    "SmoothL1Loss",
    "SoftMarginLoss",
    "TripletMarginLoss",
    "TripletMarginWithDistanceLoss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cosine_embedding_loss",
    "cross_entropy",
    "ctc_loss",
    "gaussian_nll_loss",
    "hinge_embedding_loss",
    "huber_loss",
    "kl_div",
    "l1_loss",
    "margin_ranking_loss",
    "mse_loss",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
    "nll_loss",
    "poisson_nll_loss",
    "smooth_l1_loss",
    "soft_margin_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
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
        Array(0.34545642, dtype=float32)
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
        Array(0.24131133, dtype=float32)
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
        Array(0.34064162, dtype=float32)
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
        Array(0.89499694, dtype=float32)
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
        Array(0.625, dtype=float32)
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
        Array(0.75, dtype=float32)
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
        Array(1.5, dtype=float32)
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
        Array(2.0625, dtype=float32)
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
        Array(0.08471577, dtype=float32)
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


# --------------------------------------------------------------------------- margins, embeddings


def _clamp_min0(x: jax.Array) -> jax.Array:
    """torch's ``clamp_min(x, 0)``: its gradient passes where ``x >= 0`` (ties included)."""
    return jnp.where(x >= 0, x, 0)


def _positive(z: jax.Array) -> jax.Array:
    """``z`` where ``z > 0`` else 0, the ``if (z > 0)`` of torch's margin kernels."""
    return jnp.where(z > 0, z, 0)


def _like(fn: str, name: str, x: ArrayLike, ref: jax.Array, ref_name: str = "input") -> jax.Array:
    """``x`` with exactly ``ref``'s shape, in ``ref``'s dtype."""
    x = jnp.asarray(x)
    if x.shape != ref.shape:
        raise ValueError(
            f"{fn}: {name} of shape {x.shape} does not match {ref_name} of shape {ref.shape}; "
            "both must have the same shape"
        )
    return x.astype(ref.dtype)


def _class_indices(fn: str, input: jax.Array, target: ArrayLike) -> jax.Array:
    """Integer targets of shape ``()`` / ``(N,)`` for a ``(C,)`` / ``(N, C)`` input."""
    target = jnp.asarray(target)
    if input.ndim not in (1, 2):
        raise ValueError(f"{fn}: expected input of shape (C,) or (N, C), got {input.shape}")
    _class_index_target(fn, input, target)
    return target


def margin_ranking_loss(
    input1: ArrayLike,
    input2: ArrayLike,
    target: ArrayLike,
    margin: float = 0.0,
    reduction: str = "mean",
) -> jax.Array:
    """Ranking loss ``max(0, -target * (input1 - input2) + margin)``.

    Args:
        input1: scores of the first items.
        input2: scores of the second items, the same shape.
        target: 1 where ``input1`` should rank higher, -1 where ``input2`` should.
        margin: the required gap.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input1, input2, target: ``(N)`` or ``()``, all the same.
        - output: a scalar, or the input's shape when ``reduction='none'``.

    Example::

        >>> margin_ranking_loss(jnp.array([0.8, 0.1]), jnp.array([0.5, 0.4]), jnp.array([1, -1]))
        Array(0., dtype=float32)
    """
    fn = "margin_ranking_loss"
    with jax.named_scope(f"jaxnn.{fn}"):
        _check_reduction(fn, reduction)
        input1 = _float_array(fn, "input1", input1)
        input2 = _like(fn, "input2", input2, input1, "input1")
        target = _like(fn, "target", target, input1, "input1")
        return _reduce(_clamp_min0(-target * (input1 - input2) + margin), reduction)


def hinge_embedding_loss(
    input: ArrayLike, target: ArrayLike, margin: float = 1.0, reduction: str = "mean"
) -> jax.Array:
    """Hinge loss on distances: ``input`` where ``target == 1``, ``max(0, margin - input)``
    where ``target == -1`` (any other target value adds both, as in torch).

    Args:
        input: distances (e.g. an L1 distance between two embeddings).
        target: 1 (similar) or -1 (dissimilar), the input's shape.
        margin: the distance dissimilar pairs are pushed beyond.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input: ``(*)``; target: the same shape.
        - output: a scalar, or ``(*)`` when ``reduction='none'``.

    Example::

        >>> hinge_embedding_loss(jnp.array([0.3, 2.0]), jnp.array([1, -1]))
        Array(0.15, dtype=float32)
    """
    fn = "hinge_embedding_loss"
    with jax.named_scope(f"jaxnn.{fn}"):
        _check_reduction(fn, reduction)
        input = _float_array(fn, "input", input)
        target = _like(fn, "target", target, input)
        loss = jnp.where(target != 1, _clamp_min0(margin - input), 0) + jnp.where(
            target != -1, input, 0
        )
        return _reduce(loss, reduction)


def cosine_embedding_loss(
    input1: ArrayLike,
    input2: ArrayLike,
    target: ArrayLike,
    margin: float = 0.0,
    reduction: str = "mean",
) -> jax.Array:
    """``1 - cos(x1, x2)`` where ``target == 1``, ``max(0, cos(x1, x2) - margin)`` where -1.

    The cosine is torch's: ``x1 . x2 / sqrt((|x1|^2 + 1e-12) * (|x2|^2 + 1e-12))``.

    Args:
        input1: embeddings.
        input2: embeddings, the same shape.
        target: 1 (similar) or -1 (dissimilar) per pair.
        margin: cosines of dissimilar pairs above this are penalized, in ``[-1, 1]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input1, input2: ``(N, D)`` or ``(D,)``.
        - target: ``(N,)`` or ``()``.
        - output: a scalar, or ``(N,)`` when ``reduction='none'``.

    Example::

        >>> cosine_embedding_loss(jnp.ones((2, 3)), jnp.eye(2, 3), jnp.array([1, -1]))
        Array(0.5, dtype=float32)
    """
    fn = "cosine_embedding_loss"
    with jax.named_scope(f"jaxnn.{fn}"):
        _check_reduction(fn, reduction)
        input1 = _float_array(fn, "input1", input1)
        input2 = _like(fn, "input2", input2, input1, "input1")
        target = jnp.asarray(target)
        if input1.ndim not in (1, 2) or target.shape != input1.shape[:-1]:
            raise ValueError(
                f"{fn}: expected inputs of shape (N, D) with target (N,), or (D,) with a "
                f"scalar target; got inputs {input1.shape} and target {target.shape}"
            )
        eps = 1e-12  # torch's EPSILON
        dot = jnp.sum(input1 * input2, axis=-1)
        squares = (jnp.sum(input1 * input1, axis=-1) + eps) * (
            jnp.sum(input2 * input2, axis=-1) + eps
        )
        cos = dot / jnp.sqrt(squares)
        loss = jnp.where(target == 1, 1 - cos, 0) + jnp.where(
            target == -1, _clamp_min0(cos - margin), 0
        )
        return _reduce(loss, reduction)


def _triplet_inputs(fn: str, margin: float, *inputs: ArrayLike) -> list[jax.Array]:
    if _is_number(margin) and margin <= 0:
        raise ValueError(f"{fn}: margin must be greater than 0, got {margin}")
    arrays = [
        _float_array(fn, name, x) for name, x in zip(("anchor", "positive", "negative"), inputs)
    ]
    dims = [a.ndim for a in arrays]
    if len(set(dims)) != 1:
        raise ValueError(
            f"{fn}: the anchor, positive, and negative tensors are expected to have the same "
            f"number of dimensions, but got: anchor {dims[0]}D, positive {dims[1]}D, and "
            f"negative {dims[2]}D inputs"
        )
    return arrays


def _triplet(dist_pos, dist_neg, dist_swap, margin, reduction):
    if dist_swap is not None:
        dist_neg = jnp.minimum(dist_neg, dist_swap)
    return _reduce(_clamp_min0(margin + dist_pos - dist_neg), reduction)


def triplet_margin_loss(
    anchor: ArrayLike,
    positive: ArrayLike,
    negative: ArrayLike,
    margin: float = 1.0,
    p: float = 2.0,
    eps: float = 1e-6,
    swap: bool = False,
    reduction: str = "mean",
) -> jax.Array:
    """Triplet loss ``max(0, margin + d(a, p) - d(a, n))`` with the p-norm distance.

    ``d(x, y) = ||x - y + eps||_p`` over the last dimension (torch's
    ``pairwise_distance``); with ``swap``, ``d(a, n)`` becomes ``min(d(a, n), d(p, n))``.

    Args:
        anchor: the reference embeddings.
        positive: embeddings to pull towards ``anchor`` (as many dimensions as it has).
        negative: embeddings to push away from ``anchor`` (as many dimensions too).
        margin: the required gap, positive.
        p: the norm degree.
        eps: added to the differences.
        swap: use the distance swap of Balntas et al.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - anchor, positive, negative: ``(N, D)`` or ``(D,)``.
        - output: a scalar, or ``(N,)`` when ``reduction='none'``.

    Example::

        >>> triplet_margin_loss(jnp.zeros((2, 3)), jnp.ones((2, 3)), -jnp.ones((2, 3)))
        Array(0.99999654, dtype=float32)
    """
    fn = "triplet_margin_loss"
    with jax.named_scope(f"jaxnn.{fn}"):
        _check_reduction(fn, reduction)
        a, pos, neg = _triplet_inputs(fn, margin, anchor, positive, negative)
        swapped = pairwise_distance(pos, neg, p, eps) if swap else None
        return _triplet(
            pairwise_distance(a, pos, p, eps),
            pairwise_distance(a, neg, p, eps),
            swapped,
            margin,
            reduction,
        )


def triplet_margin_with_distance_loss(
    anchor: ArrayLike,
    positive: ArrayLike,
    negative: ArrayLike,
    *,
    distance_function: Callable[[jax.Array, jax.Array], jax.Array] | None = None,
    margin: float = 1.0,
    swap: bool = False,
    reduction: str = "mean",
) -> jax.Array:
    """Triplet loss ``max(0, margin + d(a, p) - d(a, n))`` with any distance ``d``.

    Args:
        anchor: the reference embeddings.
        positive: embeddings to pull towards ``anchor`` (as many dimensions as it has).
        negative: embeddings to push away from ``anchor`` (as many dimensions too).
        distance_function: ``(x, y) -> distances``; default torch's
            ``pairwise_distance`` (2-norm, ``eps=1e-6``).
        margin: the required gap, positive.
        swap: ``d(a, n)`` becomes ``min(d(a, n), d(p, n))``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - anchor, positive, negative: ``(N, *)`` or ``(*)``.
        - output: a scalar, or the distances' shape when ``reduction='none'``.

    Example::

        >>> a, p, n = jnp.eye(3)[:2], jnp.eye(3)[:2], jnp.eye(3)[1:]
        >>> cosine = lambda x, y: 1 - jnp.sum(x * y, -1)  # for unit vectors
        >>> triplet_margin_with_distance_loss(a, p, n, distance_function=cosine, margin=0.5)
        Array(0., dtype=float32)
    """
    fn = "triplet_margin_with_distance_loss"
    with jax.named_scope(f"jaxnn.{fn}"):
        _check_reduction(fn, reduction)
        a, pos, neg = _triplet_inputs(fn, margin, anchor, positive, negative)
        d = pairwise_distance if distance_function is None else distance_function
        return _triplet(d(a, pos), d(a, neg), d(pos, neg) if swap else None, margin, reduction)


def soft_margin_loss(input: ArrayLike, target: ArrayLike, reduction: str = "mean") -> jax.Array:
    """Two-class logistic loss ``log(1 + exp(-target * input))`` for targets in {1, -1}.

    Computed as torch computes it (``log1p(exp(-target * input))``), so it overflows to
    ``inf`` where torch's does.

    Args:
        input: scores.
        target: 1 or -1, the input's shape.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input: ``(*)``; target: the same shape.
        - output: a scalar, or ``(*)`` when ``reduction='none'``.

    Example::

        >>> soft_margin_loss(jnp.array([0.5, -2.0]), jnp.array([1, -1]))
        Array(0.30050248, dtype=float32)
    """
    fn = "soft_margin_loss"
    with jax.named_scope(f"jaxnn.{fn}"):
        _check_reduction(fn, reduction)
        input = _float_array(fn, "input", input)
        target = _like(fn, "target", target, input)
        return _reduce(jnp.log1p(jnp.exp(-target * input)), reduction)


def multilabel_soft_margin_loss(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None, reduction: str = "mean"
) -> jax.Array:
    """Multi-label one-versus-all logistic loss, averaged over the C classes.

    Per sample: ``-sum_c w_c (y_c log sigmoid(x_c) + (1 - y_c) log sigmoid(-x_c)) / C``.

    Args:
        input: logits.
        target: 0 or 1 per class, the input's shape.
        weight: optional per-class weight, broadcast to the input's shape.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input: ``(N, C)`` or ``(C,)``; target: the same shape.
        - output: a scalar, or ``(N,)`` when ``reduction='none'``.

    Example::

        >>> multilabel_soft_margin_loss(jnp.array([[0.5, -1.0, 2.0]]), jnp.array([[1, 0, 1]]))
        Array(0.30475557, dtype=float32)
    """
    fn = "multilabel_soft_margin_loss"
    with jax.named_scope(f"jaxnn.{fn}"):
        _check_reduction(fn, reduction)
        input = _float_array(fn, "input", input)
        target = _like(fn, "target", target, input)
        loss = -(target * jax.nn.log_sigmoid(input) + (1 - target) * jax.nn.log_sigmoid(-input))
        if weight is not None:
            loss = loss * _broadcast_weight(fn, "weight", weight, input.shape).astype(input.dtype)
        n_classes = input.shape[-1] if input.ndim else 1
        return _reduce(jnp.sum(loss, axis=-1) / n_classes, reduction)


def multilabel_margin_loss(
    input: ArrayLike, target: ArrayLike, reduction: str = "mean"
) -> jax.Array:
    """Multi-label hinge loss: every target class should score 1 above every other class.

    Per sample: ``sum_{j, i} max(0, 1 - (x[y_j] - x[i])) / C`` over the target classes
    ``y_j`` (the target row up to its first -1) and the non-target classes ``i``.

    Args:
        input: scores.
        target: integer class indices, padded with -1 after the sample's targets; the
            input's shape.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input: ``(N, C)`` or ``(C,)``; target: the same shape.
        - output: a scalar, or ``(N,)`` when ``reduction='none'``.

    Example::

        >>> multilabel_margin_loss(jnp.array([[0.1, 0.2, 0.4, 0.8]]), jnp.array([[3, 0, -1, 1]]))
        Array(0.85, dtype=float32)
    """
    fn = "multilabel_margin_loss"
    with jax.named_scope(f"jaxnn.{fn}"):
        _check_reduction(fn, reduction)
        input = _float_array(fn, "input", input)
        target = jnp.asarray(target)
        if input.ndim not in (1, 2) or target.shape != input.shape:
            raise ValueError(
                f"{fn}: expected input of shape (N, C) or (C,) and a target of the same shape, "
                f"got input {input.shape} and target {target.shape}"
            )
        if not jnp.issubdtype(target.dtype, jnp.integer):
            raise TypeError(f"{fn}: target must be an integer array, got dtype {target.dtype}")
        x, y = jnp.atleast_2d(input), jnp.atleast_2d(target)  # (N, C)
        n_classes = x.shape[1]
        # the targets are the row's entries before its first -1
        listed = jnp.cumprod(y >= 0, axis=1).astype(bool)
        index = jnp.where(listed, y, 0)
        rows = jnp.arange(x.shape[0])[:, None]
        is_target = jnp.zeros(x.shape, jnp.int32).at[rows, index].max(listed.astype(jnp.int32)) > 0
        scores = jnp.take_along_axis(x, index, axis=1)  # x[y_j]
        z = 1 - scores[:, :, None] + x[:, None, :]  # (N, j, i)
        counted = listed[:, :, None] & ~is_target[:, None, :]
        loss = jnp.sum(jnp.where(counted, _positive(z), 0), axis=(1, 2)) / n_classes
        return _reduce(loss if input.ndim == 2 else loss[0], reduction)


def multi_margin_loss(
    input: ArrayLike,
    target: ArrayLike,
    p: int = 1,
    margin: float = 1.0,
    weight: ArrayLike | None = None,
    reduction: str = "mean",
) -> jax.Array:
    """Multi-class hinge loss: the target class should score ``margin`` above the others.

    Per sample: ``sum_{i != y} w_y * max(0, margin - x[y] + x[i]) ** p / C``.

    Args:
        input: scores.
        target: integer class indices.
        p: 1 or 2.
        margin: the required gap.
        weight: optional ``(C,)`` weight of each target class.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input: ``(N, C)`` or ``(C,)``; target: ``(N,)`` or ``()``.
        - output: a scalar, or ``(N,)`` when ``reduction='none'``.

    Example::

        >>> multi_margin_loss(jnp.array([[0.1, 0.2, 0.4, 0.8]]), jnp.array([3]))
        Array(0.325, dtype=float32)
    """
    fn = "multi_margin_loss"
    with jax.named_scope(f"jaxnn.{fn}"):
        _check_reduction(fn, reduction)
        if p not in (1, 2):
            raise ValueError(f"{fn}: only p == 1 and p == 2 supported, got p={p}")
        input = _float_array(fn, "input", input)
        target = _class_indices(fn, input, target)
        if weight is not None:
            weight = jnp.asarray(weight)
            if weight.ndim != 1:
                raise ValueError(f"{fn}: weight must be one-dimensional, got shape {weight.shape}")
            weight = _class_weight(fn, weight, input)
        x, y = jnp.atleast_2d(input), jnp.atleast_1d(target).astype(jnp.int32)
        n_classes = x.shape[1]
        z = margin - jnp.take_along_axis(x, y[:, None], axis=1) + x  # (N, C)
        h = _positive(z) if p == 1 else jnp.where(z > 0, z * z, 0)
        if weight is not None:
            h = h * jnp.take(weight, y, mode="clip")[:, None]
        h = jnp.where(jnp.arange(n_classes)[None, :] == y[:, None], 0, h)
        loss = jnp.sum(h, axis=1) / n_classes
        return _reduce(loss if input.ndim == 2 else loss[0], reduction)


# --------------------------------------------------------------------------- likelihoods


def poisson_nll_loss(
    input: ArrayLike,
    target: ArrayLike,
    log_input: bool = True,
    full: bool = False,
    eps: float = 1e-8,
    reduction: str = "mean",
) -> jax.Array:
    """Negative log-likelihood of a Poisson-distributed target.

    ``exp(input) - target * input`` (``log_input``) or ``input - target * log(input +
    eps)``; with ``full``, Stirling's approximation of ``log(target!)`` is added where
    ``target > 1``.

    Args:
        input: the log-rate (``log_input``) or the rate.
        target: observed counts, the input's shape.
        log_input: whether ``input`` is the log of the rate.
        full: add the Stirling term.
        eps: keeps ``log`` finite at a rate of 0 (``log_input=False``).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input: ``(*)``; target: the same shape.
        - output: a scalar, or ``(*)`` when ``reduction='none'``.

    Example::

        >>> poisson_nll_loss(jnp.log(jnp.array([2.0, 0.5])), jnp.array([3.0, 0.0]))
        Array(0.21027923, dtype=float32)
    """
    fn = "poisson_nll_loss"
    with jax.named_scope(f"jaxnn.{fn}"):
        _check_reduction(fn, reduction)
        input = _float_array(fn, "input", input)
        target = _like(fn, "target", target, input)
        if log_input:
            loss = jnp.exp(input) - target * input
        else:
            loss = input - target * jnp.log(input + eps)
        if full:
            safe = jnp.where(target > 1, target, 2.0)  # the term is 0 for target <= 1
            stirling = safe * jnp.log(safe) - safe + 0.5 * jnp.log(2 * math.pi * safe)
            loss = loss + jnp.where(target > 1, stirling, 0)
        return _reduce(loss, reduction)


def gaussian_nll_loss(
    input: ArrayLike,
    target: ArrayLike,
    var: ArrayLike | float,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> jax.Array:
    """Negative log-likelihood of the target under ``N(input, var)``.

    ``0.5 * (log(max(var, eps)) + (input - target) ** 2 / max(var, eps))`` (+ ``0.5 *
    log(2 pi)`` with ``full``). The clamp does not stop the gradient of ``var``, as in
    torch. A negative ``var`` raises, except under ``jax.jit`` (values are not known).

    Args:
        input: the predicted means.
        target: the observations, the input's shape (or broadcastable, as in torch).
        var: the predicted variances: the input's shape, one dimension short of it, a
            size-1 dimension where the input has more, or a number.
        full: add the constant term.
        eps: the lower clamp of ``var``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input: ``(N, *)``; target, var: as above.
        - output: a scalar, or the input's shape when ``reduction='none'``.

    Example::

        >>> gaussian_nll_loss(jnp.zeros((4, 2)), jnp.ones((4, 2)), jnp.full((4, 1), 0.5))
        Array(0.6534264, dtype=float32)
    """
    fn = "gaussian_nll_loss"
    with jax.named_scope(f"jaxnn.{fn}"):
        _check_reduction(fn, reduction)
        input = _float_array(fn, "input", input)
        target = jnp.asarray(target, input.dtype)
        if _is_number(var):
            if var < 0:
                raise ValueError(f"{fn}: var has negative entry/entries")
            var = jnp.full_like(input, var)
        var = _float_array(fn, "var", var)
        if not isinstance(var, jax.core.Tracer) and bool(jnp.any(var < 0)):
            raise ValueError(f"{fn}: var has negative entry/entries")
        if var.shape != input.shape:
            mismatched = [v for i, v in zip(input.shape, var.shape) if i != v]
            if var.shape == input.shape[:-1]:  # homoscedastic: one variance per sample
                var = var[..., None]
            elif not (var.ndim == input.ndim and sum(mismatched) == 1):
                raise ValueError(
                    f"{fn}: var is of incorrect size: {var.shape} for input {input.shape}"
                )
        try:
            shape = np.broadcast_shapes(input.shape, target.shape, var.shape)
        except ValueError:
            shape = None
        if shape is None or len(shape) != input.ndim:
            raise ValueError(
                f"{fn}: target of shape {target.shape} does not broadcast with input of shape "
                f"{input.shape}"
            )
        input, target, var = (jnp.broadcast_to(a, shape) for a in (input, target, var))
        var = var + jax.lax.stop_gradient(jnp.maximum(var, eps) - var)  # clamp, no_grad
        loss = 0.5 * (jnp.log(var) + (input - target) ** 2 / var)
        if full:
            loss = loss + 0.5 * math.log(2 * math.pi)
        return _reduce(loss, reduction)


# --------------------------------------------------------------------------- CTC


def _frame_log_norm(lp: jax.Array, paddings: jax.Array) -> jax.Array:
    """Sum over the unpadded frames of ``logsumexp`` over classes: 0 for log-softmax input."""
    return jnp.sum(jax.nn.logsumexp(lp, axis=-1) * (1 - paddings), axis=-1)


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def _ctc(lp, lp_paddings, labels, label_paddings, blank):
    """optax's CTC on (N, T, C) log-probabilities, with torch's value and gradient.

    optax normalizes its input with log_softmax; subtracting the per-frame log-normalizer
    gives torch's value for any input (nothing changes for log-softmax input). torch's
    gradient with respect to ``log_probs`` is ``exp(log_probs) - posterior`` on the
    unpadded frames (the gradient of the logits behind a log_softmax), which differs from
    optax's ``softmax - posterior`` by ``exp - softmax`` (0 for log-softmax input).
    """
    value = optax.ctc_loss(lp, lp_paddings, labels, label_paddings, blank_id=blank)
    return value - _frame_log_norm(lp, lp_paddings)


def _ctc_fwd(lp, lp_paddings, labels, label_paddings, blank):
    value, vjp = jax.vjp(
        lambda x: optax.ctc_loss(x, lp_paddings, labels, label_paddings, blank_id=blank), lp
    )
    return value - _frame_log_norm(lp, lp_paddings), (vjp, lp, lp_paddings)


def _ctc_bwd(blank, residuals, g):
    vjp, lp, lp_paddings = residuals
    (grad,) = vjp(g)
    unpadded = (1 - lp_paddings)[..., None] * g[:, None, None]
    return grad + unpadded * (jnp.exp(lp) - jax.nn.softmax(lp, axis=-1)), None, None, None


_ctc.defvjp(_ctc_fwd, _ctc_bwd)


def ctc_loss(
    log_probs: ArrayLike,
    targets: ArrayLike,
    input_lengths: ArrayLike,
    target_lengths: ArrayLike,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> jax.Array:
    """Connectionist Temporal Classification loss, torch's ``ctc_loss`` (optax's underneath).

    The negative log-likelihood of each target sequence, summed over its alignments to
    the input frames. Values and gradients are torch's, also for log-probabilities that
    are not normalized (optax normalizes its input; the difference is taken back out).

    Args:
        log_probs: log-probabilities (e.g. ``log_softmax`` over classes), time first.
        targets: padded ``(N, S)`` class indices, or all targets concatenated ``(sum
            target_lengths,)``; never ``blank``.
        input_lengths: frames of each input, ``<= T``.
        target_lengths: length of each target.
        blank: the blank class.
        reduction: ``'none'`` | ``'mean'`` (each loss divided by its target length, then
            averaged) | ``'sum'``.
        zero_infinity: give impossible alignments (an input too short for its target,
            where the loss is infinite) a loss and gradient of 0.

    Shape:
        - log_probs: ``(T, N, C)`` or ``(T, C)``.
        - targets: ``(N, S)``, ``(sum(target_lengths),)`` or ``(S,)`` unbatched.
        - input_lengths, target_lengths: ``(N,)`` or ``()``.
        - output: a scalar, or ``(N,)`` when ``reduction='none'``.

    Example::

        >>> log_probs = jax.nn.log_softmax(jnp.zeros((50, 16, 20)), axis=2)
        >>> ctc_loss(log_probs, jnp.ones((16, 30), jnp.int32), jnp.full(16, 50), jnp.full(16, 30))
        Array(inf, dtype=float32)
    """
    fn = "ctc_loss"
    with jax.named_scope(f"jaxnn.{fn}"):
        _check_reduction(fn, reduction)
        log_probs = _float_array(fn, "log_probs", log_probs)
        if log_probs.ndim not in (2, 3):
            raise ValueError(f"{fn}: log_probs must be (T, N, C) or (T, C), got {log_probs.shape}")
        unbatched = log_probs.ndim == 2
        arrays = {"targets": targets, "input_lengths": input_lengths}
        arrays["target_lengths"] = target_lengths
        for name, value in arrays.items():
            arrays[name] = jnp.asarray(value)
            if not jnp.issubdtype(arrays[name].dtype, jnp.integer):
                raise TypeError(f"{fn}: {name} must be integers, got dtype {arrays[name].dtype}")
        targets, input_lengths, target_lengths = arrays.values()
        if unbatched:
            log_probs, targets = log_probs[:, None], targets[None]
            input_lengths, target_lengths = input_lengths[None], target_lengths[None]
        n_frames, batch, n_classes = log_probs.shape
        if not 0 <= blank < n_classes:
            raise ValueError(f"{fn}: blank must be in [0, {n_classes}), got {blank}")
        for name, value in (("input_lengths", input_lengths), ("target_lengths", target_lengths)):
            if value.shape != (batch,):
                raise ValueError(f"{fn}: {name} must have shape ({batch},), got {value.shape}")
        if targets.ndim == 1:  # concatenated: pad each target to the longest possible
            starts = jnp.cumsum(target_lengths) - target_lengths
            positions = starts[:, None] + jnp.arange(targets.shape[0])[None, :]
            targets = jnp.take(targets, positions, mode="clip")
        elif targets.ndim != 2 or targets.shape[0] != batch:
            raise ValueError(
                f"{fn}: targets must be (N, S) or concatenated (sum(target_lengths),) with "
                f"N={batch}, got shape {targets.shape}"
            )
        in_label = jnp.arange(targets.shape[1])[None, :] < target_lengths[:, None]
        labels = jnp.where(in_label, targets, 0).astype(jnp.int32)
        frames = jnp.arange(n_frames)[None, :] < input_lengths[:, None]
        lp = jnp.transpose(log_probs, (1, 0, 2))  # (N, T, C)
        losses = _ctc(lp, (~frames).astype(lp.dtype), labels, (~in_label).astype(lp.dtype), blank)
        # torch: infinite where the input has fewer frames than the target needs (one per
        # label and one blank between repeated labels); optax's log(0) is only -1e5
        repeats = jnp.sum(in_label[:, 1:] & (labels[:, 1:] == labels[:, :-1]), axis=1)
        impossible = input_lengths < target_lengths + repeats
        losses = jnp.where(impossible, 0.0 if zero_infinity else jnp.inf, losses)
        if reduction == "mean":
            return jnp.mean(losses / jnp.maximum(target_lengths, 1).astype(losses.dtype))
        if reduction == "sum":
            return jnp.sum(losses)
        return losses[0] if unbatched else losses


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
        Array(2.3025851, dtype=float32)
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
        Array(1.0986123, dtype=float32)
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
        Array(0.16425203, dtype=float32)
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
        Array(1.3862944, dtype=float32)
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
        Array(0.625, dtype=float32)
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
        Array(0.75, dtype=float32)
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
        Array(1.5, dtype=float32)
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
        Array(2.0625, dtype=float32)
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
        Array(0., dtype=float32)
    """

    reduction: str = "mean"
    log_target: bool = False

    def __post_init__(self) -> None:
        _check_reduction("KLDivLoss", self.reduction, (*_REDUCTIONS, "batchmean"))

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return kl_div(input, target, self.reduction, self.log_target)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class MarginRankingLoss(_Loss):
    """Ranking loss ``max(0, -target * (input1 - input2) + margin)``.

    See :func:`margin_ranking_loss`.

    Args:
        margin: the required gap. Default: 0.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input1, input2, target: ``(N)`` or ``()``; output: a scalar or ``(N)``.

    Example::

        >>> MarginRankingLoss(margin=0.1)(jnp.array([0.8]), jnp.array([0.5]), jnp.array([1.0]))
        Array(0., dtype=float32)
    """

    margin: float = 0.0
    _: dataclasses.KW_ONLY
    reduction: str = "mean"

    def __post_init__(self) -> None:
        _check_reduction("MarginRankingLoss", self.reduction)

    def __call__(self, input1: ArrayLike, input2: ArrayLike, target: ArrayLike) -> jax.Array:
        return margin_ranking_loss(input1, input2, target, self.margin, self.reduction)

    def forward(self, input1: ArrayLike, input2: ArrayLike, target: ArrayLike) -> jax.Array:
        """The loss (torch's name for calling it)."""
        return self(input1, input2, target)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class HingeEmbeddingLoss(_Loss):
    """Hinge loss on distances of similar (1) and dissimilar (-1) pairs.

    See :func:`hinge_embedding_loss`.

    Args:
        margin: the distance dissimilar pairs are pushed beyond. Default: 1.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input: ``(*)``; target: the same shape; output: a scalar or ``(*)``.

    Example::

        >>> HingeEmbeddingLoss()(jnp.array([0.3, 2.0]), jnp.array([1, -1]))
        Array(0.15, dtype=float32)
    """

    margin: float = 1.0
    _: dataclasses.KW_ONLY
    reduction: str = "mean"

    def __post_init__(self) -> None:
        _check_reduction("HingeEmbeddingLoss", self.reduction)

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return hinge_embedding_loss(input, target, self.margin, self.reduction)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class CosineEmbeddingLoss(_Loss):
    """Cosine similarity loss of similar (1) and dissimilar (-1) pairs of embeddings.

    See :func:`cosine_embedding_loss`.

    Args:
        margin: cosines of dissimilar pairs above this are penalized. Default: 0.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input1, input2: ``(N, D)`` or ``(D)``; target: ``(N)`` or ``()``.

    Example::

        >>> CosineEmbeddingLoss(margin=0.5)(jnp.ones((2, 3)), jnp.eye(2, 3), jnp.array([1, -1]))
        Array(0.25, dtype=float32)
    """

    margin: float = 0.0
    _: dataclasses.KW_ONLY
    reduction: str = "mean"

    def __post_init__(self) -> None:
        _check_reduction("CosineEmbeddingLoss", self.reduction)

    def __call__(self, input1: ArrayLike, input2: ArrayLike, target: ArrayLike) -> jax.Array:
        return cosine_embedding_loss(input1, input2, target, self.margin, self.reduction)

    def forward(self, input1: ArrayLike, input2: ArrayLike, target: ArrayLike) -> jax.Array:
        """The loss (torch's name for calling it)."""
        return self(input1, input2, target)


class _TripletLoss(_Loss):
    """``forward(anchor, positive, negative)`` for the triplet losses."""

    def forward(self, anchor: ArrayLike, positive: ArrayLike, negative: ArrayLike) -> jax.Array:
        """The loss (torch's name for calling it)."""
        return self(anchor, positive, negative)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class TripletMarginLoss(_TripletLoss):
    """Triplet loss with the p-norm distance.

    See :func:`triplet_margin_loss`.

    Args:
        margin: the required gap, positive. Default: 1.
        p: the norm degree. Default: 2.
        eps: added to the differences. Default: 1e-6.
        swap: use the distance swap. Default: False.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - anchor, positive, negative: ``(N, D)`` or ``(D)``; output: a scalar or ``(N)``.

    Example::

        >>> TripletMarginLoss(margin=0.5)(jnp.zeros((2, 3)), jnp.ones((2, 3)), -jnp.ones((2, 3)))
        Array(0.49999654, dtype=float32)
    """

    margin: float = 1.0
    p: float = 2.0
    eps: float = 1e-6
    swap: bool = False
    _: dataclasses.KW_ONLY
    reduction: str = "mean"

    def __post_init__(self) -> None:
        _check_reduction("TripletMarginLoss", self.reduction)
        if _is_number(self.margin) and self.margin <= 0:
            raise ValueError(f"TripletMarginLoss: margin must be greater than 0, got {self.margin}")

    def __call__(self, anchor: ArrayLike, positive: ArrayLike, negative: ArrayLike) -> jax.Array:
        return triplet_margin_loss(
            anchor, positive, negative, self.margin, self.p, self.eps, self.swap, self.reduction
        )


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class TripletMarginWithDistanceLoss(_TripletLoss):
    """Triplet loss with any distance function.

    See :func:`triplet_margin_with_distance_loss`.

    Args:
        distance_function: ``(x, y) -> distances``; default the 2-norm pairwise distance.
        margin: the required gap, positive. Default: 1.
        swap: use the distance swap. Default: False.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Example::

        >>> l1 = lambda x, y: jnp.abs(x - y).sum(-1)
        >>> loss = TripletMarginWithDistanceLoss(distance_function=l1, margin=0.5)
    """

    _: dataclasses.KW_ONLY
    distance_function: Callable[[jax.Array, jax.Array], jax.Array] | None = None
    margin: float = 1.0
    swap: bool = False
    reduction: str = "mean"

    def __post_init__(self) -> None:
        name = "TripletMarginWithDistanceLoss"
        _check_reduction(name, self.reduction)
        if _is_number(self.margin) and self.margin <= 0:
            raise ValueError(f"{name}: margin must be greater than 0, got {self.margin}")

    def __call__(self, anchor: ArrayLike, positive: ArrayLike, negative: ArrayLike) -> jax.Array:
        return triplet_margin_with_distance_loss(
            anchor,
            positive,
            negative,
            distance_function=self.distance_function,
            margin=self.margin,
            swap=self.swap,
            reduction=self.reduction,
        )


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class SoftMarginLoss(_Loss):
    """Two-class logistic loss for targets in {1, -1}.

    See :func:`soft_margin_loss`.

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Example::

        >>> SoftMarginLoss()(jnp.array([0.5, -2.0]), jnp.array([1, -1]))
        Array(0.30050248, dtype=float32)
    """

    _: dataclasses.KW_ONLY
    reduction: str = "mean"

    def __post_init__(self) -> None:
        _check_reduction("SoftMarginLoss", self.reduction)

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return soft_margin_loss(input, target, self.reduction)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class MultiLabelSoftMarginLoss(_Loss):
    """Multi-label one-versus-all logistic loss.

    See :func:`multilabel_soft_margin_loss`.

    Args:
        weight: optional per-class weight ``(C,)``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input: ``(N, C)`` or ``(C)``; target: the same shape; output: a scalar or ``(N)``.

    Example::

        >>> MultiLabelSoftMarginLoss()(jnp.array([[0.5, -1.0]]), jnp.array([[1.0, 0.0]]))
        Array(0.39366934, dtype=float32)
    """

    weight: ArrayLike | None = None
    _: dataclasses.KW_ONLY
    reduction: str = "mean"

    def __post_init__(self) -> None:
        _check_reduction("MultiLabelSoftMarginLoss", self.reduction)

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return multilabel_soft_margin_loss(input, target, self.weight, self.reduction)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class MultiLabelMarginLoss(_Loss):
    """Multi-label hinge loss with -1-padded target class lists.

    See :func:`multilabel_margin_loss`.

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input: ``(N, C)`` or ``(C)``; target: the same shape (integers); output: a
          scalar or ``(N)``.

    Example::

        >>> MultiLabelMarginLoss()(jnp.array([[0.1, 0.2, 0.4, 0.8]]), jnp.array([[3, 0, -1, 1]]))
        Array(0.85, dtype=float32)
    """

    _: dataclasses.KW_ONLY
    reduction: str = "mean"

    def __post_init__(self) -> None:
        _check_reduction("MultiLabelMarginLoss", self.reduction)

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return multilabel_margin_loss(input, target, self.reduction)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class MultiMarginLoss(_Loss):
    """Multi-class hinge loss.

    See :func:`multi_margin_loss`.

    Args:
        p: 1 or 2. Default: 1.
        margin: the required gap. Default: 1.
        weight: optional ``(C,)`` weight of each target class.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input: ``(N, C)`` or ``(C)``; target: ``(N)`` or ``()``; output: a scalar or ``(N)``.

    Example::

        >>> MultiMarginLoss(p=2)(jnp.array([[0.1, 0.2, 0.4, 0.8]]), jnp.array([3]))
        Array(0.1525, dtype=float32)
    """

    p: int = 1
    margin: float = 1.0
    weight: ArrayLike | None = None
    _: dataclasses.KW_ONLY
    reduction: str = "mean"

    def __post_init__(self) -> None:
        _check_reduction("MultiMarginLoss", self.reduction)
        if self.p not in (1, 2):
            raise ValueError(f"MultiMarginLoss: only p == 1 and p == 2 supported, got p={self.p}")

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return multi_margin_loss(input, target, self.p, self.margin, self.weight, self.reduction)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class PoissonNLLLoss(_Loss):
    """Negative log-likelihood of a Poisson-distributed target.

    See :func:`poisson_nll_loss`.

    Args:
        log_input: whether the input is the log of the rate. Default: True.
        full: add Stirling's approximation of ``log(target!)``. Default: False.
        eps: keeps ``log`` finite at a rate of 0. Default: 1e-8.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Example::

        >>> PoissonNLLLoss()(jnp.log(jnp.array([2.0, 0.5])), jnp.array([3.0, 0.0]))
        Array(0.21027923, dtype=float32)
    """

    log_input: bool = True
    full: bool = False
    _: dataclasses.KW_ONLY
    eps: float = 1e-8
    reduction: str = "mean"

    def __post_init__(self) -> None:
        _check_reduction("PoissonNLLLoss", self.reduction)

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return poisson_nll_loss(input, target, self.log_input, self.full, self.eps, self.reduction)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class GaussianNLLLoss(_Loss):
    """Negative log-likelihood of the target under a Gaussian with predicted variance.

    See :func:`gaussian_nll_loss`.

    Args:
        full: add the constant ``0.5 * log(2 pi)``. Default: False.
        eps: the lower clamp of the variance. Default: 1e-6.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Example::

        >>> GaussianNLLLoss()(jnp.zeros((4, 2)), jnp.ones((4, 2)), jnp.full((4, 1), 0.5))
        Array(0.6534264, dtype=float32)
    """

    _: dataclasses.KW_ONLY
    full: bool = False
    eps: float = 1e-6
    reduction: str = "mean"

    def __post_init__(self) -> None:
        _check_reduction("GaussianNLLLoss", self.reduction)

    def __call__(self, input: ArrayLike, target: ArrayLike, var: ArrayLike | float) -> jax.Array:
        return gaussian_nll_loss(input, target, var, self.full, self.eps, self.reduction)

    def forward(self, input: ArrayLike, target: ArrayLike, var: ArrayLike | float) -> jax.Array:
        """The loss (torch's name for calling it)."""
        return self(input, target, var)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class CTCLoss(_Loss):
    """Connectionist Temporal Classification loss.

    See :func:`ctc_loss`.

    Args:
        blank: the blank class. Default: 0.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        zero_infinity: zero the loss and gradient of impossible alignments. Default: False.

    Shape:
        - log_probs: ``(T, N, C)`` or ``(T, C)``; targets: ``(N, S)`` or concatenated;
          input_lengths, target_lengths: ``(N)`` or ``()``.

    Example::

        >>> log_probs = jax.nn.log_softmax(jnp.zeros((6, 2, 4)), axis=-1)  # (T, N, C)
        >>> targets = jnp.array([[1, 2], [3, 3]])
        >>> CTCLoss(zero_infinity=True)(log_probs, targets, jnp.array([6, 6]), jnp.array([2, 2]))
        Array(2.2079225, dtype=float32)
    """

    blank: int = 0
    reduction: str = "mean"
    zero_infinity: bool = False

    def __post_init__(self) -> None:
        _check_reduction("CTCLoss", self.reduction)

    def __call__(
        self,
        log_probs: ArrayLike,
        targets: ArrayLike,
        input_lengths: ArrayLike,
        target_lengths: ArrayLike,
    ) -> jax.Array:
        return ctc_loss(
            log_probs,
            targets,
            input_lengths,
            target_lengths,
            self.blank,
            self.reduction,
            self.zero_infinity,
        )

    def forward(
        self,
        log_probs: ArrayLike,
        targets: ArrayLike,
        input_lengths: ArrayLike,
        target_lengths: ArrayLike,
    ) -> jax.Array:
        """The loss (torch's name for calling it)."""
        return self(log_probs, targets, input_lengths, target_lengths)
