"""torch.optim.LBFGS: a loss function instead of a closure, one call per torch ``step``.

torch's L-BFGS re-evaluates the model through a closure, up to ``max_iter`` times per
``optimizer.step(closure)``. Here the closure is a loss function of the parameters, and
one :meth:`LBFGS.step` call does what one torch ``step(closure)`` does -- the same
iterations, the same strong-Wolfe line search, the same stopping tests and the same
state carried to the next call -- compiled into one XLA computation::

    opt = optim.LBFGS(lr=1, line_search_fn="strong_wolfe")
    state = opt.init(params)
    for _ in range(10):
        params, state, loss = opt.step(loss_fn, params, state)  # loss: before the step

The parameters may be any pytree; L-BFGS sees them as one flat vector (torch
concatenates its parameters the same way). Every scalar is float32, where torch mixes
float32 tensors with Python floats; trajectories agree to float32 rounding (see the tests).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.flatten_util import ravel_pytree

__all__ = ["LBFGS", "LBFGSState"]


class LBFGSState(NamedTuple):
    """What torch keeps in ``optimizer.state`` between ``step`` calls, for ``n``
    parameters in all (flattened); the history is stored oldest first.

    Attributes:
        count: ``step`` calls (for an lr schedule).
        func_evals: loss evaluations, all calls together.
        n_iter: iterations, all calls together.
        d: the last direction, (n,).
        t: the last step length.
        old_dirs: the gradient differences y, (history_size, n).
        old_stps: the steps s, (history_size, n).
        ro: 1 / (y . s) of each pair, (history_size,).
        num_old: the number of history entries in use.
        H_diag: the scale of the initial inverse Hessian.
        prev_flat_grad: the last flat gradient, (n,).
        prev_loss: the last loss.
    """

    count: jax.Array
    func_evals: jax.Array
    n_iter: jax.Array
    d: jax.Array
    t: jax.Array
    old_dirs: jax.Array
    old_stps: jax.Array
    ro: jax.Array
    num_old: jax.Array
    H_diag: jax.Array
    prev_flat_grad: jax.Array
    prev_loss: jax.Array


@dataclasses.dataclass(frozen=True)
class LBFGS:
    """L-BFGS with torch.optim.LBFGS's arguments, defaults and iterations.

    Args:
        lr: learning rate (the initial step length of each iteration), a float or a
            schedule of the number of ``step`` calls.
        max_iter: iterations per :meth:`step`.
        max_eval: loss evaluations per :meth:`step` (default ``max_iter * 5 // 4``).
        tolerance_grad: stop when ``max |g| <= tolerance_grad``.
        tolerance_change: stop when the loss or the parameters change less than this.
        history_size: number of (s, y) pairs kept.
        line_search_fn: None (fixed step ``lr``) or ``'strong_wolfe'``.

    torch's one-parameter-group restriction holds: :func:`jaxnn.optim.param_groups`
    refuses an LBFGS, as torch does.

    Example::

        >>> x, y = jnp.eye(3), jnp.array([1.0, 2.0, 3.0])
        >>> params = {"w": jnp.zeros(3)}
        >>> opt = LBFGS(history_size=10, max_iter=4, line_search_fn="strong_wolfe")
        >>> state = opt.init(params)
        >>> params, state, loss = opt.step(lambda p: jnp.sum((x @ p["w"] - y) ** 2), params, state)
    """

    lr: float | Callable[[Any], Any] = 1.0
    max_iter: int = 20
    max_eval: int | None = None
    tolerance_grad: float = 1e-7
    tolerance_change: float = 1e-9
    history_size: int = 100
    line_search_fn: str | None = None

    def __post_init__(self) -> None:
        if not callable(self.lr) and not self.lr >= 0.0:
            raise ValueError(f"Invalid learning rate: {self.lr}")
        if self.line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(
                "LBFGS: line_search_fn must be None or 'strong_wolfe', got "
                f"{self.line_search_fn!r} (torch: only 'strong_wolfe' is supported)"
            )
        for name in ("max_iter", "history_size"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"LBFGS: {name} must be a positive int, got {value}")
        if self.max_eval is None:
            object.__setattr__(self, "max_eval", self.max_iter * 5 // 4)

    def init(self, params: Any) -> LBFGSState:
        """The empty state for ``params`` (torch creates it at the first step)."""
        flat, _ = ravel_pytree(params)
        n, h = flat.shape[0], self.history_size
        zero, zeros = jnp.zeros((), flat.dtype), jnp.zeros((n,), flat.dtype)

        def count():
            return jnp.zeros((), jnp.int32)

        return LBFGSState(
            count=count(),
            func_evals=count(),
            n_iter=count(),
            d=zeros,
            t=zero,
            old_dirs=jnp.zeros((h, n), flat.dtype),
            old_stps=jnp.zeros((h, n), flat.dtype),
            ro=jnp.zeros((h,), flat.dtype),
            num_old=count(),
            H_diag=jnp.ones((), flat.dtype),
            prev_flat_grad=jnp.zeros((n,), flat.dtype),
            prev_loss=zero,
        )

    def step(
        self, loss_fn: Callable[..., jax.Array], params: Any, state: LBFGSState, *args: Any
    ) -> tuple[Any, LBFGSState, jax.Array]:
        """One torch ``optimizer.step(closure)``: up to ``max_iter`` iterations.

        Args:
            loss_fn: ``loss_fn(params, *args) -> scalar``, torch's closure; keep one
                function object across calls (it keys the compiled step).
            params: the parameters (any pytree of float arrays).
            state: from :meth:`init` or the previous call.
            *args: passed to ``loss_fn`` (e.g. a batch), as arrays.

        Returns:
            ``(params, state, loss)`` with the loss at the parameters passed in, as
            torch's ``step`` returns it.
        """
        # only what shapes the computation is static: other settings (a float lr
        # included) are traced, so changing them does not recompile
        schedule = self.lr if callable(self.lr) else None
        limits = _Limits(
            lr=jnp.asarray(0.0 if schedule else self.lr, jnp.float32),
            max_iter=jnp.asarray(self.max_iter, jnp.int32),
            max_eval=jnp.asarray(self.max_eval, jnp.int32),
            tolerance_grad=jnp.asarray(self.tolerance_grad, jnp.float32),
            tolerance_change=jnp.asarray(self.tolerance_change, jnp.float32),
        )
        return _step(
            self.history_size, self.line_search_fn, schedule, loss_fn, limits, params, state, *args
        )

    def update(self, *args: Any, **kwargs: Any) -> Any:
        """LBFGS is not a gradient transformation: it evaluates the loss itself."""
        raise TypeError(
            "LBFGS needs the loss function, not gradients: call "
            "opt.step(loss_fn, params, state) (torch's optimizer.step(closure))"
        )


class _Limits(NamedTuple):
    lr: jax.Array
    max_iter: jax.Array
    max_eval: jax.Array
    tolerance_grad: jax.Array
    tolerance_change: jax.Array


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """Minimizer of the cubic through (x1, f1, g1), (x2, f2, g2), clamped to the bounds."""
    lo, hi = bounds if bounds is not None else (jnp.minimum(x1, x2), jnp.maximum(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    d2 = jnp.sqrt(jnp.maximum(d2_square, 0))
    min_pos = jnp.where(
        x1 <= x2,
        x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2)),
        x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2)),
    )
    return jnp.where(d2_square >= 0, jnp.minimum(jnp.maximum(min_pos, lo), hi), (lo + hi) / 2)


def _strong_wolfe(evaluate, t, d, f, g, gtd, max_ls, tolerance_change, c1=1e-4, c2=0.9):
    """torch's ``_strong_wolfe``: bracket, then zoom. Returns (f, g, t, evaluations)."""
    d_norm = jnp.max(jnp.abs(d))
    f_new, g_new = evaluate(t)
    gtd_new = g_new @ d

    # bracketing phase; status 0: searching, 1: bracket of two points, 2: Wolfe point found
    def bracketing(c):
        return (c["status"] == 0) & (c["ls_iter"] < max_ls)

    def widen(c):
        armijo_fails = (c["f_new"] > f + c1 * c["t"] * gtd) | (
            (c["ls_iter"] > 1) & (c["f_new"] >= c["f_prev"])
        )
        wolfe = jnp.abs(c["gtd_new"]) <= -c2 * gtd
        status = jnp.where(armijo_fails, 1, jnp.where(wolfe, 2, jnp.where(c["gtd_new"] >= 0, 1, 0)))
        t_next = _cubic_interpolate(
            c["t_prev"],
            c["f_prev"],
            c["gtd_prev"],
            c["t"],
            c["f_new"],
            c["gtd_new"],
            bounds=(c["t"] + 0.01 * (c["t"] - c["t_prev"]), c["t"] * 10),
        )

        def move(c):
            f_next, g_next = evaluate(t_next)
            return dict(
                c,
                t_prev=c["t"],
                f_prev=c["f_new"],
                g_prev=c["g_new"],
                gtd_prev=c["gtd_new"],
                t=t_next,
                f_new=f_next,
                g_new=g_next,
                gtd_new=g_next @ d,
                evals=c["evals"] + 1,
                ls_iter=c["ls_iter"] + 1,
            )

        return lax.cond(status == 0, move, lambda c: dict(c, status=status), c)

    zero = jnp.zeros_like(t)
    c = dict(
        t_prev=zero, f_prev=f, g_prev=g, gtd_prev=gtd, t=t, f_new=f_new, g_new=g_new,
        gtd_new=gtd_new, evals=jnp.ones((), jnp.int32), ls_iter=jnp.zeros((), jnp.int32),
        status=jnp.zeros((), jnp.int32),
    )  # fmt: skip
    c = lax.while_loop(bracketing, widen, c)
    exhausted = c["status"] == 0  # max_ls reached: bracket [0, t]
    one_point = c["status"] == 2  # the last point satisfies the Wolfe conditions

    def pick(a, b, exhausted_a):
        return jnp.where(exhausted, exhausted_a, jnp.where(one_point, b, a))

    bracket = jnp.stack([pick(c["t_prev"], c["t"], zero), c["t"]])
    bracket_f = jnp.stack([pick(c["f_prev"], c["f_new"], f), c["f_new"]])
    bracket_g = jnp.stack([pick(c["g_prev"], c["g_new"], g), c["g_new"]])
    bracket_gtd = jnp.stack([pick(c["gtd_prev"], c["gtd_new"], gtd), c["gtd_new"]])
    low = jnp.where(bracket_f[0] <= bracket_f[-1], 0, 1)

    # zoom phase: shrink the bracket until a point satisfies the strong Wolfe conditions
    def zooming(z):
        return ~z["done"] & ~z["stop"] & (z["ls_iter"] < max_ls)

    def zoom(z):
        # torch breaks when the bracket is too small to matter
        stop = jnp.abs(z["b"][1] - z["b"][0]) * d_norm < tolerance_change
        return lax.cond(stop, lambda z: dict(z, stop=stop), narrow, z)

    def narrow(z):
        b, bf, bg, bgtd, low = z["b"], z["bf"], z["bg"], z["bgtd"], z["low"]
        high = 1 - low
        t = _cubic_interpolate(b[0], bf[0], bgtd[0], b[1], bf[1], bgtd[1])
        b_max, b_min = jnp.max(b), jnp.min(b)
        eps = 0.1 * (b_max - b_min)
        near_edge = jnp.minimum(b_max - t, t - b_min) < eps
        at_edge = z["insuf_progress"] | (t >= b_max) | (t <= b_min)
        moved = jnp.where(jnp.abs(t - b_max) < jnp.abs(t - b_min), b_max - eps, b_min + eps)
        t = jnp.where(near_edge & at_edge, moved, t)
        insuf_progress = near_edge & ~at_edge
        f_new, g_new = evaluate(t)
        gtd_new = g_new @ d

        def set_at(i, point, arrays):
            return tuple(a.at[i].set(p) for a, p in zip(arrays, point, strict=True))

        point = (t, f_new, g_new, gtd_new)
        arrays = (b, bf, bg, bgtd)
        worse = (f_new > f + c1 * t * gtd) | (f_new >= bf[low])
        wolfe = ~worse & (jnp.abs(gtd_new) <= -c2 * gtd)
        # not worse: the old high becomes the low when the slope points past it
        swap = ~worse & ~wolfe & (gtd_new * (b[high] - b[low]) >= 0)
        as_high = set_at(high, point, arrays)
        low_to_high = set_at(high, tuple(a[low] for a in arrays), arrays)
        as_low = set_at(
            low, point, tuple(jnp.where(swap, s, a) for s, a in zip(low_to_high, arrays))
        )
        new = tuple(jnp.where(worse, h, lo) for h, lo in zip(as_high, as_low, strict=True))
        new_low = jnp.where(worse, jnp.where(new[1][0] <= new[1][1], 0, 1), low)
        return dict(
            b=new[0], bf=new[1], bg=new[2], bgtd=new[3], low=new_low, done=wolfe,
            insuf_progress=insuf_progress, evals=z["evals"] + 1, ls_iter=z["ls_iter"] + 1,
            stop=z["stop"],
        )  # fmt: skip

    z = dict(
        b=bracket, bf=bracket_f, bg=bracket_g, bgtd=bracket_gtd, low=low,
        done=c["status"] == 2, stop=jnp.zeros((), bool), insuf_progress=jnp.zeros((), bool),
        evals=c["evals"], ls_iter=c["ls_iter"],
    )  # fmt: skip
    z = lax.while_loop(zooming, zoom, z)
    low = z["low"]
    return z["bf"][low], z["bg"][low], z["b"][low], z["evals"]


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _step(history_size, line_search_fn, schedule, loss_fn, limits: _Limits, params, state, *args):
    flat, unravel = ravel_pytree(params)
    value_and_grad = jax.value_and_grad(lambda x: loss_fn(unravel(x), *args))

    def evaluate(x):
        loss, grad = value_and_grad(x)
        return loss.astype(flat.dtype), grad

    lr = limits.lr if schedule is None else jnp.asarray(schedule(state.count), flat.dtype)
    orig_loss, flat_grad = evaluate(flat)
    st = state._replace(func_evals=state.func_evals + 1)
    c = dict(
        x=flat, loss=orig_loss, g=flat_grad, st=st, evals=jnp.ones((), jnp.int32),
        n_iter=jnp.zeros((), jnp.int32), done=jnp.max(jnp.abs(flat_grad)) <= limits.tolerance_grad,
    )  # fmt: skip

    def iteration(c):
        return _iteration(history_size, line_search_fn, limits, evaluate, lr, c)

    c = lax.while_loop(lambda c: ~c["done"], iteration, c)
    return unravel(c["x"]), c["st"]._replace(count=state.count + 1), orig_loss


def _iteration(h, line_search_fn, limits: _Limits, evaluate, lr, c):
    """One pass of torch's ``while n_iter < max_iter`` loop."""
    x, loss, g, st = c["x"], c["loss"], c["g"], c["st"]
    n_iter = c["n_iter"] + 1
    st = st._replace(n_iter=st.n_iter + 1)
    first = st.n_iter == 1

    # the L-BFGS direction, updating the history with the last step's (s, y)
    y = g - st.prev_flat_grad
    s = st.d * st.t
    ys = y @ s

    def push(st):
        full = st.num_old == h
        slot = jnp.where(full, h - 1, st.num_old)

        def add(history, row):
            return jnp.where(full, jnp.roll(history, -1, axis=0), history).at[slot].set(row)

        return st._replace(
            old_dirs=add(st.old_dirs, y),
            old_stps=add(st.old_stps, s),
            ro=add(st.ro, 1.0 / ys),
            num_old=jnp.minimum(st.num_old + 1, h),
            H_diag=ys / (y @ y),
        )

    st = lax.cond(~first & (ys > 1e-10), push, lambda st: st, st)
    st = st._replace(num_old=jnp.where(first, 0, st.num_old), H_diag=jnp.where(first, 1, st.H_diag))

    def backward(i, carry):
        q, al = carry
        j = h - 1 - i
        a = jnp.where(j < st.num_old, (st.old_stps[j] @ q) * st.ro[j], 0)
        return q - a * st.old_dirs[j], al.at[j].set(a)

    q, al = lax.fori_loop(0, h, backward, (-g, jnp.zeros_like(st.ro)))

    def forward(i, r):
        be = (st.old_dirs[i] @ r) * st.ro[i]
        return r + jnp.where(i < st.num_old, al[i] - be, 0) * st.old_stps[i]

    d = jnp.where(first, -g, lax.fori_loop(0, h, forward, q * st.H_diag))
    prev_loss = loss
    t = jnp.where(first, jnp.minimum(1.0, 1.0 / jnp.sum(jnp.abs(g))) * lr, lr).astype(x.dtype)
    st = st._replace(d=d, t=t, prev_flat_grad=g, prev_loss=prev_loss)
    gtd = g @ d

    def move(_):
        if line_search_fn == "strong_wolfe":
            max_ls = limits.max_eval - c["evals"]
            loss_new, g_new, t_new, evals = _strong_wolfe(
                lambda t: evaluate(x + t * d), t, d, loss, g, gtd, max_ls, limits.tolerance_change
            )
        else:  # fixed step; the loss is re-evaluated except after the last iteration
            t_new = t
            loss_new, g_new = lax.cond(
                n_iter != limits.max_iter, lambda: evaluate(x + t * d), lambda: (loss, g)
            )
            evals = (n_iter != limits.max_iter).astype(jnp.int32)
        return x + t_new * d, loss_new, g_new, t_new, evals

    stalled = gtd > -limits.tolerance_change  # torch breaks before moving
    unmoved = (x, loss, g, t, jnp.zeros((), jnp.int32))
    x, loss, g, t, evals = lax.cond(stalled, lambda _: unmoved, move, None)
    total = c["evals"] + evals
    st = st._replace(t=t, func_evals=st.func_evals + evals)
    done = (
        stalled
        | (n_iter == limits.max_iter)
        | (total >= limits.max_eval)
        | (jnp.max(jnp.abs(g)) <= limits.tolerance_grad)
        | (jnp.max(jnp.abs(d * t)) <= limits.tolerance_change)
        | (jnp.abs(loss - prev_loss) < limits.tolerance_change)
    )
    return dict(x=x, loss=loss, g=g, st=st, evals=total, n_iter=n_iter, done=done)
