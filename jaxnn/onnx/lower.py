"""The lowering table: one rule per JAX primitive, each emitting the ONNX operators
(opset 18) that compute what the primitive computes. This module holds the table and the
elementwise and shape rules; :mod:`jaxnn.onnx.lower_nn` adds reductions, pooling
windows, convolutions, contractions and gathers.

A rule takes the graph, the jaxpr equation and its input values (:class:`Tensor` or a
numpy constant) and returns the output values. Primitives that wrap another jaxpr (jit,
custom_jvp/vjp calls, checkpoint, scan) are handled by the caller, which inlines them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from jaxnn.onnx.common import ExportError
from jaxnn.onnx.graph import Graph, Tensor, onnx_dtype

__all__ = ["RULES", "Rule", "Value", "axes_tensor", "lowering", "name_of", "one_tensor", "output"]

Value = Tensor | np.ndarray
"""What flows between rules: a graph tensor, or a numpy constant known at export time."""
Rule = Callable[[Graph, Any, list[Value]], list[Value]]
"""A lowering: (graph, jaxpr equation, its input values) -> its output values."""

RULES: dict[str, Rule] = {}
"""JAX primitive name -> its :data:`Rule` (:func:`lowering` registers one)."""


def output(g: Graph, eqn: Any, name: str, i: int = 0) -> Tensor:
    """The graph tensor ``name`` as output ``i`` of ``eqn``, with the shape and dtype JAX
    gives that output.

    Args:
        g: the graph (unused; every rule passes it first).
        eqn: the jaxpr equation.
        name: the ONNX name of the tensor a node wrote.
        i: which of the equation's outputs. Default: 0.
    """
    aval = eqn.outvars[i].aval
    return Tensor(name, tuple(aval.shape), np.dtype(aval.dtype))


def name_of(g: Graph, value: Value) -> str:
    """The ONNX name of a value: a tensor's own, or a new initializer for a constant.

    Args:
        g: the graph the initializer goes in.
        value: a :data:`Value`.
    """
    return g.name(value)


def lowering(*names: str) -> Callable[[Rule], Rule]:
    """A decorator that registers a :data:`Rule` under one or more primitive names.

    Args:
        *names: the JAX primitives' names (``"reduce_sum"``, ...).
    """

    def register(fn: Rule) -> Rule:
        for name in names:
            RULES[name] = fn
        return fn

    return register


def axes_tensor(g: Graph, axes: Sequence[int]) -> str:
    """An int64 initializer holding ``axes``, for the operators that take their axes as
    an input (opset 13 and later); returns its name.

    Args:
        g: the graph.
        axes: the axes.
    """
    return g.const(np.array(list(axes), np.int64), "axes")


# ----------------------------------------------------------------------------- elementwise

_UNARY = {
    "neg": "Neg",
    "exp": "Exp",
    "log": "Log",
    "tanh": "Tanh",
    "logistic": "Sigmoid",
    "sqrt": "Sqrt",
    "abs": "Abs",
    "sign": "Sign",
    "floor": "Floor",
    "ceil": "Ceil",
    "erf": "Erf",
    "sin": "Sin",
    "cos": "Cos",
    "tan": "Tan",
    "asin": "Asin",
    "acos": "Acos",
    "atan": "Atan",
    "sinh": "Sinh",
    "cosh": "Cosh",
    "asinh": "Asinh",
    "acosh": "Acosh",
    "atanh": "Atanh",
    "copy": "Identity",
    "copy_p": "Identity",
    "stop_gradient": "Identity",
    "reduce_precision": "Identity",
    "optimization_barrier": "Identity",
}
_BINARY = {
    "add": "Add",
    "sub": "Sub",
    "mul": "Mul",
    "div": "Div",
    "max": "Max",
    "min": "Min",
    "pow": "Pow",
    "eq": "Equal",
    "lt": "Less",
    "le": "LessOrEqual",
    "gt": "Greater",
    "ge": "GreaterOrEqual",
}
_LOGICAL = {"and": ("And", "BitwiseAnd"), "or": ("Or", "BitwiseOr"), "xor": ("Xor", "BitwiseXor")}


def _unary(op: str) -> Rule:
    def rule(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
        return [output(g, eqn, g.node1(op, [name_of(g, args[0])]))]

    return rule


def _binary(op: str) -> Rule:
    def rule(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
        return [output(g, eqn, g.node1(op, [name_of(g, a) for a in args]))]

    return rule


for _prim, _op in _UNARY.items():
    RULES[_prim] = _unary(_op)
for _prim, _op in _BINARY.items():
    RULES[_prim] = _binary(_op)


def _logical(prim: str) -> Rule:
    def rule(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
        boolean, bitwise = _LOGICAL[prim]
        op = boolean if eqn.outvars[0].aval.dtype == np.bool_ else bitwise
        return [output(g, eqn, g.node1(op, [name_of(g, a) for a in args]))]

    return rule


for _prim in _LOGICAL:
    RULES[_prim] = _logical(_prim)


def one_tensor(g: Graph, dtype: Any) -> str:
    """A scalar 1 of ``dtype`` as an initializer; returns its name.

    Args:
        g: the graph.
        dtype: the constant's dtype.
    """
    return g.const(np.array(1, dtype), "one")


@lowering("not")
def _not(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    op = "Not" if eqn.outvars[0].aval.dtype == np.bool_ else "BitwiseNot"
    return [output(g, eqn, g.node1(op, [name_of(g, args[0])]))]


@lowering("ne")
def _ne(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    return [output(g, eqn, g.node1("Not", [g.node1("Equal", [name_of(g, a) for a in args])]))]


@lowering("rsqrt")
def _rsqrt(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    return [output(g, eqn, g.node1("Reciprocal", [g.node1("Sqrt", [name_of(g, args[0])])]))]


@lowering("erfc")
def _erfc(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    one = one_tensor(g, eqn.outvars[0].aval.dtype)
    return [output(g, eqn, g.node1("Sub", [one, g.node1("Erf", [name_of(g, args[0])])]))]


@lowering("log1p")
def _log1p(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    one = one_tensor(g, eqn.outvars[0].aval.dtype)
    return [output(g, eqn, g.node1("Log", [g.node1("Add", [name_of(g, args[0]), one])]))]


@lowering("expm1")
def _expm1(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    one = one_tensor(g, eqn.outvars[0].aval.dtype)
    return [output(g, eqn, g.node1("Sub", [g.node1("Exp", [name_of(g, args[0])]), one]))]


@lowering("exp2")
def _exp2(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    two = g.const(np.array(2, eqn.outvars[0].aval.dtype), "two")
    return [output(g, eqn, g.node1("Pow", [two, name_of(g, args[0])]))]


@lowering("square")
def _square(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    x = name_of(g, args[0])
    return [output(g, eqn, g.node1("Mul", [x, x]))]


@lowering("integer_pow")
def _integer_pow(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    y, x = int(eqn.params["y"]), name_of(g, args[0])
    if y == 0:  # 1 everywhere, NaN included, as lax
        shape = g.node1("Shape", [x])
        return [output(g, eqn, g.node1("Expand", [one_tensor(g, args[0].dtype), shape]))]
    result, base, n = None, x, abs(y)
    while n:  # square and multiply, as lax computes it
        if n & 1:
            result = base if result is None else g.node1("Mul", [result, base])
        n >>= 1
        if n:
            base = g.node1("Mul", [base, base])
    if y < 0:
        result = g.node1("Reciprocal", [result])
    return [output(g, eqn, g.node1("Identity", [result]))]


@lowering("rem")
def _rem(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    # lax.rem is C's fmod (the sign of the dividend), for floats and integers alike
    return [output(g, eqn, g.node1("Mod", [name_of(g, a) for a in args], fmod=1))]


@lowering("is_finite")
def _is_finite(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    x = name_of(g, args[0])
    bad = g.node1("Or", [g.node1("IsInf", [x]), g.node1("IsNaN", [x])])
    return [output(g, eqn, g.node1("Not", [bad]))]


@lowering("round")
def _round(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    method = str(eqn.params.get("rounding_method", ""))
    if "EVEN" not in method.upper() and method not in ("1",):
        raise ExportError(
            "round away from zero has no ONNX operator (Round is half-to-even); "
            "use jnp.round, which rounds half to even"
        )
    return [output(g, eqn, g.node1("Round", [name_of(g, args[0])]))]


@lowering("select_n")
def _select_n(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    which, *cases = args
    if len(cases) == 1:
        return [output(g, eqn, g.node1("Identity", [name_of(g, cases[0])]))]
    w = name_of(g, which)
    if np.dtype(which.dtype) == np.bool_:
        return [output(g, eqn, g.node1("Where", [w, name_of(g, cases[1]), name_of(g, cases[0])]))]
    result = name_of(g, cases[0])
    for i, case in enumerate(cases[1:], start=1):
        pick = g.node1("Equal", [w, g.const(np.array(i, which.dtype))])
        result = g.node1("Where", [pick, name_of(g, case), result])
    return [output(g, eqn, g.node1("Identity", [result]))]


@lowering("clamp")
def _clamp(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    low, x, high = (name_of(g, a) for a in args)
    return [output(g, eqn, g.node1("Max", [g.node1("Min", [x, high]), low]))]


@lowering("convert_element_type")
def _convert(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    to = onnx_dtype(eqn.params["new_dtype"])
    return [output(g, eqn, g.node1("Cast", [name_of(g, args[0])], to=to))]


for _name in ("device_put", "sharding_constraint", "mesh_cast"):
    RULES[_name] = lambda g, eqn, args: [
        output(g, eqn, g.node1("Identity", [name_of(g, a)]), i) for i, a in enumerate(args)
    ]


# ----------------------------------------------------------------------------- shapes


@lowering("reshape")
def _reshape(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    if eqn.params.get("dimensions") is not None:
        raise ExportError("reshape with a dimensions permutation is not supported")
    shape = g.shape(eqn.params["new_sizes"])
    return [output(g, eqn, g.node1("Reshape", [name_of(g, args[0]), shape]))]


@lowering("squeeze")
def _squeeze(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    axes = axes_tensor(g, eqn.params["dimensions"])
    return [output(g, eqn, g.node1("Squeeze", [name_of(g, args[0]), axes]))]


@lowering("expand_dims")
def _expand_dims(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    axes = axes_tensor(g, eqn.params["dimensions"])
    return [output(g, eqn, g.node1("Unsqueeze", [name_of(g, args[0]), axes]))]


@lowering("broadcast_in_dim")
def _broadcast_in_dim(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    shape, dims = tuple(eqn.params["shape"]), tuple(eqn.params["broadcast_dimensions"])
    x = name_of(g, args[0])
    if list(dims) != sorted(dims):
        order = sorted(range(len(dims)), key=lambda i: dims[i])
        x, dims = g.node1("Transpose", [x], perm=order), tuple(sorted(dims))
    new = [i for i in range(len(shape)) if i not in dims]
    if new:
        x = g.node1("Unsqueeze", [x, axes_tensor(g, new)])
    return [output(g, eqn, g.node1("Expand", [x, g.shape(shape)]))]


@lowering("transpose")
def _transpose(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    perm = [int(p) for p in eqn.params["permutation"]]
    return [output(g, eqn, g.node1("Transpose", [name_of(g, args[0])], perm=perm))]


@lowering("slice")
def _slice(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    starts, limits = eqn.params["start_indices"], eqn.params["limit_indices"]
    strides = eqn.params["strides"] or (1,) * len(starts)
    axes = list(range(len(starts)))
    inputs = [name_of(g, args[0]), g.shape(starts), g.shape(limits), axes_tensor(g, axes)]
    inputs.append(g.const(np.array(strides, np.int64), "steps"))
    return [output(g, eqn, g.node1("Slice", inputs))]


@lowering("dynamic_slice")
def _dynamic_slice(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    operand, *starts = args
    sizes = eqn.params["slice_sizes"]
    begin = []
    for axis, (start, size) in enumerate(zip(starts, sizes)):
        # lax clamps each start so that the slice fits, as ONNX Slice does not
        s = g.node1(
            "Cast", [g.node1("Reshape", [name_of(g, start), g.shape([1])])], to=onnx_dtype(np.int64)
        )
        top = g.node1("Sub", [g.dim(operand.shape[axis]), g.dim(size)])
        begin.append(g.node1("Max", [g.node1("Min", [s, top]), g.dim(0)]))
    begin_t = g.node1("Concat", begin, axis=0)
    end = g.node1("Add", [begin_t, g.shape(sizes)])
    axes = axes_tensor(g, range(len(sizes)))
    return [output(g, eqn, g.node1("Slice", [name_of(g, operand), begin_t, end, axes]))]


@lowering("concatenate")
def _concatenate(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    axis = int(eqn.params["dimension"])
    return [output(g, eqn, g.node1("Concat", [name_of(g, a) for a in args], axis=axis))]


@lowering("stack")
def _stack(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    # jnp.stack: each operand gains the new axis, then they are joined along it
    axes = axes_tensor(g, [int(eqn.params["axis"])])
    parts = [g.node1("Unsqueeze", [name_of(g, a), axes]) for a in args]
    joined = parts[0] if len(parts) == 1 else g.node1("Concat", parts, axis=int(eqn.params["axis"]))
    return [output(g, eqn, joined)]


@lowering("split")
def _split(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    sizes, axis = eqn.params["sizes"], int(eqn.params["axis"])
    split = g.const(np.array(sizes, np.int64), "split")
    names = g.node("Split", [name_of(g, args[0]), split], outputs=len(sizes), axis=axis)
    return [output(g, eqn, name, i) for i, name in enumerate(names)]


@lowering("pad")
def _pad(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    config = eqn.params["padding_config"]
    if any(interior for _, _, interior in config):
        raise ExportError("pad with interior padding (dilation) has no ONNX operator")
    x, value = name_of(g, args[0]), name_of(g, args[1])
    shape = args[0].shape
    if any(lo < 0 or hi < 0 for lo, hi, _ in config):  # negative padding crops
        starts = [max(-lo, 0) for lo, _, _ in config]
        ends = [d - max(-hi, 0) for d, (_, hi, _) in zip(shape, config)]
        x = g.node1(
            "Slice", [x, g.shape(starts), g.shape(ends), axes_tensor(g, range(len(config)))]
        )
    pads = [max(lo, 0) for lo, _, _ in config] + [max(hi, 0) for _, hi, _ in config]
    if not any(pads):
        return [output(g, eqn, g.node1("Identity", [x]))]
    return [output(g, eqn, g.node1("Pad", [x, g.const(np.array(pads, np.int64), "pads"), value]))]


@lowering("iota")
def _iota(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    shape, dim, dtype = eqn.params["shape"], int(eqn.params["dimension"]), eqn.params["dtype"]
    n = shape[dim]
    zero, one = g.const(np.array(0, dtype)), g.const(np.array(1, dtype))
    limit = g.node1("Cast", [g.node1("Squeeze", [g.dim(n)])], to=onnx_dtype(dtype))
    line = g.node1("Range", [zero, limit, one])
    keep = [1] * len(shape)
    keep[dim] = -1
    line = g.node1("Reshape", [line, g.const(np.array(keep, np.int64), "shape")])
    return [output(g, eqn, g.node1("Expand", [line, g.shape(shape)]))]
