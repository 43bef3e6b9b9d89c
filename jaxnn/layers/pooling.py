"""Max, average and adaptive pooling in 1-D and 2-D, and max unpooling (torch's rules)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import jax

from jaxnn.core import pooling
from jaxnn.core.args import ntuple
from jaxnn.layers.module import Module

__all__ = [
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "AvgPool1d",
    "AvgPool2d",
    "MaxPool1d",
    "MaxPool2d",
    "MaxUnpool1d",
    "MaxUnpool2d",
]

IntOrTuple = int | tuple[int, ...]


class _MaxPoolNd(Module):
    spatial_dims: ClassVar[int]

    kernel_size: IntOrTuple
    stride: IntOrTuple | None = None
    padding: IntOrTuple = 0
    dilation: IntOrTuple = 1
    return_indices: bool = False
    ceil_mode: bool = False

    def _args(self):
        n, who = self.spatial_dims, type(self).__name__
        kernel = ntuple(self.kernel_size, n, f"{who}: kernel_size")
        stride = kernel if self.stride is None else ntuple(self.stride, n, f"{who}: stride")
        padding = ntuple(self.padding, n, f"{who}: padding")
        return kernel, stride, padding, ntuple(self.dilation, n, f"{who}: dilation")

    def __post_init__(self) -> None:
        pooling.check_pool_args(type(self).__name__, *self._args())
        super().__post_init__()

    def __call__(self, input: jax.Array) -> jax.Array | tuple[jax.Array, jax.Array]:
        return pooling.max_pool(
            input, *self._args(), self.ceil_mode, self._who(), self.return_indices
        )

    def extra_repr(self) -> str:
        stride = self.kernel_size if self.stride is None else self.stride
        return (
            f"kernel_size={self.kernel_size}, stride={stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


_MAX_ARGS = """
    Args:
        kernel_size: the window, an int or one int per spatial dim.
        stride: Default: ``kernel_size`` (Flax's default is 1).
        padding: implicit -inf padding on both sides; at most half the kernel.
        dilation: spacing between window elements. Default: 1.
        return_indices: also return torch's indices of the maxima (flat over the
            input's spatial dims, int32), for ``MaxUnpool``. Default: False.
        ceil_mode: use ceil instead of floor for the output size; a window must still
            start inside the input or the left padding. Default: False.
"""


class MaxPool1d(_MaxPoolNd):
    __doc__ = f"""1-D max pooling, torch's ``nn.MaxPool1d``.
{_MAX_ARGS}
    Shape:
        (N, C, L) or (C, L) -> (N, C, L_out),
        L_out = floor_or_ceil((L + 2 p - d (k - 1) - 1) / s) + 1.
    """

    spatial_dims: ClassVar[int] = 1


class MaxPool2d(_MaxPoolNd):
    __doc__ = f"""2-D max pooling, torch's ``nn.MaxPool2d``.
{_MAX_ARGS}
    Shape:
        (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out),
        H_out = floor_or_ceil((H + 2 pH - dH (kH - 1) - 1) / sH) + 1.
    """

    spatial_dims: ClassVar[int] = 2


class _AvgPoolNd(Module):
    spatial_dims: ClassVar[int]

    kernel_size: IntOrTuple
    stride: IntOrTuple | None = None
    padding: IntOrTuple = 0
    ceil_mode: bool = False
    count_include_pad: bool = True
    divisor_override: int | None = None

    def _args(self):
        n, who = self.spatial_dims, type(self).__name__
        kernel = ntuple(self.kernel_size, n, f"{who}: kernel_size")
        stride = kernel if self.stride is None else ntuple(self.stride, n, f"{who}: stride")
        return kernel, stride, ntuple(self.padding, n, f"{who}: padding")

    def __post_init__(self) -> None:
        pooling.check_pool_args(type(self).__name__, *self._args())
        if self.divisor_override is not None and self.divisor_override == 0:
            raise ValueError(f"{type(self).__name__}: divisor_override must be non-zero")
        super().__post_init__()

    def __call__(self, input: jax.Array) -> jax.Array:
        return pooling.avg_pool(
            input,
            *self._args(),
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
            self._who(),
        )


class AvgPool1d(_AvgPoolNd):
    """1-D average pooling, torch's ``nn.AvgPool1d``.

    Args:
        kernel_size: the window length.
        stride: Default: ``kernel_size``.
        padding: implicit zero padding on both sides; at most half the kernel.
        ceil_mode: ceil instead of floor for the output size. Default: False.
        count_include_pad: count the zero padding in the divisor. Default: True.
        divisor_override: divide every window sum by this instead (a jaxnn extra;
            torch's AvgPool1d has none). Default: None.

    Shape:
        (N, C, L) or (C, L) -> (N, C, L_out).
    """

    spatial_dims: ClassVar[int] = 1

    def extra_repr(self) -> str:
        kernel, stride, padding = self._args()
        return f"kernel_size={kernel}, stride={stride}, padding={padding}"


class AvgPool2d(_AvgPoolNd):
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

    spatial_dims: ClassVar[int] = 2

    def extra_repr(self) -> str:
        stride = self.kernel_size if self.stride is None else self.stride
        return f"kernel_size={self.kernel_size}, stride={stride}, padding={self.padding}"


class _AdaptivePoolNd(Module):
    spatial_dims: ClassVar[int]

    output_size: int | Sequence[int | None] | None

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptivePoolNd):
    """Average pooling to a fixed output length, torch's ``nn.AdaptiveAvgPool1d``.

    Bin i of an input of length L covers [floor(i L / out), ceil((i + 1) L / out)).

    Args:
        output_size: the output length.

    Shape:
        (N, C, L) or (C, L) -> (N, C, output_size).
    """

    spatial_dims: ClassVar[int] = 1

    def __call__(self, input: jax.Array) -> jax.Array:
        return pooling.adaptive_avg_pool(input, self.output_size, 1, self._who())


class AdaptiveAvgPool2d(_AdaptivePoolNd):
    """Average pooling to a fixed output size, torch's ``nn.AdaptiveAvgPool2d``.

    Bin i along an axis of length L covers [floor(i L / out), ceil((i + 1) L / out)), so
    an output larger than the input repeats input elements, as in torch.

    Args:
        output_size: int, or (oH, oW) where None keeps that input dimension.

    Shape:
        (N, C, H, W) or (C, H, W) -> (N, C, oH, oW).
    """

    spatial_dims: ClassVar[int] = 2

    def __call__(self, input: jax.Array) -> jax.Array:
        return pooling.adaptive_avg_pool(input, self.output_size, 2, self._who())


class _AdaptiveMaxPoolNd(_AdaptivePoolNd):
    return_indices: bool = False

    def __call__(self, input: jax.Array) -> jax.Array | tuple[jax.Array, jax.Array]:
        return pooling.adaptive_max_pool(
            input, self.output_size, self.spatial_dims, self._who(), self.return_indices
        )


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """Max pooling to a fixed output length over torch's adaptive bins.

    Args:
        output_size: the output length.
        return_indices: also return torch's indices of the maxima (int32). Default: False.

    Shape:
        (N, C, L) or (C, L) -> (N, C, output_size).
    """

    spatial_dims: ClassVar[int] = 1


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """Max pooling to a fixed output size over torch's adaptive bins.

    Args:
        output_size: int, or (oH, oW) where None keeps that input dimension.
        return_indices: also return torch's flat indices of the maxima (int32).
            Default: False.

    Shape:
        (N, C, H, W) or (C, H, W) -> (N, C, oH, oW).
    """

    spatial_dims: ClassVar[int] = 2


class _MaxUnpoolNd(Module):
    spatial_dims: ClassVar[int]

    kernel_size: IntOrTuple
    stride: IntOrTuple | None = None
    padding: IntOrTuple = 0

    def _args(self):
        n, who = self.spatial_dims, type(self).__name__
        kernel = ntuple(self.kernel_size, n, f"{who}: kernel_size")
        stride = kernel if self.stride is None else ntuple(self.stride, n, f"{who}: stride")
        return kernel, stride, ntuple(self.padding, n, f"{who}: padding")

    def __call__(
        self, input: jax.Array, indices: jax.Array, output_size: Sequence[int] | None = None
    ) -> jax.Array:
        return pooling.max_unpool(input, indices, *self._args(), output_size, self._who())

    def extra_repr(self) -> str:
        kernel, stride, padding = self._args()
        return f"kernel_size={kernel}, stride={stride}, padding={padding}"


_UNPOOL = """
    Args:
        kernel_size: the pooling window.
        stride: Default: ``kernel_size``.
        padding: the pooling's padding. Default: 0.

    Call: ``unpool(input, indices, output_size=None)`` with the indices the pooling
    returned; ``output_size`` picks among the sizes the pooling maps to the same size.
    Indices out of range are dropped (torch raises; a traced index cannot be checked).
"""


class MaxUnpool1d(_MaxUnpoolNd):
    __doc__ = f"""The partial inverse of ``MaxPool1d``: each value at its index, zeros
    elsewhere, torch's ``nn.MaxUnpool1d``.
{_UNPOOL}
    Shape:
        (N, C, L) or (C, L) -> (N, C, (L - 1) s - 2 p + k).
    """

    spatial_dims: ClassVar[int] = 1


class MaxUnpool2d(_MaxUnpoolNd):
    __doc__ = f"""The partial inverse of ``MaxPool2d``: each value at its flat index,
    zeros elsewhere, torch's ``nn.MaxUnpool2d``.
{_UNPOOL}
    Shape:
        (N, C, H, W) or (C, H, W) -> (N, C, (H - 1) sH - 2 pH + kH, (W - 1) sW - 2 pW + kW).
    """

    spatial_dims: ClassVar[int] = 2
