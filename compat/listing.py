"""What a weight file holds: the data behind ``jaxnn-compat inspect``."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jaxnn import checkpoint
from jaxnn import state_dict as sd
from jaxnn.compat.files import open_tensors
from jaxnn.compat.sources import ConversionError

__all__ = ["Inspection", "inspect"]


@dataclass
class Inspection:
    """What :func:`inspect` finds in a file.

    Attributes:
        format: the file's format, e.g. ``'safetensors'`` or ``'jaxnn checkpoint (orbax)'``.
        metadata: the metadata stored with the tensors, or None.
        header: the column names of the table of tensors.
        rows: the table, one tuple of strings per tensor.
        counted: ``(torch key, shape, is_buffer)`` of each tensor, for counting parameters
            and buffers (tied aliases left out, as torch's ``parameters()`` lists a shared
            tensor once).
    """

    format: str
    metadata: dict[str, Any] | None
    header: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)
    counted: list[tuple[str, tuple[int, ...], bool]] = field(default_factory=list)


def _inspect_checkpoint(path: Path) -> Inspection:
    try:
        metadata = checkpoint.read_metadata(path)
        variables = checkpoint.load(path)
    except checkpoint.DamagedCheckpointError as e:
        raise ConversionError(str(e)) from e
    except Exception as e:
        raise ConversionError(f"{path}: unreadable jaxnn checkpoint ({e})") from e
    found = Inspection(
        "jaxnn checkpoint (orbax)", metadata, ("variable", "torch key", "shape", "dtype")
    )
    described = {}
    for leaf in sd.torch_leaves(variables):
        shape = tuple(np.shape(leaf.leaf))
        row = ("/".join((leaf.collection, *leaf.path)), leaf.key, str(shape), str(leaf.leaf.dtype))
        found.rows.append(row)
        found.counted.append((leaf.key, shape, leaf.collection != "params"))
        described[leaf.key] = row
    for alias, target in sd.tied_keys(variables).items():
        _, _, shape, dtype = described[target]
        found.rows.append((f"(tied to {target})", alias, shape, dtype))
    return found


def inspect(path: str | os.PathLike, log: Callable[[str], None] | None = None) -> Inspection:
    """The tensors of a ``.pth``/``.pt``/``.safetensors`` file or a jaxnn checkpoint: keys
    (torch's, and the variable paths for a checkpoint), shapes, dtypes and metadata.

    Args:
        path: the file or checkpoint directory.
        log: receives one-line notes (which entry of a training checkpoint was read).
            Default: None (silent).
    """
    path = Path(path)
    if not path.exists():
        raise ConversionError(f"{path}: no such file")
    if checkpoint.is_checkpoint(path):
        return _inspect_checkpoint(path)
    tensors, fmt, entry = open_tensors(path)
    if entry is not None and log is not None:
        log(f"using the checkpoint's '{entry}' entry as the state_dict")
    metadata = getattr(tensors, "metadata", None)
    found = Inspection(fmt, metadata or None, ("key", "shape", "dtype"))
    buffers = {r.torch_name for r in sd.LEAF_RULES if r.collection != "params"}
    for key in tensors.keys():
        shape = tuple(tensors.shape(key))
        found.rows.append((key, str(shape), tensors.dtype_name(key)))
        found.counted.append((key, shape, key.rsplit(".", 1)[-1] in buffers))
    return found
