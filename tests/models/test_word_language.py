"""The word-language-model example's RNNModel and TransformerModel against their torch
twins (jaxnn.compat.torch_models): state_dict keys (the tie, the ``pos_encoder.pe``
buffer), log-probabilities and hidden states with weights moved either way, gradients,
init, and errors. Tolerance: 1e-5 abs on outputs and gradients."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from conftest import assert_close, to_numpy

from jaxnn.compat import flax_to_torch, torch_to_flax
from jaxnn.compat import torch_models as tm
from jaxnn.models import RNNModel, TransformerModel

ATOL = 1e-5
NTOKEN, T, B = 31, 7, 3

# the recurrent layers' options are tested in tests/layers/test_rnn.py; here each kind
# of model wiring: untied, nhid != ninp, tied
RNN_CASES = [("LSTM", 8, 8, 2, False), ("GRU", 8, 6, 2, False), ("RNN_TANH", 8, 8, 3, True)]


def src(seed=0):
    return np.random.default_rng(seed).integers(0, NTOKEN, (T, B)).astype(np.int32)


def flat(hidden):
    return list(hidden) if isinstance(hidden, tuple) else [hidden]


@pytest.mark.parametrize(("kind", "ninp", "nhid", "nlayers", "tie"), RNN_CASES, ids=str)
def test_rnn_model_matches_the_example(kind, ninp, nhid, nlayers, tie):
    args = (kind, NTOKEN, ninp, nhid, nlayers, 0.5, tie)
    model = RNNModel(*args)
    x = src()
    variables = jax.jit(model.init)(jax.random.key(0), x)
    torch.manual_seed(0)
    twin = tm.RNNModel(*args)
    assert sorted(flax_to_torch(variables)) == sorted(twin.state_dict())
    if tie:
        assert "weight" not in variables["params"]["decoder"]  # one leaf, two keys
    # torch's weights -> jaxnn, and jaxnn's -> torch: the same outputs either way
    from_torch = torch_to_flax(twin.state_dict(), variables)
    hidden = tuple(
        np.random.default_rng(1).standard_normal(h.shape).astype(np.float32)
        for h in flat(model.init_hidden(B))
    )
    hidden = hidden if kind == "LSTM" else hidden[0]
    for v in (from_torch, variables):
        twin.load_state_dict(flax_to_torch(v), strict=True)
        twin.eval()
        with torch.no_grad():
            th = tuple(torch.from_numpy(h) for h in flat(hidden))
            want, want_hidden = twin(torch.from_numpy(x).long(), th if kind == "LSTM" else th[0])
        got, got_hidden = jax.jit(model.apply)(v, x, hidden)
        assert got.shape == (T * B, NTOKEN)
        assert_close(got, to_numpy(want), ATOL, what="log-probabilities")
        for ours, theirs in zip(flat(got_hidden), flat(want_hidden)):
            assert_close(ours, to_numpy(theirs), ATOL, what="hidden")


def test_rnn_model_gradients_and_init():
    model = RNNModel("LSTM", NTOKEN, 8, 8, 2, 0.5, True)
    x, y = src(), src(1).reshape(-1)
    variables = jax.jit(model.init)(jax.random.key(0), x)
    p = variables["params"]
    assert 0.09 < np.abs(p["encoder"]["embedding"]).max() <= 0.1  # the example's initrange
    assert not np.any(p["decoder"]["bias"])

    def loss(params):
        logp = model.apply({**variables, "params": params}, x)[0]
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], 1))

    grads = jax.jit(jax.grad(loss))(p)
    twin = tm.RNNModel("LSTM", NTOKEN, 8, 8, 2, 0.5, True)
    twin.load_state_dict(flax_to_torch(variables))
    twin.eval()
    logp, _ = twin(torch.from_numpy(x).long())
    torch.nn.functional.nll_loss(logp, torch.from_numpy(y).long()).backward()
    ours = flax_to_torch({"params": grads, "tied": variables["tied"]})
    for name, param in twin.named_parameters():  # encoder.weight: both uses
        assert_close(to_numpy(ours[name]), to_numpy(param.grad), ATOL, what=name)


@pytest.fixture(scope="module")
def transformer():
    model = TransformerModel(NTOKEN, 8, 2, 16, 2)
    variables = jax.jit(model.init)(jax.random.key(0), src())
    return model, variables


def test_transformer_model_matches_the_example(transformer):
    model, variables = transformer
    twin = tm.TransformerModel(NTOKEN, 8, 2, 16, 2)
    assert sorted(flax_to_torch(variables)) == sorted(twin.state_dict())
    assert variables["buffers"]["pos_encoder"]["pe"].shape == (5000, 1, 8)
    assert_close(variables["buffers"]["pos_encoder"]["pe"], to_numpy(twin.pos_encoder.pe), ATOL)
    x = src()
    for v in (torch_to_flax(twin.state_dict(), variables), variables):
        twin.load_state_dict(flax_to_torch(v), strict=True)
        twin.eval()
        apply = jax.jit(model.apply, static_argnums=2)
        for has_mask in (True, False):
            with torch.no_grad():
                want = twin(torch.from_numpy(x).long(), has_mask)
            assert_close(apply(v, x, has_mask), to_numpy(want), ATOL, what=f"mask {has_mask}")


def test_transformer_model_init_and_train_mode(transformer):
    model, variables = transformer
    p = variables["params"]
    kernel = p["encoder"]["layers"]["1"]["linear1"]["kernel"]  # nn.Transformer's xavier
    bound = np.sqrt(6 / (8 + 16))
    assert 0.8 * bound < np.abs(kernel).max() <= bound
    assert 0.09 < np.abs(p["input_emb"]["embedding"]).max() <= 0.1
    x = src()
    apply = jax.jit(model.apply)
    eval_out = apply(variables, x)
    train_out = apply(variables, x, rngs={"dropout": jax.random.key(0)})
    assert np.abs(np.asarray(train_out) - np.asarray(eval_out)).max() > 1e-2


def test_errors():
    with pytest.raises(ValueError, match=r"An invalid option for `--model` was supplied"):
        RNNModel("LSTMX", NTOKEN, 8, 8, 2)
    with pytest.raises(ValueError, match="When using the tied flag, nhid must be equal to emsize"):
        RNNModel("GRU", NTOKEN, 8, 6, 2, tie_weights=True)


def test_example_inputs_are_token_batches():
    for model in (RNNModel("GRU", NTOKEN, 8, 8, 2), TransformerModel(NTOKEN, 8, 2, 16, 2)):
        assert model.example_input(4) == jax.ShapeDtypeStruct((35, 4), jnp.int32)
