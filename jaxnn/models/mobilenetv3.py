"""torchvision's MobileNet V3 (large and small) with its builder names, arguments and
module names."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax

from jaxnn import functional as F
from jaxnn import init
from jaxnn.layers import (
    BatchNorm2d,
    Conv2d,
    Dropout,
    Hardsigmoid,
    Hardswish,
    Linear,
    Module,
    ReLU,
    Sequential,
)
from jaxnn.models.builders import (
    image_input,
    make_divisible,
    no_pretrained_weights,
    register_model,
)
from jaxnn.ops import Conv2dNormActivation, SqueezeExcitation

__all__ = ["MobileNetV3", "mobilenet_v3_large", "mobilenet_v3_small"]

# torchvision's initialisation of every convolution (Flax fixes it when a layer is built)
_conv = functools.partial(
    Conv2d, weight_init=init.kaiming_normal_(mode="fan_out"), bias_init=init.zeros_()
)


class InvertedResidualConfig:
    """One block of MobileNet V3 (the paper's Tables 1 and 2), torchvision's
    ``InvertedResidualConfig``: channel counts are multiplied by ``width_mult`` and
    rounded to multiples of 8 here.

    Args:
        input_channels: channels of the input.
        kernel: kernel size of the depthwise convolution.
        expanded_channels: channels after the 1x1 expansion.
        out_channels: channels of the output.
        use_se: a squeeze-and-excitation after the depthwise convolution.
        activation: "RE" (ReLU) or "HS" (Hardswish).
        stride: stride of the depthwise convolution.
        dilation: dilation of the depthwise convolution (> 1: stride 1).
        width_mult: the channel multiplier.
    """

    def __init__(
        self,
        input_channels: int,
        kernel: int,
        expanded_channels: int,
        out_channels: int,
        use_se: bool,
        activation: str,
        stride: int,
        dilation: int,
        width_mult: float,
    ) -> None:
        self.input_channels = self.adjust_channels(input_channels, width_mult)
        self.kernel = kernel
        self.expanded_channels = self.adjust_channels(expanded_channels, width_mult)
        self.out_channels = self.adjust_channels(out_channels, width_mult)
        self.use_se = use_se
        self.use_hs = activation == "HS"
        self.stride = stride
        self.dilation = dilation

    @staticmethod
    def adjust_channels(channels: int, width_mult: float) -> int:
        return make_divisible(channels * width_mult, 8)

    def __repr__(self) -> str:
        return f"InvertedResidualConfig({vars(self)})"


class InvertedResidual(Module):
    """MobileNet V3's block, ``block``: 1x1 expansion (left out when the channels stay) -
    depthwise conv - squeeze-and-excitation (``use_se``) - 1x1 projection, each conv
    with a norm, the first two with ReLU or Hardswish; the input is added back when the
    stride is 1 and the channels stay.

    Args:
        cnf: the block's :class:`InvertedResidualConfig`.
        norm_layer: the normalization layer class.
        se_layer: the squeeze-and-excitation class, called with (channels, squeeze
            channels). Default: :class:`~jaxnn.ops.SqueezeExcitation` with Hardsigmoid.

    Shape:
        (N, cnf.input_channels, H, W) -> (N, cnf.out_channels, H / stride, W / stride).
    """

    cnf: InvertedResidualConfig
    norm_layer: Callable[..., Module]
    se_layer: Callable[..., Module] | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.cnf.stride <= 2:
            raise ValueError("illegal stride value")
        super().__post_init__()

    def setup(self) -> None:
        cnf = self.cnf
        se_layer = self.se_layer or functools.partial(
            SqueezeExcitation, scale_activation=Hardsigmoid, conv_layer=_conv
        )
        common = dict(
            norm_layer=self.norm_layer,
            activation_layer=Hardswish if cnf.use_hs else ReLU,
            conv_layer=_conv,
        )
        layers = []
        if cnf.expanded_channels != cnf.input_channels:
            layers.append(
                Conv2dNormActivation(
                    cnf.input_channels, cnf.expanded_channels, kernel_size=1, **common
                )
            )
        layers.append(
            Conv2dNormActivation(
                cnf.expanded_channels,
                cnf.expanded_channels,
                kernel_size=cnf.kernel,
                stride=1 if cnf.dilation > 1 else cnf.stride,
                dilation=cnf.dilation,
                groups=cnf.expanded_channels,
                **common,
            )
        )
        if cnf.use_se:
            squeeze = make_divisible(cnf.expanded_channels // 4, 8)
            layers.append(se_layer(cnf.expanded_channels, squeeze))
        layers.append(
            Conv2dNormActivation(
                cnf.expanded_channels,
                cnf.out_channels,
                kernel_size=1,
                **{**common, "activation_layer": None},
            )
        )
        self.block = Sequential(*layers)

    @property
    def use_res_connect(self) -> bool:
        return self.cnf.stride == 1 and self.cnf.input_channels == self.cnf.out_channels

    def __call__(self, input: jax.Array) -> jax.Array:
        result = self.block(input)
        return result + input if self.use_res_connect else result


class MobileNetV3(Module):
    """torchvision's ``MobileNetV3``: ``features`` (conv 3x3/2 - BN - Hardswish, the
    inverted residual blocks, conv 1x1 to 6x the last block's channels - BN -
    Hardswish), ``avgpool`` and ``classifier`` (Linear - Hardswish - Dropout - Linear),
    with torchvision's initialisation (Kaiming normal fan_out convolutions, N(0, 0.01)
    Linear weights, zero biases).

    Args:
        inverted_residual_setting: one :class:`InvertedResidualConfig` per block.
        last_channel: width of the classifier's hidden layer.
        num_classes: outputs of the classifier. Default: 1000.
        block: the block class, called as ``block(cnf, norm_layer)``. Default: None
            (:class:`InvertedResidual`).
        norm_layer: the normalization layer class. Default: None,
            ``BatchNorm2d(eps=0.001, momentum=0.01)``.
        dropout: dropout probability in the classifier. Default: 0.2.

    Shape:
        (N, 3, H, W) -> (N, num_classes).

    Example::

        >>> model = mobilenet_v3_small(num_classes=10)
        >>> x = model.example_input(batch_size=2)  # (2, 3, 224, 224) float32
        >>> out, variables = jax.eval_shape(model.init_with_output, jax.random.key(0), x)
        >>> out.shape
        (2, 10)
    """

    inverted_residual_setting: Sequence[InvertedResidualConfig]
    last_channel: int
    num_classes: int = 1000
    block: Callable[..., Module] | None = None
    norm_layer: Callable[..., Module] | None = None
    dropout: float = 0.2

    def __post_init__(self) -> None:
        setting = self.inverted_residual_setting
        if not setting:
            raise ValueError("The inverted_residual_setting should not be empty")
        if not all(isinstance(s, InvertedResidualConfig) for s in setting):
            raise TypeError("The inverted_residual_setting should be List[InvertedResidualConfig]")
        super().__post_init__()

    def setup(self) -> None:
        setting = self.inverted_residual_setting
        block = self.block or InvertedResidual
        norm = self.norm_layer or functools.partial(BatchNorm2d, eps=0.001, momentum=0.01)
        common = dict(norm_layer=norm, activation_layer=Hardswish, conv_layer=_conv)
        layers = [Conv2dNormActivation(3, setting[0].input_channels, stride=2, **common)]
        layers += [block(cnf, norm) for cnf in setting]
        last = setting[-1].out_channels
        layers.append(Conv2dNormActivation(last, 6 * last, kernel_size=1, **common))
        self.features = Sequential(*layers)

        def linear(i: int, o: int) -> Linear:
            return Linear(i, o, weight_init=init.normal_(0.0, 0.01), bias_init=init.zeros_())

        self.classifier = Sequential(
            linear(6 * last, self.last_channel),
            Hardswish(inplace=True),
            Dropout(p=self.dropout, inplace=True),
            linear(self.last_channel, self.num_classes),
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.features(x)
        x = F.adaptive_avg_pool2d(x, 1)  # torchvision's avgpool: (N, C, 1, 1)
        return self.classifier(F.flatten(x, 1))

    example_input = image_input(224)


def _mobilenet_v3_conf(
    arch: str, width_mult: float = 1.0, reduced_tail: bool = False, dilated: bool = False
) -> tuple[list[InvertedResidualConfig], int]:
    """torchvision's block table for ``arch`` and the classifier's hidden width."""
    div = 2 if reduced_tail else 1  # the last stage's channels divided (detection heads)
    dil = 2 if dilated else 1

    def conf(*args: Any) -> InvertedResidualConfig:
        return InvertedResidualConfig(*args, width_mult=width_mult)

    if arch == "mobilenet_v3_large":
        setting = [
            conf(16, 3, 16, 16, False, "RE", 1, 1),
            conf(16, 3, 64, 24, False, "RE", 2, 1),  # C1
            conf(24, 3, 72, 24, False, "RE", 1, 1),
            conf(24, 5, 72, 40, True, "RE", 2, 1),  # C2
            conf(40, 5, 120, 40, True, "RE", 1, 1),
            conf(40, 5, 120, 40, True, "RE", 1, 1),
            conf(40, 3, 240, 80, False, "HS", 2, 1),  # C3
            conf(80, 3, 200, 80, False, "HS", 1, 1),
            conf(80, 3, 184, 80, False, "HS", 1, 1),
            conf(80, 3, 184, 80, False, "HS", 1, 1),
            conf(80, 3, 480, 112, True, "HS", 1, 1),
            conf(112, 3, 672, 112, True, "HS", 1, 1),
            conf(112, 5, 672, 160 // div, True, "HS", 2, dil),  # C4
            conf(160 // div, 5, 960 // div, 160 // div, True, "HS", 1, dil),
            conf(160 // div, 5, 960 // div, 160 // div, True, "HS", 1, dil),
        ]
        return setting, InvertedResidualConfig.adjust_channels(1280 // div, width_mult)  # C5
    setting = [
        conf(16, 3, 16, 16, True, "RE", 2, 1),  # C1
        conf(16, 3, 72, 24, False, "RE", 2, 1),  # C2
        conf(24, 3, 88, 24, False, "RE", 1, 1),
        conf(24, 5, 96, 40, True, "HS", 2, 1),  # C3
        conf(40, 5, 240, 40, True, "HS", 1, 1),
        conf(40, 5, 240, 40, True, "HS", 1, 1),
        conf(40, 5, 120, 48, True, "HS", 1, 1),
        conf(48, 5, 144, 48, True, "HS", 1, 1),
        conf(48, 5, 288, 96 // div, True, "HS", 2, dil),  # C4
        conf(96 // div, 5, 576 // div, 96 // div, True, "HS", 1, dil),
        conf(96 // div, 5, 576 // div, 96 // div, True, "HS", 1, dil),
    ]
    return setting, InvertedResidualConfig.adjust_channels(1024 // div, width_mult)  # C5


_CONF_ARGS = ("width_mult", "reduced_tail", "dilated")


def _mobilenet_v3(arch: str, weights: Any, kwargs: dict[str, Any]) -> MobileNetV3:
    no_pretrained_weights(weights)
    conf = {k: kwargs.pop(k) for k in _CONF_ARGS if k in kwargs}
    setting, last_channel = _mobilenet_v3_conf(arch, **conf)
    return MobileNetV3(setting, last_channel, **kwargs)


@register_model
def mobilenet_v3_large(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> MobileNetV3:
    """MobileNet V3 large (torchvision's builder).

    Args:
        weights: must be None: jaxnn downloads nothing (convert torchvision's weights
            with ``jaxnn-compat convert`` or ``jaxnn.compat.torch_to_flax``).
        progress: accepted for torchvision's signature; nothing is downloaded.
        **kwargs: ``width_mult`` (1.0), ``reduced_tail`` (False: halve the last
            stage's channels), ``dilated`` (False: dilate the last stage instead of
            striding), and :class:`MobileNetV3`'s arguments, e.g. ``num_classes=10``.
    """
    return _mobilenet_v3("mobilenet_v3_large", weights, dict(kwargs))


@register_model
def mobilenet_v3_small(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> MobileNetV3:
    """MobileNet V3 small (torchvision's builder). Args: as :func:`mobilenet_v3_large`."""
    return _mobilenet_v3("mobilenet_v3_small", weights, dict(kwargs))
