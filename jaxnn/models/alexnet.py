"""torchvision's AlexNet with its builder and module names."""

from __future__ import annotations

from typing import Any

import jax

from jaxnn import functional as F
from jaxnn.layers import (
    AdaptiveAvgPool2d,
    Conv2d,
    Dropout,
    Linear,
    MaxPool2d,
    Module,
    ReLU,
    Sequential,
)
from jaxnn.models.builders import image_input, no_pretrained_weights, register_model

__all__ = ["AlexNet", "alexnet"]


class AlexNet(Module):
    """torchvision's ``AlexNet``: five convolutions with ReLU and three max pools
    (``features``), adaptive average pooling to 6x6, and Dropout - Linear(9216, 4096) -
    ReLU - Dropout - Linear(4096, 4096) - ReLU - Linear(4096, num_classes)
    (``classifier``). Layers keep torch's default initialisation, as in torchvision.

    Args:
        num_classes: outputs of the classifier. Default: 1000.
        dropout: probability of both Dropout layers. Default: 0.5.

    Shape:
        (N, 3, H, W) with H, W >= 63 -> (N, num_classes).
    """

    num_classes: int = 1000
    dropout: float = 0.5

    def setup(self) -> None:
        self.features = Sequential(
            Conv2d(3, 64, 11, 4, 2),
            ReLU(inplace=True),
            MaxPool2d(3, 2),
            Conv2d(64, 192, 5, padding=2),
            ReLU(inplace=True),
            MaxPool2d(3, 2),
            Conv2d(192, 384, 3, padding=1),
            ReLU(inplace=True),
            Conv2d(384, 256, 3, padding=1),
            ReLU(inplace=True),
            Conv2d(256, 256, 3, padding=1),
            ReLU(inplace=True),
            MaxPool2d(3, 2),
        )
        self.avgpool = AdaptiveAvgPool2d((6, 6))
        self.classifier = Sequential(
            Dropout(self.dropout),
            Linear(256 * 6 * 6, 4096),
            ReLU(inplace=True),
            Dropout(self.dropout),
            Linear(4096, 4096),
            ReLU(inplace=True),
            Linear(4096, self.num_classes),
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.avgpool(self.features(x))  # (N, 256, 6, 6)
        return self.classifier(F.flatten(x, 1))

    example_input = image_input(224)


@register_model
def alexnet(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> AlexNet:
    """AlexNet (torchvision's builder).

    Args:
        weights: must be None: jaxnn downloads nothing (convert torchvision's weights
            with ``jaxnn-compat convert`` or ``jaxnn.compat.torch_to_flax``).
        progress: accepted for torchvision's signature; nothing is downloaded.
        **kwargs: :class:`AlexNet`'s arguments, e.g. ``num_classes=10``.
    """
    no_pretrained_weights(weights)
    return AlexNet(**kwargs)
