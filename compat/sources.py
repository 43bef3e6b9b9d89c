"""What every reader of weights shares: :class:`TensorSource`, a state_dict's keys,
shapes and dtypes up front with each tensor's values produced on demand, a block of
leading-axis rows at a time; :class:`MemoryTensors` for tensors already in memory; torch's
dtype names in numpy; and :class:`ConversionError`, what every bad input raises.

The readers of files are :class:`~jaxnn.compat.pth.PthFileTensors` (``torch.save``
archives) and :class:`~jaxnn.compat.files.SafetensorsTensors`;
:func:`~jaxnn.compat.files.open_tensors` picks one by the file's suffix.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from jaxnn.compat.convert import BFLOAT16, to_numpy
from jaxnn.state_dict import c_order

__all__ = ["ConversionError", "MemoryTensors", "TensorSource", "numpy_dtype", "torch_dtype_name"]


class ConversionError(ValueError):
    """Bad input to a conversion (a file, a model, an argument): the message is one line
    that says what and where, possibly followed by a listing (the keys that do not fit)."""


def numpy_dtype(name: str) -> np.dtype | None:
    """The numpy dtype of a torch dtype name; None for one numpy cannot hold.

    Args:
        name: torch's name without ``torch.``: "float32", "bfloat16" (ml_dtypes'
            bfloat16), "int64", "bool", "complex64", ...
    """
    if name == "bfloat16":
        return BFLOAT16
    if name in ("float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8"):
        return np.dtype(name)
    if name in ("bool", "complex64", "complex128"):
        return np.dtype(name)
    return None


def torch_dtype_name(tensor: Any) -> str:
    """torch's name of a tensor's dtype, without ``torch.`` ("float32").

    Args:
        tensor: a ``torch.Tensor`` (a meta tensor too).
    """
    return str(tensor.dtype).removeprefix("torch.")


class TensorSource:
    """A state_dict's keys, shapes and dtypes, with each tensor's values produced on
    demand (:meth:`blocks`). Subclasses implement ``keys``, ``shape``, ``dtype_name``
    and ``blocks``.

    Attributes:
        checked: whether the values are checked against checksums the file carries (a
            mismatch raises :class:`ConversionError` once a tensor's last block is read).
    """

    checked = False

    def keys(self) -> list[str]:
        """The state_dict's keys, in its order."""
        raise NotImplementedError

    def shape(self, key: str) -> tuple[int, ...]:
        """The tensor ``key``'s shape (torch's layout)."""
        raise NotImplementedError

    def dtype_name(self, key: str) -> str:
        """torch's name for the dtype of ``key``: "float32", "bfloat16", "int64", ..."""
        raise NotImplementedError

    def blocks(self, key: str) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, C-ordered numpy array) pairs covering the tensor in torch's layout,
        by rows of its leading axis (one pair for a 0-d tensor).

        Args:
            key: a state_dict key.
        """
        raise NotImplementedError

    def read(self, key: str) -> np.ndarray:
        """The whole tensor ``key``, C-ordered."""
        blocks = [block for _, block in self.blocks(key)]
        return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)

    def __contains__(self, key: object) -> bool:
        return key in self.keys()

    def __len__(self) -> int:
        return len(self.keys())

    def nbytes(self, key: str) -> int:
        """The size of the tensor ``key`` in bytes."""
        dtype = numpy_dtype(self.dtype_name(key))
        return int(np.prod(self.shape(key), dtype=np.int64)) * (dtype.itemsize if dtype else 1)


class MemoryTensors(TensorSource):
    """Tensors already loaded (or memory-mapped) by torch or safetensors, each produced
    as one block.

    Args:
        state_dict: key -> ``torch.Tensor`` (or any array
            :func:`~jaxnn.compat.convert.to_numpy` reads); kept, not copied.
        checked: whether the tensors were checked against the file's checksums when they
            were loaded. Default: False.
    """

    def __init__(self, state_dict: Mapping[str, Any], checked: bool = False):
        self._sd, self.checked = state_dict, checked

    def keys(self) -> list[str]:
        return list(self._sd)

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(self._sd[key].shape)

    def dtype_name(self, key: str) -> str:
        return torch_dtype_name(self._sd[key])

    def blocks(self, key: str) -> Iterator[tuple[int, np.ndarray]]:
        yield 0, c_order(to_numpy(self._sd[key]))
