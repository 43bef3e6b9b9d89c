"""MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, AdaptiveMaxPool2d (NCHW, torch's rules)."""

from __future__ import annotations

import jax

from jaxnn.core import pooling
from jaxnn.core.args import pair
from jaxnn.layers.module import Module

__all__ = ["AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "AvgPool2d", "MaxPool2d"]

IntOr2 = int | tuple[int, int]


class MaxPool2d(Module):
    """2-D max pooling, torch's ``nn.MaxPool2d``.

    Args:
        kernel_size: int or (kH, kW).
        stride: Default: ``kernel_size`` (Flax's default is 1).
        padding: implicit -inf padding on both sides; at most half the kernel.
        dilation: spacing between window elements. Default: 1.
        ceil_mode: use ceil instead of floor for the output size; a window must still
            start inside the input or the left padding. Default: False.

    Shape:
        (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out),
        H_out = floor_or_ceil((H + 2 pH - dH (kH - 1) - 1) / sH) + 1.
    """

    kernel_size: IntOr2
    stride: IntOr2 | None = None
    padding: IntOr2 = 0
    dilation: IntOr2 = 1
    ceil_mode: bool = False

    def _args(self):
        kernel = pair(self.kernel_size, "kernel_size")
        stride = kernel if self.stride is None else pair(self.stride, "stride")
        return kernel, stride, pair(self.padding, "padding"), pair(self.dilation, "dilation")

    def __post_init__(self) -> None:
        pooling.check_pool_args(type(self).__name__, *self._args())
        super().__post_init__()

    def __call__(self, input: jax.Array) -> jax.Array:
        return pooling.max_pool2d(input, *self._args(), self.ceil_mode, self._who())

    def extra_repr(self) -> str:
        stride = self.kernel_size if self.stride is None else self.stride
        return (
            f"kernel_size={self.kernel_size}, stride={stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class AvgPool2d(Module):
    """2-D average pooling, torch's ``nn.AvgPool2d``.

    Args:
        kernel_size: int or (kH, kW).
        stride: Default: ``kernel_size``.
        padding: implicit zero padding on both sides; at most half the kernel.
        ceil_mode: ceil instead of floor for the output size. Default: False.
        count_include_pad: count the zero padding in the divisor (the part of a
            ceil_mode window beyond the padding never counts). Default: True.
        divisor_override: divide every window sum by this instead. Default: None.

    Shape:
        (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out).
    """

    kernel_size: IntOr2
    stride: IntOr2 | None = None
    padding: IntOr2 = 0
    ceil_mode: bool = False
    count_include_pad: bool = True
    divisor_override: int | None = None

    def _args(self):
        kernel = pair(self.kernel_size, "kernel_size")
        stride = kernel if self.stride is None else pair(self.stride, "stride")
        return kernel, stride, pair(self.padding, "padding")

    def __post_init__(self) -> None:
        pooling.check_pool_args(type(self).__name__, *self._args())
        if self.divisor_override is not None and self.divisor_override == 0:
            raise ValueError("AvgPool2d: divisor_override must be non-zero")
        super().__post_init__()

    def __call__(self, input: jax.Array) -> jax.Array:
        return pooling.avg_pool2d(
            input,
            *self._args(),
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
            self._who(),
        )

    def extra_repr(self) -> str:
        stride = self.kernel_size if self.stride is None else self.stride
        return f"kernel_size={self.kernel_size}, stride={stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size, torch's ``nn.AdaptiveAvgPool2d``.

    Bin i along an axis of length L covers [floor(i L / out), ceil((i + 1) L / out)), so
    an output larger than the input repeats input elements, as in torch.

    Args:
        output_size: int, or (oH, oW) where None keeps that input dimension.

    Shape:
        (N, C, H, W) or (C, H, W) -> (N, C, oH, oW).
    """

    output_size: int | tuple[int | None, int | None]

    def __call__(self, input: jax.Array) -> jax.Array:
        return pooling.adaptive_avg_pool2d(input, self.output_size, self._who())

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(Module):
    """Max pooling to a fixed output size over torch's adaptive bins.

    Args:
        output_size: int, or (oH, oW) where None keeps that input dimension.

    Shape:
        (N, C, H, W) or (C, H, W) -> (N, C, oH, oW).
    """

    output_size: int | tuple[int | None, int | None]

    def __call__(self, input: jax.Array) -> jax.Array:
        return pooling.adaptive_max_pool2d(input, self.output_size, self._who())

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
