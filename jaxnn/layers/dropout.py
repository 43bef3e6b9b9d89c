"""Dropout."""

from __future__ import annotations

import jax

from jaxnn import functional as F
from jaxnn.layers.module import Module

__all__ = ["Dropout"]


class Dropout(Module):
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) -- in
    train mode only, torch's ``nn.Dropout``.

    Train mode is an ``apply`` given a ``'dropout'`` rng
    (``model.apply(v, x, rngs={'dropout': key})``); without one the layer is the
    identity (eval mode).

    Args:
        p: probability of an element being zeroed. Default: 0.5.
        inplace: accepted for torch compatibility; JAX arrays are immutable.

    Shape:
        any -> same shape.
    """

    p: float = 0.5
    inplace: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {self.p}")
        super().__post_init__()

    def __call__(self, input: jax.Array) -> jax.Array:
        if self.p == 0.0 or not self.has_rng("dropout"):
            return input
        return F.dropout(input, self.p, training=True, key=self.make_rng("dropout"))

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
