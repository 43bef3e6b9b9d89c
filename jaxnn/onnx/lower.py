"""The lowering table: one rule per JAX primitive, each emitting the ONNX operators
(opset 18) that compute what the primitive computes.

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

__all__ = ["RULES", "Value"]

Value = Tensor | np.ndarray
Rule = Callable[[Graph, Any, list[Value]], list[Value]]

RULES: dict[str, Rule] = {}


def _out(g: Graph, eqn: Any, name: str, i: int = 0) -> Tensor:
    aval = eqn.outvars[i].aval
    return Tensor(name, tuple(aval.shape), np.dtype(aval.dtype))


def _n(g: Graph, value: Value) -> str:
    return g.name(value)


def _rule(*names: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for name in names:
            RULES[name] = fn
        return fn

    return register


def _axes(g: Graph, axes: Sequence[int]) -> str:
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
        return [_out(g, eqn, g.node1(op, [_n(g, args[0])]))]

    return rule


def _binary(op: str) -> Rule:
    def rule(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
        return [_out(g, eqn, g.node1(op, [_n(g, a) for a in args]))]

    return rule


for _prim, _op in _UNARY.items():
    RULES[_prim] = _unary(_op)
for _prim, _op in _BINARY.items():
    RULES[_prim] = _binary(_op)


def _logical(prim: str) -> Rule:
    def rule(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
        boolean, bitwise = _LOGICAL[prim]
        op = boolean if eqn.outvars[0].aval.dtype == np.bool_ else bitwise
        return [_out(g, eqn, g.node1(op, [_n(g, a) for a in args]))]

    return rule


for _prim in _LOGICAL:
    RULES[_prim] = _logical(_prim)


def _one(g: Graph, dtype: Any) -> str:
    return g.const(np.array(1, dtype), "one")


@_rule("not")
def _not(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    op = "Not" if eqn.outvars[0].aval.dtype == np.bool_ else "BitwiseNot"
    return [_out(g, eqn, g.node1(op, [_n(g, args[0])]))]


@_rule("ne")
def _ne(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    return [_out(g, eqn, g.node1("Not", [g.node1("Equal", [_n(g, a) for a in args])]))]


@_rule("rsqrt")
def _rsqrt(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    return [_out(g, eqn, g.node1("Reciprocal", [g.node1("Sqrt", [_n(g, args[0])])]))]


@_rule("erfc")
def _erfc(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    one = _one(g, eqn.outvars[0].aval.dtype)
    return [_out(g, eqn, g.node1("Sub", [one, g.node1("Erf", [_n(g, args[0])])]))]


@_rule("log1p")
def _log1p(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    one = _one(g, eqn.outvars[0].aval.dtype)
    return [_out(g, eqn, g.node1("Log", [g.node1("Add", [_n(g, args[0]), one])]))]


@_rule("expm1")
def _expm1(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    one = _one(g, eqn.outvars[0].aval.dtype)
    return [_out(g, eqn, g.node1("Sub", [g.node1("Exp", [_n(g, args[0])]), one]))]


@_rule("exp2")
def _exp2(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    two = g.const(np.array(2, eqn.outvars[0].aval.dtype), "two")
    return [_out(g, eqn, g.node1("Pow", [two, _n(g, args[0])]))]


@_rule("square")
def _square(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    x = _n(g, args[0])
    return [_out(g, eqn, g.node1("Mul", [x, x]))]


@_rule("integer_pow")
def _integer_pow(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    y, x = int(eqn.params["y"]), _n(g, args[0])
    if y == 0:  # 1 everywhere, NaN included, as lax
        shape = g.node1("Shape", [x])
        return [_out(g, eqn, g.node1("Expand", [_one(g, args[0].dtype), shape]))]
    result, base, n = None, x, abs(y)
    while n:  # square and multiply, as lax computes it
        if n & 1:
            result = base if result is None else g.node1("Mul", [result, base])
        n >>= 1
        if n:
            base = g.node1("Mul", [base, base])
    if y < 0:
        result = g.node1("Reciprocal", [result])
    return [_out(g, eqn, g.node1("Identity", [result]))]


@_rule("rem")
def _rem(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    # lax.rem is C's fmod (the sign of the dividend), for floats and integers alike
    return [_out(g, eqn, g.node1("Mod", [_n(g, a) for a in args], fmod=1))]


@_rule("is_finite")
def _is_finite(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    x = _n(g, args[0])
    bad = g.node1("Or", [g.node1("IsInf", [x]), g.node1("IsNaN", [x])])
    return [_out(g, eqn, g.node1("Not", [bad]))]


@_rule("round")
def _round(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    method = str(eqn.params.get("rounding_method", ""))
    if "EVEN" not in method.upper() and method not in ("1",):
        raise ExportError(
            "round away from zero has no ONNX operator (Round is half-to-even); "
            "use jnp.round, which rounds half to even"
        )
    return [_out(g, eqn, g.node1("Round", [_n(g, args[0])]))]


@_rule("select_n")
def _select_n(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    which, *cases = args
    if len(cases) == 1:
        return [_out(g, eqn, g.node1("Identity", [_n(g, cases[0])]))]
    w = _n(g, which)
    if np.dtype(which.dtype) == np.bool_:
        return [_out(g, eqn, g.node1("Where", [w, _n(g, cases[1]), _n(g, cases[0])]))]
    result = _n(g, cases[0])
    for i, case in enumerate(cases[1:], start=1):
        pick = g.node1("Equal", [w, g.const(np.array(i, which.dtype))])
        result = g.node1("Where", [pick, _n(g, case), result])
    return [_out(g, eqn, g.node1("Identity", [result]))]


@_rule("clamp")
def _clamp(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    low, x, high = (_n(g, a) for a in args)
    return [_out(g, eqn, g.node1("Max", [g.node1("Min", [x, high]), low]))]


@_rule("convert_element_type")
def _convert(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    to = onnx_dtype(eqn.params["new_dtype"])
    return [_out(g, eqn, g.node1("Cast", [_n(g, args[0])], to=to))]


for _name in ("device_put", "sharding_constraint", "mesh_cast"):
    RULES[_name] = lambda g, eqn, args: [
        _out(g, eqn, g.node1("Identity", [_n(g, a)]), i) for i, a in enumerate(args)
    ]


# ----------------------------------------------------------------------------- shapes


@_rule("reshape")
def _reshape(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    if eqn.params.get("dimensions") is not None:
        raise ExportError("reshape with a dimensions permutation is not supported")
    shape = g.shape(eqn.params["new_sizes"])
    return [_out(g, eqn, g.node1("Reshape", [_n(g, args[0]), shape]))]


@_rule("squeeze")
def _squeeze(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    axes = _axes(g, eqn.params["dimensions"])
    return [_out(g, eqn, g.node1("Squeeze", [_n(g, args[0]), axes]))]


@_rule("expand_dims")
def _expand_dims(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    axes = _axes(g, eqn.params["dimensions"])
    return [_out(g, eqn, g.node1("Unsqueeze", [_n(g, args[0]), axes]))]


@_rule("broadcast_in_dim")
def _broadcast_in_dim(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    shape, dims = tuple(eqn.params["shape"]), tuple(eqn.params["broadcast_dimensions"])
    x = _n(g, args[0])
    if list(dims) != sorted(dims):
        order = sorted(range(len(dims)), key=lambda i: dims[i])
        x, dims = g.node1("Transpose", [x], perm=order), tuple(sorted(dims))
    new = [i for i in range(len(shape)) if i not in dims]
    if new:
        x = g.node1("Unsqueeze", [x, _axes(g, new)])
    return [_out(g, eqn, g.node1("Expand", [x, g.shape(shape)]))]


@_rule("transpose")
def _transpose(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    perm = [int(p) for p in eqn.params["permutation"]]
    return [_out(g, eqn, g.node1("Transpose", [_n(g, args[0])], perm=perm))]


@_rule("slice")
def _slice(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    starts, limits = eqn.params["start_indices"], eqn.params["limit_indices"]
    strides = eqn.params["strides"] or (1,) * len(starts)
    axes = list(range(len(starts)))
    inputs = [_n(g, args[0]), g.shape(starts), g.shape(limits), _axes(g, axes)]
    inputs.append(g.const(np.array(strides, np.int64), "steps"))
    return [_out(g, eqn, g.node1("Slice", inputs))]


@_rule("dynamic_slice")
def _dynamic_slice(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    operand, *starts = args
    sizes = eqn.params["slice_sizes"]
    begin = []
    for axis, (start, size) in enumerate(zip(starts, sizes)):
        # lax clamps each start so that the slice fits, as ONNX Slice does not
        s = g.node1(
            "Cast", [g.node1("Reshape", [_n(g, start), g.shape([1])])], to=onnx_dtype(np.int64)
        )
        top = g.node1("Sub", [g.dim(operand.shape[axis]), g.dim(size)])
        begin.append(g.node1("Max", [g.node1("Min", [s, top]), g.dim(0)]))
    begin_t = g.node1("Concat", begin, axis=0)
    end = g.node1("Add", [begin_t, g.shape(sizes)])
    return [
        _out(g, eqn, g.node1("Slice", [_n(g, operand), begin_t, end, _axes(g, range(len(sizes)))]))
    ]


@_rule("concatenate")
def _concatenate(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    axis = int(eqn.params["dimension"])
    return [_out(g, eqn, g.node1("Concat", [_n(g, a) for a in args], axis=axis))]


@_rule("split")
def _split(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    sizes, axis = eqn.params["sizes"], int(eqn.params["axis"])
    split = g.const(np.array(sizes, np.int64), "split")
    names = g.node("Split", [_n(g, args[0]), split], outputs=len(sizes), axis=axis)
    return [_out(g, eqn, name, i) for i, name in enumerate(names)]


@_rule("pad")
def _pad(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    config = eqn.params["padding_config"]
    if any(interior for _, _, interior in config):
        raise ExportError("pad with interior padding (dilation) has no ONNX operator")
    x, value = _n(g, args[0]), _n(g, args[1])
    shape = args[0].shape
    if any(lo < 0 or hi < 0 for lo, hi, _ in config):  # negative padding crops
        starts = [max(-lo, 0) for lo, _, _ in config]
        ends = [d - max(-hi, 0) for d, (_, hi, _) in zip(shape, config)]
        x = g.node1("Slice", [x, g.shape(starts), g.shape(ends), _axes(g, range(len(config)))])
    pads = [max(lo, 0) for lo, _, _ in config] + [max(hi, 0) for _, hi, _ in config]
    if not any(pads):
        return [_out(g, eqn, g.node1("Identity", [x]))]
    return [_out(g, eqn, g.node1("Pad", [x, g.const(np.array(pads, np.int64), "pads"), value]))]


@_rule("iota")
def _iota(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    shape, dim, dtype = eqn.params["shape"], int(eqn.params["dimension"]), eqn.params["dtype"]
    n = shape[dim]
    zero, one = g.const(np.array(0, dtype)), g.const(np.array(1, dtype))
    limit = g.node1("Cast", [g.node1("Squeeze", [g.dim(n)])], to=onnx_dtype(dtype))
    line = g.node1("Range", [zero, limit, one])
    keep = [1] * len(shape)
    keep[dim] = -1
    line = g.node1("Reshape", [line, g.const(np.array(keep, np.int64), "shape")])
    return [_out(g, eqn, g.node1("Expand", [line, g.shape(shape)]))]


# ----------------------------------------------------------------------------- reductions


def _reduce(op: str) -> Rule:
    def rule(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
        axes = _axes(g, eqn.params["axes"])
        return [_out(g, eqn, g.node1(op, [_n(g, args[0]), axes], keepdims=0))]

    return rule


for _prim, _op in (
    ("reduce_sum", "ReduceSum"),
    ("reduce_max", "ReduceMax"),
    ("reduce_min", "ReduceMin"),
    ("reduce_prod", "ReduceProd"),
):
    RULES[_prim] = _reduce(_op)


def _reduce_bool(op: str) -> Rule:
    def rule(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
        as_int = g.node1("Cast", [_n(g, args[0])], to=onnx_dtype(np.int32))
        reduced = g.node1(op, [as_int, _axes(g, eqn.params["axes"])], keepdims=0)
        return [_out(g, eqn, g.node1("Cast", [reduced], to=onnx_dtype(np.bool_)))]

    return rule


RULES["reduce_and"] = _reduce_bool("ReduceMin")
RULES["reduce_or"] = _reduce_bool("ReduceMax")


def _arg(op: str) -> Rule:
    def rule(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
        (axis,) = eqn.params["axes"]
        index = g.node1(op, [_n(g, args[0])], axis=int(axis), keepdims=0)
        to = onnx_dtype(eqn.params["index_dtype"])
        return [_out(g, eqn, g.node1("Cast", [index], to=to))]

    return rule


RULES["argmax"] = _arg("ArgMax")
RULES["argmin"] = _arg("ArgMin")


@_rule("cumsum")
def _cumsum(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    axis = g.const(np.array(int(eqn.params["axis"]), np.int64), "axis")
    reverse = int(bool(eqn.params.get("reverse", False)))
    return [_out(g, eqn, g.node1("CumSum", [_n(g, args[0]), axis], reverse=reverse))]


def _window(eqn: Any, rank: int) -> tuple[list[int], list[int], list[int], list[int]]:
    """(kernel, strides, pads, dilations) of a window over the trailing spatial axes,
    the leading two (batch, channel) untouched, as ONNX's pooling operators want."""
    p = eqn.params
    window, strides = p["window_dimensions"], p["window_strides"]
    padding = p["padding"]
    base = p.get("base_dilation") or (1,) * rank
    dil = p.get("window_dilation") or (1,) * rank
    if rank < 3 or tuple(window[:2]) != (1, 1) or tuple(strides[:2]) != (1, 1):
        raise ExportError("a pooling window over the batch or channel axis has no ONNX operator")
    if any(b != 1 for b in base) or any(tuple(pair) != (0, 0) for pair in padding[:2]):
        raise ExportError("pooling with base dilation or padding of the batch/channel axes")
    pads = [int(lo) for lo, _ in padding[2:]] + [int(hi) for _, hi in padding[2:]]
    return list(window[2:]), list(strides[2:]), pads, list(dil[2:])


@_rule("reduce_window_max")
def _max_pool(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    kernel, strides, pads, dil = _window(eqn, len(args[0].shape))
    y = g.node1(
        "MaxPool", [_n(g, args[0])], kernel_shape=kernel, strides=strides, pads=pads, dilations=dil
    )
    return [_out(g, eqn, y)]


@_rule("reduce_window_sum")
def _sum_pool(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    kernel, strides, pads, dil = _window(eqn, len(args[0].shape))
    attrs: dict[str, Any] = dict(kernel_shape=kernel, strides=strides, pads=pads)
    if any(d != 1 for d in dil):
        attrs["dilations"] = dil
    mean = g.node1("AveragePool", [_n(g, args[0])], count_include_pad=1, **attrs)
    size = g.const(np.array(np.prod(kernel), args[0].dtype), "window")
    return [_out(g, eqn, g.node1("Mul", [mean, size]))]


# ----------------------------------------------------------------------------- contractions


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


@_rule("dot_general")
def _dot_general(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    lhs, rhs = args
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    nl, nr = len(lhs.shape), len(rhs.shape)
    a, b = _n(g, lhs), _n(g, rhs)
    if not lb and nr == 2 and tuple(lc) == (nl - 1,) and tuple(rc) in ((0,), (1,)):
        if tuple(rc) == (1,):  # x @ W.T
            b = g.node1("Transpose", [b], perm=[1, 0])
        y = g.node1("MatMul", [a, b])
    else:
        letters = iter(_LETTERS)
        lhs_l = [next(letters) for _ in range(nl)]
        rhs_l = [next(letters) for _ in range(nr)]
        for i, j in zip(lc, rc):
            rhs_l[j] = lhs_l[i]
        for i, j in zip(lb, rb):
            rhs_l[j] = lhs_l[i]
        out = [lhs_l[i] for i in lb]
        out += [lhs_l[i] for i in range(nl) if i not in lc and i not in lb]
        out += [rhs_l[j] for j in range(nr) if j not in rc and j not in rb]
        equation = f"{''.join(lhs_l)},{''.join(rhs_l)}->{''.join(out)}"
        y = g.node1("Einsum", [a, b], equation=equation)
    want = np.dtype(eqn.outvars[0].aval.dtype)
    if want != lhs.dtype:
        y = g.node1("Cast", [y], to=onnx_dtype(want))
    return [_out(g, eqn, y)]


def _to_layout(g: Graph, x: Value, spec: Sequence[int]) -> Value:
    """``x`` with its axes ordered as ``spec`` lists them (numpy for a constant)."""
    spec = [int(s) for s in spec]
    if spec == list(range(len(spec))):
        return x
    if isinstance(x, np.ndarray):
        return np.ascontiguousarray(np.transpose(x, spec))
    return Tensor(g.node1("Transpose", [x.name], perm=spec), (), x.dtype)


@_rule("conv_general_dilated")
def _conv(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    p = eqn.params
    lhs_spec, rhs_spec, out_spec = p["dimension_numbers"]
    if p["batch_group_count"] != 1:
        raise ExportError("a convolution with batch_group_count > 1 has no ONNX operator")
    x = _to_layout(g, args[0], lhs_spec)  # (N, C, *spatial)
    w = _to_layout(g, args[1], rhs_spec)  # (O, I / groups, *k)
    n = len(lhs_spec) - 2
    strides = [int(s) for s in p["window_strides"]]
    dil = [int(d) for d in (p["rhs_dilation"] or (1,) * n)]
    lhs_dil = [int(d) for d in (p["lhs_dilation"] or (1,) * n)]
    pads = [int(lo) for lo, _ in p["padding"]] + [int(hi) for _, hi in p["padding"]]
    groups = int(p["feature_group_count"])
    if any(d != 1 for d in lhs_dil):
        y = _conv_transpose(g, x, w, strides, dil, lhs_dil, p["padding"], groups)
    else:
        if any(q < 0 for q in pads):
            raise ExportError("a convolution with negative padding is not supported")
        y = g.node1(
            "Conv", [_n(g, x), _n(g, w)], strides=strides, pads=pads, dilations=dil, group=groups
        )
    inverse = [list(out_spec).index(i) for i in range(len(out_spec))]
    if inverse != list(range(len(out_spec))):
        y = g.node1("Transpose", [y], perm=inverse)
    return [_out(g, eqn, y)]


def _conv_transpose(g, x, w, strides, dil, lhs_dil, padding, groups) -> str:
    """A convolution of the ``lhs_dil``-dilated input (how lax writes a transposed
    convolution) as ONNX's ConvTranspose, which scatters each input by ``lhs_dil``."""
    if any(s != 1 for s in strides):
        raise ExportError("a convolution with both input dilation and strides is not supported")
    if not isinstance(w, np.ndarray):
        raise ExportError("a transposed convolution needs a constant kernel to export")
    o, i = w.shape[:2]
    k = w.shape[2:]
    # (O, I/g, *k) of the dilated-input conv -> ConvTranspose's (I, O/g, *k): per group,
    # swap the two channel axes and flip the window
    wg = w.reshape(groups, o // groups, i, *k)
    wt = np.flip(np.swapaxes(wg, 1, 2), axis=tuple(range(3, 3 + len(k))))
    wt = np.ascontiguousarray(wt.reshape(groups * i, o // groups, *k))
    begin, end, extra = [], [], []
    for (lo, hi), kk, d in zip(padding, k, dil):
        span = d * (kk - 1)
        if lo > span or lo < 0:
            raise ExportError(f"a transposed convolution padding {lo} outside [0, {span}]")
        begin.append(span - lo)
        extra.append(max(0, hi - span))
        end.append(span - hi + extra[-1])
    return g.node1(
        "ConvTranspose",
        [_n(g, x), g.const(wt, "kernel")],
        strides=lhs_dil,
        dilations=dil,
        pads=begin + end,
        output_padding=extra,
        group=groups,
    )


@_rule("gather")
def _gather(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    operand, indices = args
    dn, sizes = eqn.params["dimension_numbers"], tuple(eqn.params["slice_sizes"])
    rank = len(operand.shape)
    rows = (  # operand[indices[..., 0]]: an embedding lookup, jnp.take along axis 0
        tuple(dn.collapsed_slice_dims) == (0,)
        and tuple(dn.start_index_map) == (0,)
        and not getattr(dn, "operand_batching_dims", ())
        and sizes == (1, *operand.shape[1:])
        and tuple(dn.offset_dims)
        == tuple(range(len(indices.shape) - 1, len(indices.shape) - 2 + rank))
        and indices.shape[-1] == 1
    )
    if not rows and isinstance(indices, np.ndarray) and indices.ndim == 1:
        return [_gathered_slice(g, eqn, operand, indices, dn, sizes)]
    if not rows:
        raise ExportError(f"gather with dimension numbers {dn} is not supported (only row lookups)")
    idx = g.node1("Squeeze", [_n(g, indices), _axes(g, [len(indices.shape) - 1])])
    return [_out(g, eqn, g.node1("Gather", [_n(g, operand), idx], axis=0))]


def _gathered_slice(g: Graph, eqn: Any, operand: Tensor, start: np.ndarray, dn, sizes) -> Value:
    """A gather of one window at constant indices (how jnp indexing slices an array with a
    symbolic dimension): a Slice, clamped as gather clamps it."""
    if dn.collapsed_slice_dims or getattr(dn, "operand_batching_dims", ()):
        raise ExportError(f"gather with dimension numbers {dn} is not supported")
    rank = len(operand.shape)
    begin = [0] * rank
    for axis, value in zip(dn.start_index_map, start):
        limit = operand.shape[axis] - sizes[axis]
        if not isinstance(limit, (int, np.integer)):
            raise ExportError("a gathered window along a symbolic axis is not supported")
        begin[axis] = int(min(max(int(value), 0), limit))
    end = [b + s for b, s in zip(begin, sizes)]
    axes = _axes(g, range(rank))
    return _out(g, eqn, g.node1("Slice", [_n(g, operand), g.shape(begin), g.shape(end), axes]))
