"""Numerical parity between a jaxnn model and its PyTorch twin, layer by layer.

:func:`compare` runs both models on the same inputs and measures, for the output and
for every module both sides have (keyed by torch module path), the largest absolute
error and the error relative to the reference's magnitude. In train mode it also
compares the BatchNorm running statistics after the step. The result is a
:class:`ParityReport` whose ``str`` is an aligned table and whose fields
(``ok``, ``first_divergence``, ``rows``, ``output_max_abs``, ...) are for code::

    >>> from jaxnn.compat import torch_models
    >>> from jaxnn.models import LeNet
    >>> x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    >>> variables = LeNet().init(jax.random.key(0), x)
    >>> report = compare(LeNet(), variables, torch_models.LeNet(), x, load_weights=True)
    >>> report.ok, report.first_divergence
    (True, None)
    >>> print(report)  # doctest: +ELLIPSIS
    parity LeNet (eval mode): jaxnn vs torch, atol=1e-05, rtol=0.0001
    layer          output shape     max abs err  max rel err  status
    ...
    (output)       (2, 10)  ...  ok
    result: OK

How outputs are captured: on the torch side a forward hook on every submodule, which
fires when the module returns, so rows come in torch's execution order; on the jaxnn
side Flax's ``capture_intermediates``, which records every module call by path. A module
called twice (a shared ``relu``) gets a row per call. Modules that exist on one side
only (e.g. a functional ``F.relu`` on one side, ``nn.ReLU`` on the other) are listed in
``only_torch`` / ``only_jax`` and not compared.

Errors, for reference values ``t`` (torch) and ``j`` (jaxnn):
``max_abs = max|j - t|``, ``max_rel = max_abs / max|t|`` (relative to the largest
reference magnitude, so values near zero do not blow it up), and a row is ok when
``max_abs <= atol + rtol * max|t|``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jax
import numpy as np
from flax import linen

from jaxnn.compat.convert import flax_to_torch
from jaxnn.introspect import captured_calls, named_buffers

if TYPE_CHECKING:
    import torch

__all__ = ["OUTPUT", "LayerParity", "ParityReport", "compare"]

OUTPUT = "(output)"
"""The path of the model's own output in a report."""


@dataclass(frozen=True)
class LayerParity:
    """The comparison of one tensor: a module call's output, the model output, or a
    running statistic.

    Attributes:
        path: torch module path (``'layer1.0.conv1'``), :data:`OUTPUT` for the model's
            output, or a state_dict key (``'bn1.running_mean'``) for a running statistic.
        call: 0 for a module's first call, 1 for its second, ...
        shape: the torch tensor's shape.
        max_abs: max |jaxnn - torch| (inf if the shapes differ).
        max_rel: max_abs / max |torch|.
        ok: max_abs <= atol + rtol * max |torch|.
        jax_shape: the jaxnn array's shape (differs from ``shape`` only on a mismatch).
    """

    path: str
    call: int
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float
    ok: bool
    jax_shape: tuple[int, ...] | None = None

    @property
    def label(self) -> str:
        return self.path if self.call == 0 else f"{self.path} [call {self.call + 1}]"


@dataclass(frozen=True)
class ParityReport:
    """The result of :func:`compare`; ``print(report)`` shows it as a table.

    Attributes:
        model: the jaxnn model's class name.
        train: whether the comparison ran in train mode.
        atol: the absolute tolerance used.
        rtol: the relative tolerance used.
        output: the model output's comparison.
        rows: per-module comparisons in torch's execution order.
        stats: running statistics after the train step (empty in eval mode).
        only_torch: module paths called by torch only (not compared).
        only_jax: module paths called by jaxnn only (not compared).
    """

    model: str
    train: bool
    atol: float
    rtol: float
    output: LayerParity
    rows: list[LayerParity] = field(default_factory=list)
    stats: list[LayerParity] = field(default_factory=list)
    only_torch: list[str] = field(default_factory=list)
    only_jax: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Output, every compared layer and every running statistic within tolerance."""
        return self.output.ok and all(r.ok for r in self.rows) and all(s.ok for s in self.stats)

    @property
    def first_divergence(self) -> str | None:
        """The first module (in execution order) whose output is out of tolerance, else
        :data:`OUTPUT` if only the output is, else the first running statistic that is;
        None when everything matches."""
        for row in (*self.rows, self.output, *self.stats):
            if not row.ok:
                return row.label
        return None

    @property
    def output_max_abs(self) -> float:
        return self.output.max_abs

    @property
    def output_max_rel(self) -> float:
        return self.output.max_rel

    @property
    def max_abs(self) -> float:
        """Largest absolute error over the output and every compared layer."""
        return max(r.max_abs for r in (self.output, *self.rows))

    def __str__(self) -> str:
        mode = "train" if self.train else "eval"
        lines = [
            f"parity {self.model} ({mode} mode): jaxnn vs torch, "
            f"atol={self.atol:g}, rtol={self.rtol:g}"
        ]
        lines += _table("layer", [*self.rows, self.output])
        if self.stats:
            lines += ["", "running statistics after the step:"]
            lines += _table("buffer", self.stats)
        if self.only_torch:
            lines.append(f"only in torch (not compared): {', '.join(self.only_torch)}")
        if self.only_jax:
            lines.append(f"only in jaxnn (not compared): {', '.join(self.only_jax)}")
        first = self.first_divergence
        lines.append("result: OK" if first is None else f"result: FAIL, first divergence: {first}")
        return "\n".join(lines)


def _table(title: str, rows: Sequence[LayerParity]) -> list[str]:
    header = (
        title,
        "output shape" if title == "layer" else "shape",
        "max abs err",
        "max rel err",
        "status",
    )
    body = []
    for r in rows:
        shape = str(r.shape) if r.jax_shape in (None, r.shape) else f"{r.shape} vs {r.jax_shape}"
        body.append(
            (r.label, shape, f"{r.max_abs:.3g}", f"{r.max_rel:.3g}", "ok" if r.ok else "FAIL")
        )
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(5)]

    def fmt(row):
        return (
            f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  "
            f"{row[3]:>{widths[3]}}  {row[4]}"
        )

    return [fmt(header), "  ".join("-" * w for w in widths), *(fmt(row) for row in body)]


def _measure(
    path: str, call: int, jax_value: Any, torch_value: np.ndarray, atol: float, rtol: float
) -> LayerParity:
    j = np.asarray(jax_value, dtype=np.float64)
    t = np.asarray(torch_value, dtype=np.float64)
    if j.shape != t.shape:
        return LayerParity(path, call, t.shape, math.inf, math.inf, False, j.shape)
    if t.size == 0:
        return LayerParity(path, call, t.shape, 0.0, 0.0, True, j.shape)
    diff = np.abs(j - t)
    both_nan = np.isnan(j) & np.isnan(t)
    diff = np.where(both_nan, 0.0, np.where(np.isnan(diff), np.inf, diff))
    max_abs = float(diff.max())
    scale = float(np.nanmax(np.abs(np.where(np.isinf(t), np.nan, t)), initial=0.0))
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else math.inf)
    return LayerParity(
        path, call, t.shape, max_abs, max_rel, bool(max_abs <= atol + rtol * scale), j.shape
    )


def _array_leaves(value: Any) -> list[Any]:
    """The arrays of a module output (an array, or a tuple/list/dict of them; None, as in
    nanoGPT's ``(logits, None)``, holds none)."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [a for k in sorted(value) for a in _array_leaves(value[k])]
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in _array_leaves(v)]
    return [value]


def _torch_dropouts(torch_model: torch.nn.Module) -> list[tuple[str, float]]:
    from torch import nn

    return [
        (name or "<model>", m.p)
        for name, m in torch_model.named_modules()
        if isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0
    ]


def _run_torch(
    torch_model: torch.nn.Module, inputs: tuple[Any, ...], train: bool
) -> tuple[list[np.ndarray], list[tuple[str, list[np.ndarray]]]]:
    import torch

    calls: list[tuple[str, list[np.ndarray]]] = []

    def numpy_copies(value: Any) -> list[np.ndarray]:
        # copy now: an in-place ReLU (inplace=True) overwrites the conv output it was given
        return [
            np.array(t.detach().cpu().numpy())
            for t in _array_leaves(value)
            if isinstance(t, torch.Tensor)
        ]

    def hook_for(name: str):
        def hook(module, args, output):
            calls.append((name, numpy_copies(output)))

        return hook

    modes = {m: m.training for m in torch_model.modules()}
    handles = [
        m.register_forward_hook(hook_for(name)) for name, m in torch_model.named_modules() if name
    ]
    try:
        torch_model.train(train)
        with torch.no_grad():
            out = torch_model(*(torch.from_numpy(np.array(x)) for x in inputs))
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.training = mode
    return numpy_copies(out), calls


def compare(
    jax_model: linen.Module,
    variables: Mapping[str, Any],
    torch_model: torch.nn.Module,
    inputs: Any,
    *,
    train: bool = False,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    load_weights: bool = False,
) -> ParityReport:
    """Run ``jax_model`` and ``torch_model`` on ``inputs`` and compare their outputs,
    layer by layer.

    Args:
        jax_model: a jaxnn model.
        variables: its variables.
        torch_model: the torch twin, holding the same weights (e.g. loaded with
            ``flax_to_torch(variables)``), or any weights with ``load_weights=True``.
            It is not modified: its train/eval flags are restored, and a train-mode
            comparison (which updates running statistics) works on a copy.
        inputs: the model input (a numpy or jax array), or a tuple of positional inputs.
        train: compare train mode: torch's ``model.train()`` forward against
            ``apply(..., mutable=['batch_stats'])``, then the updated running
            statistics (``running_mean``, ``running_var``, ``num_batches_tracked``).
            Dropout masks cannot be equal across frameworks (different random number
            generators), so train mode requires a model without active Dropout (p=0).
        atol: a tensor is ok when ``max|jaxnn - torch| <= atol + rtol * max|torch|``.
            Default: 1e-5.
        rtol: see ``atol``. Default: 1e-4.
        load_weights: load ``flax_to_torch(variables)`` into a copy of ``torch_model``
            first (strict). Default: False.

    Returns:
        a :class:`ParityReport`.

    Raises:
        ValueError: train mode on a model with Dropout p > 0; negative tolerances.
    """
    if atol < 0 or rtol < 0:
        raise ValueError(f"compare: atol and rtol must be >= 0, got atol={atol}, rtol={rtol}")
    if train:
        active = _torch_dropouts(torch_model)
        if active:
            where = ", ".join(f"'{name}' (p={p})" for name, p in active)
            raise ValueError(
                f"compare(train=True): the torch model has Dropout at {where}; dropout masks "
                f"come from different random number generators in torch and JAX and cannot "
                f"match. Compare in eval mode, or build the model with dropout p=0."
            )
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)

    if load_weights or train:
        torch_model = copy.deepcopy(torch_model)
    if load_weights:
        torch_model.load_state_dict(flax_to_torch(variables), strict=True)
    torch_out, torch_calls = _run_torch(torch_model, inputs, train)

    mutable = ["batch_stats"] if train else []

    # one compiled program, as the model runs in practice (and far faster than op by op)
    @jax.jit
    def run(variables, *inputs):
        return jax_model.apply(variables, *inputs, capture_intermediates=True, mutable=mutable)

    jax_out, state = run(variables, *inputs)
    jax_calls = captured_calls(state.get("intermediates", {}))
    jax_calls.pop("", None)  # the model itself: compared as the output

    output = _compare_leaves(OUTPUT, 0, _array_leaves(jax_out), torch_out, atol, rtol)
    rows, only_torch, seen = [], [], {}
    for name, torch_values in torch_calls:
        call = seen[name] = seen.get(name, -1) + 1
        jax_values = jax_calls.get(name, ())
        if call >= len(jax_values):
            only_torch.append(name if call == 0 else f"{name} [call {call + 1}]")
            continue
        rows.append(
            _compare_leaves(name, call, _array_leaves(jax_values[call]), torch_values, atol, rtol)
        )
    only_jax = [name for name in jax_calls if name not in seen]

    stats = []
    if train:
        torch_buffers = {k: b.detach().cpu().numpy() for k, b in torch_model.named_buffers()}
        jax_buffers = named_buffers({"batch_stats": state.get("batch_stats", {})})
        for key, torch_value in torch_buffers.items():
            if key in jax_buffers:
                stats.append(_measure(key, 0, jax_buffers[key], torch_value, atol, rtol))
    return ParityReport(
        type(jax_model).__name__, train, atol, rtol, output, rows, stats, only_torch, only_jax
    )


def _compare_leaves(
    path: str, call: int, jax_leaves: list[Any], torch_leaves: list[Any], atol: float, rtol: float
) -> LayerParity:
    """One row for a (possibly multi-tensor) output: its worst tensor."""
    if len(jax_leaves) != len(torch_leaves) or not torch_leaves:
        shape = tuple(np.shape(torch_leaves[0])) if torch_leaves else ()
        return LayerParity(path, call, shape, math.inf, math.inf, False, None)
    results = [
        _measure(path, call, j, t, atol, rtol)
        for j, t in zip(jax_leaves, torch_leaves, strict=True)
    ]
    return max(results, key=lambda r: (not r.ok, r.max_abs))
