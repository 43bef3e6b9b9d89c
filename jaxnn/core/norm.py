"""Normalization as both jaxnn.functional and the normalization layers compute it.

Statistics are computed in float32 (or wider) for half-precision inputs, as torch does,
and variances are two-pass: the mean first, then the mean of squared deviations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = [
    "batch_norm",
    "group_norm",
    "instance_norm",
    "layer_norm",
    "local_response_norm",
    "normalized_shape",
    "rms_norm",
]

Array = jax.Array


def batch_norm(x, mean, var, scale, bias, *, use_batch_stats: bool, eps: float, who: str):
    """Normalize (N, C, ...) over every axis but 1.

    Returns (output, batch_mean, unbiased_batch_var); the last two are None when the
    running statistics were used. Statistics are computed in float32 (or wider) even
    for half-precision inputs, as torch does.

    Args:
        x: the input, (N, C, *).
        mean: the running mean (C,), used when ``use_batch_stats`` is False.
        var: the running variance (C,), likewise.
        scale: the per-channel weight (C,) or None.
        bias: the per-channel bias (C,) or None.
        use_batch_stats: normalize with the batch's statistics (training), else with
            ``mean`` and ``var``.
        eps: added to the variance.
        who: the caller, named in errors.
    """
    axes = (0, *range(2, x.ndim))
    compute = jnp.promote_types(x.dtype, jnp.float32)
    xc = x.astype(compute)
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    batch_mean = batch_var = None
    if use_batch_stats:
        n = math.prod(x.shape[a] for a in axes)
        if n <= 1:
            raise ValueError(
                f"{who}: expected more than 1 value per channel when training, "
                f"got input of shape {tuple(x.shape)}"
            )
        mean = xc.mean(axis=axes)
        var = jnp.square(xc - mean.reshape(shape)).mean(axis=axes)
        batch_mean, batch_var = mean, var * (n / (n - 1))
    inv = lax.rsqrt(var.astype(compute) + eps)
    if scale is not None:
        inv = inv * scale.astype(compute)
    y = (xc - mean.astype(compute).reshape(shape)) * inv.reshape(shape)
    if bias is not None:
        y = y + bias.astype(compute).reshape(shape)
    return y.astype(x.dtype), batch_mean, batch_var


def normalized_shape(shape: int | Sequence[int], who: str) -> tuple[int, ...]:
    """torch's ``normalized_shape`` argument (an int or a sequence of ints) as a tuple.

    Args:
        shape: an int or a sequence of ints (bools are refused).
        who: the caller, named in errors.
    """
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        return (int(shape),)
    if isinstance(shape, Sequence) and all(
        isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in shape
    ):
        return tuple(int(s) for s in shape)
    raise TypeError(f"{who}: normalized_shape must be an int or a sequence of ints, got {shape!r}")


def _check_trailing(x: Array, shape: tuple[int, ...], who: str) -> tuple[int, ...]:
    """The trailing axes ``shape`` names; an error unless ``x`` ends with ``shape``."""
    n = len(shape)
    if x.ndim < n or tuple(x.shape[x.ndim - n :]) != shape:
        raise ValueError(
            f"{who}: expected input with shape [*, {', '.join(map(str, shape))}], "
            f"got {tuple(x.shape)}"
        )
    return tuple(range(x.ndim - n, x.ndim))


def _affine(y: Array, scale: Array | None, bias: Array | None, lead: int) -> Array:
    """y * scale + bias with both broadcast over ``lead`` leading axes."""
    if scale is not None:
        y = y * scale.astype(y.dtype).reshape((1,) * lead + scale.shape)
    if bias is not None:
        y = y + bias.astype(y.dtype).reshape((1,) * lead + bias.shape)
    return y


def layer_norm(
    x: Array,
    shape: tuple[int, ...],
    scale: Array | None,
    bias: Array | None,
    eps: float,
    who: str,
) -> Array:
    """Normalize over the trailing ``shape`` axes: (x - mean) / sqrt(var + eps), biased
    two-pass variance, then ``scale`` and ``bias`` elementwise.

    Args:
        x: the input, (*, *shape).
        shape: the normalized trailing shape (:func:`normalized_shape`).
        scale: ``shape``-shaped weight, or None.
        bias: ``shape``-shaped bias, or None.
        eps: added to the variance.
        who: the caller, named in errors.
    """
    axes = _check_trailing(x, shape, who)
    xc = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    mean = xc.mean(axis=axes, keepdims=True)
    centered = xc - mean
    var = jnp.square(centered).mean(axis=axes, keepdims=True)
    y = _affine(centered * lax.rsqrt(var + eps), scale, bias, x.ndim - len(shape))
    return y.astype(x.dtype)


def rms_norm(
    x: Array, shape: tuple[int, ...], scale: Array | None, eps: float | None, who: str
) -> Array:
    """x / sqrt(mean(x^2) + eps) over the trailing ``shape`` axes, times ``scale``.

    Args:
        x: the input, (*, *shape).
        shape: the normalized trailing shape (:func:`normalized_shape`).
        scale: ``shape``-shaped weight, or None.
        eps: added to the mean square; None is the machine epsilon of the input's
            dtype, as torch.
        who: the caller, named in errors.
    """
    axes = _check_trailing(x, shape, who)
    if eps is None:
        eps = float(jnp.finfo(x.dtype).eps)
    xc = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    y = xc * lax.rsqrt(jnp.square(xc).mean(axis=axes, keepdims=True) + eps)
    return _affine(y, scale, None, x.ndim - len(shape)).astype(x.dtype)


def group_norm(
    x: Array, groups: int, scale: Array | None, bias: Array | None, eps: float, who: str
) -> Array:
    """Normalize (N, C, *) over each group of C / groups channels and the spatial axes,
    then a per-channel ``scale`` and ``bias``.

    Args:
        x: the input, (N, C, *).
        groups: the number of channel groups; it must divide C.
        scale: (C,) or None.
        bias: (C,) or None.
        eps: added to the variance.
        who: the caller, named in errors.
    """
    if x.ndim < 2:
        raise ValueError(f"{who}: expected input of shape (N, C, *), got {tuple(x.shape)}")
    n, c = x.shape[:2]
    if c % groups:
        raise ValueError(
            f"{who}: input has {c} channels (shape {tuple(x.shape)}), which {groups} groups "
            f"do not divide"
        )
    xc = x.astype(jnp.promote_types(x.dtype, jnp.float32)).reshape(n, groups, -1)
    mean = xc.mean(axis=2, keepdims=True)
    centered = xc - mean
    var = jnp.square(centered).mean(axis=2, keepdims=True)
    y = (centered * lax.rsqrt(var + eps)).reshape(x.shape)
    spatial = (1,) * (x.ndim - 2)
    if scale is not None:
        y = y * scale.astype(y.dtype).reshape(1, c, *spatial)
    if bias is not None:
        y = y + bias.astype(y.dtype).reshape(1, c, *spatial)
    return y.astype(x.dtype)


def instance_norm(x, mean, var, scale, bias, *, use_input_stats: bool, eps: float, who: str):
    """Normalize each (sample, channel) of (N, C, *spatial) over its spatial axes.

    Returns (output, batch_mean, unbiased_batch_var) with the statistics averaged over the
    batch (what torch folds into the running statistics), or None when ``mean`` and
    ``var`` (the running statistics) were used.

    Args:
        x: the input, (N, C, *spatial).
        mean: the running mean (C,), used when ``use_input_stats`` is False.
        var: the running variance (C,), likewise.
        scale: (C,) or None.
        bias: (C,) or None.
        use_input_stats: normalize with each instance's own statistics, else with
            ``mean`` and ``var``.
        eps: added to the variance.
        who: the caller, named in errors.
    """
    n, c = x.shape[:2]
    if use_input_stats and math.prod(x.shape[2:]) == 1:
        raise ValueError(
            f"{who}: expected more than 1 spatial element when training, got input of "
            f"shape {tuple(x.shape)}"
        )

    def tiled(a):  # per-channel -> per (sample, channel)
        return None if a is None else jnp.tile(a, n)

    # instance norm is batch norm of the (1, N*C, *spatial) view, as torch computes it
    y, batch_mean, batch_var = batch_norm(
        x.reshape(1, n * c, *x.shape[2:]),
        tiled(mean),
        tiled(var),
        tiled(scale),
        tiled(bias),
        use_batch_stats=use_input_stats,
        eps=eps,
        who=who,
    )
    if batch_mean is not None:
        batch_mean = batch_mean.reshape(n, c).mean(axis=0)
        batch_var = batch_var.reshape(n, c).mean(axis=0)
    return y.reshape(x.shape), batch_mean, batch_var


def local_response_norm(x: Array, size: int, alpha: float, beta: float, k: float, who: str):
    """x / (k + alpha * mean of x^2 over ``size`` neighbouring channels)^beta, the window
    zero-padded by size // 2 before and (size - 1) // 2 after, as torch.

    Args:
        x: the input, (N, C, *) with at least one spatial axis.
        size: the number of channels in the window.
        alpha: the multiplier of the mean square.
        beta: the exponent.
        k: the additive constant.
        who: the caller, named in errors.
    """
    if x.ndim < 3:
        raise ValueError(
            f"{who}: expected 3D or higher dimensionality input (got {x.ndim} dimensions, "
            f"shape {tuple(x.shape)})"
        )
    if x.size == 0:
        return x
    pads = [(0, 0, 0)] * x.ndim
    pads[1] = (size // 2, (size - 1) // 2, 0)
    squares = lax.pad(jnp.square(x), np.array(0, x.dtype), pads)
    window = (1, size) + (1,) * (x.ndim - 2)
    zero = np.array(0, x.dtype)
    summed = lax.reduce_window(squares, zero, lax.add, window, (1,) * x.ndim, "VALID")
    div = (summed * jnp.asarray(alpha / size, x.dtype) + jnp.asarray(k, x.dtype)) ** beta
    return x / div
