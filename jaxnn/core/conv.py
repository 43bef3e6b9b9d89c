"""Convolution (and Linear) as both jaxnn.functional and the layers compute them: one
implementation that reads torch's weight layout or Flax's."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from jaxnn.core.args import IntOr2, as_batched_image, pair

__all__ = ["PAD_MODES", "conv2d", "conv_padding", "linear"]

Array = jax.Array


def linear(x: Array, kernel: Array, bias: Array | None, precision=None) -> Array:
    """x @ kernel (+ bias) with kernel in Flax layout (in, out)."""
    y = lax.dot_general(x, kernel, (((x.ndim - 1,), (0,)), ((), ())), precision=precision)
    if bias is not None:
        y = y + bias.reshape((1,) * (y.ndim - 1) + (-1,))
    return y


def conv_padding(
    padding: str | IntOr2,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    who: str,
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Torch's Conv2d ``padding`` argument -> explicit ((top, bottom), (left, right))."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0), (0, 0))
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(
                    f"{who}: padding='same' is not supported for strided "
                    f"convolutions (stride={stride})"
                )
            pads = []
            for k, d in zip(kernel, dilation):
                total = d * (k - 1)
                pads.append((total // 2, total - total // 2))
            return (pads[0], pads[1])
        raise ValueError(
            f"{who}: padding must be 'valid', 'same', an int or a pair of ints, got {padding!r}"
        )
    ph, pw = pair(padding, f"{who}: padding")
    if ph < 0 or pw < 0:
        raise ValueError(f"{who}: padding must be non-negative, got {padding}")
    return ((ph, ph), (pw, pw))


PAD_MODES = {"zeros": None, "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def conv2d(
    x: Array,
    kernel: Array,
    bias: Array | None,
    *,
    kernel_layout: str,
    stride: tuple[int, int],
    padding: tuple[tuple[int, int], tuple[int, int]],
    dilation: tuple[int, int],
    groups: int,
    padding_mode: str = "zeros",
    precision=None,
    who: str = "conv2d",
) -> Array:
    """NCHW convolution, the one implementation behind ``F.conv2d`` and ``nn.Conv2d``.

    ``kernel_layout`` is 'OIHW' (torch) or 'HWIO' (Flax); XLA reads either directly.
    """
    if padding_mode not in PAD_MODES:
        raise ValueError(
            f"{who}: padding_mode must be one of {sorted(PAD_MODES)}, got {padding_mode!r}"
        )
    x, unbatched = as_batched_image(x, who)
    if PAD_MODES[padding_mode] is not None and any(p for pair in padding for p in pair):
        (pt, pb), (pl, pr) = padding
        for size, (lo, hi) in zip(x.shape[2:], padding):
            if padding_mode == "reflect" and max(lo, hi) >= size:
                raise ValueError(
                    f"{who}: reflect padding {max(lo, hi)} must be smaller than "
                    f"the input's spatial size {tuple(x.shape[2:])}"
                )
        x = jnp.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), mode=PAD_MODES[padding_mode])
        padding = ((0, 0), (0, 0))
    hw = kernel.shape[:2] if kernel_layout == "HWIO" else kernel.shape[2:]
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(x.shape[2:], padding))
    effective = tuple(d * (k - 1) + 1 for k, d in zip(hw, dilation))
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
        dimension_numbers=("NCHW", kernel_layout, "NCHW"),
        feature_group_count=groups,
        precision=precision,
    )
    if bias is not None:
        y = y + bias.reshape(1, -1, 1, 1)
    return y[0] if unbatched else y
