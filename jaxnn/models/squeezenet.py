"""torchvision's SqueezeNet 1.0 and 1.1 with its builder and module names."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxnn import functional as F
from jaxnn import init
from jaxnn.layers import AdaptiveAvgPool2d, Conv2d, Dropout, MaxPool2d, Module, ReLU, Sequential
from jaxnn.models.builders import image_input, no_pretrained_weights, register_model

__all__ = ["Fire", "SqueezeNet", "squeezenet1_0", "squeezenet1_1"]

# torchvision initialises SqueezeNet's convolutions with kaiming_uniform_ (a = 0) and
# zero biases, its final convolution with N(0, 0.01)
_CONV = {"weight_init": init.kaiming_uniform_(), "bias_init": init.zeros_()}


class Fire(Module):
    """SqueezeNet's Fire module: a 1x1 ``squeeze`` convolution with ReLU, then 1x1 and
    3x3 ``expand`` convolutions with ReLU, concatenated along the channels.

    Args:
        inplanes: channels of the input.
        squeeze_planes: channels of the squeeze convolution.
        expand1x1_planes: channels of the 1x1 expand convolution.
        expand3x3_planes: channels of the 3x3 expand convolution.

    Shape:
        (N, inplanes, H, W) -> (N, expand1x1_planes + expand3x3_planes, H, W).
    """

    inplanes: int
    squeeze_planes: int
    expand1x1_planes: int
    expand3x3_planes: int

    def setup(self) -> None:
        self.squeeze = Conv2d(self.inplanes, self.squeeze_planes, 1, **_CONV)
        self.squeeze_activation = ReLU(inplace=True)
        self.expand1x1 = Conv2d(self.squeeze_planes, self.expand1x1_planes, 1, **_CONV)
        self.expand1x1_activation = ReLU(inplace=True)
        self.expand3x3 = Conv2d(self.squeeze_planes, self.expand3x3_planes, 3, padding=1, **_CONV)
        self.expand3x3_activation = ReLU(inplace=True)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.squeeze_activation(self.squeeze(x))
        left = self.expand1x1_activation(self.expand1x1(x))
        right = self.expand3x3_activation(self.expand3x3(x))
        return jnp.concatenate([left, right], axis=1)


def _pool() -> MaxPool2d:
    return MaxPool2d(3, 2, ceil_mode=True)


class SqueezeNet(Module):
    """torchvision's ``SqueezeNet``: ``features`` (a strided convolution, max pools with
    ``ceil_mode`` and Fire modules) and ``classifier`` (Dropout, a 1x1 convolution to
    ``num_classes``, ReLU, global average pooling).

    Args:
        version: ``"1_0"`` or ``"1_1"`` (2.4x less computation, as accurate). Default: "1_0".
        num_classes: output classes. Default: 1000.
        dropout: probability of the Dropout before the final convolution. Default: 0.5.

    Shape:
        (N, 3, H, W) -> (N, num_classes).
    """

    version: str = "1_0"
    num_classes: int = 1000
    dropout: float = 0.5

    def __post_init__(self) -> None:
        if self.version not in ("1_0", "1_1"):
            raise ValueError(f"Unsupported SqueezeNet version {self.version}: 1_0 or 1_1 expected")
        super().__post_init__()

    def setup(self) -> None:
        if self.version == "1_0":
            self.features = Sequential(
                Conv2d(3, 96, 7, 2, **_CONV),
                ReLU(inplace=True),
                _pool(),
                Fire(96, 16, 64, 64),
                Fire(128, 16, 64, 64),
                Fire(128, 32, 128, 128),
                _pool(),
                Fire(256, 32, 128, 128),
                Fire(256, 48, 192, 192),
                Fire(384, 48, 192, 192),
                Fire(384, 64, 256, 256),
                _pool(),
                Fire(512, 64, 256, 256),
            )
        else:
            self.features = Sequential(
                Conv2d(3, 64, 3, 2, **_CONV),
                ReLU(inplace=True),
                _pool(),
                Fire(64, 16, 64, 64),
                Fire(128, 16, 64, 64),
                _pool(),
                Fire(128, 32, 128, 128),
                Fire(256, 32, 128, 128),
                _pool(),
                Fire(256, 48, 192, 192),
                Fire(384, 48, 192, 192),
                Fire(384, 64, 256, 256),
                Fire(512, 64, 256, 256),
            )
        final_conv = Conv2d(
            512, self.num_classes, 1, weight_init=init.normal_(0.0, 0.01), bias_init=init.zeros_()
        )
        self.classifier = Sequential(
            Dropout(self.dropout), final_conv, ReLU(inplace=True), AdaptiveAvgPool2d((1, 1))
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        return F.flatten(self.classifier(self.features(x)), 1)

    example_input = image_input(224)


@register_model
def squeezenet1_0(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> SqueezeNet:
    """SqueezeNet 1.0 (torchvision's builder).

    Args:
        weights: must be None: jaxnn downloads nothing (convert torchvision's weights
            with ``jaxnn-compat convert`` or ``jaxnn.compat.torch_to_flax``).
        progress: accepted for torchvision's signature; nothing is downloaded.
        **kwargs: :class:`SqueezeNet`'s arguments, e.g. ``num_classes=10``.
    """
    no_pretrained_weights(weights)
    return SqueezeNet("1_0", **kwargs)


@register_model
def squeezenet1_1(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> SqueezeNet:
    """SqueezeNet 1.1 (torchvision's builder). Args: as :func:`squeezenet1_0`."""
    no_pretrained_weights(weights)
    return SqueezeNet("1_1", **kwargs)
