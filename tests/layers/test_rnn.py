"""nn.RNN / LSTM / GRU and their cells against torch over their options: outputs, final
states and gradients (input, initial state, parameters), unbatched input, initial
states, inter-layer dropout, parameter names, init, the compiled structure and errors.
Tolerance: 1e-5 abs on outputs, states and input gradients; 1e-4 on parameter
gradients (sums over batch and time)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from conftest import assert_close, load_torch, to_numpy

import jaxnn as nn

ATOL, GRAD_ATOL = 1e-5, 1e-4
T, B, I, H = 6, 3, 4, 5

# torch notes that its oneDNN kernels do not do LSTM projections (it falls back by itself)
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported:UserWarning")

CASES = [
    ("RNN", dict(num_layers=2, bidirectional=True)),
    ("RNN", dict(nonlinearity="relu", bias=False, batch_first=True)),
    ("LSTM", dict()),
    ("LSTM", dict(num_layers=2, bidirectional=True, proj_size=3)),
    ("LSTM", dict(batch_first=True, bias=False, proj_size=2)),
    ("GRU", dict(num_layers=3, bidirectional=True)),
    ("GRU", dict(batch_first=True, bias=False)),
]


def torch_twin(kind, kwargs, variables):
    ref = load_torch(getattr(torch.nn, kind)(I, H, **kwargs), variables)
    ref.flatten_parameters()  # loaded weights are separate tensors; torch wants one block
    return ref


def states(kind, kwargs, rng, batched=True):
    d = 2 if kwargs.get("bidirectional") else 1
    n = d * kwargs.get("num_layers", 1)
    batch = (B,) if batched else ()
    h0 = rng.standard_normal((n, *batch, kwargs.get("proj_size") or H)).astype(np.float32)
    if kind != "LSTM":
        return h0
    return h0, rng.standard_normal((n, *batch, H)).astype(np.float32)


def flat(state):
    return list(state) if isinstance(state, tuple) else [state]


@pytest.mark.parametrize(("kind", "kwargs"), CASES, ids=lambda c: str(c))
def test_forward_and_gradients_match_torch(kind, kwargs, rng):
    layer = getattr(nn, kind)(I, H, **kwargs)
    bf = kwargs.get("batch_first", False)
    x = rng.standard_normal((B, T, I) if bf else (T, B, I)).astype(np.float32)
    hx = states(kind, kwargs, rng)
    v = layer.init(jax.random.key(0), x)
    ref = torch_twin(kind, kwargs, v)
    r = rng.standard_normal((B, T) if bf else (T, B)).astype(np.float32)[..., None]

    def loss(params, x, hx):
        out, state = layer.apply({"params": params}, x, hx)
        return jnp.sum(jnp.sin(out) * r) + sum(jnp.sum(s) for s in flat(state)), (out, state)

    (_, (out, state)), grads = jax.jit(jax.value_and_grad(loss, (0, 1, 2), has_aux=True))(
        v["params"], x, hx
    )
    xt = torch.from_numpy(x).requires_grad_()
    ht = tuple(torch.from_numpy(s).requires_grad_() for s in flat(hx))
    out_t, state_t = ref(xt, ht if kind == "LSTM" else ht[0])
    total = (torch.sin(out_t) * torch.from_numpy(r)).sum() + sum(s.sum() for s in flat(state_t))
    total.backward()
    assert_close(out, to_numpy(out_t), ATOL, what="output")
    for ours, theirs in zip(flat(state), flat(state_t)):
        assert_close(ours, to_numpy(theirs), ATOL, what="final state")
    assert_close(grads[1], to_numpy(xt.grad), ATOL, what="input grad")
    for ours, theirs in zip(flat(grads[2]), ht):
        assert_close(ours, to_numpy(theirs.grad), ATOL, what="initial state grad")
    for name, p in ref.named_parameters():
        assert_close(grads[0][name], to_numpy(p.grad), GRAD_ATOL, what=name)
    assert repr(layer) == repr(ref)


@pytest.mark.parametrize(("kind", "kwargs"), [CASES[0], CASES[3], CASES[5]], ids=str)
def test_unbatched_input_with_initial_state(kind, kwargs, rng):
    layer = getattr(nn, kind)(I, H, **kwargs)
    x = rng.standard_normal((T, I)).astype(np.float32)
    hx = states(kind, kwargs, rng, batched=False)
    v = layer.init(jax.random.key(0), x)
    ref = torch_twin(kind, kwargs, v)
    out, state = jax.jit(layer.apply)(v, x, hx)
    with torch.no_grad():
        hxt = tuple(torch.from_numpy(s) for s in flat(hx))
        out_t, state_t = ref(torch.from_numpy(x), hxt if kind == "LSTM" else hxt[0])
    assert_close(out, to_numpy(out_t), ATOL, what="output")
    for ours, theirs in zip(flat(state), flat(state_t)):
        assert ours.shape == theirs.shape
        assert_close(ours, to_numpy(theirs), ATOL, what="final state")


def test_dropout_between_layers_in_train_mode_only(rng):
    # p = 1 zeroes every input of layer 2: deterministic, so torch's train mode compares
    layer = nn.LSTM(I, H, num_layers=2, dropout=1.0)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    v = layer.init(jax.random.key(0), x)
    ref = torch_twin("LSTM", dict(num_layers=2, dropout=1.0), v).train()
    with torch.no_grad():
        want = ref(torch.from_numpy(x))[0]
    got = layer.apply(v, x, rngs={"dropout": jax.random.key(1)})[0]
    assert_close(got, to_numpy(want), ATOL)
    ref.eval()
    with torch.no_grad():
        assert_close(layer.apply(v, x)[0], to_numpy(ref(torch.from_numpy(x))[0]), ATOL)


CELLS = [("RNNCell", dict()), ("RNNCell", dict(nonlinearity="relu")), ("LSTMCell", dict())]
CELLS += [("GRUCell", dict()), ("GRUCell", dict(bias=False))]


@pytest.mark.parametrize(("kind", "kwargs"), CELLS, ids=str)
@pytest.mark.parametrize("batched", [True, False])
def test_cells_match_torch(kind, kwargs, batched, rng):
    cell = getattr(nn, kind)(I, H, **kwargs)
    x = rng.standard_normal((B, I) if batched else (I,)).astype(np.float32)
    shape = (B, H) if batched else (H,)
    hx = tuple(
        rng.standard_normal(shape).astype(np.float32) for _ in range(2 if "LSTM" in kind else 1)
    )
    v = cell.init(jax.random.key(0), x)
    ref = load_torch(getattr(torch.nn, kind)(I, H, **kwargs), v)

    def loss(params, x, hx):
        out = cell.apply({"params": params}, x, hx if "LSTM" in kind else hx[0])
        return sum(jnp.sum(jnp.sin(o)) for o in flat(out)), out

    (_, out), grads = jax.jit(jax.value_and_grad(loss, (0, 1, 2), has_aux=True))(v["params"], x, hx)
    xt = torch.from_numpy(x).requires_grad_()
    ht = tuple(torch.from_numpy(s).requires_grad_() for s in hx)
    out_t = ref(xt, ht if "LSTM" in kind else ht[0])
    sum(torch.sin(o).sum() for o in flat(out_t)).backward()
    for ours, theirs in zip(flat(out), flat(out_t)):
        assert_close(ours, to_numpy(theirs), ATOL, what="output")
    assert_close(grads[1], to_numpy(xt.grad), ATOL, what="input grad")
    for ours, theirs in zip(grads[2], ht):
        assert_close(ours, to_numpy(theirs.grad), ATOL, what="state grad")
    for name, p in ref.named_parameters():
        assert_close(grads[0][name], to_numpy(p.grad), GRAD_ATOL, what=name)
    assert repr(cell) == repr(ref)
    zero = cell.apply(v, x)  # no state: zeros, as torch
    with torch.no_grad():
        for ours, theirs in zip(flat(zero), flat(ref(torch.from_numpy(x)))):
            assert_close(ours, to_numpy(theirs), ATOL, what="zero state")


def test_parameter_names_shapes_and_init_follow_torch():
    layer = nn.LSTM(I, 64, num_layers=2, bidirectional=True, proj_size=16)
    v = layer.init(jax.random.key(0), jnp.ones((T, B, I)))
    ref = torch.nn.LSTM(I, 64, num_layers=2, bidirectional=True, proj_size=16)
    assert {k: p.shape for k, p in v["params"].items()} == {
        k: tuple(t.shape) for k, t in ref.state_dict().items()
    }
    bound = 1 / np.sqrt(64)
    for name, p in v["params"].items():
        assert np.abs(p).max() <= bound, name
    w = np.asarray(v["params"]["weight_ih_l1_reverse"])
    assert np.abs(w).max() > 0.95 * bound and abs(w.mean()) < 0.01


def test_bfloat16_computes_in_bfloat16(rng):
    """Mixed precision (bfloat16 parameters and inputs, as jaxnn.train's precision='bf16'
    casts them): the zero initial state takes the input's dtype, so the recurrence stays
    in bfloat16, and agrees with float32 to bfloat16's precision."""
    layer = nn.LSTM(I, H, num_layers=2)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    v = layer.init(jax.random.key(0), x)
    half = jax.tree_util.tree_map(lambda a: a.astype(jnp.bfloat16), v)
    out, (h, c) = layer.apply(half, x.astype(jnp.bfloat16))
    assert out.dtype == h.dtype == c.dtype == jnp.bfloat16
    assert_close(out.astype(np.float32), layer.apply(v, x)[0], 3e-2)


def _scans(jaxpr):
    """Every scan in a jaxpr, looking inside the sub-jaxprs of calls and custom rules."""
    found = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "scan":
            found.append(eqn)
        for value in eqn.params.values():
            inner = getattr(value, "jaxpr", value)
            if hasattr(inner, "eqns"):
                found += _scans(inner)
    return found


def _dots(jaxpr) -> int:
    return [e.primitive.name for e in jaxpr.eqns].count("dot_general")


def test_one_matmul_per_step_forward_and_backward():
    """Per layer: the inputs' projection is one matmul over the whole sequence (both
    directions), and the loops forward and backward hold one matmul per step each (the
    weight gradients are computed after the backward loop)."""
    layer = nn.GRU(I, H, num_layers=2, bidirectional=True)
    x = jnp.ones((T, B, I))
    v = layer.init(jax.random.key(0), x)
    forward = jax.make_jaxpr(layer.apply)(v, x).jaxpr
    assert _dots(forward) == 2  # the projections, outside any loop
    assert [_dots(e.params["jaxpr"].jaxpr) for e in _scans(forward)] == [1, 1]
    loss = lambda p, x: jnp.sum(layer.apply({"params": p}, x)[0])  # noqa: E731
    backward = jax.make_jaxpr(jax.grad(loss))(v["params"], x).jaxpr
    scans = _scans(backward)
    assert len(scans) == 4 and all(_dots(e.params["jaxpr"].jaxpr) == 1 for e in scans)


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (
            lambda: nn.RNN(I, H, nonlinearity="sigmoid"),
            ValueError,
            "unknown nonlinearity 'sigmoid'",
        ),
        (
            lambda: nn.LSTM(I, H, dropout=1.5),
            ValueError,
            r"dropout should be a number in range \[0, 1\]",
        ),
        (
            lambda: nn.LSTM(I, H, proj_size=H),
            ValueError,
            "proj_size has to be smaller than hidden_size",
        ),
        (lambda: nn.LSTM(I, H, proj_size=-1), ValueError, "proj_size should be a positive integer"),
        (lambda: nn.GRU(I, 0), ValueError, "hidden_size and num_layers must be greater than 0"),
        (lambda: nn.RNNCell(I, H, nonlinearity="gelu"), ValueError, "unknown nonlinearity: gelu"),
    ],
)
def test_constructor_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_dropout_with_one_layer_warns_as_torch():
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        nn.GRU(I, H, dropout=0.5)


@pytest.mark.parametrize(
    ("layer", "x", "hx", "error", "match"),
    [
        (
            nn.GRU(I, H),
            (T, B, 2, I),
            None,
            ValueError,
            r"GRU\(4, 5\).*expected input to be 2D or 3D, got 4D",
        ),
        (nn.GRU(I, H), (T, B, 3), None, ValueError, "input_size. Expected 4, got 3"),
        (
            nn.RNN(I, H),
            (T, B, I),
            (2, B, H),
            ValueError,
            r"expected hidden size \(1, 3, 5\) for h_0",
        ),
        (
            nn.RNN(I, H),
            (T, I),
            (1, B, H),
            ValueError,
            "for unbatched 2-D input, h_0 should also be 2-D",
        ),
        (
            nn.LSTM(I, H),
            (T, B, I),
            (1, B, H),
            TypeError,
            r"hx must be a tuple \(h_0, c_0\) for LSTM",
        ),
        (nn.GRU(I, H), (T, B, I), "pair", TypeError, "hx must be one tensor h_0, got a tuple"),
        (nn.LSTMCell(I, H), (B, I), (B, H), TypeError, r"hx must be a tuple \(h, c\)"),
        (nn.GRUCell(I, H), (B, 2, I), None, ValueError, "expected input to be 1D or 2D, got 3D"),
        (nn.GRUCell(I, H), (B, 3), None, ValueError, "inconsistent input_size: got 3, expected 4"),
        (
            nn.GRUCell(I, H),
            (B, I),
            (B + 1, H),
            ValueError,
            "input batch size 3 doesn't match hidden0",
        ),
        (nn.RNNCell(I, H), (B, I), (B, H + 1), ValueError, "hidden0 has inconsistent hidden_size"),
    ],
)
def test_call_errors_name_the_layer(layer, x, hx, error, match):
    if isinstance(hx, tuple) and isinstance(hx[0], int):
        hx = jnp.ones(hx)
    elif isinstance(hx, str):  # "pair"
        hx = (jnp.ones((1, B, H)), jnp.ones((1, B, H)))
    with pytest.raises(error, match=match):
        layer.init(jax.random.key(0), jnp.ones(x), hx)
