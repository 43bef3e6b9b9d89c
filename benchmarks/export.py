"""The export suite: inference throughput of an exported ONNX model in onnxruntime beside
jaxnn's jitted eval forward and torch eager eval, in one process, interleaved."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import Contender, measure, ratio

__all__ = ["EXPORT_MODELS", "export_suite", "export_table"]

# model -> (constructor kwargs, per-example input shape, batch sizes)
EXPORT_MODELS: dict[str, tuple[dict[str, Any], tuple[int, ...], tuple[int, ...]]] = {
    "LeNet": ({}, (3, 32, 32), (1, 64)),
    "ResNet18": ({"num_classes": 10}, (3, 64, 64), (1, 16)),
}


def _contenders(name: str, batch: int, tmp: Path) -> list[Contender]:
    import jax
    import onnxruntime as ort
    import torch

    import jaxnn.onnx
    from jaxnn import models
    from jaxnn.compat import flax_to_torch, torch_models

    kwargs, shape, _ = EXPORT_MODELS[name]
    model = models.get_model(name, **kwargs)
    x = np.random.default_rng(0).standard_normal((batch, *shape)).astype(np.float32)
    variables = model.init(jax.random.key(0), x)
    path = jaxnn.onnx.export(model, variables, x, tmp / f"{name}.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x}

    forward = jax.jit(model.apply)
    device_x = jax.device_put(x)
    out: list[Any] = [None]

    def jaxnn_call() -> None:
        out[0] = forward(variables, device_x)

    twin = getattr(torch_models, name)(**kwargs).eval()
    twin.load_state_dict(flax_to_torch(variables))
    tx = torch.from_numpy(x)

    def torch_call() -> None:
        with torch.inference_mode():
            twin(tx)

    return [
        Contender("onnxruntime", lambda: session.run(None, feed), lambda: None, batch),
        Contender("jaxnn", jaxnn_call, lambda: jax.block_until_ready(out[0]), batch),
        Contender("torch", torch_call, lambda: None, batch),
    ]


def export_suite(repeats: int) -> list[dict[str, Any]]:
    """A row per model and batch size: examples/s of each contender and the ratios."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (_, _, batches) in EXPORT_MODELS.items():
            for batch in batches:
                results = measure(_contenders(name, batch, Path(tmp)), repeats=repeats)
                rows.append(
                    {
                        "model": name,
                        "batch": batch,
                        "examples_per_s": {k: r.examples_per_s for k, r in results.items()},
                        "ratios": {
                            "onnxruntime/jaxnn": ratio(results["onnxruntime"], results["jaxnn"]),
                            "onnxruntime/torch": ratio(results["onnxruntime"], results["torch"]),
                        },
                    }
                )
    return rows


def export_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| model | batch | onnxruntime | jaxnn eval | torch eval | ort/jaxnn | ort/torch |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        e, q = r["examples_per_s"], r["ratios"]
        lines.append(
            f"| {r['model']} | {r['batch']} | {e['onnxruntime']:,.0f} | {e['jaxnn']:,.0f} | "
            f"{e['torch']:,.0f} | {q['onnxruntime/jaxnn']:.2f} | {q['onnxruntime/torch']:.2f} |"
        )
    return "\n".join(lines)
