"""RNN, LSTM, GRU and their cells, with torch's arguments, parameter names and layouts.

Parameters keep torch's names and layouts (``weight_ih_l0`` (gates * hidden, in),
``bias_hh_l1_reverse``, ``weight_hr_l0`` ...): they have no Flax convention, so they
need no row in the state_dict rule table.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import jax
import jax.numpy as jnp
from flax import linen
from flax.linen.dtypes import promote_dtype

from jaxnn import functional as F
from jaxnn import init
from jaxnn.core import rnn
from jaxnn.layers.module import Module

__all__ = ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNCell"]

Array = jax.Array


class _RNNBase(Module):
    """The body shared by RNN, LSTM and GRU; subclasses declare torch's fields in torch's
    positional order and set ``_mode``."""

    def _check_config(self) -> None:
        who = type(self).__name__
        if not 0 <= self.dropout <= 1 or isinstance(self.dropout, bool):
            raise ValueError(
                f"{who}: dropout should be a number in range [0, 1] representing the "
                f"probability of an element being zeroed, got {self.dropout}"
            )
        if self.hidden_size <= 0 or self.num_layers <= 0:
            raise ValueError(
                f"{who}: hidden_size and num_layers must be greater than 0, got "
                f"hidden_size={self.hidden_size}, num_layers={self.num_layers}"
            )
        proj = self._proj()
        if proj < 0:
            raise ValueError(
                f"{who}: proj_size should be a positive integer or zero to disable projections"
            )
        if proj >= self.hidden_size:
            raise ValueError(f"{who}: proj_size has to be smaller than hidden_size")
        if self.dropout > 0 and self.num_layers == 1:
            warnings.warn(  # torch's warning
                "dropout option adds dropout after all but last recurrent layer, so non-zero "
                f"dropout expects num_layers greater than 1, but got dropout={self.dropout} "
                f"and num_layers={self.num_layers}",
                stacklevel=3,
            )

    def _proj(self) -> int:
        return getattr(self, "proj_size", 0)

    def _mode(self) -> str:
        raise NotImplementedError

    def _weights(self, layer: int) -> rnn.LayerWeights:
        """Layer ``layer``'s parameters under torch's names, directions stacked."""
        h, proj = self.hidden_size, self._proj()
        real = proj or h
        directions = 2 if self.bidirectional else 1
        gates = rnn.GATES[self._mode()] * h
        fan = self.input_size if layer == 0 else real * directions
        uniform = init.uniform_(-1 / math.sqrt(h), 1 / math.sqrt(h))
        # torch's names and shapes, in torch's registration order
        leaves = [("weight_ih", (gates, fan)), ("weight_hh", (gates, real))]
        if self.bias:
            leaves += [("bias_ih", (gates,)), ("bias_hh", (gates,))]
        if proj:
            leaves.append(("weight_hr", (proj, h)))
        found: dict[str, list[Array]] = {}
        for d in range(directions):
            suffix = f"_l{layer}" + ("_reverse" if d else "")
            for name, shape in leaves:
                leaf = self.param(name + suffix, uniform, shape, self.param_dtype)
                found.setdefault(name, []).append(leaf)
        stacked = [
            jnp.stack(found[name]) if name in found else None
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
        ]
        return rnn.LayerWeights(*stacked)

    @linen.compact
    def __call__(self, input: Array, hx: Any = None) -> tuple[Array, Any]:
        who, mode = self._who(), self._mode()
        lstm = mode == "LSTM"
        input = jnp.asarray(input)
        if input.ndim not in (2, 3):
            raise ValueError(f"{who}: expected input to be 2D or 3D, got {input.ndim}D instead")
        if input.shape[-1] != self.input_size:
            raise ValueError(
                f"{who}: input.size(-1) must be equal to input_size. Expected "
                f"{self.input_size}, got {input.shape[-1]} (input shape {tuple(input.shape)})"
            )
        batched = input.ndim == 3
        x = input if not self.batch_first or not batched else jnp.swapaxes(input, 0, 1)
        x = x if batched else x[:, None]  # (T, B, in)
        b = x.shape[1]
        directions = 2 if self.bidirectional else 1
        real = self._proj() or self.hidden_size
        dtype = x.dtype if jnp.issubdtype(x.dtype, jnp.inexact) else jnp.float32
        h0, c0 = self._initial_state(hx, batched, b, directions, real, lstm, dtype, who)
        weights = [self._weights(layer) for layer in range(self.num_layers)]
        x, h0, c0, *flat = promote_dtype(
            x, h0, c0, *[a for w in weights for a in w], dtype=self.dtype
        )
        weights = [rnn.LayerWeights(*flat[5 * i : 5 * i + 5]) for i in range(self.num_layers)]
        training = self.dropout > 0 and self.has_rng("dropout")
        h_n, c_n = [], []
        for layer, w in enumerate(weights):
            if layer > 0 and training:
                x = F.dropout(x, self.dropout, key=self.make_rng("dropout"))
            rows = slice(layer * directions, (layer + 1) * directions)
            x, h, c = rnn.layer(mode, x, h0[rows], None if c0 is None else c0[rows], w)
            h_n.append(h)
            c_n.append(c)
        h_n = jnp.concatenate(h_n)
        out = x if batched else x[:, 0]
        if self.batch_first and batched:
            out = jnp.swapaxes(out, 0, 1)
        if not batched:
            h_n = h_n[:, 0]
        if not lstm:
            return out, h_n
        c_n = jnp.concatenate(c_n)
        return out, (h_n, c_n if batched else c_n[:, 0])

    def _initial_state(self, hx, batched, b, directions, real, lstm, dtype, who):
        n = self.num_layers * directions
        want_h, want_c = (n, b, real), (n, b, self.hidden_size)
        if hx is None:  # zeros in the input's dtype (bfloat16 stays bfloat16)
            return jnp.zeros(want_h, dtype), jnp.zeros(want_c, dtype) if lstm else None
        if lstm and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError(f"{who}: hx must be a tuple (h_0, c_0) for LSTM")
        if not lstm and isinstance(hx, (tuple, list)):
            raise TypeError(f"{who}: hx must be one tensor h_0, got a {type(hx).__name__}")
        states = [jnp.asarray(a) for a in (hx if lstm else (hx,))]
        for name, state, want in zip(("h_0", "c_0"), states, (want_h, want_c)):
            expect = want if batched else (want[0], want[2])
            if state.ndim != len(expect):
                raise ValueError(
                    f"{who}: for {'batched 3-D' if batched else 'unbatched 2-D'} input, "
                    f"{name} should also be {len(expect)}-D but got {state.ndim}-D tensor"
                )
            if tuple(state.shape) != expect:
                raise ValueError(
                    f"{who}: expected hidden size {expect} for {name}, got {tuple(state.shape)}"
                )
        states = [s if batched else s[:, None] for s in states]
        return states[0], states[1] if lstm else None

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self._proj() != 0:
            s += f", proj_size={self._proj()}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


class RNN(_RNNBase):
    """A multi-layer Elman RNN, torch's ``nn.RNN``: h_t = tanh(x_t W_ih^T + b_ih +
    h_(t-1) W_hh^T + b_hh) (or relu).

    Args:
        input_size: features of the input, H_in.
        hidden_size: features of the hidden state, H_out.
        num_layers: stacked recurrent layers, each reading the previous one's output.
            Default: 1.
        nonlinearity: 'tanh' or 'relu'. Default: 'tanh'.
        bias: learn ``bias_ih_l{k}`` and ``bias_hh_l{k}``. Default: True.
        batch_first: inputs and outputs are (N, L, H) rather than (L, N, H); the hidden
            state stays (D * num_layers, N, H_out). Default: False.
        dropout: dropout probability on the outputs of every layer but the last, in train
            mode (a 'dropout' rng given). Default: 0.0.
        bidirectional: a second, backward-running direction per layer, its parameters
            suffixed ``_reverse``. Default: False.
        dtype: computation dtype (None: promote input and parameters).
        param_dtype: parameter dtype (torch's ``dtype``). Default: float32.

    Call: ``(input, hx=None) -> (output, h_n)``.

    Every weight and bias starts from torch's U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).

    Shape:
        input (L, N, H_in), (N, L, H_in) with ``batch_first``, or unbatched (L, H_in) ->
        output (L, N, D * H_out) (likewise), h_n (D * num_layers, N, H_out) (unbatched:
        without N), with D = 2 if bidirectional else 1. ``hx`` has h_n's shape (zeros
        when None).
    """

    input_size: int
    hidden_size: int
    num_layers: int = 1
    nonlinearity: str = "tanh"
    bias: bool = True
    batch_first: bool = False
    dropout: float = 0.0
    bidirectional: bool = False
    dtype: Any = None
    param_dtype: Any = jnp.float32

    def __post_init__(self) -> None:
        if self.nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"RNN: unknown nonlinearity '{self.nonlinearity}'. Select from 'tanh' or 'relu'."
            )
        self._check_config()
        super().__post_init__()

    def _mode(self) -> str:
        return "RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU"


class LSTM(_RNNBase):
    """A multi-layer long short-term memory RNN, torch's ``nn.LSTM`` (gates i, f, g, o).

    Args:
        input_size: features of the input, H_in.
        hidden_size: features of the hidden and cell states.
        num_layers: stacked recurrent layers, each reading the previous one's output.
            Default: 1.
        bias: learn ``bias_ih_l{k}`` and ``bias_hh_l{k}``. Default: True.
        batch_first: inputs and outputs are (N, L, H) rather than (L, N, H); the states
            stay (D * num_layers, N, H). Default: False.
        dropout: dropout probability on the outputs of every layer but the last, in train
            mode (a 'dropout' rng given). Default: 0.0.
        bidirectional: a second, backward-running direction per layer, its parameters
            suffixed ``_reverse``. Default: False.
        proj_size: if positive, each hidden state is projected to this size by
            ``weight_hr_l{k}``; h_n and the outputs then have H_out = proj_size features.
            Default: 0 (H_out = hidden_size).
        dtype: computation dtype (None: promote input and parameters).
        param_dtype: parameter dtype (torch's ``dtype``). Default: float32.

    Call: ``(input, (h_0, c_0)=None) -> (output, (h_n, c_n))``.

    Every weight and bias starts from torch's U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).

    Shape:
        input (L, N, H_in), (N, L, H_in) with ``batch_first``, or unbatched (L, H_in) ->
        output (L, N, D * H_out) (likewise), h_n (D * num_layers, N, H_out) and c_n
        (D * num_layers, N, hidden_size) (unbatched: without N), with D = 2 if
        bidirectional else 1. ``(h_0, c_0)`` have h_n's and c_n's shapes (zeros when
        None).
    """

    input_size: int
    hidden_size: int
    num_layers: int = 1
    bias: bool = True
    batch_first: bool = False
    dropout: float = 0.0
    bidirectional: bool = False
    proj_size: int = 0
    dtype: Any = None
    param_dtype: Any = jnp.float32

    def __post_init__(self) -> None:
        self._check_config()
        super().__post_init__()

    def _mode(self) -> str:
        return "LSTM"


class GRU(_RNNBase):
    """A multi-layer gated recurrent unit RNN, torch's ``nn.GRU`` (gates r, z, n):
    n_t = tanh(x W_in^T + b_in + r_t * (h W_hn^T + b_hn)), h_t = (1 - z_t) n_t + z_t h_(t-1).

    Args:
        input_size: features of the input, H_in.
        hidden_size: features of the hidden state, H_out.
        num_layers: stacked recurrent layers, each reading the previous one's output.
            Default: 1.
        bias: learn ``bias_ih_l{k}`` and ``bias_hh_l{k}``. Default: True.
        batch_first: inputs and outputs are (N, L, H) rather than (L, N, H); the hidden
            state stays (D * num_layers, N, H_out). Default: False.
        dropout: dropout probability on the outputs of every layer but the last, in train
            mode (a 'dropout' rng given). Default: 0.0.
        bidirectional: a second, backward-running direction per layer, its parameters
            suffixed ``_reverse``. Default: False.
        dtype: computation dtype (None: promote input and parameters).
        param_dtype: parameter dtype (torch's ``dtype``). Default: float32.

    Call: ``(input, hx=None) -> (output, h_n)``.

    Every weight and bias starts from torch's U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).

    Shape:
        input (L, N, H_in), (N, L, H_in) with ``batch_first``, or unbatched (L, H_in) ->
        output (L, N, D * H_out) (likewise), h_n (D * num_layers, N, H_out) (unbatched:
        without N), with D = 2 if bidirectional else 1. ``hx`` has h_n's shape (zeros
        when None).
    """

    input_size: int
    hidden_size: int
    num_layers: int = 1
    bias: bool = True
    batch_first: bool = False
    dropout: float = 0.0
    bidirectional: bool = False
    dtype: Any = None
    param_dtype: Any = jnp.float32

    def __post_init__(self) -> None:
        self._check_config()
        super().__post_init__()

    def _mode(self) -> str:
        return "GRU"


# ----------------------------------------------------------------------------- cells


class _CellBase(Module):
    """One time step; parameters ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``."""

    def _mode(self) -> str:
        raise NotImplementedError

    @linen.compact
    def __call__(self, input: Array, hx: Any = None) -> Any:
        who, mode = self._who(), self._mode()
        lstm = mode == "LSTM"
        input = jnp.asarray(input)
        if input.ndim not in (1, 2):
            raise ValueError(f"{who}: expected input to be 1D or 2D, got {input.ndim}D instead")
        if input.shape[-1] != self.input_size:
            raise ValueError(
                f"{who}: input has inconsistent input_size: got {input.shape[-1]}, expected "
                f"{self.input_size}"
            )
        batched = input.ndim == 2
        x = input if batched else input[None]
        h = self.hidden_size
        g = rnn.GATES[mode] * h
        uniform = init.uniform_(-1 / math.sqrt(h), 1 / math.sqrt(h))
        w_ih = self.param("weight_ih", uniform, (g, self.input_size), self.param_dtype)
        w_hh = self.param("weight_hh", uniform, (g, h), self.param_dtype)
        b_ih = b_hh = None
        if self.bias:
            b_ih = self.param("bias_ih", uniform, (g,), self.param_dtype)
            b_hh = self.param("bias_hh", uniform, (g,), self.param_dtype)
        if hx is None:
            dtype = x.dtype if jnp.issubdtype(x.dtype, jnp.inexact) else jnp.float32
            zeros = jnp.zeros((x.shape[0], h), dtype)
            states = [zeros, zeros] if lstm else [zeros]
        else:
            if lstm and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
                raise TypeError(f"{who}: hx must be a tuple (h, c) for LSTMCell")
            states = [jnp.asarray(a) for a in (hx if lstm else (hx,))]
            for i, s in enumerate(states):
                if s.ndim != input.ndim or s.shape[-1] != h:
                    raise ValueError(
                        f"{who}: hidden{i} has inconsistent hidden_size or rank: got shape "
                        f"{tuple(s.shape)}, expected {(x.shape[0], h) if batched else (h,)}"
                    )
                if batched and s.shape[0] != x.shape[0]:
                    raise ValueError(
                        f"{who}: input batch size {x.shape[0]} doesn't match hidden{i} batch "
                        f"size {s.shape[0]}"
                    )
            states = [s if batched else s[None] for s in states]
        x, w_ih, w_hh, b_ih, b_hh, *states = promote_dtype(
            x, w_ih, w_hh, b_ih, b_hh, *states, dtype=self.dtype
        )
        w = rnn.LayerWeights(
            w_ih[None],
            w_hh[None],
            None if b_ih is None else b_ih[None],
            None if b_hh is None else b_hh[None],
            None,
        )
        # one time step of a one-direction layer: x (1, B, in), states (1, B, H)
        _, new_h, new_c = rnn.layer(
            mode, x[None], states[0][None], states[1][None] if lstm else None, w
        )
        new_h = new_h[0] if batched else new_h[0, 0]
        if not lstm:
            return new_h
        return new_h, (new_c[0] if batched else new_c[0, 0])

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s


class RNNCell(_CellBase):
    """One step of an Elman RNN, torch's ``nn.RNNCell``: h' = tanh(x W_ih^T + b_ih +
    h W_hh^T + b_hh).

    Args:
        input_size: features of the input, H_in.
        hidden_size: features of the hidden state, H.
        bias: learn ``bias_ih`` and ``bias_hh``. Default: True.
        nonlinearity: 'tanh' or 'relu'. Default: 'tanh'.
        dtype: computation dtype (None: promote input and parameters).
        param_dtype: parameter dtype (torch's ``dtype``). Default: float32.

    Shape: input (N, H_in) or (H_in), hx (N, H) or (H) (zeros when None) -> h' like hx.
    """

    input_size: int
    hidden_size: int
    bias: bool = True
    nonlinearity: str = "tanh"
    dtype: Any = None
    param_dtype: Any = jnp.float32

    def __post_init__(self) -> None:
        if self.nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: unknown nonlinearity: {self.nonlinearity}")
        super().__post_init__()

    def _mode(self) -> str:
        return "RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU"


class LSTMCell(_CellBase):
    """One step of an LSTM, torch's ``nn.LSTMCell``.

    Args:
        input_size: features of the input, H_in.
        hidden_size: features of the hidden and cell states, H.
        bias: learn ``bias_ih`` and ``bias_hh``. Default: True.
        dtype: computation dtype (None: promote input and parameters).
        param_dtype: parameter dtype (torch's ``dtype``). Default: float32.

    Shape: input (N, H_in) or (H_in), hx = (h, c) each (N, H) or (H) (zeros when None)
    -> (h', c').
    """

    input_size: int
    hidden_size: int
    bias: bool = True
    dtype: Any = None
    param_dtype: Any = jnp.float32

    def _mode(self) -> str:
        return "LSTM"


class GRUCell(_CellBase):
    """One step of a GRU, torch's ``nn.GRUCell``.

    Args:
        input_size: features of the input, H_in.
        hidden_size: features of the hidden state, H.
        bias: learn ``bias_ih`` and ``bias_hh``. Default: True.
        dtype: computation dtype (None: promote input and parameters).
        param_dtype: parameter dtype (torch's ``dtype``). Default: float32.

    Shape: input (N, H_in) or (H_in), hx (N, H) or (H) (zeros when None) -> h' like hx.
    """

    input_size: int
    hidden_size: int
    bias: bool = True
    dtype: Any = None
    param_dtype: Any = jnp.float32

    def _mode(self) -> str:
        return "GRU"
