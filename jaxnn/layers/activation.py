"""Activation layers: ReLU, LeakyReLU, ELU, GELU, SiLU, Sigmoid, Tanh, Softmax, LogSoftmax.

``inplace`` arguments are accepted for torch compatibility; JAX arrays are immutable,
so every layer returns a new array.
"""

from __future__ import annotations

import jax

from jaxnn import functional as F
from jaxnn.layers.module import Module

__all__ = ["ELU", "GELU", "LeakyReLU", "LogSoftmax", "ReLU", "SiLU", "Sigmoid", "Softmax", "Tanh"]


class ReLU(Module):
    """max(0, x)."""

    inplace: bool = False

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.relu(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """x if x >= 0 else negative_slope * x. Default negative_slope: 0.01."""

    negative_slope: float = 0.01
    inplace: bool = False

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(Module):
    """x if x > 0 else alpha * (exp(x) - 1). Default alpha: 1.0."""

    alpha: float = 1.0
    inplace: bool = False

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.elu(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class GELU(Module):
    """Gaussian error linear unit; approximate='tanh' for the tanh form. Default: exact
    (Flax's ``nn.gelu`` defaults to the approximation)."""

    approximate: str = "none"

    def __post_init__(self) -> None:
        if self.approximate not in ("none", "tanh"):
            raise ValueError(
                f"GELU: approximate must be 'none' or 'tanh', got {self.approximate!r}"
            )
        super().__post_init__()

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.gelu(input, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x * sigmoid(x)."""

    inplace: bool = False

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.silu(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Sigmoid(Module):
    """1 / (1 + exp(-x))."""

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.sigmoid(input)

    def extra_repr(self) -> str:
        return ""


class Tanh(Module):
    """Hyperbolic tangent."""

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.tanh(input)

    def extra_repr(self) -> str:
        return ""


class Softmax(Module):
    """Softmax along ``dim`` (torch's dim: 1 for (N, C) logits)."""

    dim: int | None = None

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log(softmax(x)) along ``dim``."""

    dim: int | None = None

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.log_softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
