"""torchvision's RegNets (RegNetX and RegNetY, 400MF to 128GF) with its builder names,
arguments and module names."""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from jaxnn import functional as F
from jaxnn import init
from jaxnn.layers import AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Linear, Module, ReLU, Sequential
from jaxnn.models.builders import (
    image_input,
    make_divisible,
    no_pretrained_weights,
    register_model,
)
from jaxnn.ops import Conv2dNormActivation, SqueezeExcitation

__all__ = [
    "RegNet",
    "regnet_x_1_6gf",
    "regnet_x_3_2gf",
    "regnet_x_8gf",
    "regnet_x_16gf",
    "regnet_x_32gf",
    "regnet_x_400mf",
    "regnet_x_800mf",
    "regnet_y_1_6gf",
    "regnet_y_3_2gf",
    "regnet_y_8gf",
    "regnet_y_16gf",
    "regnet_y_32gf",
    "regnet_y_128gf",
    "regnet_y_400mf",
    "regnet_y_800mf",
]

LayerFactory = Callable[..., Module]

# torchvision's initialisation of every convolution weight, N(0, 2 / (kH kW out)); the
# squeeze-and-excitation biases keep torch's default
_conv = functools.partial(Conv2d, weight_init=init.kaiming_normal_(mode="fan_out"))


class SimpleStemIN(Conv2dNormActivation):
    """RegNet's stem, ``stem``: conv 3x3/2 - norm - activation.

    Args:
        width_in: channels of the input.
        width_out: channels of the output.
        norm_layer: the normalization layer class.
        activation_layer: the activation class.
    """

    def __init__(
        self,
        width_in: int | None = None,
        width_out: int | None = None,
        norm_layer: LayerFactory | None = None,
        activation_layer: LayerFactory | None = None,
        **kwargs: Any,
    ) -> None:
        if "layers" in kwargs:  # Flax's clone() passes the children already built
            super().__init__(**kwargs)
            return
        super().__init__(
            width_in,
            width_out,
            kernel_size=3,
            stride=2,
            norm_layer=norm_layer,
            activation_layer=activation_layer,
            conv_layer=_conv,
            **kwargs,
        )


class BottleneckTransform(Sequential):
    """RegNet's bottleneck, children ``a`` (1x1), ``b`` (3x3 grouped, strided), ``se``
    (squeeze-and-excitation, with ``se_ratio``) and ``c`` (1x1, no activation).

    Args:
        width_in: channels of the input.
        width_out: channels of the output.
        stride: stride of ``b``.
        norm_layer: the normalization layer class.
        activation_layer: the activation class.
        group_width: channels per group of ``b``.
        bottleneck_multiplier: inner width = ``round(width_out * bottleneck_multiplier)``.
        se_ratio: squeeze width as a fraction of ``width_in``; None or 0 for no ``se``.
    """

    def __init__(
        self,
        width_in: int | None = None,
        width_out: int | None = None,
        stride: int = 1,
        norm_layer: LayerFactory | None = None,
        activation_layer: LayerFactory | None = None,
        group_width: int = 1,
        bottleneck_multiplier: float = 1.0,
        se_ratio: float | None = None,
        **kwargs: Any,
    ) -> None:
        if "layers" in kwargs:  # Flax's clone() passes the children already built
            super().__init__(**kwargs)
            return
        w_b = round(width_out * bottleneck_multiplier)
        common = dict(norm_layer=norm_layer, activation_layer=activation_layer, conv_layer=_conv)
        layers: dict[str, Module] = OrderedDict()
        layers["a"] = Conv2dNormActivation(width_in, w_b, kernel_size=1, **common)
        layers["b"] = Conv2dNormActivation(
            w_b, w_b, kernel_size=3, stride=stride, groups=w_b // group_width, **common
        )
        if se_ratio:  # the squeeze width counts from the block's input, as torchvision's
            layers["se"] = SqueezeExcitation(
                w_b, round(se_ratio * width_in), activation_layer, conv_layer=_conv
            )
        layers["c"] = Conv2dNormActivation(
            w_b, width_out, kernel_size=1, **{**common, "activation_layer": None}
        )
        super().__init__(layers, **kwargs)


class ResBottleneckBlock(Module):
    """RegNet's block: ``activation(proj(x) + f(x))``, ``proj`` (1x1 conv - norm) only
    where the width or resolution changes (else ``x``), ``f`` a
    :class:`BottleneckTransform`.

    Args: as :class:`BottleneckTransform`.
    """

    width_in: int
    width_out: int
    stride: int
    norm_layer: LayerFactory
    activation_layer: LayerFactory
    group_width: int = 1
    bottleneck_multiplier: float = 1.0
    se_ratio: float | None = None

    def setup(self) -> None:
        if self.width_in != self.width_out or self.stride != 1:
            self.proj = Conv2dNormActivation(
                self.width_in,
                self.width_out,
                kernel_size=1,
                stride=self.stride,
                norm_layer=self.norm_layer,
                activation_layer=None,
                conv_layer=_conv,
            )
        else:
            self.proj = None
        self.f = BottleneckTransform(
            self.width_in,
            self.width_out,
            self.stride,
            self.norm_layer,
            self.activation_layer,
            self.group_width,
            self.bottleneck_multiplier,
            self.se_ratio,
        )
        self.activation = self.activation_layer(inplace=True)

    def __call__(self, x: jax.Array) -> jax.Array:
        shortcut = x if self.proj is None else self.proj(x)
        return self.activation(shortcut + self.f(x))


class AnyStage(Sequential):
    """A RegNet stage: ``depth`` blocks named ``block{stage_index}-{i}``, the first with
    ``stride`` and ``width_in`` channels in."""

    def __init__(
        self,
        width_in: int | None = None,
        width_out: int | None = None,
        stride: int = 1,
        depth: int = 1,
        block_constructor: LayerFactory = ResBottleneckBlock,
        norm_layer: LayerFactory | None = None,
        activation_layer: LayerFactory | None = None,
        group_width: int = 1,
        bottleneck_multiplier: float = 1.0,
        se_ratio: float | None = None,
        stage_index: int = 0,
        **kwargs: Any,
    ) -> None:
        if "layers" in kwargs:  # Flax's clone() passes the children already built
            super().__init__(**kwargs)
            return
        blocks = {
            f"block{stage_index}-{i}": block_constructor(
                width_in if i == 0 else width_out,
                width_out,
                stride if i == 0 else 1,
                norm_layer,
                activation_layer,
                group_width,
                bottleneck_multiplier,
                se_ratio,
            )
            for i in range(depth)
        }
        super().__init__(blocks, **kwargs)


class BlockParams:
    """The per-stage settings of a RegNet (depths, widths, group widths, bottleneck
    multipliers, strides, SE ratio), torchvision's ``BlockParams``."""

    def __init__(
        self,
        depths: Sequence[int],
        widths: Sequence[int],
        group_widths: Sequence[int],
        bottleneck_multipliers: Sequence[float],
        strides: Sequence[int],
        se_ratio: float | None = None,
    ) -> None:
        self.depths = list(depths)
        self.widths = list(widths)
        self.group_widths = list(group_widths)
        self.bottleneck_multipliers = list(bottleneck_multipliers)
        self.strides = list(strides)
        self.se_ratio = se_ratio

    @classmethod
    def from_init_params(
        cls,
        depth: int,
        w_0: int,
        w_a: float,
        w_m: float,
        group_width: int,
        bottleneck_multiplier: float = 1.0,
        se_ratio: float | None = None,
        **kwargs: Any,
    ) -> BlockParams:
        """The stages of the RegNet design space: block ``j`` has width
        ``w_0 * w_m ** round(log(1 + j * w_a / w_0) / log(w_m))`` quantized to multiples
        of 8 (float32, as torchvision computes it); consecutive blocks of one width form
        a stage, and stage widths are made divisible by their group widths."""
        if w_a < 0 or w_0 <= 0 or w_m <= 1 or w_0 % 8 != 0:
            raise ValueError("Invalid RegNet settings")
        f32 = np.float32
        widths_cont = np.arange(depth).astype(f32) * f32(w_a) + f32(w_0)
        capacity = np.round(np.log(widths_cont / f32(w_0)) / f32(math.log(w_m)))
        block_widths = (np.round(f32(w_0) * np.power(f32(w_m), capacity) / f32(8)) * 8).astype(int)
        block_widths = block_widths.tolist()
        # a stage starts wherever the width changes
        starts = [j for j in range(depth) if j == 0 or block_widths[j] != block_widths[j - 1]]
        stage_widths = [block_widths[j] for j in starts]
        stage_depths = np.diff([*starts, depth]).tolist()
        n = len(stage_widths)
        widths, group_widths = cls._adjust_widths_groups_compatibilty(
            stage_widths, [bottleneck_multiplier] * n, [group_width] * n
        )
        return cls(
            stage_depths, widths, group_widths, [bottleneck_multiplier] * n, [2] * n, se_ratio
        )

    def _get_expanded_params(self) -> list[tuple[int, int, int, int, float]]:
        return list(
            zip(
                self.widths,
                self.strides,
                self.depths,
                self.group_widths,
                self.bottleneck_multipliers,
            )
        )

    @staticmethod
    def _adjust_widths_groups_compatibilty(
        stage_widths: list[int], bottleneck_ratios: list[float], group_widths: list[int]
    ) -> tuple[list[int], list[int]]:
        """Stage widths whose bottleneck widths divide by their (capped) group widths."""
        widths = [int(w * b) for w, b in zip(stage_widths, bottleneck_ratios)]
        group_widths_min = [min(g, w) for g, w in zip(group_widths, widths)]
        ws_bot = [make_divisible(w, g) for w, g in zip(widths, group_widths_min)]
        return [int(w / b) for w, b in zip(ws_bot, bottleneck_ratios)], group_widths_min

    def __repr__(self) -> str:
        return f"BlockParams({vars(self)})"


class RegNet(Module):
    """torchvision's ``RegNet``: ``stem`` (conv 3x3/2 - BN - ReLU), ``trunk_output``
    (stages ``block1`` .. ``blockN`` of :class:`ResBottleneckBlock`, each halving the
    resolution), ``avgpool`` and ``fc``, with torchvision's initialisation (convolution
    weights N(0, 2 / fan_out), Linear N(0, 0.01) with zero bias).

    Args:
        block_params: the stages, e.g. ``BlockParams.from_init_params(...)``.
        num_classes: outputs of ``fc``. Default: 1000.
        stem_width: channels of the stem. Default: 32.
        stem_type: the stem class. Default: None (:class:`SimpleStemIN`).
        block_type: the block class. Default: None (:class:`ResBottleneckBlock`).
        norm_layer: the normalization layer class. Default: :class:`~jaxnn.BatchNorm2d`.
        activation: the activation class. Default: :class:`~jaxnn.ReLU`.

    Shape:
        (N, 3, H, W) -> (N, num_classes).

    Example::

        >>> model = regnet_y_400mf(num_classes=10)
        >>> x = model.example_input(batch_size=2)  # (2, 3, 224, 224) float32
        >>> out, variables = jax.eval_shape(model.init_with_output, jax.random.key(0), x)
        >>> out.shape
        (2, 10)
    """

    block_params: BlockParams
    num_classes: int = 1000
    stem_width: int = 32
    stem_type: LayerFactory | None = None
    block_type: LayerFactory | None = None
    norm_layer: LayerFactory | None = None
    activation: LayerFactory | None = None

    def setup(self) -> None:
        norm, activation = self.norm_layer or BatchNorm2d, self.activation or ReLU
        self.stem = (self.stem_type or SimpleStemIN)(3, self.stem_width, norm, activation)
        width, stages = self.stem_width, {}
        params = self.block_params._get_expanded_params()
        for i, (width_out, stride, depth, group_width, multiplier) in enumerate(params):
            stages[f"block{i + 1}"] = AnyStage(
                width,
                width_out,
                stride,
                depth,
                self.block_type or ResBottleneckBlock,
                norm,
                activation,
                group_width,
                multiplier,
                self.block_params.se_ratio,
                stage_index=i + 1,
            )
            width = width_out
        self.trunk_output = Sequential(OrderedDict(stages))
        self.avgpool = AdaptiveAvgPool2d((1, 1))
        self.fc = Linear(
            width, self.num_classes, weight_init=init.normal_(0.0, 0.01), bias_init=init.zeros_()
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.trunk_output(self.stem(x))
        x = self.avgpool(x)  # (N, C, 1, 1)
        return self.fc(F.flatten(x, 1))

    example_input = image_input(224)


def _regnet(design: dict[str, Any], weights: Any, kwargs: dict[str, Any]) -> RegNet:
    no_pretrained_weights(weights)
    kwargs = dict(kwargs)
    params = BlockParams.from_init_params(**design, **kwargs)
    norm_layer = kwargs.pop("norm_layer", functools.partial(BatchNorm2d, eps=1e-05, momentum=0.1))
    return RegNet(params, norm_layer=norm_layer, **kwargs)


def _y(depth: int, w_0: int, w_a: float, w_m: float, group_width: int) -> dict[str, Any]:
    return dict(depth=depth, w_0=w_0, w_a=w_a, w_m=w_m, group_width=group_width, se_ratio=0.25)


def _x(depth: int, w_0: int, w_a: float, w_m: float, group_width: int) -> dict[str, Any]:
    return dict(depth=depth, w_0=w_0, w_a=w_a, w_m=w_m, group_width=group_width)


_BUILDER_DOC = """{title} (torchvision's builder).

    Args:
        weights: must be None: jaxnn downloads nothing (convert torchvision's weights
            with ``jaxnn-compat convert`` or ``jaxnn.compat.torch_to_flax``).
        progress: accepted for torchvision's signature; nothing is downloaded.
        **kwargs: :class:`RegNet`'s arguments, e.g. ``num_classes=10``.
    """


def _builder(name: str, title: str, design: dict[str, Any]) -> Callable[..., RegNet]:
    def builder(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> RegNet:
        return _regnet(design, weights, kwargs)

    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = _BUILDER_DOC.format(title=title)
    return register_model(builder)


regnet_y_400mf = _builder("regnet_y_400mf", "RegNetY-400MF", _y(16, 48, 27.89, 2.09, 8))
regnet_y_800mf = _builder("regnet_y_800mf", "RegNetY-800MF", _y(14, 56, 38.84, 2.4, 16))
regnet_y_1_6gf = _builder("regnet_y_1_6gf", "RegNetY-1.6GF", _y(27, 48, 20.71, 2.65, 24))
regnet_y_3_2gf = _builder("regnet_y_3_2gf", "RegNetY-3.2GF", _y(21, 80, 42.63, 2.66, 24))
regnet_y_8gf = _builder("regnet_y_8gf", "RegNetY-8GF", _y(17, 192, 76.82, 2.19, 56))
regnet_y_16gf = _builder("regnet_y_16gf", "RegNetY-16GF", _y(18, 200, 106.23, 2.48, 112))
regnet_y_32gf = _builder("regnet_y_32gf", "RegNetY-32GF", _y(20, 232, 115.89, 2.53, 232))
regnet_y_128gf = _builder("regnet_y_128gf", "RegNetY-128GF", _y(27, 456, 160.83, 2.52, 264))
regnet_x_400mf = _builder("regnet_x_400mf", "RegNetX-400MF", _x(22, 24, 24.48, 2.54, 16))
regnet_x_800mf = _builder("regnet_x_800mf", "RegNetX-800MF", _x(16, 56, 35.73, 2.28, 16))
regnet_x_1_6gf = _builder("regnet_x_1_6gf", "RegNetX-1.6GF", _x(18, 80, 34.01, 2.25, 24))
regnet_x_3_2gf = _builder("regnet_x_3_2gf", "RegNetX-3.2GF", _x(25, 88, 26.31, 2.25, 48))
regnet_x_8gf = _builder("regnet_x_8gf", "RegNetX-8GF", _x(23, 80, 49.56, 2.88, 120))
regnet_x_16gf = _builder("regnet_x_16gf", "RegNetX-16GF", _x(22, 216, 55.59, 2.1, 128))
regnet_x_32gf = _builder("regnet_x_32gf", "RegNetX-32GF", _x(23, 320, 69.86, 2.0, 168))
