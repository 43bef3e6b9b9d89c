"""Convolution, transposed convolution and Linear as both jaxnn.functional and the layers
compute them: one implementation per operation, for any number of spatial dims, reading
torch's weight layout or Flax's."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxnn.core.args import as_batched, ntuple

__all__ = [
    "PAD_MODES",
    "conv",
    "conv_padding",
    "conv_transpose",
    "linear",
    "transpose_output_padding",
]

Array = jax.Array
Pads = tuple[tuple[int, int], ...]


def linear(x: Array, kernel: Array, bias: Array | None, precision=None) -> Array:
    """x @ kernel (+ bias) with kernel in Flax layout (in, out).

    Args:
        x: the input, (*, in).
        kernel: the weight in Flax's layout (in, out), the transpose of torch's.
        bias: (out,) or None.
        precision: XLA matmul precision (None: the backend's default).
    """
    y = lax.dot_general(x, kernel, (((x.ndim - 1,), (0,)), ((), ())), precision=precision)
    if bias is not None:
        y = y + bias.reshape((1,) * (y.ndim - 1) + (-1,))
    return y


def conv_padding(
    padding: str | int | Sequence[int],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    who: str,
) -> Pads:
    """Torch's Conv ``padding`` argument -> explicit ((lo, hi), ...) per spatial dim.

    Args:
        padding: 'valid', 'same' (an odd total goes to the high side, as torch pads;
            stride 1 only), an int or one int per spatial dim.
        kernel: the kernel's spatial size.
        stride: the stride per spatial dim.
        dilation: the dilation per spatial dim.
        who: the caller, named in errors.
    """
    n = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(
                    f"{who}: padding='same' is not supported for strided "
                    f"convolutions (stride={stride})"
                )
            # an odd total goes to the high side, as torch does
            totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
            return tuple((t // 2, t - t // 2) for t in totals)
        raise ValueError(
            f"{who}: padding must be 'valid', 'same', an int or a tuple of {n} ints, "
            f"got {padding!r}"
        )
    pads = ntuple(padding, n, f"{who}: padding")
    if min(pads) < 0:
        raise ValueError(f"{who}: padding must be non-negative, got {padding}")
    return tuple((p, p) for p in pads)


PAD_MODES = {"zeros": None, "reflect": "reflect", "replicate": "edge", "circular": "wrap"}
"""Conv's ``padding_mode`` -> ``jnp.pad``'s mode (None: zeros, padded by the convolution)."""


def _spatial_letters(n: int) -> str:
    return "DHW"[-n:] if n <= 3 else "".join(chr(ord("a") + i) for i in range(n))


def _dimension_numbers(n: int, kernel_layout: str) -> tuple[str, str, str]:
    s = _spatial_letters(n)
    rhs = "OI" + s if kernel_layout == "torch" else s + "IO"
    return ("NC" + s, rhs, "NC" + s)


def _check_layout(kernel_layout: str, who: str) -> None:
    if kernel_layout not in ("torch", "flax"):
        raise ValueError(f"{who}: kernel_layout must be 'torch' or 'flax', got {kernel_layout!r}")


def _kernel_spatial(kernel: Array, kernel_layout: str) -> tuple[int, ...]:
    return tuple(kernel.shape[2:] if kernel_layout == "torch" else kernel.shape[:-2])


def conv(
    x: Array,
    kernel: Array,
    bias: Array | None,
    *,
    kernel_layout: str,
    stride: tuple[int, ...],
    padding: Pads,
    dilation: tuple[int, ...],
    groups: int,
    padding_mode: str = "zeros",
    precision=None,
    who: str = "conv",
) -> Array:
    """N-d convolution over (N, C, *spatial) (or unbatched (C, *spatial)) input: the one
    implementation behind ``F.conv1d/2d/3d`` and ``nn.Conv1d/2d/3d``.

    Args:
        x: the input, (N, C_in, *spatial) or (C_in, *spatial).
        kernel: the weight in ``kernel_layout``.
        bias: (C_out,) or None.
        kernel_layout: 'torch' ((out, in / groups, *k)) or 'flax' ((*k, in / groups,
            out)); XLA reads either directly.
        stride: one int per spatial dim; ``len(stride)`` is the number of spatial dims.
        padding: explicit (lo, hi) per spatial dim (:func:`conv_padding`).
        dilation: one int per spatial dim.
        groups: torch's ``groups``.
        padding_mode: a key of :data:`PAD_MODES`. Default: 'zeros'.
        precision: XLA precision (None: the backend's default).
        who: the caller, named in errors. Default: 'conv'.
    """
    _check_layout(kernel_layout, who)
    if padding_mode not in PAD_MODES:
        raise ValueError(
            f"{who}: padding_mode must be one of {sorted(PAD_MODES)}, got {padding_mode!r}"
        )
    n = len(stride)
    x, unbatched = as_batched(x, n, who)
    if PAD_MODES[padding_mode] is not None and any(p for pads in padding for p in pads):
        for size, (lo, hi) in zip(x.shape[2:], padding):
            if padding_mode == "reflect" and max(lo, hi) >= size:
                raise ValueError(
                    f"{who}: reflect padding {max(lo, hi)} must be smaller than "
                    f"the input's spatial size {tuple(x.shape[2:])}"
                )
        x = jnp.pad(x, ((0, 0), (0, 0), *padding), mode=PAD_MODES[padding_mode])
        padding = ((0, 0),) * n
    ks = _kernel_spatial(kernel, kernel_layout)
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(x.shape[2:], padding))
    effective = tuple(d * (k - 1) + 1 for k, d in zip(ks, dilation))
    if any(p < e for p, e in zip(padded, effective)):
        raise ValueError(
            f"{who}: padded input size per channel {padded} is smaller than the "
            f"(dilated) kernel size {effective} (input shape {tuple(x.shape)})"
        )
    y = lax.conv_general_dilated(
        x,
        kernel,
        window_strides=stride,
        padding=padding,
        rhs_dilation=dilation,
        dimension_numbers=_dimension_numbers(n, kernel_layout),
        feature_group_count=groups,
        precision=precision,
    )
    if bias is not None:
        y = y + bias.reshape(1, -1, *(1,) * n)
    return y[0] if unbatched else y


# ----------------------------------------------------------------------------- transposed


def transpose_output_padding(
    spatial: tuple[int, ...],
    output_size: Sequence[int] | None,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    dilation: tuple[int, ...],
    output_padding: tuple[int, ...],
    batched: bool,
    who: str,
) -> tuple[int, ...]:
    """Torch's ``_output_padding``: the output_padding that makes a transposed convolution
    of input ``spatial`` produce ``output_size`` (its spatial dims, or all dims), else
    ``output_padding`` unchanged.

    Args:
        spatial: the input's spatial size.
        output_size: the size asked for (torch's ``output_size`` call argument), or None.
        kernel: the kernel's spatial size.
        stride: the stride per spatial dim.
        padding: the padding per spatial dim.
        dilation: the dilation per spatial dim.
        output_padding: the layer's own ``output_padding``, returned when
            ``output_size`` is None.
        batched: the input has a batch dim (so ``output_size`` may have n + 2 entries,
            else n + 1).
        who: the caller, named in errors.

    Raises:
        ValueError: ``output_size`` has another length, or no output padding reaches it.
    """
    if output_size is None:
        return output_padding
    n, leading = len(kernel), 2 if batched else 1  # (N, C) or (C,) before the spatial dims
    output_size = [int(s) for s in output_size]
    if len(output_size) == n + leading:
        output_size = output_size[leading:]
    if len(output_size) != n:
        raise ValueError(
            f"{who}: for {n + leading}-D input, output_size must have {n} or {n + leading} "
            f"elements (got {len(output_size)})"
        )
    smallest = [
        (i - 1) * s - 2 * p + d * (k - 1) + 1
        for i, k, s, p, d in zip(spatial, kernel, stride, padding, dilation)
    ]
    largest = [m + s - 1 for m, s in zip(smallest, stride)]
    if any(not lo <= o <= hi for o, lo, hi in zip(output_size, smallest, largest)):
        raise ValueError(
            f"{who}: requested an output size of {tuple(output_size)}, but valid sizes range "
            f"from {smallest} to {largest} (for an input of {tuple(spatial)})"
        )
    return tuple(o - m for o, m in zip(output_size, smallest))


def _phase_taps(r: int, k: int, s: int, p: int, d: int) -> tuple[list[int], int, int]:
    """For outputs o = s q + r of a 1-d transposed convolution: the kernel taps that reach
    them (descending, so their input offsets ascend), the first input offset, and the
    spacing of the offsets. y[s q + r] = sum_j x[q + first + j step] w[taps[j]]."""
    taps = [t for t in range(k - 1, -1, -1) if (r + p - t * d) % s == 0]
    step = d // math.gcd(s, d)
    first = (r + p - taps[0] * d) // s if taps else 0
    return taps, first, step


def _pad_spatial(x: Array, pads: Pads, interior: tuple[int, ...] | None = None) -> Array:
    """Zero-pad the spatial dims of ``x`` (``interior`` zeros between elements); negative
    pads crop, past what a side holds too (the result is then the other side's zeros)."""
    interior = interior or (0,) * len(pads)
    config = [(0, 0, 0), (0, 0, 0), *((lo, hi, i) for (lo, hi), i in zip(pads, interior))]
    return lax.pad(x, np.array(0, x.dtype), config)


# Transposed convolutions whose strides multiply past this run as one input-dilated
# convolution instead of one small convolution per output phase (compile time ~ phases).
MAX_PHASES = 16


def conv_transpose(
    x: Array,
    kernel: Array,
    bias: Array | None,
    *,
    kernel_layout: str,
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    output_padding: tuple[int, ...],
    dilation: tuple[int, ...],
    groups: int,
    precision=None,
    who: str = "conv_transpose",
) -> Array:
    """N-d transposed convolution (the adjoint of :func:`conv` with the same kernel), the
    one implementation behind ``F.conv_transpose1d/2d/3d`` and ``nn.ConvTranspose1d/2d/3d``.

    The output has length (L - 1) s - 2 p + d (k - 1) + output_padding + 1 per dim.

    Each output phase (o mod stride) is an ordinary stride-1 convolution of the input with
    the kernel taps that reach it, and the phases are interleaved. XLA:CPU runs the
    input-dilated convolution of the textbook formulation, and above all its gradient,
    several times slower (benchmarks/RESULTS.md); above MAX_PHASES phases that formulation
    is used anyway, for compile time.

    Args:
        x: the input, (N, C_in, *spatial) or (C_in, *spatial).
        kernel: the kernel of the convolution this is the adjoint of: 'torch' layout
            (in, out / groups, *k) -- torch's ConvTranspose weight -- or 'flax'
            (*k, out / groups, in).
        bias: (C_out,) or None.
        kernel_layout: 'torch' or 'flax'.
        stride: one int per spatial dim; ``len(stride)`` is the number of spatial dims.
        padding: one int per spatial dim, removed from both ends of the output.
        output_padding: one int per spatial dim, added to the high end of the output.
        dilation: one int per spatial dim.
        groups: torch's ``groups``.
        precision: XLA precision (None: the backend's default).
        who: the caller, named in errors. Default: 'conv_transpose'.
    """
    _check_layout(kernel_layout, who)
    n = len(stride)
    x, unbatched = as_batched(x, n, who)
    # (*k, out / groups, in) whichever layout came in
    k = kernel if kernel_layout == "flax" else jnp.moveaxis(kernel, (0, 1), (-1, -2))
    ks = k.shape[:n]
    c_in, c_out = x.shape[1], k.shape[-2] * groups
    for o, s, d in zip(output_padding, stride, dilation):
        if not (o < s or o < d):
            raise ValueError(
                f"{who}: output padding must be smaller than either stride or dilation, "
                f"got output_padding={output_padding}, stride={stride}, dilation={dilation}"
            )
    out = tuple(
        (i - 1) * s - 2 * p + d * (kk - 1) + o + 1
        for i, kk, s, p, d, o in zip(x.shape[2:], ks, stride, padding, dilation, output_padding)
    )
    if min(out) < 1:
        raise ValueError(
            f"{who}: the output would have size {out} for input {tuple(x.shape)} "
            f"(kernel {ks}, stride {stride}, padding {padding}, dilation {dilation})"
        )
    # regroup to the forward-convolution kernel (*k, in / groups, out) that maps the
    # ``in`` channels of x to ``out``: output channel g * (out / groups) + o
    k = k.reshape(*ks, c_out // groups, groups, c_in // groups)
    k = jnp.swapaxes(k, -3, -1).reshape(*ks, c_in // groups, c_out)
    dn = _dimension_numbers(n, "flax")
    if math.prod(stride) > MAX_PHASES:
        pads = tuple(
            (d * (kk - 1) - p, d * (kk - 1) - p + o)
            for kk, p, d, o in zip(ks, padding, dilation, output_padding)
        )
        y = lax.conv_general_dilated(
            _pad_spatial(x, pads, tuple(s - 1 for s in stride)),
            lax.rev(k, tuple(range(n))),
            (1,) * n,
            ((0, 0),) * n,
            rhs_dilation=dilation,
            dimension_numbers=dn,
            feature_group_count=groups,
            precision=precision,
        )
    else:
        y = _phase_conv_transpose(x, k, ks, stride, padding, dilation, out, groups, precision)
    if bias is not None:
        y = y + bias.reshape(1, -1, *(1,) * n)
    return y[0] if unbatched else y


def _phase_conv_transpose(x, k, ks, stride, padding, dilation, out, groups, precision):
    n = len(stride)
    batch, c_out = x.shape[0], k.shape[-1]
    counts = tuple(-(-o // s) for o, s in zip(out, stride))  # outputs per phase, at most
    flipped = lax.rev(k, tuple(range(n)))  # descending taps are ascending slices of this
    phases = []
    for rs in itertools.product(*(range(s) for s in stride)):
        taps = [
            _phase_taps(r, kk, s, p, d) for r, kk, s, p, d in zip(rs, ks, stride, padding, dilation)
        ]
        if any(not t for t, _, _ in taps):  # no tap reaches these outputs
            phases.append(jnp.zeros((batch, c_out, *counts), x.dtype))
            continue
        sub = lax.slice(
            flipped,
            (*(kk - 1 - t[0] for kk, (t, _, _) in zip(ks, taps)), 0, 0),
            (*(kk - t[-1] for kk, (t, _, _) in zip(ks, taps)), *k.shape[-2:]),
            (*(t[0] - t[1] if len(t) > 1 else 1 for t, _, _ in taps), 1, 1),
        )
        # positions q = 0 .. counts - 1 of the phase: the last may lie past the output,
        # it is cropped after interleaving
        pads = tuple(
            (-first, q - 1 + first + (len(t) - 1) * step - (size - 1))
            for (t, first, step), q, size in zip(taps, counts, x.shape[2:])
        )
        phases.append(
            lax.conv_general_dilated(
                _pad_spatial(x, pads),
                sub,
                (1,) * n,
                ((0, 0),) * n,
                rhs_dilation=tuple(step for _, _, step in taps),
                dimension_numbers=_dimension_numbers(n, "flax"),
                feature_group_count=groups,
                precision=precision,
            )
        )
    # (N, C, *counts, *stride) -> (N, C, q0, r0, q1, r1, ...) -> (N, C, *counts * stride)
    y = jnp.stack(phases, axis=-1).reshape(batch, c_out, *counts, *stride)
    order = [0, 1, *(a for i in range(n) for a in (2 + i, 2 + n + i))]
    y = y.transpose(order).reshape(batch, c_out, *(q * s for q, s in zip(counts, stride)))
    return lax.slice(y, (0,) * (n + 2), (batch, c_out, *out))
