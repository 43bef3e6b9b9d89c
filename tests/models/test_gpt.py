"""jaxnn.models.GPT against nanoGPT's GPT (jaxnn.compat.torch_models.GPT): state_dict
keys with the tie, outputs and loss with weights moved either way, gradients (the tied
weight learns from both uses), AdamW training steps with nanoGPT's decay groups, init,
generate (greedy equals nanoGPT's, the cache changes nothing, top_k holds), and errors.

Tolerances (float32): 1e-5 abs on logits, loss and gradients; over 5 AdamW steps, 1e-4
relative on the loss and 1e-4 abs on the parameters, as tests/test_training_parity.py
(Adam's normalised step turns float noise in near-zero gradients into up to lr-sized
differences).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from conftest import assert_close, to_numpy

from jaxnn import optim
from jaxnn.compat import flax_to_torch, torch_to_flax
from jaxnn.compat import torch_models as tm
from jaxnn.models import GPT, GPTConfig, get_model
from jaxnn.models.gpt import generate

ATOL = 1e-5
CONFIG = dict(block_size=16, vocab_size=29, n_layer=2, n_head=2, n_embd=16, dropout=0.0)


@functools.cache
def built(bias: bool = True):
    """The jaxnn model, its variables and nanoGPT's twin holding them (eval mode)."""
    config = GPTConfig(**CONFIG, bias=bias)
    model = GPT(config)
    variables = jax.jit(model.init)(jax.random.key(0), model.example_input(2))
    twin = tm.GPT(tm.GPTConfig(**CONFIG, bias=bias))
    twin.load_state_dict(flax_to_torch(variables), strict=True)
    return model, variables, twin.eval()


@pytest.fixture(scope="module", autouse=True)
def _free():
    yield
    built.cache_clear()


def tokens(shape, seed=0):
    return np.random.default_rng(seed).integers(0, CONFIG["vocab_size"], shape).astype(np.int32)


@pytest.mark.parametrize("bias", [True, False])
def test_state_dict_is_nanogpts_with_the_tie(bias):
    _, variables, twin = built(bias)
    sd = flax_to_torch(variables)
    assert sorted(sd) == sorted(twin.state_dict())
    assert sd["lm_head.weight"] is sd["transformer.wte.weight"]  # one tensor, as torch's
    assert set(variables) == {"params", "tied"}  # no generation cache in the variables
    assert "lm_head" not in variables["params"]


@pytest.mark.parametrize("bias", [True, False])
def test_logits_and_loss_match_nanogpt(bias):
    model, variables, twin = built(bias)
    idx, targets = tokens((3, 12)), tokens((3, 12), seed=1)
    targets[0, :4] = -1  # nanoGPT's ignore_index
    with torch.no_grad():
        want_logits, want_loss = twin(
            torch.from_numpy(idx).long(), torch.from_numpy(targets).long()
        )
        want_last, none = twin(torch.from_numpy(idx).long())
    logits, loss = jax.jit(model.apply)(variables, idx, targets)
    last, also_none = jax.jit(model.apply)(variables, idx)
    assert_close(logits, to_numpy(want_logits), ATOL, what="logits")
    assert_close(loss, to_numpy(want_loss), ATOL, what="loss")
    assert last.shape == (3, 1, CONFIG["vocab_size"]) and none is None and also_none is None
    assert_close(last, to_numpy(want_last), ATOL, what="last-position logits")


def test_nanogpt_weights_load_into_jaxnn():
    model, variables, _ = built()
    torch.manual_seed(3)
    twin = tm.GPT(tm.GPTConfig(**CONFIG)).eval()
    sd = twin.state_dict()
    idx = tokens((2, 16))
    with torch.no_grad():
        want = to_numpy(twin(torch.from_numpy(idx).long(), torch.from_numpy(idx).long())[0])
    apply = jax.jit(model.apply)
    for stored_once in (sd, {k: t for k, t in sd.items() if k != "lm_head.weight"}):
        assert_close(apply(torch_to_flax(stored_once, variables), idx, idx)[0], want, ATOL)


def test_gradients_match_nanogpt_including_the_tied_weight():
    model, variables, twin = built()
    twin = twin.train()
    idx, targets = tokens((2, 16)), tokens((2, 16), seed=1)

    def loss(params):
        return model.apply({**variables, "params": params}, idx, targets)[1]

    grads = jax.jit(jax.grad(loss))(variables["params"])
    twin.zero_grad()
    twin(torch.from_numpy(idx).long(), torch.from_numpy(targets).long())[1].backward()
    want = {k: to_numpy(p.grad) for k, p in twin.named_parameters()}
    ours = flax_to_torch({"params": grads, "tied": variables["tied"]})
    assert set(want) <= set(ours)
    for key, grad in want.items():  # transformer.wte.weight: both uses, summed
        assert_close(to_numpy(ours[key]), grad, ATOL, what=key)
    twin.eval()


def test_adamw_steps_with_nanogpts_decay_groups_match_torch():
    model, variables, twin = built()
    twin = tm.GPT(tm.GPTConfig(**CONFIG))
    twin.load_state_dict(flax_to_torch(variables))
    decay = [p for p in twin.parameters() if p.dim() >= 2]
    no_decay = [p for p in twin.parameters() if p.dim() < 2]
    opt_t = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=1e-2,
        betas=(0.9, 0.95),
    )
    tx = optim.no_decay_on_bias_and_norm(optim.AdamW, lr=1e-2, betas=(0.9, 0.95), weight_decay=0.1)

    @jax.jit
    def step(params, opt_state, idx, targets):
        def loss(p):
            return model.apply({**variables, "params": p}, idx, targets)[1]

        value, grads = jax.value_and_grad(loss)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return jax.tree_util.tree_map(jnp.add, params, updates), opt_state, value

    params, opt_state = variables["params"], tx.init(variables["params"])
    for i in range(5):
        idx, targets = tokens((4, 16), seed=10 + i), tokens((4, 16), seed=20 + i)
        params, opt_state, value = step(params, opt_state, idx, targets)
        opt_t.zero_grad()
        loss_t = twin(torch.from_numpy(idx).long(), torch.from_numpy(targets).long())[1]
        loss_t.backward()
        opt_t.step()
        assert_close(value, to_numpy(loss_t), 0.0, rtol=1e-4, what=f"loss at step {i}")
    ours = flax_to_torch({"params": params, "tied": variables["tied"]})
    for key, want in twin.state_dict().items():
        assert_close(to_numpy(ours[key]), to_numpy(want), 1e-4, what=key)


def test_init_is_nanogpts():
    config = GPTConfig(block_size=8, vocab_size=64, n_layer=2, n_head=2, n_embd=64)
    p = jax.jit(GPT(config).init)(jax.random.key(0), jnp.zeros((1, 8), jnp.int32))["params"]
    block = p["transformer"]["h"]["1"]
    for leaf, std in [
        (p["transformer"]["wte"]["embedding"], 0.02),
        (block["attn"]["c_attn"]["kernel"], 0.02),
        (block["mlp"]["c_fc"]["kernel"], 0.02),
        (block["attn"]["c_proj"]["kernel"], 0.02 / np.sqrt(4)),
        (block["mlp"]["c_proj"]["kernel"], 0.02 / np.sqrt(4)),
    ]:
        assert abs(float(np.std(leaf)) / std - 1) < 0.05
    assert not np.any(block["attn"]["c_attn"]["bias"]) and np.all(block["ln_1"]["scale"] == 1)
    model, variables, twin = built()
    assert (
        model.get_num_params(variables)
        == sum(p.numel() for p in twin.parameters()) - twin.transformer.wpe.weight.numel()
    )


# ----------------------------------------------------------------------------- generate


def test_greedy_generation_equals_nanogpts_past_the_block_size():
    model, variables, twin = built()
    prompt = tokens((2, 5))
    with torch.no_grad():
        want = twin.generate(torch.from_numpy(prompt).long(), 20, top_k=1).numpy()  # 25 > 16
    cached = generate(model, variables, prompt, 20, top_k=1)
    np.testing.assert_array_equal(cached, want)
    np.testing.assert_array_equal(
        generate(model, variables, prompt, 20, top_k=1, use_cache=False), want
    )
    long_prompt = tokens((1, 20))  # longer than the block: cropped, as nanoGPT does
    with torch.no_grad():
        want = twin.generate(torch.from_numpy(long_prompt).long(), 3, top_k=1).numpy()
    np.testing.assert_array_equal(generate(model, variables, long_prompt, 3, top_k=1), want)


def test_sampling_is_the_same_with_and_without_the_cache_and_keeps_top_k():
    model, variables, _ = built()
    prompt, key, top_k = tokens((3, 4)), jax.random.key(7), 3
    cached = generate(model, variables, prompt, 18, 0.8, top_k, key=key)
    plain = generate(model, variables, prompt, 18, 0.8, top_k, key=key, use_cache=False)
    np.testing.assert_array_equal(cached, plain)
    assert cached.shape == (3, 22) and np.array_equal(cached[:, :4], prompt)
    other = generate(model, variables, prompt, 18, 0.8, top_k, key=jax.random.key(8))
    assert not np.array_equal(cached, other)
    # every sampled token is among the top_k of its context's logits
    apply = jax.jit(lambda w: model.apply(variables, w, w)[0])  # logits at every position
    cached = np.asarray(cached)
    for t in range(4, 22):
        start = max(0, t - 16)  # the context: at most the last block_size tokens
        logits = np.asarray(apply(cached[:, start : start + 16]))[:, t - 1 - start]
        kth = np.sort(logits, axis=-1)[:, -top_k][:, None]
        assert np.all(np.take_along_axis(logits, cached[:, t : t + 1], 1) >= kth)


def test_generate_through_apply_with_a_sample_rng():
    model, variables, _ = built()
    prompt, key = tokens((3, 4)), jax.random.key(7)
    apply = jax.jit(
        functools.partial(model.apply, method="generate"),
        static_argnames=("max_new_tokens", "top_k"),
    )
    out = apply(
        variables, prompt, max_new_tokens=18, temperature=0.8, top_k=3, rngs={"sample": key}
    )
    np.testing.assert_array_equal(out, generate(model, variables, prompt, 18, 0.8, 3, key=key))


# ----------------------------------------------------------------------------- errors


def test_errors():
    model, variables, _ = built()
    with pytest.raises(
        ValueError, match="cannot forward sequence of length 17, block size is only 16"
    ):
        model.apply(variables, tokens((1, 17)))
    with pytest.raises(ValueError, match=r"expected integer tokens of shape \(B, T\), got float32"):
        model.apply(variables, np.ones((1, 4), np.float32))
    with pytest.raises(ValueError, match=r"n_embd \(10\) must be divisible by n_head \(4\)"):
        GPT(GPTConfig(**{**CONFIG, "n_embd": 10, "n_head": 4})).init(
            jax.random.key(0), tokens((1, 2))
        )
    with pytest.raises(ValueError, match="generate runs in eval mode; pass no 'dropout' rng"):
        rngs = {"dropout": jax.random.key(0), "sample": jax.random.key(1)}
        model.apply(variables, tokens((1, 2)), 2, method="generate", rngs=rngs)
    with pytest.raises(ValueError, match=r"sampling needs key=jax\.random\.key"):
        generate(model, variables, tokens((1, 2)), 2)
    with pytest.raises(ValueError, match=r"sampling needs rngs=\{'sample': key\}"):
        model.apply(variables, tokens((1, 2)), 2, method="generate")
    with pytest.raises(ValueError, match=r"temperature must be > 0, got -1\.0"):
        generate(model, variables, tokens((1, 2)), 2, -1.0, key=jax.random.key(0))
    with pytest.raises(ValueError, match="temperature > 0"):
        model.apply(variables, tokens((1, 2)), 2, 0.0, 1, method="generate")


def test_model_registry_and_config_from_a_mapping():
    model = get_model("GPT", config=dict(CONFIG))  # e.g. --model-kwargs '{"config": {...}}'
    assert model.config == GPTConfig(**CONFIG)
    assert model.example_input(3) == jax.ShapeDtypeStruct((3, 16), jnp.int32)
    assert tm.GPT(dict(CONFIG)).config == tm.GPTConfig(**CONFIG)
