"""torchvision's DenseNets (121, 161, 169, 201) with its builder and module names."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import linen

from jaxnn import functional as F
from jaxnn import init
from jaxnn.layers import (
    AvgPool2d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Linear,
    MaxPool2d,
    Module,
    ModuleDict,
    ReLU,
    Sequential,
)
from jaxnn.models.builders import image_input, no_pretrained_weights, register_model

__all__ = ["DenseNet", "densenet121", "densenet161", "densenet169", "densenet201"]

# torchvision's initialisation: Kaiming normal (fan_in) convolutions, zero Linear bias
_CONV_INIT = init.kaiming_normal_()


def _conv(cin: int, cout: int, k: int, **kwargs: Any) -> Conv2d:
    return Conv2d(cin, cout, k, bias=False, weight_init=_CONV_INIT, **kwargs)


class DenseLayer(Module):
    """One layer of a dense block: BN - ReLU - conv1x1 (``bn_size * growth_rate``) - BN -
    ReLU - conv3x3 (``growth_rate``) over the concatenation of every earlier output,
    with Dropout after it when ``drop_rate`` > 0 (train mode)."""

    num_input_features: int
    growth_rate: int
    bn_size: int
    drop_rate: float

    def setup(self) -> None:
        width = self.bn_size * self.growth_rate
        self.norm1 = BatchNorm2d(self.num_input_features)
        self.relu1 = ReLU(inplace=True)
        self.conv1 = _conv(self.num_input_features, width, 1)
        self.norm2 = BatchNorm2d(width)
        self.relu2 = ReLU(inplace=True)
        self.conv2 = _conv(width, self.growth_rate, 3, padding=1)
        self.dropout = Dropout(self.drop_rate)

    def __call__(self, features: Sequence[jax.Array]) -> jax.Array:
        x = jnp.concatenate(list(features), axis=1)
        x = self.conv1(self.relu1(self.norm1(x)))
        x = self.conv2(self.relu2(self.norm2(x)))
        return self.dropout(x) if self.drop_rate > 0 else x


class DenseBlock(ModuleDict):
    """``denselayer1`` .. ``denselayerN``, each fed the block's input and every earlier
    layer's output; returns them all concatenated along the channels."""

    def __call__(self, x: jax.Array) -> jax.Array:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return jnp.concatenate(features, axis=1)


def _dense_block(
    num_layers: int, cin: int, bn_size: int, growth: int, drop_rate: float, remat: bool
) -> DenseBlock:
    layer = linen.remat(DenseLayer) if remat else DenseLayer
    return DenseBlock(
        {
            f"denselayer{i + 1}": layer(cin + i * growth, growth, bn_size, drop_rate)
            for i in range(num_layers)
        }
    )


def _transition(cin: int, cout: int) -> Sequential:
    return Sequential(
        OrderedDict(
            norm=BatchNorm2d(cin),
            relu=ReLU(inplace=True),
            conv=_conv(cin, cout, 1),
            pool=AvgPool2d(2, 2),
        )
    )


class DenseNet(Module):
    """torchvision's ``DenseNet`` (DenseNet-BC): ``features`` (conv0 7x7/2 - norm0 -
    relu0 - pool0, then ``denseblock1`` .. ``denseblock4`` with a ``transition`` halving
    channels and resolution between them, then ``norm5``), ReLU, global average pooling
    and the ``classifier`` Linear.

    Args:
        growth_rate: channels each dense layer adds (``k``). Default: 32.
        block_config: dense layers per block. Default: (6, 12, 24, 16) (DenseNet-121).
        num_init_features: channels of the first convolution. Default: 64.
        bn_size: bottleneck width, in multiples of ``growth_rate``. Default: 4.
        drop_rate: dropout after each dense layer (train mode). Default: 0.
        num_classes: outputs of the classifier. Default: 1000.
        memory_efficient: recompute each dense layer's bottleneck in the backward pass
            instead of storing it (``jax.checkpoint``, as torchvision checkpoints it);
            the numbers are the same. Default: False.

    Shape:
        (N, 3, H, W) -> (N, num_classes).
    """

    growth_rate: int = 32
    block_config: Sequence[int] = (6, 12, 24, 16)
    num_init_features: int = 64
    bn_size: int = 4
    drop_rate: float = 0.0
    num_classes: int = 1000
    memory_efficient: bool = False

    def setup(self) -> None:
        layers: dict[str, Any] = {
            "conv0": _conv(3, self.num_init_features, 7, stride=2, padding=3),
            "norm0": BatchNorm2d(self.num_init_features),
            "relu0": ReLU(inplace=True),
            "pool0": MaxPool2d(3, 2, 1),
        }
        channels = self.num_init_features
        for i, num_layers in enumerate(self.block_config):
            layers[f"denseblock{i + 1}"] = _dense_block(
                num_layers,
                channels,
                self.bn_size,
                self.growth_rate,
                self.drop_rate,
                self.memory_efficient,
            )
            channels += num_layers * self.growth_rate
            if i != len(self.block_config) - 1:
                layers[f"transition{i + 1}"] = _transition(channels, channels // 2)
                channels //= 2
        layers["norm5"] = BatchNorm2d(channels)
        self.features = Sequential(OrderedDict(layers))
        self.classifier = Linear(channels, self.num_classes, bias_init=init.zeros_())

    def __call__(self, x: jax.Array) -> jax.Array:
        x = F.relu(self.features(x))
        x = F.adaptive_avg_pool2d(x, (1, 1))  # (N, C, 1, 1)
        return self.classifier(F.flatten(x, 1))

    example_input = image_input(224)


def _densenet(growth: int, blocks: Sequence[int], init_features: int, weights: Any, kwargs):
    no_pretrained_weights(weights)
    return DenseNet(growth, tuple(blocks), init_features, **kwargs)


@register_model
def densenet121(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> DenseNet:
    """DenseNet-121 (torchvision's builder).

    Args:
        weights: must be None: jaxnn downloads nothing (convert torchvision's weights
            with ``jaxnn-compat convert`` or ``jaxnn.compat.torch_to_flax``).
        progress: accepted for torchvision's signature; nothing is downloaded.
        **kwargs: :class:`DenseNet`'s other arguments, e.g. ``num_classes=10``.
    """
    return _densenet(32, (6, 12, 24, 16), 64, weights, kwargs)


@register_model
def densenet161(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> DenseNet:
    """DenseNet-161 (torchvision's builder). Args: as :func:`densenet121`."""
    return _densenet(48, (6, 12, 36, 24), 96, weights, kwargs)


@register_model
def densenet169(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> DenseNet:
    """DenseNet-169 (torchvision's builder). Args: as :func:`densenet121`."""
    return _densenet(32, (6, 12, 32, 32), 64, weights, kwargs)


@register_model
def densenet201(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> DenseNet:
    """DenseNet-201 (torchvision's builder). Args: as :func:`densenet121`."""
    return _densenet(32, (6, 12, 48, 32), 64, weights, kwargs)
