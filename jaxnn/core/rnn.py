"""Recurrences as nn.RNN / LSTM / GRU and their cells compute them, with torch's gate
order and weight layouts ((gates * hidden, in) for ``weight_ih``).

A layer projects its whole input sequence in one matmul, both directions at once, and
``lax.scan`` runs only the recurrence: per step one batched matmul of the hidden state
with ``weight_hh`` (both directions together) and the elementwise gate arithmetic. The
reverse direction reads the projections back to front.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["GATES", "LayerWeights", "layer", "project", "step"]

Array = jax.Array

# gate blocks per mode, in torch's order: LSTM (i, f, g, o), GRU (r, z, n)
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


class LayerWeights(NamedTuple):
    """One layer's weights, its directions stacked on a leading axis D (1 or 2), in
    torch's layouts: w_ih (D, G, in), w_hh (D, G, R), b_ih / b_hh (D, G) or None, w_hr
    (D, R, H) or None (LSTM projections), with G = gates * H and R = proj_size or H."""

    w_ih: Array
    w_hh: Array
    b_ih: Array | None
    b_hh: Array | None
    w_hr: Array | None


def project(mode: str, x: Array, w: LayerWeights) -> Array:
    """The input part of every gate for the whole sequence in one matmul: x (T, B, in) ->
    (T, D, B, G). Biases are added here (GRU keeps the hidden bias of its n gate for
    the step, where the reset gate scales it)."""
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


def _hidden_part(h: Array, w_hh: Array) -> Array:
    """(D, B, R) @ (D, G, R)^T -> (D, B, G), a batched matmul over the directions."""
    return lax.dot_general(h, w_hh, (((2,), (2,)), ((0,), (0,))))


def step(mode: str, xw: Array, h: Array, c: Array | None, w: LayerWeights):
    """One time step for every direction: xw (D, B, G) from :func:`project`, h (D, B, R),
    c (D, B, H) for LSTM (else None) -> (h, c)."""
    hw = _hidden_part(h, w.w_hh)
    if mode == "LSTM":
        i, f, g, o = jnp.split(xw + hw, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        if w.w_hr is not None:
            h = lax.dot_general(h, w.w_hr, (((2,), (2,)), ((0,), (0,))))
        return h, c
    if mode == "GRU":
        xr, xz, xn = jnp.split(xw, 3, axis=-1)
        hr, hz, hn = jnp.split(hw, 3, axis=-1)
        if w.b_hh is not None:
            hn = hn + w.b_hh[:, None, 2 * hr.shape[-1] :]
        r = jax.nn.sigmoid(xr + hr)
        z = jax.nn.sigmoid(xz + hz)
        n = jnp.tanh(xn + r * hn)
        return (1 - z) * n + z * h, None
    pre = xw + hw
    return (jnp.tanh(pre) if mode == "RNN_TANH" else jax.nn.relu(pre)), None


def layer(mode: str, x: Array, h0: Array, c0: Array | None, w: LayerWeights, unroll: int = 1):
    """One layer over a sequence, both directions: x (T, B, in), h0 (D, B, R), c0 (D, B, H)
    or None -> (output (T, B, D * R), h_n (D, B, R), c_n (D, B, H) or None)."""
    xw = project(mode, x, w)
    d = xw.shape[1]
    if d == 2:  # the reverse direction reads the sequence back to front
        xw = jnp.stack([xw[:, 0], xw[::-1, 1]], axis=1)

    def body(carry, xw_t):
        h, c = step(mode, xw_t, *carry, w)
        return (h, c), h

    (h_n, c_n), ys = lax.scan(body, (h0, c0), xw, unroll=unroll)  # ys (T, D, B, R)
    if d == 2:
        ys = jnp.stack([ys[:, 0], ys[::-1, 1]], axis=1)
    out = jnp.swapaxes(ys, 1, 2).reshape(ys.shape[0], ys.shape[2], -1)  # (T, B, D * R)
    return out, h_n, c_n
