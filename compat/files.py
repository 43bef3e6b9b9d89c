"""Reading and writing PyTorch weight files: ``.pth``/``.pt`` (``torch.save``) and
``.safetensors``, either kind by its suffix.

A file's tensors are opened as a :class:`~jaxnn.compat.sources.TensorSource`: keys,
shapes and dtypes up front, each tensor's values on demand a block of leading-axis rows at
a time, so a conversion holds one tensor -- or one block of one -- of its source at a
time. ``.pth`` files are read by :mod:`~jaxnn.compat.pth`, only with
``torch.load(..., weights_only=True)``: a pickle that would build arbitrary objects or run
code is refused, never executed.

Damage is detected, never converted: every record of a ``.pth`` archive is checked
against the CRC-32 the zip format stores for it (a tensor record as it streams), and a
``.safetensors`` file written by jaxnn carries each tensor's dtype, shape and CRC-32 in
its metadata (:data:`CRC_METADATA`), checked as the tensor is read. A source that carries
no checksums (the legacy ``.pth`` format, a ``.safetensors`` file from elsewhere) says so
in ``TensorSource.checked``. Whatever is written is read back and compared before it is
reported written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from jaxnn._integrity import describe, differences
from jaxnn.compat.convert import to_numpy
from jaxnn.compat.pth import open_pth
from jaxnn.compat.sources import ConversionError, TensorSource
from jaxnn.state_dict import bits_equal, c_order

__all__ = [
    "CRC_METADATA",
    "SAFETENSORS_DTYPES",
    "SAFETENSORS_SUFFIX",
    "TORCH_SUFFIXES",
    "SafetensorsTensors",
    "compare_written",
    "open_tensors",
    "read_state_dict",
    "tensors_equal",
    "write_state_dict",
]

TORCH_SUFFIXES = (".pth", ".pt")
"""The suffixes of ``torch.save`` files."""
SAFETENSORS_SUFFIX = ".safetensors"
"""The suffix of safetensors files."""
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


# ----------------------------------------------------------------------------- safetensors


class SafetensorsTensors(TensorSource):
    """A safetensors file's tensors, each read from the file when it is asked for (and
    checked against its recorded CRC-32 where jaxnn wrote the file).

    Args:
        path: the ``.safetensors`` file. Its metadata, without jaxnn's CRC record, is
            kept as the ``metadata`` attribute.

    Raises:
        ConversionError: jaxnn's CRC record is unreadable or lists other keys.
    """

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
    transposed view and ``b`` C-ordered (a third of numpy's time).

    Args:
        a: a numpy array (a block read back, or a view of one).
        b: the array it should equal.
    """
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

    Args:
        written: the written file, opened.
        expected: key -> the tensor (or array) that was written.

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
