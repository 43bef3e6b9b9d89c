"""CosineSimilarity and PairwiseDistance."""

from __future__ import annotations

import jax

from jaxnn import functional as F
from jaxnn.layers.module import Module

__all__ = ["CosineSimilarity", "PairwiseDistance"]


class CosineSimilarity(Module):
    """Cosine similarity of ``x1`` and ``x2`` along ``dim``, torch's
    ``nn.CosineSimilarity``: each norm clamped below at ``eps``.

    Args:
        dim: the dim to reduce. Default: 1.
        eps: the least norm. Default: 1e-8.

    Shape:
        x1 (*, D, *) and x2 broadcastable to it -> (*, *).
    """

    dim: int = 1
    eps: float = 1e-8

    def __call__(self, x1: jax.Array, x2: jax.Array) -> jax.Array:
        return F.cosine_similarity(x1, x2, self.dim, self.eps)

    def extra_repr(self) -> str:
        return ""


class PairwiseDistance(Module):
    """The p-norm of ``x1 - x2 + eps`` over the last dim, torch's
    ``nn.PairwiseDistance``.

    Args:
        p: the norm's order. Default: 2.0.
        eps: added to the difference, away from the norm's kink at 0. Default: 1e-6.
        keepdim: keep the reduced dim. Default: False.

    Shape:
        (N, D) or (D,) twice (broadcastable) -> (N,) or () (keepdim: (N, 1) or (1,)).
    """

    p: float = 2.0
    eps: float = 1e-6
    keepdim: bool = False

    def __call__(self, x1: jax.Array, x2: jax.Array) -> jax.Array:
        return F.pairwise_distance(x1, x2, self.p, self.eps, self.keepdim)

    def extra_repr(self) -> str:
        return ""
