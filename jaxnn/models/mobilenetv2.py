"""torchvision's MobileNet V2 with its builder name, arguments and module names."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax

from jaxnn import functional as F
from jaxnn import init
from jaxnn.layers import BatchNorm2d, Conv2d, Dropout, Linear, Module, ReLU6, Sequential
from jaxnn.models.builders import (
    image_input,
    make_divisible,
    no_pretrained_weights,
    register_model,
)
from jaxnn.ops import Conv2dNormActivation

__all__ = ["MobileNetV2", "mobilenet_v2"]

# torchvision's initialisation of every convolution (Flax fixes it when a layer is built)
_conv = functools.partial(
    Conv2d, weight_init=init.kaiming_normal_(mode="fan_out"), bias_init=init.zeros_()
)

# t (expansion), c (output channels), n (blocks), s (stride of the first block)
_SETTING = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


class InvertedResidual(Module):
    """MobileNet V2's block, ``conv``: a 1x1 expansion to ``inp * expand_ratio``
    channels (left out when the ratio is 1) - depthwise 3x3 - linear 1x1 projection,
    each convolution with a norm and the first two with ReLU6; the input is added back
    when the stride is 1 and the channels stay.

    Args:
        inp: channels of the input.
        oup: channels of the output.
        stride: 1 or 2, of the depthwise convolution.
        expand_ratio: the expansion factor.
        norm_layer: the normalization layer class. Default: :class:`~jaxnn.BatchNorm2d`.

    Shape:
        (N, inp, H, W) -> (N, oup, ceil(H / stride), ceil(W / stride)).
    """

    inp: int
    oup: int
    stride: int
    expand_ratio: float
    norm_layer: Callable[..., Module] | None = None

    def __post_init__(self) -> None:
        if self.stride not in (1, 2):
            raise ValueError(f"stride should be 1 or 2 instead of {self.stride}")
        super().__post_init__()

    def setup(self) -> None:
        norm = self.norm_layer or BatchNorm2d
        hidden = round(self.inp * self.expand_ratio)
        common = dict(norm_layer=norm, activation_layer=ReLU6, conv_layer=_conv)
        layers = []
        if self.expand_ratio != 1:
            layers.append(Conv2dNormActivation(self.inp, hidden, kernel_size=1, **common))
        layers += [
            Conv2dNormActivation(hidden, hidden, stride=self.stride, groups=hidden, **common),
            _conv(hidden, self.oup, 1, 1, 0, bias=False),
            norm(self.oup),
        ]
        self.conv = Sequential(*layers)

    @property
    def use_res_connect(self) -> bool:
        return self.stride == 1 and self.inp == self.oup

    def __call__(self, x: jax.Array) -> jax.Array:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(Module):
    """torchvision's ``MobileNetV2``: ``features`` (conv 3x3/2 - BN - ReLU6, 17 inverted
    residual blocks, conv 1x1 to ``last_channel`` - BN - ReLU6), global average pooling
    and ``classifier`` (Dropout - Linear), with torchvision's initialisation (Kaiming
    normal fan_out convolutions, N(0, 0.01) Linear weight, zero biases).

    Args:
        num_classes: outputs of the classifier. Default: 1000.
        width_mult: multiplies every channel count (rounded to ``round_nearest``).
            Default: 1.0.
        inverted_residual_setting: rows (t, c, n, s): expansion, channels, blocks,
            stride of the first block. Default: None, the paper's seven rows.
        round_nearest: channel counts are multiples of this (1: no rounding). Default: 8.
        block: the block class, called as ``block(inp, oup, stride, expand_ratio=t,
            norm_layer=...)``. Default: None (:class:`InvertedResidual`).
        norm_layer: the normalization layer class. Default: :class:`~jaxnn.BatchNorm2d`.
        dropout: dropout probability before the Linear layer. Default: 0.2.

    Shape:
        (N, 3, H, W) -> (N, num_classes).

    Example::

        >>> model = mobilenet_v2(num_classes=10)
        >>> x = model.example_input(batch_size=2)  # (2, 3, 224, 224) float32
        >>> out, variables = jax.eval_shape(model.init_with_output, jax.random.key(0), x)
        >>> out.shape
        (2, 10)
    """

    num_classes: int = 1000
    width_mult: float = 1.0
    inverted_residual_setting: Sequence[Sequence[float]] | None = None
    round_nearest: int = 8
    block: Callable[..., Module] | None = None
    norm_layer: Callable[..., Module] | None = None
    dropout: float = 0.2

    def __post_init__(self) -> None:
        setting = self.inverted_residual_setting
        if setting is not None and (len(setting) == 0 or len(setting[0]) != 4):
            raise ValueError(
                f"inverted_residual_setting should be non-empty or a 4-element list, got {setting}"
            )
        super().__post_init__()

    @property
    def last_channel(self) -> int:
        return make_divisible(1280 * max(1.0, self.width_mult), self.round_nearest)

    def setup(self) -> None:
        block, norm = self.block or InvertedResidual, self.norm_layer or BatchNorm2d
        common = dict(norm_layer=norm, activation_layer=ReLU6, conv_layer=_conv)
        channels = make_divisible(32 * self.width_mult, self.round_nearest)
        features = [Conv2dNormActivation(3, channels, stride=2, **common)]
        for t, c, n, s in self.inverted_residual_setting or _SETTING:
            out = make_divisible(c * self.width_mult, self.round_nearest)
            for i in range(n):
                features.append(
                    block(channels, out, s if i == 0 else 1, expand_ratio=t, norm_layer=norm)
                )
                channels = out
        features.append(Conv2dNormActivation(channels, self.last_channel, kernel_size=1, **common))
        self.features = Sequential(*features)
        self.classifier = Sequential(
            Dropout(p=self.dropout),
            Linear(
                self.last_channel,
                self.num_classes,
                weight_init=init.normal_(0.0, 0.01),
                bias_init=init.zeros_(),
            ),
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.features(x)
        x = F.adaptive_avg_pool2d(x, (1, 1))  # (N, last_channel, 1, 1)
        return self.classifier(F.flatten(x, 1))

    example_input = image_input(224)


@register_model
def mobilenet_v2(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> MobileNetV2:
    """MobileNet V2 (torchvision's builder).

    Args:
        weights: must be None: jaxnn downloads nothing (convert torchvision's weights
            with ``jaxnn-compat convert`` or ``jaxnn.compat.torch_to_flax``).
        progress: accepted for torchvision's signature; nothing is downloaded.
        **kwargs: :class:`MobileNetV2`'s arguments, e.g. ``num_classes=10``.
    """
    no_pretrained_weights(weights)
    return MobileNetV2(**kwargs)
