"""Pooling with torch's rules (output sizes, ceil_mode, divisors, adaptive bins, the
gradient of max on ties), shared by jaxnn.functional and the pooling layers. Windows are
given as explicit (h, w) pairs; the callers parse torch's int-or-pair arguments."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxnn.core.args import as_batched_image

__all__ = [
    "adaptive_avg_pool2d",
    "adaptive_max_pool2d",
    "avg_pool2d",
    "check_pool_args",
    "check_pool_fits",
    "max_pool2d",
    "pool_output_size",
]

Array = jax.Array


def pool_output_size(
    size: int, kernel: int, stride: int, pad: int, dilation: int, ceil_mode: bool
) -> int:
    """Torch's pooling output length, including its ceil_mode rule that the last
    window must start inside the input or the left padding."""
    span = size + 2 * pad - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def check_pool_args(who: str, kernel, stride, padding, dilation=(1, 1)) -> None:
    for name, value, least in (
        ("kernel_size", kernel, 1),
        ("stride", stride, 1),
        ("dilation", dilation, 1),
        ("padding", padding, 0),
    ):
        if min(value) < least:
            raise ValueError(f"{who}: {name} must be >= {least}, got {value}")
    for k, d, p in zip(kernel, dilation, padding):
        if p > (d * (k - 1) + 1) // 2:
            raise ValueError(
                f"{who}: padding {padding} should be at most half of the effective "
                f"kernel size {tuple(d * (kk - 1) + 1 for kk, d in zip(kernel, dilation))}"
            )


def check_pool_fits(who: str, spatial, out) -> None:
    if min(out) < 1:
        raise ValueError(
            f"{who}: input of spatial size {tuple(spatial)} is too small; "
            f"the output would be {tuple(out)}"
        )


def max_pool2d(x, kernel, stride, padding, dilation, ceil_mode, who):
    x, unbatched = as_batched_image(x, who)
    check_pool_args(who, kernel, stride, padding, dilation)
    spatial = x.shape[2:]
    out = tuple(
        pool_output_size(s, k, st, p, d, ceil_mode)
        for s, k, st, p, d in zip(spatial, kernel, stride, padding, dilation)
    )
    check_pool_fits(who, spatial, out)
    # right padding long enough for the last window torch's ceil_mode admits
    pads = [(0, 0), (0, 0)]
    for s, k, st, p, d, o in zip(spatial, kernel, stride, padding, dilation, out):
        pads.append((p, max((o - 1) * st + d * (k - 1) + 1 - s - p, 0)))
    if jnp.issubdtype(x.dtype, jnp.floating):
        lowest = np.array(-np.inf, x.dtype)
    else:
        lowest = np.array(np.iinfo(x.dtype).min, x.dtype)
    if kernel[0] * kernel[1] > _MAX_WINDOW_VIEWS:
        # a concrete (numpy) init value: under jit a jnp scalar is a tracer, and
        # reduce_window then falls back to a generic reduction that has no gradient
        y = lax.reduce_window(
            x,
            lowest,
            lax.max,
            (1, 1, *kernel),
            (1, 1, *stride),
            pads,
            window_dilation=(1, 1, *dilation),
        )[:, :, : out[0], : out[1]]
    else:
        xp = lax.pad(x, lowest, [(lo, hi, 0) for lo, hi in pads])
        y = _window_max(xp, tuple(kernel), tuple(stride), tuple(dilation), out)
    return y[0] if unbatched else y


# Windows larger than this (global pooling of a big map, say) use XLA's reduce_window,
# which compiles to one loop, instead of one strided view per window offset.
_MAX_WINDOW_VIEWS = 64


def _window_views(xp, kernel, stride, dilation, out) -> list[Array]:
    """One strided view of padded ``xp`` per window offset, each shaped like the output,
    in torch's scan order (rows, then columns)."""
    n, c = xp.shape[:2]
    views = []
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            start = (0, 0, i * dilation[0], j * dilation[1])
            stop = (n, c, *(s + (o - 1) * st + 1 for s, o, st in zip(start[2:], out, stride)))
            views.append(lax.slice(xp, start, stop, (1, 1, *stride)))
    return views


# Max pooling as an elementwise maximum over the window's strided views, with a JVP that
# routes each output's tangent to the one input torch's backward picks: the first maximum
# in window order on ties, the last NaN in a window holding NaNs. Its transpose (the
# backward) is a masked pad-and-add per window offset. XLA's own gradient of reduce_window
# max (select_and_scatter) was several times slower on CPU (benchmarks/RESULTS.md).
@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2, 3, 4))
def _window_max(xp, kernel, stride, dilation, out):
    views = _window_views(xp, kernel, stride, dilation, out)
    y = views[0]
    for v in views[1:]:
        y = lax.max(y, v)
    return y


@_window_max.defjvp
def _window_max_jvp(kernel, stride, dilation, out, primals, tangents):
    (xp,), (dxp,) = primals, tangents
    y = _window_max(xp, kernel, stride, dilation, out)
    views = _window_views(xp, kernel, stride, dilation, out)
    dviews = _window_views(dxp, kernel, stride, dilation, out)
    nan = jnp.isnan(y) if jnp.issubdtype(y.dtype, jnp.floating) else None
    taken = jnp.zeros(y.shape, bool)
    dy = jnp.zeros(y.shape, dxp.dtype)
    for v, dv in zip(views, dviews):
        pick = (v == y) & ~taken
        taken = taken | pick
        if nan is not None:  # a later NaN overrides an earlier one, as in torch's scan
            pick = jnp.where(nan, jnp.isnan(v), pick)
        dy = jnp.where(pick, dv, dy)
    return y, dy


def _avg_divisor(size, kernel, stride, pad, out, count_include_pad) -> np.ndarray:
    """Torch's per-position average-pool divisor along one axis (static numpy)."""
    start = np.arange(out) * stride - pad
    end = np.minimum(start + kernel, size + pad)
    if count_include_pad:
        return (end - start).astype(np.float64)
    return (np.minimum(end, size) - np.maximum(start, 0)).astype(np.float64)


def avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override, who):
    x, unbatched = as_batched_image(x, who)
    check_pool_args(who, kernel, stride, padding)
    if divisor_override is not None and divisor_override == 0:
        raise ValueError(f"{who}: divisor_override must be non-zero")
    spatial = x.shape[2:]
    out = tuple(
        pool_output_size(s, k, st, p, 1, ceil_mode)
        for s, k, st, p in zip(spatial, kernel, stride, padding)
    )
    check_pool_fits(who, spatial, out)
    pads = [(0, 0), (0, 0)]
    for s, k, st, p, o in zip(spatial, kernel, stride, padding, out):
        pads.append((p, max((o - 1) * st + k - s - p, 0)))
    summed = lax.reduce_window(
        x, np.array(0, x.dtype), lax.add, (1, 1, *kernel), (1, 1, *stride), pads
    )
    summed = summed[:, :, : out[0], : out[1]]
    if divisor_override is not None:
        y = summed / jnp.asarray(divisor_override, x.dtype)
    else:
        dh, dw = (
            _avg_divisor(s, k, st, p, o, count_include_pad)
            for s, k, st, p, o in zip(spatial, kernel, stride, padding, out)
        )
        if np.all(dh == dh[0]) and np.all(dw == dw[0]):
            y = summed / jnp.asarray(dh[0] * dw[0], x.dtype)
        else:
            y = summed / jnp.asarray(np.outer(dh, dw)[None, None], x.dtype)
    return y[0] if unbatched else y


def _adaptive_output_size(output_size, spatial, who) -> tuple[int, int]:
    if isinstance(output_size, (int, np.integer)) or output_size is None:
        output_size = (output_size, output_size)
    if not (isinstance(output_size, Sequence) and len(output_size) == 2):
        raise TypeError(f"{who}: output_size must be an int, None or a pair, got {output_size!r}")
    sizes = tuple(s if o is None else int(o) for o, s in zip(output_size, spatial))
    if min(sizes) < 1:
        raise ValueError(f"{who}: output_size must be positive, got {output_size}")
    return sizes


def _adaptive_bins(size: int, out: int) -> list[tuple[int, int]]:
    """Torch's adaptive pooling bins: [floor(i*size/out), ceil((i+1)*size/out))."""
    return [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]


def adaptive_avg_pool2d(x, output_size, who):
    x, unbatched = as_batched_image(x, who)
    h, w = x.shape[2:]
    oh, ow = _adaptive_output_size(output_size, (h, w), who)
    if (oh, ow) == (h, w):
        y = x
    elif h % oh == 0 and w % ow == 0:
        kh, kw = h // oh, w // ow
        y = lax.reduce_window(
            x, np.array(0, x.dtype), lax.add, (1, 1, kh, kw), (1, 1, kh, kw), "VALID"
        ) / jnp.asarray(kh * kw, x.dtype)
    else:
        # bins overlap or repeat (also when the output is larger than the input):
        # average with a static (out, in) matrix per axis
        def averaging(size, out):
            m = np.zeros((out, size), np.float32)
            for i, (s, e) in enumerate(_adaptive_bins(size, out)):
                m[i, s:e] = 1.0 / (e - s)
            return jnp.asarray(m, x.dtype)

        y = jnp.einsum(
            "nchw,oh,pw->ncop",
            x,
            averaging(h, oh),
            averaging(w, ow),
            precision=lax.Precision.HIGHEST,
        )
    return y[0] if unbatched else y


def adaptive_max_pool2d(x, output_size, who):
    x, unbatched = as_batched_image(x, who)
    h, w = x.shape[2:]
    oh, ow = _adaptive_output_size(output_size, (h, w), who)
    if h % oh == 0 and w % ow == 0:
        y = max_pool2d(x, (h // oh, w // ow), (h // oh, w // ow), (0, 0), (1, 1), False, who)
    else:
        rows = jnp.stack([x[:, :, s:e].max(axis=2) for s, e in _adaptive_bins(h, oh)], axis=2)
        y = jnp.stack([rows[..., s:e].max(axis=3) for s, e in _adaptive_bins(w, ow)], axis=3)
    return y[0] if unbatched else y
