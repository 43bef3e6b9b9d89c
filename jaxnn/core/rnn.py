"""Recurrences as nn.RNN / LSTM / GRU and their cells compute them (a cell is a layer
over one time step), with torch's gate order and weight layouts ((gates * hidden, in)
for ``weight_ih``).

A layer projects its whole input sequence in one matmul, both directions at once, and
``lax.scan`` runs only the recurrence: per step one batched matmul of the hidden state
with ``weight_hh`` (both directions together) and the elementwise gate arithmetic. The
reverse direction reads the projections back to front. The backward pass is written out
(a custom VJP), so its loop also holds one matmul per step and the weight gradients are
one matmul each after it.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["GATES", "LayerWeights", "layer", "project"]

Array = jax.Array

GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}
"""Gate blocks per mode (torch's mode names), in torch's order: LSTM (i, f, g, o),
GRU (r, z, n)."""


class LayerWeights(NamedTuple):
    """One layer's weights, its directions stacked on a leading axis D (1 or 2), in
    torch's layouts, with G = gates * H and R = proj_size or H.

    Attributes:
        w_ih: ``weight_ih_l{k}`` (D, G, in).
        w_hh: ``weight_hh_l{k}`` (D, G, R).
        b_ih: ``bias_ih_l{k}`` (D, G), or None.
        b_hh: ``bias_hh_l{k}`` (D, G), or None.
        w_hr: ``weight_hr_l{k}`` (D, R, H), an LSTM's projection, or None.
    """

    w_ih: Array
    w_hh: Array
    b_ih: Array | None
    b_hh: Array | None
    w_hr: Array | None


def project(mode: str, x: Array, w: LayerWeights) -> Array:
    """The input part of every gate for the whole sequence in one matmul: x (T, B, in) ->
    (T, D, B, G). Biases are added here (GRU keeps the hidden bias of its n gate for
    the step, where the reset gate scales it).

    Args:
        mode: 'RNN_TANH', 'RNN_RELU', 'LSTM' or 'GRU' (:data:`GATES`).
        x: the input sequence (T, B, in).
        w: the layer's weights.
    """
    d, g, _ = w.w_ih.shape
    xw = lax.dot_general(x, w.w_ih.reshape(d * g, -1), (((2,), (1,)), ((), ())))
    xw = jnp.swapaxes(xw.reshape(*x.shape[:2], d, g), 1, 2)  # (T, D, B, G)
    if w.b_ih is not None:
        bias = w.b_ih
        if mode == "GRU":
            h = g // 3
            bias = bias + jnp.concatenate(
                [w.b_hh[:, : 2 * h], jnp.zeros_like(w.b_hh[:, 2 * h :])], axis=1
            )
        else:
            bias = bias + w.b_hh
        xw = xw + bias[None, :, None, :]
    return xw


def _bmm(a: Array, b: Array, contract_b: int) -> Array:
    """Per direction: a (D, B, K) times b (D, ., .) contracted over b's axis
    ``contract_b`` (1 or 2) -> (D, B, b's other axis)."""
    return lax.dot_general(a, b, (((2,), (contract_b,)), ((0,), (0,))))


def _forward(mode: str, xw: Array, h0: Array, c0: Array | None, w: LayerWeights):
    """The recurrence over xw (T, D, B, G): (ys (T, D, B, R), h_n, c_n, residuals)."""
    h_size = w.w_hh.shape[1] // GATES[mode]
    b_hn = None if mode != "GRU" or w.b_hh is None else w.b_hh[:, None, 2 * h_size :]

    def body(carry, xw_t):
        h, c = carry
        hw = _bmm(h, w.w_hh, 2)
        if mode == "LSTM":
            i, f, g, o = jnp.split(xw_t + hw, 4, axis=-1)
            i, f, g, o = jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)
            c_new = f * c + i * g
            tc = jnp.tanh(c_new)
            hp = o * tc
            h_new = hp if w.w_hr is None else _bmm(hp, w.w_hr, 2)
            return (h_new, c_new), (h_new, (i, f, g, o, c, tc, hp))
        if mode == "GRU":
            xr, xz, xn = jnp.split(xw_t, 3, axis=-1)
            hr, hz, hn = jnp.split(hw, 3, axis=-1)
            if b_hn is not None:
                hn = hn + b_hn
            r = jax.nn.sigmoid(xr + hr)
            z = jax.nn.sigmoid(xz + hz)
            n = jnp.tanh(xn + r * hn)
            h_new = (1 - z) * n + z * h
            return (h_new, None), (h_new, (r, z, n, hn))
        pre = xw_t + hw
        h_new = jnp.tanh(pre) if mode == "RNN_TANH" else jax.nn.relu(pre)
        return (h_new, None), (h_new, ())

    (h_n, c_n), (ys, saved) = lax.scan(body, (h0, c0), xw)
    return ys, h_n, c_n, saved


# The recurrence differentiates by hand: the backward scan carries only the gradient of
# the state and keeps each step's gate gradients, so the weight gradients are one matmul
# over the whole sequence after the loop -- what autodiff of the loop cannot do (it
# multiplies and accumulates a weight-sized gradient at every step).
@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _recurrence(mode, xw, h0, c0, w_hh, b_hh, w_hr):
    w = LayerWeights(None, w_hh, None, b_hh, w_hr)
    ys, h_n, c_n, _ = _forward(mode, xw, h0, c0, w)
    return ys, h_n, c_n


def _recurrence_fwd(mode, xw, h0, c0, w_hh, b_hh, w_hr):
    w = LayerWeights(None, w_hh, None, b_hh, w_hr)
    ys, h_n, c_n, saved = _forward(mode, xw, h0, c0, w)
    return (ys, h_n, c_n), (h0, ys, saved, w_hh, b_hh, w_hr)


def _recurrence_bwd(mode, res, cotangents):
    h0, ys, saved, w_hh, b_hh, w_hr = res
    d_ys, d_hn, d_cn = cotangents
    h_prev = jnp.concatenate([h0[None], ys[:-1]])  # each step's incoming state (T, D, B, R)
    d_b_hh = d_w_hr = dc0 = None

    if mode == "LSTM":

        def lstm(carry, step):
            dh, dc = carry
            dy, (i, f, g, o, c_prev, tc, _) = step
            dh = dh + dy
            dhp = dh if w_hr is None else _bmm(dh, w_hr, 1)
            dc = dc + dhp * o * (1 - tc * tc)
            da = jnp.concatenate(
                [
                    dc * g * i * (1 - i),
                    dc * c_prev * f * (1 - f),
                    dc * i * (1 - g * g),
                    dhp * tc * o * (1 - o),
                ],
                axis=-1,
            )
            return (_bmm(da, w_hh, 1), dc * f), (da, dh)

        (dh0, dc0), (dxw, dh_all) = lax.scan(lstm, (d_hn, d_cn), (d_ys, saved), reverse=True)
        d_hidden = dxw
        if w_hr is not None:  # h = hp W_hr^T
            d_w_hr = jnp.einsum("tdbr,tdbh->drh", dh_all, saved[-1])
    elif mode == "GRU":

        def gru(dh, step):
            dy, (r, z, n, hn), h_in = step
            dh = dh + dy
            dan = dh * (1 - z) * (1 - n * n)  # through n = tanh(xn + r * hn)
            dar = dan * hn * r * (1 - r)
            daz = dh * (h_in - n) * z * (1 - z)
            dhw = jnp.concatenate([dar, daz, dan * r], axis=-1)  # the hidden side
            dxw = jnp.concatenate([dar, daz, dan], axis=-1)  # the input side
            return dh * z + _bmm(dhw, w_hh, 1), (dxw, dhw)

        dh0, (dxw, d_hidden) = lax.scan(gru, d_hn, (d_ys, saved, h_prev), reverse=True)
        if b_hh is not None:  # only the n gate's hidden bias is inside the step
            hidden = w_hh.shape[1] // 3
            d_bn = d_hidden[..., 2 * hidden :].sum(axis=(0, 2))
            d_b_hh = jnp.concatenate([jnp.zeros_like(b_hh[:, : 2 * hidden]), d_bn], axis=-1)
    else:

        def rnn(dh, step):
            dy, h_t = step
            dh = dh + dy
            da = dh * (1 - h_t * h_t) if mode == "RNN_TANH" else jnp.where(h_t > 0, dh, 0)
            return _bmm(da, w_hh, 1), da

        dh0, dxw = lax.scan(rnn, d_hn, (d_ys, ys), reverse=True)
        d_hidden = dxw
    d_w_hh = jnp.einsum("tdbg,tdbr->dgr", d_hidden, h_prev)
    return dxw, dh0, dc0, d_w_hh, d_b_hh, d_w_hr


_recurrence.defvjp(_recurrence_fwd, _recurrence_bwd)


def layer(mode: str, x: Array, h0: Array, c0: Array | None, w: LayerWeights):
    """One layer over a sequence, both directions: (output (T, B, D * R), h_n (D, B, R),
    c_n (D, B, H) or None).

    Args:
        mode: 'RNN_TANH', 'RNN_RELU', 'LSTM' or 'GRU' (:data:`GATES`).
        x: the input sequence (T, B, in).
        h0: the initial hidden state (D, B, R).
        c0: an LSTM's initial cell state (D, B, H); None for the others.
        w: the layer's weights.
    """
    xw = project(mode, x, w)
    d = xw.shape[1]
    if d == 2:  # the reverse direction reads the sequence back to front
        xw = jnp.stack([xw[:, 0], xw[::-1, 1]], axis=1)
    b_hh = w.b_hh if mode == "GRU" else None  # the others' hidden bias is in xw
    ys, h_n, c_n = _recurrence(mode, xw, h0, c0, w.w_hh, b_hh, w.w_hr)  # ys (T, D, B, R)
    if d == 2:
        ys = jnp.stack([ys[:, 0], ys[::-1, 1]], axis=1)
    out = jnp.swapaxes(ys, 1, 2).reshape(ys.shape[0], ys.shape[2], -1)  # (T, B, D * R)
    return out, h_n, c_n
