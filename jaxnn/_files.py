"""Atomic file and directory replacement, shared by ``jaxnn.checkpoint`` and the CLI.

Kept free of jax and torch imports so the CLI can use it before deciding what to load.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path


def sibling(path: Path, tag: str) -> Path:
    """A fresh hidden name beside ``path`` (same filesystem, so renames are atomic)."""
    return path.with_name(f".{path.name}.{tag}-{uuid.uuid4().hex[:8]}")


def remove(path: Path) -> None:
    """Delete a file, a link (not what it points to) or a directory tree, if present."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def commit(tmp: Path, dst: Path) -> None:
    """Move the finished ``tmp`` to ``dst``, replacing an existing ``dst`` atomically: a
    directory on either side is swapped through a sibling, so ``dst`` is never missing."""
    if dst.exists() and (dst.is_dir() or tmp.is_dir()):
        old = sibling(dst, "old")
        dst.rename(old)
        try:
            tmp.rename(dst)
        except BaseException:
            old.rename(dst)
            raise
        remove(old)
    else:
        os.replace(tmp, dst)
