"""Scaled dot-product attention as ``F.scaled_dot_product_attention``,
``nn.MultiheadAttention`` and GPT compute it.

Arrays are in ``jax.nn.dot_product_attention``'s layout: query (B, T, N, H), key (B, S, K, H)
and value (B, S, K, Hv), with N query heads sharing each of K key/value heads. Masks are
(B or 1, N or 1, T, S): ``mask`` is boolean (True: the key takes part), ``bias`` is
added to the scaled scores (-inf masks).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["attention", "attention_with_weights", "causal_mask", "safe_softmax"]

Array = jax.Array


def causal_mask(t: int, s: int) -> Array:
    """(T, S) booleans, True where query i may attend to key j: j <= i (torch's
    ``is_causal``, aligned to the top left).

    Args:
        t: the number of queries, T.
        s: the number of keys, S.
    """
    return jnp.tril(jnp.ones((t, s), bool))


def safe_softmax(logits: Array) -> Array:
    """Softmax over the last axis, 0 (not NaN) where every entry is -inf, as torch's
    scaled_dot_product_attention has it for a fully masked row.

    Args:
        logits: the scores; -inf masks an entry.
    """
    peak = jnp.max(logits, axis=-1, keepdims=True)
    peak = jnp.where(jnp.isneginf(peak), 0.0, lax.stop_gradient(peak))
    e = jnp.exp(logits - peak)
    total = jnp.sum(e, axis=-1, keepdims=True)
    return e / jnp.where(total == 0, 1.0, total)


def _masked_logits(q, k, mask, bias, is_causal, scale) -> Array:
    """(B, N, T, S) float32-or-wider scores with masks applied (-inf where masked)."""
    g = q.shape[2] // k.shape[2]
    if g > 1:  # grouped-query attention: key/value head i serves query heads i*g..i*g+g-1
        k = jnp.repeat(k, g, axis=2)
    logits = jnp.einsum(
        "btnh,bsnh->bnts", q, k, preferred_element_type=jnp.promote_types(q.dtype, jnp.float32)
    )
    logits = logits * jnp.asarray(scale, logits.dtype)
    if bias is not None:
        logits = logits + bias.astype(logits.dtype)
    allowed = mask
    if is_causal:
        c = causal_mask(q.shape[1], k.shape[1])[None, None]
        allowed = c if allowed is None else allowed & c
    if allowed is not None:
        logits = jnp.where(allowed, logits, -jnp.inf)
    return logits


def attention(
    q: Array,
    k: Array,
    v: Array,
    *,
    mask: Array | None = None,
    bias: Array | None = None,
    is_causal: bool = False,
    scale: float | None = None,
    dropout_rate: float = 0.0,
    dropout_key: Array | None = None,
) -> Array:
    """softmax(q k^T * scale + bias, masked) v in (B, T, N, Hv), torch's
    scaled_dot_product_attention: a row with every key masked gives 0.

    Without dropout and with equal head sizes this is ``jax.nn.dot_product_attention``
    (XLA's fused kernels on accelerators), with fully masked rows set to 0 after it (it
    would give the mean of the values there). Otherwise the scores are computed here.

    Args:
        q: the queries (B, T, N, H).
        k: the keys (B, S, K, H); K divides N (grouped-query attention when K < N).
        v: the values (B, S, K, Hv).
        mask: booleans (B or 1, N or 1, T, S), True where a key takes part, or None.
        bias: added to the scaled scores, (B or 1, N or 1, T, S) (-inf masks), or None.
        is_causal: also mask key j for query i where j > i. Default: False.
        scale: multiplies q k^T. Default: None (1 / sqrt(H)).
        dropout_rate: dropout probability on the attention weights. Default: 0.0.
        dropout_key: the ``jax.random`` key for dropout; needed when
            ``dropout_rate > 0``.
    """
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    if dropout_rate > 0.0 or v.shape[-1] != q.shape[-1]:
        logits = _masked_logits(q, k, mask, bias, is_causal, scale)
        probs = safe_softmax(logits)
        if dropout_rate > 0.0:
            if dropout_rate >= 1.0:
                probs = jnp.zeros_like(probs)
            else:
                keep = jax.random.bernoulli(dropout_key, 1.0 - dropout_rate, (probs.size,))
                probs = jnp.where(keep.reshape(probs.shape), probs / (1.0 - dropout_rate), 0.0)
        g = q.shape[2] // v.shape[2]
        if g > 1:
            v = jnp.repeat(v, g, axis=2)
        return jnp.einsum("bnts,bsnh->btnh", probs.astype(v.dtype), v)
    allowed = mask
    if bias is not None:
        finite = ~jnp.isneginf(bias)
        allowed = finite if allowed is None else allowed & finite
        # a finite stand-in for -inf: jax's softmax of an all -inf row is NaN
        bias = jnp.maximum(bias, jnp.finfo(bias.dtype).min / 2)
    out = jax.nn.dot_product_attention(
        q, k, v, bias=bias, mask=mask, scale=scale, is_causal=is_causal
    )
    if allowed is not None:
        any_key = jnp.any(allowed, axis=-1)  # (B or 1, N or 1, T)
        out = out * jnp.transpose(any_key, (0, 2, 1))[..., None].astype(out.dtype)
    return out


def attention_with_weights(
    q: Array,
    k: Array,
    v: Array,
    *,
    bias: Array | None = None,
    dropout_rate: float = 0.0,
    dropout_key: Array | None = None,
) -> tuple[Array, Array]:
    """(output (B, T, N, Hv), weights (B, N, T, S)) as torch's MultiheadAttention computes
    them when it returns its weights: the query scaled before the product, a plain
    softmax (a fully masked row is NaN, as in torch) and dropout on the returned
    weights.

    Args:
        q: the queries (B, T, N, H).
        k: the keys (B, S, N, H).
        v: the values (B, S, N, Hv).
        bias: added to the scores, (B or 1, N or 1, T, S) (-inf masks), or None.
        dropout_rate: dropout probability on the weights. Default: 0.0.
        dropout_key: the ``jax.random`` key for dropout; needed when
            ``dropout_rate > 0``.
    """
    q = q * jnp.asarray(q.shape[-1] ** -0.5, q.dtype)
    logits = jnp.einsum("btnh,bsnh->bnts", q, k)
    if bias is not None:
        logits = logits + bias.astype(logits.dtype)
    weights = jax.nn.softmax(logits, axis=-1)
    if dropout_rate > 0.0:
        if dropout_rate >= 1.0:
            weights = jnp.zeros_like(weights)
        else:
            keep = jax.random.bernoulli(dropout_key, 1.0 - dropout_rate, (weights.size,))
            weights = jnp.where(keep.reshape(weights.shape), weights / (1.0 - dropout_rate), 0.0)
    return jnp.einsum("bnts,bsnh->btnh", weights, v), weights
