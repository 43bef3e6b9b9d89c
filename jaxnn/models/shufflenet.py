"""torchvision's ShuffleNet V2 (x0.5, x1.0, x1.5, x2.0) with its builder and module names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from jaxnn.layers import BatchNorm2d, Conv2d, Linear, MaxPool2d, Module, ReLU, Sequential
from jaxnn.models.builders import image_input, no_pretrained_weights, register_model

__all__ = [
    "InvertedResidual",
    "ShuffleNetV2",
    "channel_shuffle",
    "shufflenet_v2_x0_5",
    "shufflenet_v2_x1_0",
    "shufflenet_v2_x1_5",
    "shufflenet_v2_x2_0",
]


def channel_shuffle(x: jax.Array, groups: int) -> jax.Array:
    """Interleave the channels of ``groups`` groups: (N, g * c, H, W) -> channel ``i * g
    + j`` takes group ``j``'s channel ``i``.

    Args:
        x: the NCHW input; its channels must divide into ``groups``.
        groups: the number of groups ``g``.
    """
    n, channels, h, w = x.shape
    x = x.reshape(n, groups, channels // groups, h, w)  # (N, g, C / g, H, W)
    x = jnp.swapaxes(x, 1, 2)  # (N, C / g, g, H, W)
    return x.reshape(n, channels, h, w)


def _conv(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> Conv2d:
    return Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False)


class InvertedResidual(Module):
    """ShuffleNet V2's unit. Stride 1: the input's channels are split in two halves, one
    goes through ``branch2`` (conv1x1 - BN - ReLU - depthwise conv3x3 - BN - conv1x1 -
    BN - ReLU), the two are concatenated and the channels shuffled. Stride 2: the whole
    input goes through ``branch1`` (depthwise conv3x3/2 - BN - conv1x1 - BN - ReLU) and
    ``branch2``.

    Args:
        inp: channels of the input.
        oup: channels of the output (even).
        stride: 1, 2 or 3.

    Shape:
        (N, inp, H, W) -> (N, oup, ceil(H / stride), ceil(W / stride)).
    """

    inp: int
    oup: int
    stride: int

    def __post_init__(self) -> None:
        if not 1 <= self.stride <= 3:
            raise ValueError("illegal stride value")
        if self.stride == 1 and self.inp != (self.oup // 2) << 1:
            raise ValueError(
                f"InvertedResidual: stride 1 needs inp == oup (got {self.inp}, {self.oup})"
            )
        super().__post_init__()

    def setup(self) -> None:
        features = self.oup // 2
        if self.stride > 1:
            self.branch1 = Sequential(
                _conv(self.inp, self.inp, 3, self.stride, groups=self.inp),
                BatchNorm2d(self.inp),
                _conv(self.inp, features, 1),
                BatchNorm2d(features),
                ReLU(inplace=True),
            )
        else:
            self.branch1 = Sequential()
        self.branch2 = Sequential(
            _conv(self.inp if self.stride > 1 else features, features, 1),
            BatchNorm2d(features),
            ReLU(inplace=True),
            _conv(features, features, 3, self.stride, groups=features),
            BatchNorm2d(features),
            _conv(features, features, 1),
            BatchNorm2d(features),
            ReLU(inplace=True),
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        if self.stride == 1:
            x1, x2 = jnp.split(x, 2, axis=1)  # torch's x.chunk(2, dim=1)
            out = jnp.concatenate([x1, self.branch2(x2)], axis=1)
        else:
            out = jnp.concatenate([self.branch1(x), self.branch2(x)], axis=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(Module):
    """torchvision's ``ShuffleNetV2``: ``conv1`` (conv3x3/2 - BN - ReLU), ``maxpool``
    3/2, ``stage2`` .. ``stage4`` of :class:`InvertedResidual` units (the first of each
    strides), ``conv5`` (conv1x1 - BN - ReLU), global average pooling and ``fc``.

    Args:
        stages_repeats: units per stage (three numbers).
        stages_out_channels: channels of conv1, the three stages and conv5.
        num_classes: outputs of ``fc``. Default: 1000.

    Shape:
        (N, 3, H, W) -> (N, num_classes).
    """

    stages_repeats: Sequence[int]
    stages_out_channels: Sequence[int]
    num_classes: int = 1000

    def __post_init__(self) -> None:
        if len(self.stages_repeats) != 3:
            raise ValueError("expected stages_repeats as list of 3 positive ints")
        if len(self.stages_out_channels) != 5:
            raise ValueError("expected stages_out_channels as list of 5 positive ints")
        super().__post_init__()

    def setup(self) -> None:
        channels = self.stages_out_channels
        self.conv1 = Sequential(_conv(3, channels[0], 3, 2), BatchNorm2d(channels[0]), ReLU(True))
        self.maxpool = MaxPool2d(3, 2, 1)
        cin = channels[0]
        for i, (repeats, cout) in enumerate(zip(self.stages_repeats, channels[1:4])):
            units = [InvertedResidual(cin, cout, 2)]
            units += [InvertedResidual(cout, cout, 1) for _ in range(repeats - 1)]
            setattr(self, f"stage{i + 2}", Sequential(*units))
            cin = cout
        self.conv5 = Sequential(_conv(cin, channels[-1], 1), BatchNorm2d(channels[-1]), ReLU(True))
        self.fc = Linear(channels[-1], self.num_classes)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.maxpool(self.conv1(x))
        x = self.stage4(self.stage3(self.stage2(x)))
        x = self.conv5(x).mean(axis=(2, 3))  # global average pool: (N, C)
        return self.fc(x)

    example_input = image_input(224)


def _shufflenet(channels: Sequence[int], weights: Any, kwargs: dict[str, Any]) -> ShuffleNetV2:
    no_pretrained_weights(weights)
    return ShuffleNetV2((4, 8, 4), tuple(channels), **kwargs)


@register_model
def shufflenet_v2_x0_5(*, weights: Any = None, progress: bool = True, **kwargs: Any):
    """ShuffleNet V2 x0.5 (torchvision's builder).

    Args:
        weights: must be None: jaxnn downloads nothing (convert torchvision's weights
            with ``jaxnn-compat convert`` or ``jaxnn.compat.torch_to_flax``).
        progress: accepted for torchvision's signature; nothing is downloaded.
        **kwargs: :class:`ShuffleNetV2`'s other arguments, e.g. ``num_classes=10``.
    """
    return _shufflenet((24, 48, 96, 192, 1024), weights, kwargs)


@register_model
def shufflenet_v2_x1_0(*, weights: Any = None, progress: bool = True, **kwargs: Any):
    """ShuffleNet V2 x1.0 (torchvision's builder). Args: as :func:`shufflenet_v2_x0_5`."""
    return _shufflenet((24, 116, 232, 464, 1024), weights, kwargs)


@register_model
def shufflenet_v2_x1_5(*, weights: Any = None, progress: bool = True, **kwargs: Any):
    """ShuffleNet V2 x1.5 (torchvision's builder). Args: as :func:`shufflenet_v2_x0_5`."""
    return _shufflenet((24, 176, 352, 704, 1024), weights, kwargs)


@register_model
def shufflenet_v2_x2_0(*, weights: Any = None, progress: bool = True, **kwargs: Any):
    """ShuffleNet V2 x2.0 (torchvision's builder). Args: as :func:`shufflenet_v2_x0_5`."""
    return _shufflenet((24, 244, 488, 976, 2048), weights, kwargs)
