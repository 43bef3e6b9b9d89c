"""torch's pairwise distance, shared by the triplet losses (and any distance layer)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["pairwise_distance"]


def pairwise_distance(
    x1: jax.Array, x2: jax.Array, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False
) -> jax.Array:
    """torch's ``pairwise_distance``: the p-norm of ``x1 - x2 + eps`` over the last axis
    (``eps`` is added to the difference, before the norm, as torch adds it).

    Args:
        x1: the first input, (*, D).
        x2: the second, broadcastable with ``x1``.
        p: the norm's order. Default: 2.0.
        eps: added to every element of the difference. Default: 1e-6.
        keepdim: keep the reduced last axis with size 1. Default: False.
    """
    x1, x2 = jnp.broadcast_arrays(x1, x2)
    return jnp.linalg.vector_norm(x1 - x2 + eps, ord=p, axis=-1, keepdims=keepdim)
