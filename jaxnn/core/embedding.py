"""Embedding lookup as both ``F.embedding`` and ``nn.Embedding`` compute it (the weight
is (num_embeddings, embedding_dim) in both torch and Flax)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = ["check_padding_idx", "embedding"]

Array = jax.Array


def check_padding_idx(padding_idx: int | None, num_embeddings: int, who: str) -> int | None:
    """torch's rule: ``padding_idx`` in [-num_embeddings, num_embeddings), a negative one
    counted from the end; returned non-negative.

    Args:
        padding_idx: the index, or None (returned as it is).
        num_embeddings: the number of rows of the weight.
        who: the caller, named in errors.
    """
    if padding_idx is None:
        return None
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(
            f"{who}: padding_idx must be within num_embeddings ({num_embeddings}), "
            f"got {padding_idx}"
        )
    return padding_idx % num_embeddings


def _check_concrete_range(input: Array, n: int, who: str) -> None:
    """Out-of-range indices raise when they can be seen (not under a trace)."""
    try:
        values = np.asarray(input)
    except jax.errors.TracerArrayConversionError:
        return
    if values.size and (values.min() < 0 or values.max() >= n):
        bad = values.min() if values.min() < 0 else values.max()
        raise IndexError(
            f"{who}: index {bad} is out of range for {n} embeddings (input shape "
            f"{tuple(values.shape)})"
        )


def embedding(
    input: Array,
    weight: Array,
    *,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    who: str = "embedding",
) -> Array:
    """Rows ``weight[input]``: shape ``(*input.shape, embedding_dim)``.

    * Indices outside [0, num_embeddings) raise IndexError when ``input`` is concrete;
      under ``jit`` they cannot be checked and give rows of NaN (never another row).
    * ``padding_idx`` (non-negative): those lookups pass no gradient to the weight.
    * ``max_norm``: rows whose ``norm_type``-norm exceeds it are scaled to norm
      ``max_norm`` (torch's ``max_norm / (norm + 1e-7)``); the gradient flows to the
      weight as if the weight held the rescaled rows, which is what torch's in-place
      renormalization gives.
    * ``scale_grad_by_freq``: each row's gradient is divided by how often the row occurs
      in ``input``.

    Args:
        input: integer indices, any shape.
        weight: (num_embeddings, embedding_dim).
        padding_idx: a non-negative index (:func:`check_padding_idx`) whose lookups
            pass no gradient, or None.
        max_norm: the largest norm a looked-up row may have, or None.
        norm_type: the p of the p-norm for ``max_norm``. Default: 2.0.
        scale_grad_by_freq: divide each row's gradient by its count in ``input``.
            Default: False.
        who: the caller, named in errors. Default: 'embedding'.
    """
    if not jnp.issubdtype(input.dtype, jnp.integer):
        raise TypeError(f"{who}: expected integer indices, got dtype {input.dtype}")
    if weight.ndim != 2:
        raise ValueError(
            f"{who}: weight must be 2-D (num_embeddings, embedding_dim), got shape "
            f"{tuple(weight.shape)}"
        )
    n = weight.shape[0]
    _check_concrete_range(input, n, who)
    # negative indices would wrap around in JAX: send them out of range, to the fill value
    index = jnp.where(input < 0, n, input)
    rows = jnp.take(weight, index, axis=0, mode="fill")
    if max_norm is not None:
        if norm_type == float("inf"):
            norms = jnp.max(jnp.abs(rows), axis=-1, keepdims=True)
        else:
            norms = jnp.sum(jnp.abs(rows) ** norm_type, axis=-1, keepdims=True) ** (1 / norm_type)
        scale = jnp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0).astype(rows.dtype)
        # value: the renormalized rows; gradient: as for the rows themselves
        rows = lax.stop_gradient(rows * scale) + (rows - lax.stop_gradient(rows))
    if scale_grad_by_freq:
        counts = jnp.zeros((n + 1,), rows.dtype).at[index.reshape(-1)].add(1, mode="drop")
        freq = counts[index][..., None]
        rows = lax.stop_gradient(rows) + (rows - lax.stop_gradient(rows)) / freq
    if padding_idx is not None:
        rows = jnp.where((input == padding_idx)[..., None], lax.stop_gradient(rows), rows)
    return rows
