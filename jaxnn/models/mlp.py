"""The MNIST multilayer perceptron of the documents (``NeuralNetwork``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax.linen import nowrap

from jaxnn.layers import Flatten, Linear, Module, ReLU, Sequential
from jaxnn.models.builders import register_model

__all__ = ["NeuralNetwork"]


@register_model
class NeuralNetwork(Module):
    """Flatten a 28x28 image, then Linear 784->512->512->10 with ReLU after each.

    The last ReLU is kept as in the documents, so the "logits" are non-negative.

    Shape:
        (N, 28, 28) -> (N, 10).
    """

    def setup(self) -> None:
        self.flatten = Flatten()
        self.linear_relu_stack = Sequential(
            Linear(28 * 28, 512),
            ReLU(),
            Linear(512, 512),
            ReLU(),
            Linear(512, 10),
            ReLU(),
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.flatten(x)  # (N, 28, 28) -> (N, 784)
        return self.linear_relu_stack(x)

    @nowrap
    def example_input(self, batch_size: int = 1) -> jax.ShapeDtypeStruct:
        """The shape and dtype of an input batch (for init, conversion and export)."""
        return jax.ShapeDtypeStruct((batch_size, 28, 28), jnp.float32)
