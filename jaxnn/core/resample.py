"""torch's F.interpolate: output sizes, source indices and weights computed as torch
computes them (float32 index arithmetic included), shared by jaxnn.functional and the
upsampling layers. Every mode is separable: one gather-and-weigh per spatial axis."""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn.core import pooling

__all__ = ["MODES", "interpolate", "output_size"]

Array = jax.Array

MODES = {
    "nearest": None,
    "nearest-exact": None,
    "area": None,
    "linear": 3,
    "bilinear": 4,
    "bicubic": 4,
    "trilinear": 5,
}
"""F.interpolate's modes -> the input rank each needs (None: any of 3, 4, 5)."""
_INTERPOLATING = ("linear", "bilinear", "bicubic", "trilinear")
_CUBIC_A = -0.75  # torch's bicubic convolution coefficient


def output_size(
    spatial: tuple[int, ...],
    size: int | Sequence[int] | None,
    scale_factor: float | Sequence[float] | None,
    who: str,
) -> tuple[tuple[int, ...], tuple[float, ...] | None]:
    """The output's spatial size and the scale factors given (or None).

    Args:
        spatial: the input's spatial size.
        size: the output size: an int for every dim or one per dim. Exactly one of
            ``size`` and ``scale_factor`` is given.
        scale_factor: a float for every dim or one per dim; the output size is
            floor(L * scale).
        who: the caller, named in errors.
    """
    n = len(spatial)
    if (size is None) == (scale_factor is None):
        raise ValueError(
            f"{who}: "
            + (
                "only one of size or scale_factor should be defined"
                if size is not None
                else "either size or scale_factor should be defined"
            )
        )
    if size is not None:
        sizes = (size,) * n if isinstance(size, (int, np.integer)) else tuple(size)
        if len(sizes) != n:
            raise ValueError(
                f"{who}: input with {n} spatial dims needs size of length {n}, got {size!r}"
            )
        if min(sizes) < 1:
            raise ValueError(f"{who}: size must be positive, got {size!r}")
        return tuple(int(s) for s in sizes), None
    if isinstance(scale_factor, Sequence):
        scales = tuple(float(s) for s in scale_factor)
        if len(scales) != n:
            raise ValueError(
                f"{who}: input with {n} spatial dims needs scale_factor of length {n}, "
                f"got {scale_factor!r}"
            )
    else:
        scales = (float(scale_factor),) * n
    out = tuple(math.floor(float(s) * f) for s, f in zip(spatial, scales))
    if min(out) < 1:
        raise ValueError(
            f"{who}: scale_factor {scale_factor!r} gives an empty output {out} for input "
            f"spatial size {spatial}"
        )
    return out, scales


def _scale(size: int, out: int, align_corners: bool, scale: float | None) -> np.float32:
    """torch's area_pixel_compute_scale, in float32 as its CPU kernels compute it."""
    if align_corners:
        return np.float32((size - 1) / (out - 1)) if out > 1 else np.float32(0)
    if scale is not None and scale > 0:
        return np.float32(1.0 / scale)
    return np.float32(size) / np.float32(out)


def _nearest(size, out, scale, exact, shortcuts) -> tuple[np.ndarray, np.ndarray]:
    dst = np.arange(out, dtype=np.float32)
    s = (
        np.float32(1.0 / scale)
        if scale is not None and scale > 0
        else np.float32(size) / np.float32(out)
    )
    if exact:
        src = np.floor((dst + np.float32(0.5)) * s)
    elif shortcuts and out == size:
        src = dst
    elif shortcuts and out == 2 * size:
        src = np.floor(dst / 2)
    else:
        src = np.floor(dst * s)
    return np.minimum(src.astype(np.int64), size - 1)[:, None], np.ones((out, 1), np.float32)


def _linear(size, out, align_corners, scale) -> tuple[np.ndarray, np.ndarray]:
    s = _scale(size, out, align_corners, scale)
    dst = np.arange(out, dtype=np.float32)
    if align_corners:
        src = s * dst
    else:
        src = np.maximum(s * (dst + np.float32(0.5)) - np.float32(0.5), np.float32(0))
    i0 = src.astype(np.int64)  # src >= 0: truncation is floor
    i1 = np.where(i0 < size - 1, i0 + 1, i0)
    w1 = (src - i0.astype(np.float32)).astype(np.float32)
    return np.stack([i0, i1], 1), np.stack([np.float32(1) - w1, w1], 1)


def _cubic(size, out, align_corners, scale) -> tuple[np.ndarray, np.ndarray]:
    s = _scale(size, out, align_corners, scale)
    dst = np.arange(out, dtype=np.float32)
    src = s * dst if align_corners else s * (dst + np.float32(0.5)) - np.float32(0.5)
    i = np.floor(src).astype(np.int64)
    t = (src - i.astype(np.float32)).astype(np.float32)
    a = np.float32(_CUBIC_A)

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    weights = np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], 1).astype(np.float32)
    # torch reads outside the input as its border value
    idx = np.clip(np.stack([i - 1, i, i + 1, i + 2], 1), 0, size - 1)
    return idx, weights


def interpolate(
    x: Array,
    size: int | Sequence[int] | None,
    scale_factor: float | Sequence[float] | None,
    mode: str,
    align_corners: bool | None,
    recompute_scale_factor: bool | None,
    who: str,
) -> Array:
    """torch's F.interpolate on (N, C, *spatial) input (1 to 3 spatial dims).

    Args:
        x: the input, (N, C, *spatial).
        size: as :func:`output_size`'s.
        scale_factor: as :func:`output_size`'s.
        mode: a key of :data:`MODES`.
        align_corners: for the interpolating modes only: map the corner pixels' centres
            onto each other (None: False).
        recompute_scale_factor: sample with L / L_out rather than 1 / ``scale_factor``.
        who: the caller, named in errors.
    """
    if mode not in MODES:
        raise NotImplementedError(
            f"{who}: mode {mode!r} is not supported; use one of {', '.join(MODES)}"
        )
    if align_corners is not None and mode not in _INTERPOLATING:
        raise ValueError(
            f"{who}: align_corners option can only be set with the interpolating modes: "
            "linear | bilinear | bicubic | trilinear"
        )
    if x.ndim not in (3, 4, 5) or (MODES[mode] is not None and x.ndim != MODES[mode]):
        need = "3-D, 4-D or 5-D" if MODES[mode] is None else f"{MODES[mode]}-D"
        raise ValueError(
            f"{who}: mode {mode!r} needs {need} input (N, C, *spatial), got shape {tuple(x.shape)}"
        )
    spatial = tuple(x.shape[2:])
    out, scales = output_size(spatial, size, scale_factor, who)
    if mode == "area":
        return pooling.adaptive_avg_pool(x, out, len(spatial), who)
    if recompute_scale_factor or scales is None:
        scales = (None,) * len(spatial)
    y = x
    for axis, (s, o, f) in enumerate(zip(spatial, out, scales), start=2):
        if mode in ("nearest", "nearest-exact"):
            # torch's 2-D nearest kernel maps same and double sizes exactly; its 1-D and
            # 3-D kernels use the scale there too (they differ when a scale_factor is given)
            idx, w = _nearest(s, o, f, mode == "nearest-exact", len(spatial) == 2)
        elif mode == "bicubic":
            idx, w = _cubic(s, o, bool(align_corners), f)
        else:
            idx, w = _linear(s, o, bool(align_corners), f)
        y = _gather_weigh(y, axis, idx, w)
    return y


def _gather_weigh(x: Array, axis: int, idx: np.ndarray, w: np.ndarray) -> Array:
    """out[..., o, ...] = sum_j x[..., idx[o, j], ...] * w[o, j] along ``axis``."""
    if idx.shape[1] == 1:
        return jnp.take(x, jnp.asarray(idx[:, 0]), axis=axis)
    shape = [1] * x.ndim
    shape[axis] = -1
    y = None
    for j in range(idx.shape[1]):
        term = jnp.take(x, jnp.asarray(idx[:, j]), axis=axis) * jnp.asarray(
            w[:, j].reshape(shape), x.dtype
        )
        y = term if y is None else y + term
    return y
