"""Argument rules shared by jaxnn.functional and the layers: torch's ``_pair`` and the
optional batch dimension of an image."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np

__all__ = ["IntOr2", "as_batched_image", "pair"]

Array = jax.Array
IntOr2 = int | tuple[int, int]


def pair(value: IntOr2 | Sequence[int], name: str) -> tuple[int, int]:
    """Torch's `pair`: an int or a 2-sequence of ints -> (h, w)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value), int(value))
    if (
        isinstance(value, Sequence)
        and len(value) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
    ):
        return (int(value[0]), int(value[1]))
    raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")


def as_batched_image(x: Array, who: str, channels: int | None = None) -> tuple[Array, bool]:
    """Accept (N, C, H, W) or unbatched (C, H, W); return the 4-D array and whether
    a batch dimension was added."""
    if x.ndim not in (3, 4):
        expect = (
            "(N, C, H, W) or (C, H, W)"
            if channels is None
            else (f"(N, {channels}, H, W) or ({channels}, H, W)")
        )
        raise ValueError(f"{who}: expected input of shape {expect}, got {tuple(x.shape)}")
    if channels is not None and x.shape[-3] != channels:
        raise ValueError(
            f"{who}: expected input of shape (N, {channels}, H, W) or ({channels}, H, W), "
            f"got {tuple(x.shape)} ({x.shape[-3]} channels)"
        )
    if x.ndim == 3:
        return x[None], True
    return x, False
