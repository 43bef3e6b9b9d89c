"""The documents' ``ResidualBlock`` (conv-bn-relu-conv-bn plus a shortcut) and a small
CIFAR ResNet built from it."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax.linen import nowrap

from jaxnn import functional as F
from jaxnn.layers import AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Linear, Module, Sequential
from jaxnn.models.builders import register_model

__all__ = ["ResNetCIFAR", "ResidualBlock"]


@register_model
class ResidualBlock(Module):
    """conv3x3 - bn - relu - conv3x3 - bn, plus a shortcut, then relu.

    The shortcut is the identity (an empty ``Sequential``) when the block keeps the shape,
    else a strided 1x1 convolution and a BatchNorm that project ``x`` to the new shape.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        stride: stride of the first convolution (and of the projection). Default: 1.

    Shape:
        (N, in_channels, H, W) -> (N, out_channels, ceil(H / stride), ceil(W / stride)).
    """

    in_channels: int
    out_channels: int
    stride: int = 1

    def setup(self) -> None:
        self.conv1 = Conv2d(self.in_channels, self.out_channels, 3, self.stride, 1, bias=False)
        self.bn1 = BatchNorm2d(self.out_channels)
        self.conv2 = Conv2d(self.out_channels, self.out_channels, 3, 1, 1, bias=False)
        self.bn2 = BatchNorm2d(self.out_channels)
        if self.stride != 1 or self.in_channels != self.out_channels:
            self.shortcut = Sequential(
                Conv2d(self.in_channels, self.out_channels, 1, self.stride, bias=False),
                BatchNorm2d(self.out_channels),
            )
        else:
            self.shortcut = Sequential()

    def __call__(self, x: jax.Array) -> jax.Array:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))

    @nowrap
    def example_input(self, batch_size: int = 1) -> jax.ShapeDtypeStruct:
        """The shape and dtype of an input batch (for init, conversion and export)."""
        return jax.ShapeDtypeStruct((batch_size, self.in_channels, 8, 8), jnp.float32)


@register_model
class ResNetCIFAR(Module):
    """A small ResNet for 32x32 images built from :class:`ResidualBlock` (He et al.'s
    CIFAR design: ``num_blocks=(3, 3, 3)`` is ResNet-20).

    A 3x3 stem convolution to ``widths[0]`` channels with BatchNorm and ReLU, then one
    stage per entry of ``num_blocks`` (``layer1``, ``layer2``, ...; every stage after the
    first halves the resolution in its first block), global average pooling and ``fc``.

    Args:
        num_blocks: residual blocks per stage. Default: (3, 3, 3).
        widths: channels of each stage. Default: (16, 32, 64).
        num_classes: outputs of ``fc``. Default: 10.

    Shape:
        (N, 3, H, W) -> (N, num_classes).
    """

    num_blocks: Sequence[int] = (3, 3, 3)
    widths: Sequence[int] = (16, 32, 64)
    num_classes: int = 10

    def __post_init__(self) -> None:
        if len(self.num_blocks) != len(self.widths) or not self.num_blocks:
            raise ValueError(
                f"ResNetCIFAR: num_blocks {tuple(self.num_blocks)} and widths "
                f"{tuple(self.widths)} must be non-empty and of the same length"
            )
        super().__post_init__()

    def setup(self) -> None:
        self.conv1 = Conv2d(3, self.widths[0], 3, 1, 1, bias=False)
        self.bn1 = BatchNorm2d(self.widths[0])
        in_channels = self.widths[0]
        for i, (blocks, width) in enumerate(zip(self.num_blocks, self.widths, strict=True)):
            strides = [1 if i == 0 else 2] + [1] * (blocks - 1)
            stage = []
            for stride in strides:
                stage.append(ResidualBlock(in_channels, width, stride))
                in_channels = width
            # named layer1, layer2, ... as the torch twin's attributes (a list attribute
            # would be named layers_0, ...)
            setattr(self, f"layer{i + 1}", Sequential(*stage))
        self.avgpool = AdaptiveAvgPool2d((1, 1))
        self.fc = Linear(in_channels, self.num_classes)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = F.relu(self.bn1(self.conv1(x)))
        for i in range(len(self.num_blocks)):
            x = getattr(self, f"layer{i + 1}")(x)
        x = self.avgpool(x)  # (N, C, 1, 1)
        x = F.flatten(x, 1)  # (N, C)
        return self.fc(x)

    @nowrap
    def example_input(self, batch_size: int = 1) -> jax.ShapeDtypeStruct:
        """The shape and dtype of an input batch (for init, conversion and export)."""
        return jax.ShapeDtypeStruct((batch_size, 3, 32, 32), jnp.float32)
