"""torch's F.pad for every mode, negative pads included, shared by jaxnn.functional and
the padding layers."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = ["PAD_MODES", "pad"]

Array = jax.Array

PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}
"""F.pad's modes other than 'constant' (which is ``lax.pad``) -> ``jnp.pad``'s mode."""


def _crop(x: Array, pairs: list[tuple[int, int]]) -> Array:
    """Remove the negative parts of ``pairs`` (one (lo, hi) per dim) from ``x``."""
    if all(lo >= 0 and hi >= 0 for lo, hi in pairs):
        return x
    starts = [max(-lo, 0) for lo, _ in pairs]
    stops = [size - max(-hi, 0) for size, (_, hi) in zip(x.shape, pairs)]
    return lax.slice(x, starts, stops)


def pad(x: Array, pad: Sequence[int], mode: str, value: float | None, who: str) -> Array:
    """``pad`` lists (low, high) pairs starting from the last dim, as torch's F.pad.

    A negative pad removes elements. As in torch, 'reflect' and 'replicate' pad the whole
    input and then remove (a reflection may read elements that are removed), while
    'circular' removes first and wraps what remains.

    Args:
        x: the input.
        pad: (low, high) pairs, the last dim's first, as torch's ``pad``.
        mode: 'constant', 'reflect', 'replicate' or 'circular'. The last three pad at
            most 3 dims of a (dims + 1)- or (dims + 2)-D input, as torch.
        value: the fill of 'constant' (None: 0); other modes take only None or 0.
        who: the caller, named in errors.
    """
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(
            f"{who}: padding {pad} must have an even length of at most "
            f"2 * {x.ndim} (the input's rank)"
        )
    pairs = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        pairs[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    for size, (lo, hi) in zip(x.shape, pairs):
        if size + lo + hi < 0:
            raise ValueError(
                f"{who}: negative padding {pad} removes more than the input's "
                f"{size} elements (input shape {tuple(x.shape)})"
            )
    if mode == "constant":
        fill = np.array(0 if value is None else value, x.dtype)
        return lax.pad(x, fill, [(lo, hi, 0) for lo, hi in pairs])
    if mode not in PAD_MODES:
        raise ValueError(
            f"{who}: mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}"
        )
    if value not in (None, 0):
        raise ValueError(f"{who}: value is only used with mode='constant', got mode={mode!r}")
    dims = len(pad) // 2
    if dims > 3 or x.ndim not in (dims + 1, dims + 2):
        raise ValueError(
            f"{who}: {mode} padding of length {len(pad)} pads the last {dims} dims of a "
            f"{dims + 1}-D or {dims + 2}-D input, got shape {tuple(x.shape)}"
        )
    positive = [(max(lo, 0), max(hi, 0)) for lo, hi in pairs]
    if mode == "circular":
        x = _crop(x, pairs)
        for size, (lo, hi) in zip(x.shape, positive):
            if max(lo, hi) > size:
                raise ValueError(
                    f"{who}: circular padding {max(lo, hi)} wraps around more than once: at "
                    f"most the padded dimension ({size}) of input {tuple(x.shape)}"
                )
        return jnp.pad(x, positive, mode="wrap")
    for size, (lo, hi) in zip(x.shape, positive):
        if mode == "reflect" and max(lo, hi) >= max(size, 1):
            raise ValueError(
                f"{who}: reflect padding {max(lo, hi)} must be smaller than the "
                f"padded dimension ({size}) of input {tuple(x.shape)}"
            )
        if mode == "replicate" and size == 0 and max(lo, hi) > 0:
            raise ValueError(f"{who}: replicate padding of an empty dimension ({tuple(x.shape)})")
    return _crop(jnp.pad(x, positive, mode=PAD_MODES[mode]), pairs)
