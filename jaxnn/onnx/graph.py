"""An ONNX graph under construction: the values of a jaxpr as ONNX tensors or constants,
nodes named by the jaxnn layer that emitted them, and shapes with a symbolic batch axis.

A value is either a :class:`Tensor` (computed by the ONNX graph at run time) or a numpy
array (known when the model is exported: weights, masks, anything computed from them
alone). Constants stay numpy for as long as possible, so that work on weights alone --
a transposed kernel, a positional table -- is done once here and stored, not recomputed
by every inference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from jaxnn.onnx.common import BATCH, ExportError

__all__ = ["Graph", "Tensor", "is_static", "linear_in_batch", "onnx_dtype"]


@dataclass(frozen=True)
class Tensor:
    """A value the ONNX graph computes: its tensor name and the jaxpr's abstract value.

    Attributes:
        name: the ONNX tensor's name.
        shape: its shape; dimensions are ints or the symbolic batch (an affine function
            of it).
        dtype: its numpy dtype.
    """

    name: str
    shape: tuple[Any, ...]
    dtype: np.dtype


def onnx_dtype(dtype: Any) -> int:
    """The ONNX element type of a numpy / jax dtype (bfloat16 included).

    Args:
        dtype: a dtype or anything ``np.dtype`` takes.
    """
    dtype = np.dtype(dtype)
    if dtype.name == "bfloat16":
        return TensorProto.BFLOAT16
    return helper.np_dtype_to_tensor_dtype(dtype)


def is_static(shape: Sequence[Any]) -> bool:
    """Whether every dimension of ``shape`` is an int (none is symbolic).

    Args:
        shape: a shape from a jaxpr.
    """
    return all(isinstance(d, (int, np.integer)) for d in shape)


class Graph:
    """Nodes, initializers and the runtime batch size of one export."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._names: dict[str, int] = {}
        self._batch: str | None = None  # int64 [1]: the batch size, read from an input
        self._batch_source: tuple[str, int] | None = None
        self._consts: dict[tuple, str] = {}
        self.scope = ""  # the jaxnn layer path of the equation being lowered

    def fresh(self, hint: str) -> str:
        hint = hint or "v"
        n = self._names.get(hint, 0)
        self._names[hint] = n + 1
        return hint if n == 0 else f"{hint}_{n}"

    # ------------------------------------------------------------------ values

    def const(self, value: Any, hint: str = "const") -> str:
        """An initializer holding ``value`` (small ones shared by value)."""
        array = np.asarray(value)
        key = None
        if array.size <= 16:
            key = (array.dtype.str, array.shape, array.tobytes())
            if key in self._consts:
                return self._consts[key]
        name = self.fresh(hint)
        # np.ascontiguousarray would make a 0-d array 1-d
        self.initializers.append(numpy_helper.from_array(np.array(array, order="C"), name))
        if key is not None:
            self._consts[key] = name
        return name

    def name(self, value: Tensor | np.ndarray, hint: str = "const") -> str:
        """The ONNX tensor name of a value (an initializer for a constant)."""
        return value.name if isinstance(value, Tensor) else self.const(value, hint)

    def node(
        self,
        op: str,
        inputs: Sequence[str],
        *,
        outputs: int = 1,
        domain: str = "",
        **attributes: Any,
    ) -> list[str]:
        """Append a node named after the current layer; returns its output names."""
        where = f"{self.scope}/" if self.scope else ""
        names = [self.fresh(f"{where}{op}") for _ in range(outputs)]
        self.nodes.append(
            helper.make_node(
                op, list(inputs), names, name=self.fresh(f"{where}{op}.node"), **attributes
            )
        )
        return names

    def node1(self, op: str, inputs: Sequence[str], **attributes: Any) -> str:
        return self.node(op, inputs, **attributes)[0]

    # ------------------------------------------------------------------ shapes

    def set_batch_source(self, input_name: str, axis: int = 0) -> None:
        """The graph input whose axis ``axis`` is the batch (read only if a shape needs
        it)."""
        if self._batch_source is None:
            self._batch_source = (input_name, axis)

    def batch(self) -> str:
        """An int64 [1] tensor holding the run-time batch size."""
        if self._batch is None:
            if self._batch_source is None:
                raise ExportError("a shape depends on the batch size, but no input has it")
            name, axis = self._batch_source
            shape = self.node1("Shape", [name], start=axis, end=axis + 1)
            self._batch = shape
        return self._batch

    def dim(self, d: Any) -> str:
        """An int64 [1] tensor holding dimension ``d`` (an int, or linear in the batch)."""
        if isinstance(d, (int, np.integer)):
            return self.const(np.array([int(d)], np.int64), "dim")
        scale, offset = linear_in_batch(d)
        out = self.batch()
        if scale != 1:
            out = self.node1("Mul", [out, self.const(np.array([scale], np.int64), "dim")])
        if offset:
            out = self.node1("Add", [out, self.const(np.array([offset], np.int64), "dim")])
        return out

    def shape(self, dims: Sequence[Any]) -> str:
        """An int64 [rank] tensor holding ``dims``."""
        if is_static(dims):
            return self.const(np.array([int(d) for d in dims], np.int64), "shape")
        return self.node1("Concat", [self.dim(d) for d in dims], axis=0)

    def value_info(self, name: str, shape: Sequence[Any], dtype: Any) -> onnx.ValueInfoProto:
        dims = [int(d) if isinstance(d, (int, np.integer)) else str(d) for d in shape]
        return helper.make_tensor_value_info(name, onnx_dtype(dtype), dims)


def linear_in_batch(d: Any) -> tuple[int, int]:
    """``(scale, offset)`` with ``d == scale * batch + offset`` for a symbolic dimension.

    jax's symbolic dimensions are polynomials; exporting supports the linear ones (every
    shape of a model whose batch axis only passes through, is split or is merged with
    static axes).

    Args:
        d: a jax symbolic dimension, a polynomial in the batch (not an int).
    """
    try:
        at = [int(d._evaluate({BATCH: n})) for n in (1, 2, 7)]
    except Exception as e:  # a dimension of another symbol, or not evaluable
        raise ExportError(f"dimension {d} is not an affine function of the batch") from e
    scale, offset = at[1] - at[0], 2 * at[0] - at[1]
    if at[2] != 7 * scale + offset:
        raise ExportError(f"dimension {d} is not an affine function of the batch")
    return scale, offset
