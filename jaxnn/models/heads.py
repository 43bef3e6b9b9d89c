"""Output-layer models: a softmax classifier and a linear regressor."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax.linen import nowrap

from jaxnn import functional as F
from jaxnn.layers import Linear, Module
from jaxnn.models.builders import register_model

__all__ = ["Classifier", "Regressor"]


@register_model
class Classifier(Module):
    """A linear layer followed by softmax over the classes: class probabilities.

    The output is probabilities, not logits: ``nn.CrossEntropyLoss`` applies its own
    log-softmax, so for training prefer the ``fc`` logits (or ``nn.NLLLoss`` on the log).

    Args:
        num_inputs: features per sample.
        num_classes: number of classes.

    Shape:
        (N, num_inputs) -> (N, num_classes), each row summing to 1.
    """

    num_inputs: int
    num_classes: int

    def setup(self) -> None:
        self.fc = Linear(self.num_inputs, self.num_classes)

    def __call__(self, x: jax.Array) -> jax.Array:
        return F.softmax(self.fc(x), dim=1)

    @nowrap
    def example_input(self, batch_size: int = 1) -> jax.ShapeDtypeStruct:
        """The shape and dtype of an input batch (for init, conversion and export)."""
        return jax.ShapeDtypeStruct((batch_size, self.num_inputs), jnp.float32)


@register_model
class Regressor(Module):
    """A linear layer with no activation: raw regression outputs.

    Args:
        num_inputs: features per sample.
        num_outputs: values predicted per sample.

    Shape:
        (N, num_inputs) -> (N, num_outputs).
    """

    num_inputs: int
    num_outputs: int

    def setup(self) -> None:
        self.fc = Linear(self.num_inputs, self.num_outputs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.fc(x)

    @nowrap
    def example_input(self, batch_size: int = 1) -> jax.ShapeDtypeStruct:
        """The shape and dtype of an input batch (for init, conversion and export)."""
        return jax.ShapeDtypeStruct((batch_size, self.num_inputs), jnp.float32)
