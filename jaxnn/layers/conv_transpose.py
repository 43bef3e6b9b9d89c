"""ConvTranspose1d, ConvTranspose2d, ConvTranspose3d."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from flax import linen
from flax.linen.dtypes import promote_dtype

from jaxnn import init
from jaxnn.core import conv
from jaxnn.core.args import as_batched, ntuple
from jaxnn.layers.module import Module

__all__ = ["ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"]

IntOrTuple = int | tuple[int, ...]


class _ConvTransposeNd(Module):
    """The transposed convolution of ``spatial_dims`` spatial dims."""

    spatial_dims: ClassVar[int]

    in_channels: int
    out_channels: int
    kernel_size: IntOrTuple
    stride: IntOrTuple = 1
    padding: IntOrTuple = 0
    output_padding: IntOrTuple = 0
    groups: int = 1
    bias: bool = True
    dilation: IntOrTuple = 1
    padding_mode: str = "zeros"
    weight_init: init.Initializer | None = None
    bias_init: init.Initializer | None = None
    dtype: Any = None
    param_dtype: Any = jnp.float32
    precision: Any = None

    def _tuple(self, value: Any, name: str) -> tuple[int, ...]:
        return ntuple(value, self.spatial_dims, f"{type(self).__name__}: {name}")

    def _args(self) -> dict[str, tuple[int, ...]]:
        names = ("kernel_size", "stride", "padding", "output_padding", "dilation")
        return {name: self._tuple(getattr(self, name), name) for name in names}

    def __post_init__(self) -> None:
        name = type(self).__name__
        if self.padding_mode != "zeros":
            raise ValueError(f'{name}: only "zeros" padding mode is supported, got '
                             f"{self.padding_mode!r}")  # fmt: skip
        if isinstance(self.padding, str):
            raise ValueError(f"{name}: padding must be an int or a tuple of ints, got "
                             f"{self.padding!r}")  # fmt: skip
        if self.groups <= 0:
            raise ValueError(f"{name}: groups must be a positive integer, got {self.groups}")
        for what in ("in_channels", "out_channels"):
            if getattr(self, what) % self.groups:
                raise ValueError(
                    f"{name}: {what} ({getattr(self, what)}) must be divisible by "
                    f"groups ({self.groups})"
                )
        a = self._args()
        if min(a["kernel_size"] + a["stride"] + a["dilation"]) < 1:
            raise ValueError(
                f"{name}: kernel_size, stride and dilation must be positive, got "
                f"{a['kernel_size']}, {a['stride']}, {a['dilation']}"
            )
        if min(a["padding"] + a["output_padding"]) < 0:
            raise ValueError(
                f"{name}: padding and output_padding must be non-negative, got "
                f"{a['padding']}, {a['output_padding']}"
            )
        for o, s, d in zip(a["output_padding"], a["stride"], a["dilation"]):
            if not (o < s or o < d):
                raise ValueError(
                    f"{name}: output padding must be smaller than either stride or dilation, "
                    f"got output_padding={a['output_padding']}, stride={a['stride']}, "
                    f"dilation={a['dilation']}"
                )
        super().__post_init__()

    @linen.compact
    def __call__(self, input: jax.Array, output_size: Sequence[int] | None = None) -> jax.Array:
        """Args:
        input: (N, C_in, *S) or (C_in, *S).
        output_size: the output's spatial size (or its full shape): picks the
            output_padding that gives it, among the sizes the stride maps to S.
        """
        x, _ = as_batched(input, self.spatial_dims, self._who(), self.in_channels)
        a = self._args()
        output_padding = conv.transpose_output_padding(
            tuple(x.shape[2:]), output_size, a["kernel_size"], a["stride"], a["padding"],
            a["dilation"], a["output_padding"], input.ndim == self.spatial_dims + 2, self._who(),
        )  # fmt: skip
        # the kernel of the convolution this is the adjoint of, in Flax's layout: torch's
        # (in, out / groups, *k) weight is its transpose, as for any convolution
        kernel = self.param(
            "kernel",
            self.weight_init or init.default_weight_init(),
            (*a["kernel_size"], self.out_channels // self.groups, self.in_channels),
            self.param_dtype,
        )
        bias = None
        if self.bias:
            fan_in = self.out_channels // self.groups * math.prod(a["kernel_size"])
            bias = self.param(
                "bias",
                self.bias_init or init.default_bias_init(fan_in),
                (self.out_channels,),
                self.param_dtype,
            )
        x, kernel, bias = promote_dtype(input, kernel, bias, dtype=self.dtype)
        return conv.conv_transpose(
            x,
            kernel,
            bias,
            kernel_layout="flax",
            stride=a["stride"],
            padding=a["padding"],
            output_padding=output_padding,
            dilation=a["dilation"],
            groups=self.groups,
            precision=self.precision,
            who=self._who(),
        )

    def extra_repr(self) -> str:
        n, a = self.spatial_dims, self._args()
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={a['kernel_size']}, "
            f"stride={a['stride']}"
        )
        if a["padding"] != (0,) * n:
            s += f", padding={a['padding']}"
        if a["dilation"] != (1,) * n:
            s += f", dilation={a['dilation']}"
        if a["output_padding"] != (0,) * n:
            s += f", output_padding={a['output_padding']}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if not self.bias:
            s += ", bias=False"
        return s


_ARGS = """
    Args:
        in_channels: channels of the input.
        out_channels: channels produced.
        kernel_size: int or a tuple of one int per spatial dim.
        stride: int or tuple. Default: 1.
        padding: dilation * (kernel_size - 1) - padding zeros are added to both sides of
            the input (so ``padding`` removes output). Default: 0.
        output_padding: extra size added to one side of the output; smaller than stride
            or dilation. Default: 0.
        groups: blocked connections from input to output channels. Default: 1.
        bias: learn an additive bias. Default: True.
        dilation: spacing between kernel elements. Default: 1.
        padding_mode: only 'zeros', as in torch.
        weight_init: Flax initializer of the kernel. Default: torch's
            U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = out_channels / groups * prod(k).
        bias_init: Flax initializer of the bias. Default: torch's, the same bound.
        dtype: computation dtype (None: promote input and parameters).
        param_dtype: parameter dtype. Default: float32.
        precision: XLA convolution precision (None: backend default).

    ``layer(x, output_size=None)``: ``output_size`` (spatial or full shape) chooses
    the output_padding, as torch's ``forward(input, output_size)``.
"""

_VARIABLES = """
    Variables: ``params/kernel`` (*k, out_channels / groups, in_channels): the Flax
    layout of the kernel of the convolution this layer is the adjoint of, so torch's
    ``weight`` (in_channels, out_channels / groups, *k) is its transpose as for any
    convolution; and ``params/bias`` (out_channels,).
"""


class ConvTranspose1d(_ConvTransposeNd):
    __doc__ = f"""1-D transposed convolution over (N, C, L) input, torch's
    ``nn.ConvTranspose1d``.
{_ARGS}
    Shape:
        (N, C_in, L) or (C_in, L) -> (N, C_out, L_out),
        L_out = (L - 1) s - 2 p + d (k - 1) + output_padding + 1.
{_VARIABLES}"""

    spatial_dims: ClassVar[int] = 1


class ConvTranspose2d(_ConvTransposeNd):
    __doc__ = f"""2-D transposed convolution over NCHW input, torch's
    ``nn.ConvTranspose2d`` (a "deconvolution").
{_ARGS}
    Shape:
        (N, C_in, H, W) or (C_in, H, W) -> (N, C_out, H_out, W_out),
        H_out = (H - 1) sH - 2 pH + dH (kH - 1) + output_padding_H + 1.
{_VARIABLES}
    Example::

        >>> up = nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1)
        >>> variables = up.init(jax.random.key(0), jnp.ones((1, 16, 8, 8)))
        >>> up.apply(variables, jnp.ones((1, 16, 8, 8))).shape
        (1, 8, 16, 16)
    """

    spatial_dims: ClassVar[int] = 2


class ConvTranspose3d(_ConvTransposeNd):
    __doc__ = f"""3-D transposed convolution over NCDHW input, torch's
    ``nn.ConvTranspose3d``.
{_ARGS}
    Shape:
        (N, C_in, D, H, W) or (C_in, D, H, W) -> (N, C_out, D_out, H_out, W_out), each
        as ConvTranspose2d's.
{_VARIABLES}"""

    spatial_dims: ClassVar[int] = 3
