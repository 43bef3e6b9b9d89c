"""torch's ``lerp``, which the optimizers' moment updates and swa_utils' averages use."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["lerp"]


def lerp(start: jax.Array, end: jax.Array, weight: Any) -> jax.Array:
    """``start + weight * (end - start)`` as torch's CPU kernel computes it: for
    ``weight >= 0.5`` it switches to ``end - (end - start) * (1 - weight)``, accurate near
    both ends.

    Args:
        start: the value at weight 0.
        end: the value at weight 1.
        weight: a Python number (the branch is then chosen once, in Python) or an array
            broadcastable with ``start`` and ``end``.
    """
    if isinstance(weight, (int, float)) and not isinstance(weight, bool):
        if weight >= 0.5:
            return end - (end - start) * (1 - weight)
        return start + weight * (end - start)
    return jnp.where(
        weight >= 0.5, end - (end - start) * (1 - weight), start + weight * (end - start)
    )
