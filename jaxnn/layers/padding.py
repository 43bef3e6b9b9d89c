"""Padding layers: ZeroPad, ConstantPad, ReflectionPad, ReplicationPad, CircularPad in
1-D, 2-D and 3-D, torch's ``nn.*Pad*d``. Negative pads remove elements in every mode."""

from __future__ import annotations

from typing import ClassVar

import jax

from jaxnn.core import padding
from jaxnn.core.args import ntuple
from jaxnn.layers.module import Module

__all__ = [
    "CircularPad1d",
    "CircularPad2d",
    "CircularPad3d",
    "ConstantPad1d",
    "ConstantPad2d",
    "ConstantPad3d",
    "ReflectionPad1d",
    "ReflectionPad2d",
    "ReflectionPad3d",
    "ReplicationPad1d",
    "ReplicationPad2d",
    "ReplicationPad3d",
    "ZeroPad1d",
    "ZeroPad2d",
    "ZeroPad3d",
]

IntOrTuple = int | tuple[int, ...]


class _PadNd(Module):
    """``padding``: an int for every side, or (left, right[, top, bottom[, front,
    back]]) as torch's F.pad orders them (the last dim first)."""

    spatial_dims: ClassVar[int]
    mode: ClassVar[str]

    padding: IntOrTuple

    def _pad(self) -> tuple[int, ...]:
        return ntuple(self.padding, 2 * self.spatial_dims, f"{type(self).__name__}: padding")

    def __post_init__(self) -> None:
        self._pad()
        super().__post_init__()

    def _value(self) -> float | None:
        return None

    def __call__(self, input: jax.Array) -> jax.Array:
        n = self.spatial_dims
        if input.ndim not in (n + 1, n + 2):
            raise ValueError(
                f"{self._who()}: expected a {n + 1}-D or {n + 2}-D input, got shape "
                f"{tuple(input.shape)}"
            )
        return padding.pad(input, self._pad(), self.mode, self._value(), self._who())

    def extra_repr(self) -> str:
        return f"{self._pad()}"


class _ConstantPadNd(_PadNd):
    mode: ClassVar[str] = "constant"

    value: float = 0.0

    def _value(self) -> float | None:
        return self.value

    def extra_repr(self) -> str:
        return f"padding={self._pad()}, value={float(self.value)}"


class ZeroPad1d(_PadNd):
    """Pad with zeros, torch's ``nn.ZeroPad1d``.

    Args:
        padding: int (every side) or (left, right); negative values remove
            elements.

    Shape:
        (N, C, W) or (C, W) -> same rank, each padded dim grown by its pads.
    """

    spatial_dims: ClassVar[int] = 1
    mode: ClassVar[str] = "constant"


class ZeroPad2d(_PadNd):
    """Pad with zeros, torch's ``nn.ZeroPad2d``.

    Args:
        padding: int (every side) or (left, right, top, bottom); negative values remove
            elements.

    Shape:
        (N, C, H, W) or (C, H, W) -> same rank, each padded dim grown by its pads.
    """

    spatial_dims: ClassVar[int] = 2
    mode: ClassVar[str] = "constant"


class ZeroPad3d(_PadNd):
    """Pad with zeros, torch's ``nn.ZeroPad3d``.

    Args:
        padding: int (every side) or (left, right, top, bottom, front, back); negative values remove
            elements.

    Shape:
        (N, C, D, H, W) or (C, D, H, W) -> same rank, each padded dim grown by its pads.
    """

    spatial_dims: ClassVar[int] = 3
    mode: ClassVar[str] = "constant"


class ConstantPad1d(_ConstantPadNd):
    """Pad with a constant ``value``, torch's ``nn.ConstantPad1d``.

    Args:
        padding: int (every side) or (left, right); negative values remove
            elements.
        value: the fill value. Default: 0.

    Shape:
        (N, C, W) or (C, W) -> same rank, each padded dim grown by its pads.
    """

    spatial_dims: ClassVar[int] = 1


class ConstantPad2d(_ConstantPadNd):
    """Pad with a constant ``value``, torch's ``nn.ConstantPad2d``.

    Args:
        padding: int (every side) or (left, right, top, bottom); negative values remove
            elements.
        value: the fill value. Default: 0.

    Shape:
        (N, C, H, W) or (C, H, W) -> same rank, each padded dim grown by its pads.
    """

    spatial_dims: ClassVar[int] = 2


class ConstantPad3d(_ConstantPadNd):
    """Pad with a constant ``value``, torch's ``nn.ConstantPad3d``.

    Args:
        padding: int (every side) or (left, right, top, bottom, front, back); negative values remove
            elements.
        value: the fill value. Default: 0.

    Shape:
        (N, C, D, H, W) or (C, D, H, W) -> same rank, each padded dim grown by its pads.
    """

    spatial_dims: ClassVar[int] = 3


class ReflectionPad1d(_PadNd):
    """Pad with the input's reflection (the edge not repeated);
    each pad smaller than its dim, torch's ``nn.ReflectionPad1d``.

    Args:
        padding: int (every side) or (left, right); negative values remove
            elements.

    Shape:
        (N, C, W) or (C, W) -> same rank, each padded dim grown by its pads.
    """

    spatial_dims: ClassVar[int] = 1
    mode: ClassVar[str] = "reflect"


class ReflectionPad2d(_PadNd):
    """Pad with the input's reflection (the edge not repeated);
    each pad smaller than its dim, torch's ``nn.ReflectionPad2d``.

    Args:
        padding: int (every side) or (left, right, top, bottom); negative values remove
            elements.

    Shape:
        (N, C, H, W) or (C, H, W) -> same rank, each padded dim grown by its pads.
    """

    spatial_dims: ClassVar[int] = 2
    mode: ClassVar[str] = "reflect"


class ReflectionPad3d(_PadNd):
    """Pad with the input's reflection (the edge not repeated);
    each pad smaller than its dim, torch's ``nn.ReflectionPad3d``.

    Args:
        padding: int (every side) or (left, right, top, bottom, front, back); negative values remove
            elements.

    Shape:
        (N, C, D, H, W) or (C, D, H, W) -> same rank, each padded dim grown by its pads.
    """

    spatial_dims: ClassVar[int] = 3
    mode: ClassVar[str] = "reflect"


class ReplicationPad1d(_PadNd):
    """Pad by repeating the input's edge, torch's ``nn.ReplicationPad1d``.

    Args:
        padding: int (every side) or (left, right); negative values remove
            elements.

    Shape:
        (N, C, W) or (C, W) -> same rank, each padded dim grown by its pads.
    """

    spatial_dims: ClassVar[int] = 1
    mode: ClassVar[str] = "replicate"


class ReplicationPad2d(_PadNd):
    """Pad by repeating the input's edge, torch's ``nn.ReplicationPad2d``.

    Args:
        padding: int (every side) or (left, right, top, bottom); negative values remove
            elements.

    Shape:
        (N, C, H, W) or (C, H, W) -> same rank, each padded dim grown by its pads.
    """

    spatial_dims: ClassVar[int] = 2
    mode: ClassVar[str] = "replicate"


class ReplicationPad3d(_PadNd):
    """Pad by repeating the input's edge, torch's ``nn.ReplicationPad3d``.

    Args:
        padding: int (every side) or (left, right, top, bottom, front, back); negative values remove
            elements.

    Shape:
        (N, C, D, H, W) or (C, D, H, W) -> same rank, each padded dim grown by its pads.
    """

    spatial_dims: ClassVar[int] = 3
    mode: ClassVar[str] = "replicate"


class CircularPad1d(_PadNd):
    """Pad by wrapping the input around, after removing what negative
    pads remove; each pad at most its dim, torch's ``nn.CircularPad1d``.

    Args:
        padding: int (every side) or (left, right); negative values remove
            elements.

    Shape:
        (N, C, W) or (C, W) -> same rank, each padded dim grown by its pads.
    """

    spatial_dims: ClassVar[int] = 1
    mode: ClassVar[str] = "circular"


class CircularPad2d(_PadNd):
    """Pad by wrapping the input around, after removing what negative
    pads remove; each pad at most its dim, torch's ``nn.CircularPad2d``.

    Args:
        padding: int (every side) or (left, right, top, bottom); negative values remove
            elements.

    Shape:
        (N, C, H, W) or (C, H, W) -> same rank, each padded dim grown by its pads.
    """

    spatial_dims: ClassVar[int] = 2
    mode: ClassVar[str] = "circular"


class CircularPad3d(_PadNd):
    """Pad by wrapping the input around, after removing what negative
    pads remove; each pad at most its dim, torch's ``nn.CircularPad3d``.

    Args:
        padding: int (every side) or (left, right, top, bottom, front, back); negative values remove
            elements.

    Shape:
        (N, C, D, H, W) or (C, D, H, W) -> same rank, each padded dim grown by its pads.
    """

    spatial_dims: ClassVar[int] = 3
    mode: ClassVar[str] = "circular"
