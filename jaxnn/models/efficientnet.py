"""torchvision's EfficientNets (B0 to B7, V2 S/M/L) with its builder names, arguments
and module names."""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax

from jaxnn import functional as F
from jaxnn import init
from jaxnn.layers import BatchNorm2d, Conv2d, Dropout, Linear, Module, Sequential, SiLU
from jaxnn.models.builders import (
    image_input,
    make_divisible,
    no_pretrained_weights,
    register_model,
)
from jaxnn.ops import Conv2dNormActivation, SqueezeExcitation, StochasticDepth

__all__ = [
    "EfficientNet",
    "efficientnet_b0",
    "efficientnet_b1",
    "efficientnet_b2",
    "efficientnet_b3",
    "efficientnet_b4",
    "efficientnet_b5",
    "efficientnet_b6",
    "efficientnet_b7",
    "efficientnet_v2_l",
    "efficientnet_v2_m",
    "efficientnet_v2_s",
]

# torchvision's initialisation of every convolution (Flax fixes it when a layer is built)
_conv = functools.partial(
    Conv2d, weight_init=init.kaiming_normal_(mode="fan_out"), bias_init=init.zeros_()
)


@dataclasses.dataclass
class _MBConvConfig:
    """One stage: ``num_layers`` blocks of ``block``, the first with ``stride`` and
    ``input_channels``, the others with stride 1 and ``out_channels`` in."""

    expand_ratio: float
    kernel: int
    stride: int
    input_channels: int
    out_channels: int
    num_layers: int
    block: Callable[..., Module]

    @staticmethod
    def adjust_channels(channels: int, width_mult: float, min_value: int | None = None) -> int:
        return make_divisible(channels * width_mult, 8, min_value)


class MBConvConfig(_MBConvConfig):
    """A stage of :class:`MBConv` blocks (the EfficientNet paper's Table 1), torchvision's
    ``MBConvConfig``: channels are scaled by ``width_mult`` (rounded to multiples of 8)
    and the number of blocks by ``depth_mult`` (rounded up)."""

    def __init__(
        self,
        expand_ratio: float,
        kernel: int,
        stride: int,
        input_channels: int,
        out_channels: int,
        num_layers: int,
        width_mult: float = 1.0,
        depth_mult: float = 1.0,
        block: Callable[..., Module] | None = None,
    ) -> None:
        super().__init__(
            expand_ratio,
            kernel,
            stride,
            self.adjust_channels(input_channels, width_mult),
            self.adjust_channels(out_channels, width_mult),
            math.ceil(num_layers * depth_mult),
            block or MBConv,
        )


class FusedMBConvConfig(_MBConvConfig):
    """A stage of :class:`FusedMBConv` blocks (the EfficientNetV2 paper's Table 4),
    torchvision's ``FusedMBConvConfig``."""

    def __init__(
        self,
        expand_ratio: float,
        kernel: int,
        stride: int,
        input_channels: int,
        out_channels: int,
        num_layers: int,
        block: Callable[..., Module] | None = None,
    ) -> None:
        super().__init__(
            expand_ratio,
            kernel,
            stride,
            input_channels,
            out_channels,
            num_layers,
            block or FusedMBConv,
        )


class _Residual(Module):
    """What MBConv and FusedMBConv share: ``block``, plus the input through
    ``stochastic_depth`` when the stride is 1 and the channels stay."""

    cnf: _MBConvConfig
    stochastic_depth_prob: float
    norm_layer: Callable[..., Module]

    def __post_init__(self) -> None:
        if not 1 <= self.cnf.stride <= 2:
            raise ValueError("illegal stride value")
        super().__post_init__()

    @property
    def use_res_connect(self) -> bool:
        return self.cnf.stride == 1 and self.cnf.input_channels == self.cnf.out_channels

    def _conv_norm(self, cin: int, cout: int, kernel: int, stride: int = 1, **kw: Any):
        kw.setdefault("activation_layer", SiLU)
        return Conv2dNormActivation(
            cin, cout, kernel, stride, norm_layer=self.norm_layer, conv_layer=_conv, **kw
        )

    def __call__(self, input: jax.Array) -> jax.Array:
        result = self.block(input)
        if self.use_res_connect:
            result = self.stochastic_depth(result) + input
        return result


class MBConv(_Residual):
    """EfficientNet's block: 1x1 expansion to ``expand_ratio`` times the channels (left
    out at ratio 1) - depthwise conv - squeeze-and-excitation - 1x1 projection, SiLU
    after the first two; residual with stochastic depth ("row" mode) where shapes allow.

    Args:
        cnf: the block's :class:`MBConvConfig`.
        stochastic_depth_prob: probability of dropping the residual branch (train mode).
        norm_layer: the normalization layer class.
        se_layer: the squeeze-and-excitation class. Default: None,
            :class:`~jaxnn.ops.SqueezeExcitation`.
    """

    se_layer: Callable[..., Module] | None = None

    def setup(self) -> None:
        cnf = self.cnf
        se_layer = self.se_layer or functools.partial(SqueezeExcitation, conv_layer=_conv)
        expanded = cnf.adjust_channels(cnf.input_channels, cnf.expand_ratio)
        layers = []
        if expanded != cnf.input_channels:
            layers.append(self._conv_norm(cnf.input_channels, expanded, 1))
        layers += [
            self._conv_norm(expanded, expanded, cnf.kernel, cnf.stride, groups=expanded),
            se_layer(
                expanded,
                max(1, cnf.input_channels // 4),
                activation=functools.partial(SiLU, inplace=True),
            ),
            self._conv_norm(expanded, cnf.out_channels, 1, activation_layer=None),
        ]
        self.block = Sequential(*layers)
        self.stochastic_depth = StochasticDepth(self.stochastic_depth_prob, "row")


class FusedMBConv(_Residual):
    """EfficientNetV2's fused block: a full conv expanding to ``expand_ratio`` times the
    channels - 1x1 projection (or one conv when the ratio is 1); residual with
    stochastic depth where shapes allow.

    Args:
        cnf: the block's :class:`FusedMBConvConfig`.
        stochastic_depth_prob: probability of dropping the residual branch (train mode).
        norm_layer: the normalization layer class.
    """

    def setup(self) -> None:
        cnf = self.cnf
        expanded = cnf.adjust_channels(cnf.input_channels, cnf.expand_ratio)
        if expanded != cnf.input_channels:
            layers = [
                self._conv_norm(cnf.input_channels, expanded, cnf.kernel, cnf.stride),
                self._conv_norm(expanded, cnf.out_channels, 1, activation_layer=None),
            ]
        else:
            layers = [self._conv_norm(cnf.input_channels, cnf.out_channels, cnf.kernel, cnf.stride)]
        self.block = Sequential(*layers)
        self.stochastic_depth = StochasticDepth(self.stochastic_depth_prob, "row")


class EfficientNet(Module):
    """torchvision's ``EfficientNet`` (V1 and V2): ``features`` (conv 3x3/2 - BN - SiLU,
    one Sequential of blocks per stage, conv 1x1 - BN - SiLU), ``avgpool`` and
    ``classifier`` (Dropout - Linear), with torchvision's initialisation (Kaiming normal
    fan_out convolutions, Linear weight U(+-1/sqrt(num_classes)), zero biases). The
    stochastic depth probability grows linearly from 0 over the blocks.

    Args:
        inverted_residual_setting: one :class:`MBConvConfig` / :class:`FusedMBConvConfig`
            per stage.
        dropout: dropout probability before the Linear layer.
        stochastic_depth_prob: the last block's probability of dropping its residual
            branch. Default: 0.2.
        num_classes: outputs of the classifier. Default: 1000.
        norm_layer: the normalization layer class. Default: :class:`~jaxnn.BatchNorm2d`.
        last_channel: channels of the last conv. Default: None, 4x the last stage's.

    Shape:
        (N, 3, H, W) -> (N, num_classes).

    Example::

        >>> model = efficientnet_b0(num_classes=10)
        >>> x = model.example_input(batch_size=2)  # (2, 3, 224, 224) float32
        >>> out, variables = jax.eval_shape(model.init_with_output, jax.random.key(0), x)
        >>> out.shape
        (2, 10)
    """

    inverted_residual_setting: Sequence[_MBConvConfig]
    dropout: float
    stochastic_depth_prob: float = 0.2
    num_classes: int = 1000
    norm_layer: Callable[..., Module] | None = None
    last_channel: int | None = None

    def __post_init__(self) -> None:
        setting = self.inverted_residual_setting
        if not setting:
            raise ValueError("The inverted_residual_setting should not be empty")
        if not all(isinstance(s, _MBConvConfig) for s in setting):
            raise TypeError("The inverted_residual_setting should be List[MBConvConfig]")
        super().__post_init__()

    def setup(self) -> None:
        setting, norm = self.inverted_residual_setting, self.norm_layer or BatchNorm2d
        common = dict(norm_layer=norm, activation_layer=SiLU, conv_layer=_conv)
        layers = [Conv2dNormActivation(3, setting[0].input_channels, 3, 2, **common)]
        total, index = sum(cnf.num_layers for cnf in setting), 0
        for cnf in setting:
            stage = []
            for i in range(cnf.num_layers):
                block_cnf = copy.copy(cnf)
                if i > 0:
                    block_cnf.input_channels, block_cnf.stride = cnf.out_channels, 1
                p = self.stochastic_depth_prob * float(index) / total
                stage.append(block_cnf.block(block_cnf, p, norm))
                index += 1
            layers.append(Sequential(*stage))
        last_in = setting[-1].out_channels
        last_out = self.last_channel if self.last_channel is not None else 4 * last_in
        layers.append(Conv2dNormActivation(last_in, last_out, kernel_size=1, **common))
        self.features = Sequential(*layers)
        bound = 1.0 / math.sqrt(self.num_classes)
        self.classifier = Sequential(
            Dropout(p=self.dropout, inplace=True),
            Linear(
                last_out,
                self.num_classes,
                weight_init=init.uniform_(-bound, bound),
                bias_init=init.zeros_(),
            ),
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.features(x)
        x = F.adaptive_avg_pool2d(x, 1)  # torchvision's avgpool: (N, C, 1, 1)
        return self.classifier(F.flatten(x, 1))

    example_input = image_input(224)


def _b(width_mult: float, depth_mult: float) -> list[_MBConvConfig]:
    conf = functools.partial(MBConvConfig, width_mult=width_mult, depth_mult=depth_mult)
    return [
        conf(1, 3, 1, 32, 16, 1),
        conf(6, 3, 2, 16, 24, 2),
        conf(6, 5, 2, 24, 40, 2),
        conf(6, 3, 2, 40, 80, 3),
        conf(6, 5, 1, 80, 112, 3),
        conf(6, 5, 2, 112, 192, 4),
        conf(6, 3, 1, 192, 320, 1),
    ]


# EfficientNetV2's stages: (fused?, expand_ratio, kernel, stride, in, out, layers)
_V2 = {
    "s": (
        (True, 1, 3, 1, 24, 24, 2),
        (True, 4, 3, 2, 24, 48, 4),
        (True, 4, 3, 2, 48, 64, 4),
        (False, 4, 3, 2, 64, 128, 6),
        (False, 6, 3, 1, 128, 160, 9),
        (False, 6, 3, 2, 160, 256, 15),
    ),
    "m": (
        (True, 1, 3, 1, 24, 24, 3),
        (True, 4, 3, 2, 24, 48, 5),
        (True, 4, 3, 2, 48, 80, 5),
        (False, 4, 3, 2, 80, 160, 7),
        (False, 6, 3, 1, 160, 176, 14),
        (False, 6, 3, 2, 176, 304, 18),
        (False, 6, 3, 1, 304, 512, 5),
    ),
    "l": (
        (True, 1, 3, 1, 32, 32, 4),
        (True, 4, 3, 2, 32, 64, 7),
        (True, 4, 3, 2, 64, 96, 7),
        (False, 4, 3, 2, 96, 192, 10),
        (False, 6, 3, 1, 192, 224, 19),
        (False, 6, 3, 2, 224, 384, 25),
        (False, 6, 3, 1, 384, 640, 7),
    ),
}


def _v2(size: str) -> list[_MBConvConfig]:
    return [(FusedMBConvConfig if fused else MBConvConfig)(*row) for fused, *row in _V2[size]]


def _efficientnet(
    setting: list[_MBConvConfig],
    dropout: float,
    last_channel: int | None,
    weights: Any,
    kwargs: dict[str, Any],
    **fixed: Any,
) -> EfficientNet:
    no_pretrained_weights(weights)
    kwargs = dict(kwargs)
    return EfficientNet(
        setting, kwargs.pop("dropout", dropout), last_channel=last_channel, **fixed, **kwargs
    )


# B5 to B7 use the TensorFlow checkpoints' BatchNorm settings
_TF_NORM = functools.partial(BatchNorm2d, eps=0.001, momentum=0.01)


@register_model
def efficientnet_b0(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> EfficientNet:
    """EfficientNet-B0 (torchvision's builder): width 1.0, depth 1.0, dropout 0.2.

    Args:
        weights: must be None: jaxnn downloads nothing (convert torchvision's weights
            with ``jaxnn-compat convert`` or ``jaxnn.compat.torch_to_flax``).
        progress: accepted for torchvision's signature; nothing is downloaded.
        **kwargs: ``dropout`` (the builder's default otherwise) and
            :class:`EfficientNet`'s other arguments, e.g. ``num_classes=10``.
    """
    return _efficientnet(_b(1.0, 1.0), 0.2, None, weights, kwargs)


@register_model
def efficientnet_b1(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> EfficientNet:
    """EfficientNet-B1 (torchvision's builder): width 1.0, depth 1.1, dropout 0.2.
    Args: as :func:`efficientnet_b0`."""
    return _efficientnet(_b(1.0, 1.1), 0.2, None, weights, kwargs)


@register_model
def efficientnet_b2(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> EfficientNet:
    """EfficientNet-B2 (torchvision's builder): width 1.1, depth 1.2, dropout 0.3.
    Args: as :func:`efficientnet_b0`."""
    return _efficientnet(_b(1.1, 1.2), 0.3, None, weights, kwargs)


@register_model
def efficientnet_b3(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> EfficientNet:
    """EfficientNet-B3 (torchvision's builder): width 1.2, depth 1.4, dropout 0.3.
    Args: as :func:`efficientnet_b0`."""
    return _efficientnet(_b(1.2, 1.4), 0.3, None, weights, kwargs)


@register_model
def efficientnet_b4(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> EfficientNet:
    """EfficientNet-B4 (torchvision's builder): width 1.4, depth 1.8, dropout 0.4.
    Args: as :func:`efficientnet_b0`."""
    return _efficientnet(_b(1.4, 1.8), 0.4, None, weights, kwargs)


@register_model
def efficientnet_b5(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> EfficientNet:
    """EfficientNet-B5 (torchvision's builder): width 1.6, depth 2.2, dropout 0.4,
    BatchNorm eps 0.001, momentum 0.01. Args: as :func:`efficientnet_b0`."""
    return _efficientnet(_b(1.6, 2.2), 0.4, None, weights, kwargs, norm_layer=_TF_NORM)


@register_model
def efficientnet_b6(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> EfficientNet:
    """EfficientNet-B6 (torchvision's builder): width 1.8, depth 2.6, dropout 0.5,
    BatchNorm eps 0.001, momentum 0.01. Args: as :func:`efficientnet_b0`."""
    return _efficientnet(_b(1.8, 2.6), 0.5, None, weights, kwargs, norm_layer=_TF_NORM)


@register_model
def efficientnet_b7(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> EfficientNet:
    """EfficientNet-B7 (torchvision's builder): width 2.0, depth 3.1, dropout 0.5,
    BatchNorm eps 0.001, momentum 0.01. Args: as :func:`efficientnet_b0`."""
    return _efficientnet(_b(2.0, 3.1), 0.5, None, weights, kwargs, norm_layer=_TF_NORM)


_V2_NORM = functools.partial(BatchNorm2d, eps=1e-03)


@register_model
def efficientnet_v2_s(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> EfficientNet:
    """EfficientNetV2-S (torchvision's builder): dropout 0.2, BatchNorm eps 0.001.
    Args: as :func:`efficientnet_b0`."""
    return _efficientnet(_v2("s"), 0.2, 1280, weights, kwargs, norm_layer=_V2_NORM)


@register_model
def efficientnet_v2_m(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> EfficientNet:
    """EfficientNetV2-M (torchvision's builder): dropout 0.3, BatchNorm eps 0.001.
    Args: as :func:`efficientnet_b0`."""
    return _efficientnet(_v2("m"), 0.3, 1280, weights, kwargs, norm_layer=_V2_NORM)


@register_model
def efficientnet_v2_l(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> EfficientNet:
    """EfficientNetV2-L (torchvision's builder): dropout 0.4, BatchNorm eps 0.001.
    Args: as :func:`efficientnet_b0`."""
    return _efficientnet(_v2("l"), 0.4, 1280, weights, kwargs, norm_layer=_V2_NORM)
