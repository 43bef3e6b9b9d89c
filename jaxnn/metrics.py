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
"""On-device metric sums: ``{'sums': float32 (len(SUMS),), 'counts': int32 (len(COUNTS),)}``."""

# Metric sums travel as two small vectors, not one scalar each: a dispatch-bound step
# (a small model on any backend) pays per buffer passed in and out (benchmarks/RESULTS.md).
SUMS = ("loss_sum", "squared_error")
"""The entries of ``metrics['sums']`` (float32), in order."""
COUNTS = ("correct", "count", "elements", "nonfinite_step")
"""The entries of ``metrics['counts']`` (int32, exact), in order; ``nonfinite_step`` is
the first step with a non-finite loss, -1 while there is none."""


def init_metrics() -> Metrics:
    """Empty on-device metric sums (read them with :func:`summarize`)."""
    counts = jnp.zeros(len(COUNTS), jnp.int32).at[COUNTS.index("nonfinite_step")].set(-1)
    return {"sums": jnp.zeros(len(SUMS), jnp.float32), "counts": counts}


def update_metrics(metrics: Metrics, loss, output, target, task: str, step) -> Metrics:
    """``metrics`` with one batch added (on the device; traced inside a step).

    Args:
        metrics: the sums so far (:func:`init_metrics`).
        loss: the batch's mean loss, a scalar; it counts once per example.
        output: the model's output for the batch, (N, C) logits or (N, *) predictions.
        target: (N,) class indices (classification) or values of ``output``'s size
            (regression).
        task: ``'classification'`` (counts correct argmax over dim 1) or
            ``'regression'`` (sums squared errors).
        step: the step number, recorded if the loss is not finite and none was before.
    """
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
    """The raw sums on the host, by name (:data:`SUMS` as floats, :data:`COUNTS` as ints).

    Args:
        metrics: the on-device sums.
    """
    host = jax.device_get(metrics)
    out = dict(zip(SUMS, (float(v) for v in host["sums"])))
    out.update(zip(COUNTS, (int(v) for v in host["counts"])))
    return out


def summarize(metrics: Metrics, task: str = "classification") -> dict[str, float]:
    """Read the sums from the device: mean ``loss`` and ``accuracy`` (classification)
    or ``mse`` (regression), and the example ``count``.

    Args:
        metrics: the on-device sums.
        task: ``'classification'`` or ``'regression'``, as they were updated with.
            Default: ``'classification'``.
    """
    host = host_metrics(metrics)
    count = host["count"]
    out = {"loss": host["loss_sum"] / max(count, 1), "count": count}
    if task == "classification":
        out["accuracy"] = host["correct"] / max(count, 1)
    else:
        out["mse"] = host["squared_error"] / max(host["elements"], 1)
    return out
