"""torch.optim.lr_scheduler's schedulers as optax schedules (``step -> lr``).

Per epoch or per step
---------------------
``StepLR``, ``MultiStepLR``, ``ExponentialLR``, ``CosineAnnealingLR`` and
``LinearLR`` return an optax schedule ``step -> lr``. torch steps these schedulers
once per *epoch* (``scheduler.step()`` after each epoch), while optax evaluates a
schedule at every *optimizer step*. Each therefore takes ``steps_per_epoch``
(default 1): the schedule's value at optimizer step ``s`` is torch's lr during
epoch ``s // steps_per_epoch``. With the default the schedule's argument *is*
torch's epoch index, which is also right if you step torch's scheduler per batch.
``OneCycleLR`` is stepped per optimizer step in torch too; its ``total_steps`` or
``epochs * steps_per_epoch`` count optimizer steps.

The schedules use torch's closed forms (``_get_closed_form_lr``). torch's default
``scheduler.step()`` applies the chained (recursive) form instead; the two are the
same function and agree to float64 rounding (relative difference below 1e-12 in
the tests, periodic continuation of ``CosineAnnealingLR`` past ``T_max`` included).
Called with a Python int, a schedule computes in float64 and returns a Python
float (torch's values); called with a JAX integer (as inside the optimizer) it
computes in float32, in forms without cancellation so that small learning rates
keep their relative precision: within a few 1e-7 (relative) of torch's value, and for the
decaying schedules about ``|ln(lr_t / lr)| * 6e-8`` (float32 ``exp``), e.g. 1.3e-6
after eleven decays by 0.1.

``ReduceLROnPlateau`` depends on a metric, so it is a host-side object, fed to the
optimizer through ``optax.inject_hyperparams`` (see its docstring).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np
import optax

__all__ = [
    "CosineAnnealingLR",
    "ExponentialLR",
    "LinearLR",
    "MultiStepLR",
    "OneCycleLR",
    "ReduceLROnPlateau",
    "StepLR",
]


def _xp(count: Any) -> Any:
    """numpy (float64, torch's precision) for Python ints, jax.numpy for JAX values."""
    return np if isinstance(count, (int, np.integer)) else jnp


def _result(value: Any, xp: Any) -> Any:
    return float(value) if xp is np else jnp.asarray(value)


def _power(xp: Any, base: float, exponent: Any) -> Any:
    """base ** exponent (integer exponent); exp-log keeps float32 accurate for bases near 1."""
    if base > 0:
        return xp.exp(exponent * math.log(base))
    return base**exponent


def _check_steps_per_epoch(name: str, steps_per_epoch: int) -> None:
    if not (isinstance(steps_per_epoch, int) and steps_per_epoch >= 1):
        raise ValueError(f"{name}: steps_per_epoch must be a positive int, got {steps_per_epoch}")


def StepLR(
    lr: float, step_size: int, gamma: float = 0.1, *, steps_per_epoch: int = 1
) -> optax.Schedule:
    """Decays the learning rate by ``gamma`` every ``step_size`` epochs.

    ``lr * gamma ** (epoch // step_size)`` with ``epoch = step // steps_per_epoch``.

    Args:
        lr: the initial learning rate (torch takes it from the optimizer).
        step_size: epochs between decays.
        gamma: multiplicative decay.
        steps_per_epoch: optimizer steps per torch ``scheduler.step()``.

    Example::

        >>> tx = SGD(lr=StepLR(0.1, step_size=30, steps_per_epoch=len(loader)), momentum=0.9)
    """
    _check_steps_per_epoch("StepLR", steps_per_epoch)
    if not (isinstance(step_size, int) and step_size >= 1):
        raise ValueError(f"StepLR: step_size must be a positive int, got {step_size}")

    def schedule(count: Any) -> Any:
        xp = _xp(count)
        epoch = xp.asarray(count) // steps_per_epoch
        return _result(lr * _power(xp, gamma, epoch // step_size), xp)

    return schedule


def MultiStepLR(
    lr: float, milestones: Sequence[int], gamma: float = 0.1, *, steps_per_epoch: int = 1
) -> optax.Schedule:
    """Decays the learning rate by ``gamma`` at each milestone epoch.

    ``lr * gamma ** (number of milestones <= epoch)``; a milestone listed twice
    decays twice, as in torch.

    Args:
        lr: the initial learning rate.
        milestones: epoch indices at which to decay.
        gamma: multiplicative decay.
        steps_per_epoch: optimizer steps per torch ``scheduler.step()``.

    Example::

        >>> schedule = MultiStepLR(0.1, milestones=[30, 80], gamma=0.1)
    """
    _check_steps_per_epoch("MultiStepLR", steps_per_epoch)
    marks = sorted(int(m) for m in milestones)

    def schedule(count: Any) -> Any:
        xp = _xp(count)
        epoch = xp.asarray(count) // steps_per_epoch
        passed = xp.sum(xp.asarray(marks, dtype=epoch.dtype) <= epoch) if marks else 0
        return _result(lr * _power(xp, gamma, passed), xp)

    return schedule


def ExponentialLR(lr: float, gamma: float, *, steps_per_epoch: int = 1) -> optax.Schedule:
    """Decays the learning rate by ``gamma`` every epoch: ``lr * gamma ** epoch``.

    Args:
        lr: the initial learning rate.
        gamma: multiplicative decay per epoch.
        steps_per_epoch: optimizer steps per torch ``scheduler.step()``.

    Example::

        >>> schedule = ExponentialLR(0.1, gamma=0.95)
    """
    _check_steps_per_epoch("ExponentialLR", steps_per_epoch)

    def schedule(count: Any) -> Any:
        xp = _xp(count)
        epoch = xp.asarray(count) // steps_per_epoch
        return _result(lr * _power(xp, gamma, epoch), xp)

    return schedule


def CosineAnnealingLR(
    lr: float, T_max: int, eta_min: float = 0.0, *, steps_per_epoch: int = 1
) -> optax.Schedule:
    """Cosine annealing from ``lr`` to ``eta_min`` over ``T_max`` epochs (torch's closed form).

    ``eta_min + (lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``: past ``T_max``
    it continues periodically (rises back to ``lr`` at ``2 * T_max``), as torch's does.
    torch's chained ``scheduler.step()`` form equals this to float64 rounding.

    Args:
        lr: the initial (maximum) learning rate.
        T_max: epochs of one half period.
        eta_min: the minimum learning rate.
        steps_per_epoch: optimizer steps per torch ``scheduler.step()``; for a
            per-step cosine give ``T_max`` in steps and leave this at 1.

    Example::

        >>> schedule = CosineAnnealingLR(0.1, T_max=200)
    """
    _check_steps_per_epoch("CosineAnnealingLR", steps_per_epoch)
    if not (isinstance(T_max, int) and T_max >= 1):
        raise ValueError(f"CosineAnnealingLR: T_max must be a positive int, got {T_max}")
    half_angle = math.pi / (2 * T_max)

    def schedule(count: Any) -> Any:
        xp = _xp(count)
        epoch = xp.asarray(count) // steps_per_epoch
        # (1 + cos(pi e / T)) / 2 == sin(pi |T - (e mod 2T)| / (2T))**2, without the
        # cancellation of 1 + cos near the minimum.
        distance = xp.abs(T_max - epoch % (2 * T_max))
        return _result(eta_min + (lr - eta_min) * xp.sin(distance * half_angle) ** 2, xp)

    return schedule


def LinearLR(
    lr: float,
    start_factor: float = 1.0 / 3,
    end_factor: float = 1.0,
    total_iters: int = 5,
    *,
    steps_per_epoch: int = 1,
) -> optax.Schedule:
    """Scales the learning rate linearly from ``start_factor`` to ``end_factor`` (warm-up).

    ``lr * (start + (end - start) * min(epoch, total_iters) / total_iters)``.

    Args:
        lr: the base learning rate.
        start_factor: the factor at epoch 0, in ``(0, 1]``.
        end_factor: the factor from ``total_iters`` on, in ``[0, 1]``.
        total_iters: epochs to go from one factor to the other.
        steps_per_epoch: optimizer steps per torch ``scheduler.step()``.

    Example::

        >>> warmup = LinearLR(1e-3, start_factor=0.1, total_iters=500)  # per step
    """
    _check_steps_per_epoch("LinearLR", steps_per_epoch)
    if start_factor > 1.0 or start_factor <= 0:
        raise ValueError(
            "Starting multiplicative factor expected to be greater than 0 and less or equal "
            f"to 1, got {start_factor}"
        )
    if end_factor > 1.0 or end_factor < 0:
        raise ValueError(
            f"Ending multiplicative factor expected to be between 0 and 1, got {end_factor}"
        )
    if not (isinstance(total_iters, int) and total_iters >= 1):
        raise ValueError(f"LinearLR: total_iters must be a positive int, got {total_iters}")

    def schedule(count: Any) -> Any:
        xp = _xp(count)
        epoch = xp.asarray(count) // steps_per_epoch
        done = xp.minimum(epoch, total_iters)
        factor = start_factor * ((total_iters - done) / total_iters) + end_factor * (
            done / total_iters
        )
        return _result(lr * factor, xp)

    return schedule


def OneCycleLR(
    max_lr: float,
    total_steps: int | None = None,
    epochs: int | None = None,
    steps_per_epoch: int | None = None,
    pct_start: float = 0.3,
    anneal_strategy: str = "cos",
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    three_phase: bool = False,
) -> optax.Schedule:
    """The 1cycle policy: warm up to ``max_lr``, then anneal far below the start.

    Per optimizer step, as in torch: from ``max_lr / div_factor`` up to ``max_lr``
    over the first ``pct_start`` of the steps, then down to
    ``max_lr / div_factor / final_div_factor`` (with ``three_phase``, back down to
    the start first, then to the minimum). torch raises past ``total_steps``; this
    schedule holds its value at ``total_steps``. Momentum is not cycled: torch's
    ``cycle_momentum`` has no counterpart here (equivalent to ``cycle_momentum=False``).

    Args:
        max_lr: the peak learning rate.
        total_steps: the number of optimizer steps in the cycle; or give
            ``epochs`` and ``steps_per_epoch``.
        epochs: with ``steps_per_epoch``, ``total_steps = epochs * steps_per_epoch``.
        steps_per_epoch: see ``epochs``.
        pct_start: fraction of the cycle spent increasing the learning rate.
        anneal_strategy: ``'cos'`` or ``'linear'``.
        div_factor: ``initial_lr = max_lr / div_factor``.
        final_div_factor: ``min_lr = initial_lr / final_div_factor``.
        three_phase: use the symmetric three-phase variant.

    Example::

        >>> schedule = OneCycleLR(0.1, epochs=10, steps_per_epoch=len(loader))
    """
    if total_steps is not None:
        if not (isinstance(total_steps, int) and total_steps > 0):
            raise ValueError(f"Expected positive integer total_steps, but got {total_steps}")
    elif epochs is not None and steps_per_epoch is not None:
        if not (isinstance(epochs, int) and epochs > 0):
            raise ValueError(f"Expected positive integer epochs, but got {epochs}")
        if not (isinstance(steps_per_epoch, int) and steps_per_epoch > 0):
            raise ValueError(
                f"Expected positive integer steps_per_epoch, but got {steps_per_epoch}"
            )
        total_steps = epochs * steps_per_epoch
    else:
        raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
    if not 0 <= pct_start <= 1:
        raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
    if anneal_strategy not in ("cos", "linear"):
        raise ValueError(
            f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}"
        )

    initial_lr = max_lr / div_factor
    min_lr = initial_lr / final_div_factor
    # (last step of the phase, lr at its start, lr at its end), torch's phase table
    if three_phase:
        phases = [
            (float(pct_start * total_steps) - 1, initial_lr, max_lr),
            (float(2 * pct_start * total_steps) - 2, max_lr, initial_lr),
            (float(total_steps - 1), initial_lr, min_lr),
        ]
    else:
        phases = [
            (float(pct_start * total_steps) - 1, initial_lr, max_lr),
            (float(total_steps - 1), max_lr, min_lr),
        ]
    starts = [0.0] + [end for end, _, _ in phases[:-1]]
    for start, (end, _, _) in zip(starts, phases, strict=True):
        if not end > start:
            raise ValueError(
                f"OneCycleLR: pct_start={pct_start} with total_steps={total_steps} leaves a "
                f"phase without steps (from step {start} to {end})"
            )

    def anneal(xp: Any, step: Any, start: float, end: float, lr0: float, lr1: float) -> Any:
        # torch's lr1 + (lr0 - lr1) * (1 + cos(pi * pct)) / 2 (or the linear mix) written
        # as lr0 * w0 + lr1 * w1 with both weights computed from exact step differences:
        # no cancellation, so float32 keeps its relative precision in every phase.
        done = (step - start) / (end - start)
        remaining = (end - step) / (end - start)
        if anneal_strategy == "linear":
            return lr0 * remaining + lr1 * done
        half_pi = math.pi / 2
        return lr0 * xp.sin(remaining * half_pi) ** 2 + lr1 * xp.sin(done * half_pi) ** 2

    def schedule(count: Any) -> Any:
        xp = _xp(count)
        step = xp.minimum(xp.asarray(count), total_steps)
        value = anneal(xp, step, starts[-1], *phases[-1])
        for start, (end, lr0, lr1) in reversed(list(zip(starts[:-1], phases[:-1], strict=True))):
            # the phase holds the integer steps <= end (end may be fractional)
            value = xp.where(step <= math.floor(end), anneal(xp, step, start, end, lr0, lr1), value)
        return _result(value, xp)

    return schedule


class ReduceLROnPlateau:
    """Reduces the learning rate when a metric has stopped improving (host-side).

    torch's ReduceLROnPlateau: call :meth:`step` with the metric once per epoch;
    after more than ``patience`` epochs without improvement the learning rate is
    multiplied by ``factor`` (not below ``min_lr``), followed by ``cooldown`` epochs
    in which bad epochs are not counted. The metric lives on the host, so this is a
    plain object, not a schedule; feed its ``lr`` to the optimizer with
    ``optax.inject_hyperparams``::

        tx = optax.inject_hyperparams(optim.SGD, static_args=("momentum",))(lr=0.1, momentum=0.9)
        opt_state = tx.init(params)
        plateau = optim.ReduceLROnPlateau(0.1, patience=5)
        for epoch in range(epochs):
            ...  # train steps with tx
            opt_state.hyperparams["lr"] = jnp.asarray(plateau.step(val_loss), jnp.float32)

    (Keep the dtype of ``hyperparams['lr']`` so a jitted step does not recompile.)

    Args:
        lr: the initial learning rate (the optimizer's).
        mode: ``'min'`` (lower metric is better) or ``'max'``.
        factor: multiplier of the learning rate on a reduction, ``< 1``.
        patience: bad epochs tolerated before a reduction.
        threshold: minimal change that counts as an improvement.
        threshold_mode: ``'rel'`` (relative to the best) or ``'abs'``.
        cooldown: epochs to wait after a reduction before counting bad epochs.
        min_lr: lower bound of the learning rate.
        eps: reductions smaller than this are skipped.
    """

    def __init__(
        self,
        lr: float,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
    ) -> None:
        if factor >= 1.0:
            raise ValueError("Factor should be < 1.0.")
        if mode not in ("min", "max"):
            raise ValueError(f"mode {mode!r} is unknown! Expected 'min' or 'max'")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(
                f"threshold mode {threshold_mode!r} is unknown! Expected 'rel' or 'abs'"
            )
        self.lr = float(lr)
        self.mode = mode
        self.factor = factor
        self.patience = patience
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.cooldown = cooldown
        self.min_lr = min_lr
        self.eps = eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0

    def _is_better(self, value: float) -> bool:
        if self.mode == "min" and self.threshold_mode == "rel":
            return value < self.best * (1.0 - self.threshold)
        if self.mode == "min":
            return value < self.best - self.threshold
        if self.threshold_mode == "rel":
            return value > self.best * (self.threshold + 1.0)
        return value > self.best + self.threshold

    def step(self, metric: float) -> float:
        """Record one epoch's metric and return the learning rate for the next epoch."""
        value = float(metric)
        self.last_epoch += 1
        if self._is_better(value):
            self.best = value
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            reduced = max(self.lr * self.factor, self.min_lr)
            if self.lr - reduced > self.eps:
                self.lr = reduced
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        return self.lr

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state, for checkpoints."""
        return dict(vars(self))

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a state from :meth:`state_dict`."""
        vars(self).update(state)

    def __repr__(self) -> str:
        return (
            f"ReduceLROnPlateau(lr={self.lr}, mode={self.mode!r}, factor={self.factor}, "
            f"patience={self.patience})"
        )
