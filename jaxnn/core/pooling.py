"""Pooling with torch's rules (output sizes, ceil_mode, divisors, adaptive bins, the
gradient of max on ties, max indices and unpooling), shared by jaxnn.functional and the
pooling layers, for any number of spatial dims. Windows are given as explicit tuples with
one entry per spatial dim; the callers parse torch's int-or-tuple arguments."""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxnn.core.args import as_batched

__all__ = [
    "adaptive_avg_pool",
    "adaptive_max_pool",
    "avg_pool",
    "check_pool_args",
    "check_pool_fits",
    "max_pool",
    "max_unpool",
    "pool_output_size",
    "unpool_output_size",
]

Array = jax.Array


def pool_output_size(
    size: int, kernel: int, stride: int, pad: int, dilation: int, ceil_mode: bool
) -> int:
    """Torch's pooling output length, including its ceil_mode rule that the last
    window must start inside the input or the left padding.

    Args:
        size: the input's length along the dim.
        kernel: the window's length.
        stride: the step between windows.
        pad: the padding on each side.
        dilation: the spacing of the window's elements.
        ceil_mode: round the window count up, not down.
    """
    span = size + 2 * pad - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def check_pool_args(who: str, kernel, stride, padding, dilation=None) -> None:
    """torch's checks of a pooling window: kernel, stride and dilation >= 1, padding >= 0
    and at most half the effective (dilated) kernel.

    Args:
        who: the caller, named in errors.
        kernel: the window, one int per spatial dim.
        stride: one int per spatial dim.
        padding: one int per spatial dim.
        dilation: one int per spatial dim. Default: None (1 for each).

    Raises:
        ValueError: naming the argument that breaks its rule.
    """
    dilation = dilation or (1,) * len(kernel)
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
    """An error unless every output size is at least 1.

    Args:
        who: the caller, named in errors.
        spatial: the input's spatial size.
        out: the output's spatial size (:func:`pool_output_size` per dim).
    """
    if min(out) < 1:
        raise ValueError(
            f"{who}: input of spatial size {tuple(spatial)} is too small; "
            f"the output would be {tuple(out)}"
        )


def _lowest(dtype) -> np.ndarray:
    if jnp.issubdtype(dtype, jnp.floating):
        return np.array(-np.inf, dtype)
    return np.array(np.iinfo(dtype).min, dtype)


# Windows larger than this (global pooling of a big map, say) use XLA's reduce_window,
# which compiles to one loop, instead of one strided view per window offset.
_MAX_WINDOW_VIEWS = 64


def max_pool(x, kernel, stride, padding, dilation, ceil_mode, who, return_indices=False):
    """Max pooling over the last ``len(kernel)`` dims of (N, C, *S) or (C, *S).

    Args:
        x: the input, (N, C, *S) or (C, *S).
        kernel: the window, one int per spatial dim.
        stride: one int per spatial dim.
        padding: one int per spatial dim, filled with the dtype's lowest value (-inf).
        dilation: one int per spatial dim.
        ceil_mode: torch's ceil_mode output size.
        who: the caller, named in errors.
        return_indices: also return torch's indices: for each output, the flat position
            (row-major over S) of the input element it took, as int32. Default: False.
    """
    n = len(kernel)
    x, unbatched = as_batched(x, n, who)
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
    lowest = _lowest(x.dtype)
    args = (tuple(kernel), tuple(stride), tuple(dilation), out)
    if math.prod(kernel) > _MAX_WINDOW_VIEWS:
        # a concrete (numpy) init value: under jit a jnp scalar is a tracer, and
        # reduce_window then falls back to a generic reduction that has no gradient
        y = lax.reduce_window(
            x, lowest, lax.max, (1, 1, *kernel), (1, 1, *stride), pads,
            window_dilation=(1, 1, *dilation),
        )[(..., *(slice(0, o) for o in out))]  # fmt: skip
    else:
        y = _window_max(lax.pad(x, lowest, [(lo, hi, 0) for lo, hi in pads]), *args)
    if not return_indices:
        return y[0] if unbatched else y
    xp = lax.pad(lax.stop_gradient(x), lowest, [(lo, hi, 0) for lo, hi in pads])
    idx = _window_argmax(xp, *args, tuple(padding), spatial)
    return (y[0], idx[0]) if unbatched else (y, idx)


def _window_offsets(kernel) -> list[tuple[int, ...]]:
    """Every offset of a window, in torch's scan order (row-major)."""
    return list(itertools.product(*(range(k) for k in kernel)))


def _window_views(xp, kernel, stride, dilation, out) -> list[Array]:
    """One strided view of padded ``xp`` per window offset, each shaped like the output,
    in torch's scan order."""
    n, c = xp.shape[:2]
    views = []
    for offset in _window_offsets(kernel):
        start = (0, 0, *(j * d for j, d in zip(offset, dilation)))
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


def _window_argmax(xp, kernel, stride, dilation, out, padding, spatial) -> Array:
    """torch's max indices: scanning each window in order, an element replaces the
    current pick when it is greater or NaN (so the first maximum, or the last NaN); a
    window of -inf keeps its first element inside the input."""
    grid = np.meshgrid(*(np.arange(o) for o in out), indexing="ij")
    starts = [g * s - p for g, s, p in zip(grid, stride, padding)]

    def flat(coords) -> Array:  # row-major position in the unpadded input
        return jnp.asarray(np.ravel_multi_index(coords, spatial, mode="clip"), jnp.int32)

    inside = [np.where(a < 0, a + (-a + d - 1) // d * d, a) for a, d in zip(starts, dilation)]
    idx = jnp.broadcast_to(flat(inside), xp.shape[:2] + out)
    best = jnp.full(xp.shape[:2] + out, _lowest(xp.dtype))
    floating = jnp.issubdtype(xp.dtype, jnp.floating)
    views = _window_views(xp, kernel, stride, dilation, out)
    for offset, v in zip(_window_offsets(kernel), views):
        pick = (v > best) | jnp.isnan(v) if floating else v > best
        best = jnp.where(pick, v, best)
        idx = jnp.where(pick, flat([a + j * d for a, j, d in zip(starts, offset, dilation)]), idx)
    return idx


def _avg_divisor(size, kernel, stride, pad, out, count_include_pad) -> np.ndarray:
    """Torch's per-position average-pool divisor along one axis (static numpy)."""
    start = np.arange(out) * stride - pad
    end = np.minimum(start + kernel, size + pad)
    if count_include_pad:
        return (end - start).astype(np.float64)
    return (np.minimum(end, size) - np.maximum(start, 0)).astype(np.float64)


def avg_pool(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override, who):
    """Average pooling over the last ``len(kernel)`` dims with torch's divisors.

    Args:
        x: the input, (N, C, *S) or (C, *S).
        kernel: the window, one int per spatial dim.
        stride: one int per spatial dim.
        padding: one int per spatial dim, zero-filled.
        ceil_mode: torch's ceil_mode output size.
        count_include_pad: divide by the window's size including its padding (but not
            the part past the padding that ceil_mode admits), else by the input
            elements it covers.
        divisor_override: divide every sum by this instead (None: the rule above).
        who: the caller, named in errors.
    """
    n = len(kernel)
    x, unbatched = as_batched(x, n, who)
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
    summed = summed[(..., *(slice(0, o) for o in out))]
    if divisor_override is not None:
        y = summed / jnp.asarray(divisor_override, x.dtype)
    else:
        divisors = [
            _avg_divisor(s, k, st, p, o, count_include_pad)
            for s, k, st, p, o in zip(spatial, kernel, stride, padding, out)
        ]
        if all(np.all(d == d[0]) for d in divisors):
            y = summed / jnp.asarray(math.prod(d[0] for d in divisors), x.dtype)
        else:
            grid = functools.reduce(np.multiply.outer, divisors)
            y = summed / jnp.asarray(grid[None, None], x.dtype)
    return y[0] if unbatched else y


def _adaptive_output_size(output_size, spatial, who) -> tuple[int, ...]:
    n = len(spatial)
    if isinstance(output_size, (int, np.integer)) or output_size is None:
        output_size = (output_size,) * n
    if not (isinstance(output_size, Sequence) and len(output_size) == n):
        raise TypeError(
            f"{who}: output_size must be an int, None or a tuple of {n}, got {output_size!r}"
        )
    sizes = tuple(s if o is None else int(o) for o, s in zip(output_size, spatial))
    if min(sizes) < 1:
        raise ValueError(f"{who}: output_size must be positive, got {output_size}")
    return sizes


def _adaptive_bins(size: int, out: int) -> list[tuple[int, int]]:
    """Torch's adaptive pooling bins: [floor(i*size/out), ceil((i+1)*size/out))."""
    return [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]


def adaptive_avg_pool(x, output_size, spatial_dims, who):
    """Average over torch's adaptive bins of the last ``spatial_dims`` dims.

    Args:
        x: the input, (N, C, *S) or (C, *S).
        output_size: an int, None (keep the input's size) or one of those per spatial dim.
        spatial_dims: the number of spatial dims.
        who: the caller, named in errors.
    """
    x, unbatched = as_batched(x, spatial_dims, who)
    spatial = x.shape[2:]
    out = _adaptive_output_size(output_size, spatial, who)
    if out == spatial:
        y = x
    elif all(s % o == 0 for s, o in zip(spatial, out)):
        k = tuple(s // o for s, o in zip(spatial, out))
        y = lax.reduce_window(
            x, np.array(0, x.dtype), lax.add, (1, 1, *k), (1, 1, *k), "VALID"
        ) / jnp.asarray(math.prod(k), x.dtype)
    else:
        # bins overlap or repeat (also when the output is larger than the input):
        # average with a static (out, in) matrix per axis
        y = x
        for axis, (size, o) in enumerate(zip(spatial, out), start=2):
            m = np.zeros((o, size), np.float32)
            for i, (s, e) in enumerate(_adaptive_bins(size, o)):
                m[i, s:e] = 1.0 / (e - s)
            y = jnp.moveaxis(
                jnp.tensordot(y, jnp.asarray(m, x.dtype), ((axis,), (1,)),
                              precision=lax.Precision.HIGHEST),
                -1, axis,
            )  # fmt: skip
    return y[0] if unbatched else y


def adaptive_max_pool(x, output_size, spatial_dims, who, return_indices=False):
    """Max over torch's adaptive bins of the last ``spatial_dims`` dims.

    Args:
        x: the input, (N, C, *S) or (C, *S).
        output_size: an int, None (keep the input's size) or one of those per spatial dim.
        spatial_dims: the number of spatial dims.
        who: the caller, named in errors.
        return_indices: also return torch's flat indices, as :func:`max_pool` does.
            Default: False.
    """
    x, unbatched = as_batched(x, spatial_dims, who)
    spatial = x.shape[2:]
    out = _adaptive_output_size(output_size, spatial, who)
    n = spatial_dims
    if all(s % o == 0 for s, o in zip(spatial, out)):
        k = tuple(s // o for s, o in zip(spatial, out))
        y = max_pool(x, k, k, (0,) * n, (1,) * n, False, who, return_indices)
    elif return_indices:
        y = _adaptive_max_with_indices(x, spatial, out)
    else:
        y = x
        for axis, (size, o) in enumerate(zip(spatial, out), start=2):
            parts = [
                lax.slice_in_dim(y, s, e, axis=axis).max(axis=axis, keepdims=True)
                for s, e in _adaptive_bins(size, o)
            ]
            y = jnp.concatenate(parts, axis=axis)
    if unbatched:
        return tuple(a[0] for a in y) if return_indices else y[0]
    return y


def _adaptive_max_with_indices(x, spatial, out):
    """Adaptive max with torch's indices and the gradient on the indexed element only:
    each bin padded to the widest bin with -inf, scanned as :func:`max_pool` scans."""
    bins = [_adaptive_bins(s, o) for s, o in zip(spatial, out)]
    widest = [max(e - s for s, e in b) for b in bins]
    best = jnp.full(x.shape[:2] + tuple(out), _lowest(x.dtype))
    idx = jnp.zeros(x.shape[:2] + tuple(out), jnp.int32)
    flat_x = x.reshape(*x.shape[:2], -1)
    floating = jnp.issubdtype(x.dtype, jnp.floating)
    for offset in itertools.product(*(range(w) for w in widest)):
        coords, valid = [], np.ones(out, bool)
        for axis, (b, j) in enumerate(zip(bins, offset)):
            starts = np.array([s for s, _ in b])
            ends = np.array([e for _, e in b])
            shape = [1] * len(out)
            shape[axis] = -1
            coords.append(np.minimum(starts + j, ends - 1).reshape(shape))
            valid = valid & (starts + j < ends).reshape(shape)
        where = np.broadcast_to(np.ravel_multi_index(coords, spatial), out)
        v = jnp.where(valid, jnp.take(flat_x, where.reshape(-1), axis=2).reshape(best.shape),
                      _lowest(x.dtype))  # fmt: skip
        pick = (v > best) | jnp.isnan(v) if floating else v > best
        best = jnp.where(pick, v, best)
        idx = jnp.where(pick, jnp.asarray(where, jnp.int32), idx)
    values = jnp.take_along_axis(flat_x, idx.reshape(*idx.shape[:2], -1), axis=2)
    return values.reshape(idx.shape), idx


def unpool_output_size(spatial, kernel, stride, padding, output_size, who) -> tuple[int, ...]:
    """Torch's ``_unpool_output_size``: (L - 1) s - 2 p + k per dim, or ``output_size``
    (its last ``len(kernel)`` entries) when it lies strictly within a stride of that.

    Args:
        spatial: the pooled input's spatial size.
        kernel: the pooling window, one int per spatial dim.
        stride: one int per spatial dim.
        padding: one int per spatial dim.
        output_size: the size asked for, n or n + 2 entries, or None.
        who: the caller, named in errors.
    """
    n = len(kernel)
    default = tuple((i - 1) * s - 2 * p + k for i, k, s, p in zip(spatial, kernel, stride, padding))
    if output_size is None:
        return default
    sizes = tuple(int(o) for o in output_size)
    if len(sizes) == n + 2:
        sizes = sizes[2:]
    if len(sizes) != n:
        raise ValueError(
            f"{who}: output_size should be a sequence containing {n} or {n + 2} elements, "
            f"but it has a length of '{len(sizes)}'"
        )
    for d, (o, m, s) in enumerate(zip(sizes, default, stride)):
        if not m - s < o < m + s:
            raise ValueError(
                f'{who}: invalid output_size "{sizes}" (dim {d} must be between '
                f"{m - s} and {m + s})"
            )
    return sizes


def max_unpool(x, indices, kernel, stride, padding, output_size, who):
    """torch's max_unpool: each value placed at its flat index in a zero output of
    :func:`unpool_output_size`. Indices out of range are dropped (torch raises; a traced
    index cannot be checked).

    Args:
        x: the pooled values, (N, C, *S) or (C, *S).
        indices: integer flat indices into the output's spatial dims, x's shape
            (:func:`max_pool`'s ``return_indices``).
        kernel: the pooling window, one int per spatial dim.
        stride: one int per spatial dim.
        padding: one int per spatial dim.
        output_size: as :func:`unpool_output_size`'s.
        who: the caller, named in errors.
    """
    n = len(kernel)
    x, unbatched = as_batched(x, n, who)
    if tuple(indices.shape) != tuple(x.shape[-indices.ndim :]) or indices.ndim not in (
        n + 1,
        n + 2,
    ):
        raise ValueError(
            f"{who}: indices of shape {tuple(indices.shape)} do not match the input's shape "
            f"{tuple(x.shape[1:] if unbatched else x.shape)}"
        )
    indices = indices.reshape(x.shape)
    out = unpool_output_size(x.shape[2:], kernel, stride, padding, output_size, who)
    if not jnp.issubdtype(indices.dtype, jnp.integer):
        raise TypeError(f"{who}: indices must be integers, got dtype {indices.dtype}")
    batch, channels = x.shape[:2]
    flat = indices.reshape(batch, channels, -1)
    y = _scatter(x.reshape(batch, channels, -1), flat, math.prod(out))
    y = y.reshape(batch, channels, *out)
    return y[0] if unbatched else y


# torch's backward of max_unpool gathers the output gradient at every index, so values
# that share an index (overlapping pooling windows) all receive it; the gradient of a
# scatter would give it to the one value written.
@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _scatter(values: Array, flat: Array, size: int) -> Array:
    batch, channels = values.shape[:2]
    b = jnp.arange(batch)[:, None, None]
    c = jnp.arange(channels)[None, :, None]
    zeros = jnp.zeros((batch, channels, size), values.dtype)
    return zeros.at[b, c, flat].set(values, mode="drop")


def _scatter_fwd(values, flat, size):
    return _scatter(values, flat, size), flat


def _scatter_bwd(size, flat, ct):
    return jnp.take_along_axis(ct, flat, axis=2, mode="fill", fill_value=0), None


_scatter.defvjp(_scatter_fwd, _scatter_bwd)
