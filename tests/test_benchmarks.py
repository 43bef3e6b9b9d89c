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


def test_multiprocess_benchmark_measures_and_tabulates() -> None:
    """The worker of ``python -m benchmarks.multiprocess`` in this process (one device), and
    its table; the launched configurations are left to the full run (minutes)."""
    from benchmarks.multiprocess import CONFIGS, measure, table

    result = measure("NeuralNetwork", batch=8, steps=2, warmup=1)
    assert (result["model"], result["batch"], result["steps"]) == ("NeuralNetwork", 8, 2)
    assert (result["processes"], result["devices"]) == (1, 1)
    assert result["examples_per_s"] > 0 and result["warmup_s"] > 0
    rates = dict(zip(CONFIGS, (100.0, 80.0, 25.0)))
    row = {"model": "M", "batch": 8, "examples_per_s": rates}
    row["ratio"] = {c: r / 100.0 for c, r in rates.items()}
    assert table([row]).splitlines()[-1] == "| M | 8 | 100 | 80 | 25 | 0.80 | 0.25 |"
