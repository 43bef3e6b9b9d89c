"""The benchmark suites and the command line (``python -m benchmarks``).

Suites:
    train:   per model and batch size, train-step and eval throughput of jaxnn (one step
             and K fused steps), raw Flax + optax (NHWC), torch eager and torch.compile.
    loader:  jaxnn.data.DataLoader examples/s (digits; TFDS mock cifar10) against the
             examples/s a jaxnn SimpleCNN train step consumes.
    convert: VGG16-sized .pth -> jaxnn checkpoint -> .pth with ``jaxnn-compat convert``,
             each in a subprocess: seconds and peak RSS.
    flags:   XLA:CPU flag variants, each in a subprocess (flags are read when jax starts).
    export:  onnxruntime inference of exported LeNet / ResNet-18 beside jaxnn eval and torch
             eval (benchmarks/export.py).
    integrity: VGG16-sized save, load and convert with jaxnn's integrity checks and
             without them (:mod:`benchmarks.integrity`; ``--models`` picks another model).
    vision:  vision train steps (the DCGAN generator: transposed convolutions; resnet50;
             mobilenet_v2: depthwise convolutions) beside raw Flax, torch eager and
             torch.compile, and convolution micro-benchmarks (benchmarks/vision.py).
    sequence: GPT and LSTM train steps and GPT generate tokens/s (benchmarks/sequence.py).
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import vision
from benchmarks.harness import Contender, measure, ratio
from benchmarks.sequence import sequence_suite, sequence_table

SUITES = ("train", "loader", "convert", "flags", "export", "integrity", "vision", "sequence")
DEFAULT_SUITES = ("train", "loader", "convert", "vision", "sequence")
QUICK_MODELS = ("SimpleCNN", "NeuralNetwork")
LR, MOMENTUM = 0.01, 0.9


@dataclass(frozen=True)
class Spec:
    """A benchmarked model: constructor arguments, per-example input shape (NCHW or
    features), task and the batch sizes of the full run."""

    name: str
    input_shape: tuple[int, ...]
    batch_sizes: tuple[int, int]
    kwargs: dict[str, Any] | None = None
    task: str = "classification"
    outputs: int = 10
    fused: int = 8


SPECS = {
    s.name: s
    for s in [
        Spec("SimpleCNN", (1, 32, 32), (16, 128)),
        Spec("LeNet", (3, 32, 32), (16, 128)),
        Spec("CIFAR10Net", (3, 32, 32), (16, 128)),
        Spec("NeuralNetwork", (28, 28), (16, 128)),
        Spec("Classifier", (64,), (16, 128), {"num_inputs": 64, "num_classes": 10}),
        Spec(
            "Regressor",
            (64,),
            (16, 128),
            {"num_inputs": 64, "num_outputs": 1},
            task="regression",
            outputs=1,
        ),
        Spec("ResNetCIFAR", (3, 32, 32), (16, 64)),
        Spec("ResNet18", (3, 32, 32), (8, 32), {"num_classes": 10}),
        Spec("VGG16", (3, 32, 32), (2, 4), {"num_classes": 10}, fused=2),
    ]
}


# On CPU, make_train_step unrolls fused steps (its default there), so their compile time
# grows with K: ResNet-18's 8 unrolled steps took 35 s to compile here, one step 7 s. The
# conv nets fuse 2 steps on CPU (fusing pays on CPU only for dispatch-bound models).
CPU_CONV_FUSED = 2


def fused_steps(spec: Spec) -> int:
    """K of the fused contender: ``spec.fused``, at most CPU_CONV_FUSED for conv nets on CPU."""
    import jax

    if jax.default_backend() == "cpu" and len(spec.input_shape) == 3:
        return min(spec.fused, CPU_CONV_FUSED)
    return spec.fused


def _flax_kwargs(spec: Spec) -> dict[str, Any]:
    if spec.name == "Classifier":
        return {"num_classes": spec.outputs}
    if spec.name == "Regressor":
        return {"num_outputs": spec.outputs}
    return {"num_classes": spec.outputs} if spec.kwargs else {}


def _data(spec: Spec, batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, *spec.input_shape), dtype=np.float32)
    if spec.task == "regression":
        return x, rng.standard_normal((batch, spec.outputs), dtype=np.float32)
    return x, rng.integers(0, spec.outputs, batch).astype(np.int32)


def _to_nhwc(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if x.ndim == 4 else x


def _count(tree: Any) -> int:
    import jax

    return sum(int(np.prod(a.shape)) for a in jax.tree_util.tree_leaves(tree))


# ----------------------------------------------------------------------------- jax contenders


def jaxnn_contenders(
    spec: Spec, batch: int, precision: str = "fp32"
) -> tuple[list[Contender], list[Contender], int]:
    """jaxnn train (single and fused) and eval contenders; also returns the parameter count."""
    import jax
    import jax.numpy as jnp

    import jaxnn as nn
    from jaxnn import models, optim
    from jaxnn.train import TrainState, init_metrics, make_eval_step, make_train_step

    model = getattr(models, spec.name)(**(spec.kwargs or {}))
    loss = nn.CrossEntropyLoss() if spec.task == "classification" else nn.MSELoss()
    opt = optim.SGD(LR, momentum=MOMENTUM)
    x, y = _data(spec, batch)
    data = jax.device_put((x, y))
    fused_k = fused_steps(spec)
    fused_data = jax.device_put((np.stack([x] * fused_k), np.stack([y] * fused_k)))
    # one initialisation (its compile is not what is measured); every box gets a copy
    # because the steps donate their state
    state = TrainState.create(model, opt, x, seed=0)
    params = _count(state.params)
    copy = functools.partial(jax.tree_util.tree_map, jnp.copy)
    train = []
    for name, k, d in (("jaxnn", 1, data), ("jaxnn_fused", fused_k, fused_data)):
        step = make_train_step(
            model, loss, opt, task=spec.task, steps_per_call=k, precision=precision
        )
        box = {"s": copy(state), "m": init_metrics()}

        def call(step=step, box=box, d=d) -> None:
            box["s"], box["m"] = step(box["s"], box["m"], d)

        train.append(Contender(name, call, functools.partial(_block, box), batch * k))
    eval_step = make_eval_step(model, loss, task=spec.task, precision=precision)
    ebox = {"s": state, "m": init_metrics()}

    def eval_call() -> None:
        ebox["m"] = eval_step(ebox["s"], ebox["m"], data)

    return train, [Contender("jaxnn", eval_call, functools.partial(_block, ebox), batch)], params


def _block(box: dict[str, Any]) -> None:
    import jax

    jax.block_until_ready(box)


def _twin_variables(shapes: Any) -> Any:
    """Initial variables for the Flax twin, of ``model.init``'s shapes and dtypes: BatchNorm
    scale/var ones, biases/means zeros, kernels N(0, 1/fan_in) from numpy. Only steps are
    timed, and Flax's own init compiles slowly on XLA:CPU (its rank-4 random draws: 2-4 s
    per model, paid again at every batch size)."""
    import jax

    rng = np.random.default_rng(0)

    def leaf(path: Any, s: Any) -> np.ndarray:
        name = str(getattr(path[-1], "key", path[-1]))
        if name in ("scale", "var"):
            return np.ones(s.shape, s.dtype)
        if name in ("bias", "mean"):
            return np.zeros(s.shape, s.dtype)
        fan_in = max(int(np.prod(s.shape[:-1])), 1)
        return (rng.standard_normal(s.shape) / np.sqrt(fan_in)).astype(s.dtype)

    return jax.device_put(jax.tree_util.tree_map_with_path(leaf, shapes))


def flax_contenders(
    spec: Spec, batch: int, precision: str = "fp32"
) -> tuple[list[Contender], list[Contender], int]:
    """Raw Flax + optax train and eval contenders (NHWC, a user's own jitted step).

    ``precision='bf16'``: params and inputs cast to bfloat16 for the forward pass, float32
    master params, optimizer state and loss (what jaxnn's ``precision='bf16'`` does)."""
    import jax
    import jax.numpy as jnp
    import optax

    from benchmarks.flax_models import FLAX_MODELS

    model = FLAX_MODELS[spec.name](**_flax_kwargs(spec))
    x, y = _data(spec, batch)
    x = _to_nhwc(x)
    key = jax.random.key(0)
    variables = _twin_variables(
        jax.eval_shape(
            functools.partial(model.init, train=False), {"params": key, "dropout": key}, x
        )
    )
    tx = optax.sgd(LR, momentum=MOMENTUM)
    state = (variables["params"], variables.get("batch_stats", {}), None, jnp.zeros((), jnp.int32))
    state = (state[0], state[1], tx.init(state[0]), state[3])
    data = jax.device_put((x, y))
    compute = {"fp32": None, "bf16": jnp.bfloat16}[precision]

    def cast(tree: Any) -> Any:
        if compute is None:
            return tree
        return jax.tree_util.tree_map(
            lambda a: a.astype(compute) if a.dtype == jnp.float32 else a, tree
        )

    def apply(params, batch_stats, x, **kwargs):
        out = model.apply({"params": cast(params), "batch_stats": batch_stats}, cast(x), **kwargs)
        if kwargs.get("mutable"):
            out, updates = out
            # running statistics stay float32
            like = {k: batch_stats for k in updates}
            updates = jax.tree_util.tree_map(lambda n, o: n.astype(o.dtype), updates, like)
            return out.astype(jnp.float32), updates
        return out.astype(jnp.float32)

    def loss_fn(out: jax.Array, y: jax.Array) -> jax.Array:
        if spec.task == "regression":
            return jnp.mean(jnp.square(out - y))
        return optax.softmax_cross_entropy_with_integer_labels(out, y).mean()

    def accumulate(metrics, loss, out, y):
        # the running sums a Flax user's loop keeps for epoch loss and accuracy, as
        # jaxnn's step does (without them the twin does less work than jaxnn)
        n = y.shape[0]
        new = {"loss_sum": metrics["loss_sum"] + loss * n, "count": metrics["count"] + n}
        if spec.task == "classification":
            new["correct"] = metrics["correct"] + jnp.sum(jnp.argmax(out, -1) == y)
        return new

    def zeros() -> dict[str, jax.Array]:
        m = {"loss_sum": jnp.zeros((), jnp.float32), "count": jnp.zeros((), jnp.int32)}
        if spec.task == "classification":
            m["correct"] = jnp.zeros((), jnp.int32)
        return m

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def train_step(state, metrics, batch):
        params, batch_stats, opt_state, step = state
        x, y = batch

        def compute(p):
            out, updates = apply(
                p,
                batch_stats,
                x,
                train=True,
                mutable=["batch_stats"],
                rngs={"dropout": jax.random.fold_in(key, step)},
            )
            return loss_fn(out, y), (out, updates.get("batch_stats", {}))

        (loss, (out, batch_stats)), grads = jax.value_and_grad(compute, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return (params, batch_stats, opt_state, step + 1), accumulate(metrics, loss, out, y)

    @functools.partial(jax.jit, donate_argnums=(1,))
    def eval_step(state, metrics, batch):
        params, batch_stats = state[0], state[1]
        out = apply(params, batch_stats, batch[0])
        return accumulate(metrics, loss_fn(out, batch[1]), out, batch[1])

    box: dict[str, Any] = {"s": state, "m": zeros()}

    def call() -> None:
        box["s"], box["m"] = train_step(box["s"], box["m"], data)

    ebox: dict[str, Any] = {"s": jax.tree_util.tree_map(jnp.copy, state), "m": zeros()}

    def eval_call() -> None:
        ebox["m"] = eval_step(ebox["s"], ebox["m"], data)

    params = _count(state[0])
    return (
        [Contender("flax", call, functools.partial(_block, box), batch)],
        [Contender("flax", eval_call, functools.partial(_block, ebox), batch)],
        params,
    )


# ----------------------------------------------------------------------------- torch contenders


def torch_contenders(
    spec: Spec, batch: int, compile: bool, precision: str = "fp32"
) -> tuple[list[Contender], list[Contender], int]:
    """torch eager (and torch.compile) train contenders and an eager eval contender.

    On CUDA when torch sees a GPU, else CPU. ``precision='bf16'``: autocast to bfloat16
    and, for image models, channels_last memory format (torch's fast mixed-precision
    recipe)."""
    import contextlib

    import torch

    from jaxnn.compat import torch_models

    device = "cuda" if torch.cuda.is_available() else "cpu"
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    bf16 = precision == "bf16"
    layout = torch.channels_last if bf16 and len(spec.input_shape) == 3 else None

    def autocast() -> Any:
        if not bf16:
            return contextlib.nullcontext()
        return torch.autocast(device, dtype=torch.bfloat16)

    torch.manual_seed(0)
    x, y = (torch.from_numpy(a).to(device) for a in _data(spec, batch))
    if layout is not None:
        x = x.contiguous(memory_format=layout)
    if spec.task == "classification":
        y = y.long()  # torch's CrossEntropyLoss wants int64 class indices
    crit = torch.nn.CrossEntropyLoss() if spec.task == "classification" else torch.nn.MSELoss()

    def build() -> torch.nn.Module:
        model = getattr(torch_models, spec.name)(**(spec.kwargs or {})).to(device)
        return model if layout is None else model.to(memory_format=layout)

    def make(compiled: bool) -> tuple[torch.nn.Module, Callable[[], None]]:
        model = build()
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
        fwd = torch.compile(model) if compiled else model

        def call() -> None:
            opt.zero_grad()
            with autocast():
                loss = crit(fwd(x).float(), y)
            loss.backward()
            opt.step()

        return model, call

    model, call = make(False)
    train = [Contender("torch", call, sync, batch)]
    if compile:
        train.append(Contender("torch_compile", make(True)[1], sync, batch))
    eval_model = build().eval()

    def eval_call() -> None:
        with torch.inference_mode(), autocast():
            out = eval_model(x).float()
            crit(out, y)
            if spec.task == "classification":
                (out.argmax(1) == y).sum()

    params = sum(p.numel() for p in model.parameters())
    return train, [Contender("torch", eval_call, sync, batch)], params


# ----------------------------------------------------------------------------- train suite


TRAIN_RATIOS = {
    "jaxnn/flax": ("jaxnn", "flax"),
    "jaxnn/torch": ("jaxnn", "torch"),
    "jaxnn/torch_compile": ("jaxnn", "torch_compile"),
    "jaxnn_fused/torch": ("fused", "torch"),
}


def train_suite(
    models: list[str],
    batches: dict[str, list[int]],
    repeats: int,
    compile: bool,
    partial: Path | None = None,
    precision: str = "fp32",
) -> list[dict[str, Any]]:
    """Train and eval throughput rows, one per (model, batch size); each row is also
    written to ``partial`` (JSON) as soon as it is measured."""
    rows = []
    for name in models:
        spec = SPECS[name]
        for batch in batches[name]:
            jt, je, jp = jaxnn_contenders(spec, batch, precision)
            ft, fe, fp = flax_contenders(spec, batch, precision)
            # torch.compile costs 10-30 s per model here: only at the larger batch size
            with_compile = compile and batch == max(batches[name])
            tt, te, tp = torch_contenders(spec, batch, with_compile, precision)
            if not jp == fp == tp:
                raise AssertionError(
                    f"{name}: parameter counts differ: jaxnn {jp}, flax {fp}, torch {tp}"
                )
            started = time.perf_counter()
            train = measure(jt + ft + tt, repeats=repeats)
            evals = measure(je + fe + te, repeats=repeats)
            train["fused"] = train.pop("jaxnn_fused")
            row = {
                "model": name,
                "batch": batch,
                "precision": precision,
                "params": jp,
                "fused_k": fused_steps(spec),
                "train": {k: asdict(v) for k, v in train.items()},
                "eval": {k: asdict(v) for k, v in evals.items()},
                "ratios": {
                    k: ratio(train.get(a), train.get(b)) for k, (a, b) in TRAIN_RATIOS.items()
                },
                "eval_ratios": {
                    "jaxnn/flax": ratio(evals.get("jaxnn"), evals.get("flax")),
                    "jaxnn/torch": ratio(evals.get("jaxnn"), evals.get("torch")),
                },
                "seconds": time.perf_counter() - started,
            }
            if "torch_compile" not in train:
                row["ratios"].pop("jaxnn/torch_compile")
            rows.append(row)
            print(_train_line(row), file=sys.stderr, flush=True)
            if partial is not None:
                partial.write_text(json.dumps(rows, indent=1))
    return rows


def _fmt(v: float | None, digits: int = 2) -> str:
    return "n/a" if v is None else f"{v:,.{digits}f}"


def _eps(r: dict[str, Any] | None) -> str:
    if r is None:
        return "-"
    return "n/a" if r["examples_per_s"] is None else f"{r['examples_per_s']:,.0f}"


def _train_line(row: dict[str, Any]) -> str:
    return f"{row['model']} b{row['batch']}: " + ", ".join(
        f"{k} {_fmt(v)}" for k, v in row["ratios"].items()
    )


def train_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: throughputs (examples/s), ratios (>1: jaxnn faster), first-call seconds."""
    head = (
        "| model | batch | jaxnn | jaxnn K-fused | flax | torch | torch.compile "
        "| jaxnn/flax | jaxnn/torch | jaxnn/compile | fused/torch "
        "| eval jaxnn | eval flax | eval torch | eval jaxnn/flax | eval jaxnn/torch "
        "| 1st call s (jaxnn/flax/compile) |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        t, e, q, eq = r["train"], r["eval"], r["ratios"], r["eval_ratios"]
        first = "/".join(
            _fmt((t.get(k) or {}).get("first_call_s"), 1)
            for k in ("jaxnn", "flax", "torch_compile")
        )
        lines.append(
            f"| {r['model']} | {r['batch']} | {_eps(t.get('jaxnn'))} "
            f"| {_eps(t.get('fused'))} (K={r['fused_k']}) | {_eps(t.get('flax'))} "
            f"| {_eps(t.get('torch'))} | {_eps(t.get('torch_compile'))} "
            f"| {_fmt(q.get('jaxnn/flax'))} | {_fmt(q.get('jaxnn/torch'))} "
            f"| {_fmt(q.get('jaxnn/torch_compile'))} | {_fmt(q.get('jaxnn_fused/torch'))} "
            f"| {_eps(e.get('jaxnn'))} | {_eps(e.get('flax'))} | {_eps(e.get('torch'))} "
            f"| {_fmt(eq['jaxnn/flax'])} | {_fmt(eq['jaxnn/torch'])} | {first} |"
        )
    errors = [
        f"- {r['model']} b{r['batch']} {k}: {v['error']}"
        for r in rows
        for k, v in r["train"].items()
        if v.get("error")
    ]
    return "\n".join(lines + (["", "Failures:", *errors] if errors else []))


# ----------------------------------------------------------------------------- loader suite


def _loader_rate(loader: Any, min_s: float = 1.0) -> float:
    examples, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_s:
        for xb, _ in loader:
            examples += len(xb)
    return examples / (time.perf_counter() - start)


def _source_rate(source: Any, min_s: float = 1.0) -> float:
    examples, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_s:
        for i in range(min(len(source), 256)):
            source[i]
        examples += min(len(source), 256)
    return examples / (time.perf_counter() - start)


def loader_suite(repeats: int) -> dict[str, Any]:
    """DataLoader examples/s against a jaxnn SimpleCNN train step's examples/s."""
    import tensorflow_datasets as tfds

    from jaxnn.data import DataLoader, digits, tfds_dataset

    step = measure(jaxnn_contenders(SPECS["SimpleCNN"], 64)[0][:1], repeats=repeats)["jaxnn"]
    out: dict[str, Any] = {"step_examples_per_s": step.examples_per_s, "loaders": {}}
    out["loaders"]["digits b64 shuffled"] = _loader_rate(
        DataLoader(digits("train"), batch_size=64, shuffle=True)
    )
    with tfds.testing.mock_data(num_examples=1024, policy=tfds.testing.MockPolicy.USE_CODE):
        # the ceiling: the mock source alone, which builds a random record on every read
        source = tfds_dataset("cifar10", "train").source
        out["loaders"]["tfds mock cifar10: the source alone (source[i], no loader)"] = _source_rate(
            source
        )
        for workers in (0, 2):
            loader = DataLoader(
                tfds_dataset("cifar10", "train"), batch_size=64, shuffle=True, num_workers=workers
            )
            out["loaders"][f"tfds mock cifar10 b64 shuffled, num_workers={workers}"] = _loader_rate(
                loader
            )
    out["ratios"] = {k: v / step.examples_per_s for k, v in out["loaders"].items()}
    return out


def loader_table(res: dict[str, Any]) -> str:
    lines = [
        f"jaxnn SimpleCNN train step consumes {res['step_examples_per_s']:,.0f} examples/s "
        "(batch 64, 1x32x32)",
        "",
        "| loader | examples/s | loader/step (target >= 5) |",
        "|---|---|---|",
    ]
    for k, v in res["loaders"].items():
        lines.append(f"| {k} | {v:,.0f} | {res['ratios'][k]:.1f} |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- convert suite

_CLI = "import sys; from jaxnn.compat.cli import main; sys.exit(main(sys.argv[1:]))"


def _run_measured(args: list[str]) -> tuple[float, float]:
    """Run ``python -c _CLI args`` in a subprocess; (seconds, peak RSS in MB)."""
    cmd = [sys.executable, "-c", _CLI, *args]
    timer = Path("/usr/bin/time")
    if timer.exists():
        cmd = [str(timer), "-v", *cmd]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"jaxnn-compat {' '.join(args)} failed: {proc.stderr[-2000:]}")
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    if match:
        return seconds, int(match.group(1)) / 1024
    import resource

    return seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def convert_suite() -> dict[str, Any]:
    """VGG16 .pth -> jaxnn checkpoint -> .pth, each a subprocess: seconds and peak RSS."""
    import torch

    from jaxnn.compat import torch_models

    with tempfile.TemporaryDirectory() as tmp:
        src, ckpt, back = Path(tmp, "vgg16.pth"), Path(tmp, "vgg16_ckpt"), Path(tmp, "back.pth")
        state_dict = torch_models.VGG16().state_dict()
        params = sum(t.numel() for t in state_dict.values())
        torch.save(state_dict, src)
        del state_dict
        size_mb = src.stat().st_size / 2**20
        res: dict[str, Any] = {"params": params, "file_mb": size_mb}
        for name, args in (
            ("pth -> jaxnn", ["convert", str(src), str(ckpt), "--model", "VGG16"]),
            ("jaxnn -> pth", ["convert", str(ckpt), str(back)]),
        ):
            seconds, rss = _run_measured(args)
            res[name] = {"seconds": seconds, "peak_rss_mb": rss, "rss_over_file": rss / size_mb}
    return res


def convert_table(res: dict[str, Any]) -> str:
    lines = [
        f"VGG16 state_dict: {res['params']:,} parameters, .pth {res['file_mb']:.0f} MB",
        "",
        "| direction | seconds | peak RSS MB | peak RSS / file size |",
        "|---|---|---|---|",
    ]
    for k in ("pth -> jaxnn", "jaxnn -> pth"):
        r = res[k]
        lines.append(
            f"| {k} | {r['seconds']:.1f} | {r['peak_rss_mb']:,.0f} | {r['rss_over_file']:.2f} |"
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- flags suite

FLAG_VARIANTS = {
    "default": "",
    "multi_thread_eigen=false": "--xla_cpu_multi_thread_eigen=false",
    "fast_math": "--xla_cpu_enable_fast_math=true",
    "onednn": "--xla_cpu_use_onednn=true",
    "xnnpack": "--xla_cpu_use_xnnpack=true",
}
FLAG_MODELS = ("LeNet", "NeuralNetwork")


def flags_suite(repeats: int) -> dict[str, Any]:
    """Each XLA flag variant in its own process: jaxnn vs flax vs torch eager ratios."""
    out: dict[str, Any] = {}
    for label, flags in FLAG_VARIANTS.items():
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ, XLA_FLAGS=flags)
            cmd = [sys.executable, "-m", "benchmarks", "--suites", "train", "--no-compile"]
            cmd += ["--models", ",".join(FLAG_MODELS), "--batch", "128", "--repeats", str(repeats)]
            cmd += ["--out", tmp]
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                out[label] = {"flags": flags, "error": proc.stderr.strip().splitlines()[-1:]}
            else:
                rows = json.loads(Path(tmp, "results.json").read_text())["train"]
                out[label] = {"flags": flags, "rows": rows}
        print(f"flags {label}: done", file=sys.stderr, flush=True)
    return out


def flags_table(res: dict[str, Any]) -> str:
    lines = [
        "| variant | model | batch | jaxnn ex/s | flax ex/s | torch ex/s | jaxnn/flax "
        "| jaxnn/torch | fused/torch |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, v in res.items():
        if "error" in v:
            lines.append(f"| {label} | error: {v['error']} |||||||")
            continue
        for r in v["rows"]:
            t, q = r["train"], r["ratios"]
            lines.append(
                f"| {label} | {r['model']} | {r['batch']} | {_eps(t['jaxnn'])} "
                f"| {_eps(t['flax'])} | {_eps(t['torch'])} | {_fmt(q['jaxnn/flax'])} "
                f"| {_fmt(q['jaxnn/torch'])} | {_fmt(q['jaxnn_fused/torch'])} |"
            )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main


def environment() -> dict[str, Any]:
    """Device and library versions for the record."""
    import flax
    import jax
    import torch

    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "date": datetime.date.today().isoformat(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "flax": flax.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "jax_backend": jax.default_backend(),
        "jax_devices": [d.device_kind for d in jax.devices()],
        "torch_device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
    }


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="2 small models, 1 batch size, no compile")
    p.add_argument("--models", help=f"comma-separated subset of {','.join(SPECS)}")
    p.add_argument("--suites", help=f"comma-separated subset of {','.join(SUITES)}")
    p.add_argument("--repeats", type=int, help="timed repeats per contender (default 5, quick 3)")
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    p.add_argument("--batch", type=int, help="use this one batch size for every model")
    p.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        default="fp32",
        help="bf16: mixed precision (jaxnn precision='bf16', the Flax twin cast the same way, "
        "torch autocast + channels_last)",
    )
    p.add_argument("--out", default="benchmarks/out", help="directory for results.json")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the suites; print markdown tables; write ``OUT/results.json``."""
    args = _parser().parse_args(argv)
    models = args.models.split(",") if args.models else list(QUICK_MODELS if args.quick else SPECS)
    unknown = [m for m in models if m not in SPECS]
    if unknown:
        raise SystemExit(f"unknown models {unknown}; choose from {list(SPECS)}")
    suites = args.suites.split(",") if args.suites else list(DEFAULT_SUITES)
    if args.quick:
        quick_suites = ("train", "loader", "vision", "sequence")
        suites = [s for s in suites if s in quick_suites] if args.suites else ["train"]
    repeats = args.repeats or (3 if args.quick else 5)
    batches = {
        m: [SPECS[m].batch_sizes[0]] if args.quick else list(SPECS[m].batch_sizes) for m in models
    }
    if args.batch:
        batches = {m: [args.batch] for m in models}
    compile = not (args.quick or args.no_compile)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results: dict[str, Any] = {"environment": environment(), "command": sys.argv, "suites": suites}
    tables = []
    if "train" in suites:
        results["train"] = train_suite(
            models, batches, repeats, compile, out / "train_rows.json", args.precision
        )
        tables.append(
            f"## Train / eval throughput (examples/s, {args.precision})\n\n"
            + train_table(results["train"])
        )
    if "loader" in suites:
        results["loader"] = loader_suite(repeats)
        tables.append("## Data loader\n\n" + loader_table(results["loader"]))
    if "convert" in suites:
        results["convert"] = convert_suite()
        tables.append("## Conversion\n\n" + convert_table(results["convert"]))
    if "flags" in suites:
        results["flags"] = flags_suite(repeats)
        tables.append("## XLA:CPU flags\n\n" + flags_table(results["flags"]))
    if "export" in suites:
        from benchmarks.export import export_suite, export_table

        results["export"] = export_suite(repeats)
        tables.append("## ONNX inference (examples/s)\n\n" + export_table(results["export"]))
    if "integrity" in suites:
        from benchmarks.integrity import integrity_suite, integrity_table

        model = args.models.split(",")[0] if args.models else "VGG16"
        results["integrity"] = integrity_suite(model, args.repeats or 3)
        tables.append("## Integrity checks\n\n" + integrity_table(results["integrity"]))
    if "vision" in suites:
        results["vision"] = vision.vision_suite(repeats, compile, quick=args.quick)
        tables.append(
            "## Vision train steps and convolutions\n\n" + vision.vision_table(results["vision"])
        )
    if "sequence" in suites:
        results["sequence"] = sequence_suite(repeats, compile, quick=args.quick)
        tables.append("## Sequence models\n\n" + sequence_table(results["sequence"]))
    results["seconds"] = time.perf_counter() - started
    (out / "results.json").write_text(json.dumps(results, indent=1))
    print("\n\n".join(tables))
    print(f"\n{results['seconds']:.0f} s; JSON in {out / 'results.json'}")
    return 0
