"""BatchNorm1d and BatchNorm2d with torch's running statistics."""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from flax import linen

from jaxnn.core import norm
from jaxnn.layers.module import Module

__all__ = ["BatchNorm1d", "BatchNorm2d"]


class _BatchNorm(Module):
    """Shared body of BatchNorm1d/2d: normalize over every axis but the channel axis 1.

    Train mode is ``apply(..., mutable=['batch_stats'])``: the batch's statistics
    normalize the input and update the running ones. Otherwise (``apply(v, x)``) the
    running statistics are used. With ``track_running_stats=False`` there are no running
    statistics and the batch's are always used, as in torch.
    """

    num_features: int
    eps: float = 1e-5
    momentum: float | None = 0.1
    affine: bool = True
    track_running_stats: bool = True
    bias: bool = True
    dtype: Any = None
    param_dtype: Any = jnp.float32
    weight_init: Any = None
    bias_init: Any = None

    _ranks: ClassVar[tuple[int, ...]] = ()
    _shapes: ClassVar[str] = ""

    @linen.compact
    def __call__(self, input: jax.Array) -> jax.Array:
        c = self.num_features
        if input.ndim not in self._ranks or input.shape[1] != c:
            raise ValueError(
                f"{self._who()}: expected input of shape "
                f"{self._shapes.format(C=c)}, got {tuple(input.shape)}"
            )
        scale = bias = None
        if self.affine:
            scale_init = self.weight_init or linen.initializers.ones
            scale = self.param("scale", scale_init, (c,), self.param_dtype)
            if self.bias:
                bias_init = self.bias_init or linen.initializers.zeros
                bias = self.param("bias", bias_init, (c,), self.param_dtype)
        if not self.track_running_stats:
            y, _, _ = norm.batch_norm(
                input, None, None, scale, bias, use_batch_stats=True, eps=self.eps, who=self._who()
            )
            return y if self.dtype is None else y.astype(self.dtype)

        stats_dtype = jnp.promote_types(self.param_dtype, jnp.float32)
        mean = self.variable("batch_stats", "mean", jnp.zeros, (c,), stats_dtype)
        var = self.variable("batch_stats", "var", jnp.ones, (c,), stats_dtype)
        count = self.variable("batch_stats", "num_batches_tracked", jnp.zeros, (), jnp.int32)
        training = self.is_mutable_collection("batch_stats") and not self.is_initializing()
        y, batch_mean, batch_var = norm.batch_norm(
            input,
            mean.value,
            var.value,
            scale,
            bias,
            use_batch_stats=training,
            eps=self.eps,
            who=self._who(),
        )
        if training:
            count.value = count.value + 1
            if self.momentum is None:  # cumulative moving average, as torch
                factor = 1.0 / count.value.astype(stats_dtype)
            else:
                factor = jnp.asarray(self.momentum, stats_dtype)
            mean.value = (1 - factor) * mean.value + factor * batch_mean.astype(stats_dtype)
            var.value = (1 - factor) * var.value + factor * batch_var.astype(stats_dtype)
        return y if self.dtype is None else y.astype(self.dtype)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.affine and self.bias}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalization over (N, C) or (N, C, L) input, torch's ``nn.BatchNorm1d``.

    Args:
        num_features: C.
        eps: added to the variance. Default: 1e-5.
        momentum: running = (1 - momentum) * running + momentum * batch (torch's sense;
            Flax's ``momentum`` is the complement). None: cumulative average.
            Default: 0.1.
        affine: learn ``scale`` (torch's ``weight``) and ``bias``. Default: True.
        bias: with ``affine``, also learn ``bias`` (torch >= 2.13's keyword). Default: True.
        track_running_stats: keep ``batch_stats/{mean, var, num_batches_tracked}``; the
            running variance is the unbiased one, as torch. Default: True.
        dtype: output dtype (None: the input's). Statistics are float32 or wider.
        param_dtype: dtype of ``scale``/``bias``. Default: float32.
        weight_init: Flax initializer of ``scale`` (torch's ``weight``). Default: ones.
        bias_init: Flax initializer of ``bias``. Default: zeros.

    Shape:
        (N, C) or (N, C, L) -> same shape.
    """

    _ranks: ClassVar[tuple[int, ...]] = (2, 3)
    _shapes: ClassVar[str] = "(N, {C}) or (N, {C}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalization over (N, C, H, W) input, torch's ``nn.BatchNorm2d``.

    Args: as :class:`BatchNorm1d`.

    Shape:
        (N, C, H, W) -> same shape.

    Example::

        >>> x = jax.random.normal(jax.random.key(1), (4, 16, 8, 8))
        >>> bn = nn.BatchNorm2d(16)
        >>> v = bn.init(jax.random.key(0), x)
        >>> y, updates = bn.apply(v, x, mutable=["batch_stats"])   # train mode
        >>> y = bn.apply({**v, **updates}, x)                        # eval mode
    """

    _ranks: ClassVar[tuple[int, ...]] = (4,)
    _shapes: ClassVar[str] = "(N, {C}, H, W)"
