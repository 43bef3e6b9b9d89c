"""The PyTorch word-language-model example's models, with its arguments, attribute names
and initialisation: RNNModel (LSTM, GRU, RNN_TANH, RNN_RELU; optional tied weights) and
TransformerModel (with its ``pos_encoder.pe`` buffer)."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen
from flax.linen import nowrap

from jaxnn import functional as F
from jaxnn import init
from jaxnn.layers import (
    GRU,
    LSTM,
    RNN,
    Dropout,
    Embedding,
    LayerNorm,
    Linear,
    Module,
    Transformer,
    TransformerEncoder,
    TransformerEncoderLayer,
)
from jaxnn.models.builders import register_model

__all__ = ["PositionalEncoding", "RNNModel", "TransformerModel"]

Array = jax.Array
_RNN_TYPES = {"LSTM": LSTM, "GRU": GRU, "RNN_TANH": "tanh", "RNN_RELU": "relu"}
_INIT_RANGE = 0.1  # the example's initrange for the embedding and the decoder


class _TiedDecoder(Module):
    """The decoder of ``tie_weights=True``: its weight is the encoder's (one leaf, named
    ``decoder.weight`` in the state_dict by the tie), its ``bias`` its own."""

    ntoken: int

    @linen.compact
    def __call__(self, x: Array, weight: Array) -> Array:
        bias = self.param("bias", init.zeros_(), (self.ntoken,))
        return x @ weight.T + bias.reshape((1,) * (x.ndim - 1) + (-1,))


@register_model
class RNNModel(Module):
    """Embedding, a recurrent network and a Linear decoder to log-probabilities (the
    word-language-model example's RNNModel).

    Args:
        rnn_type: 'LSTM', 'GRU', 'RNN_TANH' or 'RNN_RELU'.
        ntoken: vocabulary size.
        ninp: embedding size.
        nhid: hidden units per layer.
        nlayers: recurrent layers.
        dropout: dropout on the embeddings, between the recurrent layers and on their
            output. Default: 0.5.
        tie_weights: the decoder uses the encoder's weight (needs nhid == ninp).

    Call: ``(input, hidden=None) -> (log_probs, hidden)``; ``hidden`` None is zeros
    (:meth:`init_hidden`).

    Shape: input (T, N) tokens -> log_probs (T * N, ntoken); hidden (nlayers, N, nhid)
    (LSTM: a pair).
    """

    rnn_type: str
    ntoken: int
    ninp: int
    nhid: int
    nlayers: int
    dropout: float = 0.5
    tie_weights: bool = False

    def __post_init__(self) -> None:
        if self.rnn_type not in _RNN_TYPES:
            raise ValueError(
                "An invalid option for `--model` was supplied, options are "
                f"['LSTM', 'GRU', 'RNN_TANH' or 'RNN_RELU'], got {self.rnn_type!r}"
            )
        if self.tie_weights and self.nhid != self.ninp:
            raise ValueError(
                f"When using the tied flag, nhid must be equal to emsize (nhid={self.nhid}, "
                f"ninp={self.ninp})"
            )
        super().__post_init__()

    def setup(self) -> None:
        uniform = init.uniform_(-_INIT_RANGE, _INIT_RANGE)
        self.drop = Dropout(self.dropout)
        self.encoder = Embedding(self.ntoken, self.ninp, weight_init=uniform)
        kind = _RNN_TYPES[self.rnn_type]
        if isinstance(kind, str):
            self.rnn = RNN(self.ninp, self.nhid, self.nlayers, kind, dropout=self.dropout)
        else:
            self.rnn = kind(self.ninp, self.nhid, self.nlayers, dropout=self.dropout)
        if self.tie_weights:
            self.decoder = _TiedDecoder(self.ntoken)
            # the field `tie_weights` (the example's argument) shadows the method
            Module.tie_weights(self, "decoder.weight", "encoder.weight")
        else:
            zeros = init.zeros_()
            self.decoder = Linear(self.nhid, self.ntoken, weight_init=uniform, bias_init=zeros)

    def __call__(self, input: Array, hidden: Any = None) -> tuple[Array, Any]:
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        if self.tie_weights:
            decoded = self.decoder(output, self.encoder.embedding)
        else:
            decoded = self.decoder(output)
        decoded = decoded.reshape(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    @nowrap
    def init_hidden(self, bsz: int) -> Any:
        """Zeros of the hidden state for a batch of ``bsz`` (a pair for LSTM)."""
        zeros = jnp.zeros((self.nlayers, bsz, self.nhid), jnp.float32)
        return (zeros, zeros) if self.rnn_type == "LSTM" else zeros

    @nowrap
    def example_input(self, batch_size: int = 1) -> jax.ShapeDtypeStruct:
        """The shape and dtype of an input batch: 35 steps (the example's bptt) of
        ``batch_size`` int32 tokens."""
        return jax.ShapeDtypeStruct((35, batch_size), jnp.int32)


def _sinusoids(d_model: int, max_len: int) -> np.ndarray:
    """(max_len, 1, d_model) sine / cosine encodings, float32 as the example computes them."""
    position = np.arange(max_len, dtype=np.float32)[:, None]
    rate = np.float32(-math.log(10000.0) / d_model)
    div_term = np.exp(np.arange(0, d_model, 2, dtype=np.float32) * rate)
    pe = np.zeros((max_len, d_model), np.float32)
    pe[:, 0::2] = np.sin(position * div_term)
    pe[:, 1::2] = np.cos(position * div_term)
    return pe[:, None, :]


class PositionalEncoding(Module):
    """Adds sine and cosine positional encodings, then dropout (the example's
    PositionalEncoding); the encodings are the persistent buffer ``pe`` (max_len, 1,
    d_model).

    Args:
        d_model: the model dimension (even).
        dropout: dropout probability after the addition, in train mode. Default: 0.1.
        max_len: the longest sequence encoded (the rows of ``pe``). Default: 5000.

    Shape: (T, N, d_model) -> same shape, T <= max_len.
    """

    d_model: int
    dropout: float = 0.1
    max_len: int = 5000

    def setup(self) -> None:
        self.register_buffer("pe", _sinusoids(self.d_model, self.max_len))
        self.drop = Dropout(self.dropout)

    def __call__(self, x: Array) -> Array:
        return self.drop(x + self.pe[: x.shape[0]])


@register_model
class TransformerModel(Module):
    """Embedding (scaled by sqrt(ninp)), positional encoding, a causal
    TransformerEncoder and a Linear decoder to log-probabilities (the
    word-language-model example's TransformerModel, an ``nn.Transformer`` whose encoder
    it uses; the encoder layers keep nn.Transformer's dropout of 0.1 and xavier init).

    Args:
        ntoken: vocabulary size.
        ninp: model dimension.
        nhead: attention heads.
        nhid: feed-forward dimension.
        nlayers: encoder layers.
        dropout: dropout of the positional encoding. Default: 0.5.

    Call: ``(src, has_mask=True) -> log_probs``; ``has_mask`` applies the causal mask.

    Shape: src (T, N) tokens -> (T, N, ntoken).
    """

    ntoken: int
    ninp: int
    nhead: int
    nhid: int
    nlayers: int
    dropout: float = 0.5

    def setup(self) -> None:
        uniform = init.uniform_(-_INIT_RANGE, _INIT_RANGE)
        layer = TransformerEncoderLayer(
            self.ninp, self.nhead, self.nhid, weight_init=init.xavier_uniform_()
        )
        self.encoder = TransformerEncoder(layer, self.nlayers, LayerNorm(self.ninp))
        self.pos_encoder = PositionalEncoding(self.ninp, self.dropout)
        self.input_emb = Embedding(self.ntoken, self.ninp, weight_init=uniform)
        self.decoder = Linear(self.ninp, self.ntoken, weight_init=uniform, bias_init=init.zeros_())

    def __call__(self, src: Array, has_mask: bool = True) -> Array:
        mask = Transformer.generate_square_subsequent_mask(src.shape[0]) if has_mask else None
        x = self.input_emb(src) * math.sqrt(self.ninp)
        x = self.pos_encoder(x)
        output = self.decoder(self.encoder(x, mask=mask))
        return F.log_softmax(output, dim=-1)

    @nowrap
    def example_input(self, batch_size: int = 1) -> jax.ShapeDtypeStruct:
        """The shape and dtype of an input batch: 35 steps of ``batch_size`` int32 tokens."""
        return jax.ShapeDtypeStruct((35, batch_size), jnp.int32)
