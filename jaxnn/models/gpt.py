"""GPT as nanoGPT builds it: nanoGPT's config, attribute names, initialisation and
``(idx, targets) -> (logits, loss)``, so nanoGPT state_dicts convert both ways; plus a
jitted ``generate`` that keeps a key/value cache, so each new token costs one position
rather than the whole prefix.

    >>> model = GPT(GPTConfig(block_size=16, vocab_size=65, n_layer=2, n_head=2, n_embd=32))
    >>> idx = jnp.zeros((2, 16), jnp.int32)
    >>> variables = model.init(jax.random.key(0), idx)
    >>> logits, loss = model.apply(variables, idx, idx)  # with targets: every position
    >>> logits.shape, loss.shape
    ((2, 16, 65), ())
    >>> out = generate(model, variables, idx[:, :4], 8, top_k=10, key=jax.random.key(1))
    >>> out.shape  # the 4 given tokens and 8 new ones
    (2, 12)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from flax.linen import nowrap
from jax import lax

from jaxnn import functional as F
from jaxnn import init
from jaxnn.core import attention
from jaxnn.layers import GELU, Dropout, Embedding, LayerNorm, Linear, Module
from jaxnn.models.builders import register_model

__all__ = ["GPT", "GPTConfig", "generate"]

Array = jax.Array
Cache = list[tuple[Array, Array]]  # per block: keys and values (B, L, n_head, head size)


@dataclass(frozen=True)
class GPTConfig:
    """nanoGPT's ``GPTConfig`` with its defaults (GPT-2 124M; the vocabulary padded to
    50304, a multiple of 64).

    Attributes:
        block_size: the longest context, in tokens (the rows of ``wpe``). Default: 1024.
        vocab_size: the number of tokens: the rows of ``wte``, the logits per position.
            Default: 50304.
        n_layer: transformer blocks. Default: 12.
        n_head: attention heads; they divide ``n_embd``. Default: 12.
        n_embd: the model dimension. Default: 768.
        dropout: dropout probability (embeddings, attention weights, residual branches),
            in train mode. Default: 0.0.
        bias: biases in the Linears and LayerNorms, like GPT-2. Default: True.
    """

    block_size: int = 1024
    vocab_size: int = 50304
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True


def _normal(std: float) -> init.Initializer:
    return init.normal_(0.0, std)


class CausalSelfAttention(Module):
    """Multi-head causal self-attention: ``c_attn`` projects q, k, v in one matmul,
    ``c_proj`` projects the heads back."""

    config: GPTConfig

    def setup(self) -> None:
        c = self.config
        if c.n_embd % c.n_head:
            raise ValueError(f"GPT: n_embd ({c.n_embd}) must be divisible by n_head ({c.n_head})")
        self.c_attn = Linear(c.n_embd, 3 * c.n_embd, c.bias, _normal(0.02), init.zeros_())
        # GPT-2's scaled init of the residual projections
        proj_std = 0.02 / math.sqrt(2 * c.n_layer)
        self.c_proj = Linear(c.n_embd, c.n_embd, c.bias, _normal(proj_std), init.zeros_())
        self.resid_dropout = Dropout(c.dropout)

    def _heads(self, x: Array) -> tuple[Array, Array, Array]:
        b, t, _ = x.shape
        q, k, v = jnp.split(self.c_attn(x), 3, axis=-1)
        n = self.config.n_head
        return tuple(a.reshape(b, t, n, -1) for a in (q, k, v))  # (B, T, nh, hs)

    def __call__(self, x: Array) -> Array:
        b, t, c = x.shape
        q, k, v = self._heads(x)
        rate = self.config.dropout if self.has_rng("dropout") else 0.0
        key = self.make_rng("dropout") if rate > 0 else None
        y = attention.attention(q, k, v, is_causal=True, dropout_rate=rate, dropout_key=key)
        return self.resid_dropout(self.c_proj(y.reshape(b, t, c)))

    def decode(self, x: Array, cache: tuple[Array, Array], pos: Array):
        """``x`` (B, t, C) at positions pos .. pos + t - 1, attending to the cached keys
        and values before it; returns the output and the updated cache."""
        b, t, c = x.shape
        q, k, v = self._heads(x)
        k = lax.dynamic_update_slice(cache[0], k.astype(cache[0].dtype), (0, pos, 0, 0))
        v = lax.dynamic_update_slice(cache[1], v.astype(cache[1].dtype), (0, pos, 0, 0))
        allowed = jnp.arange(k.shape[1])[None, :] <= pos + jnp.arange(t)[:, None]  # (t, L)
        y = attention.attention(q, k, v, mask=allowed[None, None])
        return self.c_proj(y.reshape(b, t, c)), (k, v)


class MLP(Module):
    """``c_fc`` (4x wider), exact GELU, ``c_proj``, dropout."""

    config: GPTConfig

    def setup(self) -> None:
        c = self.config
        self.c_fc = Linear(c.n_embd, 4 * c.n_embd, c.bias, _normal(0.02), init.zeros_())
        self.gelu = GELU()
        proj_std = 0.02 / math.sqrt(2 * c.n_layer)
        self.c_proj = Linear(4 * c.n_embd, c.n_embd, c.bias, _normal(proj_std), init.zeros_())
        self.dropout = Dropout(c.dropout)

    def __call__(self, x: Array) -> Array:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(Module):
    """Pre-LayerNorm transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    config: GPTConfig

    def setup(self) -> None:
        c = self.config
        self.ln_1 = LayerNorm(c.n_embd, bias=c.bias)
        self.attn = CausalSelfAttention(c)
        self.ln_2 = LayerNorm(c.n_embd, bias=c.bias)
        self.mlp = MLP(c)

    def __call__(self, x: Array) -> Array:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))

    def decode(self, x: Array, cache: tuple[Array, Array], pos: Array):
        y, cache = self.attn.decode(self.ln_1(x), cache, pos)
        x = x + y
        return x + self.mlp(self.ln_2(x)), cache


@register_model
class GPT(Module):
    """nanoGPT's GPT-2 style language model.

    Attribute names are nanoGPT's -- ``transformer.wte``, ``transformer.wpe``,
    ``transformer.h.N.{ln_1, attn.c_attn, attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj}``,
    ``transformer.ln_f`` and ``lm_head``, tied to ``transformer.wte`` (one weight; the
    state_dict holds it under both keys, as torch's) -- and so is the initialisation:
    N(0, 0.02) for every Linear and Embedding weight, N(0, 0.02 / sqrt(2 n_layer)) for
    the ``c_proj`` weights, zero biases.

    Args:
        config: a :class:`GPTConfig` (or a mapping of its fields, e.g. from JSON).

    Call: ``(idx, targets=None) -> (logits, loss)`` as nanoGPT: with ``targets``, logits
    for every position (B, T, vocab_size) and the mean cross entropy (targets of -1 are
    ignored); without, logits for the last position only (B, 1, vocab_size) and None.
    Train mode is an ``apply`` with a ``'dropout'`` rng.

    Shape: idx (B, T) integer tokens, T <= block_size.
    """

    config: GPTConfig = GPTConfig()

    def __post_init__(self) -> None:
        if isinstance(self.config, Mapping):
            object.__setattr__(self, "config", GPTConfig(**self.config))
        super().__post_init__()

    def setup(self) -> None:
        c = self.config
        self.transformer = {
            "wte": Embedding(c.vocab_size, c.n_embd, weight_init=_normal(0.02)),
            "wpe": Embedding(c.block_size, c.n_embd, weight_init=_normal(0.02)),
            "drop": Dropout(c.dropout),
            "h": [Block(c) for _ in range(c.n_layer)],
            "ln_f": LayerNorm(c.n_embd, bias=c.bias),
        }
        # nanoGPT: self.transformer.wte.weight = self.lm_head.weight
        self.tie_weights("lm_head.weight", "transformer.wte.weight")

    def _embed(self, idx: Array, positions: Array) -> Array:
        return self.transformer.drop(
            self.transformer.wte(idx) + self.transformer.wpe(positions)[None]
        )

    def _hidden(self, idx: Array) -> Array:
        """The final hidden states (B, T, n_embd), before ``lm_head``."""
        t = idx.shape[1]
        if t > self.config.block_size:
            raise ValueError(
                f"GPT: cannot forward sequence of length {t}, block size is only "
                f"{self.config.block_size}"
            )
        x = self._embed(idx, jnp.arange(t))
        for block in self.transformer.h:
            x = block(x)
        return self.transformer.ln_f(x)

    def lm_head(self, x: Array) -> Array:
        """Logits over the vocabulary: x @ wte.weight^T (the tied weight)."""
        return self.transformer.wte.attend(x)

    def __call__(self, idx: Array, targets: Array | None = None) -> tuple[Array, Array | None]:
        idx = jnp.asarray(idx)
        if idx.ndim != 2 or not jnp.issubdtype(idx.dtype, jnp.integer):
            raise ValueError(
                f"GPT: expected integer tokens of shape (B, T), got {idx.dtype} {tuple(idx.shape)}"
            )
        x = self._hidden(idx)
        if targets is None:  # inference: only the last position's logits
            return self.lm_head(x[:, -1:]), None
        logits = self.lm_head(x)
        loss = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), jnp.asarray(targets).reshape(-1), ignore_index=-1
        )
        return logits, loss

    def _decode(self, idx: Array, cache: Cache, pos: Array) -> tuple[Array, Cache]:
        """Logits of the last of ``idx``'s tokens (at positions pos ..), through the cache."""
        x = self._embed(idx, pos + jnp.arange(idx.shape[1]))
        new_cache = []
        for block, kv in zip(self.transformer.h, cache):
            x, kv = block.decode(x, kv, pos)
            new_cache.append(kv)
        return self.lm_head(self.transformer.ln_f(x[:, -1])), new_cache

    def generate(
        self,
        idx: Array,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        use_cache: bool = True,
    ) -> Array:
        """Continue ``idx`` (B, T) by ``max_new_tokens`` sampled tokens -> (B, T +
        max_new_tokens), as nanoGPT's ``generate``: the logits of the last position
        divided by ``temperature``, cut to the ``top_k`` largest (``top_k=1``: greedy,
        no randomness), sampled with the ``'sample'`` rng; the context is cropped to
        the last ``block_size`` tokens.

        Call it through ``apply`` (``model.apply(variables, idx, n, method='generate',
        rngs={'sample': key})``) or the jitted :func:`generate`. ``use_cache`` keeps each
        block's keys and values, so a new token costs one position; once the context
        exceeds ``block_size`` the window slides and every position moves, so those
        steps recompute the window, as nanoGPT does. Eval mode only: dropout is off.
        """
        c = self.config
        idx = jnp.asarray(idx)
        if self.has_rng("dropout"):
            raise ValueError("GPT.generate runs in eval mode; pass no 'dropout' rng")
        bad_temperature = isinstance(temperature, (int, float)) and temperature <= 0
        if max_new_tokens < 0 or bad_temperature or (top_k is not None and top_k < 1):
            raise ValueError(
                f"GPT.generate: needs max_new_tokens >= 0, temperature > 0 and top_k >= 1, "
                f"got {max_new_tokens}, {temperature}, {top_k}"
            )
        b, t0 = idx.shape
        total = t0 + max_new_tokens
        key = None
        if top_k != 1 and max_new_tokens:
            if not self.has_rng("sample"):
                raise ValueError(
                    "GPT.generate: sampling needs rngs={'sample': key} (top_k=1 is greedy)"
                )
            key = self.make_rng("sample")

        def sample(logits: Array, i: Array) -> Array:
            logits = logits.astype(jnp.float32) / temperature
            if top_k == 1:
                return jnp.argmax(logits, axis=-1).astype(idx.dtype)
            if top_k is not None:
                kth = lax.top_k(logits, min(top_k, logits.shape[-1]))[0][:, -1:]
                logits = jnp.where(logits < kth, -jnp.inf, logits)
            return jax.random.categorical(jax.random.fold_in(key, i), logits).astype(idx.dtype)

        tokens = jnp.zeros((b, total), idx.dtype).at[:, :t0].set(idx)
        done = 0
        if use_cache and t0 <= c.block_size and max_new_tokens:
            length = min(c.block_size, total)
            hs = c.n_embd // c.n_head
            dtype = self.transformer.wte.embedding.dtype
            empty = jnp.zeros((b, length, c.n_head, hs), dtype)
            logits, cache = self._decode(idx, [(empty, empty)] * c.n_layer, jnp.int32(0))
            first = sample(logits, jnp.int32(0))
            tokens = tokens.at[:, t0].set(first)
            done = min(max_new_tokens, c.block_size - t0 + 1)

            def cached(carry, i):
                token, cache = carry
                logits, cache = self._decode(token[:, None], cache, t0 + i - 1)
                token = sample(logits, i)
                return (token, cache), token

            steps = jnp.arange(1, done, dtype=jnp.int32)
            _, new = lax.scan(cached, (first, cache), steps)
            tokens = tokens.at[:, t0 + 1 : t0 + done].set(new.T)
        if done == max_new_tokens:
            return tokens

        width = min(c.block_size, total)

        def window(tokens, i):
            # the last `width` tokens before position t0 + i, nanoGPT's cropped context
            length = t0 + i
            start = jnp.maximum(length - width, 0)
            x = self._hidden(lax.dynamic_slice(tokens, (0, start), (b, width)))
            last = lax.dynamic_slice_in_dim(x, length - 1 - start, 1, axis=1)[:, 0]
            token = sample(self.lm_head(last), i)
            return lax.dynamic_update_slice(tokens, token[:, None], (0, length)), None

        steps = jnp.arange(done, max_new_tokens, dtype=jnp.int32)
        tokens, _ = lax.scan(window, tokens, steps)
        return tokens

    @nowrap
    def example_input(self, batch_size: int = 1) -> jax.ShapeDtypeStruct:
        """The shape and dtype of an input batch: (batch_size, block_size) int32 tokens."""
        return jax.ShapeDtypeStruct((batch_size, self.config.block_size), jnp.int32)

    @nowrap
    def get_num_params(self, variables: Mapping[str, Any], non_embedding: bool = True) -> int:
        """nanoGPT's count: every parameter (the tied weight once), without the position
        embeddings unless ``non_embedding=False``."""
        params = variables["params"]
        n = sum(a.size for a in jax.tree_util.tree_leaves(params))
        if non_embedding:
            n -= params["transformer"]["wpe"]["embedding"].size
        return n


@functools.partial(jax.jit, static_argnames=("model", "max_new_tokens", "top_k", "use_cache"))
def _generate(model, variables, idx, max_new_tokens, temperature, top_k, use_cache, key):
    rngs = {} if key is None else {"sample": key}
    return model.apply(
        variables,
        idx,
        max_new_tokens,
        temperature,
        top_k,
        use_cache,
        method="generate",
        rngs=rngs,
    )


def generate(
    model: GPT,
    variables: Mapping[str, Any],
    idx: Array,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    *,
    key: Array | None = None,
    use_cache: bool = True,
) -> Array:
    """``model.generate`` compiled once per (model, shapes, max_new_tokens, top_k,
    use_cache): ``idx`` (B, T) -> (B, T + max_new_tokens).

    Args:
        model: the :class:`GPT`.
        variables: its variables.
        idx: (B, T) integer tokens, the context to continue.
        max_new_tokens: how many tokens to append.
        temperature: the logits are divided by it; > 0 (a traced value is not checked).
            Default: 1.0.
        top_k: sample only among the k most likely tokens (1: greedy). Default: None
            (all of them).
        key: a ``jax.random`` key that drives the sampling; it may be left out when
            ``top_k=1``.
        use_cache: keep each block's keys and values between steps (as
            :meth:`GPT.generate`). Default: True.
    """
    if key is None and top_k != 1 and max_new_tokens:
        raise ValueError("generate: sampling needs key=jax.random.key(...) (or top_k=1)")
    if isinstance(temperature, (int, float)) and temperature <= 0:
        raise ValueError(f"generate: temperature must be > 0, got {temperature}")
    return _generate(
        model, variables, jnp.asarray(idx), max_new_tokens, temperature, top_k, use_cache, key
    )
