"""The CIFAR-10 CNN of the documents: one ``Sequential`` named ``model1``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax.linen import nowrap

from jaxnn.layers import Conv2d, Flatten, Linear, MaxPool2d, Module, Sequential
from jaxnn.models.builders import register_model

__all__ = ["CIFAR10Net"]


@register_model
class CIFAR10Net(Module):
    """conv5x5/32 - pool - conv5x5/32 - pool - conv5x5/64 - pool - flatten - fc 1024->64->10.

    The convolutions pad by 2, so each keeps the spatial size and only the pools halve
    it: 32 -> 16 -> 8 -> 4, and 64 * 4 * 4 = 1024 features reach the first Linear. There
    is no activation between the layers, exactly as in the documents.

    Shape:
        (N, 3, 32, 32) -> (N, 10) logits.
    """

    def setup(self) -> None:
        self.model1 = Sequential(
            Conv2d(3, 32, 5, padding=2),
            MaxPool2d(2),
            Conv2d(32, 32, 5, padding=2),
            MaxPool2d(2),
            Conv2d(32, 64, 5, padding=2),
            MaxPool2d(2),
            Flatten(),  # (N, 64, 4, 4) -> (N, 1024)
            Linear(1024, 64),
            Linear(64, 10),
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.model1(x)

    @nowrap
    def example_input(self, batch_size: int = 1) -> jax.ShapeDtypeStruct:
        """The shape and dtype of an input batch (for init, conversion and export)."""
        return jax.ShapeDtypeStruct((batch_size, 3, 32, 32), jnp.float32)
