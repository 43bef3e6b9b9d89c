"""``python -m benchmarks.multiprocess``: training throughput as 2 processes against 1.

Three ways of running the same data-parallel training step (SGD with momentum, each step fed
from host numpy as ``fit`` feeds it, global batch B):

    1 process        one device, no parallelism (the baseline)
    1 process x 2    DataParallel over 2 simulated devices in one process
                     (XLA_FLAGS=--xla_force_host_platform_device_count=2)
    2 processes      DataParallel over 2 processes of one device each, started by
                     ``python -m jaxnn.distributed.launch --nproc 2`` (gloo over loopback)

Each is a fresh subprocess (its compile excluded from the timing); the configurations take
turns, repeat after repeat, so that noise from a shared machine hits all of them alike, and
the median repeat is reported. On a CPU the devices share the machine's cores: the point of
the 2-process run is correctness, and this measures what it costs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.run import SPECS, environment

CONFIGS = {  # name: (processes, devices per process)
    "1 process": (1, 1),
    "1 process x 2": (1, 2),
    "2 processes": (2, 1),
}
BASELINE = "1 process"
DEFAULT_MODELS = ("SimpleCNN", "NeuralNetwork")


def measure(model_name: str, batch: int, steps: int, warmup: int = 3) -> dict[str, Any]:
    """Examples/s of ``steps`` train steps of ``model_name`` at global batch ``batch`` on
    every visible device of every process (DataParallel when there are several)."""
    import jax

    import jaxnn as nn
    from jaxnn import models, optim
    from jaxnn.train import DataParallel, TrainState, init_metrics, make_train_step

    spec = SPECS[model_name]
    processes = jax.process_count()
    if batch % jax.device_count():
        raise ValueError(f"batch {batch} is not divisible by {jax.device_count()} devices")
    rng = np.random.default_rng(jax.process_index())  # this process's shard of each batch
    local = batch // processes
    x = rng.standard_normal((local, *spec.input_shape), dtype=np.float32)
    if spec.task == "regression":
        y = rng.standard_normal((local, spec.outputs), dtype=np.float32)
    else:
        y = rng.integers(0, spec.outputs, local).astype(np.int32)
    model = getattr(models, model_name)(**(spec.kwargs or {}))
    loss = nn.CrossEntropyLoss() if spec.task == "classification" else nn.MSELoss()
    opt = optim.SGD(0.01, momentum=0.9)
    parallel = DataParallel() if jax.device_count() > 1 else None
    state = TrainState.create(model, opt, x, seed=0)
    if parallel is not None:
        state = parallel.place(state)
    step = make_train_step(model, loss, opt, task=spec.task, parallel=parallel)

    def place(b):
        return jax.device_put(b) if parallel is None else parallel.shard_batch(b)

    metrics = init_metrics()
    started = time.perf_counter()
    for _ in range(warmup):
        state, metrics = step(state, metrics, place((x, y)))
    jax.block_until_ready(state)
    first_s = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(steps):
        state, metrics = step(state, metrics, place((x, y)))
    jax.block_until_ready((state, metrics))
    seconds = time.perf_counter() - started
    return {
        "model": model_name,
        "batch": batch,
        "steps": steps,
        "processes": processes,
        "devices": jax.device_count(),
        "examples_per_s": batch * steps / seconds,
        "warmup_s": first_s,
    }


def run_config(config: str, model: str, batch: int, steps: int, timeout: float) -> dict:
    """One fresh run of ``config``; its process 0's measurement."""
    processes, devices = CONFIGS[config]
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAXNN_")}
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    worker = ["-m", "benchmarks.multiprocess", "--worker", model, str(batch), str(steps)]
    if processes == 1:
        command = [sys.executable, *worker]
    else:
        launch = [sys.executable, "-m", "jaxnn.distributed.launch", "--nproc", str(processes)]
        command = [*launch, *worker]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode:
        raise RuntimeError(f"{config} {model} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    lines = [line.removeprefix("[0] ") for line in proc.stdout.splitlines()]
    return json.loads([line for line in lines if line.startswith("{")][-1])


def suite(models: list[str], batch: int, steps: int, repeats: int) -> list[dict[str, Any]]:
    rows = []
    for model in models:
        runs: dict[str, list[dict]] = {config: [] for config in CONFIGS}
        for i in range(repeats):
            order = list(CONFIGS)[i % len(CONFIGS) :] + list(CONFIGS)[: i % len(CONFIGS)]
            for config in order:
                runs[config].append(run_config(config, model, batch, steps, timeout=600))
        rate = {c: statistics.median(r["examples_per_s"] for r in runs[c]) for c in CONFIGS}
        rows.append(
            {
                "model": model,
                "batch": batch,
                "examples_per_s": rate,
                "ratio": {c: rate[c] / rate[BASELINE] for c in CONFIGS},
                "runs": runs,
            }
        )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    configs = list(CONFIGS)
    head = "| model | batch | " + " | ".join(f"{c} ex/s" for c in configs)
    head += " | " + " | ".join(f"{c} / {BASELINE}" for c in configs if c != BASELINE) + " |"
    lines = [head, "|" + "---|" * (2 + 2 * len(configs) - 1)]
    for row in rows:
        cells = [row["model"], str(row["batch"])]
        cells += [f"{row['examples_per_s'][c]:.0f}" for c in configs]
        cells += [f"{row['ratio'][c]:.2f}" for c in configs if c != BASELINE]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.multiprocess", description=__doc__.splitlines()[0]
    )
    p.add_argument("--models", help=f"comma-separated subset of {','.join(SPECS)}")
    p.add_argument("--batch", type=int, default=64, help="global batch (default 64)")
    p.add_argument("--steps", type=int, default=100, help="timed steps per run (default 100)")
    p.add_argument("--repeats", type=int, default=3, help="runs per configuration (default 3)")
    p.add_argument("--quick", action="store_true", help="SimpleCNN, batch 16, 5 steps, 1 run")
    p.add_argument("--out", default="benchmarks/out", help="directory for multiprocess.json")
    p.add_argument("--worker", nargs=3, metavar=("MODEL", "BATCH", "STEPS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:  # one measured run, in a process of its own (or one of the launcher's)
        from jaxnn import distributed

        distributed.initialize()
        model, batch, steps = args.worker
        result = measure(model, int(batch), int(steps))
        import jax

        if jax.process_index() == 0:
            print(json.dumps(result))
        return 0
    models = args.models.split(",") if args.models else list(DEFAULT_MODELS)
    batch, steps, repeats = args.batch, args.steps, args.repeats
    if args.quick:
        models, batch, steps, repeats = models[:1], 16, 5, 1
    started = time.perf_counter()
    rows = suite(models, batch, steps, repeats)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record = {"environment": environment(), "command": sys.argv, "rows": rows}
    (out / "multiprocess.json").write_text(json.dumps(record, indent=1))
    print(table(rows))
    print(f"\n{time.perf_counter() - started:.0f} s; JSON in {out / 'multiprocess.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
