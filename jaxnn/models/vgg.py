"""VGG16 with torchvision's module names and indices, and a replaceable classifier."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax.linen import nowrap

from jaxnn import functional as F
from jaxnn import init
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

__all__ = ["VGG16"]

# torchvision's configuration "D": five stages of conv3x3 + ReLU (these output channels),
# each followed by a 2x2 max pool
_VGG16_STAGES = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


# torchvision's initialisation, not torch's layer default
_CONV_INIT = init.kaiming_normal_(mode="fan_out", nonlinearity="relu")


def _features() -> Sequential:
    layers, in_channels = [], 3
    for stage in _VGG16_STAGES:
        for out_channels in stage:
            conv = Conv2d(
                in_channels,
                out_channels,
                3,
                padding=1,
                weight_init=_CONV_INIT,
                bias_init=init.zeros_(),
            )
            layers += [conv, ReLU(inplace=True)]
            in_channels = out_channels
        layers.append(MaxPool2d(2, 2))
    return Sequential(*layers)


def _classifier(num_classes: int, dropout: float) -> Sequential:
    def linear(i, o):
        return Linear(i, o, weight_init=init.normal_(0.0, 0.01), bias_init=init.zeros_())

    # parent=None: built outside any setup, adopted by VGG16 under the name "classifier"
    return Sequential(
        linear(512 * 7 * 7, 4096),
        ReLU(True),
        Dropout(dropout),
        linear(4096, 4096),
        ReLU(True),
        Dropout(dropout),
        linear(4096, num_classes),
        parent=None,
    )


class VGG16(Module):
    """VGG-16 (configuration D) with torchvision's names, so a
    ``torchvision.models.vgg16`` state_dict loads with :func:`jaxnn.compat.torch_to_flax`.

    ``features``: 13 conv3x3 (padding 1) + ReLU, with a 2x2 max pool after convs 2, 4, 7,
    10 and 13 (the convs sit at torchvision's indices 0, 2, 5, 7, 10, 12, 14, 17, 19, 21,
    24, 26, 28); ``avgpool``: adaptive average pool to 7x7 (inputs smaller than 224 are
    upsampled, e.g. 2x2 -> 7x7 for 64x64 images); ``classifier``: Linear(25088, 4096),
    ReLU, Dropout, Linear(4096, 4096), ReLU, Dropout, Linear(4096, num_classes).
    Parameters are initialised as torchvision does (Kaiming normal convs, N(0, 0.01)
    Linear weights, zero biases).

    Changing the head (the documents' CIFAR-10 fine-tuning): linen modules are
    immutable, so where torch assigns into the model, jaxnn builds a new one with
    ``clone(classifier=...)``. torch's ``vgg16.classifier[6] = nn.Linear(4096, 10)``::

        model = VGG16()
        model = model.clone(classifier=model.classifier.replace(6, nn.Linear(4096, 10)))

    (the same keys and shapes as ``VGG16(num_classes=10)``), and torch's
    ``vgg16.classifier.append(nn.Linear(1000, 10))`` (new keys ``classifier.7.*``)::

        model = model.clone(classifier=model.classifier.append(nn.Linear(1000, 10)))

    The features keep their weights: convert a pretrained state_dict for ``VGG16()`` and
    initialise only the new layer (see ``examples/vgg16_finetune.py``).

    Args:
        num_classes: outputs of the default classifier. Default: 1000.
        dropout: probability of both Dropout layers of the default classifier.
            Default: 0.5.
        classifier: a module to use instead of the default classifier; it takes the
            (N, 25088) flattened features. ``num_classes`` and ``dropout`` are then unused.
            Default: None (torchvision's head).

    Shape:
        (N, 3, H, W) with H, W >= 32 -> (N, num_classes).
    """

    num_classes: int = 1000
    dropout: float = 0.5
    classifier: Module | None = None

    def __post_init__(self) -> None:
        if self.classifier is None:
            object.__setattr__(self, "classifier", _classifier(self.num_classes, self.dropout))
        super().__post_init__()

    def setup(self) -> None:
        self.features = _features()
        self.avgpool = AdaptiveAvgPool2d((7, 7))

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.features(x)  # (N, 512, H / 32, W / 32)
        x = self.avgpool(x)  # (N, 512, 7, 7)
        x = F.flatten(x, 1)  # (N, 25088)
        return self.classifier(x)

    @nowrap
    def example_input(self, batch_size: int = 1) -> jax.ShapeDtypeStruct:
        """The shape and dtype of an input batch (for init, conversion and export)."""
        return jax.ShapeDtypeStruct((batch_size, 3, 224, 224), jnp.float32)
