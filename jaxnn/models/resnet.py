"""torchvision's ResNets (ResNet-18 to -152, ResNeXt, Wide ResNet) with torchvision's
builder names, arguments and module names, so its state_dicts load as they are."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax.linen import nowrap

from jaxnn import functional as F
from jaxnn import init
from jaxnn.layers import (
    AdaptiveAvgPool2d,
    BatchNorm2d,
    Conv2d,
    Linear,
    MaxPool2d,
    Module,
    ReLU,
    Sequential,
)
from jaxnn.models.builders import image_input, no_pretrained_weights, register_model, set_fixed

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "ResNet18",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
    "resnext101_32x8d",
    "resnext101_64x4d",
    "wide_resnet50_2",
    "wide_resnet101_2",
]


def _conv_init() -> init.Initializer:
    # torchvision initialises every ResNet convolution this way (not torch's default)
    return init.kaiming_normal_(mode="fan_out", nonlinearity="relu")


def _conv(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, dilation: int = 1):
    """torchvision's conv1x1 / conv3x3: no bias, padding = dilation for 3x3."""
    padding = dilation if k == 3 else 0
    return Conv2d(
        cin, cout, k, stride, padding, dilation, groups, bias=False, weight_init=_conv_init()
    )


def _last_norm(norm_layer: Callable[..., Module], channels: int, zero: bool) -> Module:
    return norm_layer(channels, weight_init=init.zeros_()) if zero else norm_layer(channels)


@register_model
class BasicBlock(Module):
    """torchvision's ResNet ``BasicBlock``: conv3x3 - bn - relu - conv3x3 - bn, plus
    ``downsample(x)`` (or ``x``), then relu.

    Args:
        inplanes: channels of the input.
        planes: channels of the output.
        stride: stride of ``conv1``. Default: 1.
        downsample: module applied to ``x`` on the skip path when the shape changes
            (torchvision: ``Sequential(Conv2d 1x1 stride, BatchNorm2d)``). Default: None.
        groups: must be 1 (as in torchvision). Default: 1.
        base_width: must be 64 (as in torchvision). Default: 64.
        dilation: must be 1 (as in torchvision). Default: 1.
        norm_layer: the normalization layer class. Default: :class:`~jaxnn.BatchNorm2d`.
        zero_init_residual: start ``bn2``'s weight at zero (what torchvision's
            ``ResNet(zero_init_residual=True)`` does to every block). Default: False.

    Shape:
        (N, inplanes, H, W) -> (N, planes, ceil(H / stride), ceil(W / stride)).
    """

    inplanes: int
    planes: int
    stride: int = 1
    downsample: Module | None = None
    groups: int = 1
    base_width: int = 64
    dilation: int = 1
    norm_layer: Any = None
    zero_init_residual: bool = False

    expansion = 1

    def __post_init__(self) -> None:
        if self.groups != 1 or self.base_width != 64:
            raise ValueError("BasicBlock only supports groups=1 and base_width=64")
        if self.dilation > 1:
            raise NotImplementedError("Dilation > 1 not supported in BasicBlock")
        super().__post_init__()

    def setup(self) -> None:
        norm = self.norm_layer or BatchNorm2d
        self.conv1 = _conv(self.inplanes, self.planes, 3, self.stride)
        self.bn1 = norm(self.planes)
        self.relu = ReLU(inplace=True)
        self.conv2 = _conv(self.planes, self.planes, 3)
        self.bn2 = _last_norm(norm, self.planes, self.zero_init_residual)

    def __call__(self, x: jax.Array) -> jax.Array:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        # after the main path, as torchvision: per-layer reports follow torch's call order
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)

    @nowrap
    def example_input(self, batch_size: int = 1) -> jax.ShapeDtypeStruct:
        """The shape and dtype of an input batch (for init, conversion and export)."""
        return jax.ShapeDtypeStruct((batch_size, self.inplanes, 8, 8), jnp.float32)


class Bottleneck(Module):
    """torchvision's ResNet ``Bottleneck`` (ResNet v1.5: the stride sits on the 3x3
    convolution): conv1x1 - bn - relu - conv3x3 - bn - relu - conv1x1 - bn, plus
    ``downsample(x)`` (or ``x``), then relu; ``expansion`` = 4.

    Args:
        inplanes: channels of the input.
        planes: channels before expansion; the output has ``planes * 4``.
        stride: stride of ``conv2``. Default: 1.
        downsample: module applied to ``x`` on the skip path. Default: None.
        groups: groups of ``conv2`` (ResNeXt's cardinality). Default: 1.
        base_width: width per group; the inner width is
            ``int(planes * base_width / 64) * groups``. Default: 64.
        dilation: dilation (and padding) of ``conv2``. Default: 1.
        norm_layer: the normalization layer class. Default: :class:`~jaxnn.BatchNorm2d`.
        zero_init_residual: start ``bn3``'s weight at zero. Default: False.

    Shape:
        (N, inplanes, H, W) -> (N, 4 * planes, ceil(H / stride), ceil(W / stride)).
    """

    inplanes: int
    planes: int
    stride: int = 1
    downsample: Module | None = None
    groups: int = 1
    base_width: int = 64
    dilation: int = 1
    norm_layer: Any = None
    zero_init_residual: bool = False

    expansion = 4

    def setup(self) -> None:
        norm = self.norm_layer or BatchNorm2d
        width = int(self.planes * (self.base_width / 64.0)) * self.groups
        self.conv1 = _conv(self.inplanes, width, 1)
        self.bn1 = norm(width)
        self.conv2 = _conv(width, width, 3, self.stride, self.groups, self.dilation)
        self.bn2 = norm(width)
        self.conv3 = _conv(width, self.planes * self.expansion, 1)
        self.bn3 = _last_norm(norm, self.planes * self.expansion, self.zero_init_residual)
        self.relu = ReLU(inplace=True)

    def __call__(self, x: jax.Array) -> jax.Array:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)

    @nowrap
    def example_input(self, batch_size: int = 1) -> jax.ShapeDtypeStruct:
        """The shape and dtype of an input batch (for init, conversion and export)."""
        return jax.ShapeDtypeStruct((batch_size, self.inplanes, 8, 8), jnp.float32)


def _stages(
    block: Any,
    layers: Sequence[int],
    groups: int,
    width_per_group: int,
    dilate: Sequence[bool],
    norm: Any,
    zero_init_residual: bool,
) -> list[Sequential]:
    """torchvision's ``layer1`` .. ``layer4``: the first block of a stage strides (or,
    where ``dilate`` says so, dilates instead) and projects the skip path."""
    stages, inplanes, dilation = [], 64, 1
    for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers, strict=True)):
        stride, previous_dilation = (1 if i == 0 else 2), dilation
        if i > 0 and dilate[i - 1]:
            dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or inplanes != planes * block.expansion:
            downsample = Sequential(
                _conv(inplanes, planes * block.expansion, 1, stride), norm(planes * block.expansion)
            )
        common = dict(
            groups=groups,
            base_width=width_per_group,
            norm_layer=norm,
            zero_init_residual=zero_init_residual,
        )
        stage = [block(inplanes, planes, stride, downsample, dilation=previous_dilation, **common)]
        inplanes = planes * block.expansion
        stage += [block(inplanes, planes, dilation=dilation, **common) for _ in range(blocks - 1)]
        stages.append(Sequential(*stage))
    return stages


class ResNet(Module):
    """torchvision's ``ResNet``: conv 7x7/2 - bn - relu - max pool 3/2 - ``layer1`` ..
    ``layer4`` - adaptive average pool to 1x1 - ``fc``, with torchvision's module names
    and initialisation (Kaiming normal fan_out convolutions, BatchNorm at 1 and 0).

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        layers: blocks per stage, e.g. ``(3, 4, 6, 3)`` for ResNet-50.
        num_classes: outputs of ``fc``. Default: 1000.
        zero_init_residual: start the last BatchNorm weight of every block at zero.
            Default: False.
        groups: groups of the 3x3 convolutions (ResNeXt). Default: 1.
        width_per_group: width per group (64; 4 for ResNeXt-50 32x4d, 128 for Wide
            ResNet-50-2). Default: 64.
        replace_stride_with_dilation: three bools: dilate instead of striding in layers
            2, 3, 4. Default: None (stride everywhere).
        norm_layer: the normalization layer class. Default: :class:`~jaxnn.BatchNorm2d`.

    Shape:
        (N, 3, H, W) -> (N, num_classes).
    """

    block: Any = BasicBlock
    layers: Sequence[int] = (2, 2, 2, 2)
    num_classes: int = 1000
    zero_init_residual: bool = False
    groups: int = 1
    width_per_group: int = 64
    replace_stride_with_dilation: Sequence[bool] | None = None
    norm_layer: Any = None

    def __post_init__(self) -> None:
        dilate = self.replace_stride_with_dilation
        if dilate is not None and len(dilate) != 3:
            raise ValueError(
                f"replace_stride_with_dilation should be None or a 3-element tuple, got {dilate}"
            )
        if len(self.layers) != 4:
            raise ValueError(f"ResNet: layers must give 4 stages, got {tuple(self.layers)}")
        super().__post_init__()

    def setup(self) -> None:
        norm = self.norm_layer or BatchNorm2d
        self.conv1 = Conv2d(3, 64, 7, 2, 3, bias=False, weight_init=_conv_init())
        self.bn1 = norm(64)
        self.relu = ReLU(inplace=True)
        self.maxpool = MaxPool2d(3, 2, 1)
        dilate = tuple(self.replace_stride_with_dilation or (False, False, False))
        stages = _stages(
            self.block,
            self.layers,
            self.groups,
            self.width_per_group,
            dilate,
            norm,
            self.zero_init_residual,
        )
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = AdaptiveAvgPool2d((1, 1))
        self.fc = Linear(512 * self.block.expansion, self.num_classes)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.avgpool(x)  # (N, 512 * expansion, 1, 1)
        x = F.flatten(x, 1)  # (N, 512 * expansion)
        return self.fc(x)

    example_input = image_input(224)


@register_model
class ResNet18(ResNet):
    """ResNet-18, :func:`resnet18` as a class (the documents' name): torchvision's
    module names, so ``torchvision.models.resnet18`` weights load.

    Args:
        block: :class:`BasicBlock` (ResNet-18's). Default: BasicBlock.
        layers: ``(2, 2, 2, 2)`` (ResNet-18's). Default: (2, 2, 2, 2).
        num_classes: outputs of ``fc``. Default: 1000.
        zero_init_residual: as for :class:`ResNet`. Default: False.
        groups: as for :class:`ResNet`. Default: 1.
        width_per_group: as for :class:`ResNet`. Default: 64.
        replace_stride_with_dilation: as for :class:`ResNet`. Default: None.
        norm_layer: as for :class:`ResNet`. Default: None.

    Shape:
        (N, 3, H, W) -> (N, num_classes); ImageNet's 224x224 reaches layer4 as 7x7.
    """


def _resnet(block: Any, layers: Sequence[int], weights: Any, fixed: dict, kwargs: dict) -> ResNet:
    no_pretrained_weights(weights)
    return ResNet(block, tuple(layers), **set_fixed(kwargs, fixed))


@register_model
def resnet18(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-18 (torchvision's builder).

    Args:
        weights: must be None: jaxnn downloads nothing (convert torchvision's weights
            with ``jaxnn-compat convert`` or ``jaxnn.compat.torch_to_flax``).
        progress: accepted for torchvision's signature; nothing is downloaded.
        **kwargs: :class:`ResNet`'s arguments, e.g. ``num_classes=10``.
    """
    return _resnet(BasicBlock, (2, 2, 2, 2), weights, {}, kwargs)


@register_model
def resnet34(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-34 (torchvision's builder). Args: as :func:`resnet18`."""
    return _resnet(BasicBlock, (3, 4, 6, 3), weights, {}, kwargs)


@register_model
def resnet50(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-50 (torchvision's builder). Args: as :func:`resnet18`."""
    return _resnet(Bottleneck, (3, 4, 6, 3), weights, {}, kwargs)


@register_model
def resnet101(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-101 (torchvision's builder). Args: as :func:`resnet18`."""
    return _resnet(Bottleneck, (3, 4, 23, 3), weights, {}, kwargs)


@register_model
def resnet152(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-152 (torchvision's builder). Args: as :func:`resnet18`."""
    return _resnet(Bottleneck, (3, 8, 36, 3), weights, {}, kwargs)


@register_model
def resnext50_32x4d(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNeXt-50 32x4d (torchvision's builder): groups 32, width 4. Args: as
    :func:`resnet18`."""
    fixed = {"groups": 32, "width_per_group": 4}
    return _resnet(Bottleneck, (3, 4, 6, 3), weights, fixed, kwargs)


@register_model
def resnext101_32x8d(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNeXt-101 32x8d (torchvision's builder). Args: as :func:`resnet18`."""
    fixed = {"groups": 32, "width_per_group": 8}
    return _resnet(Bottleneck, (3, 4, 23, 3), weights, fixed, kwargs)


@register_model
def resnext101_64x4d(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNeXt-101 64x4d (torchvision's builder). Args: as :func:`resnet18`."""
    fixed = {"groups": 64, "width_per_group": 4}
    return _resnet(Bottleneck, (3, 4, 23, 3), weights, fixed, kwargs)


@register_model
def wide_resnet50_2(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """Wide ResNet-50-2 (torchvision's builder): inner width doubled. Args: as
    :func:`resnet18`."""
    return _resnet(Bottleneck, (3, 4, 6, 3), weights, {"width_per_group": 128}, kwargs)


@register_model
def wide_resnet101_2(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """Wide ResNet-101-2 (torchvision's builder). Args: as :func:`resnet18`."""
    return _resnet(Bottleneck, (3, 4, 23, 3), weights, {"width_per_group": 128}, kwargs)
