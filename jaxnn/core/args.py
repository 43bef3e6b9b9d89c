"""Argument rules shared by jaxnn.functional and the layers: torch's ``_single`` /
``_pair`` / ``_triple`` and the optional batch dimension of an N-d input."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np

__all__ = ["IntOr2", "as_batched", "ntuple", "pair"]

Array = jax.Array
IntOr2 = int | tuple[int, int]
"""An argument torch takes as an int or an (h, w) pair (``kernel_size``, ``stride``)."""


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def ntuple(value: int | Sequence[int], n: int, name: str) -> tuple[int, ...]:
    """Torch's ``_ntuple``: an int or an n-sequence of ints -> an n-tuple of ints.

    Args:
        value: an int (repeated n times) or a sequence of n ints; bools are refused.
        n: the length of the result.
        name: how errors name the argument (``"conv2d: stride"``).

    Raises:
        TypeError: ``value`` is neither.
    """
    if _is_int(value):
        return (int(value),) * n
    if isinstance(value, Sequence) and len(value) == n and all(_is_int(v) for v in value):
        return tuple(int(v) for v in value)
    what = {1: "an int or a 1-tuple", 2: "an int or a pair", 3: "an int or a triple"}
    raise TypeError(f"{name} must be {what.get(n, f'an int or {n} ints')} of ints, got {value!r}")


def pair(value: IntOr2 | Sequence[int], name: str) -> tuple[int, int]:
    """Torch's ``_pair``: an int or a 2-sequence of ints -> (h, w).

    Args:
        value: an int (used for both) or two ints.
        name: how errors name the argument.
    """
    return ntuple(value, 2, name)  # type: ignore[return-value]


_SPATIAL = {1: "L", 2: "H, W", 3: "D, H, W"}


def as_batched(x: Array, spatial: int, who: str, channels: int | None = None) -> tuple[Array, bool]:
    """Accept (N, C, *S) or unbatched (C, *S) with ``spatial`` dims in S; return the
    batched array and whether a batch dimension was added.

    Args:
        x: the input.
        spatial: how many spatial dims S has.
        who: the caller, named in errors.
        channels: the channel count C the input must have. Default: None (any).

    Raises:
        ValueError: another rank, or another channel count.
    """
    c = "C" if channels is None else str(channels)
    dims = _SPATIAL.get(spatial, f"{spatial} spatial dims")
    expect = f"(N, {c}, {dims}) or ({c}, {dims})"
    if x.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(f"{who}: expected input of shape {expect}, got {tuple(x.shape)}")
    if channels is not None and x.shape[-spatial - 1] != channels:
        raise ValueError(
            f"{who}: expected input of shape {expect}, got {tuple(x.shape)} "
            f"({x.shape[-spatial - 1]} channels)"
        )
    if x.ndim == spatial + 1:
        return x[None], True
    return x, False
