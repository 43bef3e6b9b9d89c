"""Smoke test of the benchmark harness: ``python -m benchmarks --quick`` end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quick_benchmark_reports_every_contender(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    rows = results["train"]
    assert {r["model"] for r in rows} == {"SimpleCNN", "NeuralNetwork"}
    for row in rows:
        for contender in ("jaxnn", "fused", "flax", "torch"):
            assert row["train"][contender]["examples_per_s"] > 0, (row["model"], contender)
        for name in ("jaxnn/flax", "jaxnn/torch", "jaxnn_fused/torch"):
            assert row["ratios"][name] > 0, (row["model"], name)
        for name in ("jaxnn/flax", "jaxnn/torch"):
            assert row["eval_ratios"][name] > 0, (row["model"], name)
    # conv nets fuse fewer steps on CPU, where fused steps are unrolled (compile time ~ K)
    conv_k = 2 if results["environment"]["jax_backend"] == "cpu" else 8
    assert {r["model"]: r["fused_k"] for r in rows} == {"SimpleCNN": conv_k, "NeuralNetwork": 8}
    assert "| SimpleCNN |" in proc.stdout
