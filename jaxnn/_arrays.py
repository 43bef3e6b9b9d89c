"""Copying and comparing numpy arrays the way state_dict conversion needs: transposed
views copied in cache-friendly tiles, and equality that means the same bits.
:mod:`jaxnn.state_dict` exports these names."""

from __future__ import annotations

import numpy as np

# Tiles of (rows x columns) of the two leading axes in which a transposed array is copied:
# 256 float32 entries of a row are 1 KB, so each tile is whole cache lines on both sides.
_TILE = 256


def copy_tiled(dst: np.ndarray, src: np.ndarray) -> None:
    """``dst[...] = src`` for same-shaped arrays, tile by tile when one of them is a
    transposed view: numpy copies a transposed matrix one element per cache line on one
    side, several times slower than in tiles.

    Args:
        dst: the array written.
        src: the array read, of ``dst``'s shape.
    """
    if dst.ndim < 2 or (dst.flags.c_contiguous and src.flags.c_contiguous):
        dst[...] = src
        return
    for i in range(0, dst.shape[0], _TILE):
        for j in range(0, dst.shape[1], _TILE):
            dst[i : i + _TILE, j : j + _TILE] = src[i : i + _TILE, j : j + _TILE]


def c_order(a: np.ndarray) -> np.ndarray:
    """``a`` if it is C-ordered, else a C-ordered copy made in tiles (0-d stays 0-d,
    unlike ``np.ascontiguousarray``).

    Args:
        a: any numpy array.
    """
    if a.flags.c_contiguous:
        return a
    out = np.empty(a.shape, a.dtype)
    copy_tiled(out, a)
    return out


def bits_equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Same dtype, shape and bytes (NaN payloads and -0.0 included).

    Args:
        a: a numpy array.
        b: another.
    """
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.itemsize in (1, 2, 4, 8):
        unsigned = np.dtype(f"u{a.dtype.itemsize}")
        return bool(np.array_equal(a.view(unsigned), b.view(unsigned)))
    return bool(np.array_equal(a, b, equal_nan=True))
