"""LeNet-5 for 3x32x32 images and SimpleCNN, its 1-channel sibling."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax.linen import nowrap

from jaxnn import functional as F
from jaxnn.layers import Conv2d, Linear, MaxPool2d, Module
from jaxnn.models.builders import register_model

__all__ = ["LeNet", "SimpleCNN"]


@register_model
class SimpleCNN(Module):
    """conv(1->6, 5) - pool - conv(6->16, 5) - pool - fc 400->120->84->10, ReLU between.

    Shape: (N, 1, 32, 32) -> (N, 10) logits.
    """

    in_channels = 1

    def setup(self) -> None:
        self.conv1 = Conv2d(self.in_channels, 6, 5)
        self.pool = MaxPool2d(2, 2)
        self.conv2 = Conv2d(6, 16, 5)
        self.fc1 = Linear(16 * 5 * 5, 120)
        self.fc2 = Linear(120, 84)
        self.fc3 = Linear(84, 10)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.pool(F.relu(self.conv1(x)))  # (N, 6, 14, 14)
        x = self.pool(F.relu(self.conv2(x)))  # (N, 16, 5, 5)
        x = F.flatten(x, 1)  # (N, 400), torch's C-major order
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)

    @nowrap
    def example_input(self, batch_size: int = 1) -> jax.ShapeDtypeStruct:
        """The shape and dtype of an input batch (for init, conversion and export)."""
        return jax.ShapeDtypeStruct((batch_size, self.in_channels, 32, 32), jnp.float32)


@register_model
class LeNet(SimpleCNN):
    """LeNet-5 on 3-channel 32x32 images: SimpleCNN with conv1 = Conv2d(3, 6, 5).

    Shape: (N, 3, 32, 32) -> (N, 10) logits.
    """

    in_channels = 3
