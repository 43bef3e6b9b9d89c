"""Reading ``torch.save`` files (``.pth`` / ``.pt``) without running them.

A file is read only with ``torch.load(..., weights_only=True)``: a pickle that would
build arbitrary objects or run code is refused, never executed. A zip archive (torch's
format since 1.6) is parsed with meta tensors, which hold no data, and its tensors are
then read from the file a block of rows at a time (:class:`PthFileTensors`); every record
is checked against the CRC-32 the zip format stores for it, which torch.load never does
(:mod:`~jaxnn.compat.archive`). The legacy format and archives torch cannot locate
storages in are loaded by torch (:class:`~jaxnn.compat.sources.MemoryTensors`).
"""

from __future__ import annotations

import pickle
import sys
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from jaxnn.compat import archive
from jaxnn.compat.sources import (
    ConversionError,
    MemoryTensors,
    TensorSource,
    numpy_dtype,
    torch_dtype_name,
)
from jaxnn.state_dict import c_order

__all__ = ["BLOCK_BYTES", "PthFileTensors", "load_pth", "open_pth", "state_dict_of"]

BLOCK_BYTES = 16 * 1024 * 1024
"""Bytes of one block when a tensor is read from its file by blocks of leading-axis rows."""


class PthFileTensors(TensorSource):
    """The tensors of a torch.save zip archive, read straight from the file; build one
    with :meth:`locate`.

    torch.load(map_location="meta", weights_only=True) parses the pickle -- the same
    vetted unpickler as a real load -- and tells where each storage lies in the archive;
    the values are then read a block of rows at a time, so no full copy of the file is
    ever resident (a memory-mapped load keeps every page it touched). Each read of a
    tensor folds its record's CRC-32 in as it goes and checks it after the last block.

    Args:
        path: the .pth file.
        meta: the state_dict of meta tensors that ``load_pth(path, meta=True)`` gave.
        located: key -> (first byte, byte span, shape, byte strides, numpy dtype,
            contiguous, :class:`~jaxnn.compat.archive.Record`), as :meth:`locate` finds
            them.
    """

    checked = True

    def __init__(self, path: Path, meta: Mapping[str, Any], located: dict[str, tuple]):
        self._path, self._meta, self._located = path, meta, located

    @classmethod
    def locate(
        cls, path: Path, meta: Mapping[str, Any], records: archive.ArchiveIndex
    ) -> PthFileTensors | None:
        """None where torch does not say where a storage lies (older torch) or says what
        the archive's directory (``records``) does not, the archive is not in this
        machine's byte order, or a dtype has no numpy equivalent: the caller then loads
        the file with torch."""
        if (records.byteorder or "little") != sys.byteorder:
            return None
        located = {}
        for key, t in meta.items():
            dtype = numpy_dtype(torch_dtype_name(t))
            storage = t.untyped_storage()
            base = getattr(storage, "_checkpoint_offset", None)
            if dtype is None or t.device.type != "meta" or not isinstance(base, int):
                return None
            item = t.element_size()
            start = base + t.storage_offset() * item
            span = (sum((n - 1) * st for n, st in zip(t.shape, t.stride())) + 1) * item
            record = records.storages.get(base)
            if t.numel() and (
                record is None
                or record.size != storage.nbytes()
                or start + span > base + record.size
            ):
                return None
            strides = tuple(st * item for st in t.stride())
            located[key] = (start, span, tuple(t.shape), strides, dtype, t.is_contiguous(), record)
        return cls(path, meta, located)

    def keys(self) -> list[str]:
        return list(self._meta)

    def shape(self, key: str) -> tuple[int, ...]:
        return self._located[key][2]

    def dtype_name(self, key: str) -> str:
        return torch_dtype_name(self._meta[key])

    def blocks(self, key: str) -> Iterator[tuple[int, np.ndarray]]:
        start, span, shape, strides, dtype, contiguous, record = self._located[key]
        if 0 in shape:
            yield 0, np.empty(shape, dtype)
            return
        with open(self._path, "rb", buffering=0) as f:
            what = f"tensor {key!r}: "
            crc = _damage_checked(self._path, lambda: archive.RecordCRC(f, record, start), what)
            if not contiguous or not shape:
                raw = np.empty(span, np.uint8)
                self._read(f, start, raw, crc)
                _damage_checked(self._path, lambda: crc.finish(start + span), what)
                yield 0, c_order(np.ndarray(shape, dtype, buffer=raw, strides=strides))
                return
            row = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
            step = max(1, BLOCK_BYTES // max(row, 1))
            for r0 in range(0, shape[0], step):
                block = np.empty((min(step, shape[0] - r0), *shape[1:]), dtype)
                self._read(f, start + r0 * row, block, crc)
                if r0 + step >= shape[0]:  # the record is checked before its last block is out
                    _damage_checked(self._path, lambda: crc.finish(start + span), what)
                yield r0, block

    def _read(self, f: Any, offset: int, out: np.ndarray, crc: archive.RecordCRC) -> None:
        view = memoryview(out.reshape(-1).view(np.uint8))
        f.seek(offset)
        done = 0
        while done < len(view):
            n = f.readinto(view[done:])
            if not n:
                raise ConversionError(f"{self._path}: not a readable PyTorch file (truncated data)")
            done += n
        crc.update(view)


def _refusal_reason(message: str) -> str:
    """The specific line of torch's weights_only refusal (not its boilerplate)."""
    for line in message.splitlines():
        if "GLOBAL" in line or "Unsupported" in line or "unsupported" in line:
            return line.strip()
    return message.strip().splitlines()[-1] if message.strip() else "not plain weights"


def load_pth(path: Path, *, meta: bool = False, mmap: bool = True) -> Any:
    """``torch.load(path, weights_only=True)``: tensors memory-mapped from the file, or
    meta tensors that hold no data at all.

    Args:
        path: a ``.pth`` / ``.pt`` file.
        meta: load meta tensors: shapes, dtypes and, for a zip archive, where each
            storage lies in the file; nothing is read. Default: False.
        mmap: memory-map a zip archive's storages rather than read them into memory
            (the legacy format is always read). Default: True.

    Raises:
        ConversionError: the pickle holds more than plain weights (it is not run), or the
            file is not a readable PyTorch file.
    """
    import torch

    try:
        with warnings.catch_warnings():
            # a note that the pickle protocol is newer than torch's default; the
            # weights-only unpickler still vets every instruction
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            if meta:
                return torch.load(path, map_location="meta", weights_only=True)
            mmap = mmap and zipfile.is_zipfile(path)
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        raise ConversionError(
            f"{path}: refused to load: the pickle holds more than plain weights "
            f"({_refusal_reason(str(e))}); it was not executed. Re-save it as safetensors "
            f"in a trusted environment."
        ) from e
    except Exception as e:  # truncated or corrupt archives raise RuntimeError, KeyError, ...
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConversionError(f"{path}: not a readable PyTorch file ({first})") from e


def state_dict_of(obj: Any, path: Path) -> tuple[dict[str, Any], str | None]:
    """The state_dict in a loaded .pth: the object itself, or its 'state_dict' / 'model'
    entry (a training checkpoint). Returns the dict and the entry used (None for the
    object itself).

    Args:
        obj: what :func:`load_pth` returned.
        path: the file, named in errors.

    Raises:
        ConversionError: neither is a non-empty mapping of names to tensors.
    """
    import torch

    def is_state_dict(value: Any) -> bool:
        return (
            isinstance(value, Mapping)
            and len(value) > 0
            and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())
        )

    if is_state_dict(obj):
        return dict(obj), None
    if isinstance(obj, Mapping):
        for entry in ("state_dict", "model"):
            if is_state_dict(obj.get(entry)):
                return dict(obj[entry]), entry
        bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)][:5]
        raise ConversionError(
            f"{path}: not a state_dict: entries {bad} are not tensors, and there is no "
            f"'state_dict' or 'model' entry holding one"
        )
    raise ConversionError(f"{path}: not a state_dict: it holds a {type(obj).__name__}")


def open_pth(path: Path) -> tuple[TensorSource, str | None]:
    """A .pth file's state_dict, read from the file tensor by tensor where possible, and
    the training-checkpoint entry that held it (or None).

    A zip archive's records are checked against their CRC-32s: the pickle and the other
    small records before torch parses them, each tensor record as it is read (or, where
    torch must read the file itself, all of them in one streamed pass first).

    Args:
        path: a ``.pth`` / ``.pt`` file.

    Raises:
        ConversionError: an unreadable or damaged file, a pickle that is not plain
            weights, or no state_dict in it.
    """
    zipped, compressed = zipfile.is_zipfile(path), False
    if zipped:
        records = _damage_checked(path, lambda: archive.index(path))
        compressed = records.compressed
        meta, entry = state_dict_of(load_pth(path, meta=True), path)
        located = PthFileTensors.locate(path, meta, records)
        if located is not None:
            return located, entry
        _damage_checked(
            path, lambda: archive.check_records(path, archive.record_keys(meta, records))
        )
    state_dict, entry = state_dict_of(load_pth(path, mmap=not compressed), path)
    return MemoryTensors(state_dict, checked=zipped), entry


def _damage_checked(path: Path, check: Any, what: str = "") -> Any:
    """``check()``, its ValueError (damage) a ConversionError naming ``path``."""
    try:
        return check()
    except ValueError as e:
        raise ConversionError(f"{path}: damaged: {what}{e}") from e
