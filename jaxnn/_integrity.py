"""Checksums that tell a damaged file from an intact one, shared by ``jaxnn.checkpoint``
and ``jaxnn.compat``.

Everything here is CRC-32 -- zlib's, the one every zip record (so every ``torch.save``
file) carries -- written as 8 hex digits:

* an array's checksum is the CRC-32 of its bytes in C order, computed a
  :data:`CHUNK_BYTES` piece at a time on a thread per core and the pieces combined, so it
  equals ``zlib.crc32(array.tobytes())`` at several times its speed;
* a JSON document seals itself: its ``checksum`` entry is the CRC-32 of the rest of it,
  serialised canonically;
* a directory's inventory records each file's size, and the CRC-32 of each small one
  (metadata and indexes, which a reader takes whole).

numpy only: ``import jaxnn`` and the CLI's file readers use this without jax or torch.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import zlib
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CHUNK_BYTES",
    "SMALL_FILE_BYTES",
    "arrays_crc32",
    "check_inventory",
    "crc32_combine",
    "describe",
    "differences",
    "first_line",
    "hex32",
    "inventory",
    "note_unchecked",
    "opened",
    "seal",
    "unseal",
]

# Bytes of one piece of an array checksummed on its own thread.
CHUNK_BYTES = 16 * 1024 * 1024
# Files up to this size are checksummed whole in an inventory; larger ones by size only.
SMALL_FILE_BYTES = 1024 * 1024

_POLY = 0xEDB88320  # CRC-32's polynomial, bit-reflected as zlib holds it


def hex32(value: int) -> str:
    """A CRC-32 as the 8 hex digits jaxnn records."""
    return f"{value & 0xFFFFFFFF:08x}"


# ----------------------------------------------------------------------------- CRC-32


def _mulmod(a: int, b: int) -> int:
    """``a * b`` modulo CRC-32's polynomial, both bit-reflected (bit 31 holds x^0)."""
    product = 0
    for i in range(32):
        if a >> (31 - i) & 1:
            product ^= b
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1  # b * x
    return product


@functools.lru_cache(maxsize=64)
def _x_to_8n(n: int) -> int:
    """x^(8 n) modulo the polynomial: the factor that moves a CRC past ``n`` zero bytes."""
    result, square, e = 1 << 31, 1 << 30, 8 * n  # x^0, x^1
    while e:
        if e & 1:
            result = _mulmod(result, square)
        square = _mulmod(square, square)
        e >>= 1
    return result


def crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """The CRC-32 of ``A + B`` from ``crc1 = crc32(A)``, ``crc2 = crc32(B)`` and ``len(B)``
    (zlib's conditioning cancels: only crc1 is moved past B's bytes)."""
    return _mulmod(_x_to_8n(length2), crc1) ^ crc2


def _host_bytes(array: Any) -> np.ndarray:
    """The array's bytes in C order as a flat uint8 array (no copy when C-ordered)."""
    a = np.asarray(array)
    if not a.flags.c_contiguous:
        a = np.ascontiguousarray(a)
    return a.reshape(-1).view(np.uint8)


def _crc32_pieces(data: np.ndarray, pool: ThreadPoolExecutor | None) -> int:
    if pool is None or len(data) <= CHUNK_BYTES:
        return zlib.crc32(data)
    starts = range(0, len(data), CHUNK_BYTES)
    crcs = pool.map(lambda s: zlib.crc32(data[s : s + CHUNK_BYTES]), starts)
    total = 0
    for start, crc in zip(starts, crcs):
        total = crc32_combine(total, crc, min(CHUNK_BYTES, len(data) - start))
    return total


def arrays_crc32(arrays: Iterable[Any]) -> list[int]:
    """Each array's CRC-32 (of its bytes in C order), pieces of large arrays in parallel
    (zlib releases the GIL while it runs). One array's host copy is held at a time."""
    arrays = list(arrays)
    if all(getattr(a, "nbytes", 0) <= CHUNK_BYTES for a in arrays):
        return [zlib.crc32(_host_bytes(a)) for a in arrays]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return [_crc32_pieces(_host_bytes(a), pool) for a in arrays]


# ----------------------------------------------------------------------------- array records


def describe(leaves: Iterable[tuple[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{path: {"dtype", "shape", "crc32"}}`` for ``(path, array)`` pairs: what a reader
    checks the arrays it gets back against. An array spread over several processes has
    CRC-32 None: no one process can read all of it."""
    leaves = [(path, a if hasattr(a, "dtype") else np.asarray(a)) for path, a in leaves]
    whole = [a for _, a in leaves if getattr(a, "is_fully_addressable", True)]
    crcs = iter(arrays_crc32(whole))
    return {
        path: {
            "dtype": str(np.dtype(a.dtype)),
            "shape": list(np.shape(a)),
            "crc32": hex32(next(crcs)) if getattr(a, "is_fully_addressable", True) else None,
        }
        for path, a in leaves
    }


def differences(leaves: Iterable[tuple[str, Any]], recorded: Mapping[str, Any]) -> dict[str, str]:
    """``{path: how it differs}`` for each ``(path, array)`` pair that differs from its
    record in ``recorded`` (as :func:`describe` wrote it); leaves without a record are
    skipped."""
    leaves = [(p, a) for p, a in leaves if p in recorded]
    found = describe(leaves)
    bad = {}
    for path, _ in leaves:
        want, got = recorded[path], found[path]
        if [got["dtype"], got["shape"]] != [want.get("dtype"), want.get("shape")]:
            bad[path] = (
                f"read as {got['dtype']}{got['shape']}, "
                f"written as {want.get('dtype')}{want.get('shape')}"
            )
        elif got["crc32"] != want.get("crc32"):
            bad[path] = f"content hash {got['crc32']}, written as {want.get('crc32')}"
    return bad


# ----------------------------------------------------------------------------- documents


def _canonical(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def seal(document: Mapping[str, Any]) -> dict[str, Any]:
    """``document`` with a ``checksum`` entry: the CRC-32 of the rest, canonically
    serialised (so indentation and key order do not matter)."""
    rest = {k: v for k, v in document.items() if k != "checksum"}
    return {**rest, "checksum": hex32(zlib.crc32(_canonical(rest)))}


def unseal(document: Any) -> dict[str, Any]:
    """A document written by :func:`seal`, checked and without its ``checksum``.

    Raises:
        ValueError: it is not a JSON object, has no checksum, or its content differs
            from what was sealed.
    """
    if not isinstance(document, dict):
        raise ValueError(f"not a JSON object but a {type(document).__name__}")
    if "checksum" not in document:
        raise ValueError("it has no checksum entry")
    rest = {k: v for k, v in document.items() if k != "checksum"}
    found = hex32(zlib.crc32(_canonical(rest)))
    if document["checksum"] != found:
        raise ValueError(f"its content hash is {found}, written as {document['checksum']!r}")
    return rest


def opened(document: Any, marker: str) -> tuple[dict[str, Any], bool]:
    """``(document, True)`` for a :func:`seal`ed document, checked and without its seal;
    ``(document, False)`` for one written before seals (a JSON object with neither
    ``checksum`` nor ``marker``, the entry a sealed one always has).

    Raises:
        ValueError: as :func:`unseal`.
    """
    if isinstance(document, dict) and not ({"checksum", marker} & set(document)):
        return document, False
    return unseal(document), True


_noted_unchecked: set[str] = set()


def note_unchecked(logger: logging.Logger, where: str, what: str) -> None:
    """Log once per ``where`` (a checkpoint) that it was written before jaxnn recorded
    hashes: a log record, since under ``-W error`` a warning would stop the load."""
    if where not in _noted_unchecked:
        _noted_unchecked.add(where)
        logger.warning("%s was written before jaxnn recorded content hashes: %s", where, what)


def first_line(e: BaseException) -> str:
    """What a one-line error quotes of the exception ``e``."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


# ----------------------------------------------------------------------------- directories


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file())


def inventory(directory: Path) -> dict[str, list[Any]]:
    """``{relative path: [size, CRC-32 or None]}`` of every file under ``directory``; the
    CRC-32 only of files up to :data:`SMALL_FILE_BYTES`."""
    out: dict[str, list[Any]] = {}
    for path in _files(directory):
        size = path.stat().st_size
        crc = hex32(zlib.crc32(path.read_bytes())) if size <= SMALL_FILE_BYTES else None
        out[path.relative_to(directory).as_posix()] = [size, crc]
    return out


def check_inventory(directory: Path, recorded: Any) -> str | None:
    """The first way ``directory`` differs from its :func:`inventory` ``recorded`` (a
    missing file, another size, another CRC-32), or None; files not recorded are
    ignored."""
    if not isinstance(recorded, Mapping):
        return "its file list is unreadable"
    for name, entry in recorded.items():
        path = directory / name
        if not isinstance(entry, list) or len(entry) != 2:
            return f"the record of {name} is unreadable"
        size, crc = entry
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != size:
            return f"{name} has {path.stat().st_size} bytes, written with {size}"
        if crc is not None and hex32(zlib.crc32(path.read_bytes())) != crc:
            return f"{name} differs from what was written (CRC-32 {crc})"
    return None
