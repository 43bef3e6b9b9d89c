"""nn.MultiheadAttention and F.scaled_dot_product_attention against torch: outputs and
attention weights over the options and masks, gradients, dropout, and every error.
Tolerance: 1e-5 abs on outputs, weights and input gradients; 1e-4 on parameter
gradients (sums over the batch)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from conftest import assert_close, load_torch, to_numpy

import jaxnn as nn
import jaxnn.functional as F

ATOL, GRAD_ATOL = 1e-5, 1e-4
L, S, B, E = 4, 5, 2, 8


def tensors(call):
    return {
        k: torch.from_numpy(np.asarray(v)) if hasattr(v, "shape") else v for k, v in call.items()
    }


def inputs(kwargs, rng, self_attention=False, batched=True):
    e, kd, vd = kwargs["embed_dim"], kwargs.get("kdim") or E, kwargs.get("vdim") or E

    def draw(t, d):
        if not batched:
            return rng.standard_normal((t, d)).astype(np.float32)
        shape = (B, t, d) if kwargs.get("batch_first") else (t, B, d)
        return rng.standard_normal(shape).astype(np.float32)

    q = draw(L, e)
    return (q, q, q) if self_attention else (q, draw(S, kd), draw(S, vd))


def assert_same(got, want, what):
    """Equal within ATOL, NaNs (torch's fully masked rows with weights) in the same places."""
    got, want = np.asarray(got), to_numpy(want)
    assert np.array_equal(np.isnan(got), np.isnan(want)), what
    assert_close(np.nan_to_num(got), np.nan_to_num(want), ATOL, what=what)


PADDING = np.array([[False, True, False, False, True], [False] * 5])
FULLY_PADDED = np.array([[False, True, False, False, True], [True] * 5])
BOOL_MASK = np.random.default_rng(3).random((L, S)) > 0.7
FLOAT_MASK = np.random.default_rng(4).standard_normal((B * 2, L, S)).astype(np.float32)
CAUSAL = np.triu(np.full((L, L), -np.inf, np.float32), 1)

# (name, constructor, call, self-attention); each runs with need_weights True and False
CASES = [
    ("plain", dict(embed_dim=E, num_heads=2), {}, False),
    ("self-attention", dict(embed_dim=E, num_heads=4), {}, True),
    ("batch_first", dict(embed_dim=E, num_heads=2, batch_first=True), {}, False),
    ("kdim/vdim", dict(embed_dim=E, num_heads=4, kdim=3, vdim=6), {}, False),
    ("no bias", dict(embed_dim=E, num_heads=2, bias=False), {}, False),
    (
        "masks, kv bias, zero attn",
        dict(embed_dim=E, num_heads=2, add_bias_kv=True, add_zero_attn=True),
        dict(attn_mask=BOOL_MASK, key_padding_mask=PADDING),
        False,
    ),
    ("3-D float mask", dict(embed_dim=E, num_heads=2), dict(attn_mask=FLOAT_MASK), False),
    ("fully padded", dict(embed_dim=E, num_heads=2), dict(key_padding_mask=FULLY_PADDED), False),
    ("per-head weights", dict(embed_dim=E, num_heads=2), dict(average_attn_weights=False), False),
]


@pytest.mark.parametrize(("name", "kwargs", "call", "self_attn"), CASES, ids=[c[0] for c in CASES])
def test_forward_matches_torch(name, kwargs, call, self_attn, rng):
    q, k, v = inputs(kwargs, rng, self_attn)
    layer = nn.MultiheadAttention(**kwargs)
    variables = layer.init(jax.random.key(0), q, k, v)
    ref = load_torch(torch.nn.MultiheadAttention(**kwargs), variables).eval()
    tq, tk, tv = (torch.from_numpy(a) for a in (q, k, v))
    if self_attn:
        tk = tv = tq

    @jax.jit
    def both(variables, q, k, v):
        if self_attn:
            k = v = q
        return [layer.apply(variables, q, k, v, **call, need_weights=w) for w in (True, False)]

    for (out, weights), need_weights in zip(both(variables, q, k, v), (True, False)):
        with torch.no_grad():
            want, want_weights = ref(tq, tk, tv, **tensors(call), need_weights=need_weights)
        assert_same(out, want, f"output, need_weights={need_weights}")
        if need_weights:
            assert_same(weights, want_weights, "weights")
        else:
            assert weights is None and want_weights is None


def test_causal_hint_and_unbatched_input(rng):
    layer = nn.MultiheadAttention(E, 2)
    x = rng.standard_normal((L, E)).astype(np.float32)  # unbatched (L, E)
    variables = layer.init(jax.random.key(0), x, x, x)
    ref = load_torch(torch.nn.MultiheadAttention(E, 2), variables).eval()
    tx = torch.from_numpy(x)
    with torch.no_grad():
        for call in (
            dict(attn_mask=CAUSAL, is_causal=True, need_weights=False),
            dict(key_padding_mask=np.array([False, True, False, False])),
            dict(attn_mask=np.ones((2, L, L), bool) & ~np.eye(L, dtype=bool)[None]),
        ):
            out, weights = layer.apply(variables, x, x, x, **call)
            want, want_weights = ref(tx, tx, tx, **tensors(call))
            assert_same(out, want, f"output {list(call)}")
            if want_weights is not None:
                assert_same(weights, want_weights, f"weights {list(call)}")


@pytest.mark.parametrize(
    ("kwargs", "call", "self_attn"),
    [
        (
            dict(embed_dim=E, num_heads=2),
            dict(attn_mask=BOOL_MASK, key_padding_mask=PADDING),
            False,
        ),
        (dict(embed_dim=E, num_heads=4), dict(need_weights=False, attn_mask=CAUSAL), True),
        (
            dict(embed_dim=E, num_heads=2, kdim=3, vdim=6, add_bias_kv=True, add_zero_attn=True),
            dict(need_weights=False),
            False,
        ),
    ],
    ids=["masks", "self-attention", "kdim-bias_kv-zero_attn"],
)
def test_gradients_match_torch(kwargs, call, self_attn, rng):
    q, k, v = inputs(kwargs, rng, self_attn)
    if self_attn:
        q, k, v = (np.ascontiguousarray(a[:, :, :]) for a in (q, q, q))
    layer = nn.MultiheadAttention(**kwargs)
    variables = layer.init(jax.random.key(0), q, k, v)
    ref = load_torch(torch.nn.MultiheadAttention(**kwargs), variables)
    r = rng.standard_normal((L, B, E)).astype(np.float32)

    def loss(params, q, k, v):
        if self_attn:
            k = v = q
        out = layer.apply({"params": params}, q, k, v, **call)[0]
        return jnp.sum(jnp.sin(out) * r)

    g, gq, gk, gv = jax.jit(jax.grad(loss, argnums=(0, 1, 2, 3)))(variables["params"], q, k, v)
    tq = torch.from_numpy(q).requires_grad_()
    tk, tv = (torch.from_numpy(a).requires_grad_() for a in (k, v))
    if self_attn:
        tk = tv = tq
    out = ref(tq, tk, tv, **tensors(call))[0]
    (torch.sin(out) * torch.from_numpy(r)).sum().backward()
    assert_close(gq, to_numpy(tq.grad), ATOL, what="query grad")
    if not self_attn:
        assert_close(gk, to_numpy(tk.grad), ATOL, what="key grad")
        assert_close(gv, to_numpy(tv.grad), ATOL, what="value grad")
    torch_grads = {name: to_numpy(p.grad) for name, p in ref.named_parameters()}
    assert_close(g["out_proj"]["kernel"].T, torch_grads.pop("out_proj.weight"), GRAD_ATOL)
    assert_close(g["out_proj"]["bias"], torch_grads.pop("out_proj.bias"), GRAD_ATOL)
    for name, want in torch_grads.items():  # torch's names and layouts
        assert_close(g[name], want, GRAD_ATOL, what=name)


def test_init_follows_torch():
    layer = nn.MultiheadAttention(64, 4, add_bias_kv=True)
    x = jnp.ones((3, 1, 64))
    p = layer.init(jax.random.key(0), x, x, x)["params"]
    w = np.asarray(p["in_proj_weight"])
    bound = np.sqrt(6 / (64 + 192))  # xavier_uniform_ on (3E, E)
    assert w.shape == (192, 64) and np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert not np.any(p["in_proj_bias"]) and not np.any(p["out_proj"]["bias"])
    out_bound = 1 / np.sqrt(64)  # out_proj keeps Linear's default
    assert np.abs(p["out_proj"]["kernel"]).max() <= out_bound
    assert np.abs(p["out_proj"]["kernel"]).max() > 0.95 * out_bound
    assert p["bias_k"].shape == (1, 1, 64)
    bias_kv = np.concatenate([np.ravel(p["bias_k"]), np.ravel(p["bias_v"])])
    assert abs(bias_kv.std() - np.sqrt(1 / 64)) < 0.03  # xavier_normal_: std sqrt(2 / (E + E))


def test_dropout_is_train_mode_only_and_unbiased(rng):
    layer = nn.MultiheadAttention(E, 2, dropout=0.5)
    q, k, v = inputs(dict(embed_dim=E), rng)
    variables = layer.init(jax.random.key(0), q, k, v)
    per_head = dict(average_attn_weights=False)
    plain_out, plain_weights = layer.apply(variables, q, k, v, **per_head)

    def dropped(key):
        return layer.apply(variables, q, k, v, rngs={"dropout": key}, **per_head)

    out, weights = dropped(jax.random.key(1))
    assert not np.allclose(out, plain_out)  # dropout acted
    zeros = np.asarray(weights) == 0
    assert 0.3 < zeros.mean() < 0.7
    # kept weights are scaled by 1 / (1 - p), and the returned weights are the dropped ones
    kept = np.asarray(weights)[~zeros]
    assert_close(kept, 2 * np.asarray(plain_weights)[~zeros], ATOL)
    mean = jax.jit(jax.vmap(lambda key: dropped(key)[1]))(jax.random.split(jax.random.key(2), 4000))
    assert_close(np.asarray(mean).mean(axis=0), plain_weights, 0.03)


# ----------------------------------------------------------------------------- sdpa

SDPA = [
    ("4-D", (B, 3, L, 4), (B, 3, S, 4), (B, 3, S, 4), {}),
    ("causal", (B, 3, L, 4), (B, 3, S, 4), (B, 3, S, 4), dict(is_causal=True)),
    ("causal L > S", (1, 2, 6, 4), (1, 2, 3, 4), (1, 2, 3, 4), dict(is_causal=True)),
    ("bool mask", (B, 3, L, 4), (B, 3, S, 4), (B, 3, S, 4), dict(attn_mask=BOOL_MASK)),
    (
        "float mask",
        (B, 3, L, 4),
        (B, 3, S, 4),
        (B, 3, S, 4),
        dict(attn_mask=-np.abs(FLOAT_MASK[:1])),
    ),
    ("value dim", (B, 3, L, 4), (B, 3, S, 4), (B, 3, S, 6), dict(attn_mask=BOOL_MASK)),
    ("3-D", (B, L, 4), (B, S, 4), (B, S, 4), dict(scale=0.3)),
    ("2-D", (L, 4), (S, 4), (S, 4), {}),
    ("5-D", (2, 2, 3, L, 4), (2, 2, 3, S, 4), (2, 2, 3, S, 4), dict(attn_mask=BOOL_MASK[None])),
    ("gqa", (B, 6, L, 4), (B, 2, S, 4), (B, 2, S, 4), dict(enable_gqa=True)),
]


@pytest.mark.parametrize(("name", "qs", "ks", "vs", "call"), SDPA, ids=[c[0] for c in SDPA])
def test_scaled_dot_product_attention_matches_torch(name, qs, ks, vs, call, rng):
    q, k, v = (rng.standard_normal(s).astype(np.float32) for s in (qs, ks, vs))
    if "attn_mask" in call and call["attn_mask"].dtype == bool:
        call = {**call, "attn_mask": call["attn_mask"].copy()}
        call["attn_mask"][..., 1, :] = False  # a fully masked row: torch gives 0 there
    r = rng.standard_normal((*qs[:-1], vs[-1])).astype(np.float32)

    def loss(q, k, v):
        out = F.scaled_dot_product_attention(q, k, v, **call)
        return jnp.sum(jnp.sin(out) * r), out

    (_, out), grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))(q, k, v)
    tq, tk, tv = (torch.from_numpy(a).requires_grad_() for a in (q, k, v))
    want = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, **tensors(call))
    (torch.sin(want) * torch.from_numpy(r)).sum().backward()
    assert_same(out, want, "output")
    for name_, g, t in zip("qkv", grads, (tq, tk, tv)):
        assert_close(g, to_numpy(t.grad), ATOL, what=f"grad {name_}")


def test_sdpa_dropout(rng):
    q, k, v = (rng.standard_normal((1, 2, L, 4)).astype(np.float32) for _ in range(3))
    plain = F.scaled_dot_product_attention(q, k, v)
    zero = F.scaled_dot_product_attention(q, k, v, dropout_p=1.0, dropout_key=jax.random.key(0))
    assert not np.any(zero)  # torch: every weight dropped

    def dropped(key):
        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.3, dropout_key=key)

    one = dropped(jax.random.key(1))
    assert not np.allclose(one, plain)
    mean = jax.jit(jax.vmap(dropped))(jax.random.split(jax.random.key(2), 4000)).mean(axis=0)
    assert_close(mean, plain, 0.03)  # 1 / (1 - p) scaling keeps the expectation


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(embed_dim=10, num_heads=3), r"embed_dim \(10\) must be divisible by num_heads \(3\)"),
        (dict(embed_dim=0, num_heads=1), "embed_dim and num_heads must be greater than 0"),
        (dict(embed_dim=8, num_heads=2, dropout=1.5), "dropout probability has to be between"),
    ],
)
def test_constructor_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        nn.MultiheadAttention(**kwargs)


@pytest.mark.parametrize(
    ("shapes", "call", "error", "match"),
    [
        (((L, B, 7), (S, B, E), (S, B, E)), {}, ValueError, r"query has 7 features .* expected 8"),
        (((L, B, E), (S, B, E), (S + 1, B, E)), {}, ValueError, "key and value must have the same"),
        (((B, L, B, E),) * 3, {}, ValueError, "unbatched 2-D or batched 3-D"),
        (
            ((L, B, E), (S, B, E), (S, B, E)),
            dict(attn_mask=np.zeros((L, L), bool)),
            ValueError,
            r"the shape of the 2D attn_mask is \(4, 4\), but should be \(4, 5\)",
        ),
        (
            ((L, B, E), (S, B, E), (S, B, E)),
            dict(attn_mask=np.zeros((B, L, S), bool)),
            ValueError,
            r"the shape of the 3D attn_mask is \(2, 4, 5\), but should be \(4, 4, 5\)",
        ),
        (
            ((L, B, E), (S, B, E), (S, B, E)),
            dict(attn_mask=np.zeros((1, 1, L, S), bool)),
            ValueError,
            "attn_mask's dimension 4 is not supported",
        ),
        (
            ((L, B, E), (S, B, E), (S, B, E)),
            dict(key_padding_mask=np.zeros((B, L), bool)),
            ValueError,
            r"expected key_padding_mask of shape \(2, 5\), got \(2, 4\)",
        ),
        (
            ((L, B, E), (S, B, E), (S, B, E)),
            dict(key_padding_mask=np.zeros((B, S), np.int32)),
            TypeError,
            "only bool and floating types of key_padding_mask are supported",
        ),
        (
            ((L, B, E), (S, B, E), (S, B, E)),
            dict(is_causal=True),
            ValueError,
            "is_causal=True is a hint that attn_mask is causal and needs attn_mask",
        ),
    ],
)
def test_call_errors_name_the_layer(shapes, call, error, match):
    layer = nn.MultiheadAttention(E, 2)
    with pytest.raises(error, match=r"MultiheadAttention.*" + match):
        layer.init(jax.random.key(0), *(jnp.ones(s) for s in shapes), **call)


@pytest.mark.parametrize(
    ("shapes", "call", "match"),
    [
        (((2, 3, 4), (2, 3, 4), (2, 3, 4)), dict(dropout_p=1.5), "between 0 and 1, got 1.5"),
        (((2, 3, 4),) * 3, dict(dropout_p=0.5), r"dropout_p > 0 needs a random key"),
        (
            ((2, 3, 4),) * 3,
            dict(attn_mask=np.ones((3, 3), bool), is_causal=True),
            "cannot be combined with is_causal=True",
        ),
        (((2, 3, 4), (2, 3, 5), (2, 3, 5)), {}, r"need the same E"),
        (((2, 3, 4), (3, 4), (3, 4)), {}, "same rank >= 2"),
        (
            ((1, 4, 3, 4), (1, 3, 3, 4), (1, 3, 3, 4)),
            dict(enable_gqa=True),
            "must divide the query",
        ),
        (((1, 4, 3, 4), (1, 2, 3, 4), (1, 2, 3, 4)), {}, r"query has 4 heads and key/value 2"),
        (((2, 1, 3, 4), (1, 1, 5, 4), (1, 1, 5, 4)), {}, "must agree in their batch dimensions"),
        (((2, 3, 4),) * 3, dict(attn_mask=np.ones((2, 3), bool)), r"does not broadcast to"),
        (((2, 3, 4),) * 3, dict(attn_mask=np.ones((1, 1, 3, 3), bool)), "more dimensions than"),
    ],
)
def test_sdpa_errors(shapes, call, match):
    with pytest.raises(ValueError, match="scaled_dot_product_attention: .*" + match):
        F.scaled_dot_product_attention(*(jnp.ones(s) for s in shapes), **call)


def test_repr_matches_torch():
    assert repr(nn.MultiheadAttention(E, 2)) == repr(torch.nn.MultiheadAttention(E, 2))
    no_bias = nn.MultiheadAttention(E, 2, bias=False)
    assert repr(no_bias) == repr(torch.nn.MultiheadAttention(E, 2, bias=False))
