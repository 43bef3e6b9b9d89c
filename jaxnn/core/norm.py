"""Normalization as both jaxnn.functional and the normalization layers compute it."""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax import lax

__all__ = ["batch_norm"]


def batch_norm(x, mean, var, scale, bias, *, use_batch_stats: bool, eps: float, who: str):
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
