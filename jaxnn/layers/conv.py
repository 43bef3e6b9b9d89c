"""Conv1d, Conv2d, Conv3d."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from flax import linen
from flax.linen.dtypes import promote_dtype

from jaxnn import init
from jaxnn.core import conv
from jaxnn.core.args import as_batched, ntuple
from jaxnn.layers.module import Module

__all__ = ["Conv1d", "Conv2d", "Conv3d"]

IntOrTuple = int | tuple[int, ...]


class _ConvNd(Module):
    """The convolution of ``spatial_dims`` spatial dims; Conv1d/2d/3d fix that number."""

    spatial_dims: ClassVar[int]

    in_channels: int
    out_channels: int
    kernel_size: IntOrTuple
    stride: IntOrTuple = 1
    padding: str | IntOrTuple = 0
    dilation: IntOrTuple = 1
    groups: int = 1
    bias: bool = True
    padding_mode: str = "zeros"
    weight_init: init.Initializer | None = None
    bias_init: init.Initializer | None = None
    dtype: Any = None
    param_dtype: Any = jnp.float32
    precision: Any = None

    def _tuple(self, value: Any, name: str) -> tuple[int, ...]:
        return ntuple(value, self.spatial_dims, f"{type(self).__name__}: {name}")

    def __post_init__(self) -> None:
        name = type(self).__name__
        if self.groups <= 0:
            raise ValueError(f"{name}: groups must be a positive integer, got {self.groups}")
        if self.in_channels % self.groups:
            raise ValueError(
                f"{name}: in_channels ({self.in_channels}) must be divisible by "
                f"groups ({self.groups})"
            )
        if self.out_channels % self.groups:
            raise ValueError(
                f"{name}: out_channels ({self.out_channels}) must be divisible by "
                f"groups ({self.groups})"
            )
        if self.padding_mode not in conv.PAD_MODES:
            raise ValueError(
                f"{name}: padding_mode must be one of 'zeros', 'reflect', "
                f"'replicate', 'circular', got {self.padding_mode!r}"
            )
        kernel, stride = (
            self._tuple(self.kernel_size, "kernel_size"),
            self._tuple(self.stride, "stride"),
        )
        dilation = self._tuple(self.dilation, "dilation")
        if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1:
            raise ValueError(
                f"{name}: kernel_size, stride and dilation must be positive, got "
                f"{kernel}, {stride}, {dilation}"
            )
        conv.conv_padding(self.padding, kernel, stride, dilation, name)
        super().__post_init__()

    @linen.compact
    def __call__(self, input: jax.Array) -> jax.Array:
        as_batched(input, self.spatial_dims, self._who(), self.in_channels)  # checks the shape
        kernel_size = self._tuple(self.kernel_size, "kernel_size")
        stride, dilation = (
            self._tuple(self.stride, "stride"),
            self._tuple(self.dilation, "dilation"),
        )
        fan_in = self.in_channels // self.groups * math.prod(kernel_size)
        kernel = self.param(
            "kernel",
            self.weight_init or init.default_weight_init(),
            (*kernel_size, self.in_channels // self.groups, self.out_channels),
            self.param_dtype,
        )
        bias = None
        if self.bias:
            bias = self.param(
                "bias",
                self.bias_init or init.default_bias_init(fan_in),
                (self.out_channels,),
                self.param_dtype,
            )
        x, kernel, bias = promote_dtype(input, kernel, bias, dtype=self.dtype)
        return conv.conv(
            x,
            kernel,
            bias,
            kernel_layout="flax",
            stride=stride,
            padding=conv.conv_padding(self.padding, kernel_size, stride, dilation, self._who()),
            dilation=dilation,
            groups=self.groups,
            padding_mode=self.padding_mode,
            precision=self.precision,
            who=self._who(),
        )

    def extra_repr(self) -> str:
        n = self.spatial_dims
        s = (
            f"{self.in_channels}, {self.out_channels}, "
            f"kernel_size={self._tuple(self.kernel_size, 'kernel_size')}, "
            f"stride={self._tuple(self.stride, 'stride')}"
        )
        if isinstance(self.padding, str):
            s += f", padding={self.padding}"
        elif self._tuple(self.padding, "padding") != (0,) * n:
            s += f", padding={self._tuple(self.padding, 'padding')}"
        if self._tuple(self.dilation, "dilation") != (1,) * n:
            s += f", dilation={self._tuple(self.dilation, 'dilation')}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if not self.bias:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


_ARGS = """
    Args:
        in_channels: channels of the input.
        out_channels: channels produced.
        kernel_size: int or a tuple of one int per spatial dim.
        stride: int or tuple. Default: 1.
        padding: int, tuple, 'valid' or 'same' (stride 1 only; an odd total pad goes to
            the high side, as torch). Default: 0 -- unlike Flax's 'SAME'.
        dilation: int or tuple. Default: 1.
        groups: blocked connections from input to output channels; both channel counts
            must divide by it. Default: 1.
        bias: learn an additive bias. Default: True.
        padding_mode: 'zeros', 'reflect', 'replicate' or 'circular'. Default: 'zeros'.
        weight_init: Flax initializer of the kernel. Default: torch's
            U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels / groups * prod(k).
        bias_init: Flax initializer of the bias. Default: torch's, the same bound.
        dtype: computation dtype (None: promote input and parameters).
        param_dtype: parameter dtype. Default: float32.
        precision: XLA convolution precision (None: backend default).
"""


class Conv1d(_ConvNd):
    __doc__ = f"""1-D convolution over (N, C, L) input, torch's ``nn.Conv1d``.
{_ARGS}
    Shape:
        input (N, C_in, L) or (C_in, L) -> (N, C_out, L_out), with
        L_out = floor((L + 2 p - d (k - 1) - 1) / s) + 1.

    Variables: ``params/kernel`` (k, in_channels / groups, out_channels) -- Flax's
    layout; torch's ``weight`` is its (out, in, k) transpose -- and ``params/bias``.

    Example::

        >>> conv = nn.Conv1d(16, 33, 3, stride=2)
        >>> variables = conv.init(jax.random.key(0), jnp.ones((20, 16, 50)))
        >>> conv.apply(variables, jnp.ones((20, 16, 50))).shape
        (20, 33, 24)
    """

    spatial_dims: ClassVar[int] = 1


class Conv2d(_ConvNd):
    __doc__ = f"""2-D convolution over NCHW input, torch's ``nn.Conv2d``.
{_ARGS}
    Shape:
        input (N, C_in, H, W) or (C_in, H, W) -> (N, C_out, H_out, W_out), with
        H_out = floor((H + 2 pH - dH (kH - 1) - 1) / sH) + 1.

    Variables: ``params/kernel`` (kH, kW, in_channels / groups, out_channels) -- Flax's
    HWIO layout; torch's ``weight`` is its OIHW transpose -- and ``params/bias``.

    Example::

        >>> conv = nn.Conv2d(3, 6, 5)
        >>> variables = conv.init(jax.random.key(0), jnp.ones((1, 3, 32, 32)))
        >>> conv.apply(variables, jnp.ones((1, 3, 32, 32))).shape
        (1, 6, 28, 28)
    """

    spatial_dims: ClassVar[int] = 2


class Conv3d(_ConvNd):
    __doc__ = f"""3-D convolution over NCDHW input, torch's ``nn.Conv3d``.
{_ARGS}
    Shape:
        input (N, C_in, D, H, W) or (C_in, D, H, W) -> (N, C_out, D_out, H_out, W_out),
        each as Conv2d's.

    Variables: ``params/kernel`` (kD, kH, kW, in_channels / groups, out_channels) --
    Flax's DHWIO layout; torch's ``weight`` is its OIDHW transpose -- and ``params/bias``.

    Example::

        >>> conv = nn.Conv3d(16, 33, 3, stride=2)
        >>> variables = conv.init(jax.random.key(0), jnp.ones((2, 16, 10, 10, 10)))
        >>> conv.apply(variables, jnp.ones((2, 16, 10, 10, 10))).shape
        (2, 33, 4, 4, 4)
    """

    spatial_dims: ClassVar[int] = 3
