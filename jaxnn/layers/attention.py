"""MultiheadAttention."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from flax import linen
from flax.linen.dtypes import promote_dtype
from jax import lax

from jaxnn import init
from jaxnn.core import attention
from jaxnn.layers.linear import Linear
from jaxnn.layers.module import Module

__all__ = ["MultiheadAttention"]

Array = jax.Array


def _project(x: Array, weight: Array, bias: Array | None) -> Array:
    """x @ weight.T + bias with ``weight`` in torch's (out, in) layout."""
    y = lax.dot_general(x, weight, (((x.ndim - 1,), (1,)), ((), ())))
    return y if bias is None else y + bias.reshape((1,) * (y.ndim - 1) + (-1,))


def _float_mask(mask: Array, name: str, dtype: Any, who: str) -> Array:
    """torch's canonical form of a mask: a boolean True (not allowed) becomes -inf, a
    float mask is added as it is."""
    if mask.dtype == jnp.bool_:
        return jnp.where(mask, -jnp.inf, 0.0).astype(dtype)
    if not jnp.issubdtype(mask.dtype, jnp.floating):
        raise TypeError(f"{who}: only bool and floating types of {name} are supported")
    return mask.astype(dtype)


def _pad_last(mask: Array | None) -> Array | None:
    """One more key column that nothing masks (for bias_k/bias_v and zero attention)."""
    if mask is None:
        return None
    return jnp.pad(mask, [(0, 0)] * (mask.ndim - 1) + [(0, 1)])


class MultiheadAttention(Module):
    """Multi-head attention, torch's ``nn.MultiheadAttention``:
    concat(head_1..head_h) W_o with head_i = softmax(Q W_q_i (K W_k_i)^T / sqrt(d)) V W_v_i.

    Args:
        embed_dim: model dimension E (split over the heads).
        num_heads: parallel heads; each has E // num_heads dimensions.
        dropout: dropout probability on the attention weights, in train mode. Default: 0.0.
        bias: biases in the input and output projections. Default: True.
        add_bias_kv: learn ``bias_k`` and ``bias_v`` appended to the keys and values.
        add_zero_attn: append a zero key and value to the sequences.
        kdim: features of key. Default: embed_dim.
        vdim: features of value. Default: embed_dim.
        batch_first: inputs and outputs are (N, L, E) rather than torch's default (L, N, E).
        weight_init: Flax initializer for every projection weight (``nn.Transformer``
            passes xavier_uniform_). Default: torch's, xavier_uniform_ for the input
            projections and Linear's default for ``out_proj``.
        dtype: computation dtype (None: promote inputs and parameters).
        param_dtype: parameter dtype. Default: float32.

    Call: ``(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False) -> (output, weights)``, as torch:

    * ``key_padding_mask`` (N, S): True (or -inf) marks keys to ignore; a float mask is
      added to the scores.
    * ``attn_mask`` (L, S) or (N * num_heads, L, S): True (or -inf) where a query may
      *not* attend; a float mask is added to the scores.
    * ``need_weights``: also return the attention weights, averaged over the heads
      (``average_attn_weights``) or per head; otherwise ``weights`` is None and the
      attention runs through ``F.scaled_dot_product_attention``.
    * ``is_causal``: a hint that ``attn_mask`` is the causal mask (it must be given);
      without a padding mask or weights, causal attention is computed directly.

    A query whose keys are all masked gives NaN with ``need_weights`` (as torch) and 0
    without.

    Shape:
        query (L, N, E), key (S, N, kdim), value (S, N, vdim), or (N, L, E) ... with
        ``batch_first``, or unbatched (L, E) ... -> output like query; weights (N, L, S)
        or (N, num_heads, L, S) (unbatched: without N).

    Variables: torch's names and layouts -- ``in_proj_weight`` (3E, E) or
    ``q_proj_weight`` / ``k_proj_weight`` / ``v_proj_weight`` when kdim or vdim differ,
    ``in_proj_bias`` (3E,), ``bias_k`` / ``bias_v`` (1, 1, E) -- and ``out_proj``, a
    Linear.
    """

    embed_dim: int
    num_heads: int
    dropout: float = 0.0
    bias: bool = True
    add_bias_kv: bool = False
    add_zero_attn: bool = False
    kdim: int | None = None
    vdim: int | None = None
    batch_first: bool = False
    weight_init: init.Initializer | None = None
    dtype: Any = None
    param_dtype: Any = jnp.float32

    def __post_init__(self) -> None:
        if self.embed_dim <= 0 or self.num_heads <= 0:
            raise ValueError(
                f"MultiheadAttention: embed_dim and num_heads must be greater than 0, got "
                f"embed_dim={self.embed_dim} and num_heads={self.num_heads}"
            )
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"MultiheadAttention: embed_dim ({self.embed_dim}) must be divisible by "
                f"num_heads ({self.num_heads})"
            )
        if not 0.0 <= self.dropout <= 1.0:
            raise ValueError(
                f"MultiheadAttention: dropout probability has to be between 0 and 1, "
                f"got {self.dropout}"
            )
        super().__post_init__()

    def _dims(self) -> tuple[int, int]:
        return (
            self.embed_dim if self.kdim is None else self.kdim,
            self.embed_dim if self.vdim is None else self.vdim,
        )

    @linen.compact
    def __call__(
        self,
        query: Array,
        key: Array,
        value: Array,
        key_padding_mask: Array | None = None,
        need_weights: bool = True,
        attn_mask: Array | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Array, Array | None]:
        who, e, n = self._who(), self.embed_dim, self.num_heads
        kdim, vdim = self._dims()
        self_attention = query is key and key is value
        cross_kv = key is value
        query, key, value = (jnp.asarray(a) for a in (query, key, value))
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(
                f"{who}: query, key and value must be unbatched 2-D or batched 3-D tensors "
                f"of one rank, got shapes {tuple(query.shape)}, {tuple(key.shape)}, "
                f"{tuple(value.shape)}"
            )
        batched = query.ndim == 3

        def batch_major(x):  # -> (N, L, E)
            if not batched:
                return x[None]
            return x if self.batch_first else jnp.swapaxes(x, 0, 1)

        q_in, k_in, v_in = batch_major(query), batch_major(key), batch_major(value)
        b, l, s = q_in.shape[0], q_in.shape[1], k_in.shape[1]
        for name, x, features in (("query", q_in, e), ("key", k_in, kdim), ("value", v_in, vdim)):
            if x.shape[-1] != features:
                raise ValueError(
                    f"{who}: {name} has {x.shape[-1]} features (shape {tuple(x.shape)}), "
                    f"expected {features}"
                )
        if k_in.shape[:2] != (b, s) or v_in.shape[:2] != (b, s):
            raise ValueError(
                f"{who}: key and value must have the same length and batch size as each "
                f"other and the query's batch size, got shapes {tuple(query.shape)}, "
                f"{tuple(key.shape)}, {tuple(value.shape)}"
            )

        weight_init = self.weight_init or init.xavier_uniform_()
        w = bias = None
        if kdim == e and vdim == e:
            w = self.param("in_proj_weight", weight_init, (3 * e, e), self.param_dtype)
        else:
            weights = [
                self.param(f"{p}_proj_weight", weight_init, (e, d), self.param_dtype)
                for p, d in (("q", e), ("k", kdim), ("v", vdim))
            ]
        if self.bias:
            bias = self.param("in_proj_bias", init.zeros_(), (3 * e,), self.param_dtype)
        bias_k = bias_v = None
        if self.add_bias_kv:
            # torch's xavier_normal_ fans of a (1, 1, E) tensor: fan_in = fan_out = E
            bias_init = init.normal_(0.0, math.sqrt(1.0 / e))
            bias_k = self.param("bias_k", bias_init, (1, 1, e), self.param_dtype)
            bias_v = self.param("bias_v", bias_init, (1, 1, e), self.param_dtype)
        q_in, k_in, v_in, w, bias, bias_k, bias_v = promote_dtype(
            q_in, k_in, v_in, w, bias, bias_k, bias_v, dtype=self.dtype
        )
        if w is not None:
            weights = (w[:e], w[e : 2 * e], w[2 * e :])
        else:
            weights = promote_dtype(*weights, dtype=self.dtype)
        biases = (None,) * 3 if bias is None else (bias[:e], bias[e : 2 * e], bias[2 * e :])

        if self_attention and w is not None:  # one matmul for q, k and v
            q, k, v = jnp.split(_project(q_in, w, bias), 3, axis=-1)
        elif cross_kv and w is not None:
            q = _project(q_in, weights[0], biases[0])
            kv_bias = None if bias is None else bias[e:]
            k, v = jnp.split(_project(k_in, w[e:], kv_bias), 2, axis=-1)
        else:
            inputs = (q_in, k_in, v_in)
            q, k, v = (_project(x, wi, bi) for x, wi, bi in zip(inputs, weights, biases))

        mask = self._attn_mask(attn_mask, b, l, s, q.dtype, who)
        padding = self._padding_mask(key_padding_mask, batched, b, s, q.dtype, who)
        if is_causal and attn_mask is None:
            raise ValueError(
                f"{who}: is_causal=True is a hint that attn_mask is causal and needs "
                "attn_mask; nn.Transformer.generate_square_subsequent_mask(L) builds it"
            )
        causal = is_causal and key_padding_mask is None and not need_weights
        if causal:  # torch trusts the hint and computes causal attention directly
            mask = None
        if bias_k is not None:
            k = jnp.concatenate([k, jnp.broadcast_to(bias_k, (b, 1, e))], axis=1)
            v = jnp.concatenate([v, jnp.broadcast_to(bias_v, (b, 1, e))], axis=1)
            mask, padding = _pad_last(mask), _pad_last(padding)
        h = e // n
        q, k, v = (x.reshape(b, x.shape[1], n, h) for x in (q, k, v))  # (N, L, heads, h)
        if self.add_zero_attn:
            k = jnp.concatenate([k, jnp.zeros((b, 1, n, h), k.dtype)], axis=1)
            v = jnp.concatenate([v, jnp.zeros((b, 1, n, h), v.dtype)], axis=1)
            mask, padding = _pad_last(mask), _pad_last(padding)
        scores_bias = mask if padding is None else padding if mask is None else mask + padding

        rate = self.dropout if self.has_rng("dropout") else 0.0
        key_ = self.make_rng("dropout") if rate > 0.0 else None
        if need_weights:
            out, attn = attention.attention_with_weights(
                q, k, v, bias=scores_bias, dropout_rate=rate, dropout_key=key_
            )
            if average_attn_weights:
                attn = attn.mean(axis=1)
            if not batched:
                attn = attn[0]
        else:
            out = attention.attention(
                q, k, v, bias=scores_bias, is_causal=causal, dropout_rate=rate, dropout_key=key_
            )
            attn = None
        out = out.reshape(b, l, e)
        out = Linear(
            e,
            e,
            bias=self.bias,
            weight_init=self.weight_init,
            bias_init=init.zeros_(),
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            name="out_proj",
        )(out)
        if not batched:
            return out[0], attn
        return (out if self.batch_first else jnp.swapaxes(out, 0, 1)), attn

    def _attn_mask(self, mask, b, l, s, dtype, who) -> Array | None:
        """attn_mask (L, S) or (N * heads, L, S) -> float (1 or N, 1 or heads, L, S)."""
        if mask is None:
            return None
        mask = jnp.asarray(mask)
        if mask.ndim == 2:
            if mask.shape != (l, s):
                raise ValueError(
                    f"{who}: the shape of the 2D attn_mask is {tuple(mask.shape)}, but "
                    f"should be {(l, s)}"
                )
            mask = mask[None, None]
        elif mask.ndim == 3:
            if mask.shape != (b * self.num_heads, l, s):
                raise ValueError(
                    f"{who}: the shape of the 3D attn_mask is {tuple(mask.shape)}, but "
                    f"should be {(b * self.num_heads, l, s)}"
                )
            mask = mask.reshape(b, self.num_heads, l, s)
        else:
            raise ValueError(
                f"{who}: attn_mask's dimension {mask.ndim} is not supported (2-D or 3-D)"
            )
        return _float_mask(mask, "attn_mask", dtype, who)

    def _padding_mask(self, mask, batched, b, s, dtype, who) -> Array | None:
        """key_padding_mask (N, S) (unbatched: (S,)) -> float (N, 1, 1, S)."""
        if mask is None:
            return None
        mask = jnp.asarray(mask)
        want = (b, s) if batched else (s,)
        if tuple(mask.shape) != want:
            raise ValueError(
                f"{who}: expected key_padding_mask of shape {want}, got {tuple(mask.shape)}"
            )
        return _float_mask(mask.reshape(b, 1, 1, s), "key_padding_mask", dtype, who)

    def _who(self) -> str:
        # errors name the layer on one line (its repr is torch's multi-line tree)
        where = ""
        if self.scope is not None and self.scope.path:
            where = f" at '{'.'.join(self.scope.path)}'"
        return f"MultiheadAttention(embed_dim={self.embed_dim}, num_heads={self.num_heads}){where}"

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        # torch prints the out_proj child: (out_proj): NonDynamicallyQuantizableLinear(...)
        return (
            f"MultiheadAttention(\n  (out_proj): NonDynamicallyQuantizableLinear("
            f"in_features={self.embed_dim}, out_features={self.embed_dim}, bias={self.bias})\n)"
        )
