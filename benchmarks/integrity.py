"""What damage detection costs: save, load and convert with the integrity checks and
without them (the ``integrity`` suite of ``python -m benchmarks``).

Each measurement is its own process (``python -m benchmarks.integrity OP SRC DST``) that
times only the operation, not the imports, and reports seconds and peak RSS; the two
variants alternate, repeat after repeat, and each takes the median. "Without" turns the
checks off in that process only (:func:`without_checks`): the hashing at save, the file
and hash checks at load, the CRC-32 folded into the .pth reads. It is a baseline for this
measurement, never an option of jaxnn.

Operations, on the weights of ``model`` (VGG16 by default: 138M parameters, 528 MB):

* ``save``: ``jaxnn.save`` of the variables (zstd, as by default);
* ``load``: ``jaxnn.load`` of that checkpoint;
* ``pth -> jaxnn`` / ``jaxnn -> pth``: ``jaxnn-compat convert`` (``pipeline.convert``),
  each with its read-back.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["OPERATIONS", "integrity_suite", "integrity_table", "without_checks"]

OPERATIONS = ("save", "load", "pth -> jaxnn", "jaxnn -> pth")


def without_checks() -> None:
    """Turn jaxnn's integrity checks off in this process (the benchmark's baseline)."""
    from jaxnn import checkpoint
    from jaxnn.compat import archive

    class NoCRC:
        def __init__(self, f: Any, record: Any, start: int) -> None:
            pass

        def update(self, data: Any) -> None:
            pass

        def finish(self, done: int) -> None:
            pass

    checkpoint.describe = lambda leaves: {}
    checkpoint.inventory = lambda directory: {}
    checkpoint.check_inventory = lambda directory, recorded: None
    checkpoint.differences = lambda leaves, recorded: {}
    archive.RecordCRC = NoCRC


def _input_shape(model: str) -> tuple[int, ...]:
    from jaxnn import models

    if model == "VGG16":  # the smallest input VGG16 takes; the weights do not depend on it
        return (1, 3, 32, 32)
    return tuple(getattr(models, model)().example_input(1).shape)


def _run(op: str, model: str, src: Path, dst: Path) -> float:
    """Time ``op`` in this process; returns seconds."""
    from jaxnn import checkpoint
    from jaxnn.compat import pipeline

    if op == "save":
        variables = checkpoint.load(src)  # not timed
        start = time.perf_counter()
        checkpoint.save(variables, dst)
    elif op == "load":
        start = time.perf_counter()
        checkpoint.load(src)
    elif op == "pth -> jaxnn":
        start = time.perf_counter()
        pipeline.convert(src, dst, model=model, input_shape=_input_shape(model))
    else:
        start = time.perf_counter()
        pipeline.convert(src, dst)
    return time.perf_counter() - start


def _measure(op: str, model: str, src: Path, dst: Path, checked: bool) -> dict[str, float]:
    """One run of ``op`` in a fresh process: seconds and peak RSS (MB)."""
    cmd = [sys.executable, "-m", "benchmarks.integrity", op, model, str(src), str(dst)]
    proc = subprocess.run(
        [*cmd, *([] if checked else ["--without-checks"])],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[1],
    )
    if proc.returncode != 0:
        raise RuntimeError(f"integrity {op} failed: {proc.stderr[-2000:]}")
    if dst.is_dir():
        shutil.rmtree(dst)
    dst.unlink(missing_ok=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def integrity_suite(model: str = "VGG16", repeats: int = 3) -> dict[str, Any]:
    """Seconds and peak RSS of each operation with and without the checks (medians of
    ``repeats`` alternating runs), and the ratio checked / unchecked."""
    import torch

    from jaxnn.compat import pipeline, torch_models

    with tempfile.TemporaryDirectory() as tmp:
        pth, ckpt = Path(tmp, "model.pth"), Path(tmp, "ckpt")
        state_dict = getattr(torch_models, model)().state_dict()
        params = sum(t.numel() for t in state_dict.values())
        torch.save(state_dict, pth)
        del state_dict
        pipeline.convert(pth, ckpt, model=model, input_shape=_input_shape(model))
        sources = {"save": ckpt, "load": ckpt, "pth -> jaxnn": pth, "jaxnn -> pth": ckpt}
        targets = {
            "save": "saved",
            "load": "unused",
            "pth -> jaxnn": "out",
            "jaxnn -> pth": "o.pth",
        }
        res: dict[str, Any] = {"model": model, "params": params, "repeats": repeats}
        for op in OPERATIONS:
            runs: dict[bool, list[dict[str, float]]] = {True: [], False: []}
            for i in range(repeats):
                for checked in (True, False) if i % 2 == 0 else (False, True):
                    runs[checked].append(
                        _measure(op, model, sources[op], Path(tmp, targets[op]), checked)
                    )
            row = {}
            for checked, name in ((True, "checked"), (False, "unchecked")):
                row[name] = {
                    k: statistics.median(r[k] for r in runs[checked]) for k in runs[checked][0]
                }
            row["ratio"] = row["checked"]["seconds"] / row["unchecked"]["seconds"]
            res[op] = row
            print(f"integrity {op}: done", file=sys.stderr, flush=True)
    return res


def integrity_table(res: dict[str, Any]) -> str:
    lines = [
        f"{res['model']}: {res['params']:,} parameters; medians of {res['repeats']} "
        "alternating runs, each its own process (the operation timed, not the imports)",
        "",
        "| operation | checked s | unchecked s | checked / unchecked | peak RSS MB "
        "(checked / unchecked) |",
        "|---|---|---|---|---|",
    ]
    for op in OPERATIONS:
        r = res[op]
        c, u = r["checked"], r["unchecked"]
        lines.append(
            f"| {op} | {c['seconds']:.2f} | {u['seconds']:.2f} | {r['ratio']:.3f} "
            f"| {c['peak_rss_mb']:,.0f} / {u['peak_rss_mb']:,.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """One measured run (what :func:`integrity_suite` starts): prints JSON."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.integrity")
    p.add_argument("op", choices=OPERATIONS)
    p.add_argument("model")
    p.add_argument("src", type=Path)
    p.add_argument("dst", type=Path)
    p.add_argument("--without-checks", action="store_true")
    args = p.parse_args(argv)
    import orbax.checkpoint  # noqa: F401 -- imports are not what is measured
    import torch  # noqa: F401

    if args.without_checks:
        without_checks()
    seconds = _run(args.op, args.model, args.src, args.dst)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_rss_mb": rss}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
