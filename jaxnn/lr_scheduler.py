"""torch.optim.lr_scheduler's schedulers as optax schedules (``step -> lr``).

Every scheduler here returns a :class:`Schedule`: an optax schedule (pass it as any
optimizer's ``lr``) that also knows what torch's scheduler object knows -- its initial
learning rate, whether it is a multiplicative factor (for :func:`ChainedScheduler`), and
for :func:`CyclicLR` and :func:`OneCycleLR` the momentum schedule torch writes into the
optimizer (``cycle_momentum``, on by default as in torch).

Per epoch or per step
---------------------
torch steps most schedulers once per *epoch* (``scheduler.step()`` after each epoch),
while optax evaluates a schedule at every *optimizer step*. The per-epoch schedulers
therefore take ``steps_per_epoch`` (default 1): the schedule's value at optimizer step
``s`` is torch's lr during epoch ``s // steps_per_epoch``. With the default the
schedule's argument *is* torch's epoch index, which is also right if you step torch's
scheduler per batch. ``CyclicLR`` and ``OneCycleLR`` are stepped per optimizer step in
torch too and count optimizer steps.

Momentum
--------
torch's ``CyclicLR`` and ``OneCycleLR`` (``cycle_momentum=True``) overwrite the
optimizer's ``momentum`` (SGD, RMSprop) or ``betas[0]`` (Adam and its relatives) at
every step. Their :class:`Schedule` carries that schedule as ``.momentum``, and the
optimizers in :mod:`jaxnn.optim` use it in place of their own, as torch does::

    schedule = OneCycleLR(0.1, total_steps=1000)           # cycles momentum 0.95 -> 0.85
    tx = optim.SGD(lr=schedule, momentum=0.9)              # momentum follows the schedule
    tx = optim.SGD(lr=schedule, momentum=schedule.momentum)  # the same, spelled out

An optimizer without momentum (Adagrad, Adadelta, Rprop, ASGD) refuses such a schedule
with torch's error. Any optax schedule can be passed as a momentum (``SGD(momentum=...)``,
``Adam(betas=(schedule, 0.999))``); it is evaluated at the same step as the lr. Under
``optax.inject_hyperparams`` the lr reaches the optimizer as an array, so pass
``momentum=schedule.momentum`` there yourself.

Precision, jit and user functions
---------------------------------
The schedules use torch's closed forms (``_get_closed_form_lr``). torch's default
``scheduler.step()`` applies the chained (recursive) form instead; the two are the
same function and agree to float64 rounding (relative difference below 1e-12 in the
tests, periodic continuation of ``CosineAnnealingLR`` past ``T_max`` included).
Called with a Python int, a schedule computes in float64 and returns a Python float
(torch's values); called with a JAX integer (as inside the optimizer) it computes in
float32, in forms without cancellation so that small learning rates keep their
relative precision: within a few 1e-7 (relative) of torch's value, and for the
decaying schedules about ``|ln(lr_t / lr)| * 6e-8`` (float32 ``exp``), e.g. 1.3e-6
after eleven decays by 0.1.

User functions (``LambdaLR``'s ``lr_lambda``, ``CyclicLR``'s ``scale_fn``) work inside a
jitted step whatever they are written with: a function of ``jax.numpy`` operations is
traced into the step; one that needs a Python number (``min``, ``if``, ``math.cos``)
runs on the host through ``jax.pure_callback`` with the step's epoch as a Python int,
as torch calls it. ``MultiplicativeLR``'s running product always runs on the host
(memoized: one multiplication per new epoch, as torch's chained form).

``ReduceLROnPlateau`` depends on a metric, so it is a host-side object, fed to the
optimizer through ``optax.inject_hyperparams`` (see its docstring).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "ChainedScheduler",
    "ConstantLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "CyclicLR",
    "ExponentialLR",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "MultiplicativeLR",
    "OneCycleLR",
    "PolynomialLR",
    "ReduceLROnPlateau",
    "Schedule",
    "SequentialLR",
    "StepLR",
    "scheduled_momentum",
]

# fn(xp, count) -> value, with xp numpy (float64, for Python ints) or jax.numpy
ScheduleFn = Callable[[Any, Any], Any]


def _xp(count: Any) -> Any:
    """numpy (float64, torch's precision) for Python ints, jax.numpy for JAX values."""
    return np if isinstance(count, (int, np.integer)) else jnp


def _result(value: Any, xp: Any) -> Any:
    return float(value) if xp is np else jnp.asarray(value)


class Schedule:
    """An optax schedule ``step -> lr`` that also carries what torch's scheduler knows.

    Every scheduler in this module returns one; pass it as an optimizer's ``lr``.
    Called with a Python int it computes in float64 and returns a float (torch's
    values); called with a JAX integer it returns a float32 array.

    Args:
        name: torch's class name (``'StepLR'``), for messages.
        lr: the learning rate the schedule starts from.
        fn: ``fn(xp, count) -> lr`` with ``xp`` numpy (float64, for a Python int count)
            or ``jax.numpy`` (for a JAX one).
        factor: ``factor(xp, count)`` with ``fn = lr * factor``, for schedulers whose
            torch chained form multiplies the current lr (the kind
            :func:`ChainedScheduler` composes). Default: None.
        momentum: the momentum schedule, if any (the attribute below). Default: None.
        restart: ``restart(lr) -> Schedule``, the same schedule starting from another lr,
            for schedulers that read the optimizer's current lr when :func:`SequentialLR`
            hands over to them (SWALR). Default: None.

    Attributes:
        name: torch's class name (``'StepLR'``), for messages.
        lr: the learning rate the schedule starts from (torch takes it from the
            optimizer).
        momentum: for ``CyclicLR`` / ``OneCycleLR`` with ``cycle_momentum``, the
            momentum (or ``betas[0]``) schedule torch's scheduler writes into the
            optimizer; None otherwise.
    """

    def __init__(
        self,
        name: str,
        lr: float,
        fn: ScheduleFn,
        *,
        factor: ScheduleFn | None = None,
        momentum: Schedule | None = None,
        restart: Callable[[float], Schedule] | None = None,
    ) -> None:
        self.name = name
        self.lr = lr
        self.momentum = momentum
        self._fn = fn
        # lr * factor is the value, for schedulers whose torch chained form multiplies
        # the current lr (the only kind ChainedScheduler can compose)
        self._factor = factor
        # the same schedule starting from another lr: torch's schedulers that read the
        # optimizer's current lr when SequentialLR hands over to them (SWALR)
        self._restart = restart

    def __call__(self, count: Any) -> Any:
        xp = _xp(count)
        return _result(self._fn(xp, count), xp)

    def __repr__(self) -> str:
        return f"{self.name}(lr={self.lr})"


def scheduled_momentum(lr: Any) -> Schedule | None:
    """The momentum schedule torch's scheduler would write into the optimizer, if any.

    ``lr.momentum`` for a :func:`CyclicLR` / :func:`OneCycleLR` schedule with
    ``cycle_momentum``, else None. The optimizers call this on their ``lr``.

    Args:
        lr: an optimizer's ``lr``: a float, a :class:`Schedule` or any optax schedule.
    """
    return lr.momentum if isinstance(lr, Schedule) else None


def _multiplicative(name: str, lr: float, steps_per_epoch: int, factor: ScheduleFn) -> Schedule:
    """``lr * factor(xp, epoch)``: a scheduler whose torch chained form multiplies the lr."""

    def of_count(xp: Any, count: Any) -> Any:
        return factor(xp, xp.asarray(count) // steps_per_epoch)

    return Schedule(name, lr, lambda xp, count: lr * of_count(xp, count), factor=of_count)


def _per_epoch(name: str, lr: float, steps_per_epoch: int, value: ScheduleFn) -> Schedule:
    """``value(xp, epoch)`` with ``epoch = step // steps_per_epoch``."""
    return Schedule(name, lr, lambda xp, count: value(xp, xp.asarray(count) // steps_per_epoch))


def _power(xp: Any, base: float, exponent: Any) -> Any:
    """base ** exponent (integer exponent); exp-log keeps float32 accurate for bases near 1."""
    if base > 0:
        return xp.exp(exponent * math.log(base))
    return base**exponent


def _cos_weight(xp: Any, remaining: Any, length: Any) -> Any:
    """``(1 + cos(pi * (1 - remaining / length))) / 2`` as ``sin(pi/2 * remaining/length)**2``:
    no cancellation near the minimum, so small values keep their relative precision."""
    return xp.sin(remaining / length * (math.pi / 2)) ** 2


def _call_user(fn: Callable[[int], float], x: Any) -> Any:
    """``fn(x)`` for a user function of an integer epoch or step.

    On the host for Python ints (float64, as torch calls it); traced into the step when
    ``fn`` is written with jax.numpy-compatible operations; otherwise (``min``, ``if``,
    ``math.*`` on the value) through a host callback that gives ``fn`` a Python int.
    """
    if not isinstance(x, jax.Array):
        return float(fn(int(x)))
    try:
        return jnp.asarray(fn(x), jnp.float32)
    except jax.errors.JAXTypeError:  # fn needs a concrete Python number

        def host(value: np.ndarray) -> np.ndarray:
            return np.asarray(fn(int(value)), np.float32)

        return jax.pure_callback(
            host, jax.ShapeDtypeStruct((), jnp.float32), x, vmap_method="sequential"
        )


def _check_steps_per_epoch(name: str, steps_per_epoch: int) -> None:
    if not (isinstance(steps_per_epoch, int) and steps_per_epoch >= 1):
        raise ValueError(f"{name}: steps_per_epoch must be a positive int, got {steps_per_epoch}")


def _check_positive_int(name: str, what: str, value: Any) -> None:
    if not (isinstance(value, int) and value >= 1):
        raise ValueError(f"{name}: {what} must be a positive int, got {value}")


# --------------------------------------------------------------------------- per epoch


def LambdaLR(lr: float, lr_lambda: Callable[[int], float], *, steps_per_epoch: int = 1) -> Schedule:
    """Sets the learning rate to ``lr * lr_lambda(epoch)``.

    ``lr_lambda`` may be any Python function of the epoch (``min``, ``if``,
    ``math.cos`` included): inside a jitted step it is traced if it can be, else
    called on the host (see the module docstring).

    Args:
        lr: the initial learning rate (torch takes it from the optimizer).
        lr_lambda: epoch -> multiplicative factor.
        steps_per_epoch: optimizer steps per torch ``scheduler.step()``.

    Example::

        >>> warmup = LambdaLR(1e-3, lambda step: min(1.0, (step + 1) / 500))  # per step
    """
    _check_steps_per_epoch("LambdaLR", steps_per_epoch)
    if not callable(lr_lambda):
        raise TypeError(f"lr_lambda should be a function, but got {type(lr_lambda).__name__}")
    return _per_epoch("LambdaLR", lr, steps_per_epoch, lambda xp, e: lr * _call_user(lr_lambda, e))


def MultiplicativeLR(
    lr: float, lr_lambda: Callable[[int], float], *, steps_per_epoch: int = 1
) -> Schedule:
    """Multiplies the learning rate by ``lr_lambda(epoch)`` every epoch.

    ``lr * lr_lambda(1) * ... * lr_lambda(epoch)`` (epoch 0 keeps ``lr``), torch's
    chained form. The running product is kept on the host, one ``lr_lambda`` call per
    new epoch; inside a jitted step it is read through a host callback.

    Args:
        lr: the initial learning rate.
        lr_lambda: epoch -> factor applied at that epoch.
        steps_per_epoch: optimizer steps per torch ``scheduler.step()``.

    Example::

        >>> schedule = MultiplicativeLR(0.1, lambda epoch: 0.95)
    """
    _check_steps_per_epoch("MultiplicativeLR", steps_per_epoch)
    if not callable(lr_lambda):
        raise TypeError(f"lr_lambda should be a function, but got {type(lr_lambda).__name__}")
    products = [1.0]  # products[e] = lr_lambda(1) * ... * lr_lambda(e)

    def product(epoch: int) -> float:
        while len(products) <= epoch:
            products.append(products[-1] * float(lr_lambda(len(products))))
        return products[epoch]

    def factor(xp: Any, epoch: Any) -> Any:
        if xp is np:
            return product(int(epoch))
        return jax.pure_callback(
            lambda e: np.asarray(product(int(e)), np.float32),
            jax.ShapeDtypeStruct((), jnp.float32),
            epoch,
            vmap_method="sequential",
        )

    return _multiplicative("MultiplicativeLR", lr, steps_per_epoch, factor)


def StepLR(lr: float, step_size: int, gamma: float = 0.1, *, steps_per_epoch: int = 1) -> Schedule:
    """Decays the learning rate by ``gamma`` every ``step_size`` epochs.

    ``lr * gamma ** (epoch // step_size)`` with ``epoch = step // steps_per_epoch``.

    Args:
        lr: the initial learning rate (torch takes it from the optimizer).
        step_size: epochs between decays.
        gamma: multiplicative decay.
        steps_per_epoch: optimizer steps per torch ``scheduler.step()``.

    Example::

        >>> schedule = StepLR(0.1, step_size=30, steps_per_epoch=100)  # 100 batches an epoch
        >>> schedule(2999), schedule(3000)
        (0.1, 0.010000000000000002)
        >>> tx = optim.SGD(lr=schedule, momentum=0.9)
    """
    _check_steps_per_epoch("StepLR", steps_per_epoch)
    _check_positive_int("StepLR", "step_size", step_size)
    return _multiplicative(
        "StepLR", lr, steps_per_epoch, lambda xp, e: _power(xp, gamma, e // step_size)
    )


def MultiStepLR(
    lr: float, milestones: Sequence[int], gamma: float = 0.1, *, steps_per_epoch: int = 1
) -> Schedule:
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

    def factor(xp: Any, epoch: Any) -> Any:
        passed = xp.sum(xp.asarray(marks, dtype=epoch.dtype) <= epoch) if marks else 0
        return _power(xp, gamma, passed)

    return _multiplicative("MultiStepLR", lr, steps_per_epoch, factor)


def ConstantLR(
    lr: float, factor: float = 1.0 / 3, total_iters: int = 5, *, steps_per_epoch: int = 1
) -> Schedule:
    """Scales the learning rate by ``factor`` for the first ``total_iters`` epochs.

    Args:
        lr: the base learning rate.
        factor: the factor until ``total_iters``, in ``[0, 1]``.
        total_iters: epochs scaled by ``factor``.
        steps_per_epoch: optimizer steps per torch ``scheduler.step()``.

    Example::

        >>> schedule = ConstantLR(0.1, factor=0.5, total_iters=4)
    """
    _check_steps_per_epoch("ConstantLR", steps_per_epoch)
    if factor > 1.0 or factor < 0:
        raise ValueError("Constant multiplicative factor expected to be between 0 and 1.")
    return _multiplicative(
        "ConstantLR", lr, steps_per_epoch, lambda xp, e: xp.where(e < total_iters, factor, 1.0)
    )


def ExponentialLR(lr: float, gamma: float, *, steps_per_epoch: int = 1) -> Schedule:
    """Decays the learning rate by ``gamma`` every epoch: ``lr * gamma ** epoch``.

    Args:
        lr: the initial learning rate.
        gamma: multiplicative decay per epoch.
        steps_per_epoch: optimizer steps per torch ``scheduler.step()``.

    Example::

        >>> schedule = ExponentialLR(0.1, gamma=0.95)
    """
    _check_steps_per_epoch("ExponentialLR", steps_per_epoch)
    return _multiplicative("ExponentialLR", lr, steps_per_epoch, lambda xp, e: _power(xp, gamma, e))


def PolynomialLR(
    lr: float, total_iters: int = 5, power: float = 1.0, *, steps_per_epoch: int = 1
) -> Schedule:
    """Decays the learning rate polynomially to 0 over ``total_iters`` epochs.

    ``lr * (1 - min(epoch, total_iters) / total_iters) ** power``.

    Args:
        lr: the initial learning rate.
        total_iters: epochs until the learning rate reaches 0.
        power: the power of the polynomial.
        steps_per_epoch: optimizer steps per torch ``scheduler.step()``.

    Example::

        >>> schedule = PolynomialLR(0.1, total_iters=100, power=0.9)
    """
    _check_steps_per_epoch("PolynomialLR", steps_per_epoch)
    _check_positive_int("PolynomialLR", "total_iters", total_iters)

    def factor(xp: Any, epoch: Any) -> Any:
        # (total - done) / total in integers first: no cancellation near the end
        return ((total_iters - xp.minimum(epoch, total_iters)) / total_iters) ** power

    return _multiplicative("PolynomialLR", lr, steps_per_epoch, factor)


def CosineAnnealingLR(
    lr: float, T_max: int, eta_min: float = 0.0, *, steps_per_epoch: int = 1
) -> Schedule:
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
    _check_positive_int("CosineAnnealingLR", "T_max", T_max)

    def value(xp: Any, epoch: Any) -> Any:
        # |T - (e mod 2T)| is the distance (in epochs) to the next minimum or maximum
        remaining = xp.abs(T_max - epoch % (2 * T_max))
        return eta_min + (lr - eta_min) * _cos_weight(xp, remaining, T_max)

    return _per_epoch("CosineAnnealingLR", lr, steps_per_epoch, value)


def CosineAnnealingWarmRestarts(
    lr: float, T_0: int, T_mult: int = 1, eta_min: float = 0.0, *, steps_per_epoch: int = 1
) -> Schedule:
    """Cosine annealing from ``lr`` to ``eta_min``, restarting at ``lr`` (SGDR).

    The first period lasts ``T_0`` epochs, each next one ``T_mult`` times longer:
    ``eta_min + (lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2`` with ``T_cur`` the
    epochs since the last restart and ``T_i`` the current period, torch's
    ``scheduler.step()`` once per epoch. (torch's ``step(epoch + i / iters)``
    fractional epochs: give ``T_0`` in optimizer steps and leave ``steps_per_epoch`` 1.)

    Args:
        lr: the initial (maximum) learning rate.
        T_0: epochs until the first restart.
        T_mult: factor by which each period is longer than the one before.
        eta_min: the minimum learning rate.
        steps_per_epoch: optimizer steps per torch ``scheduler.step()``.

    Example::

        >>> schedule = CosineAnnealingWarmRestarts(0.1, T_0=10, T_mult=2)
    """
    _check_steps_per_epoch("CosineAnnealingWarmRestarts", steps_per_epoch)
    if not isinstance(T_0, int) or T_0 <= 0:
        raise ValueError(f"Expected positive integer T_0, but got {T_0}")
    if not isinstance(T_mult, int) or T_mult < 1:
        raise ValueError(f"Expected integer T_mult >= 1, but got {T_mult}")
    if not isinstance(eta_min, (float, int)):
        raise ValueError(
            f"Expected float or int eta_min, but got {eta_min} of type {type(eta_min)}"
        )
    # restart epochs and period lengths, exact in integers (up to int32's range)
    starts, periods = [0], [T_0]
    while T_mult > 1 and max(starts[-1] + periods[-1], periods[-1] * T_mult) < 2**31:
        starts.append(starts[-1] + periods[-1])
        periods.append(periods[-1] * T_mult)

    def value(xp: Any, epoch: Any) -> Any:
        if T_mult == 1:
            since, period = epoch % T_0, T_0
        else:
            restarts = xp.sum(xp.asarray(starts[1:]) <= epoch)
            since = epoch - xp.asarray(starts)[restarts]
            period = xp.asarray(periods)[restarts]
        return eta_min + (lr - eta_min) * _cos_weight(xp, period - since, period)

    return _per_epoch("CosineAnnealingWarmRestarts", lr, steps_per_epoch, value)


def LinearLR(
    lr: float,
    start_factor: float = 1.0 / 3,
    end_factor: float = 1.0,
    total_iters: int = 5,
    *,
    steps_per_epoch: int = 1,
) -> Schedule:
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
    _check_positive_int("LinearLR", "total_iters", total_iters)

    def factor(xp: Any, epoch: Any) -> Any:
        done = xp.minimum(epoch, total_iters)
        return start_factor * ((total_iters - done) / total_iters) + end_factor * (
            done / total_iters
        )

    return _multiplicative("LinearLR", lr, steps_per_epoch, factor)


# --------------------------------------------------------------------------- composites


def _check_members(name: str, schedulers: Sequence[Any]) -> None:
    if len(schedulers) < 1:
        raise ValueError(f"{name} expects at least one scheduler, but got no scheduler.")
    for i, scheduler in enumerate(schedulers):
        if isinstance(scheduler, ReduceLROnPlateau):
            raise ValueError(
                f"{name} does not support `ReduceLROnPlateau` scheduler as it requires "
                "additional kwargs to be specified when calling `step`, but got one at "
                f"index {i} in the given schedulers sequence."
            )
        if not isinstance(scheduler, Schedule):
            raise TypeError(
                f"{name}: the scheduler at index {i} is {type(scheduler).__name__}, not one "
                "of jaxnn.lr_scheduler's schedules"
            )
        if scheduler.momentum is not None:
            raise NotImplementedError(
                f"{name}: the {scheduler.name} at index {i} cycles momentum, which torch "
                "writes into the optimizer and leaves there when another scheduler takes "
                "over; give it cycle_momentum=False"
            )


def SequentialLR(
    schedulers: Sequence[Schedule], milestones: Sequence[int], *, steps_per_epoch: int = 1
) -> Schedule:
    """Runs one scheduler after another, switching at the milestone epochs.

    During epochs ``[milestones[i-1], milestones[i])`` the value is
    ``schedulers[i]`` at ``epoch - milestones[i-1]``: each scheduler starts from its
    epoch 0 when it takes over, as torch's ``SequentialLR`` restarts it (``SWALR``
    starts from the learning rate the previous scheduler reached, as in torch).

    Args:
        schedulers: the schedules, each built with the optimizer's lr as in torch.
        milestones: ``len(schedulers) - 1`` increasing epochs at which to switch.
        steps_per_epoch: optimizer steps per torch ``scheduler.step()`` (the
            milestones count epochs; each scheduler converts steps with its own).

    Example::

        >>> warmup = LinearLR(0.1, start_factor=0.01, total_iters=5)
        >>> schedule = SequentialLR([warmup, CosineAnnealingLR(0.1, T_max=95)], milestones=[5])
    """
    _check_steps_per_epoch("SequentialLR", steps_per_epoch)
    _check_members("SequentialLR", schedulers)
    if len(milestones) != len(schedulers) - 1:
        raise ValueError(
            "Sequential Schedulers expects number of schedulers provided to be one more than "
            f"the number of milestone points, but got number of schedulers {len(schedulers)} "
            f"and the number of milestones to be equal to {len(milestones)}"
        )
    marks = [int(m) for m in milestones]
    if any(m < 1 for m in marks) or marks != sorted(marks):
        raise ValueError(f"SequentialLR: milestones must be increasing positive ints, got {marks}")
    members = [schedulers[0]]
    for i, (scheduler, mark) in enumerate(zip(schedulers[1:], marks, strict=True), start=1):
        if scheduler.name == "MultiplicativeLR":
            raise NotImplementedError(
                f"SequentialLR: a MultiplicativeLR at index {i} continues in torch from the "
                "previous scheduler's learning rate times lr_lambda(0); only the first "
                "scheduler may be a MultiplicativeLR"
            )
        if scheduler._restart is not None:  # reads the optimizer's lr when it takes over
            reached = _sequence(members, marks[: i - 1], steps_per_epoch)(
                (mark - 1) * steps_per_epoch
            )
            scheduler = scheduler._restart(reached)
        members.append(scheduler)
    return _sequence(members, marks, steps_per_epoch)


def _sequence(members: list[Schedule], marks: list[int], steps_per_epoch: int) -> Schedule:
    offsets = [0] + [m * steps_per_epoch for m in marks]

    def value(xp: Any, count: Any) -> Any:
        if xp is np:
            i = bisect.bisect_right(marks, int(count) // steps_per_epoch)
            return members[i]._fn(np, int(count) - offsets[i])
        result = members[0]._fn(xp, count)
        for member, offset in zip(members[1:], offsets[1:], strict=True):
            shifted = xp.maximum(count - offset, 0)  # inactive members see step 0
            result = xp.where(count >= offset, member._fn(xp, shifted), result)
        return result

    return Schedule("SequentialLR", members[0].lr, value)


def ChainedScheduler(schedulers: Sequence[Schedule]) -> Schedule:
    """Applies several schedulers at once: the product of their factors.

    torch's ``ChainedScheduler`` steps every scheduler in turn, each multiplying the
    current learning rate; that is a product exactly for the schedulers whose chained
    form is multiplicative: StepLR, MultiStepLR, ConstantLR, LinearLR, ExponentialLR,
    PolynomialLR and MultiplicativeLR. The others set the learning rate from their
    own closed form (or add to it), which torch's chaining does not compose, so they
    are refused (use :func:`SequentialLR` to switch between them).

    Args:
        schedulers: the schedules, all built with the same (the optimizer's) lr.

    Example::

        >>> schedule = ChainedScheduler(
        ...     [ConstantLR(1.0, factor=0.1, total_iters=2), ExponentialLR(1.0, gamma=0.9)]
        ... )
    """
    _check_members("ChainedScheduler", schedulers)
    for i, scheduler in enumerate(schedulers):
        if scheduler._factor is None:
            raise ValueError(
                f"ChainedScheduler: the {scheduler.name} at index {i} sets the learning rate "
                "from its closed form rather than multiplying it, so torch's chaining does not "
                "compose it; chain StepLR, MultiStepLR, ConstantLR, LinearLR, ExponentialLR, "
                "PolynomialLR or MultiplicativeLR, or switch with SequentialLR"
            )
    lrs = sorted({s.lr for s in schedulers})
    if len(lrs) > 1:
        raise ValueError(
            f"ChainedScheduler: the schedulers start from different learning rates {lrs}; "
            "in torch they share the optimizer's"
        )
    factors = [s._factor for s in schedulers]

    def factor(xp: Any, count: Any) -> Any:
        out = factors[0](xp, count)
        for f in factors[1:]:
            out = out * f(xp, count)
        return out

    lr = lrs[0]
    return Schedule("ChainedScheduler", lr, lambda xp, count: lr * factor(xp, count), factor=factor)


# --------------------------------------------------------------------------- per step


def CyclicLR(
    base_lr: float,
    max_lr: float,
    step_size_up: int = 2000,
    step_size_down: int | None = None,
    mode: str = "triangular",
    gamma: float = 1.0,
    scale_fn: Callable[[int], float] | None = None,
    scale_mode: str = "cycle",
    cycle_momentum: bool = True,
    base_momentum: float = 0.8,
    max_momentum: float = 0.9,
) -> Schedule:
    """Cycles the learning rate between ``base_lr`` and ``max_lr`` (per optimizer step).

    Each cycle rises over ``step_size_up`` steps and falls over ``step_size_down``;
    the amplitude is scaled per cycle (``'triangular'``: 1, ``'triangular2'``: halved
    each cycle) or per step (``'exp_range'``: ``gamma ** step``), or by ``scale_fn``.
    With ``cycle_momentum`` (torch's default) the momentum (or ``betas[0]``) moves
    the opposite way, between ``max_momentum`` and ``base_momentum``; the schedule
    carries it as ``.momentum`` and the optimizers use it, as torch does.

    Args:
        base_lr: the lower learning rate (torch also sets the optimizer's lr to it).
        max_lr: the upper learning rate of the first cycle.
        step_size_up: steps in the rising half of a cycle.
        step_size_down: steps in the falling half (default: ``step_size_up``).
        mode: ``'triangular'``, ``'triangular2'`` or ``'exp_range'``; ignored with
            ``scale_fn``.
        gamma: the ``'exp_range'`` base.
        scale_fn: a custom amplitude scale of the cycle number (``scale_mode='cycle'``)
            or of the step (``'iterations'``); any Python function works under jit.
        scale_mode: ``'cycle'`` or ``'iterations'``, for ``scale_fn``.
        cycle_momentum: cycle the momentum inversely to the learning rate.
        base_momentum: the momentum at the lr's peak.
        max_momentum: the momentum at ``base_lr``.

    Example::

        >>> schedule = CyclicLR(0.001, 0.1, step_size_up=200, mode="triangular2")
        >>> tx = optim.SGD(lr=schedule, momentum=0.9)  # momentum cycles 0.9 -> 0.8 -> 0.9
    """
    _check_positive_int("CyclicLR", "step_size_up", step_size_up)
    down = step_size_up if step_size_down is None else step_size_down
    _check_positive_int("CyclicLR", "step_size_down", down)
    if scale_fn is None:
        if mode not in ("triangular", "triangular2", "exp_range"):
            raise ValueError("mode is invalid and scale_fn is None")
        scale_mode = "iterations" if mode == "exp_range" else "cycle"
    elif scale_mode not in ("cycle", "iterations"):
        raise ValueError(
            f"CyclicLR: scale_mode must be 'cycle' or 'iterations', got {scale_mode!r}"
        )
    total = step_size_up + down

    def scale(xp: Any, cycle: Any, step: Any) -> Any:
        if scale_fn is not None:
            return _call_user(scale_fn, cycle if scale_mode == "cycle" else step)
        if mode == "triangular":
            return 1.0
        if mode == "triangular2":
            return _power(xp, 0.5, cycle - 1)
        return _power(xp, gamma, step)

    def height(xp: Any, count: Any) -> Any:
        """torch's ``scale_factor * scale_fn(...)``, from the exact position in the cycle."""
        step = xp.asarray(count)
        cycle, pos = step // total + 1, step % total
        rising = xp.where(pos <= step_size_up, pos / step_size_up, (total - pos) / down)
        return rising * scale(xp, cycle, step)

    momentum = None
    if cycle_momentum:
        momentum = Schedule(
            "CyclicLR.momentum",
            max_momentum,
            lambda xp, c: max_momentum - (max_momentum - base_momentum) * height(xp, c),
        )
    return Schedule(
        "CyclicLR",
        base_lr,
        lambda xp, c: base_lr + (max_lr - base_lr) * height(xp, c),
        momentum=momentum,
    )


def OneCycleLR(
    max_lr: float,
    total_steps: int | None = None,
    epochs: int | None = None,
    steps_per_epoch: int | None = None,
    pct_start: float = 0.3,
    anneal_strategy: str = "cos",
    cycle_momentum: bool = True,
    base_momentum: float = 0.85,
    max_momentum: float = 0.95,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    three_phase: bool = False,
) -> Schedule:
    """The 1cycle policy: warm up to ``max_lr``, then anneal far below the start.

    Per optimizer step, as in torch: from ``max_lr / div_factor`` up to ``max_lr``
    over the first ``pct_start`` of the steps, then down to
    ``max_lr / div_factor / final_div_factor`` (with ``three_phase``, back down to
    the start first, then to the minimum). With ``cycle_momentum`` (torch's default)
    the momentum (or ``betas[0]``) goes the opposite way, from ``max_momentum`` down to
    ``base_momentum`` and back; the schedule carries it as ``.momentum`` and the
    optimizers use it, as torch does. torch raises past ``total_steps``; this schedule
    holds its value at ``total_steps``.

    Args:
        max_lr: the peak learning rate.
        total_steps: the number of optimizer steps in the cycle; or give
            ``epochs`` and ``steps_per_epoch``.
        epochs: with ``steps_per_epoch``, ``total_steps = epochs * steps_per_epoch``.
        steps_per_epoch: see ``epochs``.
        pct_start: fraction of the cycle spent increasing the learning rate.
        anneal_strategy: ``'cos'`` or ``'linear'``.
        cycle_momentum: cycle the momentum inversely to the learning rate.
        base_momentum: the momentum at the lr's peak.
        max_momentum: the momentum at the start and the end.
        div_factor: ``initial_lr = max_lr / div_factor``.
        final_div_factor: ``min_lr = initial_lr / final_div_factor``.
        three_phase: use the symmetric three-phase variant.

    Example::

        >>> schedule = OneCycleLR(0.1, epochs=10, steps_per_epoch=100)
        >>> tx = optim.SGD(lr=schedule, momentum=0.9)  # momentum follows schedule.momentum
        >>> round(schedule(0), 6), round(schedule(299), 6)  # the peak ends the warm-up
        (0.004, 0.1)
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
    # torch's phase table: (last step of the phase, lr at its start and end, momentum at
    # its start and end)
    if three_phase:
        phases = [
            (float(pct_start * total_steps) - 1, initial_lr, max_lr, max_momentum, base_momentum),
            (
                float(2 * pct_start * total_steps) - 2,
                max_lr,
                initial_lr,
                base_momentum,
                max_momentum,
            ),
            (float(total_steps - 1), initial_lr, min_lr, max_momentum, max_momentum),
        ]
    else:
        phases = [
            (float(pct_start * total_steps) - 1, initial_lr, max_lr, max_momentum, base_momentum),
            (float(total_steps - 1), max_lr, min_lr, base_momentum, max_momentum),
        ]
    starts = [0.0] + [phase[0] for phase in phases[:-1]]
    for start, phase in zip(starts, phases, strict=True):
        if not phase[0] > start:
            raise ValueError(
                f"OneCycleLR: pct_start={pct_start} with total_steps={total_steps} leaves a "
                f"phase without steps (from step {start} to {phase[0]})"
            )

    def anneal(xp: Any, step: Any, start: float, end: float, v0: float, v1: float) -> Any:
        # torch's v1 + (v0 - v1) * (1 + cos(pi * pct)) / 2 (or the linear mix) written
        # as v0 * w0 + v1 * w1 with both weights computed from exact step differences:
        # no cancellation, so float32 keeps its relative precision in every phase.
        done = (step - start) / (end - start)
        remaining = (end - step) / (end - start)
        if anneal_strategy == "linear":
            return v0 * remaining + v1 * done
        return v0 * _cos_weight(xp, remaining, 1) + v1 * _cos_weight(xp, done, 1)

    def phased(values: slice) -> ScheduleFn:
        def fn(xp: Any, count: Any) -> Any:
            step = xp.minimum(xp.asarray(count), total_steps)
            table = [(start, phase[0], *phase[values]) for start, phase in zip(starts, phases)]
            value = anneal(xp, step, *table[-1])
            for start, end, v0, v1 in reversed(table[:-1]):
                # the phase holds the integer steps <= end (end may be fractional)
                value = xp.where(
                    step <= math.floor(end), anneal(xp, step, start, end, v0, v1), value
                )
            return value

        return fn

    momentum = None
    if cycle_momentum:
        momentum = Schedule("OneCycleLR.momentum", max_momentum, phased(slice(3, 5)))
    return Schedule("OneCycleLR", initial_lr, phased(slice(1, 3)), momentum=momentum)


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
