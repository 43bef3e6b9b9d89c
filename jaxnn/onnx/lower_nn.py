"""The lowering rules of reductions, pooling windows, convolutions, contractions and
gathers (see :mod:`jaxnn.onnx.lower` for the table and the elementwise rules)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxnn.onnx.common import ExportError
from jaxnn.onnx.graph import Graph, Tensor, onnx_dtype
from jaxnn.onnx.lower import RULES, Rule, Value, axes_tensor, lowering, name_of, output

__all__: list[str] = []  # importing this module registers its rules in RULES


# ----------------------------------------------------------------------------- reductions


def _reduce(op: str) -> Rule:
    def rule(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
        axes = axes_tensor(g, eqn.params["axes"])
        return [output(g, eqn, g.node1(op, [name_of(g, args[0]), axes], keepdims=0))]

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
        as_int = g.node1("Cast", [name_of(g, args[0])], to=onnx_dtype(np.int32))
        reduced = g.node1(op, [as_int, axes_tensor(g, eqn.params["axes"])], keepdims=0)
        return [output(g, eqn, g.node1("Cast", [reduced], to=onnx_dtype(np.bool_)))]

    return rule


RULES["reduce_and"] = _reduce_bool("ReduceMin")
RULES["reduce_or"] = _reduce_bool("ReduceMax")


def _arg(op: str) -> Rule:
    def rule(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
        (axis,) = eqn.params["axes"]
        index = g.node1(op, [name_of(g, args[0])], axis=int(axis), keepdims=0)
        to = onnx_dtype(eqn.params["index_dtype"])
        return [output(g, eqn, g.node1("Cast", [index], to=to))]

    return rule


RULES["argmax"] = _arg("ArgMax")
RULES["argmin"] = _arg("ArgMin")


@lowering("cumsum")
def _cumsum(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    axis = g.const(np.array(int(eqn.params["axis"]), np.int64), "axis")
    reverse = int(bool(eqn.params.get("reverse", False)))
    return [output(g, eqn, g.node1("CumSum", [name_of(g, args[0]), axis], reverse=reverse))]


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


@lowering("reduce_window_max")
def _max_pool(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    kernel, strides, pads, dil = _window(eqn, len(args[0].shape))
    y = g.node1(
        "MaxPool",
        [name_of(g, args[0])],
        kernel_shape=kernel,
        strides=strides,
        pads=pads,
        dilations=dil,
    )
    return [output(g, eqn, y)]


@lowering("reduce_window_sum")
def _sum_pool(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    kernel, strides, pads, dil = _window(eqn, len(args[0].shape))
    attrs: dict[str, Any] = dict(kernel_shape=kernel, strides=strides, pads=pads)
    if any(d != 1 for d in dil):
        attrs["dilations"] = dil
    mean = g.node1("AveragePool", [name_of(g, args[0])], count_include_pad=1, **attrs)
    size = g.const(np.array(np.prod(kernel), args[0].dtype), "window")
    return [output(g, eqn, g.node1("Mul", [mean, size]))]


# ----------------------------------------------------------------------------- contractions


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


@lowering("dot_general")
def _dot_general(g: Graph, eqn: Any, args: list[Value]) -> list[Value]:
    lhs, rhs = args
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    nl, nr = len(lhs.shape), len(rhs.shape)
    a, b = name_of(g, lhs), name_of(g, rhs)
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
    return [output(g, eqn, y)]


def _to_layout(g: Graph, x: Value, spec: Sequence[int]) -> Value:
    """``x`` with its axes ordered as ``spec`` lists them (numpy for a constant)."""
    spec = [int(s) for s in spec]
    if spec == list(range(len(spec))):
        return x
    if isinstance(x, np.ndarray):
        return np.ascontiguousarray(np.transpose(x, spec))
    return Tensor(g.node1("Transpose", [x.name], perm=spec), (), x.dtype)


@lowering("conv_general_dilated")
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
            "Conv",
            [name_of(g, x), name_of(g, w)],
            strides=strides,
            pads=pads,
            dilations=dil,
            group=groups,
        )
    inverse = [list(out_spec).index(i) for i in range(len(out_spec))]
    if inverse != list(range(len(out_spec))):
        y = g.node1("Transpose", [y], perm=inverse)
    return [output(g, eqn, y)]


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
        [name_of(g, x), g.const(wt, "kernel")],
        strides=lhs_dil,
        dilations=dil,
        pads=begin + end,
        output_padding=extra,
        group=groups,
    )


@lowering("gather")
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
    idx = g.node1("Squeeze", [name_of(g, indices), axes_tensor(g, [len(indices.shape) - 1])])
    return [output(g, eqn, g.node1("Gather", [name_of(g, operand), idx], axis=0))]


def _gathered_slice(g: Graph, eqn: Any, operand: Tensor, start: np.ndarray, dn, sizes) -> Value:
    """A gather of one window at constant indices (how jnp indexing slices an array with a
    symbolic dimension): a Slice, clamped as gather clamps it, then a Squeeze of the axes
    an integer index drops (``x[:, 0]``, ViT's class token)."""
    rank = len(operand.shape)
    collapsed = tuple(dn.collapsed_slice_dims)
    if (
        getattr(dn, "operand_batching_dims", ())
        or any(sizes[axis] != 1 for axis in collapsed)
        or tuple(dn.offset_dims) != tuple(range(rank - len(collapsed)))
    ):
        raise ExportError(f"gather with dimension numbers {dn} is not supported")
    begin = [0] * rank
    for axis, value in zip(dn.start_index_map, start):
        limit = operand.shape[axis] - sizes[axis]
        if not isinstance(limit, (int, np.integer)):
            raise ExportError("a gathered window along a symbolic axis is not supported")
        begin[axis] = int(min(max(int(value), 0), limit))
    end = [b + s for b, s in zip(begin, sizes)]
    axes = axes_tensor(g, range(rank))
    window = g.node1("Slice", [name_of(g, operand), g.shape(begin), g.shape(end), axes])
    if collapsed:
        window = g.node1("Squeeze", [window, axes_tensor(g, collapsed)])
    return output(g, eqn, window)
