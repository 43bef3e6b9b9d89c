"""StochasticDepth, torchvision.ops' residual-branch dropping."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnn.layers.module import Module

__all__ = ["StochasticDepth", "stochastic_depth"]


def stochastic_depth(
    input: jax.Array, p: float, mode: str, training: bool = True, *, key: jax.Array | None = None
) -> jax.Array:
    """Zero the whole input ("batch") or whole rows of it ("row") with probability ``p``
    and scale what survives by 1 / (1 - p), torchvision's ``stochastic_depth``.

    Args:
        input: (N, ...), N rows.
        p: probability of zeroing.
        mode: "batch" or "row".
        training: apply it (else the identity). Default: True.
        key: a ``jax.random`` key, needed when training with p > 0.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"drop probability has to be between 0 and 1, but got {p}")
    if mode not in ("batch", "row"):
        raise ValueError(f"mode has to be either 'batch' or 'row', but got {mode}")
    if not training or p == 0.0:
        return input
    if key is None:
        raise ValueError("stochastic_depth: training=True needs a random key")
    survival = 1.0 - p
    shape = (input.shape[0],) + (1,) * (input.ndim - 1) if mode == "row" else (1,) * input.ndim
    keep = jax.random.bernoulli(key, survival, shape)
    if survival > 0.0:
        return jnp.where(
            keep, input / jnp.asarray(survival, input.dtype), jnp.zeros((), input.dtype)
        )
    return jnp.zeros_like(input)


class StochasticDepth(Module):
    """torchvision's ``ops.StochasticDepth(p, mode)``: in train mode (an ``apply`` given a
    ``'dropout'`` rng, as for ``nn.Dropout``) drop the residual branch for the whole
    batch or per row; otherwise the identity.

    Args:
        p: probability of dropping.
        mode: "batch" or "row".

    Shape:
        (N, ...) -> same.
    """

    p: float
    mode: str

    def __post_init__(self) -> None:
        if not 0.0 <= self.p <= 1.0:
            raise ValueError(f"drop probability has to be between 0 and 1, but got {self.p}")
        if self.mode not in ("batch", "row"):
            raise ValueError(f"mode has to be either 'batch' or 'row', but got {self.mode}")
        super().__post_init__()

    def __call__(self, input: jax.Array) -> jax.Array:
        if self.p == 0.0 or not self.has_rng("dropout"):
            return input
        return stochastic_depth(input, self.p, self.mode, True, key=self.make_rng("dropout"))

    def __repr__(self) -> str:
        return f"StochasticDepth(p={self.p}, mode={self.mode})"
