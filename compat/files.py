"""Reading and writing PyTorch weight files: ``.pth``/``.pt`` (``torch.save``) and
``.safetensors``.

A file's tensors are opened as a :class:`TensorSource`: keys, shapes and dtypes up front,
each tensor's values on demand a block of leading-axis rows at a time, so a conversion
holds one tensor -- or one block of one -- of its source at a time.

``.pth`` files are read only with ``torch.load(..., weights_only=True)``: a pickle that
would build arbitrary objects or run code is refused, never executed.

Damage is detected, never converted: every record of a ``.pth`` archive is checked
against the CRC-32 the zip format stores for it (a tensor record as it streams), and a
``.safetensors`` file written by jaxnn carries each tensor's dtype, shape and CRC-32 in
its metadata (:data:`CRC_METADATA`), checked as the tensor is read. A source that carries
no checksums (the legacy ``.pth`` format, a ``.safetensors`` file from elsewhere) says so
in :attr:`TensorSource.checked`.
"""

from __future__ import annotations

import json
import pickle
import sys
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from jaxnn._integrity import describe, differences
from jaxnn.compat import archive
from jaxnn.compat.convert import BFLOAT16, to_numpy
from jaxnn.state_dict import bits_equal, c_order

__all__ = [
    "BLOCK_BYTES",
    "CRC_METADATA",
    "SAFETENSORS_DTYPES",
    "SAFETENSORS_SUFFIX",
    "TORCH_SUFFIXES",
    "ConversionError",
    "MemoryTensors",
    "PthFileTensors",
    "SafetensorsTensors",
    "TensorSource",
    "compare_written",
    "load_pth",
    "numpy_dtype",
    "open_pth",
    "open_tensors",
    "read_state_dict",
    "state_dict_of",
    "tensors_equal",
    "write_state_dict",
]

TORCH_SUFFIXES = (".pth", ".pt")
"""The suffixes of ``torch.save`` files."""
SAFETENSORS_SUFFIX = ".safetensors"
"""The suffix of safetensors files."""
BLOCK_BYTES = 16 * 1024 * 1024
"""Bytes of one block when a tensor is read from its file by blocks of leading-axis rows."""
CRC_METADATA = "jaxnn_crc32"
"""The .safetensors metadata entry where jaxnn records each tensor's dtype, shape and CRC-32."""

SAFETENSORS_DTYPES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U8": "uint8",
    "BOOL": "bool",
}
"""safetensors' dtype names -> torch's."""


class ConversionError(ValueError):
    """Bad input to a conversion (a file, a model, an argument): the message is one line
    that says what and where, possibly followed by a listing (the keys that do not fit)."""


def numpy_dtype(name: str) -> np.dtype | None:
    """The numpy dtype of a torch dtype name ("float32", "bfloat16", ...); None for one
    numpy cannot hold."""
    if name == "bfloat16":
        return BFLOAT16
    if name in ("float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8"):
        return np.dtype(name)
    if name in ("bool", "complex64", "complex128"):
        return np.dtype(name)
    return None


def _torch_dtype_name(tensor: Any) -> str:
    return str(tensor.dtype).removeprefix("torch.")


# ----------------------------------------------------------------------------- sources


class TensorSource:
    """A state_dict's keys, shapes and dtypes, with each tensor's values produced on
    demand (:meth:`blocks`).

    Attributes:
        checked: whether the values are checked against checksums the file carries (a
            mismatch raises :class:`ConversionError` once a tensor's last block is read).
    """

    checked = False

    def keys(self) -> list[str]:
        raise NotImplementedError

    def shape(self, key: str) -> tuple[int, ...]:
        raise NotImplementedError

    def dtype_name(self, key: str) -> str:
        """torch's name for the dtype: "float32", "bfloat16", "int64", ..."""
        raise NotImplementedError

    def blocks(self, key: str) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, C-ordered numpy array) pairs covering the tensor in torch's layout,
        by rows of its leading axis (one pair for a 0-d tensor)."""
        raise NotImplementedError

    def read(self, key: str) -> np.ndarray:
        """The whole tensor, C-ordered."""
        blocks = [block for _, block in self.blocks(key)]
        return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)

    def __contains__(self, key: object) -> bool:
        return key in self.keys()

    def __len__(self) -> int:
        return len(self.keys())

    def nbytes(self, key: str) -> int:
        dtype = numpy_dtype(self.dtype_name(key))
        return int(np.prod(self.shape(key), dtype=np.int64)) * (dtype.itemsize if dtype else 1)


class MemoryTensors(TensorSource):
    """Tensors already loaded (or memory-mapped) by torch or safetensors."""

    def __init__(self, state_dict: Mapping[str, Any], checked: bool = False):
        self._sd, self.checked = state_dict, checked

    def keys(self) -> list[str]:
        return list(self._sd)

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(self._sd[key].shape)

    def dtype_name(self, key: str) -> str:
        return _torch_dtype_name(self._sd[key])

    def blocks(self, key: str) -> Iterator[tuple[int, np.ndarray]]:
        yield 0, c_order(to_numpy(self._sd[key]))


class PthFileTensors(TensorSource):
    """The tensors of a torch.save zip archive, read straight from the file.

    torch.load(map_location="meta", weights_only=True) parses the pickle -- the same
    vetted unpickler as a real load -- and tells where each storage lies in the archive;
    the values are then read a block of rows at a time, so no full copy of the file is
    ever resident (a memory-mapped load keeps every page it touched). Each read of a
    tensor folds its record's CRC-32 in as it goes and checks it after the last block."""

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
            dtype = numpy_dtype(_torch_dtype_name(t))
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
        return _torch_dtype_name(self._meta[key])

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


class SafetensorsTensors(TensorSource):
    """A safetensors file's tensors, each read from the file when it is asked for (and
    checked against its recorded CRC-32 where jaxnn wrote the file)."""

    def __init__(self, path: Path):
        from safetensors import safe_open

        self._path, self._info = path, {}
        with safe_open(path, framework="pt") as f:
            self.metadata = dict(f.metadata() or {})
            for key in f.keys():
                piece = f.get_slice(key)
                dtype = SAFETENSORS_DTYPES.get(piece.get_dtype(), piece.get_dtype())
                self._info[key] = (tuple(piece.get_shape()), dtype)
        self._crcs = None
        if CRC_METADATA in self.metadata:
            try:
                self._crcs = json.loads(self.metadata.pop(CRC_METADATA))
                unrecorded = sorted(set(self._crcs) ^ set(self._info))
            except (ValueError, TypeError) as e:
                raise ConversionError(f"{path}: damaged: unreadable {CRC_METADATA} ({e})") from e
            if unrecorded:
                raise ConversionError(f"{path}: damaged: keys {unrecorded} differ from the record")
        self.checked = self._crcs is not None

    def keys(self) -> list[str]:
        return list(self._info)

    def shape(self, key: str) -> tuple[int, ...]:
        return self._info[key][0]

    def dtype_name(self, key: str) -> str:
        return self._info[key][1]

    def blocks(self, key: str) -> Iterator[tuple[int, np.ndarray]]:
        from safetensors import safe_open

        with safe_open(self._path, framework="pt") as f:
            tensor = f.get_tensor(key)
        array = c_order(to_numpy(tensor))
        bad = differences([(key, array)], self._crcs) if self._crcs is not None else None
        if bad:
            raise ConversionError(f"{self._path}: damaged: tensor {key!r}: {bad[key]}")
        yield 0, array


# ----------------------------------------------------------------------------- .pth


def _refusal_reason(message: str) -> str:
    """The specific line of torch's weights_only refusal (not its boilerplate)."""
    for line in message.splitlines():
        if "GLOBAL" in line or "Unsupported" in line or "unsupported" in line:
            return line.strip()
    return message.strip().splitlines()[-1] if message.strip() else "not plain weights"


def load_pth(path: Path, *, meta: bool = False, mmap: bool = True) -> Any:
    """``torch.load(path, weights_only=True)``: tensors memory-mapped from the file (read
    into memory without ``mmap``), or with ``meta`` tensors that hold no data at all
    (shapes, dtypes and, for a zip archive, where each storage lies in the file).

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
    entry (a training checkpoint). Returns the dict and the entry used."""
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
    torch must read the file itself, all of them in one streamed pass first)."""
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


# ----------------------------------------------------------------------------- either kind


def _check_source(path: Path) -> None:
    if not path.exists():
        raise ConversionError(f"{path}: no such file")
    if path.is_dir():
        raise ConversionError(f"{path}: is a directory but not a jaxnn checkpoint")
    if path.suffix not in (*TORCH_SUFFIXES, SAFETENSORS_SUFFIX):
        raise ConversionError(
            f"{path}: unknown file type {path.suffix!r}; expected .pth, .pt, .safetensors "
            f"or a jaxnn checkpoint directory"
        )


def open_tensors(path: Path) -> tuple[TensorSource, str, str | None]:
    """A .pth/.pt/.safetensors file's tensors, none read yet: ``(source, format name,
    training-checkpoint entry or None)``.

    Args:
        path: a ``.pth``, ``.pt`` or ``.safetensors`` file.

    Raises:
        ConversionError: no such file, an unknown suffix, or an unreadable file.
    """
    _check_source(path)
    if path.suffix == SAFETENSORS_SUFFIX:
        try:
            tensors = SafetensorsTensors(path)
        except Exception as e:  # SafetensorError, OSError, ...
            raise ConversionError(f"{path}: not a valid safetensors file ({e})") from e
        if not len(tensors):
            raise ConversionError(f"{path}: holds no tensors")
        return tensors, "safetensors", None
    tensors, entry = open_pth(path)
    return tensors, "pytorch (torch.save)", entry


def read_state_dict(path: Path) -> tuple[dict[str, np.ndarray], str, str | None]:
    """A whole state_dict from .pth/.pt/.safetensors as numpy arrays in torch's layout:
    ``(state_dict, format name, training-checkpoint entry or None)``. Args: as
    :func:`open_tensors`."""
    tensors, fmt, entry = open_tensors(path)
    return {key: tensors.read(key) for key in tensors.keys()}, fmt, entry


# ----------------------------------------------------------------------------- writing


def tensors_equal(a: np.ndarray, b: np.ndarray) -> bool:
    """:func:`jaxnn.state_dict.bits_equal`, by torch's strided compare where ``a`` is a
    transposed view and ``b`` C-ordered (a third of numpy's time)."""
    if a.ndim >= 2 and not a.flags.c_contiguous and a.flags.writeable and b.flags.writeable:
        if a.dtype == b.dtype and a.shape == b.shape and a.dtype.itemsize in (1, 2, 4, 8):
            import torch

            signed = np.dtype(f"i{a.dtype.itemsize}")
            return bool(
                torch.equal(torch.from_numpy(a.view(signed)), torch.from_numpy(b.view(signed)))
            )
    return bits_equal(a, b)


def compare_written(written: TensorSource, expected: Mapping[str, Any]) -> None:
    """The file read back (``written``) holds exactly ``expected``, bit for bit.

    Raises:
        ConversionError: naming every key that differs.
    """
    bad = sorted(set(written.keys()) ^ set(expected))
    for key, tensor in expected.items():
        if key not in written:
            continue
        want = to_numpy(tensor)
        same = written.shape(key) == tuple(want.shape)
        for r0, block in written.blocks(key) if same else ():
            part = want[r0 : r0 + block.shape[0]] if want.ndim else want
            same = same and tensors_equal(block, part)
            if not same:
                break
        if not same:
            bad.append(key)
    if bad:
        raise ConversionError(f"read-back check failed, the written file differs: {', '.join(bad)}")


def write_state_dict(state_dict: dict[str, Any], path: Path, suffix: str | None = None) -> None:
    """Write ``state_dict`` (str -> torch.Tensor) to ``path`` as .pth or .safetensors (by
    ``suffix``, default ``path``'s), then read it back and compare every tensor.

    Keys sharing one tensor (tied weights) are stored once by torch.save, as torch does;
    safetensors refuses shared tensors, so there each key gets its own copy.

    Args:
        state_dict: key -> ``torch.Tensor``.
        path: the file to write.
        suffix: ``'.pth'``, ``'.pt'`` or ``'.safetensors'``. Default: None (``path``'s).

    Raises:
        ConversionError: the read-back differs from ``state_dict``.
    """
    suffix = suffix or path.suffix
    if suffix == SAFETENSORS_SUFFIX:
        from safetensors.torch import save_file

        seen: set[int] = set()
        unshared = {}
        for key, tensor in state_dict.items():
            ptr = tensor.untyped_storage().data_ptr() if tensor.numel() else None
            unshared[key] = tensor.clone() if ptr is not None and ptr in seen else tensor
            seen.add(ptr)
        crcs = json.dumps(describe((k, to_numpy(t)) for k, t in unshared.items()))
        save_file(unshared, path, metadata={"format": "pt", CRC_METADATA: crcs})
        compare_written(SafetensorsTensors(path), state_dict)
    else:
        import torch

        torch.save(state_dict, path)
        compare_written(open_pth(path)[0], state_dict)
