"""Linear and Identity."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import linen
from flax.linen.dtypes import promote_dtype

from jaxnn import init
from jaxnn.core import conv
from jaxnn.layers.module import Module

__all__ = ["Identity", "Linear"]


class Identity(Module):
    """Returns its input unchanged (a placeholder, as in torch)."""

    def __call__(self, input: jax.Array) -> jax.Array:
        return input

    def extra_repr(self) -> str:
        return ""


class Linear(Module):
    """y = x A + b, torch's ``nn.Linear``.

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        bias: learn an additive bias. Default: True.
        weight_init: Flax initializer for ``kernel``. Default: torch's
            U(-1/sqrt(in_features), 1/sqrt(in_features)).
        bias_init: Flax initializer for ``bias``. Default: torch's, the same bound.
        dtype: computation dtype (None: promote input and parameters).
        param_dtype: parameter dtype. Default: float32.
        precision: XLA matmul precision (None: backend default).

    Shape:
        input (*, in_features) -> output (*, out_features).

    Variables: ``params/kernel`` (in_features, out_features) -- Flax's layout, the
    transpose of torch's ``weight`` -- and ``params/bias`` (out_features,).

    Example::

        >>> layer = nn.Linear(20, 30)
        >>> variables = layer.init(jax.random.key(0), jnp.ones((128, 20)))
        >>> layer.apply(variables, jnp.ones((128, 20))).shape
        (128, 30)
    """

    in_features: int
    out_features: int
    bias: bool = True
    weight_init: init.Initializer | None = None
    bias_init: init.Initializer | None = None
    dtype: Any = None
    param_dtype: Any = jnp.float32
    precision: Any = None

    @linen.compact
    def __call__(self, input: jax.Array) -> jax.Array:
        if input.ndim == 0 or input.shape[-1] != self.in_features:
            raise ValueError(
                f"{self._who()}: input has {input.shape[-1] if input.ndim else 0} features "
                f"(shape {tuple(input.shape)}), expected {self.in_features}"
            )
        kernel = self.param(
            "kernel",
            self.weight_init or init.default_weight_init(),
            (self.in_features, self.out_features),
            self.param_dtype,
        )
        bias = None
        if self.bias:
            bias = self.param(
                "bias",
                self.bias_init or init.default_bias_init(self.in_features),
                (self.out_features,),
                self.param_dtype,
            )
        x, kernel, bias = promote_dtype(input, kernel, bias, dtype=self.dtype)
        return conv.linear(x, kernel, bias, self.precision)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias}"
