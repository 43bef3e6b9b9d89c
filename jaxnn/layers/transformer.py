"""TransformerEncoderLayer, TransformerEncoder, TransformerDecoderLayer,
TransformerDecoder and Transformer, with torch's arguments, masks and parameter names.

torch's eval-mode fast paths (nested tensors for padded batches) are not taken: jaxnn
always computes what torch's training-mode path computes, so where torch's
``enable_nested_tensor`` path returns zeros at padded positions, jaxnn returns the
values computed there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxnn import functional as F
from jaxnn import init
from jaxnn.layers.attention import MultiheadAttention
from jaxnn.layers.dropout import Dropout
from jaxnn.layers.linear import Linear
from jaxnn.layers.module import Module
from jaxnn.layers.normalization import LayerNorm

__all__ = [
    "Transformer",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
]

Array = jax.Array
_ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


def _activation(activation: str | Callable[[Array], Array], who: str) -> Callable:
    if isinstance(activation, str):
        if activation not in _ACTIVATIONS:
            raise ValueError(f"{who}: activation should be relu/gelu, not {activation!r}")
        return _ACTIVATIONS[activation]
    if not callable(activation):
        raise TypeError(f"{who}: activation must be 'relu', 'gelu' or a callable")
    return activation


def _is_causal(is_causal: bool | None) -> bool:
    # torch compares a given mask with the causal one when is_causal is None; that needs
    # the mask's values, which jit does not have. The hint changes no result: with it,
    # a causal mask is applied directly instead of through the mask.
    return bool(is_causal)


class TransformerEncoderLayer(Module):
    """Self-attention and a feed-forward network, each with a residual connection and
    LayerNorm, torch's ``nn.TransformerEncoderLayer``.

    Args:
        d_model: features of the input.
        nhead: attention heads.
        dim_feedforward: hidden features of the feed-forward network. Default: 2048.
        dropout: dropout probability (attention weights, feed-forward, residuals), in
            train mode. Default: 0.1.
        activation: 'relu', 'gelu' (exact) or a callable. Default: 'relu'.
        layer_norm_eps: LayerNorm's eps. Default: 1e-5.
        batch_first: (N, S, E) rather than (S, N, E). Default: False.
        norm_first: LayerNorm before attention and feed-forward (pre-LN) rather than
            after the residual additions. Default: False.
        bias: biases in the Linear layers and the LayerNorms. Default: True.
        weight_init: Flax initializer for every weight matrix (``nn.Transformer`` passes
            xavier_uniform_). Default: each sublayer's torch default.

    Call: ``(src, src_mask=None, src_key_padding_mask=None, is_causal=False)``, the masks
    as :class:`MultiheadAttention`'s ``attn_mask`` and ``key_padding_mask``.

    Shape:
        (S, N, E), (N, S, E) with ``batch_first``, or unbatched (S, E) -> same shape.
    """

    d_model: int
    nhead: int
    dim_feedforward: int = 2048
    dropout: float = 0.1
    activation: str | Callable[[Array], Array] = "relu"
    layer_norm_eps: float = 1e-5
    batch_first: bool = False
    norm_first: bool = False
    bias: bool = True
    weight_init: init.Initializer | None = None

    def __post_init__(self) -> None:
        _activation(self.activation, type(self).__name__)
        super().__post_init__()

    def setup(self) -> None:
        d, w = self.d_model, self.weight_init
        self.self_attn = MultiheadAttention(
            d, self.nhead, self.dropout, self.bias, batch_first=self.batch_first, weight_init=w
        )
        self.linear1 = Linear(d, self.dim_feedforward, self.bias, weight_init=w)
        self.ff_dropout = Dropout(self.dropout)  # torch's `dropout`; the name is the argument's
        self.linear2 = Linear(self.dim_feedforward, d, self.bias, weight_init=w)
        self.norm1 = LayerNorm(d, self.layer_norm_eps, bias=self.bias)
        self.norm2 = LayerNorm(d, self.layer_norm_eps, bias=self.bias)
        self.dropout1 = Dropout(self.dropout)
        self.dropout2 = Dropout(self.dropout)

    def __call__(
        self,
        src: Array,
        src_mask: Array | None = None,
        src_key_padding_mask: Array | None = None,
        is_causal: bool = False,
    ) -> Array:
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal) -> Array:
        x = self.self_attn(
            x,
            x,
            x,
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            need_weights=False,
            is_causal=is_causal,
        )[0]
        return self.dropout1(x)

    def _ff_block(self, x) -> Array:
        act = _activation(self.activation, type(self).__name__)
        return self.dropout2(self.linear2(self.ff_dropout(act(self.linear1(x)))))


class TransformerDecoderLayer(Module):
    """Self-attention, attention over the encoder's output (``memory``) and a
    feed-forward network, each with a residual connection and LayerNorm, torch's
    ``nn.TransformerDecoderLayer``.

    Args: as :class:`TransformerEncoderLayer`.

    Call: ``(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False)``.

    Shape:
        tgt (T, N, E), memory (S, N, E) (``batch_first``: (N, T, E), (N, S, E);
        unbatched: (T, E), (S, E)) -> like tgt.
    """

    d_model: int
    nhead: int
    dim_feedforward: int = 2048
    dropout: float = 0.1
    activation: str | Callable[[Array], Array] = "relu"
    layer_norm_eps: float = 1e-5
    batch_first: bool = False
    norm_first: bool = False
    bias: bool = True
    weight_init: init.Initializer | None = None

    def __post_init__(self) -> None:
        _activation(self.activation, type(self).__name__)
        super().__post_init__()

    def setup(self) -> None:
        d, w, bf = self.d_model, self.weight_init, self.batch_first
        self.self_attn = MultiheadAttention(
            d, self.nhead, self.dropout, self.bias, batch_first=bf, weight_init=w
        )
        self.multihead_attn = MultiheadAttention(
            d, self.nhead, self.dropout, self.bias, batch_first=bf, weight_init=w
        )
        self.linear1 = Linear(d, self.dim_feedforward, self.bias, weight_init=w)
        self.ff_dropout = Dropout(self.dropout)
        self.linear2 = Linear(self.dim_feedforward, d, self.bias, weight_init=w)
        self.norm1 = LayerNorm(d, self.layer_norm_eps, bias=self.bias)
        self.norm2 = LayerNorm(d, self.layer_norm_eps, bias=self.bias)
        self.norm3 = LayerNorm(d, self.layer_norm_eps, bias=self.bias)
        self.dropout1 = Dropout(self.dropout)
        self.dropout2 = Dropout(self.dropout)
        self.dropout3 = Dropout(self.dropout)

    def __call__(
        self,
        tgt: Array,
        memory: Array,
        tgt_mask: Array | None = None,
        memory_mask: Array | None = None,
        tgt_key_padding_mask: Array | None = None,
        memory_key_padding_mask: Array | None = None,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
    ) -> Array:
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(
                self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal
            )
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(
                x
                + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            )
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal) -> Array:
        x = self.self_attn(
            x,
            x,
            x,
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            need_weights=False,
            is_causal=is_causal,
        )[0]
        return self.dropout1(x)

    def _mha_block(self, x, memory, attn_mask, key_padding_mask, is_causal) -> Array:
        x = self.multihead_attn(
            x,
            memory,
            memory,
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            need_weights=False,
            is_causal=is_causal,
        )[0]
        return self.dropout2(x)

    def _ff_block(self, x) -> Array:
        act = _activation(self.activation, type(self).__name__)
        return self.dropout3(self.linear2(self.ff_dropout(act(self.linear1(x)))))


class TransformerEncoder(Module):
    """``num_layers`` copies of ``encoder_layer`` (``layers.0``, ``layers.1``, ...), then
    the optional ``norm``, torch's ``nn.TransformerEncoder``.

    Args:
        encoder_layer: a :class:`TransformerEncoderLayer` (copied; each copy has its own
            weights).
        num_layers: number of copies.
        norm: an optional final layer normalization module.
        enable_nested_tensor: accepted for torch compatibility; jaxnn does not use nested
            tensors (see the module docstring).
        mask_check: accepted for torch compatibility.

    Call: ``(src, mask=None, src_key_padding_mask=None, is_causal=None)``.
    """

    encoder_layer: Module
    num_layers: int
    norm: Module | None = None
    enable_nested_tensor: bool = True
    mask_check: bool = True

    def setup(self) -> None:
        self.layers = [self.encoder_layer.clone(parent=None) for _ in range(self.num_layers)]

    def __call__(
        self,
        src: Array,
        mask: Array | None = None,
        src_key_padding_mask: Array | None = None,
        is_causal: bool | None = None,
    ) -> Array:
        x, causal = src, _is_causal(is_causal)
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=causal)
        return x if self.norm is None else self.norm(x)


class TransformerDecoder(Module):
    """``num_layers`` copies of ``decoder_layer`` (``layers.0``, ...), then the optional
    ``norm``, torch's ``nn.TransformerDecoder``.

    Args:
        decoder_layer: a :class:`TransformerDecoderLayer` (copied).
        num_layers: number of copies.
        norm: an optional final layer normalization module.

    Call: ``(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False)``.
    """

    decoder_layer: Module
    num_layers: int
    norm: Module | None = None

    def setup(self) -> None:
        self.layers = [self.decoder_layer.clone(parent=None) for _ in range(self.num_layers)]

    def __call__(
        self,
        tgt: Array,
        memory: Array,
        tgt_mask: Array | None = None,
        memory_mask: Array | None = None,
        tgt_key_padding_mask: Array | None = None,
        memory_key_padding_mask: Array | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ) -> Array:
        x, causal = tgt, _is_causal(tgt_is_causal)
        for layer in self.layers:
            x = layer(
                x,
                memory,
                tgt_mask=tgt_mask,
                memory_mask=memory_mask,
                tgt_key_padding_mask=tgt_key_padding_mask,
                memory_key_padding_mask=memory_key_padding_mask,
                tgt_is_causal=causal,
                memory_is_causal=memory_is_causal,
            )
        return x if self.norm is None else self.norm(x)


class Transformer(Module):
    """An encoder-decoder transformer, torch's ``nn.Transformer``: ``encoder`` (layers
    and a final LayerNorm ``encoder.norm``) and ``decoder`` likewise.

    Args:
        d_model: features of the inputs. Default: 512.
        nhead: attention heads. Default: 8.
        num_encoder_layers: encoder layers. Default: 6.
        num_decoder_layers: decoder layers. Default: 6.
        dim_feedforward: hidden features of the feed-forward networks. Default: 2048.
        dropout: dropout probability, in train mode. Default: 0.1.
        activation: 'relu', 'gelu' (exact) or a callable. Default: 'relu'.
        custom_encoder: a module used instead of the built encoder. torch re-initialises
            its matrices with xavier_uniform_; here it keeps its own initialisation.
        custom_decoder: likewise, instead of the built decoder.
        layer_norm_eps: LayerNorm's eps. Default: 1e-5.
        batch_first: (N, S, E) rather than (S, N, E). Default: False.
        norm_first: pre-LN layers (as :class:`TransformerEncoderLayer`). Default: False.
        bias: biases in the Linear layers and the LayerNorms. Default: True.

    Every weight matrix of the built encoder and decoder starts from xavier_uniform_,
    as torch's ``_reset_parameters`` draws them.

    Call: ``(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
    src_key_padding_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
    src_is_causal=None, tgt_is_causal=None, memory_is_causal=False)``.

    Shape:
        src (S, N, E), tgt (T, N, E) (``batch_first``: (N, S, E), (N, T, E); unbatched:
        (S, E), (T, E)) -> (T, N, E) like tgt.
    """

    d_model: int = 512
    nhead: int = 8
    num_encoder_layers: int = 6
    num_decoder_layers: int = 6
    dim_feedforward: int = 2048
    dropout: float = 0.1
    activation: str | Callable[[Array], Array] = "relu"
    custom_encoder: Module | None = None
    custom_decoder: Module | None = None
    layer_norm_eps: float = 1e-5
    batch_first: bool = False
    norm_first: bool = False
    bias: bool = True

    def setup(self) -> None:
        common: dict[str, Any] = dict(
            dim_feedforward=self.dim_feedforward,
            dropout=self.dropout,
            activation=self.activation,
            layer_norm_eps=self.layer_norm_eps,
            batch_first=self.batch_first,
            norm_first=self.norm_first,
            bias=self.bias,
            weight_init=init.xavier_uniform_(),
        )
        d, eps = self.d_model, self.layer_norm_eps
        if self.custom_encoder is not None:
            self.encoder = self.custom_encoder.clone(parent=None)
        else:
            self.encoder = TransformerEncoder(
                TransformerEncoderLayer(d, self.nhead, **common),
                self.num_encoder_layers,
                LayerNorm(d, eps, bias=self.bias),
            )
        if self.custom_decoder is not None:
            self.decoder = self.custom_decoder.clone(parent=None)
        else:
            self.decoder = TransformerDecoder(
                TransformerDecoderLayer(d, self.nhead, **common),
                self.num_decoder_layers,
                LayerNorm(d, eps, bias=self.bias),
            )

    def __call__(
        self,
        src: Array,
        tgt: Array,
        src_mask: Array | None = None,
        tgt_mask: Array | None = None,
        memory_mask: Array | None = None,
        src_key_padding_mask: Array | None = None,
        tgt_key_padding_mask: Array | None = None,
        memory_key_padding_mask: Array | None = None,
        src_is_causal: bool | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ) -> Array:
        who = self._who()
        batch_axis = 0 if self.batch_first else 1
        if src.ndim == 3 and src.shape[batch_axis] != tgt.shape[batch_axis]:
            raise ValueError(
                f"{who}: the batch number of src and tgt must be equal, got shapes "
                f"{tuple(src.shape)} and {tuple(tgt.shape)}"
            )
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise ValueError(
                f"{who}: the feature number of src and tgt must be equal to d_model "
                f"({self.d_model}), got shapes {tuple(src.shape)} and {tuple(tgt.shape)}"
            )
        memory = self.encoder(
            src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal
        )
        return self.decoder(
            tgt,
            memory,
            tgt_mask=tgt_mask,
            memory_mask=memory_mask,
            tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=memory_key_padding_mask,
            tgt_is_causal=tgt_is_causal,
            memory_is_causal=memory_is_causal,
        )

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device: Any = None, dtype: Any = None) -> Array:
        """The (sz, sz) causal mask: -inf above the diagonal, 0 elsewhere (float32 unless
        ``dtype``). ``device`` is accepted for torch compatibility."""
        del device
        return jnp.triu(jnp.full((sz, sz), -jnp.inf, dtype or jnp.float32), k=1)
