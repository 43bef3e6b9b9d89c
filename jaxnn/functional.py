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
from jax import lax

from jaxnn.core import attention, conv, norm, pooling
from jaxnn.core import embedding as embedding_core
from jaxnn.core.args import IntOr2, pair

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
    "embedding",
    "flatten",
    "gelu",
    "group_norm",
    "huber_loss",
    "instance_norm",
    "kl_div",
    "l1_loss",
    "layer_norm",
    "leaky_relu",
    "linear",
    "local_response_norm",
    "log_softmax",
    "max_pool2d",
    "mse_loss",
    "nll_loss",
    "one_hot",
    "pad",
    "relu",
    "rms_norm",
    "scaled_dot_product_attention",
    "sigmoid",
    "silu",
    "smooth_l1_loss",
    "softmax",
    "tanh",
    "unflatten",
]

Array = jax.Array


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
    """Gaussian error linear unit; ``approximate='tanh'`` selects the tanh form.

    The exact form is torch's formula, x / 2 * (1 + erf(x / sqrt(2))); ``jax.nn.gelu``
    writes it with erfc, which XLA:CPU evaluates several times slower than erf.
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
    return conv.linear(input, weight.T, bias)


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
    stride, dilation = pair(stride, "conv2d: stride"), pair(dilation, "conv2d: dilation")
    pads = conv.conv_padding(padding, tuple(weight.shape[2:]), stride, dilation, "conv2d")
    return conv.conv2d(
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
    kernel = pair(kernel_size, "max_pool2d: kernel_size")
    stride = kernel if stride is None else pair(stride, "max_pool2d: stride")
    return pooling.max_pool2d(
        input,
        kernel,
        stride,
        pair(padding, "max_pool2d: padding"),
        pair(dilation, "max_pool2d: dilation"),
        ceil_mode,
        "max_pool2d",
    )


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
    kernel = pair(kernel_size, "avg_pool2d: kernel_size")
    stride = kernel if stride is None else pair(stride, "avg_pool2d: stride")
    return pooling.avg_pool2d(
        input,
        kernel,
        stride,
        pair(padding, "avg_pool2d: padding"),
        ceil_mode,
        count_include_pad,
        divisor_override,
        "avg_pool2d",
    )


def adaptive_avg_pool2d(input: Array, output_size: int | Sequence[int | None] | None) -> Array:
    """Average over torch's adaptive bins so the output is ``output_size`` (None keeps
    that input dimension). Works for outputs larger than the input.

    Shape: (N, C, H, W) or (C, H, W) -> (N, C, *output_size).
    """
    return pooling.adaptive_avg_pool2d(input, output_size, "adaptive_avg_pool2d")


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
    return pooling.adaptive_max_pool2d(input, output_size, "adaptive_max_pool2d")


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

    ``padding_idx`` rows pass no gradient; ``max_norm`` rescales looked-up rows whose
    ``norm_type``-norm exceeds it (in the output only: ``weight`` is not modified, unlike
    torch's in-place renormalization); ``scale_grad_by_freq`` divides each row's gradient
    by its count in ``input``; ``sparse`` is accepted (JAX gradients are dense). An index
    outside [0, num_embeddings) raises IndexError when ``input`` is concrete and gives a
    row of NaN under ``jit``.

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
    variance), then ``weight`` and ``bias`` of that shape.

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
    ``weight``; ``eps=None`` is the machine epsilon of the input's dtype.

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
    ``bias`` (C,).

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
    spatial axes (``use_input_stats``), or with ``running_mean`` / ``running_var``.

    As with :func:`batch_norm`, the running statistics are not updated in place (JAX
    arrays are immutable; ``nn.InstanceNorm1d/2d`` keep them in ``batch_stats``), and
    ``momentum`` has no effect here.

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

    Shape: (N, C, *) with at least one spatial axis -> same shape.
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
    """softmax(Q K^T * scale + mask) V, torch's ``F.scaled_dot_product_attention``.

    ``attn_mask``: boolean (True: the key *takes part*, torch's convention here) or float
    (added to the scores), broadcastable to (*, L, S). ``is_causal``: query i attends to
    keys j <= i (cannot be combined with ``attn_mask``). ``scale`` defaults to
    1/sqrt(E). ``enable_gqa``: key/value may have fewer heads, each serving a block of
    query heads. A query row whose keys are all masked gives 0, as torch.

    Runs through ``jax.nn.dot_product_attention`` (XLA's fused attention on GPUs) unless
    ``dropout_p > 0`` or the value's head size differs from the query's. Dropout needs
    ``dropout_key`` (a ``jax.random`` key); ``key`` is the keys, as in torch.

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
