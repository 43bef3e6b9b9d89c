"""What the ONNX exporter and the jax.export artifact share, importable without onnx."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax import export as jax_export

__all__ = ["BATCH", "ExportError", "batch_axes", "grown", "input_specs"]

BATCH = "batch"
"""The name of the symbolic batch axis in traced jaxprs, ONNX models and jax.export
artifacts."""


class ExportError(ValueError):
    """The model cannot be exported: which layer, which JAX primitive, and why."""


def batch_axes(args: Sequence[Any], batch_axis: int | Sequence[int]) -> list[int]:
    """The batch axis of each input (non-negative): ``batch_axis`` for all of them, or one
    per input (a (T, N) token input, as torch's word-language models take, has it at 1).

    Args:
        args: the example inputs.
        batch_axis: one axis for every input, or one per input; negative counts from
            the end.

    Raises:
        ValueError: ``batch_axis`` lists another number of axes than there are inputs.
        ExportError: an input is a scalar, or has no such axis.
    """
    axes = [batch_axis] * len(args) if isinstance(batch_axis, int) else list(batch_axis)
    if len(axes) != len(args):
        raise ValueError(f"batch_axis has {len(axes)} axes for {len(args)} inputs")
    out = []
    for i, (a, axis) in enumerate(zip(args, axes)):
        ndim = np.ndim(a)
        if ndim == 0:
            raise ExportError(
                f"dynamic_batch=True needs every input to have a batch axis (input {i} is a scalar)"
            )
        if not -ndim <= axis < ndim:
            raise ExportError(
                f"input {i} of shape {np.shape(a)} has no axis {axis} to make the batch axis"
            )
        out.append(axis % ndim)
    return out


def input_specs(
    args: Sequence[Any], dynamic_batch: bool, axes: Sequence[int]
) -> list[jax.ShapeDtypeStruct]:
    """The inputs' shapes and dtypes, the batch axis of each symbolic if ``dynamic_batch``
    (one symbol: every input has the same batch size).

    Args:
        args: the example inputs.
        dynamic_batch: make each input's batch axis the symbol :data:`BATCH`.
        axes: each input's batch axis (:func:`batch_axes`).
    """
    (batch,) = jax_export.symbolic_shape(BATCH)
    specs = []
    for a, axis in zip(args, axes):
        shape = list(np.shape(a))
        if dynamic_batch:
            shape[axis] = batch
        specs.append(jax.ShapeDtypeStruct(tuple(shape), np.asarray(a).dtype))
    return specs


def grown(args: Sequence[Any], axes: Sequence[int]) -> list[np.ndarray]:
    """The inputs with one more example (the first repeated): a second batch size.

    Args:
        args: the example inputs.
        axes: each input's batch axis (:func:`batch_axes`).
    """
    out = []
    for a, axis in zip(args, axes):
        a = np.asarray(a)
        first = np.take(a, [0], axis=axis)
        out.append(np.concatenate([a, first], axis=axis))
    return out
