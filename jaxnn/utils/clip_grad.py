"""Gradient clipping as torch.nn.utils does it, on gradient trees and as optax transforms.

torch clips ``p.grad`` in place; JAX's gradients are values, so the functions take the
gradient tree and return the clipped one (``clip_grad_norm_`` also returns the total
norm, as torch returns it). The transforms apply the same clipping inside an optimizer
chain, where torch users call it between ``backward()`` and ``step()``::

    grads, total_norm = utils.clip_grad_norm_(grads, max_norm=1.0)      # torch's call
    tx = optax.chain(utils.clip_grad_norm(1.0), optim.AdamW(3e-4))      # inside the step

torch's ``foreach`` argument (a kernel choice) has no counterpart.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

__all__ = [
    "ClipGradNormState",
    "clip_grad_norm",
    "clip_grad_norm_",
    "clip_grad_value",
    "clip_grad_value_",
    "clip_grads_with_norm_",
    "get_total_norm",
]

# torch adds this to the total norm before dividing max_norm by it
_EPS = 1e-6


def _nonfinite_message(norm_type: float) -> str:
    return (
        f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
        "so it cannot be clipped. To disable this error and scale the gradients by the "
        "non-finite norm anyway, set `error_if_nonfinite=False`"
    )


def get_total_norm(
    tensors: Any, norm_type: float | str = 2.0, error_if_nonfinite: bool = False
) -> jax.Array:
    """The norm of all the arrays in a tree, as if they were concatenated into one vector.

    As torch: the ``norm_type`` norm of each array, then the same norm of those norms.

    Args:
        tensors: a tree of arrays (e.g. gradients).
        norm_type: the p of the p-norm; ``inf`` (or ``'inf'``) for the largest magnitude.
        error_if_nonfinite: raise ``RuntimeError`` when the norm is NaN or infinite.
            Under ``jax.jit`` the check runs on the host when the step executes
            (``jax.debug.callback``) and surfaces as a ``JaxRuntimeError``, a
            ``RuntimeError`` carrying torch's message.

    Example::

        >>> get_total_norm({"w": jnp.array([3.0, 4.0]), "b": jnp.zeros(2)})  # 5.0
        Array(5., dtype=float32)
    """
    norm_type = float(norm_type)
    leaves = jax.tree.leaves(tensors)
    if not leaves:
        return jnp.zeros((), jnp.float32)
    norms = [jnp.linalg.vector_norm(jnp.ravel(leaf), ord=norm_type) for leaf in leaves]
    dtype = jnp.result_type(*norms)
    total = jnp.linalg.vector_norm(jnp.stack([n.astype(dtype) for n in norms]), ord=norm_type)
    if error_if_nonfinite:
        if isinstance(total, jax.core.Tracer):

            def check(value: np.ndarray) -> None:
                if not np.isfinite(value):
                    raise RuntimeError(_nonfinite_message(norm_type))

            jax.debug.callback(check, total)
        elif not jnp.isfinite(total):
            raise RuntimeError(_nonfinite_message(norm_type))
    return total


def clip_grads_with_norm_(grads: Any, max_norm: float, total_norm: jax.Array) -> Any:
    """The gradients scaled by ``min(max_norm / (total_norm + 1e-6), 1)``, torch's formula.

    Args:
        grads: a tree of gradients.
        max_norm: the largest norm allowed.
        total_norm: their total norm (e.g. from :func:`get_total_norm`).
    """
    coef = jnp.minimum(max_norm / (total_norm + _EPS), 1.0)
    return jax.tree.map(lambda g: g * coef.astype(g.dtype), grads)


def clip_grad_norm_(
    grads: Any,
    max_norm: float,
    norm_type: float | str = 2.0,
    error_if_nonfinite: bool = False,
) -> tuple[Any, jax.Array]:
    """Scale a gradient tree so that its total norm is at most ``max_norm``.

    ``grads * min(max_norm / (total_norm + 1e-6), 1)``, with the total norm of all the
    gradients together (:func:`get_total_norm`). Returns the clipped gradients and the
    total norm before clipping (torch clips in place and returns the norm).

    Args:
        grads: a tree of gradients.
        max_norm: the largest norm allowed.
        norm_type: the p of the p-norm; ``inf`` for the largest magnitude.
        error_if_nonfinite: raise when the total norm is NaN or infinite (see
            :func:`get_total_norm` for how under ``jax.jit``).

    Example::

        >>> grads = {"w": jnp.array([3.0, 4.0])}
        >>> grads, total_norm = clip_grad_norm_(grads, max_norm=1.0)
        >>> total_norm
        Array(5., dtype=float32)
    """
    total = get_total_norm(grads, norm_type, error_if_nonfinite)
    return clip_grads_with_norm_(grads, max_norm, total), total


def clip_grad_value_(grads: Any, clip_value: float) -> Any:
    """Clip every gradient to ``[-clip_value, clip_value]``.

    Args:
        grads: a tree of gradients.
        clip_value: the largest magnitude allowed.

    Example::

        >>> clip_grad_value_({"w": jnp.array([-2.0, 0.25])}, 0.5)
        {'w': Array([-0.5 ,  0.25], dtype=float32)}
    """
    return jax.tree.map(lambda g: jnp.clip(g, -clip_value, clip_value), grads)


def _check_number(name: str, value: Any, hint: str) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(
            f"{name}({type(value).__name__}): builds an optax transformation from a number; "
            f"to clip a gradient tree now, call {hint}"
        )


class ClipGradNormState(NamedTuple):
    """State of :func:`clip_grad_norm`.

    Attributes:
        total_norm: the total norm of the last gradients, before clipping (for logging).
    """

    total_norm: jax.Array


def clip_grad_norm(
    max_norm: float, norm_type: float | str = 2.0, error_if_nonfinite: bool = False
) -> optax.GradientTransformation:
    """:func:`clip_grad_norm_` as an optax transformation, to chain before an optimizer.

    The total norm before clipping is kept in the state (``total_norm``), where torch
    returns it.

    Args:
        max_norm: the largest norm allowed.
        norm_type: the p of the p-norm; ``inf`` for the largest magnitude.
        error_if_nonfinite: raise when the total norm is NaN or infinite.

    Example::

        >>> tx = optax.chain(clip_grad_norm(1.0), optim.SGD(0.1, momentum=0.9))
    """
    _check_number("clip_grad_norm", max_norm, "clip_grad_norm_(grads, max_norm)")

    def init_fn(params: optax.Params) -> ClipGradNormState:
        del params
        return ClipGradNormState(jnp.zeros((), jnp.float32))

    def update_fn(
        updates: optax.Updates, state: ClipGradNormState, params: optax.Params | None = None
    ) -> tuple[optax.Updates, ClipGradNormState]:
        del params
        clipped, total = clip_grad_norm_(updates, max_norm, norm_type, error_if_nonfinite)
        return clipped, ClipGradNormState(total.astype(jnp.float32))

    return optax.GradientTransformation(init_fn, update_fn)


def clip_grad_value(clip_value: float) -> optax.GradientTransformation:
    """:func:`clip_grad_value_` as an optax transformation, to chain before an optimizer.

    Args:
        clip_value: the largest magnitude allowed.

    Example::

        >>> tx = optax.chain(clip_grad_value(0.5), optim.Adam(1e-3))
    """
    _check_number("clip_grad_value", clip_value, "clip_grad_value_(grads, clip_value)")

    def update_fn(
        updates: optax.Updates, state: optax.EmptyState, params: optax.Params | None = None
    ) -> tuple[optax.Updates, optax.EmptyState]:
        del params
        return clip_grad_value_(updates, clip_value), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)
