"""The compiled train and eval steps behind :mod:`jaxnn.train`: one optimizer step in
train mode (or K fused, or N accumulated micro-batches), an eval step, and mixed
precision. ``jaxnn.train`` re-exports :func:`make_train_step` and :func:`make_eval_step`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import optax

from jaxnn.metrics import Metrics, update_metrics

if TYPE_CHECKING:
    from jaxnn.parallel import DataParallel
    from jaxnn.train import TrainState

__all__ = [
    "PRECISIONS",
    "TASKS",
    "apply_in_precision",
    "check_task",
    "make_eval_step",
    "make_train_step",
]

Batch = tuple[Any, Any]
TASKS = ("classification", "regression")
"""The tasks a step computes metrics for: accuracy, or mean squared error."""


def check_task(task: str) -> None:
    """Raise ValueError unless ``task`` is one of :data:`TASKS`.

    Args:
        task: the task name to check.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")


# ----------------------------------------------------------------------------- steps


# Mixed precision: the compute dtype of each ``precision``. Parameters, optimizer state,
# batch statistics, the loss and the metrics stay float32; a step casts the float32
# parameters and inputs to the compute dtype for the forward pass (like torch.autocast,
# for every layer), so gradients arrive in float32 through the casts.
PRECISIONS = {"fp32": None, "bf16": jnp.bfloat16}
"""Each ``precision`` a step takes -> its compute dtype (None: float32 throughout)."""


def _check_precision(precision: str) -> Any:
    if precision not in PRECISIONS:
        raise ValueError(
            f"precision must be one of {tuple(PRECISIONS)}, got {precision!r} (float16 "
            "needs loss scaling, which jaxnn does not do)"
        )
    return PRECISIONS[precision]


def _to_compute(tree: Any, dtype: Any) -> Any:
    """Cast the float32 leaves of ``tree`` to ``dtype`` (None: unchanged)."""
    if dtype is None:
        return tree
    return jax.tree_util.tree_map(
        lambda a: a.astype(dtype) if getattr(a, "dtype", None) == jnp.float32 else a, tree
    )


def apply_in_precision(model, variables, x, dtype, **kwargs):
    """``model.apply`` in the compute dtype; float outputs come back as float32.

    Args:
        model: the module.
        variables: its variables; float32 ``params`` are cast to ``dtype``, the other
            collections are passed as they are.
        x: the input; its float32 leaves are cast to ``dtype``.
        dtype: the compute dtype (``PRECISIONS[precision]``); None applies the model
            unchanged.
        **kwargs: passed to ``model.apply`` (``mutable``, ``rngs``, ...); with
            ``mutable``, the updated collections keep the dtypes of ``variables``.
    """
    if dtype is None:
        return model.apply(variables, x, **kwargs)
    cast = {k: _to_compute(v, dtype) if k == "params" else v for k, v in variables.items()}
    out = model.apply(cast, _to_compute(x, dtype), **kwargs)
    if kwargs.get("mutable"):
        out, updates = out
        # running statistics keep their dtype (float32), whatever the compute dtype
        updates = jax.tree_util.tree_map(
            lambda new, old: new.astype(old.dtype),
            updates,
            {k: variables[k] for k in updates},
        )
        return _to_float32(out), updates
    return _to_float32(out)


def _to_float32(tree: Any) -> Any:
    return jax.tree_util.tree_map(
        lambda a: a.astype(jnp.float32) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree
    )


def _train_step_fn(model, loss_fn, optimizer, task, dtype=None, accumulation_steps=1):
    """One optimizer step in train mode: (state, metrics, (x, y)) -> (state, metrics)."""

    def backward(state, batch_stats, metrics, x, y, dropout_key):
        """Forward and backward of one (micro-)batch: grad of loss / accumulation_steps."""

        def compute_loss(params):
            variables = {"params": params, **state.constants}
            rngs = {"dropout": dropout_key}
            if batch_stats:
                variables["batch_stats"] = batch_stats
                output, updates = apply_in_precision(
                    model, variables, x, dtype, mutable=["batch_stats"], rngs=rngs
                )
                new_stats = updates["batch_stats"]
            else:
                output, new_stats = (
                    apply_in_precision(model, variables, x, dtype, rngs=rngs),
                    batch_stats,
                )
            loss = loss_fn(output, y)
            return loss / accumulation_steps, (loss, output, new_stats)  # exact for 1

        grads, (loss, output, new_stats) = jax.grad(compute_loss, has_aux=True)(state.params)
        return grads, new_stats, update_metrics(metrics, loss, output, y, task, state.step)

    def step(state: TrainState, metrics: Metrics, batch: Batch):
        x, y = batch
        key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
        if accumulation_steps == 1:
            grads, batch_stats, metrics = backward(state, state.batch_stats, metrics, x, y, key)
        else:  # torch: N backward() calls add up p.grad, then one step()

            def micro(carry, xy):
                total, batch_stats, metrics, i = carry
                micro_key = jax.random.fold_in(key, i)
                grads, batch_stats, metrics = backward(state, batch_stats, metrics, *xy, micro_key)
                return (jax.tree.map(jnp.add, total, grads), batch_stats, metrics, i + 1), None

            carry = (jax.tree.map(jnp.zeros_like, state.params), state.batch_stats, metrics, 0)
            (grads, batch_stats, metrics, _), _ = jax.lax.scan(micro, carry, (x, y))
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        new_state = state.replace(
            step=state.step + 1, params=params, batch_stats=batch_stats, opt_state=opt_state
        )
        return new_state, metrics

    return step


def make_train_step(
    model: Any,
    loss_fn: Callable[[jax.Array, jax.Array], jax.Array],
    optimizer: optax.GradientTransformation,
    *,
    task: str = "classification",
    steps_per_call: int = 1,
    unroll: bool | None = None,
    parallel: DataParallel | None = None,
    precision: str = "fp32",
    accumulation_steps: int = 1,
) -> Callable[[TrainState, Metrics, Batch], tuple[TrainState, Metrics]]:
    """A jitted ``(state, metrics, (x, y)) -> (state, metrics)`` train step.

    Args:
        model: the module; called in train mode (batch stats mutable, dropout rng).
        loss_fn: ``loss_fn(output, target) -> scalar`` (e.g. ``nn.CrossEntropyLoss()``).
        optimizer: the optax transformation the state was created with.
        task: 'classification' (accuracy from argmax over dim 1) or 'regression' (mse).
        steps_per_call: K > 1 fuses K steps into one dispatch; ``x`` and ``y`` then carry
            a leading K axis (K batches stacked).
        unroll: unroll the K fused steps instead of looping over them (``lax.scan``).
            Default (None): unroll on the CPU backend only. XLA:CPU runs convolutions
            inside a loop body on a slow path, while on accelerators the loop keeps
            compile time flat in K. On CPU, fusing pays only for dispatch-bound models
            (benchmarks/RESULTS.md has the measurements).
        parallel: a :class:`DataParallel` (or :class:`FullyShardedDataParallel`) to
            shard over devices (None: default placement, i.e. one device).
        precision: 'fp32' (default) or 'bf16': mixed precision, the forward and backward
            passes in bfloat16 with float32 parameters, optimizer state, batch statistics,
            loss and metrics (what ``torch.autocast(dtype=torch.bfloat16)`` gives torch
            users). Worth it on accelerators; XLA:CPU runs bfloat16 slower than float32.
        accumulation_steps: N > 1: ``x`` and ``y`` carry N micro-batches (a leading axis,
            inside the K axis) and the gradient is the sum of their ``loss / N``
            gradients, torch's ``(criterion(model(x_i), y_i) / N).backward()`` for each
            ``i`` then ``step()`` (fewer micro-batches are still divided by N); BatchNorm
            statistics and metrics are updated per micro-batch, as in torch.

    ``state`` and ``metrics`` are donated: keep using the returned ones.
    """
    check_task(task)
    dtype = _check_precision(precision)
    if steps_per_call < 1:
        raise ValueError(f"steps_per_call must be >= 1, got {steps_per_call}")
    if accumulation_steps < 1:
        raise ValueError(f"accumulation_steps must be >= 1, got {accumulation_steps}")
    one = _train_step_fn(model, loss_fn, optimizer, task, dtype, accumulation_steps)
    if unroll is None:
        unroll = jax.default_backend() == "cpu"
    if steps_per_call == 1:
        fn = one
    else:

        def fn(state, metrics, batch):
            def body(carry, b):
                return one(*carry, b), None

            (state, metrics), _ = jax.lax.scan(body, (state, metrics), batch, unroll=unroll)
            return state, metrics

    if parallel is None:
        return jax.jit(fn, donate_argnums=(0, 1))

    def placed(state, metrics, batch):  # the new state stays where the strategy keeps it
        state, metrics = fn(state, metrics, batch)
        metrics = jax.lax.with_sharding_constraint(metrics, parallel.replicated)
        return parallel.constrain(state), metrics

    return jax.jit(placed, donate_argnums=(0, 1))


def make_eval_step(
    model: Any,
    loss_fn: Callable[[jax.Array, jax.Array], jax.Array],
    *,
    task: str = "classification",
    precision: str = "fp32",
) -> Callable[[TrainState, Metrics, Batch], Metrics]:
    """A jitted ``(state, metrics, (x, y)) -> metrics`` step in eval mode (running
    statistics, no dropout). ``metrics`` is donated: keep using the returned one.

    Args:
        model: the module; called in eval mode.
        loss_fn: ``loss_fn(output, target) -> scalar`` (e.g. ``nn.CrossEntropyLoss()``).
        task: 'classification' (accuracy from argmax over dim 1) or 'regression' (mse).
            Default: 'classification'.
        precision: 'fp32' or 'bf16', as for :func:`make_train_step`. Default: 'fp32'.
    """
    check_task(task)
    dtype = _check_precision(precision)

    def fn(state: TrainState, metrics: Metrics, batch: Batch) -> Metrics:
        x, y = batch
        output = apply_in_precision(model, state.variables, x, dtype)
        return update_metrics(metrics, loss_fn(output, y), output, y, task, state.step)

    return jax.jit(fn, donate_argnums=(1,))
