"""Flatten and Unflatten."""

from __future__ import annotations

from collections.abc import Sequence

import jax

from jaxnn import functional as F
from jaxnn.layers.module import Module

__all__ = ["Flatten", "Unflatten"]


class Flatten(Module):
    """Merge dims ``start_dim``..``end_dim`` in torch's order: an (N, C, H, W) feature
    map becomes (N, C*H*W) with C outermost, so the next Linear's weights are torch's
    as they are.

    Args:
        start_dim: first dim to flatten. Default: 1 (keep the batch).
        end_dim: last dim to flatten. Default: -1.
    """

    start_dim: int = 1
    end_dim: int = -1

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size`` (one entry may be -1).

    Args:
        dim: the dimension to split (negative counts from the end).
        unflattened_size: the sizes it becomes; their product is its size, and one entry
            may be -1 to be inferred.

    Example: ``nn.Unflatten(1, (2, 5, 5))`` turns (N, 50) into (N, 2, 5, 5).
    """

    dim: int
    unflattened_size: Sequence[int]

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.unflatten(input, self.dim, self.unflattened_size)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={tuple(self.unflattened_size)}"
