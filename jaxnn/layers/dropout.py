"""Dropout, and channel dropout: Dropout1d, Dropout2d, Dropout3d."""

from __future__ import annotations

import jax

from jaxnn import functional as F
from jaxnn.layers.module import Module

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d"]


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


class Dropout1d(Dropout):
    """Zero whole channels with probability ``p`` (scale the rest by 1/(1-p)) in train
    mode, torch's ``nn.Dropout1d``; train mode as for ``Dropout``.

    Args:
        p: probability of a channel being zeroed. Default: 0.5.
        inplace: accepted for torch compatibility.

    Shape:
        (N, C, L) or (C, L) -> same.
    """

    def __call__(self, input: jax.Array) -> jax.Array:
        if self.p == 0.0 or not self.has_rng("dropout"):
            return input
        return F.dropout1d(input, self.p, training=True, key=self.make_rng("dropout"))


class Dropout2d(Dropout):
    """Zero whole channels with probability ``p`` (scale the rest by 1/(1-p)) in train
    mode, torch's ``nn.Dropout2d``; train mode as for ``Dropout``.

    Args:
        p: probability of a channel being zeroed. Default: 0.5.
        inplace: accepted for torch compatibility.

    Shape:
        (N, C, H, W) or (C, H, W) -> same. A 3-D input is taken as (N, C, L), with
        torch's warning (torch's rule today).
    """

    def __call__(self, input: jax.Array) -> jax.Array:
        if self.p == 0.0 or not self.has_rng("dropout"):
            return input
        return F.dropout2d(input, self.p, training=True, key=self.make_rng("dropout"))


class Dropout3d(Dropout):
    """Zero whole channels with probability ``p`` (scale the rest by 1/(1-p)) in train
    mode, torch's ``nn.Dropout3d``; train mode as for ``Dropout``.

    Args:
        p: probability of a channel being zeroed. Default: 0.5.
        inplace: accepted for torch compatibility.

    Shape:
        (N, C, D, H, W) or (C, D, H, W) -> same.
    """

    def __call__(self, input: jax.Array) -> jax.Array:
        if self.p == 0.0 or not self.has_rng("dropout"):
            return input
        return F.dropout3d(input, self.p, training=True, key=self.make_rng("dropout"))
