"""`import jaxnn.functional as F`: torch.nn.functional's operations on JAX arrays.

Inputs and outputs use torch's layouts: images are NCHW (a leading batch dimension
may be left out, as torch allows), features are (N, C), and ``dim`` arguments count
like torch's. Weights passed to these functions are in *torch's* layout
(``linear``: (out, in), ``conv2d``: (out, in/groups, kH, kW)); the layers in
``jaxnn.layers`` keep Flax's layout ((in, out), HWIO) and use the same code paths.

Every torch rule for an operation (padding, ceil_mode output sizes, average-pool
divisors, adaptive bin edges, batch statistics) is written once here, and the
layers call it, so a layer and its functional form cannot drift apart.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

# the loss functions live with their classes in jaxnn.losses; F is their torch home too
from jaxnn.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)

__all__ = [
    "adaptive_avg_pool2d",
    "adaptive_max_pool2d",
    "avg_pool2d",
    "batch_norm",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "conv2d",
    "cross_entropy",
    "dropout",
    "elu",
    "flatten",
    "gelu",
    "huber_loss",
    "kl_div",
    "l1_loss",
    "leaky_relu",
    "linear",
    "log_softmax",
    "max_pool2d",
    "mse_loss",
    "nll_loss",
    "one_hot",
    "pad",
    "relu",
    "sigmoid",
    "silu",
    "smooth_l1_loss",
    "softmax",
    "tanh",
    "unflatten",
]

Array = jax.Array
IntOr2 = int | tuple[int, int]


# ----------------------------------------------------------------------------- helpers


def _pair(value: IntOr2 | Sequence[int], name: str) -> tuple[int, int]:
    """Torch's `_pair`: an int or a 2-sequence of ints -> (h, w)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value), int(value))
    if (
        isinstance(value, Sequence)
        and len(value) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
    ):
        return (int(value[0]), int(value[1]))
    raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")


def _as_batched_image(x: Array, who: str, channels: int | None = None) -> tuple[Array, bool]:
    """Accept (N, C, H, W) or unbatched (C, H, W); return the 4-D array and whether
    a batch dimension was added."""
    if x.ndim not in (3, 4):
        expect = (
            "(N, C, H, W) or (C, H, W)"
            if channels is None
            else (f"(N, {channels}, H, W) or ({channels}, H, W)")
        )
        raise ValueError(f"{who}: expected input of shape {expect}, got {tuple(x.shape)}")
    if channels is not None and x.shape[-3] != channels:
        raise ValueError(
            f"{who}: expected input of shape (N, {channels}, H, W) or ({channels}, H, W), "
            f"got {tuple(x.shape)} ({x.shape[-3]} channels)"
        )
    if x.ndim == 3:
        return x[None], True
    return x, False


def _pool_output_size(
    size: int, kernel: int, stride: int, pad: int, dilation: int, ceil_mode: bool
) -> int:
    """Torch's pooling output length, including its ceil_mode rule that the last
    window must start inside the input or the left padding."""
    span = size + 2 * pad - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _check_pool_args(who: str, kernel, stride, padding, dilation=(1, 1)) -> None:
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


def _check_pool_fits(who: str, spatial, out) -> None:
    if min(out) < 1:
        raise ValueError(
            f"{who}: input of spatial size {tuple(spatial)} is too small; "
            f"the output would be {tuple(out)}"
        )


# ----------------------------------------------------------------------------- activations


def relu(input: Array, inplace: bool = False) -> Array:
    """max(0, x). ``inplace`` is accepted for torch compatibility (JAX arrays are
    immutable, so a new array is always returned)."""
    return jax.nn.relu(input)


def leaky_relu(input: Array, negative_slope: float = 0.01, inplace: bool = False) -> Array:
    """x if x >= 0 else negative_slope * x."""
    return jnp.where(input >= 0, input, negative_slope * input)


def elu(input: Array, alpha: float = 1.0, inplace: bool = False) -> Array:
    """x if x > 0 else alpha * (exp(x) - 1)."""
    return jnp.where(input > 0, input, alpha * jnp.expm1(jnp.minimum(input, 0)))


def gelu(input: Array, approximate: str = "none") -> Array:
    """Gaussian error linear unit; ``approximate='tanh'`` selects the tanh form."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return jax.nn.gelu(input, approximate=approximate == "tanh")


def silu(input: Array, inplace: bool = False) -> Array:
    """x * sigmoid(x)."""
    return jax.nn.silu(input)


def sigmoid(input: Array) -> Array:
    """1 / (1 + exp(-x))."""
    return jax.nn.sigmoid(input)


def tanh(input: Array) -> Array:
    """Hyperbolic tangent."""
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
    (N, C) logits is 1)."""
    dim = _softmax_dim(input.ndim, dim, "softmax")
    if dtype is not None:
        input = input.astype(dtype)
    return jax.nn.softmax(input, axis=dim)


def log_softmax(input: Array, dim: int | None = None, dtype: Any = None) -> Array:
    """log(softmax(x)) along ``dim``, computed stably."""
    dim = _softmax_dim(input.ndim, dim, "log_softmax")
    if dtype is not None:
        input = input.astype(dtype)
    return jax.nn.log_softmax(input, axis=dim)


# ----------------------------------------------------------------------------- linear / conv


def _linear(x: Array, kernel: Array, bias: Array | None, precision=None) -> Array:
    """x @ kernel (+ bias) with kernel in Flax layout (in, out)."""
    y = lax.dot_general(x, kernel, (((x.ndim - 1,), (0,)), ((), ())), precision=precision)
    if bias is not None:
        y = y + bias.reshape((1,) * (y.ndim - 1) + (-1,))
    return y


def linear(input: Array, weight: Array, bias: Array | None = None) -> Array:
    """y = x W^T + b with ``weight`` in torch's layout (out_features, in_features).

    Shape: input (*, in_features) -> (*, out_features).
    """
    if input.shape[-1:] != weight.shape[1:]:
        raise ValueError(
            f"linear: input has {input.shape[-1] if input.ndim else 0} features "
            f"(shape {tuple(input.shape)}) but weight expects {weight.shape[1]} "
            f"(weight shape {tuple(weight.shape)})"
        )
    return _linear(input, weight.T, bias)


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
    ph, pw = _pair(padding, f"{who}: padding")
    if ph < 0 or pw < 0:
        raise ValueError(f"{who}: padding must be non-negative, got {padding}")
    return ((ph, ph), (pw, pw))


_PAD_MODES = {"zeros": None, "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _conv2d(
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
    if padding_mode not in _PAD_MODES:
        raise ValueError(
            f"{who}: padding_mode must be one of {sorted(_PAD_MODES)}, got {padding_mode!r}"
        )
    x, unbatched = _as_batched_image(x, who)
    if _PAD_MODES[padding_mode] is not None and any(p for pair in padding for p in pair):
        (pt, pb), (pl, pr) = padding
        for size, (lo, hi) in zip(x.shape[2:], padding):
            if padding_mode == "reflect" and max(lo, hi) >= size:
                raise ValueError(
                    f"{who}: reflect padding {max(lo, hi)} must be smaller than "
                    f"the input's spatial size {tuple(x.shape[2:])}"
                )
        x = jnp.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), mode=_PAD_MODES[padding_mode])
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


def conv2d(
    input: Array,
    weight: Array,
    bias: Array | None = None,
    stride: IntOr2 = 1,
    padding: str | IntOr2 = 0,
    dilation: IntOr2 = 1,
    groups: int = 1,
) -> Array:
    """2-D convolution with ``weight`` in torch's layout (out, in/groups, kH, kW).

    Shape: input (N, C_in, H, W) or (C_in, H, W) -> (N, C_out, H_out, W_out).
    """
    if weight.ndim != 4:
        raise ValueError(
            f"conv2d: weight must be 4-D (out, in/groups, kH, kW), got shape {tuple(weight.shape)}"
        )
    c_in = input.shape[-3] if input.ndim >= 3 else None
    if c_in is not None and c_in != weight.shape[1] * groups:
        raise ValueError(
            f"conv2d: input has {c_in} channels (shape {tuple(input.shape)}) but weight "
            f"{tuple(weight.shape)} with groups={groups} expects {weight.shape[1] * groups}"
        )
    stride, dilation = _pair(stride, "conv2d: stride"), _pair(dilation, "conv2d: dilation")
    pads = conv_padding(padding, tuple(weight.shape[2:]), stride, dilation, "conv2d")
    return _conv2d(
        input,
        weight,
        bias,
        kernel_layout="OIHW",
        stride=stride,
        padding=pads,
        dilation=dilation,
        groups=groups,
    )


# ----------------------------------------------------------------------------- pooling


def _max_pool2d(x, kernel, stride, padding, dilation, ceil_mode, who):
    x, unbatched = _as_batched_image(x, who)
    _check_pool_args(who, kernel, stride, padding, dilation)
    spatial = x.shape[2:]
    out = tuple(
        _pool_output_size(s, k, st, p, d, ceil_mode)
        for s, k, st, p, d in zip(spatial, kernel, stride, padding, dilation)
    )
    _check_pool_fits(who, spatial, out)
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
# max (select_and_scatter) was 3-6x slower on CPU: (128, 32, 32, 32) 2x2 backward 119 ms
# against 21 ms, (128, 6, 28, 28) 7.0 ms against 2.5 ms.
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


def max_pool2d(
    input: Array,
    kernel_size: IntOr2,
    stride: IntOr2 | None = None,
    padding: IntOr2 = 0,
    dilation: IntOr2 = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Array:
    """2-D max pooling; ``stride`` defaults to ``kernel_size`` as in torch, padding is
    -inf.

    Shape: (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out), with torch's floor /
    ceil_mode output size.
    """
    if return_indices:
        raise NotImplementedError("max_pool2d: return_indices=True is not supported by jaxnn")
    kernel = _pair(kernel_size, "max_pool2d: kernel_size")
    stride = kernel if stride is None else _pair(stride, "max_pool2d: stride")
    return _max_pool2d(
        input,
        kernel,
        stride,
        _pair(padding, "max_pool2d: padding"),
        _pair(dilation, "max_pool2d: dilation"),
        ceil_mode,
        "max_pool2d",
    )


def _avg_divisor(size, kernel, stride, pad, out, count_include_pad) -> np.ndarray:
    """Torch's per-position average-pool divisor along one axis (static numpy)."""
    start = np.arange(out) * stride - pad
    end = np.minimum(start + kernel, size + pad)
    if count_include_pad:
        return (end - start).astype(np.float64)
    return (np.minimum(end, size) - np.maximum(start, 0)).astype(np.float64)


def _avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override, who):
    x, unbatched = _as_batched_image(x, who)
    _check_pool_args(who, kernel, stride, padding)
    if divisor_override is not None and divisor_override == 0:
        raise ValueError(f"{who}: divisor_override must be non-zero")
    spatial = x.shape[2:]
    out = tuple(
        _pool_output_size(s, k, st, p, 1, ceil_mode)
        for s, k, st, p in zip(spatial, kernel, stride, padding)
    )
    _check_pool_fits(who, spatial, out)
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


def avg_pool2d(
    input: Array,
    kernel_size: IntOr2,
    stride: IntOr2 | None = None,
    padding: IntOr2 = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Array:
    """2-D average pooling with torch's divisor rules (``count_include_pad``,
    ``ceil_mode`` windows that overhang the padding, ``divisor_override``).

    Shape: (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out).
    """
    kernel = _pair(kernel_size, "avg_pool2d: kernel_size")
    stride = kernel if stride is None else _pair(stride, "avg_pool2d: stride")
    return _avg_pool2d(
        input,
        kernel,
        stride,
        _pair(padding, "avg_pool2d: padding"),
        ceil_mode,
        count_include_pad,
        divisor_override,
        "avg_pool2d",
    )


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


def _adaptive_avg_pool2d(x, output_size, who):
    x, unbatched = _as_batched_image(x, who)
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


def adaptive_avg_pool2d(input: Array, output_size: int | Sequence[int | None] | None) -> Array:
    """Average over torch's adaptive bins so the output is ``output_size`` (None keeps
    that input dimension). Works for outputs larger than the input.

    Shape: (N, C, H, W) or (C, H, W) -> (N, C, *output_size).
    """
    return _adaptive_avg_pool2d(input, output_size, "adaptive_avg_pool2d")


def _adaptive_max_pool2d(x, output_size, who):
    x, unbatched = _as_batched_image(x, who)
    h, w = x.shape[2:]
    oh, ow = _adaptive_output_size(output_size, (h, w), who)
    if h % oh == 0 and w % ow == 0:
        y = _max_pool2d(x, (h // oh, w // ow), (h // oh, w // ow), (0, 0), (1, 1), False, who)
    else:
        rows = jnp.stack([x[:, :, s:e].max(axis=2) for s, e in _adaptive_bins(h, oh)], axis=2)
        y = jnp.stack([rows[..., s:e].max(axis=3) for s, e in _adaptive_bins(w, ow)], axis=3)
    return y[0] if unbatched else y


def adaptive_max_pool2d(
    input: Array, output_size: int | Sequence[int | None] | None, return_indices: bool = False
) -> Array:
    """Max over torch's adaptive bins so the output is ``output_size``.

    Shape: (N, C, H, W) or (C, H, W) -> (N, C, *output_size).
    """
    if return_indices:
        raise NotImplementedError(
            "adaptive_max_pool2d: return_indices=True is not supported by jaxnn"
        )
    return _adaptive_max_pool2d(input, output_size, "adaptive_max_pool2d")


# ----------------------------------------------------------------------------- normalization


def _batch_norm(x, mean, var, scale, bias, *, use_batch_stats: bool, eps: float, who: str):
    """Normalize (N, C, ...) over every axis but 1.

    Returns (output, batch_mean, unbiased_batch_var); the last two are None when the
    running statistics were used. Statistics are computed in float32 (or wider) even
    for half-precision inputs, as torch does.
    """
    axes = (0, *range(2, x.ndim))
    compute = jnp.promote_types(x.dtype, jnp.float32)
    xc = x.astype(compute)
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    batch_mean = batch_var = None
    if use_batch_stats:
        n = math.prod(x.shape[a] for a in axes)
        if n <= 1:
            raise ValueError(
                f"{who}: expected more than 1 value per channel when training, "
                f"got input of shape {tuple(x.shape)}"
            )
        mean = xc.mean(axis=axes)
        var = jnp.square(xc - mean.reshape(shape)).mean(axis=axes)
        batch_mean, batch_var = mean, var * (n / (n - 1))
    inv = lax.rsqrt(var.astype(compute) + eps)
    if scale is not None:
        inv = inv * scale.astype(compute)
    y = (xc - mean.astype(compute).reshape(shape)) * inv.reshape(shape)
    if bias is not None:
        y = y + bias.astype(compute).reshape(shape)
    return y.astype(x.dtype), batch_mean, batch_var


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

    ``training=True`` normalizes with the batch statistics. Unlike torch, the running
    statistics are *not* updated in place (JAX arrays are immutable); ``nn.BatchNorm2d``
    keeps them in the ``batch_stats`` collection. ``momentum`` is accepted for
    signature compatibility and has no effect here.
    """
    if input.ndim < 2:
        raise ValueError(
            f"batch_norm: expected input of shape (N, C, ...), got {tuple(input.shape)}"
        )
    if not training and (running_mean is None or running_var is None):
        raise ValueError(
            "batch_norm: running_mean and running_var are required when training=False"
        )
    y, _, _ = _batch_norm(
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


# ----------------------------------------------------------------------------- shape ops


def _dim(dim: int, ndim: int, who: str) -> int:
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"{who}: dim {dim} is out of range for an input of rank {ndim}")
    return dim % max(ndim, 1)


def flatten(input: Array, start_dim: int = 0, end_dim: int = -1) -> Array:
    """Merge dims start_dim..end_dim (inclusive) in torch's (row-major) order."""
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
    """Split dim ``dim`` into ``sizes`` (one entry may be -1)."""
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
    from the *last* dimension. Modes: constant (negative pads crop), reflect,
    replicate, circular.
    """
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(
            f"pad: padding {pad} must have an even length of at most "
            f"2 * {input.ndim} (the input's rank)"
        )
    pairs = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        pairs[input.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    if mode == "constant":
        fill = jnp.asarray(0 if value is None else value, input.dtype)
        return lax.pad(input, fill, [(lo, hi, 0) for lo, hi in pairs])
    modes = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}
    if mode not in modes:
        raise ValueError(
            f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}"
        )
    if value not in (None, 0):
        raise ValueError(f"pad: value is only used with mode='constant', got mode={mode!r}")
    for size, (lo, hi) in zip(input.shape, pairs):
        if lo < 0 or hi < 0:
            raise ValueError(f"pad: negative padding {pad} is only supported by mode='constant'")
        if mode == "reflect" and max(lo, hi) >= max(size, 1):
            raise ValueError(
                f"pad: reflect padding {max(lo, hi)} must be smaller than the "
                f"padded dimension ({size}) of input {tuple(input.shape)}"
            )
        if mode == "circular" and max(lo, hi) > size:
            raise ValueError(
                f"pad: circular padding {max(lo, hi)} must be at most the "
                f"padded dimension ({size}) of input {tuple(input.shape)}"
            )
    return jnp.pad(input, pairs, mode=modes[mode])


def one_hot(tensor: Array, num_classes: int = -1) -> Array:
    """Integer class indices -> one-hot integer array with a trailing class dim.

    ``num_classes=-1`` infers max + 1 from the values, which needs concrete (not
    traced) input; pass ``num_classes`` inside ``jit``.
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
