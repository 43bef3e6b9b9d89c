"""Upsample, UpsamplingNearest2d, UpsamplingBilinear2d (torch's F.interpolate rules)."""

from __future__ import annotations

from collections.abc import Sequence

import jax

from jaxnn.core import resample
from jaxnn.layers.module import Module

__all__ = ["Upsample", "UpsamplingBilinear2d", "UpsamplingNearest2d"]


class Upsample(Module):
    """Resize (N, C, *spatial) input, torch's ``nn.Upsample`` (``F.interpolate``).

    Args:
        size: the output's spatial size (int or one per dim); or
        scale_factor: the output is floor(L * scale_factor) per dim.
        mode: 'nearest' (torch's floor rule), 'nearest-exact', 'linear' (3-D input),
            'bilinear' / 'bicubic' (4-D; bicubic A = -0.75 with border clamping),
            'trilinear' (5-D) or 'area'. Default: 'nearest'.
        align_corners: the corner pixels of input and output line up (interpolating
            modes only). Default: None (False).
        recompute_scale_factor: sample with L / L_out instead of 1 / scale_factor.
            Default: None (False).

    Shape:
        (N, C, *S) -> (N, C, *S_out).
    """

    size: int | tuple[int, ...] | None = None
    scale_factor: float | tuple[float, ...] | None = None
    mode: str = "nearest"
    align_corners: bool | None = None
    recompute_scale_factor: bool | None = None

    def __post_init__(self) -> None:
        if self.mode not in resample.MODES:
            raise ValueError(
                f"{type(self).__name__}: mode must be one of {', '.join(resample.MODES)}, "
                f"got {self.mode!r}"
            )
        super().__post_init__()

    def __call__(self, input: jax.Array) -> jax.Array:
        return resample.interpolate(
            input,
            self.size,
            self.scale_factor,
            self.mode,
            self.align_corners,
            self.recompute_scale_factor,
            self._who(),
        )

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            scale = self.scale_factor
            if isinstance(scale, Sequence):
                scale = tuple(float(s) for s in scale)
            else:
                scale = float(scale)
            info = f"scale_factor={scale!r}"
        else:
            info = f"size={self.size!r}"
        return f"{info}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """``Upsample(size, scale_factor, mode='nearest')`` on 4-D input, torch's
    ``nn.UpsamplingNearest2d``.

    Args:
        size: the output's (H, W), or one int for both; or
        scale_factor: the output is floor(L * scale_factor) per dim, one float or two.
        **kwargs: :class:`Upsample`'s other arguments (``mode`` defaults to
            ``'nearest'`` here) and Flax's ``parent`` and ``name``.

    Shape:
        (N, C, H, W) -> (N, C, H_out, W_out).
    """

    def __init__(
        self,
        size: int | tuple[int, int] | None = None,
        scale_factor: float | tuple[float, float] | None = None,
        **kwargs,
    ) -> None:
        kwargs.setdefault("mode", "nearest")
        super().__init__(size, scale_factor, **kwargs)


class UpsamplingBilinear2d(Upsample):
    """``Upsample(size, scale_factor, mode='bilinear', align_corners=True)``, torch's
    ``nn.UpsamplingBilinear2d``.

    Args:
        size: the output's (H, W), or one int for both; or
        scale_factor: the output is floor(L * scale_factor) per dim, one float or two.
        **kwargs: :class:`Upsample`'s other arguments (``mode`` defaults to
            ``'bilinear'`` and ``align_corners`` to True here) and Flax's ``parent`` and
            ``name``.

    Shape:
        (N, C, H, W) -> (N, C, H_out, W_out).
    """

    def __init__(
        self,
        size: int | tuple[int, int] | None = None,
        scale_factor: float | tuple[float, float] | None = None,
        **kwargs,
    ) -> None:
        kwargs.setdefault("mode", "bilinear")
        kwargs.setdefault("align_corners", True)
        super().__init__(size, scale_factor, **kwargs)
