"""torch.optim.swa_utils: weight averaging (SWA, EMA), SWALR and update_bn.

torch's ``AveragedModel`` deep-copies a module and averages its parameters in place.
In JAX the module holds no weights, so :class:`AveragedModel` is the averaging rule and
:class:`AveragedState` the averaged variables with torch's ``n_averaged``; updating is a
pure function that fits inside a jitted train step::

    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.999))
    averaged = ema.init(state.variables)
    ...  # every step:
    averaged = ema.update_parameters(averaged, state.variables)
    logits = ema.apply(averaged, x)                      # the averaged model

    swa_variables = update_bn(loader, model, averaged.variables)  # BatchNorm statistics

The averaging functions keep torch's signatures, except that ``multi_avg_fn`` returns
the new averages (lists of arrays) instead of updating them in place.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import linen

from jaxnn.core import norm
from jaxnn.core.lerp import lerp
from jaxnn.layers.batchnorm import BatchNorm1d, BatchNorm2d
from jaxnn.lr_scheduler import Schedule

__all__ = [
    "SWALR",
    "AveragedModel",
    "AveragedState",
    "get_ema_avg_fn",
    "get_ema_multi_avg_fn",
    "get_swa_avg_fn",
    "get_swa_multi_avg_fn",
    "update_bn",
]

AvgFn = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]
MultiAvgFn = Callable[[list[jax.Array], list[jax.Array], jax.Array], list[jax.Array]]

# the collections torch's use_buffers=True averages with the parameters (its buffers())
_BUFFER_COLLECTIONS = ("batch_stats", "buffers")


def _check_decay(decay: float) -> None:
    if decay < 0.0 or decay > 1.0:
        raise ValueError(
            f"Invalid decay value {decay} provided. Please provide a value in [0,1] range."
        )


def _floating(x: jax.Array) -> bool:
    return jnp.issubdtype(x.dtype, jnp.inexact)


def get_ema_avg_fn(decay: float = 0.999) -> AvgFn:
    """EMA of one array: ``decay * ema + (1 - decay) * current``, torch's ``get_ema_avg_fn``.

    Args:
        decay: the weight of the running average, in [0, 1]. Default: 0.999.
    """
    _check_decay(decay)

    def ema_update(ema: jax.Array, current: jax.Array, num_averaged: jax.Array) -> jax.Array:
        return decay * ema + (1 - decay) * current

    return ema_update


def get_swa_avg_fn() -> AvgFn:
    """Equal-weight average of one array: ``avg + (current - avg) / (n + 1)``."""

    def swa_update(avg: jax.Array, current: jax.Array, num_averaged: jax.Array) -> jax.Array:
        return avg + (current - avg) / (num_averaged + 1)

    return swa_update


def get_ema_multi_avg_fn(decay: float = 0.999) -> MultiAvgFn:
    """EMA of lists of arrays, torch's ``get_ema_multi_avg_fn``: ``lerp(ema, current,
    1 - decay)`` for floating arrays; returns the new list.

    Args:
        decay: the weight of the running average, in [0, 1]. Default: 0.999.
    """
    _check_decay(decay)

    def ema_update(ema: list, current: list, num_averaged: jax.Array) -> list:
        if ema and _floating(ema[0]):
            return [lerp(e, c, 1 - decay) for e, c in zip(ema, current, strict=True)]
        return [e * decay + c * (1 - decay) for e, c in zip(ema, current, strict=True)]

    return ema_update


def get_swa_multi_avg_fn() -> MultiAvgFn:
    """Equal-weight average of lists of arrays, torch's ``get_swa_multi_avg_fn``:
    ``lerp(avg, current, 1 / (n + 1))`` for floating arrays; returns the new list."""

    def swa_update(avg: list, current: list, num_averaged: jax.Array) -> list:
        if avg and _floating(avg[0]):
            weight = 1 / (num_averaged + 1)
            return [lerp(a, c, weight) for a, c in zip(avg, current, strict=True)]
        return [a + (c - a) / (num_averaged + 1) for a, c in zip(avg, current, strict=True)]

    return swa_update


class AveragedState(NamedTuple):
    """The state of an :class:`AveragedModel`.

    Attributes:
        variables: the averaged model's variables, structured as the model's.
        n_averaged: how many updates were averaged in, torch's ``n_averaged`` (int32).
    """

    variables: dict[str, Any]
    n_averaged: jax.Array


class AveragedModel:
    """Running averages of a model's variables for SWA and EMA, torch's ``AveragedModel``.

    Args:
        model: the module (used by :meth:`apply`).
        avg_fn: ``avg_fn(averaged, current, n_averaged) -> new`` for each array; None
            (and no ``multi_avg_fn``) is the equal-weight SWA average (torch's CPU rule).
        multi_avg_fn: the same on lists of arrays of one dtype, returning the new list
            (e.g. :func:`get_ema_multi_avg_fn`).
        use_buffers: also average the batch statistics and persistent buffers (torch's
            ``buffers()``); otherwise they are copied from the model at each update,
            as torch does.

    The first :meth:`update_parameters` copies the model's variables; later ones
    average. Integer statistics (``num_batches_tracked``) are averaged in floating point
    and truncated, as torch's ``copy_`` into a long tensor truncates.

    Example::

        >>> model = nn.Linear(3, 2)
        >>> variables = model.init(jax.random.key(0), jnp.ones((1, 3)))
        >>> swa = AveragedModel(model)
        >>> averaged = swa.update_parameters(swa.init(variables), variables)
    """

    def __init__(
        self,
        model: Any = None,
        avg_fn: AvgFn | None = None,
        multi_avg_fn: MultiAvgFn | None = None,
        use_buffers: bool = False,
    ) -> None:
        if avg_fn is not None and multi_avg_fn is not None:
            raise ValueError("Only one of avg_fn and multi_avg_fn should be provided")
        self.model = model
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def init(self, variables: Mapping[str, Any]) -> AveragedState:
        """A copy of ``variables`` with ``n_averaged = 0`` (torch's deep copy of the model)."""
        return AveragedState(jax.tree.map(jnp.array, dict(variables)), jnp.zeros((), jnp.int32))

    def _averaged_collections(self) -> tuple[str, ...]:
        return ("params", *_BUFFER_COLLECTIONS) if self.use_buffers else ("params",)

    def update_parameters(
        self, state: AveragedState, variables: Mapping[str, Any]
    ) -> AveragedState:
        """Average ``variables`` (the trained model's) into ``state``; jittable."""
        averaged = self._averaged_collections()
        n = state.n_averaged
        new = {}
        for name, collection in variables.items():
            if name not in averaged or name not in state.variables:
                new[name] = collection  # copied, as torch copies the buffers
                continue
            mixed = self._average(state.variables[name], collection, n)
            new[name] = jax.tree.map(
                lambda m, c: jnp.where(n == 0, c, m).astype(c.dtype), mixed, collection
            )
        return AveragedState(new, n + 1)

    def _average(self, avg: Any, current: Any, n: jax.Array) -> Any:
        if self.avg_fn is not None:
            return jax.tree.map(lambda a, c: self.avg_fn(a, c, n), avg, current)
        fn = self.multi_avg_fn
        if fn is None:  # torch's CPU default: the per-array SWA formula
            swa = get_swa_avg_fn()
            return jax.tree.map(lambda a, c: swa(a, c, n), avg, current)
        leaves, treedef = jax.tree.flatten(avg)
        current_leaves = jax.tree.leaves(current)
        out = list(leaves)
        # torch calls multi_avg_fn once per dtype group
        for dtype in dict.fromkeys(leaf.dtype for leaf in leaves):
            index = [i for i, leaf in enumerate(leaves) if leaf.dtype == dtype]
            group = fn([leaves[i] for i in index], [current_leaves[i] for i in index], n)
            for i, value in zip(index, group, strict=True):
                out[i] = value
        return jax.tree.unflatten(treedef, out)

    def apply(self, state: AveragedState, *args: Any, **kwargs: Any) -> Any:
        """The averaged model's output: ``model.apply(state.variables, *args, **kwargs)``."""
        if self.model is None:
            raise ValueError("AveragedModel.apply: this AveragedModel was built without a model")
        return self.model.apply(state.variables, *args, **kwargs)


# --------------------------------------------------------------------------- update_bn


def update_bn(
    loader: Iterable[Any], model: Any, variables: Mapping[str, Any], *, seed: int = 0
) -> dict[str, Any]:
    """Recompute the BatchNorm running statistics with one pass over ``loader``.

    torch's ``update_bn``: every BatchNorm layer's statistics are reset and replaced by
    the cumulative average (``momentum=None``) of the batch statistics over the
    loader, with the model in train mode (dropout active, keyed by ``seed``). Returns
    the updated variables; ``num_batches_tracked`` counts the batches.

    Args:
        loader: batches, each an array or a tuple/list whose first element is the input.
        model: the module.
        variables: its variables (e.g. ``AveragedState.variables``).
        seed: seeds the dropout masks of the train-mode passes.

    Raises:
        ValueError: the loader yields no batch (torch would leave the statistics reset).
    """
    if not variables.get("batch_stats"):
        return dict(variables)  # no BatchNorm: nothing to do, as in torch
    batches = iter(loader)
    first = next(batches, None)
    if first is None:
        raise ValueError("update_bn: the loader yielded no batch")

    def cumulative(count: jax.Array) -> Callable[..., Any]:
        """Makes every BatchNorm keep the cumulative average (torch's momentum=None)."""

        def interceptor(next_fun, args, kwargs, context):
            module = context.module
            if not (
                context.method_name == "__call__"
                and isinstance(module, (BatchNorm1d, BatchNorm2d))
                and module.track_running_stats
            ):
                return next_fun(*args, **kwargs)
            before = {k: module.get_variable("batch_stats", k) for k in ("mean", "var")}
            out = next_fun(*args, **kwargs)  # train mode: normalizes with the batch's statistics
            _, mean, var = norm.batch_norm(
                args[0],
                None,
                None,
                None,
                None,
                use_batch_stats=True,
                eps=module.eps,
                who="update_bn",
            )
            factor = 1.0 / count.astype(jnp.float32)
            for name, batch_value in (("mean", mean), ("var", var)):
                running = before[name]
                batch_value = batch_value.astype(running.dtype)
                average = (1 - factor) * running + factor * batch_value
                # the first batch's statistics replace the old ones (torch resets them)
                module.put_variable(
                    "batch_stats", name, jnp.where(count == 1, batch_value, average)
                )
            module.put_variable("batch_stats", "num_batches_tracked", count)
            return out

        return interceptor

    @jax.jit
    def step(variables, x, count):
        rngs = {"dropout": jax.random.fold_in(jax.random.key(seed), count)}
        with linen.intercept_methods(cumulative(count)):
            _, updates = model.apply(variables, x, mutable=["batch_stats"], rngs=rngs)
        return {**variables, "batch_stats": updates["batch_stats"]}

    variables = dict(variables)
    for count, batch in enumerate((first, *batches), start=1):
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        variables = step(variables, x, jnp.asarray(count, jnp.int32))
    return variables


# --------------------------------------------------------------------------- SWALR


def SWALR(
    lr: float,
    swa_lr: float,
    anneal_epochs: int = 10,
    anneal_strategy: str = "cos",
    *,
    steps_per_epoch: int = 1,
) -> Schedule:
    """Anneals the learning rate from ``lr`` to ``swa_lr``, then holds it (torch's SWALR).

    ``swa_lr * a + lr * (1 - a)`` with ``a`` going from 0 to 1 over ``anneal_epochs``
    epochs, cosine (``(1 - cos(pi * t)) / 2``) or linear. In a
    :func:`jaxnn.lr_scheduler.SequentialLR` it starts from the learning rate the
    previous scheduler reached, as torch's SWALR reads the optimizer's current lr.

    Args:
        lr: the learning rate to anneal from (torch takes the optimizer's).
        swa_lr: the learning rate to anneal to.
        anneal_epochs: epochs of annealing (0: ``swa_lr`` at once).
        anneal_strategy: ``'cos'`` or ``'linear'``.
        steps_per_epoch: optimizer steps per torch ``scheduler.step()``.

    Example::

        >>> schedule = lr_scheduler.SequentialLR(
        ...     [lr_scheduler.CosineAnnealingLR(0.1, 100), SWALR(0.1, 0.05)], [75]
        ... )
    """
    if anneal_strategy not in ("cos", "linear"):
        raise ValueError(
            f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}"
        )
    if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
        raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
    if not (isinstance(steps_per_epoch, int) and steps_per_epoch >= 1):
        raise ValueError(f"SWALR: steps_per_epoch must be a positive int, got {steps_per_epoch}")

    def value(xp: Any, count: Any) -> Any:
        epoch = xp.asarray(count) // steps_per_epoch
        if anneal_epochs == 0:
            epoch = xp.maximum(epoch, 1)
        t = xp.clip(epoch / max(1, anneal_epochs), 0, 1)
        alpha = t if anneal_strategy == "linear" else xp.sin(t * (math.pi / 2)) ** 2
        return swa_lr * alpha + lr * (1 - alpha)

    def restart(new_lr: float) -> Schedule:
        return SWALR(
            new_lr, swa_lr, anneal_epochs, anneal_strategy, steps_per_epoch=steps_per_epoch
        )

    return Schedule("SWALR", lr, value, restart=restart)
