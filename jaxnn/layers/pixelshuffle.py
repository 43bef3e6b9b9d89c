"""PixelShuffle, PixelUnshuffle, ChannelShuffle."""

from __future__ import annotations

import jax

from jaxnn import functional as F
from jaxnn.layers.module import Module

__all__ = ["ChannelShuffle", "PixelShuffle", "PixelUnshuffle"]


class PixelShuffle(Module):
    """Rearrange (*, C r^2, H, W) into (*, C, H r, W r), torch's ``nn.PixelShuffle``
    (sub-pixel convolution upsampling).

    Args:
        upscale_factor: r.

    Shape:
        (*, C * r^2, H, W) -> (*, C, H * r, W * r).
    """

    upscale_factor: int

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """The inverse of PixelShuffle, torch's ``nn.PixelUnshuffle``.

    Args:
        downscale_factor: r.

    Shape:
        (*, C, H * r, W * r) -> (*, C * r^2, H, W).
    """

    downscale_factor: int

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


class ChannelShuffle(Module):
    """Interleave the channels of ``groups`` groups, torch's ``nn.ChannelShuffle``
    (ShuffleNet).

    Args:
        groups: the number of groups; the channels must divide by it.

    Shape:
        (N, C, *) -> (N, C, *).
    """

    groups: int

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.channel_shuffle(input, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"
