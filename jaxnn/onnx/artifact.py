"""A model as a serialized ``jax.export`` artifact: StableHLO with the weights inside,
which runs without the model's Python code (``load_exported(f)(x)``), on any JAX of a
compatible version and on the platforms it was exported for."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np
from jax import export as jax_export

from jaxnn._files import commit, remove, sibling
from jaxnn.onnx.common import ExportError, batch_axes, input_specs

__all__ = ["load_exported", "save_exported"]


def save_exported(
    model: Any,
    variables: Any,
    args: Any,
    f: str | os.PathLike,
    *,
    dynamic_batch: bool = True,
    batch_axis: int | Sequence[int] = 0,
    platforms: Sequence[str] | None = None,
) -> Path:
    """Serialize ``model.apply(variables, *args)`` (eval mode) with ``jax.export`` to the
    file ``f``, atomically, after reading it back and checking it computes what the model
    computes (bit for bit on this machine).

    Args:
        model: the model.
        variables: its variables (baked into the artifact).
        args: an example input, or a tuple of them (shapes and dtypes are what counts).
        f: the file to write.
        dynamic_batch: leave the batch axis of every input symbolic, so any batch size
            runs.
        batch_axis: the batch axis of every input, or one per input (default 0; 1 for a
            (T, N) sequence-first input).
        platforms: e.g. ``("cpu", "cuda")``; default: this machine's backend.

    Example::

        >>> from jaxnn.models import LeNet
        >>> x = np.zeros((2, 3, 32, 32), np.float32)
        >>> variables = LeNet().init(jax.random.key(0), x)
        >>> path = save_exported(LeNet(), variables, x, "lenet.jax")
        >>> run = load_exported("lenet.jax")  # no LeNet code needed
        >>> run(np.zeros((5, 3, 32, 32), np.float32)).shape  # any batch size
        (5, 10)
    """
    args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
    axes = batch_axes(args, batch_axis) if dynamic_batch else [0] * len(args)
    specs = input_specs(args, dynamic_batch, axes)
    fn = jax.jit(lambda *xs: model.apply(variables, *xs))
    exported = jax_export.export(fn, platforms=platforms)(*specs)
    path = Path(f).absolute()
    tmp = sibling(path, "tmp")
    try:
        tmp.write_bytes(exported.serialize())
        want = jax.tree_util.tree_leaves(fn(*args))
        got = jax.tree_util.tree_leaves(load_exported(tmp)(*args))
        for i, (x, y) in enumerate(zip(got, want, strict=True)):
            if not np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True):
                raise ExportError(f"the artifact read back computes a different output {i}")
        commit(tmp, path)
    except BaseException:
        remove(tmp)
        raise
    return path


def load_exported(f: str | os.PathLike) -> Callable[..., Any]:
    """The function in a file written by :func:`save_exported`: call it with inputs of
    the exported shapes (any batch size if exported with ``dynamic_batch``).

    Args:
        f: the artifact's path.
    """
    exported = jax_export.deserialize(bytearray(Path(f).read_bytes()))
    return exported.call
