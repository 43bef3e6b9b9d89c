"""Conv2d."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import linen
from flax.linen.dtypes import promote_dtype

from jaxnn import init
from jaxnn.core import conv
from jaxnn.core.args import pair
from jaxnn.layers.module import Module

__all__ = ["Conv2d"]


class Conv2d(Module):
    """2-D convolution over NCHW input, torch's ``nn.Conv2d``.

    Args:
        in_channels: channels of the input.
        out_channels: channels produced.
        kernel_size: int or (kH, kW).
        stride: int or (sH, sW). Default: 1.
        padding: int, (pH, pW), 'valid' or 'same' (stride 1 only; an odd total pad goes
            to the bottom/right, as torch). Default: 0 -- unlike Flax's 'SAME'.
        dilation: int or (dH, dW). Default: 1.
        groups: blocked connections from input to output channels; both channel counts
            must divide by it. Default: 1.
        bias: learn an additive bias. Default: True.
        padding_mode: 'zeros', 'reflect', 'replicate' or 'circular'. Default: 'zeros'.
        weight_init: Flax initializer of the kernel. Default: torch's
            U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels / groups * kH * kW.
        bias_init: Flax initializer of the bias. Default: torch's, the same bound.
        dtype: computation dtype (None: promote input and parameters).
        param_dtype: parameter dtype. Default: float32.
        precision: XLA convolution precision (None: backend default).

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

    in_channels: int
    out_channels: int
    kernel_size: int | tuple[int, int]
    stride: int | tuple[int, int] = 1
    padding: str | int | tuple[int, int] = 0
    dilation: int | tuple[int, int] = 1
    groups: int = 1
    bias: bool = True
    padding_mode: str = "zeros"
    weight_init: init.Initializer | None = None
    bias_init: init.Initializer | None = None
    dtype: Any = None
    param_dtype: Any = jnp.float32
    precision: Any = None

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
        if self.padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(
                f"{name}: padding_mode must be one of 'zeros', 'reflect', "
                f"'replicate', 'circular', got {self.padding_mode!r}"
            )
        kernel, stride = pair(self.kernel_size, "kernel_size"), pair(self.stride, "stride")
        dilation = pair(self.dilation, "dilation")
        if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1:
            raise ValueError(
                f"{name}: kernel_size, stride and dilation must be positive, got "
                f"{kernel}, {stride}, {dilation}"
            )
        conv.conv_padding(self.padding, kernel, stride, dilation, name)
        super().__post_init__()

    @linen.compact
    def __call__(self, input: jax.Array) -> jax.Array:
        if input.ndim not in (3, 4) or input.shape[-3] != self.in_channels:
            raise ValueError(
                f"{self._who()}: expected input of shape (N, {self.in_channels}, H, W) or "
                f"({self.in_channels}, H, W), got {tuple(input.shape)}"
            )
        kh, kw = pair(self.kernel_size, "kernel_size")
        stride, dilation = pair(self.stride, "stride"), pair(self.dilation, "dilation")
        fan_in = self.in_channels // self.groups * kh * kw
        kernel = self.param(
            "kernel",
            self.weight_init or init.default_weight_init(),
            (kh, kw, self.in_channels // self.groups, self.out_channels),
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
        return conv.conv2d(
            x,
            kernel,
            bias,
            kernel_layout="HWIO",
            stride=stride,
            padding=conv.conv_padding(self.padding, (kh, kw), stride, dilation, self._who()),
            dilation=dilation,
            groups=self.groups,
            padding_mode=self.padding_mode,
            precision=self.precision,
            who=self._who(),
        )

    def extra_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, "
            f"kernel_size={pair(self.kernel_size, 'kernel_size')}, "
            f"stride={pair(self.stride, 'stride')}"
        )
        if self.padding != 0:
            padding = (
                self.padding if isinstance(self.padding, str) else pair(self.padding, "padding")
            )
            s += f", padding={padding}"
        if pair(self.dilation, "dilation") != (1, 1):
            s += f", dilation={pair(self.dilation, 'dilation')}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if not self.bias:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s
