"""Training metrics kept on the device: loss, accuracy / mse and a non-finite guard as a
few running sums, read only when asked (:func:`summarize`), so the host never waits on
the device between steps."""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = [
    "COUNTS",
    "SUMS",
    "Metrics",
    "host_metrics",
    "init_metrics",
    "summarize",
    "update_metrics",
]

Metrics = dict[str, jax.Array]

# Metric sums travel as two small vectors, not one scalar each: a dispatch-bound step
# (a small model on any backend) pays per buffer passed in and out (benchmarks/RESULTS.md).
SUMS = ("loss_sum", "squared_error")  # float32
COUNTS = ("correct", "count", "elements", "nonfinite_step")  # int32, exact


def init_metrics() -> Metrics:
    """Empty on-device metric sums (read them with :func:`summarize`)."""
    counts = jnp.zeros(len(COUNTS), jnp.int32).at[COUNTS.index("nonfinite_step")].set(-1)
    return {"sums": jnp.zeros(len(SUMS), jnp.float32), "counts": counts}


def update_metrics(metrics: Metrics, loss, output, target, task: str, step) -> Metrics:
    n = output.shape[0]
    loss_sum = loss.astype(jnp.float32) * n
    correct = squared_error = elements = jnp.zeros((), jnp.int32)
    if task == "classification":
        pred = jnp.argmax(output, axis=1)
        correct = jnp.sum(pred == target).astype(jnp.int32)
        squared_error = jnp.zeros((), jnp.float32)
    else:
        diff = output.astype(jnp.float32) - target.astype(jnp.float32).reshape(output.shape)
        squared_error = jnp.sum(jnp.square(diff))
        elements = jnp.asarray(diff.size, jnp.int32)
    first = metrics["counts"][COUNTS.index("nonfinite_step")]
    bad = jnp.where((first < 0) & ~jnp.isfinite(loss), step, first).astype(jnp.int32)
    sums = metrics["sums"] + jnp.stack([loss_sum, squared_error.astype(jnp.float32)])
    counts = metrics["counts"] + jnp.stack(
        [correct, jnp.asarray(n, jnp.int32), elements, jnp.zeros((), jnp.int32)]
    )
    counts = counts.at[COUNTS.index("nonfinite_step")].set(bad)
    return {"sums": sums, "counts": counts}


def host_metrics(metrics: Metrics) -> dict[str, float]:
    host = jax.device_get(metrics)
    out = dict(zip(SUMS, (float(v) for v in host["sums"])))
    out.update(zip(COUNTS, (int(v) for v in host["counts"])))
    return out


def summarize(metrics: Metrics, task: str = "classification") -> dict[str, float]:
    """Read the sums from the device: mean ``loss`` and ``accuracy`` (classification)
    or ``mse`` (regression), and the example ``count``."""
    host = host_metrics(metrics)
    count = host["count"]
    out = {"loss": host["loss_sum"] / max(count, 1), "count": count}
    if task == "classification":
        out["accuracy"] = host["correct"] / max(count, 1)
    else:
        out["mse"] = host["squared_error"] / max(host["elements"], 1)
    return out
