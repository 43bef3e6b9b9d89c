"""``torchvision.transforms`` on numpy arrays, with seeded randomness.

Every transform takes and returns one example as a numpy array (images CHW after
:class:`ToTensor`). Deterministic transforms are called ``t(x)``; random ones ``t(x, rng)`` with a
``np.random.Generator``. The :class:`~jaxnn.data.DataLoader` supplies that generator per example,
seeded by ``(seed, epoch, index)``, so augmentation is reproducible and a resumed run continues
it exactly. Called without a generator, a random transform draws fresh OS entropy (an unseeded
draw, like torchvision with an unseeded global RNG).

A user-defined random transform sets the class attribute ``random = True`` and accepts
``(x, rng)``; :class:`Compose` then passes the generator on. Any other callable is called ``t(x)``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "Compose",
    "Normalize",
    "RandomCrop",
    "RandomHorizontalFlip",
    "Resize",
    "ToTensor",
]


def _rng_or_fresh(rng: np.random.Generator | None) -> np.random.Generator:
    return rng if rng is not None else np.random.default_rng()


def _check_chw(name: str, x: np.ndarray) -> None:
    if x.ndim < 3:
        raise ValueError(f"{name}: expected an image of shape (..., C, H, W), got shape {x.shape}")


class Compose:
    """Apply transforms one after another; ``torchvision.transforms.Compose``.

    Args:
        transforms: callables applied in order. Those with ``random = True`` get the generator.

    Example::

        >>> t = Compose([ToTensor(), RandomCrop(28, padding=2), Normalize((0.5,), (0.5,))])
        >>> x = t(np.zeros((28, 28, 1), np.uint8), np.random.default_rng(0))  # an HWC image
        >>> x.shape, x.dtype
        ((1, 28, 28), dtype('float32'))
    """

    random = True

    def __init__(self, transforms: Sequence[Callable[..., Any]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, x: Any, rng: np.random.Generator | None = None) -> Any:
        for t in self.transforms:
            x = t(x, rng) if getattr(t, "random", False) else t(x)
        return x

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"


class ToTensor:
    """HWC image to CHW ``float32``; ``torchvision.transforms.ToTensor``, to numpy.

    ``uint8`` input in [0, 255] is scaled to [0, 1] as ``float32``. Any other dtype is only
    transposed, keeping its dtype and values (as torchvision does for non-byte arrays). A 2-D
    (H, W) image becomes (1, H, W).

    Shape:
        - Input: (H, W, C) or (H, W)
        - Output: (C, H, W) or (1, H, W)
    """

    def __call__(self, pic: np.ndarray) -> np.ndarray:
        pic = np.asarray(pic)
        if pic.ndim == 2:
            pic = pic[:, :, None]
        if pic.ndim != 3:
            raise ValueError(f"ToTensor: expected an (H, W) or (H, W, C) image, got {pic.shape}")
        chw = np.ascontiguousarray(pic.transpose(2, 0, 1))
        if chw.dtype == np.uint8:
            return chw.astype(np.float32) / np.float32(255)
        return chw

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize:
    """``(x - mean[c]) / std[c]`` per channel; ``torchvision.transforms.Normalize``.

    Args:
        mean: one value per channel (or one for all).
        std: one value per channel (or one for all); none may be zero.

    Shape:
        - Input: (..., C, H, W) floating point; output: the same shape and dtype.
    """

    def __init__(self, mean: Sequence[float] | float, std: Sequence[float] | float) -> None:
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float64))
        if np.any(self.std == 0):
            raise ValueError(
                f"Normalize: std evaluated to zero, leading to division by zero: {std}"
            )

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        _check_chw("Normalize", x)
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"Normalize: input must be floating point, got {x.dtype}")
        channels = x.shape[-3]
        for name, value in (("mean", self.mean), ("std", self.std)):
            if len(value) not in (1, channels):
                raise ValueError(
                    f"Normalize: {name} has {len(value)} values, input has {channels} channels "
                    f"(shape {x.shape})"
                )
        mean = self.mean.astype(x.dtype)[:, None, None]  # (C, 1, 1)
        std = self.std.astype(x.dtype)[:, None, None]
        return (x - mean) / std

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


def _linear_weights(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source rows and weights of half-pixel linear interpolation (align_corners=False).

    Output pixel ``i`` samples source coordinate ``(i + 0.5) * in/out - 0.5``, clamped at 0
    as in ``torch.nn.functional.interpolate``; it mixes rows ``lo`` and ``hi = min(lo+1, in-1)``.
    """
    scale = in_size / out_size
    src = np.maximum((np.arange(out_size, dtype=np.float64) + 0.5) * scale - 0.5, 0.0)
    lo = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    hi = np.minimum(lo + 1, in_size - 1)
    frac = src - lo
    return lo, hi, frac


class Resize:
    """Resize an image bilinearly; ``torchvision.transforms.Resize`` for CHW float arrays.

    Interpolation: bilinear with half-pixel centres (``align_corners=False``) and **no
    antialiasing**, i.e. exactly ``torch.nn.functional.interpolate(x, size, mode='bilinear',
    align_corners=False)``. Upsampling matches torchvision; when *downsampling*, torchvision
    >= 0.17 antialiases tensors by default (``antialias=True``) and blurs more than this does.

    Args:
        size: an int resizes the smaller edge to ``size`` and the larger one to
            ``int(size * long / short)``, keeping the aspect ratio (torchvision's rule);
            ``(h, w)`` resizes to exactly that.

    Shape:
        - Input: (..., C, H, W) floating point
        - Output: (..., C, h, w), the same dtype
    """

    def __init__(self, size: int | Sequence[int]) -> None:
        if isinstance(size, numbers.Integral):
            if size < 1:
                raise ValueError(f"Resize: size must be positive, got {size}")
        elif len(size) != 2 or min(size) < 1:
            raise ValueError(f"Resize: size must be an int or (h, w) of positive ints, got {size}")
        self.size = size

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """The (h, w) an image of ``height`` x ``width`` is resized to."""
        if not isinstance(self.size, numbers.Integral):
            return int(self.size[0]), int(self.size[1])
        short, long = min(height, width), max(height, width)
        new_short, new_long = int(self.size), int(int(self.size) * long / short)
        return (new_short, new_long) if height <= width else (new_long, new_short)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        _check_chw("Resize", x)
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(
                f"Resize: input must be floating point (apply ToTensor first), got {x.dtype}"
            )
        in_h, in_w = x.shape[-2:]
        out_h, out_w = self.output_size(in_h, in_w)
        if (out_h, out_w) == (in_h, in_w):
            return x.copy()
        lo, hi, frac = _linear_weights(in_h, out_h)
        frac_h = frac.astype(x.dtype)[:, None]  # (h, 1)
        x = x[..., lo, :] * (1 - frac_h) + x[..., hi, :] * frac_h  # (..., C, h, W)
        lo, hi, frac = _linear_weights(in_w, out_w)
        frac_w = frac.astype(x.dtype)
        return x[..., lo] * (1 - frac_w) + x[..., hi] * frac_w  # (..., C, h, w)

    def __repr__(self) -> str:
        return f"Resize(size={self.size}, interpolation=bilinear, antialias=False)"


def _pair(name: str, size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, numbers.Integral):
        return int(size), int(size)
    if len(size) == 1:
        return int(size[0]), int(size[0])
    if len(size) != 2:
        raise ValueError(f"{name}: size must be an int or (h, w), got {size}")
    return int(size[0]), int(size[1])


# torchvision's padding modes are np.pad's modes of the same names
_PAD_MODES = ("constant", "edge", "reflect", "symmetric")


class RandomCrop:
    """Crop a random ``size`` window; ``torchvision.transforms.RandomCrop`` for CHW arrays.

    Args:
        size: ``(h, w)`` of the crop, or an int for a square crop.
        padding: padding added first: an int for all borders, ``(left/right, top/bottom)`` or
            ``(left, top, right, bottom)``. Default: None.
        pad_if_needed: pad an image smaller than the crop; like torchvision it pads *both*
            sides of a short dimension by the missing amount. Default: False.
        fill: the value of constant padding. Default: 0.
        padding_mode: ``'constant'``, ``'edge'``, ``'reflect'`` or ``'symmetric'``, as in
            torchvision (``np.pad``'s modes of the same names). Default: ``'constant'``.

    The top row is drawn first, ``rng.integers(0, H - h + 1)``, then the left column,
    ``rng.integers(0, W - w + 1)``.

    Shape:
        - Input: (..., C, H, W); output: (..., C, h, w)
    """

    random = True

    def __init__(
        self,
        size: int | Sequence[int],
        padding: int | Sequence[int] | None = None,
        pad_if_needed: bool = False,
        fill: float = 0,
        padding_mode: str = "constant",
    ) -> None:
        if padding_mode not in _PAD_MODES:
            raise ValueError(
                f"RandomCrop: padding_mode must be one of {_PAD_MODES}, got {padding_mode!r}"
            )
        self.size = _pair("RandomCrop", size)
        self.padding = None if padding is None else self._ltrb(padding)
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = padding_mode

    @staticmethod
    def _ltrb(padding: int | Sequence[int]) -> tuple[int, int, int, int]:
        if isinstance(padding, numbers.Integral):
            return (int(padding),) * 4
        padding = [int(p) for p in padding]
        if len(padding) == 2:
            return padding[0], padding[1], padding[0], padding[1]
        if len(padding) == 4:
            return tuple(padding)
        raise ValueError(f"RandomCrop: padding must be an int or have 2 or 4 values, got {padding}")

    def _pad(self, x: np.ndarray, left: int, top: int, right: int, bottom: int) -> np.ndarray:
        widths = [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)]
        if self.padding_mode == "constant":
            return np.pad(x, widths, mode="constant", constant_values=self.fill)
        return np.pad(x, widths, mode=self.padding_mode)

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        x = np.asarray(x)
        _check_chw("RandomCrop", x)
        if self.padding is not None:
            x = self._pad(x, *self.padding)
        th, tw = self.size
        height, width = x.shape[-2:]
        if self.pad_if_needed and height < th:
            x = self._pad(x, 0, th - height, 0, th - height)
        if self.pad_if_needed and width < tw:
            x = self._pad(x, tw - width, 0, tw - width, 0)
        height, width = x.shape[-2:]
        if height < th or width < tw:
            raise ValueError(
                f"RandomCrop: required crop size {(th, tw)} is larger than the (padded) input "
                f"image size {(height, width)}"
            )
        rng = _rng_or_fresh(rng)
        top = int(rng.integers(0, height - th + 1))
        left = int(rng.integers(0, width - tw + 1))
        return x[..., top : top + th, left : left + tw].copy()

    def __repr__(self) -> str:
        return (
            f"RandomCrop(size={self.size}, padding={self.padding}, "
            f"pad_if_needed={self.pad_if_needed}, fill={self.fill}, "
            f"padding_mode={self.padding_mode!r})"
        )


class RandomHorizontalFlip:
    """Mirror the image left-right with probability ``p``; torchvision's ``RandomHorizontalFlip``.

    Flips when ``rng.random() < p``: ``p=0`` never flips, ``p=1`` always does.

    Args:
        p: probability of a flip. Default: 0.5.

    Shape:
        - Input: (..., W); output: the same (the last axis is reversed).
    """

    random = True

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = p

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        x = np.asarray(x)
        if _rng_or_fresh(rng).random() < self.p:
            return x[..., ::-1].copy()
        return x

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"
