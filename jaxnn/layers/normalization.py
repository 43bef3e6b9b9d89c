"""LayerNorm, RMSNorm, GroupNorm, InstanceNorm1d/2d and LocalResponseNorm.

Statistics are two-pass (mean, then the mean of squared deviations) and computed in
float32 or wider, as torch computes them.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from flax import linen

from jaxnn.core import norm
from jaxnn.layers.module import Module

__all__ = [
    "GroupNorm",
    "InstanceNorm1d",
    "InstanceNorm2d",
    "LayerNorm",
    "LocalResponseNorm",
    "RMSNorm",
]


def _as_tuple(module: Module, field: str) -> None:
    """A list ``normalized_shape`` is stored as a tuple (module fields must hash)."""
    value = getattr(module, field)
    if isinstance(value, list):
        object.__setattr__(module, field, tuple(value))


class LayerNorm(Module):
    """Layer normalization over the trailing ``normalized_shape`` axes, torch's
    ``nn.LayerNorm``: y = (x - E[x]) / sqrt(Var[x] + eps) * weight + bias.

    Args:
        normalized_shape: the trailing shape to normalize over (an int for the last axis).
        eps: added to the variance. Default: 1e-5 (Flax's LayerNorm uses 1e-6).
        elementwise_affine: learn ``scale`` (torch's ``weight``, ones) and ``bias``
            (zeros) of ``normalized_shape``. Default: True.
        bias: with ``elementwise_affine``, also learn ``bias``. Default: True.
        dtype: output dtype (None: the input's). Statistics are float32 or wider.
        param_dtype: parameter dtype. Default: float32.

    Shape:
        (*, *normalized_shape) -> same shape.

    Variables: ``params/scale`` and ``params/bias``, shaped ``normalized_shape``.

    Example::

        >>> ln = nn.LayerNorm(128)
        >>> x = jnp.ones((2, 5, 128))  # (B, T, C)
        >>> v = ln.init(jax.random.key(0), x)
        >>> ln.apply(v, x).shape, jax.tree_util.tree_map(jnp.shape, v["params"])
        ((2, 5, 128), {'bias': (128,), 'scale': (128,)})
    """

    normalized_shape: int | Sequence[int]
    eps: float = 1e-5
    elementwise_affine: bool = True
    bias: bool = True
    dtype: Any = None
    param_dtype: Any = jnp.float32

    def __post_init__(self) -> None:
        _as_tuple(self, "normalized_shape")
        norm.normalized_shape(self.normalized_shape, type(self).__name__)
        super().__post_init__()

    @linen.compact
    def __call__(self, input: jax.Array) -> jax.Array:
        return self._normalize(input)

    def _normalize(self, input: jax.Array) -> jax.Array:
        """The normalization with this layer's parameters, for ``__call__`` and for a
        subclass that moves axes around it (torchvision's LayerNorm2d): one recorded call
        per layer, so a per-layer report sees the subclass's output."""
        shape = norm.normalized_shape(self.normalized_shape, self._who())
        scale = bias = None
        if self.elementwise_affine:
            scale = self.param("scale", linen.initializers.ones, shape, self.param_dtype)
            if self.bias:
                bias = self.param("bias", linen.initializers.zeros, shape, self.param_dtype)
        y = norm.layer_norm(input, shape, scale, bias, self.eps, self._who())
        return y if self.dtype is None else y.astype(self.dtype)

    def extra_repr(self) -> str:
        shape = norm.normalized_shape(self.normalized_shape, type(self).__name__)
        return (
            f"{shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
            f"bias={self.elementwise_affine and self.bias}"
        )


class RMSNorm(Module):
    """Root-mean-square normalization over the trailing ``normalized_shape`` axes,
    torch's ``nn.RMSNorm``: y = x / sqrt(mean(x^2) + eps) * weight.

    Args:
        normalized_shape: the trailing shape to normalize over (an int for the last axis).
        eps: added to the mean square. Default: None, the machine epsilon of the
            input's dtype (torch's default; Flax's RMSNorm uses 1e-6).
        elementwise_affine: learn ``scale`` (torch's ``weight``, ones). Default: True.
        dtype: output dtype (None: the input's).
        param_dtype: parameter dtype. Default: float32.

    Shape:
        (*, *normalized_shape) -> same shape.
    """

    normalized_shape: int | Sequence[int]
    eps: float | None = None
    elementwise_affine: bool = True
    dtype: Any = None
    param_dtype: Any = jnp.float32

    def __post_init__(self) -> None:
        _as_tuple(self, "normalized_shape")
        norm.normalized_shape(self.normalized_shape, type(self).__name__)
        super().__post_init__()

    @linen.compact
    def __call__(self, input: jax.Array) -> jax.Array:
        shape = norm.normalized_shape(self.normalized_shape, self._who())
        scale = None
        if self.elementwise_affine:
            scale = self.param("scale", linen.initializers.ones, shape, self.param_dtype)
        y = norm.rms_norm(input, shape, scale, self.eps, self._who())
        return y if self.dtype is None else y.astype(self.dtype)

    def extra_repr(self) -> str:
        shape = norm.normalized_shape(self.normalized_shape, type(self).__name__)
        return f"{shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class GroupNorm(Module):
    """Group normalization, torch's ``nn.GroupNorm``: the channels of (N, C, *) are split
    into ``num_groups`` groups, each normalized over its channels and the spatial axes,
    then a per-channel affine transform.

    Args:
        num_groups: groups to split the channels into; must divide ``num_channels``.
        num_channels: C.
        eps: added to the variance. Default: 1e-5.
        affine: learn per-channel ``scale`` (ones) and ``bias`` (zeros). Default: True.
        bias: with ``affine``, also learn ``bias`` (torch >= 2.13's keyword). Default: True.
        dtype: output dtype (None: the input's).
        param_dtype: parameter dtype. Default: float32.

    Shape:
        (N, C, *) -> same shape.
    """

    num_groups: int
    num_channels: int
    eps: float = 1e-5
    affine: bool = True
    bias: bool = True
    dtype: Any = None
    param_dtype: Any = jnp.float32

    def __post_init__(self) -> None:
        if self.num_groups <= 0 or self.num_channels % self.num_groups:
            raise ValueError(
                f"GroupNorm: num_channels ({self.num_channels}) must be divisible by "
                f"num_groups ({self.num_groups})"
            )
        super().__post_init__()

    @linen.compact
    def __call__(self, input: jax.Array) -> jax.Array:
        c = self.num_channels
        if input.ndim < 2 or input.shape[1] != c:
            raise ValueError(
                f"{self._who()}: expected input of shape (N, {c}, *), got {tuple(input.shape)}"
            )
        scale = bias = None
        if self.affine:
            scale = self.param("scale", linen.initializers.ones, (c,), self.param_dtype)
            if self.bias:
                bias = self.param("bias", linen.initializers.zeros, (c,), self.param_dtype)
        y = norm.group_norm(input, self.num_groups, scale, bias, self.eps, self._who())
        return y if self.dtype is None else y.astype(self.dtype)

    def extra_repr(self) -> str:
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
            f"bias={self.affine and self.bias}"
        )


class _InstanceNorm(Module):
    """Shared body of InstanceNorm1d/2d: each (sample, channel) normalized over its
    spatial axes.

    With ``track_running_stats``, train mode (``apply(..., mutable=['batch_stats'])``)
    normalizes with the instance statistics and folds their batch average into the
    running ones; eval mode (``apply(v, x)``) uses the running statistics. Without it,
    instance statistics are always used, as in torch.
    """

    num_features: int
    eps: float = 1e-5
    momentum: float | None = 0.1
    affine: bool = False
    track_running_stats: bool = False
    bias: bool = True
    dtype: Any = None
    param_dtype: Any = jnp.float32

    _spatial: ClassVar[int] = 0
    _shapes: ClassVar[str] = ""

    @linen.compact
    def __call__(self, input: jax.Array) -> jax.Array:
        c = self.num_features
        if input.ndim not in (self._spatial + 1, self._spatial + 2):
            raise ValueError(
                f"{self._who()}: expected input of shape {self._shapes.format(C=c)}, got "
                f"{tuple(input.shape)}"
            )
        unbatched = input.ndim == self._spatial + 1
        x = input[None] if unbatched else input
        if x.shape[1] != c:
            dim = input.ndim - self._spatial - 1
            if self.affine or self.track_running_stats:
                raise ValueError(
                    f"{self._who()}: expected input's size at dim={dim} to match "
                    f"num_features ({c}), but got: {x.shape[1]} (shape {tuple(input.shape)})"
                )
            warnings.warn(  # torch's warning: num_features is unused without affine
                f"{self._who()}: input's size at dim={dim} does not match num_features. "
                "You can silence this warning by not passing in num_features, which is not "
                "used because affine=False",
                stacklevel=2,
            )
        scale = bias = None
        if self.affine:
            scale = self.param("scale", linen.initializers.ones, (c,), self.param_dtype)
            if self.bias:
                bias = self.param("bias", linen.initializers.zeros, (c,), self.param_dtype)
        mean = var = None
        training = True
        if self.track_running_stats:
            stats_dtype = jnp.promote_types(self.param_dtype, jnp.float32)
            mean = self.variable("batch_stats", "mean", jnp.zeros, (c,), stats_dtype)
            var = self.variable("batch_stats", "var", jnp.ones, (c,), stats_dtype)
            # torch registers the counter for every _NormBase; instance norm never advances it
            self.variable("batch_stats", "num_batches_tracked", jnp.zeros, (), jnp.int32)
            training = self.is_mutable_collection("batch_stats") and not self.is_initializing()
        y, batch_mean, batch_var = norm.instance_norm(
            x,
            None if training else mean.value,
            None if training else var.value,
            scale,
            bias,
            use_input_stats=training,
            eps=self.eps,
            who=self._who(),
        )
        if training and self.track_running_stats and self.momentum is not None:
            # torch: momentum None leaves the running statistics unchanged here
            factor = jnp.asarray(self.momentum, mean.value.dtype)
            mean.value = (1 - factor) * mean.value + factor * batch_mean.astype(factor.dtype)
            var.value = (1 - factor) * var.value + factor * batch_var.astype(factor.dtype)
        y = y[0] if unbatched else y
        return y if self.dtype is None else y.astype(self.dtype)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.affine and self.bias}, "
            f"track_running_stats={self.track_running_stats}"
        )


class InstanceNorm1d(_InstanceNorm):
    """Instance normalization over (N, C, L) or unbatched (C, L) input, torch's
    ``nn.InstanceNorm1d``.

    Args:
        num_features: C.
        eps: added to the variance. Default: 1e-5.
        momentum: running = (1 - momentum) * running + momentum * batch average of the
            instance statistics (torch's sense). None: running statistics stay as they
            are. Default: 0.1.
        affine: learn per-channel ``scale`` and ``bias``. Default: False.
        track_running_stats: keep ``batch_stats/{mean, var, num_batches_tracked}`` and
            use them in eval mode. Default: False.
        bias: with ``affine``, also learn ``bias``. Default: True.
        dtype: output dtype (None: the input's).
        param_dtype: parameter dtype. Default: float32.

    Shape:
        (N, C, L) or (C, L) -> same shape.
    """

    _spatial: ClassVar[int] = 1
    _shapes: ClassVar[str] = "(N, {C}, L) or ({C}, L)"


class InstanceNorm2d(_InstanceNorm):
    """Instance normalization over (N, C, H, W) or unbatched (C, H, W) input, torch's
    ``nn.InstanceNorm2d``.

    Args: as :class:`InstanceNorm1d`.

    Shape:
        (N, C, H, W) or (C, H, W) -> same shape.
    """

    _spatial: ClassVar[int] = 2
    _shapes: ClassVar[str] = "(N, {C}, H, W) or ({C}, H, W)"


class LocalResponseNorm(Module):
    """Local response normalization across channels, torch's ``nn.LocalResponseNorm``:
    y = x / (k + alpha / size * sum of x^2 over ``size`` neighbouring channels)^beta.

    Args:
        size: neighbouring channels in the sum (size // 2 before, (size - 1) // 2 after).
        alpha: multiplicative factor. Default: 1e-4.
        beta: exponent. Default: 0.75.
        k: additive factor. Default: 1.0.

    Shape:
        (N, C, *) with at least one spatial axis -> same shape.
    """

    size: int
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"LocalResponseNorm: size must be positive, got {self.size}")
        super().__post_init__()

    def __call__(self, input: jax.Array) -> jax.Array:
        return norm.local_response_norm(
            input, self.size, self.alpha, self.beta, self.k, self._who()
        )

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
