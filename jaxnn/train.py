"""Training: a TrainState, compiled train/eval steps, data parallelism, and ``fit``.

The torch loop ::

    for x, y in loader:
        optimizer.zero_grad(); loss = criterion(model(x), y); loss.backward(); optimizer.step()

becomes ::

    state = TrainState.create(model, optimizer, x0, seed=0)
    step = make_train_step(model, criterion, optimizer)
    metrics = init_metrics()
    for x, y in loader:
        state, metrics = step(state, metrics, (x, y))
    print(summarize(metrics))           # the only host sync

Train mode lives inside the train step (BatchNorm batch statistics updated, a fresh
dropout key per step), eval mode inside the eval step. Steps are jitted once, donate
their state, and keep metrics as on-device sums that are read only when you ask
(``summarize``), so the host never waits on the device between steps.
``steps_per_call=K`` fuses K steps into one dispatch with ``lax.scan`` (the batch then
has a leading K axis); the result equals K single steps.

Data parallel: ``DataParallel()`` puts the state on every visible device (replicated)
and splits each batch over them along the batch axis (``jax.sharding``); XLA inserts
the gradient all-reduce, and BatchNorm's batch statistics are global, so results
equal one device's up to float summation order. ``FullyShardedDataParallel()`` shards
the parameters and optimizer state over the devices instead. Several processes: call
``jaxnn.distributed.initialize()`` first in each; ``jax.devices()`` then spans all of
them, and each feeds its own slice of the global batch (a DataLoader with
``num_shards``; see ``DataParallel.shard_batch``).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnn.metrics import Metrics, host_metrics, init_metrics, summarize
from jaxnn.parallel import DataParallel, FullyShardedDataParallel
from jaxnn.steps import Batch, check_task, make_eval_step, make_train_step
from jaxnn.tensorboard import SummaryWriter

__all__ = [
    "DataParallel",
    "FullyShardedDataParallel",
    "SummaryWriter",
    "TrainState",
    "evaluate",
    "fit",
    "init_metrics",
    "make_eval_step",
    "make_train_step",
    "summarize",
]


class TrainState(NamedTuple):
    """Everything a training run carries from step to step, as one pytree (so it jits,
    shards and checkpoints as a whole).

    A NamedTuple rather than a dataclass: jit flattens its arguments and rebuilds its
    results on every call, and a tuple is the cheapest node to do that for (the
    measurement is in benchmarks/RESULTS.md).

    Attributes:
        step: number of optimizer steps taken (int32 scalar).
        params: the ``params`` collection.
        batch_stats: the ``batch_stats`` collection (``{}`` for models without BatchNorm).
        opt_state: the optax optimizer state.
        rng: raw key data (uint32); step ``n``'s dropout key is ``fold_in(rng, n)``, so a
            resumed run draws exactly the keys an uninterrupted one would.
        constants: the model's other collections, which it reads but training never
            changes: persistent buffers (``buffers``) and tie declarations (``tied``).
            ``{}`` for most models.
    """

    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any
    rng: jax.Array
    constants: Any = {}  # noqa: RUF012 -- a NamedTuple default, never mutated

    @classmethod
    def create(
        cls,
        model: Any,
        optimizer: optax.GradientTransformation,
        sample_input: Any,
        *,
        seed: int = 0,
        variables: Mapping[str, Any] | None = None,
    ) -> TrainState:
        """Initialise the model (torch's default init) and the optimizer.

        Args:
            model: a jaxnn / linen module.
            optimizer: an optax transformation, e.g. ``jaxnn.optim.SGD(0.01, momentum=0.9)``.
            sample_input: one example batch (shapes matter, values do not).
            seed: seeds parameter init and the dropout key stream.
            variables: start from these variables (e.g. converted torch weights) instead;
                they are copied, so the train steps' donation leaves them usable.
        """
        key = jax.random.key(seed)
        init_key, dropout_key = jax.random.split(key)
        if variables is None:
            variables = jax.jit(model.init)(init_key, sample_input)
        else:  # the steps donate the state: copy, so the caller's arrays stay valid
            variables = jax.tree_util.tree_map(jnp.array, dict(variables))
        params = variables["params"]
        return cls(
            step=jnp.zeros((), jnp.int32),
            params=params,
            batch_stats=variables.get("batch_stats", {}),
            opt_state=optimizer.init(params),
            rng=jax.random.key_data(dropout_key),
            constants={k: v for k, v in variables.items() if k not in ("params", "batch_stats")},
        )

    def replace(self, **changes: Any) -> TrainState:
        """A copy with the given fields replaced (``state.replace(params=new)``)."""
        return self._replace(**changes)

    @property
    def variables(self) -> dict[str, Any]:
        """The model's variables (for ``model.apply`` or ``jaxnn.compat.flax_to_torch``)."""
        out = {"params": self.params, **self.constants}
        if self.batch_stats:
            out["batch_stats"] = self.batch_stats
        return out


# ----------------------------------------------------------------------------- fit


def _stack(batches: list[Batch]) -> Batch:
    return jax.tree_util.tree_map(lambda *xs: np.stack(xs), *batches)


def _groups(loader: Iterable[Batch], n: int) -> Iterable[tuple[Batch, bool]]:
    """(batch, full): the loader's batches, or n stacked ones (the last group may be short)."""
    batches = iter(loader)
    while group := list(itertools.islice(batches, n)):
        yield (group[0], True) if n == 1 else (_stack(group), len(group) == n)


def _place(batch, parallel: DataParallel | None, fused: bool, per_process: bool = False):
    if parallel is None:
        return jax.device_put(batch)
    return parallel.shard_batch(batch, fused, per_process=per_process)


def _raise_if_nonfinite(metrics: Metrics, epoch: int) -> None:
    bad = host_metrics(metrics)["nonfinite_step"]
    if bad >= 0:
        raise FloatingPointError(
            f"training stopped: the loss became NaN or infinite at step {bad} (epoch {epoch}); "
            "lower the learning rate or check the inputs"
        )


def evaluate(
    model,
    state: TrainState,
    loader: Iterable[Batch],
    loss_fn,
    *,
    task: str = "classification",
    eval_step=None,
    parallel: DataParallel | None = None,
    precision: str = "fp32",
) -> dict[str, float]:
    """Eval-mode loss and accuracy (or mse) over ``loader``: :func:`summarize`'s dict.

    Args:
        model: the module.
        state: the :class:`TrainState` to evaluate.
        loader: iterable of (x, y) numpy batches.
        loss_fn: ``loss_fn(output, target) -> scalar``, as for :func:`make_train_step`.
        task: 'classification' or 'regression'. Default: 'classification'.
        eval_step: a step from :func:`make_eval_step` to reuse (its compiled form is
            kept); ``task`` is still needed for the summary. Default: None (one is made).
        parallel: a :class:`DataParallel` to shard each batch over devices, or None for
            one device. Default: None.
        precision: 'fp32' or 'bf16', as for :func:`make_train_step`; ignored when
            ``eval_step`` is given. Default: 'fp32'.
    """
    eval_step = eval_step or make_eval_step(model, loss_fn, task=task, precision=precision)
    per_process = parallel is not None and parallel.loader_is_per_process(loader)
    metrics = init_metrics()
    for batch in loader:
        metrics = eval_step(state, metrics, _place(batch, parallel, False, per_process))
    return summarize(metrics, task)


def fit(
    model: Any,
    state: TrainState,
    train_loader: Any,
    *,
    loss_fn: Callable[[jax.Array, jax.Array], jax.Array],
    optimizer: optax.GradientTransformation,
    epochs: int,
    val_loader: Any = None,
    task: str = "classification",
    start_epoch: int = 0,
    steps_per_call: int = 1,
    parallel: DataParallel | None = None,
    log_every: int = 50,
    checkpoints: Any = None,
    best_metric: str | None = None,
    writer: Any = None,
    progress: bool = True,
    precision: str = "fp32",
    accumulation_steps: int = 1,
) -> tuple[TrainState, list[dict[str, float]]]:
    """Train for ``epochs`` epochs; returns the final state and one record per epoch.

    Args:
        model: as for :func:`make_train_step`.
        loss_fn: as for :func:`make_train_step`.
        optimizer: as for :func:`make_train_step`.
        state: the starting :class:`TrainState` (fresh, or restored for a resume).
        train_loader: iterable of (x, y) numpy batches; if it has ``set_epoch`` it is
            called with each epoch number, so a resumed run sees the same data order.
        epochs: the epoch to stop before (a run resumed at ``start_epoch`` 2 with
            ``epochs=4`` trains epochs 2 and 3).
        val_loader: evaluated after every epoch (eval mode).
        task: 'classification' or 'regression'.
        start_epoch: the first epoch to run (from a checkpoint).
        steps_per_call: fuse this many steps per dispatch (lax.scan); an epoch's
            leftover batches run one by one.
        parallel: a :class:`DataParallel` (or :class:`FullyShardedDataParallel`), or None
            for one device. With several processes, only process 0 shows progress.
        log_every: steps between progress-bar metric updates (each reads the device).
        checkpoints: a ``jaxnn.checkpoint.CheckpointManager``: saved after every epoch,
            with the epoch's metrics (it keeps the best by ``best_metric``).
        best_metric: e.g. 'val_accuracy' or 'val_loss' (lower is better for names
            containing 'loss' or 'mse').
        writer: a ``SummaryWriter``-like object (``add_scalar(tag, value, step)``),
            e.g. ``jaxnn.train.SummaryWriter(logdir)``.
        progress: show a tqdm progress bar.
        precision: 'fp32' or 'bf16' (mixed precision), as for :func:`make_train_step`.
        accumulation_steps: loader batches per optimizer step (:func:`make_train_step`); an
            epoch's last group may be shorter (torch's ``... or i + 1 == len(loader)``).

    Raises:
        FloatingPointError: the loss became NaN/inf; the message names the step.
    """
    from tqdm.auto import tqdm

    check_task(task)
    per_process = False
    if parallel is not None:
        state = parallel.place(state)
        per_process = parallel.loader_is_per_process(train_loader)
    if parallel is not None and steps_per_call > 1 and accumulation_steps > 1:
        raise NotImplementedError("fit: DataParallel with both steps_per_call and accumulation")
    progress = progress and jax.process_index() == 0
    common = dict(task=task, parallel=parallel, precision=precision)
    common["accumulation_steps"] = accumulation_steps
    grouped = accumulation_steps > 1  # batches carry a leading micro-batch axis
    single = make_train_step(model, loss_fn, optimizer, **common)
    fused = (
        single
        if steps_per_call == 1
        else make_train_step(model, loss_fn, optimizer, steps_per_call=steps_per_call, **common)
    )
    eval_step = make_eval_step(model, loss_fn, task=task, precision=precision)
    history = []
    for epoch in range(start_epoch, epochs):
        if hasattr(train_loader, "set_epoch"):
            train_loader.set_epoch(epoch)
        started = time.perf_counter()
        metrics = init_metrics()
        total = len(train_loader) if hasattr(train_loader, "__len__") else None
        if total is not None:  # optimizer steps
            total = -(-total // accumulation_steps)
        bar = tqdm(
            total=total,
            desc=f"epoch {epoch + 1}/{epochs}",
            disable=not progress,
            leave=False,
            dynamic_ncols=True,
        )
        pending: list[Batch] = []
        done = 0
        for batch, full in _groups(train_loader, accumulation_steps):
            if steps_per_call > 1:
                pending.append(batch)
                if len(pending) < steps_per_call or not full:
                    continue
                batch = _place(_stack(pending), parallel, True, per_process)
                state, metrics = fused(state, metrics, batch)
                n, pending = len(pending), []
            else:
                state, metrics = single(
                    state, metrics, _place(batch, parallel, grouped, per_process)
                )
                n = 1
            done += n
            bar.update(n)
            if done % log_every < n:
                _raise_if_nonfinite(metrics, epoch)
                s = summarize(metrics, task)
                bar.set_postfix({k: f"{v:.4f}" for k, v in s.items() if k != "count"})
        for batch in pending:  # fewer than steps_per_call left at the end of the epoch
            state, metrics = single(state, metrics, _place(batch, parallel, grouped, per_process))
            bar.update(1)
        bar.close()
        _raise_if_nonfinite(metrics, epoch)
        record = {
            "epoch": epoch + 1,
            **{f"train_{k}": v for k, v in summarize(metrics, task).items() if k != "count"},
        }
        if val_loader is not None:
            val = evaluate(
                model, state, val_loader, loss_fn, task=task, eval_step=eval_step, parallel=parallel
            )
            record.update({f"val_{k}": v for k, v in val.items() if k != "count"})
        record["seconds"] = time.perf_counter() - started
        history.append(record)
        if writer is not None:
            for key, value in record.items():
                if key != "epoch":
                    writer.add_scalar(key.replace("_", "/", 1), value, epoch + 1)
        if checkpoints is not None:
            checkpoints.save(epoch + 1, state, metrics=record, best_metric=best_metric)
        if progress:
            shown = ", ".join(f"{k} {v:.4f}" for k, v in record.items() if k != "epoch")
            tqdm.write(f"epoch {epoch + 1}/{epochs}: {shown}")
    if checkpoints is not None:
        checkpoints.wait()
    return state, history
