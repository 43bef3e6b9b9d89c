"""The Transformer family against torch: TransformerEncoderLayer / DecoderLayer over their
options and masks (forward and gradients), the stacks, nn.Transformer (parameter names,
xavier init, outputs), the causal mask helper, dropout and errors. Tolerance: 1e-5 abs
on outputs and input gradients, 1e-4 on parameter gradients."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from conftest import assert_close, load_torch, to_numpy

import jaxnn as nn
import jaxnn.functional as F
from jaxnn.compat import flax_to_torch

ATOL, GRAD_ATOL = 1e-5, 1e-4
D, H, FF = 8, 2, 16


def quiet(make):
    """Build a torch module without its construction-time advice (nested tensors)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make()


def causal(n):
    return np.array(nn.Transformer.generate_square_subsequent_mask(n))


def padding(b, s):
    mask = np.zeros((b, s), np.float32)
    mask[0, -2:] = -np.inf  # float, like the causal mask: torch warns on mixed mask types
    return mask


ENCODER = [
    dict(),
    dict(norm_first=True),
    dict(activation="gelu", batch_first=True),
    dict(activation=F.silu, bias=False),
    dict(layer_norm_eps=1e-3, norm_first=True, batch_first=True),
]


def _id(kwargs: dict) -> str:
    """A test id that names a callable argument by its name (a repr has its address,
    which differs between pytest-xdist's workers)."""
    return str({k: getattr(v, "__name__", v) for k, v in kwargs.items()})


@pytest.mark.parametrize("kwargs", ENCODER, ids=_id)
def test_encoder_layer_forward_and_gradients(kwargs, rng):
    bf = kwargs.get("batch_first", False)
    torch_kwargs = {**kwargs}
    if kwargs.get("activation") is F.silu:
        torch_kwargs["activation"] = torch.nn.functional.silu
    x = rng.standard_normal((2, 5, D) if bf else (5, 2, D)).astype(np.float32)
    call = dict(src_mask=causal(5), src_key_padding_mask=padding(2, 5), is_causal=True)
    layer = nn.TransformerEncoderLayer(D, H, FF, dropout=0.0, **kwargs)
    v = layer.init(jax.random.key(0), x)
    ref = load_torch(torch.nn.TransformerEncoderLayer(D, H, FF, dropout=0.0, **torch_kwargs), v)
    r = rng.standard_normal(x.shape).astype(np.float32)

    def loss(params, x):
        out = layer.apply({"params": params}, x, **call)
        return jnp.sum(jnp.sin(out) * r), out

    (_, out), (g, gx) = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))(
        v["params"], x
    )
    xt = torch.from_numpy(x).requires_grad_()
    want = ref(xt, **{k: torch.from_numpy(a) if k != "is_causal" else a for k, a in call.items()})
    (torch.sin(want) * torch.from_numpy(r)).sum().backward()
    assert_close(out, to_numpy(want), ATOL, what="output")
    assert_close(gx, to_numpy(xt.grad), ATOL, what="input grad")
    assert_close(g["linear1"]["kernel"].T, to_numpy(ref.linear1.weight.grad), GRAD_ATOL)
    assert_close(
        g["self_attn"]["in_proj_weight"], to_numpy(ref.self_attn.in_proj_weight.grad), GRAD_ATOL
    )
    assert_close(g["norm2"]["scale"], to_numpy(ref.norm2.weight.grad), GRAD_ATOL)


@pytest.mark.parametrize("kwargs", [dict(), dict(norm_first=True, batch_first=True)], ids=str)
def test_decoder_layer_forward_and_gradients(kwargs, rng):
    bf = kwargs.get("batch_first", False)
    tgt = rng.standard_normal((2, 3, D) if bf else (3, 2, D)).astype(np.float32)
    memory = rng.standard_normal((2, 5, D) if bf else (5, 2, D)).astype(np.float32)
    call = dict(
        tgt_mask=causal(3),
        memory_mask=rng.standard_normal((3, 5)).astype(np.float32),
        memory_key_padding_mask=padding(2, 5),
    )
    layer = nn.TransformerDecoderLayer(D, H, FF, dropout=0.0, **kwargs)
    v = layer.init(jax.random.key(0), tgt, memory)
    ref = load_torch(torch.nn.TransformerDecoderLayer(D, H, FF, dropout=0.0, **kwargs), v)

    def loss(params, tgt, memory):
        out = layer.apply({"params": params}, tgt, memory, **call)
        return jnp.sum(jnp.sin(out)), out

    (_, out), (g, gt, gm) = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))(
        v["params"], tgt, memory
    )
    tt, tm = (torch.from_numpy(a).requires_grad_() for a in (tgt, memory))
    want = ref(tt, tm, **{k: torch.from_numpy(a) for k, a in call.items()})
    torch.sin(want).sum().backward()
    assert_close(out, to_numpy(want), ATOL, what="output")
    assert_close(gt, to_numpy(tt.grad), ATOL, what="tgt grad")
    assert_close(gm, to_numpy(tm.grad), ATOL, what="memory grad")
    want_w = to_numpy(ref.multihead_attn.in_proj_weight.grad)
    assert_close(g["multihead_attn"]["in_proj_weight"], want_w, GRAD_ATOL)


@pytest.fixture(scope="module")
def transformer():
    """An nn.Transformer (2 encoder, 1 decoder layers), its variables and torch twin."""
    model = nn.Transformer(D, H, 2, 1, FF, dropout=0.1)
    src, tgt = jnp.ones((5, 2, D)), jnp.ones((3, 2, D))
    variables = jax.jit(model.init)(jax.random.key(0), src, tgt)
    ref = load_torch(quiet(lambda: torch.nn.Transformer(D, H, 2, 1, FF, dropout=0.1)), variables)
    return model, variables, ref.eval()


def test_transformer_names_and_outputs_match_torch(transformer, rng):
    model, variables, ref = transformer
    assert sorted(flax_to_torch(variables)) == sorted(ref.state_dict())
    src = rng.standard_normal((5, 2, D)).astype(np.float32)
    tgt = rng.standard_normal((3, 2, D)).astype(np.float32)
    call = dict(tgt_mask=causal(3), src_key_padding_mask=padding(2, 5))
    call["memory_key_padding_mask"] = call["src_key_padding_mask"]
    out = jax.jit(lambda v, s, t: model.apply(v, s, t, **call))(variables, src, tgt)
    with torch.no_grad():
        want = ref(
            torch.from_numpy(src),
            torch.from_numpy(tgt),
            **{k: torch.from_numpy(a) for k, a in call.items()},
        )
    assert_close(out, to_numpy(want), ATOL)


def test_transformer_weights_start_xavier_uniform(transformer):
    _, variables, _ = transformer
    layer = variables["params"]["encoder"]["layers"]["0"]
    for kernel, (fan_in, fan_out) in [
        (layer["linear1"]["kernel"], (D, FF)),
        (layer["self_attn"]["out_proj"]["kernel"], (D, D)),
        (layer["self_attn"]["in_proj_weight"], (D, 3 * D)),
    ]:
        bound = np.sqrt(6 / (fan_in + fan_out))
        assert bound * 0.8 < np.abs(kernel).max() <= bound
    assert not np.any(layer["self_attn"]["in_proj_bias"])
    norm = variables["params"]["encoder"]["norm"]
    np.testing.assert_array_equal(norm["scale"], np.ones(D))


def test_dropout_acts_in_train_mode_only(rng):
    layer = nn.TransformerDecoderLayer(D, H, FF, dropout=0.1)
    tgt, memory = (rng.standard_normal((n, 2, D)).astype(np.float32) for n in (3, 5))
    v = layer.init(jax.random.key(0), tgt, memory)
    apply = jax.jit(layer.apply)
    eval_out = apply(v, tgt, memory)
    np.testing.assert_array_equal(eval_out, apply(v, tgt, memory))
    train = apply(v, tgt, memory, rngs={"dropout": jax.random.key(1)})
    assert np.abs(np.asarray(train) - np.asarray(eval_out)).max() > 1e-2
    ref = load_torch(torch.nn.TransformerDecoderLayer(D, H, FF, dropout=0.1), v).eval()
    with torch.no_grad():
        assert_close(eval_out, to_numpy(ref(torch.from_numpy(tgt), torch.from_numpy(memory))), ATOL)


def test_stacks_of_copies(rng):
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(D, H, FF, 0.0), 2, nn.LayerNorm(D))
    src = rng.standard_normal((4, 2, D)).astype(np.float32)
    v = enc.init(jax.random.key(0), src)
    layers = v["params"]["layers"]
    assert set(layers) == {"0", "1"} and not np.allclose(
        layers["0"]["linear1"]["kernel"], layers["1"]["linear1"]["kernel"]
    )  # each copy has its own weights
    ref = quiet(
        lambda: torch.nn.TransformerEncoder(
            torch.nn.TransformerEncoderLayer(D, H, FF, 0.0), 2, torch.nn.LayerNorm(D)
        )
    )
    ref = load_torch(ref, v).eval()
    with torch.no_grad():
        want = ref(torch.from_numpy(src), mask=torch.from_numpy(causal(4)))
    assert_close(enc.apply(v, src, mask=causal(4)), to_numpy(want), ATOL)
    assert_close(enc.apply(v, src[:, 0]), to_numpy(ref(torch.from_numpy(src[:, 0]))), ATOL)


def test_generate_square_subsequent_mask_matches_torch():
    ours = nn.Transformer.generate_square_subsequent_mask(4)
    np.testing.assert_array_equal(
        ours, to_numpy(torch.nn.Transformer.generate_square_subsequent_mask(4))
    )
    assert ours.dtype == jnp.float32


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda m, v: m.apply(v, jnp.ones((5, 2, D)), jnp.ones((3, 3, D))),
            r"the batch number of src and tgt must be equal",
        ),
        (
            lambda m, v: m.apply(v, jnp.ones((5, 2, D)), jnp.ones((3, 2, D + 1))),
            r"the feature number of src and tgt must be equal to d_model \(8\)",
        ),
    ],
)
def test_transformer_errors(transformer, call, match):
    model, variables, _ = transformer
    with pytest.raises(ValueError, match=match):
        call(model, variables)


def test_layer_errors():
    with pytest.raises(ValueError, match="activation should be relu/gelu, not 'tanh'"):
        nn.TransformerEncoderLayer(D, H, activation="tanh")
    with pytest.raises(TypeError, match="activation must be 'relu', 'gelu' or a callable"):
        nn.TransformerDecoderLayer(D, H, activation=3)
    with pytest.raises(ValueError, match="is_causal=True is a hint that attn_mask is causal"):
        layer = nn.TransformerEncoderLayer(D, H, FF)
        layer.init(jax.random.key(0), jnp.ones((3, 2, D)), is_causal=True)
