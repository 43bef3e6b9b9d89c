"""jaxnn models to ONNX: trace the eval-mode forward pass to a jaxpr with a symbolic batch
axis, lower each equation through :data:`jaxnn.onnx.lower.RULES`, check the model, and
compare onnxruntime's outputs with jaxnn's before the file is put in place."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import onnx
from jax.extend import core as jcore
from onnx import helper

from jaxnn._files import commit, remove, sibling
from jaxnn.onnx import lower_nn  # noqa: F401 -- registers its rules in RULES
from jaxnn.onnx.common import ExportError, batch_axes, grown, input_specs
from jaxnn.onnx.graph import Graph, Tensor, is_static
from jaxnn.onnx.lower import RULES, Value

__all__ = ["DEFAULT_OPSET", "build", "check_with_onnxruntime", "export"]

DEFAULT_OPSET = 18
"""The ONNX opset :func:`export` writes by default, and the lowest it can."""
# float32 tolerance of the onnxruntime check: max |onnx - jaxnn| <= ATOL + RTOL * max |jaxnn|
ATOL, RTOL = 1e-4, 1e-4

# primitives whose body is another jaxpr: inlined, so their equations are lowered one by one
_INLINE = {
    "jit": "jaxpr",
    "pjit": "jaxpr",
    "closed_call": "call_jaxpr",
    "core_call": "call_jaxpr",
    "custom_jvp_call": "call_jaxpr",
    "custom_vjp_call": "call_jaxpr",
    "custom_vjp_call_jaxpr": "fun_jaxpr",
    "checkpoint": "jaxpr",
    "remat": "jaxpr",
}


def _layer(outer: str | None, name_stack: Any) -> str:
    """The torch path of the layer an equation belongs to: Flax's scope names joined by
    dots. At the top (``outer`` None) the first name is the model's own class name."""
    inner = [p for p in str(name_stack).split("/") if p and "(" not in p]
    if outer is None:
        return ".".join(inner[1:])
    return ".".join([p for p in outer.split(".") if p] + inner)


def _constant(v: Any) -> np.ndarray:
    return np.asarray(v.val, dtype=v.aval.dtype)


def _broadcast(x: np.ndarray, p: dict) -> np.ndarray:
    shape, dims = p["shape"], p["broadcast_dimensions"]
    expanded = np.expand_dims(x, [i for i in range(len(shape)) if i not in dims])
    return np.broadcast_to(expanded, shape)


# Folding in numpy, for the primitives that weights and masks mostly pass through: each
# would otherwise be compiled by XLA once per shape (one BatchNorm's rsqrt(var + eps) per
# layer width), which dominated exporting a DenseNet.
_NUMPY = {
    "add": lambda a, p: a[0] + a[1],
    "sub": lambda a, p: a[0] - a[1],
    "mul": lambda a, p: a[0] * a[1],
    "div": lambda a, p: a[0] / a[1] if a[0].dtype.kind == "f" else np.trunc(a[0] / a[1]),
    "max": lambda a, p: np.maximum(a[0], a[1]),
    "min": lambda a, p: np.minimum(a[0], a[1]),
    "neg": lambda a, p: -a[0],
    "sqrt": lambda a, p: np.sqrt(a[0]),
    "rsqrt": lambda a, p: 1 / np.sqrt(a[0]),
    "reshape": lambda a, p: a[0].reshape(p["new_sizes"]),
    "transpose": lambda a, p: np.transpose(a[0], p["permutation"]),
    "broadcast_in_dim": lambda a, p: _broadcast(a[0], p),
    "convert_element_type": lambda a, p: a[0].astype(p["new_dtype"]),
    "squeeze": lambda a, p: np.squeeze(a[0], tuple(p["dimensions"])),
}


def _fold(eqn: Any, args: list[np.ndarray]) -> list[np.ndarray] | None:
    """The equation evaluated now, when every input is known and every output has a
    static shape (weights transposed, masks built, tables sliced: done once, stored)."""
    if not all(is_static(v.aval.shape) for v in eqn.outvars if hasattr(v.aval, "shape")):
        return None
    numpy_rule = _NUMPY.get(eqn.primitive.name)
    if numpy_rule is not None:
        out = np.asarray(numpy_rule(args, eqn.params))
        return [out.astype(eqn.outvars[0].aval.dtype, copy=False)]
    out = eqn.primitive.bind(*[jnp.asarray(a) for a in args], **eqn.params)
    out = out if eqn.primitive.multiple_results else [out]
    return [np.asarray(o) for o in out]


def lower_jaxpr(
    g: Graph, jaxpr: Any, consts: Sequence[Any], args: Sequence[Value], scope: str | None
) -> list[Value]:
    """Emit ``jaxpr`` into ``g``; returns its output values. ``scope`` is the layer path
    of the equation that holds ``jaxpr`` (None for the model's own jaxpr)."""
    env: dict[Any, Value] = {}

    def read(v: Any) -> Value:
        return _constant(v) if isinstance(v, jcore.Literal) else env[v]

    for v, c in zip(jaxpr.constvars, consts):
        env[v] = np.asarray(c)
    for v, a in zip(jaxpr.invars, args):
        env[v] = a
    for eqn in jaxpr.eqns:
        ins = [read(v) for v in eqn.invars]
        name = eqn.primitive.name
        where = _layer(scope, eqn.source_info.name_stack)
        if name in _INLINE:
            sub = eqn.params[_INLINE[name]]
            inner = getattr(sub, "jaxpr", sub)
            outs = lower_jaxpr(g, inner, getattr(sub, "consts", ()), ins, where)
        elif name == "scan":
            outs = _unroll_scan(g, eqn, ins, where)
        else:
            outs = None
            if all(isinstance(a, np.ndarray) for a in ins):
                outs = _fold(eqn, ins)
            if outs is None:
                rule = RULES.get(name)
                layer = f"layer '{where}'" if where else "the model's own forward"
                if rule is None:
                    raise ExportError(
                        f"ONNX export: {layer} uses the JAX primitive '{name}', which "
                        f"jaxnn.onnx cannot lower"
                    )
                g.scope = where
                try:
                    outs = rule(g, eqn, ins)
                except ExportError as e:
                    raise ExportError(f"ONNX export: {layer}, primitive '{name}': {e}") from e
        for v, out in zip(eqn.outvars, outs):
            env[v] = out
    return [read(v) for v in jaxpr.outvars]


def _unroll_scan(g: Graph, eqn: Any, ins: list[Value], scope: str) -> list[Value]:
    """``lax.scan`` with a static length, unrolled: the body once per step."""
    p = eqn.params
    length, body = p["length"], p["jaxpr"]
    if not isinstance(length, (int, np.integer)):
        raise ExportError(f"ONNX export: layer '{scope}': a scan of symbolic length {length}")
    consts, carry, xs = (
        ins[: p["num_consts"]],
        ins[p["num_consts"] : p["num_consts"] + p["num_carry"]],
        ins[p["num_consts"] + p["num_carry"] :],
    )
    steps = range(length - 1, -1, -1) if p["reverse"] else range(length)
    ys: list[list[Value]] = []
    for t in steps:
        step_xs = [_index0(g, x, t) for x in xs]
        outs = lower_jaxpr(g, body.jaxpr, body.consts, [*consts, *carry, *step_xs], scope)
        carry, y = outs[: p["num_carry"]], outs[p["num_carry"] :]
        ys.append(y)
    if p["reverse"]:
        ys.reverse()
    stacked = []
    for i, v in enumerate(eqn.outvars[p["num_carry"] :]):
        parts = [y[i] for y in ys]
        if all(isinstance(part, np.ndarray) for part in parts):
            stacked.append(np.stack(parts))
            continue
        names = [
            g.node1("Unsqueeze", [g.name(part), g.const(np.array([0], np.int64))]) for part in parts
        ]
        stacked.append(Tensor(g.node1("Concat", names, axis=0), tuple(v.aval.shape), v.aval.dtype))
    return [*carry, *stacked]


def _index0(g: Graph, x: Value, t: int) -> Value:
    if isinstance(x, np.ndarray):
        return x[t]
    index = g.const(np.array(t, np.int64), "step")
    return Tensor(g.node1("Gather", [x.name, index], axis=0), x.shape[1:], x.dtype)


def _names(given: Sequence[str] | None, n: int, stem: str) -> list[str]:
    if given is None:
        return [stem] if n == 1 else [f"{stem}_{i}" for i in range(n)]
    if len(given) != n:
        raise ValueError(f"{stem}_names has {len(given)} names for {n} {stem}s")
    return list(given)


def build(
    model: Any,
    variables: Any,
    args: Sequence[Any],
    *,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    dynamic_batch: bool = True,
    batch_axis: int | Sequence[int] = 0,
    opset_version: int = DEFAULT_OPSET,
) -> onnx.ModelProto:
    """The ONNX model of ``model.apply(variables, *args)`` (eval mode), in memory.

    Args: as :func:`export`.
    """
    axes = _axes(args, dynamic_batch, batch_axis)
    specs = input_specs(args, dynamic_batch, axes)
    closed, out_tree = jax.make_jaxpr(lambda *xs: model.apply(variables, *xs), return_shape=True)(
        *specs
    )
    outputs_spec = jax.tree_util.tree_leaves(out_tree)
    g = Graph()
    in_names = _names(input_names, len(specs), "input")
    values = []
    for name, spec, axis in zip(in_names, specs, axes):
        g.inputs.append(g.value_info(name, spec.shape, spec.dtype))
        values.append(Tensor(name, spec.shape, np.dtype(spec.dtype)))
        if dynamic_batch:
            g.set_batch_source(name, axis)
    outs = lower_jaxpr(g, closed.jaxpr, closed.consts, values, None)
    out_names = _names(output_names, len(outs), "output")
    for name, out, spec in zip(out_names, outs, outputs_spec):
        source = g.name(out, "constant_output")
        g.nodes.append(helper.make_node("Identity", [source], [name], name=f"{name}.node"))
        g.outputs.append(g.value_info(name, spec.shape, spec.dtype))
    used = {name for node in g.nodes for name in node.input}
    initializers = [t for t in g.initializers if t.name in used]
    graph = helper.make_graph(
        g.nodes, type(model).__name__, g.inputs, g.outputs, initializer=initializers
    )
    proto = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset_version)], producer_name="jaxnn"
    )
    proto.ir_version = min(proto.ir_version, 10)  # what current onnxruntime releases read
    return proto


def _reference(model: Any, variables: Any, args: Sequence[Any]) -> list[np.ndarray]:
    # variables as an argument, not closed over: XLA compiles slowly around large constants
    out = jax.jit(model.apply)(variables, *[jnp.asarray(a) for a in args])
    return [np.asarray(o) for o in jax.tree_util.tree_leaves(out)]


def _axes(args: Sequence[Any], dynamic_batch: bool, batch_axis: int | Sequence[int]) -> list[int]:
    return batch_axes(args, batch_axis) if dynamic_batch else [0] * len(args)


def check_with_onnxruntime(
    path: str | os.PathLike,
    model: Any,
    variables: Any,
    args: Sequence[Any],
    *,
    dynamic_batch: bool = True,
    batch_axis: int | Sequence[int] = 0,
) -> float:
    """Run the ONNX file in onnxruntime on ``args`` (and, with a dynamic batch, on one more
    example) and compare with jaxnn; returns the largest error. Raises ExportError above
    ``ATOL + RTOL * max |jaxnn|`` for any output.

    Args:
        path: the ONNX file.
        model: the jaxnn module it was exported from.
        variables: its variables.
        args: the example inputs, a sequence, in the file's input order.
        dynamic_batch: also run with one more example (the first repeated), to check the
            batch axis is dynamic. Default: True.
        batch_axis: the inputs' batch axis, as :func:`export` takes it. Default: 0.
    """
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    worst = 0.0
    axes = _axes(args, dynamic_batch, batch_axis)
    for inputs in [list(args), grown(args, axes)] if dynamic_batch else [list(args)]:
        got = session.run(None, {n: np.asarray(a) for n, a in zip(names, inputs)})
        want = _reference(model, variables, inputs)
        for i, (x, y) in enumerate(zip(got, want)):
            if x.shape != y.shape:
                raise ExportError(
                    f"onnxruntime output {i} has shape {x.shape}, jaxnn's {y.shape} "
                    f"(batch {np.shape(inputs[0])[axes[0]]})"
                )
            err = float(np.max(np.abs(x.astype(np.float64) - y), initial=0.0))
            bound = ATOL + RTOL * float(np.max(np.abs(y), initial=0.0))
            if not np.isfinite(err) or err > bound:
                raise ExportError(
                    f"onnxruntime output {i} differs from jaxnn's by {err:.3g} "
                    f"(allowed {bound:.3g}, batch {np.shape(inputs[0])[axes[0]]})"
                )
            worst = max(worst, err)
    return worst


def export(
    model: Any,
    variables: Any,
    args: Any,
    f: str | os.PathLike,
    *,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    dynamic_batch: bool = True,
    batch_axis: int | Sequence[int] = 0,
    opset_version: int | None = None,
    verify: bool = True,
) -> Path:
    """Write ``model`` with ``variables`` as an ONNX file, ``torch.onnx.export``'s
    counterpart (see :mod:`jaxnn.onnx`), and return its path. A failed export leaves no
    file.

    Args:
        model: a jaxnn (Flax linen) module, exported in eval mode.
        variables: its variables; they become the ONNX initializers.
        args: an example input, or a tuple of them (torch's ``args``).
        f: the file to write; it is replaced if it exists.
        input_names: the graph's input names. Default: None (``input``, or ``input_0``,
            ``input_1``, ...).
        output_names: the graph's output names. Default: None (``output``, or
            ``output_0``, ...).
        dynamic_batch: make the batch axis of every input the symbolic ``batch`` axis,
            and with it every output axis that follows it; otherwise the shapes are
            fixed to the example's. Default: True.
        batch_axis: which axis of the inputs is the batch: one for all, or one per
            input (1 for (T, N) token inputs). Default: 0.
        opset_version: the ONNX opset, from :data:`DEFAULT_OPSET` to the installed onnx
            package's latest. Default: None (:data:`DEFAULT_OPSET`).
        verify: run the file in onnxruntime (:func:`check_with_onnxruntime`) before it is
            put in place; without it, only ``onnx.checker`` checks it. Default: True.
    """
    args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
    opset = DEFAULT_OPSET if opset_version is None else int(opset_version)
    if not DEFAULT_OPSET <= opset <= onnx.defs.onnx_opset_version():
        raise ValueError(
            f"opset_version must be between {DEFAULT_OPSET} and "
            f"{onnx.defs.onnx_opset_version()} (the installed onnx), got {opset_version}"
        )
    proto = build(
        model,
        variables,
        args,
        input_names=input_names,
        output_names=output_names,
        dynamic_batch=dynamic_batch,
        batch_axis=batch_axis,
        opset_version=opset,
    )
    path = Path(f).absolute()
    tmp = sibling(path, "tmp")
    try:
        if not verify:  # onnxruntime's load and run are the stronger check otherwise
            onnx.checker.check_model(proto)
        onnx.save_model(proto, str(tmp))
        if verify:
            check_with_onnxruntime(
                tmp, model, variables, args, dynamic_batch=dynamic_batch, batch_axis=batch_axis
            )
        commit(tmp, path)
    except BaseException:
        remove(tmp)
        raise
    return path
