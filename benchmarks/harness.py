"""Timing utilities: interleaved, warmed-up, median-of-repeats throughput.

A :class:`Contender` is one way of running the same work (a jaxnn step, a raw Flax
step, torch eager, ...). :func:`measure` times every contender in the same process,
round-robin over the repeats so that noise from a shared machine hits all of them
alike, and reports examples per second from the median repeat.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Contender", "Result", "measure", "ratio"]


@dataclass
class Contender:
    """One timed variant.

    Attributes:
        name: column name in the results ('jaxnn', 'flax', 'torch', ...).
        call: runs one unit of work (one step, or K fused steps); may be asynchronous.
        sync: waits until everything ``call`` queued has finished (``block_until_ready``).
        examples: examples processed by one ``call``.
    """

    name: str
    call: Callable[[], None]
    sync: Callable[[], None]
    examples: int


@dataclass
class Result:
    """Throughput of one contender (``None`` values: it failed, see ``error``)."""

    examples_per_s: float | None = None
    first_call_s: float | None = None
    calls_per_block: int = 0
    block_s: list[float] = field(default_factory=list)
    error: str | None = None


def _timed(c: Contender, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        c.call()
    c.sync()
    return time.perf_counter() - start


def measure(
    contenders: list[Contender],
    *,
    repeats: int = 5,
    block_s: float = 0.15,
    warmup: int = 1,
    budget_s: float = 2.0,
) -> dict[str, Result]:
    """Time ``contenders`` interleaved; returns a :class:`Result` per name.

    The first call (compilation included) is timed apart as ``first_call_s``; then
    ``warmup`` more calls are run untimed, and the number of calls per timed block is
    chosen so that one block lasts about ``block_s``. Each repeat times one block of
    every contender in turn, starting one contender later each repeat; throughput comes
    from the median block. A contender whose single call is slow takes part in fewer
    repeats (at least one), so that its timed blocks add up to about ``budget_s``.
    A contender whose call raises is reported with ``error`` and dropped.
    """
    results = {c.name: Result() for c in contenders}
    live: list[tuple[Contender, int, int]] = []
    for c in contenders:
        r = results[c.name]
        try:
            r.first_call_s = _timed(c, 1)
            one = _timed(c, max(warmup, 1)) / max(warmup, 1)
            r.calls_per_block = max(1, math.ceil(block_s / max(one, 1e-9)))
            fits = int(budget_s // (one * r.calls_per_block))
            live.append((c, r.calls_per_block, max(1, min(repeats, fits))))
        except Exception as e:  # report, never abort the whole suite
            r.error = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e) else ''}"
    for i in range(repeats):
        # rotate the order each repeat, so no contender always runs right after the same
        # one: with jaxnn's block always right after torch's, Classifier b128 jaxnn/flax
        # read 0.71 and 0.80; with Flax's there instead, 0.95 and 1.04 (2 shared cores)
        shift = i % max(len(live), 1)
        for c, calls, runs in live[shift:] + live[:shift]:
            if i < runs:
                results[c.name].block_s.append(_timed(c, calls))
    for c, calls, _ in live:
        r = results[c.name]
        r.examples_per_s = c.examples * calls / statistics.median(r.block_s)
    return results


def ratio(a: Result | None, b: Result | None) -> float | None:
    """Throughput ratio a/b (>1: a is faster), or None when either is missing."""
    if a is None or b is None or not a.examples_per_s or not b.examples_per_s:
        return None
    return a.examples_per_s / b.examples_per_s
