"""torchvision's VGGs (11, 13, 16, 19, with and without BatchNorm) with its builder and
module names, and the documents' VGG16 with a replaceable classifier."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax

from jaxnn import functional as F
from jaxnn import init
from jaxnn.layers import (
    AdaptiveAvgPool2d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Linear,
    MaxPool2d,
    Module,
    ReLU,
    Sequential,
)
from jaxnn.models.builders import image_input, no_pretrained_weights, register_model

__all__ = [
    "VGG",
    "VGG16",
    "make_layers",
    "vgg11",
    "vgg11_bn",
    "vgg13",
    "vgg13_bn",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
]

# torchvision's configurations: output channels of each conv3x3 (+ BatchNorm) + ReLU, and
# "M" for a 2x2 max pool; "D" is VGG-16
CONFIGS: dict[str, tuple[int | str, ...]] = {
    "A": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "B": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "D": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "E": (
        *(64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M"),
        *(512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
    ),
}


def _conv_init(init_weights: bool) -> dict[str, Any]:
    # torchvision's initialisation (init_weights=True), not torch's layer default
    if not init_weights:
        return {}
    return {
        "weight_init": init.kaiming_normal_(mode="fan_out", nonlinearity="relu"),
        "bias_init": init.zeros_(),
    }


def make_layers(
    cfg: Sequence[int | str], batch_norm: bool = False, init_weights: bool = True
) -> Sequential:
    """torchvision's ``make_layers``: VGG's ``features`` from a configuration (see
    :data:`CONFIGS`), with torchvision's child indices.

    Args:
        cfg: output channels of each conv3x3 and ``"M"`` for a 2x2 max pool.
        batch_norm: a BatchNorm2d after every convolution. Default: False.
        init_weights: torchvision's initialisation (Kaiming normal fan_out, zero
            bias) instead of torch's layer default. Default: True.
    """
    layers, in_channels = [], 3
    for v in cfg:
        if v == "M":
            layers.append(MaxPool2d(2, 2))
            continue
        layers.append(Conv2d(in_channels, int(v), 3, padding=1, **_conv_init(init_weights)))
        if batch_norm:
            layers.append(BatchNorm2d(int(v)))
        layers.append(ReLU(inplace=True))
        in_channels = int(v)
    return Sequential(*layers, parent=None)


def _classifier(num_classes: int, dropout: float, init_weights: bool = True) -> Sequential:
    def linear(i: int, o: int) -> Linear:
        if not init_weights:
            return Linear(i, o)
        return Linear(i, o, weight_init=init.normal_(0.0, 0.01), bias_init=init.zeros_())

    # parent=None: built outside any setup, adopted under the name "classifier"
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


def _forward(model: Any, x: jax.Array) -> jax.Array:
    x = model.features(x)  # (N, 512, H / 32, W / 32)
    x = model.avgpool(x)  # (N, 512, 7, 7)
    x = F.flatten(x, 1)  # (N, 25088)
    return model.classifier(x)


class VGG(Module):
    """torchvision's ``VGG``: ``features`` (e.g. :func:`make_layers`), adaptive average
    pooling to 7x7, and the classifier Linear(25088, 4096) - ReLU - Dropout -
    Linear(4096, 4096) - ReLU - Dropout - Linear(4096, num_classes).

    Args:
        features: the convolutional part, e.g. ``make_layers(CONFIGS["A"])``.
        num_classes: outputs of the classifier. Default: 1000.
        init_weights: torchvision's initialisation of the classifier (N(0, 0.01)
            weights, zero biases) instead of torch's layer default; the features take
            theirs from :func:`make_layers`. Default: True.
        dropout: probability of both Dropout layers. Default: 0.5.

    Shape:
        (N, 3, H, W) with H, W >= 32 -> (N, num_classes).
    """

    features: Module
    num_classes: int = 1000
    init_weights: bool = True
    dropout: float = 0.5

    def setup(self) -> None:
        self.avgpool = AdaptiveAvgPool2d((7, 7))
        self.classifier = _classifier(self.num_classes, self.dropout, self.init_weights)

    def __call__(self, x: jax.Array) -> jax.Array:
        return _forward(self, x)

    example_input = image_input(224)


def _vgg(cfg: str, batch_norm: bool, weights: Any, kwargs: dict[str, Any]) -> VGG:
    no_pretrained_weights(weights)
    features = make_layers(CONFIGS[cfg], batch_norm, kwargs.get("init_weights", True))
    return VGG(features, **kwargs)


@register_model
def vgg11(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> VGG:
    """VGG-11 (configuration A; torchvision's builder).

    Args:
        weights: must be None: jaxnn downloads nothing (convert torchvision's weights
            with ``jaxnn-compat convert`` or ``jaxnn.compat.torch_to_flax``).
        progress: accepted for torchvision's signature; nothing is downloaded.
        **kwargs: :class:`VGG`'s arguments, e.g. ``num_classes=10``.
    """
    return _vgg("A", False, weights, kwargs)


@register_model
def vgg11_bn(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> VGG:
    """VGG-11 with BatchNorm (torchvision's builder). Args: as :func:`vgg11`."""
    return _vgg("A", True, weights, kwargs)


@register_model
def vgg13(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> VGG:
    """VGG-13 (configuration B; torchvision's builder). Args: as :func:`vgg11`."""
    return _vgg("B", False, weights, kwargs)


@register_model
def vgg13_bn(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> VGG:
    """VGG-13 with BatchNorm (torchvision's builder). Args: as :func:`vgg11`."""
    return _vgg("B", True, weights, kwargs)


@register_model
def vgg16(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> VGG:
    """VGG-16 (configuration D; torchvision's builder). Args: as :func:`vgg11`."""
    return _vgg("D", False, weights, kwargs)


@register_model
def vgg16_bn(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> VGG:
    """VGG-16 with BatchNorm (torchvision's builder). Args: as :func:`vgg11`."""
    return _vgg("D", True, weights, kwargs)


@register_model
def vgg19(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> VGG:
    """VGG-19 (configuration E; torchvision's builder). Args: as :func:`vgg11`."""
    return _vgg("E", False, weights, kwargs)


@register_model
def vgg19_bn(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> VGG:
    """VGG-19 with BatchNorm (torchvision's builder). Args: as :func:`vgg11`."""
    return _vgg("E", True, weights, kwargs)


@register_model
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
        self.features = make_layers(CONFIGS["D"])
        self.avgpool = AdaptiveAvgPool2d((7, 7))

    def __call__(self, x: jax.Array) -> jax.Array:
        return _forward(self, x)

    example_input = image_input(224)
