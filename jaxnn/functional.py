"""`import jaxnn.functional as F`: torch.nn.functional's operations on JAX arrays.

Inputs and outputs use torch's layouts: images are NCHW (a leading batch dimension
may be left out, as torch allows), features are (N, C), and ``dim`` arguments count
like torch's. Weights passed to these functions are in *torch's* layout
(``linear``: (out, in), ``conv2d``: (out, in/groups, kH, kW)); the layers in
``jaxnn.layers`` keep Flax's layout ((in, out), HWIO) and use the same code paths.

Every torch rule for an operation (padding, ceil_mode output sizes, average-pool
divisors, adaptive bin edges, batch statistics) is written once, in :mod:`jaxnn.core`,
and both these functions and the layers call it, so a layer and its functional form
cannot drift apart.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxnn.core import attention, conv, norm, padding, pooling, resample
from jaxnn.core import embedding as embedding_core
from jaxnn.core.args import ntuple

# the loss functions live with their classes in jaxnn.losses; F is their torch home too
from jaxnn.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cosine_embedding_loss,
    cross_entropy,
    ctc_loss,
    gaussian_nll_loss,
    hinge_embedding_loss,
    huber_loss,
    kl_div,
    l1_loss,
    margin_ranking_loss,
    mse_loss,
    multi_margin_loss,
    multilabel_margin_loss,
    multilabel_soft_margin_loss,
    nll_loss,
    poisson_nll_loss,
    smooth_l1_loss,
    soft_margin_loss,
    triplet_margin_loss,
    triplet_margin_with_distance_loss,
)

__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "batch_norm",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "celu",
    "channel_shuffle",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "cosine_embedding_loss",
    "cosine_similarity",
    "cross_entropy",
    "ctc_loss",
    "dropout",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "elu",
    "embedding",
    "flatten",
    "gaussian_nll_loss",
    "gelu",
    "glu",
    "group_norm",
    "hardshrink",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "hinge_embedding_loss",
    "huber_loss",
    "instance_norm",
    "interpolate",
    "kl_div",
    "l1_loss",
    "layer_norm",
    "leaky_relu",
    "linear",
    "local_response_norm",
    "log_softmax",
    "logsigmoid",
    "margin_ranking_loss",
    "max_pool1d",
    "max_pool2d",
    "max_unpool1d",
    "max_unpool2d",
    "mish",
    "mse_loss",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
    "nll_loss",
    "one_hot",
    "pad",
    "pairwise_distance",
    "pixel_shuffle",
    "pixel_unshuffle",
    "poisson_nll_loss",
    "prelu",
    "relu",
    "relu6",
    "rms_norm",
    "scaled_dot_product_attention",
    "selu",
    "sigmoid",
    "silu",
    "smooth_l1_loss",
    "soft_margin_loss",
    "softmax",
    "softmin",
    "softplus",
    "softshrink",
    "softsign",
    "tanh",
    "tanhshrink",
    "threshold",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
    "unflatten",
]

Array = jax.Array
IntOrTuple = int | tuple[int, ...]


# ----------------------------------------------------------------------------- activations


def relu(input: Array, inplace: bool = False) -> Array:
    """max(0, x).

    Args:
        input: any shape.
        inplace: accepted for torch compatibility: JAX arrays are immutable, so a new array
            is always returned. Default: False.
    """
    return jax.nn.relu(input)


def leaky_relu(input: Array, negative_slope: float = 0.01, inplace: bool = False) -> Array:
    """x if x > 0 else negative_slope * x (at 0 torch's gradient is negative_slope).

    Args:
        input: any shape.
        negative_slope: the slope for x <= 0. Default: 0.01.
        inplace: accepted for torch compatibility: JAX arrays are immutable, so a new array
            is always returned. Default: False.
    """
    return jnp.where(input > 0, input, negative_slope * input)


def elu(input: Array, alpha: float = 1.0, inplace: bool = False) -> Array:
    """x if x > 0 else alpha * (exp(x) - 1).

    Args:
        input: any shape.
        alpha: the value the negative side saturates to is -alpha. Default: 1.0.
        inplace: accepted for torch compatibility: JAX arrays are immutable, so a new array
            is always returned. Default: False.
    """
    return jnp.where(input > 0, input, alpha * jnp.expm1(jnp.where(input > 0, 0, input)))


def selu(input: Array, inplace: bool = False) -> Array:
    """scale * elu(x, alpha) with torch's constants (alpha 1.6732632423543772,
    scale 1.0507009873554805). Args: as :func:`relu`.
    """
    alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    negative = alpha * jnp.expm1(jnp.where(input > 0, 0, input))
    return scale * jnp.where(input > 0, input, negative)


def celu(input: Array, alpha: float = 1.0, inplace: bool = False) -> Array:
    """x if x > 0 else alpha * (exp(x / alpha) - 1).

    Args:
        input: any shape.
        alpha: the negative side's scale; non-zero. Default: 1.0.
        inplace: accepted for torch compatibility: JAX arrays are immutable, so a new array
            is always returned. Default: False.
    """
    if alpha == 0:
        raise ValueError("celu: alpha must be non-zero (it divides the input)")
    return jnp.where(input > 0, input, alpha * jnp.expm1(jnp.where(input > 0, 0, input) / alpha))


def _clip(input: Array, low: float, high: float) -> Array:
    # the gradient is 1 strictly inside (low, high) and 0 at and beyond the ends, as
    # torch's hardtanh_backward (jnp.clip would give 0.5 at the ends)
    inside = (input > low) & (input < high)
    clipped = jnp.where(input <= low, jnp.asarray(low, input.dtype), jnp.asarray(high, input.dtype))
    return jnp.where(inside | jnp.isnan(input), input, clipped)


def hardtanh(
    input: Array, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False
) -> Array:
    """min_val if x < min_val, max_val if x > max_val, else x (gradient 1 strictly
    inside, 0 at and beyond the ends, as torch).

    Args:
        input: any shape.
        min_val: the lower end. Default: -1.0.
        max_val: the upper end, at least ``min_val``. Default: 1.0.
        inplace: accepted for torch compatibility: JAX arrays are immutable, so a new array
            is always returned. Default: False.
    """
    if max_val < min_val:
        raise ValueError(f"hardtanh: max_val ({max_val}) cannot be less than min_val ({min_val})")
    return _clip(input, min_val, max_val)


def relu6(input: Array, inplace: bool = False) -> Array:
    """min(max(0, x), 6) (gradient 0 at 0 and 6, as torch). Args: as :func:`relu`."""
    return _clip(input, 0.0, 6.0)


def hardsigmoid(input: Array, inplace: bool = False) -> Array:
    """0 if x <= -3, 1 if x >= 3, else x / 6 + 1 / 2. Args: as :func:`relu`."""
    return _clip(input + 3, 0.0, 6.0) / 6


def hardswish(input: Array, inplace: bool = False) -> Array:
    """x * relu6(x + 3) / 6; torch's gradient: (2 x + 3) / 6 strictly inside (-3, 3),
    0 at and below -3, 1 at and above 3. Args: as :func:`relu`.
    """
    inner = input * (input + 3) / 6
    low = jnp.zeros((), input.dtype)
    return jnp.where(input <= -3, low, jnp.where(input >= 3, input, inner))


def softplus(input: Array, beta: float = 1.0, threshold: float = 20.0) -> Array:
    """log(1 + exp(beta x)) / beta, and x where beta x > threshold (torch's linear
    region).

    Args:
        input: any shape.
        beta: the sharpness. Default: 1.0.
        threshold: above this value of beta x the result is x itself. Default: 20.0.
    """
    linear = input * beta > threshold
    safe = jnp.where(linear, jnp.zeros((), input.dtype), input)
    return jnp.where(linear, input, jnp.log1p(jnp.exp(safe * beta)) / beta)


def mish(input: Array, inplace: bool = False) -> Array:
    """x * tanh(softplus(x)). Args: as :func:`relu`."""
    return input * jnp.tanh(jax.nn.softplus(input))


def logsigmoid(input: Array) -> Array:
    """log(sigmoid(x)), computed stably.

    Args:
        input: any shape.
    """
    return jax.nn.log_sigmoid(input)


def softsign(input: Array) -> Array:
    """x / (1 + |x|).

    Args:
        input: any shape.
    """
    return input / (jnp.abs(input) + 1)


def tanhshrink(input: Array) -> Array:
    """x - tanh(x).

    Args:
        input: any shape.
    """
    return input - jnp.tanh(input)


def threshold(input: Array, threshold: float, value: float, inplace: bool = False) -> Array:
    """x if x > threshold else value.

    Args:
        input: any shape.
        threshold: the value x must exceed to pass.
        value: what replaces the rest.
        inplace: accepted for torch compatibility: JAX arrays are immutable, so a new array
            is always returned. Default: False.
    """
    return jnp.where(input > threshold, input, jnp.asarray(value, input.dtype))


def hardshrink(input: Array, lambd: float = 0.5) -> Array:
    """x if |x| > lambd else 0.

    Args:
        input: any shape.
        lambd: the half-width of the zeroed band (torch's spelling). Default: 0.5.
    """
    return jnp.where(jnp.abs(input) > lambd, input, jnp.zeros((), input.dtype))


def softshrink(input: Array, lambd: float = 0.5) -> Array:
    """x - lambd if x > lambd, x + lambd if x < -lambd, else 0.

    Args:
        input: any shape.
        lambd: the half-width of the zeroed band, >= 0 (torch's spelling). Default: 0.5.
    """
    if lambd < 0:
        raise ValueError(
            f"softshrink: lambda must be greater or equal to 0, but found to be {lambd}"
        )
    shrunk = jnp.where(input > lambd, input - lambd, input + lambd)
    return jnp.where(jnp.abs(input) > lambd, shrunk, jnp.zeros((), input.dtype))


def prelu(input: Array, weight: Array) -> Array:
    """x if x > 0 else weight * x, with one weight for all channels or one per channel
    (dim 1 of the input; an input of rank < 2 has one channel).

    Args:
        input: (N, C, *), or any shape with a single weight.
        weight: 1-D, of size 1 or C (``nn.PReLU``'s ``weight``).
    """
    if weight.ndim != 1:
        raise ValueError(f"prelu: weight must be 1-D, got shape {tuple(weight.shape)}")
    if weight.size != 1:
        channels = input.shape[1] if input.ndim >= 2 else 1
        if channels != weight.size:
            raise ValueError(
                f"prelu: the weight has {weight.size} parameters but the input has {channels} "
                f"channels (dim 1 of shape {tuple(input.shape)})"
            )
        weight = weight.reshape(1, -1, *(1,) * (input.ndim - 2))
    else:
        weight = weight.reshape((1,) * input.ndim)
    return jnp.where(input > 0, input, weight.astype(input.dtype) * input)


def glu(input: Array, dim: int = -1) -> Array:
    """a * sigmoid(b) where a, b are the halves of ``input`` along ``dim``.

    Args:
        input: any shape whose ``dim`` has an even size.
        dim: the dim to halve. Default: -1.

    Shape: (*, 2 M, *) -> (*, M, *).
    """
    d = _dim(dim, input.ndim, "glu")
    if input.ndim == 0 or input.shape[d] % 2:
        size = input.shape[d] if input.ndim else 0
        raise ValueError(f"glu: halving dimension must be even, but dimension {dim} is size {size}")
    a, b = jnp.split(input, 2, axis=d)
    return a * jax.nn.sigmoid(b)


def gelu(input: Array, approximate: str = "none") -> Array:
    """Gaussian error linear unit: x * Phi(x), Phi the standard normal CDF.

    The exact form is torch's formula, x / 2 * (1 + erf(x / sqrt(2))); ``jax.nn.gelu``
    writes it with erfc, which XLA:CPU evaluates several times slower than erf.

    Args:
        input: any shape; an integer input is computed in float32.
        approximate: 'none' (exact) or 'tanh' (torch's tanh approximation). Default:
            'none'.
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    if approximate == "tanh":
        return jax.nn.gelu(input, approximate=True)
    x = jnp.asarray(input)
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        x = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    half = jnp.asarray(0.5, x.dtype)
    return half * x * (1 + lax.erf(x * jnp.asarray(math.sqrt(0.5), x.dtype)))


def silu(input: Array, inplace: bool = False) -> Array:
    """x * sigmoid(x). Args: as :func:`relu`."""
    return jax.nn.silu(input)


def sigmoid(input: Array) -> Array:
    """1 / (1 + exp(-x)).

    Args:
        input: any shape.
    """
    return jax.nn.sigmoid(input)


def tanh(input: Array) -> Array:
    """Hyperbolic tangent.

    Args:
        input: any shape.
    """
    return jnp.tanh(input)


def _softmax_dim(ndim: int, dim: int | None, who: str) -> int:
    if dim is None:
        # torch's legacy rule for a missing dim, with its warning
        warnings.warn(
            f"Implicit dimension choice for {who} has been deprecated. "
            "Change the call to include dim=X as an argument.",
            UserWarning,
            stacklevel=3,
        )
        return 0 if ndim in (0, 1, 3) else 1
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"{who}: dim {dim} is out of range for an input of rank {ndim}")
    return dim


def softmax(input: Array, dim: int | None = None, dtype: Any = None) -> Array:
    """Softmax along ``dim`` (torch counts ``dim`` as usual; the class dim of
    (N, C) logits is 1).

    Args:
        input: any shape.
        dim: the dim that sums to 1. Default: None, torch's deprecated implicit choice
            (0 for a 0-, 1- or 3-D input, else 1), with torch's warning.
        dtype: cast the input to this dtype first (torch's ``dtype``, e.g. to compute
            a float16 input in float32). Default: None (the input's).
    """
    dim = _softmax_dim(input.ndim, dim, "softmax")
    if dtype is not None:
        input = input.astype(dtype)
    return jax.nn.softmax(input, axis=dim)


def log_softmax(input: Array, dim: int | None = None, dtype: Any = None) -> Array:
    """log(softmax(x)) along ``dim``, computed stably. Args: as :func:`softmax`."""
    dim = _softmax_dim(input.ndim, dim, "log_softmax")
    if dtype is not None:
        input = input.astype(dtype)
    return jax.nn.log_softmax(input, axis=dim)


def softmin(input: Array, dim: int | None = None, dtype: Any = None) -> Array:
    """softmax(-x) along ``dim``. Args: as :func:`softmax`."""
    dim = _softmax_dim(input.ndim, dim, "softmin")
    if dtype is not None:
        input = input.astype(dtype)
    return jax.nn.softmax(-input, axis=dim)


# ----------------------------------------------------------------------------- linear / conv


def linear(input: Array, weight: Array, bias: Array | None = None) -> Array:
    """y = x W^T + b with ``weight`` in torch's layout (out_features, in_features).

    Args:
        input: (*, in_features).
        weight: (out_features, in_features), torch's layout (``nn.Linear`` keeps the
            transpose as its ``kernel``).
        bias: (out_features,), or None for none. Default: None.

    Shape: input (*, in_features) -> (*, out_features).
    """
    if input.shape[-1:] != weight.shape[1:]:
        raise ValueError(
            f"linear: input has {input.shape[-1] if input.ndim else 0} features "
            f"(shape {tuple(input.shape)}) but weight expects {weight.shape[1]} "
            f"(weight shape {tuple(weight.shape)})"
        )
    return conv.linear(input, weight.T, bias)


def _conv_nd(input, weight, bias, stride, padding, dilation, groups, n, who):
    if weight.ndim != n + 2:
        raise ValueError(
            f"{who}: weight must be {n + 2}-D (out, in/groups, *kernel), "
            f"got shape {tuple(weight.shape)}"
        )
    c_in = input.shape[-n - 1] if input.ndim >= n + 1 else None
    if c_in is not None and c_in != weight.shape[1] * groups:
        raise ValueError(
            f"{who}: input has {c_in} channels (shape {tuple(input.shape)}) but weight "
            f"{tuple(weight.shape)} with groups={groups} expects {weight.shape[1] * groups}"
        )
    stride = ntuple(stride, n, f"{who}: stride")
    dilation = ntuple(dilation, n, f"{who}: dilation")
    pads = conv.conv_padding(padding, tuple(weight.shape[2:]), stride, dilation, who)
    return conv.conv(
        input,
        weight,
        bias,
        kernel_layout="torch",
        stride=stride,
        padding=pads,
        dilation=dilation,
        groups=groups,
        who=who,
    )


def conv1d(
    input: Array,
    weight: Array,
    bias: Array | None = None,
    stride: IntOrTuple = 1,
    padding: str | IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
) -> Array:
    """1-D convolution with ``weight`` in torch's layout (out, in/groups, k).
    Args: as :func:`conv2d`.

    Shape: input (N, C_in, L) or (C_in, L) -> (N, C_out, L_out).
    """
    return _conv_nd(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def conv2d(
    input: Array,
    weight: Array,
    bias: Array | None = None,
    stride: IntOrTuple = 1,
    padding: str | IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
) -> Array:
    """2-D convolution with ``weight`` in torch's layout (out, in/groups, kH, kW).

    Args:
        input: (N, C_in, *spatial) or unbatched (C_in, *spatial).
        weight: (C_out, C_in / groups, *kernel), torch's layout.
        bias: (C_out,), or None for none. Default: None.
        stride: the window's step, an int or one per spatial dim. Default: 1.
        padding: zeros added on both sides: an int or one per spatial dim, 'valid' (none)
            or 'same' (the output keeps the input's size; an odd total puts the extra
            element at the end, as torch; stride 1 only). Default: 0.
        dilation: the spacing of the kernel's taps, an int or one per spatial dim.
            Default: 1.
        groups: split the channels into this many groups, each convolved with its own
            filters; it must divide C_in and C_out. Default: 1.

    Shape: input (N, C_in, H, W) or (C_in, H, W) -> (N, C_out, H_out, W_out), with
    H_out = floor((H + pH_lo + pH_hi - dH (kH - 1) - 1) / sH) + 1.

    Example::

        >>> x, w = jnp.ones((1, 3, 8, 8)), jnp.ones((4, 3, 3, 3))
        >>> F.conv2d(x, w, padding=1).shape
        (1, 4, 8, 8)
    """
    return _conv_nd(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def conv3d(
    input: Array,
    weight: Array,
    bias: Array | None = None,
    stride: IntOrTuple = 1,
    padding: str | IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
) -> Array:
    """3-D convolution with ``weight`` in torch's layout (out, in/groups, kD, kH, kW).
    Args: as :func:`conv2d`.

    Shape: input (N, C_in, D, H, W) or (C_in, D, H, W) -> (N, C_out, D_out, H_out, W_out).
    """
    return _conv_nd(input, weight, bias, stride, padding, dilation, groups, 3, "conv3d")


def _conv_transpose_nd(
    input, weight, bias, stride, padding, output_padding, groups, dilation, n, who
):
    if weight.ndim != n + 2:
        raise ValueError(
            f"{who}: weight must be {n + 2}-D (in, out/groups, *kernel), "
            f"got shape {tuple(weight.shape)}"
        )
    c_in = input.shape[-n - 1] if input.ndim >= n + 1 else None
    if c_in is not None and c_in != weight.shape[0]:
        raise ValueError(
            f"{who}: input has {c_in} channels (shape {tuple(input.shape)}) but weight "
            f"{tuple(weight.shape)} expects {weight.shape[0]}"
        )
    if weight.shape[0] % groups:
        raise ValueError(
            f"{who}: weight's in_channels ({weight.shape[0]}) must be divisible by "
            f"groups ({groups})"
        )
    if isinstance(padding, str):
        raise TypeError(f"{who}: padding must be an int or a tuple of {n} ints, got {padding!r}")
    return conv.conv_transpose(
        input,
        weight,
        bias,
        kernel_layout="torch",
        stride=ntuple(stride, n, f"{who}: stride"),
        padding=ntuple(padding, n, f"{who}: padding"),
        output_padding=ntuple(output_padding, n, f"{who}: output_padding"),
        dilation=ntuple(dilation, n, f"{who}: dilation"),
        groups=groups,
        who=who,
    )


def conv_transpose1d(
    input: Array,
    weight: Array,
    bias: Array | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
) -> Array:
    """1-D transposed convolution with ``weight`` in torch's layout (in, out/groups, k).
    Args: as :func:`conv_transpose2d`.

    Shape: input (N, C_in, L) or (C_in, L) -> (N, C_out, L_out),
    L_out = (L - 1) s - 2 p + d (k - 1) + output_padding + 1.
    """
    return _conv_transpose_nd(
        input, weight, bias, stride, padding, output_padding, groups, dilation, 1,
        "conv_transpose1d",
    )  # fmt: skip


def conv_transpose2d(
    input: Array,
    weight: Array,
    bias: Array | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
) -> Array:
    """2-D transposed convolution with ``weight`` in torch's layout (in, out/groups, kH, kW):
    the gradient of ``conv2d`` with respect to its input, sometimes called
    deconvolution.

    Args:
        input: (N, C_in, *spatial) or unbatched (C_in, *spatial).
        weight: (C_in, C_out / groups, *kernel), torch's ConvTranspose layout.
        bias: (C_out,), or None for none. Default: None.
        stride: the step, an int or one per spatial dim. Default: 1.
        padding: d (k - 1) - padding zeros are added on both sides of the input, so
            ``padding`` trims the output on both sides: an int or one per spatial dim
            (no 'same' / 'valid', as in torch). Default: 0.
        output_padding: extra size at the end of each output dim, to pick among the
            sizes a strided convolution maps to the same input size; smaller than the
            stride or the dilation. Default: 0.
        groups: split the channels into this many groups; it must divide C_in. Default: 1.
        dilation: the spacing of the kernel's taps. Default: 1.

    Shape: input (N, C_in, H, W) or (C_in, H, W) -> (N, C_out, H_out, W_out),
    H_out = (H - 1) sH - 2 pH + dH (kH - 1) + output_padding_H + 1.
    """
    return _conv_transpose_nd(
        input, weight, bias, stride, padding, output_padding, groups, dilation, 2,
        "conv_transpose2d",
    )  # fmt: skip


def conv_transpose3d(
    input: Array,
    weight: Array,
    bias: Array | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
) -> Array:
    """3-D transposed convolution with ``weight`` in torch's layout
    (in, out/groups, kD, kH, kW). Args: as :func:`conv_transpose2d`.

    Shape: input (N, C_in, D, H, W) or (C_in, D, H, W) -> (N, C_out, D_out, H_out, W_out).
    """
    return _conv_transpose_nd(
        input, weight, bias, stride, padding, output_padding, groups, dilation, 3,
        "conv_transpose3d",
    )  # fmt: skip


# ----------------------------------------------------------------------------- pooling


def _max_pool_nd(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, n, who):
    kernel = ntuple(kernel_size, n, f"{who}: kernel_size")
    stride = kernel if stride is None or stride == [] else ntuple(stride, n, f"{who}: stride")
    return pooling.max_pool(
        input,
        kernel,
        stride,
        ntuple(padding, n, f"{who}: padding"),
        ntuple(dilation, n, f"{who}: dilation"),
        ceil_mode,
        who,
        return_indices,
    )


def max_pool1d(
    input: Array,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Array | tuple[Array, Array]:
    """1-D max pooling; ``stride`` defaults to ``kernel_size``, padding is -inf.
    Args: as :func:`max_pool2d`.

    Shape: (N, C, L) or (C, L) -> (N, C, L_out).
    """
    return _max_pool_nd(
        input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1, "max_pool1d"
    )


def max_pool2d(
    input: Array,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Array | tuple[Array, Array]:
    """2-D max pooling; ``stride`` defaults to ``kernel_size`` as in torch, padding is
    -inf.

    Args:
        input: (N, C, *spatial) or unbatched (C, *spatial).
        kernel_size: the window, an int or one per spatial dim.
        stride: the window's step, an int or one per spatial dim. Default: None
            (``kernel_size``).
        padding: -inf added on both sides, at most half the (dilated) window. Default: 0.
        dilation: the spacing of the window's elements. Default: 1.
        ceil_mode: round the output size up rather than down; the last window must
            still start inside the input or the left padding, as torch. Default: False.
        return_indices: also return, for each output, the flat position (h * W + w;
            along L for 1-D) of the input element it took, int32, as torch's indices
            (what ``max_unpool2d`` takes). Default: False.

    Shape: (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out), with torch's floor /
    ceil_mode output size.
    """
    return _max_pool_nd(
        input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2, "max_pool2d"
    )


def _avg_pool_nd(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                 divisor_override, n, who):  # fmt: skip
    kernel = ntuple(kernel_size, n, f"{who}: kernel_size")
    stride = kernel if stride is None or stride == [] else ntuple(stride, n, f"{who}: stride")
    return pooling.avg_pool(
        input,
        kernel,
        stride,
        ntuple(padding, n, f"{who}: padding"),
        ceil_mode,
        count_include_pad,
        divisor_override,
        who,
    )


def avg_pool1d(
    input: Array,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Array:
    """1-D average pooling with torch's divisor rules. Args: as :func:`avg_pool2d`
    (which alone has ``divisor_override``, as in torch).

    Shape: (N, C, L) or (C, L) -> (N, C, L_out).
    """
    return _avg_pool_nd(
        input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1, "avg_pool1d"
    )


def avg_pool2d(
    input: Array,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Array:
    """2-D average pooling with torch's divisor rules.

    Args:
        input: (N, C, *spatial) or unbatched (C, *spatial).
        kernel_size: the window, an int or one per spatial dim.
        stride: the window's step. Default: None (``kernel_size``).
        padding: zeros added on both sides, at most half the window. Default: 0.
        ceil_mode: round the output size up rather than down, as torch (the extra
            windows overhang the padding). Default: False.
        count_include_pad: divide by the window's size including the zero padding it
            covers (not what ceil_mode's windows hang past the padding); otherwise by
            the input elements it covers. Default: True.
        divisor_override: divide every window's sum by this instead. Default: None.

    Shape: (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out).
    """
    return _avg_pool_nd(
        input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 2,
        "avg_pool2d",
    )  # fmt: skip


def adaptive_avg_pool1d(input: Array, output_size: int | Sequence[int]) -> Array:
    """Average over torch's adaptive bins so the output has length ``output_size``: bin
    i covers [floor(i L / out), ceil((i + 1) L / out)).

    Args:
        input: (N, C, L) or (C, L).
        output_size: the output length.

    Shape: (N, C, L) or (C, L) -> (N, C, output_size).
    """
    return pooling.adaptive_avg_pool(input, output_size, 1, "adaptive_avg_pool1d")


def adaptive_avg_pool2d(input: Array, output_size: int | Sequence[int | None] | None) -> Array:
    """Average over torch's adaptive bins so the output is ``output_size``. Works for
    outputs larger than the input.

    Args:
        input: (N, C, H, W) or (C, H, W).
        output_size: an int (square output), or (H_out, W_out) where None keeps that
            input dimension.

    Shape: (N, C, H, W) or (C, H, W) -> (N, C, *output_size).
    """
    return pooling.adaptive_avg_pool(input, output_size, 2, "adaptive_avg_pool2d")


def adaptive_max_pool1d(
    input: Array, output_size: int | Sequence[int], return_indices: bool = False
) -> Array | tuple[Array, Array]:
    """Max over torch's adaptive bins so the output has length ``output_size``.

    Args:
        input: (N, C, L) or (C, L).
        output_size: the output length.
        return_indices: also return torch's indices into L, int32. Default: False.

    Shape: (N, C, L) or (C, L) -> (N, C, output_size).
    """
    return pooling.adaptive_max_pool(input, output_size, 1, "adaptive_max_pool1d", return_indices)


def adaptive_max_pool2d(
    input: Array, output_size: int | Sequence[int | None] | None, return_indices: bool = False
) -> Array | tuple[Array, Array]:
    """Max over torch's adaptive bins so the output is ``output_size``.

    Args:
        input: (N, C, H, W) or (C, H, W).
        output_size: an int (square output), or (H_out, W_out) where None keeps that
            input dimension.
        return_indices: also return torch's flat indices h * W + w, int32. Default:
            False.

    Shape: (N, C, H, W) or (C, H, W) -> (N, C, *output_size).
    """
    return pooling.adaptive_max_pool(input, output_size, 2, "adaptive_max_pool2d", return_indices)


def _max_unpool_nd(input, indices, kernel_size, stride, padding, output_size, n, who):
    kernel = ntuple(kernel_size, n, f"{who}: kernel_size")
    stride = kernel if stride is None else ntuple(stride, n, f"{who}: stride")
    padding = ntuple(padding, n, f"{who}: padding")
    return pooling.max_unpool(input, indices, kernel, stride, padding, output_size, who)


def max_unpool1d(
    input: Array,
    indices: Array,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    output_size: Sequence[int] | None = None,
) -> Array:
    """The partial inverse of ``max_pool1d``: values at their ``indices``, zeros elsewhere.
    Args: as :func:`max_unpool2d`.

    Shape: (N, C, L) or (C, L) -> (N, C, (L - 1) s - 2 p + k) or ``output_size``.
    """
    return _max_unpool_nd(input, indices, kernel_size, stride, padding, output_size, 1,
                          "max_unpool1d")  # fmt: skip


def max_unpool2d(
    input: Array,
    indices: Array,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    output_size: Sequence[int] | None = None,
) -> Array:
    """The partial inverse of ``max_pool2d``: values at their flat ``indices``, zeros
    elsewhere. Out-of-range indices are dropped (torch raises; traced indices cannot be
    checked).

    Args:
        input: the pooled values, (N, C, *spatial) or (C, *spatial).
        indices: ``max_pool2d(..., return_indices=True)``'s indices, input's shape.
        kernel_size: the pooling's window.
        stride: the pooling's step. Default: None (``kernel_size``).
        padding: the pooling's padding. Default: 0.
        output_size: the size to restore (the pooled input's), its spatial dims or all
            of them; each within a stride of the default. Default: None.

    Shape: (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out),
    H_out = (H - 1) sH - 2 pH + kH or ``output_size``.
    """
    return _max_unpool_nd(input, indices, kernel_size, stride, padding, output_size, 2,
                          "max_unpool2d")  # fmt: skip


# ----------------------------------------------------------------------------- normalization


def batch_norm(
    input: Array,
    running_mean: Array | None,
    running_var: Array | None,
    weight: Array | None = None,
    bias: Array | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Array:
    """Batch normalization over the channel dim 1 of (N, C, ...).

    Unlike torch, the running statistics are *not* updated in place (JAX arrays are
    immutable); ``nn.BatchNorm2d`` keeps them in the ``batch_stats`` collection.

    Args:
        input: (N, C, *).
        running_mean: (C,); used when ``training`` is False (required then).
        running_var: (C,); likewise.
        weight: per-channel scale (C,), or None. Default: None.
        bias: per-channel shift (C,), or None. Default: None.
        training: normalize with the batch's statistics (biased variance) rather than
            the running ones. Default: False.
        momentum: accepted for torch's signature; it has no effect here. Default: 0.1.
        eps: added to the variance. Default: 1e-5.

    Shape: (N, C, *) -> same shape.
    """
    if input.ndim < 2:
        raise ValueError(
            f"batch_norm: expected input of shape (N, C, ...), got {tuple(input.shape)}"
        )
    if not training and (running_mean is None or running_var is None):
        raise ValueError(
            "batch_norm: running_mean and running_var are required when training=False"
        )
    y, _, _ = norm.batch_norm(
        input,
        running_mean,
        running_var,
        weight,
        bias,
        use_batch_stats=training,
        eps=eps,
        who="batch_norm",
    )
    return y


# ----------------------------------------------------------------------------- sequence models
# Embedding lookup, the normalization family and attention: the layers of
# jaxnn.layers.embedding / normalization / attention compute with the same code.


def embedding(
    input: Array,
    weight: Array,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Array:
    """Rows of ``weight`` (num_embeddings, embedding_dim) picked by integer ``input``.

    An index outside [0, num_embeddings) raises IndexError when ``input`` is concrete
    and gives a row of NaN under ``jit``.

    Args:
        input: integer indices, any shape.
        weight: (num_embeddings, embedding_dim).
        padding_idx: lookups of this row pass no gradient to it; negative counts from
            the end. Default: None.
        max_norm: looked-up rows whose ``norm_type``-norm exceeds it are rescaled to it,
            in the output only: ``weight`` is not modified, unlike torch's in-place
            renormalization. Default: None.
        norm_type: the p of the p-norm for ``max_norm``. Default: 2.0.
        scale_grad_by_freq: divide each row's gradient by its count in ``input``.
            Default: False.
        sparse: accepted for torch's signature (JAX gradients are dense). Default: False.

    Shape: input (*) -> (*, embedding_dim).
    """
    if weight.ndim != 2:
        raise ValueError(
            f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape "
            f"{tuple(weight.shape)}"
        )
    padding_idx = embedding_core.check_padding_idx(padding_idx, weight.shape[0], "embedding")
    return embedding_core.embedding(
        jnp.asarray(input),
        weight,
        padding_idx=padding_idx,
        max_norm=max_norm,
        norm_type=norm_type,
        scale_grad_by_freq=scale_grad_by_freq,
    )


def _check_affine_shape(who: str, name: str, value: Array | None, shape: tuple[int, ...]):
    if value is not None and tuple(value.shape) != shape:
        raise ValueError(f"{who}: expected {name} of shape {shape}, got {tuple(value.shape)}")


def layer_norm(
    input: Array,
    normalized_shape: int | Sequence[int],
    weight: Array | None = None,
    bias: Array | None = None,
    eps: float = 1e-5,
) -> Array:
    """Layer normalization over the trailing ``normalized_shape`` axes (biased two-pass
    variance), then ``weight`` and ``bias`` elementwise.

    Args:
        input: (*, *normalized_shape).
        normalized_shape: an int or the trailing shape to normalize over.
        weight: a ``normalized_shape`` scale, or None. Default: None.
        bias: a ``normalized_shape`` shift, or None. Default: None.
        eps: added to the variance. Default: 1e-5.

    Shape: (*, *normalized_shape) -> same shape.
    """
    shape = norm.normalized_shape(normalized_shape, "layer_norm")
    _check_affine_shape("layer_norm", "weight", weight, shape)
    _check_affine_shape("layer_norm", "bias", bias, shape)
    return norm.layer_norm(input, shape, weight, bias, eps, "layer_norm")


def rms_norm(
    input: Array,
    normalized_shape: int | Sequence[int],
    weight: Array | None = None,
    eps: float | None = None,
) -> Array:
    """x / sqrt(mean(x^2) + eps) over the trailing ``normalized_shape`` axes, times
    ``weight``.

    Args:
        input: (*, *normalized_shape).
        normalized_shape: an int or the trailing shape to normalize over.
        weight: a ``normalized_shape`` scale, or None. Default: None.
        eps: added to the mean square. Default: None (the machine epsilon of the
            input's dtype, as torch).

    Shape: (*, *normalized_shape) -> same shape.
    """
    shape = norm.normalized_shape(normalized_shape, "rms_norm")
    _check_affine_shape("rms_norm", "weight", weight, shape)
    return norm.rms_norm(input, shape, weight, eps, "rms_norm")


def group_norm(
    input: Array,
    num_groups: int,
    weight: Array | None = None,
    bias: Array | None = None,
    eps: float = 1e-5,
) -> Array:
    """Group normalization of (N, C, *): ``num_groups`` groups of channels, each
    normalized over its channels and the spatial axes, then per-channel ``weight`` and
    ``bias``.

    Args:
        input: (N, C, *).
        num_groups: the number of groups; it must divide C.
        weight: per-channel scale (C,), or None. Default: None.
        bias: per-channel shift (C,), or None. Default: None.
        eps: added to the variance. Default: 1e-5.

    Shape: (N, C, *) -> same shape.
    """
    if input.ndim >= 2:
        _check_affine_shape("group_norm", "weight", weight, (input.shape[1],))
        _check_affine_shape("group_norm", "bias", bias, (input.shape[1],))
    return norm.group_norm(input, num_groups, weight, bias, eps, "group_norm")


def instance_norm(
    input: Array,
    running_mean: Array | None = None,
    running_var: Array | None = None,
    weight: Array | None = None,
    bias: Array | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Array:
    """Instance normalization: each (sample, channel) of (N, C, *) normalized over its
    spatial axes, or with the running statistics.

    As with :func:`batch_norm`, the running statistics are not updated in place (JAX
    arrays are immutable; ``nn.InstanceNorm1d/2d`` keep them in ``batch_stats``).

    Args:
        input: (N, C, *) with at least one spatial axis.
        running_mean: (C,); used when ``use_input_stats`` is False (required then).
            Default: None.
        running_var: (C,); likewise. Default: None.
        weight: per-channel scale (C,), or None. Default: None.
        bias: per-channel shift (C,), or None. Default: None.
        use_input_stats: normalize with each instance's own statistics. Default: True.
        momentum: accepted for torch's signature; it has no effect here. Default: 0.1.
        eps: added to the variance. Default: 1e-5.

    Shape: (N, C, *) -> same shape.
    """
    if input.ndim < 3:
        raise ValueError(
            f"instance_norm: expected input of shape (N, C, *) with a spatial axis, got "
            f"{tuple(input.shape)}"
        )
    if not use_input_stats and (running_mean is None or running_var is None):
        raise ValueError(
            "instance_norm: running_mean and running_var are required when use_input_stats=False"
        )
    y, _, _ = norm.instance_norm(
        input,
        running_mean,
        running_var,
        weight,
        bias,
        use_input_stats=use_input_stats,
        eps=eps,
        who="instance_norm",
    )
    return y


def local_response_norm(
    input: Array, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0
) -> Array:
    """x / (k + alpha / size * sum of x^2 over ``size`` neighbouring channels)^beta.

    Args:
        input: (N, C, *) with at least one spatial axis.
        size: the number of channels in the window (size // 2 before the channel,
            (size - 1) // 2 after, zero-padded at the ends).
        alpha: the multiplier of the mean square. Default: 1e-4.
        beta: the exponent. Default: 0.75.
        k: the additive constant. Default: 1.0.

    Shape: (N, C, *) -> same shape.
    """
    return norm.local_response_norm(input, size, alpha, beta, k, "local_response_norm")


def _attention_mask(mask: Array, lead: tuple[int, ...], t: int, s: int, who: str) -> Array:
    """A mask broadcastable to (*lead, T, S) as (B or 1, N or 1, T, S), lead = (*batch, N)."""
    full = (*lead, t, s)
    if mask.ndim > len(full):
        raise ValueError(
            f"{who}: attn_mask of shape {tuple(mask.shape)} has more dimensions than the "
            f"attention scores {full}"
        )
    shape = (1,) * (len(full) - mask.ndim) + tuple(mask.shape)
    if any(m not in (1, f) for m, f in zip(shape, full)):
        raise ValueError(
            f"{who}: attn_mask of shape {tuple(mask.shape)} does not broadcast to the "
            f"attention scores {full}"
        )
    mask = mask.reshape(shape)
    batch, heads = shape[:-3], shape[-3] if len(shape) >= 3 else 1
    b = math.prod(lead[:-1]) if any(d != 1 for d in batch) else 1
    mask = jnp.broadcast_to(mask, (*(lead[:-1] if b > 1 else batch), heads, t, s))
    return mask.reshape(b, heads, t, s)


def scaled_dot_product_attention(
    query: Array,
    key: Array,
    value: Array,
    attn_mask: Array | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
    *,
    dropout_key: Array | None = None,
) -> Array:
    """softmax(Q K^T * scale + mask) V, torch's ``F.scaled_dot_product_attention``. A
    query row whose keys are all masked gives 0, as torch.

    Runs through ``jax.nn.dot_product_attention`` (XLA's fused attention on GPUs) unless
    ``dropout_p > 0`` or the value's head size differs from the query's.

    Args:
        query: (*, Hq, L, E).
        key: the keys, (*, H, S, E) (``key`` is torch's name; the dropout key is
            ``dropout_key``).
        value: (*, H, S, Ev).
        attn_mask: boolean (True: the key *takes part*, torch's convention here) or
            float (added to the scores), broadcastable to (*, Hq, L, S). Default: None.
        dropout_p: dropout probability on the attention weights. Default: 0.0.
        is_causal: query i attends to keys j <= i; cannot be combined with
            ``attn_mask``. Default: False.
        scale: multiplies Q K^T. Default: None (1 / sqrt(E)).
        enable_gqa: key and value may have fewer heads H than the query's Hq, each
            serving a block of Hq / H query heads. Default: False.
        dropout_key: a ``jax.random`` key, needed when ``dropout_p > 0``.

    Shape: query (*, Hq, L, E), key (*, H, S, E), value (*, H, S, Ev) -> (*, Hq, L, Ev);
    the head axis may be left out (then H = Hq = 1).
    """
    who = "scaled_dot_product_attention"
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{who}: dropout probability has to be between 0 and 1, got {dropout_p}")
    if dropout_p > 0.0 and dropout_key is None:
        raise ValueError(f"{who}: dropout_p > 0 needs a random key (dropout_key=...)")
    if is_causal and attn_mask is not None:
        raise ValueError(f"{who}: an explicit attn_mask cannot be combined with is_causal=True")
    if query.ndim < 2 or key.ndim != query.ndim or value.ndim != query.ndim:
        raise ValueError(
            f"{who}: query, key and value must have the same rank >= 2, got shapes "
            f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}"
        )
    if key.shape[-1] != query.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ValueError(
            f"{who}: query (*, L, E) and key (*, S, E) need the same E, key and value "
            f"(*, S, Ev) the same S; got shapes {tuple(query.shape)}, {tuple(key.shape)}, "
            f"{tuple(value.shape)}"
        )
    hq = query.shape[-3] if query.ndim >= 3 else 1
    hk = key.shape[-3] if key.ndim >= 3 else 1
    batch = tuple(query.shape[:-3])
    if (
        tuple(key.shape[:-3]) != batch
        or tuple(value.shape[:-3]) != batch
        or (value.ndim >= 3 and value.shape[-3] != hk)
    ):
        raise ValueError(
            f"{who}: query, key and value must agree in their batch dimensions, got "
            f"shapes {tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}"
        )
    if hq != hk and not (enable_gqa and hq % hk == 0):
        raise ValueError(
            f"{who}: query has {hq} heads and key/value {hk}; with enable_gqa=True the "
            f"key/value heads must divide the query heads"
        )
    b, l, s = math.prod(batch), query.shape[-2], key.shape[-2]

    def bthd(x):  # (*, H, T, D) -> (B, T, H, D)
        h = x.shape[-3] if x.ndim >= 3 else 1
        return jnp.swapaxes(x.reshape(b, h, *x.shape[-2:]), 1, 2)

    mask = bias = None
    if attn_mask is not None:
        m = _attention_mask(jnp.asarray(attn_mask), (*batch, hq), l, s, who)
        if m.dtype == jnp.bool_:
            mask = m
        else:
            bias = m
    out = attention.attention(
        bthd(query),
        bthd(key),
        bthd(value),
        mask=mask,
        bias=bias,
        is_causal=is_causal,
        scale=scale,
        dropout_rate=dropout_p,
        dropout_key=dropout_key,
    )
    out = jnp.swapaxes(out, 1, 2)  # (B, Hq, L, Ev)
    return out.reshape(*query.shape[:-1], value.shape[-1])


# ----------------------------------------------------------------------------- dropout


def dropout(
    input: Array,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    key: Array | None = None,
) -> Array:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p).

    JAX needs explicit randomness: pass ``key`` (a ``jax.random`` key) when training.

    Args:
        input: any shape.
        p: the probability of zeroing an element, in [0, 1]. Default: 0.5.
        training: apply dropout; False returns ``input`` unchanged. Default: True, as
            torch's function (the layer ``nn.Dropout`` follows the call's mode instead).
        inplace: accepted for torch compatibility (a new array is always returned).
            Default: False.
        key: a ``jax.random`` key, needed when ``training`` and ``0 < p``.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if key is None:
        raise ValueError("dropout: training=True needs a random key (key=jax.random.key(...))")
    if p == 1.0:
        return jnp.zeros_like(input)
    # drawn flat: the same mask, and XLA:CPU compiles a rank-1 generator much faster
    keep = jax.random.bernoulli(key, 1.0 - p, (input.size,)).reshape(input.shape)
    return jnp.where(keep, input / jnp.asarray(1.0 - p, input.dtype), jnp.zeros((), input.dtype))


def _feature_dropout(input, p, training, key, batched, who):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if key is None:
        raise ValueError(f"{who}: training=True needs a random key (key=jax.random.key(...))")
    if p == 1.0:
        return jnp.zeros_like(input)
    x = input if batched else input[None]
    keep = jax.random.bernoulli(key, 1.0 - p, x.shape[:2]).reshape(
        *x.shape[:2], *(1,) * (x.ndim - 2)
    )
    y = jnp.where(keep, x / jnp.asarray(1.0 - p, x.dtype), jnp.zeros((), x.dtype))
    return y if batched else y[0]


def dropout1d(
    input: Array, p: float = 0.5, training: bool = True, inplace: bool = False, *,
    key: Array | None = None,
) -> Array:  # fmt: skip
    """Zero whole channels with probability ``p`` (scale the rest by 1/(1-p)).
    Args: as :func:`dropout2d`.

    Shape: (N, C, L) or (C, L) -> same.
    """
    if input.ndim not in (2, 3):
        raise ValueError(
            f"dropout1d: expected a 2-D or 3-D input (C, L) or (N, C, L), got shape "
            f"{tuple(input.shape)}"
        )
    return _feature_dropout(input, p, training, key, input.ndim == 3, "dropout1d")


def dropout2d(
    input: Array, p: float = 0.5, training: bool = True, inplace: bool = False, *,
    key: Array | None = None,
) -> Array:  # fmt: skip
    """Zero whole channels with probability ``p`` (scale the rest by 1/(1-p)).

    Args:
        input: (N, C, *spatial) or unbatched (C, *spatial).
        p: the probability of zeroing a channel, in [0, 1]. Default: 0.5.
        training: apply dropout; False returns ``input`` unchanged. Default: True.
        inplace: accepted for torch compatibility (a new array is always returned).
            Default: False.
        key: a ``jax.random`` key, needed when ``training`` and ``0 < p``.

    Shape: (N, C, H, W) or (C, H, W) -> same. As in torch, a 3-D input is taken as
    (N, C, L) with a warning (torch's rule, which it plans to change to (C, H, W)).
    """
    if input.ndim not in (3, 4):
        raise ValueError(
            f"dropout2d: expected a 3-D or 4-D input, got shape {tuple(input.shape)}; "
            "use dropout for other ranks"
        )
    if input.ndim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D "
            "dropout behavior is desired - input is interpreted as shape (N, C, L), where C "
            "is the channel dim. This behavior will change in a future release to interpret "
            "the input as one without a batch dimension, i.e. shape (C, H, W). To maintain "
            "the 1D behavior, call dropout1d instead.",
            UserWarning,
            stacklevel=2,
        )
    return _feature_dropout(input, p, training, key, True, "dropout2d")


def dropout3d(
    input: Array, p: float = 0.5, training: bool = True, inplace: bool = False, *,
    key: Array | None = None,
) -> Array:  # fmt: skip
    """Zero whole channels with probability ``p`` (scale the rest by 1/(1-p)).
    Args: as :func:`dropout2d`.

    Shape: (N, C, D, H, W) or (C, D, H, W) -> same.
    """
    if input.ndim not in (4, 5):
        raise ValueError(
            f"dropout3d: expected a 4-D or 5-D input, got shape {tuple(input.shape)}; "
            "use dropout for other ranks"
        )
    return _feature_dropout(input, p, training, key, input.ndim == 5, "dropout3d")


# ----------------------------------------------------------------------------- distances


def _broadcast(x1: Array, x2: Array, who: str) -> tuple[Array, Array]:
    try:
        shape = np.broadcast_shapes(x1.shape, x2.shape)
    except ValueError:
        raise ValueError(
            f"{who}: x1 of shape {tuple(x1.shape)} and x2 of shape {tuple(x2.shape)} "
            "do not broadcast together"
        ) from None
    return jnp.broadcast_to(x1, shape), jnp.broadcast_to(x2, shape)


def cosine_similarity(x1: Array, x2: Array, dim: int = 1, eps: float = 1e-8) -> Array:
    """sum(x1 / max(||x1||, eps) * x2 / max(||x2||, eps)) along ``dim`` (inputs
    broadcast), torch's formula: each norm is clamped, the clamp carries no gradient.

    Args:
        x1: the first input.
        x2: the second, broadcastable with ``x1``.
        dim: the dim the vectors lie along. Default: 1.
        eps: the smallest norm divided by. Default: 1e-8.

    Shape: (*, D, *) and a broadcastable shape -> (*, *).
    """
    x1, x2 = _broadcast(x1, x2, "cosine_similarity")
    d = _dim(dim, x1.ndim, "cosine_similarity")

    def normalized(x):
        norm = jnp.sqrt(jnp.sum(x * x, axis=d, keepdims=True))
        return x / (norm + lax.stop_gradient(jnp.maximum(norm, eps) - norm))

    return jnp.sum(normalized(x1) * normalized(x2), axis=d)


def pairwise_distance(
    x1: Array, x2: Array, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False
) -> Array:
    """The p-norm of x1 - x2 + eps over the last dim (inputs broadcast).

    Args:
        x1: the first input.
        x2: the second, broadcastable with ``x1``.
        p: the norm's order (0 counts non-zeros, inf takes the largest). Default: 2.0.
        eps: added to every element of the difference, before the norm, as torch.
            Default: 1e-6.
        keepdim: keep the reduced dim with size 1. Default: False.

    Shape: (N, D) or (D,) and a broadcastable shape -> (N,) or () (keepdim: (N, 1)).
    """
    x1, x2 = _broadcast(x1, x2, "pairwise_distance")
    diff = x1 - x2 + eps
    axis = max(x1.ndim - 1, 0)
    if x1.ndim == 0:
        diff = diff.reshape(1)
    if p == math.inf:
        out = jnp.max(jnp.abs(diff), axis=axis, keepdims=keepdim)
    elif p == 0:
        out = jnp.sum(diff != 0, axis=axis, keepdims=keepdim).astype(diff.dtype)
    elif p == 2:
        out = jnp.sqrt(jnp.sum(diff * diff, axis=axis, keepdims=keepdim))
    else:
        out = jnp.sum(jnp.abs(diff) ** p, axis=axis, keepdims=keepdim) ** (1.0 / p)
    return out


# ----------------------------------------------------------------------------- shape ops


def _dim(dim: int, ndim: int, who: str) -> int:
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"{who}: dim {dim} is out of range for an input of rank {ndim}")
    return dim % max(ndim, 1)


def flatten(input: Array, start_dim: int = 0, end_dim: int = -1) -> Array:
    """Merge dims start_dim..end_dim (inclusive) in torch's (row-major) order.

    Args:
        input: any shape (a 0-d input becomes 1-d).
        start_dim: the first dim merged. Default: 0, as ``torch.flatten`` (``nn.Flatten``
            starts at 1).
        end_dim: the last dim merged. Default: -1.
    """
    if input.ndim == 0:
        return input.reshape(1)
    start, end = _dim(start_dim, input.ndim, "flatten"), _dim(end_dim, input.ndim, "flatten")
    if start > end:
        raise ValueError(
            f"flatten: start_dim {start_dim} comes after end_dim {end_dim} "
            f"for an input of rank {input.ndim}"
        )
    shape = input.shape
    return input.reshape(*shape[:start], math.prod(shape[start : end + 1]), *shape[end + 1 :])


def unflatten(input: Array, dim: int, sizes: Sequence[int]) -> Array:
    """Split dim ``dim`` into ``sizes`` (one entry may be -1).

    Args:
        input: any shape.
        dim: the dim to split.
        sizes: the new dims; their product is the size of ``dim``.

    Example::

        >>> F.unflatten(jnp.zeros((2, 12)), 1, (3, -1)).shape
        (2, 3, 4)
    """
    d = _dim(dim, input.ndim, "unflatten")
    sizes = tuple(int(s) for s in sizes)
    if sizes.count(-1) > 1:
        raise ValueError(f"unflatten: only one size may be -1, got {sizes}")
    known = math.prod(s for s in sizes if s != -1)
    n = input.shape[d]
    if -1 in sizes:
        if known == 0 or n % known:
            raise ValueError(f"unflatten: sizes {sizes} do not divide dim {dim} of size {n}")
        sizes = tuple(n // known if s == -1 else s for s in sizes)
    elif known != n:
        raise ValueError(
            f"unflatten: sizes {sizes} (product {known}) do not match dim {dim} "
            f"of size {n} (input shape {tuple(input.shape)})"
        )
    return input.reshape(*input.shape[:d], *sizes, *input.shape[d + 1 :])


def pad(
    input: Array, pad: Sequence[int], mode: str = "constant", value: float | None = None
) -> Array:
    """Pad with torch's argument order: ``pad`` lists (left, right) pairs starting
    from the *last* dimension. A negative pad removes elements in every mode, as in torch.

    Args:
        input: any shape ('constant'); (dims + 1)- or (dims + 2)-D for the other modes,
            which pad the last dims <= 3 dims.
        pad: (last_left, last_right, second_last_left, ...), an even number of ints.
        mode: 'constant', 'reflect', 'replicate' or 'circular'. Default: 'constant'.
        value: the fill of 'constant'. Default: None (0).

    Example::

        >>> F.pad(jnp.ones((1, 2)), (1, 2))  # the last dim: 1 before, 2 after
        Array([[0., 1., 1., 0., 0.]], dtype=float32)
    """
    return padding.pad(input, pad, mode, value, "pad")


def pixel_shuffle(input: Array, upscale_factor: int) -> Array:
    """(*, C r^2, H, W) -> (*, C, H r, W r), torch's channel order.

    Args:
        input: (*, C * r^2, H, W).
        upscale_factor: r.

    Shape: (*, C * r^2, H, W) -> (*, C, H * r, W * r).
    """
    r = int(upscale_factor)
    if input.ndim < 3:
        raise ValueError(
            f"pixel_shuffle: expected an input of at least 3 dims (*, C, H, W), "
            f"got shape {tuple(input.shape)}"
        )
    *lead, c, h, w = input.shape
    if r < 1 or c % (r * r):
        raise ValueError(
            f"pixel_shuffle: the channel dim ({c}) must be divisible by the square of "
            f"upscale_factor ({r})"
        )
    y = input.reshape(*lead, c // (r * r), r, r, h, w)  # (*, C, r, r, H, W)
    k = len(lead)
    y = y.transpose(*range(k), k, k + 3, k + 1, k + 4, k + 2)  # (*, C, H, r, W, r)
    return y.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input: Array, downscale_factor: int) -> Array:
    """The inverse of ``pixel_shuffle``: (*, C, H r, W r) -> (*, C r^2, H, W).

    Args:
        input: (*, C, H * r, W * r).
        downscale_factor: r.

    Shape: (*, C, H * r, W * r) -> (*, C * r^2, H, W).
    """
    r = int(downscale_factor)
    if input.ndim < 3:
        raise ValueError(
            f"pixel_unshuffle: expected an input of at least 3 dims (*, C, H, W), "
            f"got shape {tuple(input.shape)}"
        )
    *lead, c, h, w = input.shape
    if r < 1 or h % r or w % r:
        raise ValueError(
            f"pixel_unshuffle: height ({h}) and width ({w}) must be divisible by "
            f"downscale_factor ({r})"
        )
    y = input.reshape(*lead, c, h // r, r, w // r, r)  # (*, C, H, r, W, r)
    k = len(lead)
    y = y.transpose(*range(k), k, k + 2, k + 4, k + 1, k + 3)  # (*, C, r, r, H, W)
    return y.reshape(*lead, c * r * r, h // r, w // r)


def channel_shuffle(input: Array, groups: int) -> Array:
    """Interleave the channels of ``groups`` groups: (N, g * k, *) -> channel order
    0, k, 2k, ..., 1, k + 1, ... (ShuffleNet's shuffle).

    Args:
        input: (N, C, *) with at least one dim after C.
        groups: g; it must divide C.

    Shape: (N, C, *) -> (N, C, *).
    """
    if input.ndim < 3:
        raise ValueError(
            f"channel_shuffle: expected an input of at least 3 dims (N, C, *), "
            f"got shape {tuple(input.shape)}"
        )
    c = input.shape[1]
    if groups < 1 or c % groups:
        raise ValueError(
            f"channel_shuffle: number of channels ({c}) must be divisible by groups ({groups})"
        )
    n, rest = input.shape[0], input.shape[2:]
    y = input.reshape(n, groups, c // groups, *rest)
    return jnp.swapaxes(y, 1, 2).reshape(input.shape)


def interpolate(
    input: Array,
    size: int | Sequence[int] | None = None,
    scale_factor: float | Sequence[float] | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Array:
    """Resize (N, C, *spatial) input with torch's index rules.

    Modes: ``nearest`` (torch's floor rule), ``nearest-exact``, ``linear`` (3-D),
    ``bilinear`` / ``bicubic`` (4-D; bicubic with A = -0.75, reading outside the input
    as its border), ``trilinear`` (5-D) and ``area`` (adaptive average pooling).

    Args:
        input: (N, C, *spatial), 1 to 3 spatial dims.
        size: the output's spatial size: an int for every dim or one per dim. Exactly
            one of ``size`` and ``scale_factor`` is given. Default: None.
        scale_factor: a float for every dim or one per dim; the output size is
            floor(L * scale). Default: None.
        mode: one of the modes above. Default: 'nearest'.
        align_corners: for linear, bilinear, bicubic and trilinear only: the corner
            pixels' centres of input and output coincide. Default: None (False).
        recompute_scale_factor: with ``scale_factor``, sample with L / L_out (as with
            ``size``) rather than 1 / scale_factor. Default: None (False).
        antialias: only False: antialiased downsampling is not implemented. Default:
            False.

    Shape: (N, C, *S) -> (N, C, *S_out).
    """
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported by jaxnn")
    return resample.interpolate(
        input, size, scale_factor, mode, align_corners, recompute_scale_factor, "interpolate"
    )


def one_hot(tensor: Array, num_classes: int = -1) -> Array:
    """Integer class indices -> one-hot integer array with a trailing class dim.

    Args:
        tensor: integer class indices, any shape (torch's name).
        num_classes: the length of the class dim. Default: -1, max + 1 of the values,
            which needs concrete (not traced) input; pass it inside ``jit``.

    Shape: (*) -> (*, num_classes), int32 (torch: int64).

    Example::

        >>> F.one_hot(jnp.array([0, 2]), 3)
        Array([[1, 0, 0],
               [0, 0, 1]], dtype=int32)
    """
    if not jnp.issubdtype(tensor.dtype, jnp.integer):
        raise TypeError(
            f"one_hot: expected an integer tensor of class indices, got dtype {tensor.dtype}"
        )
    if num_classes == -1:
        try:
            num_classes = int(jnp.max(tensor)) + 1
        except jax.errors.ConcretizationTypeError as e:
            raise ValueError(
                "one_hot: num_classes=-1 needs concrete values; pass num_classes inside jit"
            ) from e
    return jax.nn.one_hot(tensor, num_classes, dtype=jnp.int32)
