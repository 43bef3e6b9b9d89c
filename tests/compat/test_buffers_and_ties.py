"""Persistent buffers and tied weights against real torch modules: state_dict keys,
conversion both ways, training (buffers never trained or decayed, a tied weight learning
from both of its uses) and the CLI."""

from __future__ import annotations

import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from conftest import assert_close, to_numpy

import jaxnn as nn
from jaxnn import introspect, optim
from jaxnn.compat import StateDictMismatchError, flax_to_torch, torch_to_flax
from jaxnn.compat.cli import main
from jaxnn.train import TrainState, init_metrics, make_train_step

ATOL = 1e-5

MODEL_SOURCE = '''
import numpy as np
import torch
from flax import linen
from torch import nn as tnn

import jaxnn as nn
from jaxnn import init


class TiedDecoder(nn.Module):
    """x W^T + b with W borrowed from another layer (the tied weight)."""

    features: int

    @linen.compact
    def __call__(self, x, kernel):
        bias = self.param("bias", init.zeros_(), (self.features,))
        return x @ kernel + bias[None]


class TiedNet(nn.Module):
    """enc -> scale/offset buffers -> relu -> dec, with dec.weight tied to enc.weight."""

    def setup(self):
        self.enc = nn.Linear(4, 4)
        self.dec = TiedDecoder(4)
        self.register_buffer("scale", np.linspace(0.5, 2.0, 4, dtype=np.float32))
        self.register_buffer("offset", np.full(4, 0.25, np.float32), persistent=False)
        self.tie_weights("dec.weight", "enc.weight")

    def __call__(self, x):
        h = nn.functional.relu(self.enc(x) * self.scale[None] + self.offset[None])
        return self.dec(h, self.enc.variables["params"]["kernel"])

    def example_input(self, batch_size=1):
        import jax, jax.numpy as jnp

        return jax.ShapeDtypeStruct((batch_size, 4), jnp.float32)


class TorchTiedNet(tnn.Module):
    def __init__(self):
        super().__init__()
        self.enc = tnn.Linear(4, 4)
        self.dec = tnn.Linear(4, 4)
        self.dec.weight = self.enc.weight
        self.register_buffer("scale", torch.linspace(0.5, 2.0, 4))
        self.register_buffer("offset", torch.full((4,), 0.25), persistent=False)

    def forward(self, x):
        return self.dec(torch.relu(self.enc(x) * self.scale + self.offset))
'''


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The jaxnn model, importable as jaxnn_tied_models:TiedNet for the CLI."""
    where = tmp_path_factory.mktemp("tied")
    (where / "jaxnn_tied_models.py").write_text(textwrap.dedent(MODEL_SOURCE))
    sys.path.insert(0, str(where))
    import jaxnn_tied_models

    yield jaxnn_tied_models
    sys.path.remove(str(where))
    sys.modules.pop("jaxnn_tied_models", None)


@pytest.fixture
def twin(models):
    torch.manual_seed(0)
    return models.TorchTiedNet()


def _x(n: int = 6) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((n, 4)).astype(np.float32)


def _init(models):
    model = models.TiedNet()
    return model, model.init(jax.random.key(0), jnp.ones((1, 4)))


def test_keys_layout_and_the_one_tensor(models, twin):
    model, v = _init(models)
    assert set(v["buffers"]) == {"scale"}  # offset is not persistent: a constant
    assert "weight" not in v["params"]["dec"]  # one leaf for the tied weight
    sd = flax_to_torch(v)
    assert set(sd) == set(twin.state_dict())
    assert sd["dec.weight"] is sd["enc.weight"]  # one tensor under both keys, as in torch
    twin.load_state_dict(sd, strict=True)
    assert_close(model.apply(v, _x()), to_numpy(twin(torch.from_numpy(_x()))), ATOL)
    assert set(introspect.named_buffers(v)) == {"scale"}
    assert set(introspect.named_parameters(v)) == {k for k, _ in twin.named_parameters()}
    # torch's order: a module's own tensors before its children's (here registered
    # alphabetically, which is the order jaxnn can know)
    assert list(introspect.state_dict(v)) == [
        "scale",
        "dec.weight",
        "dec.bias",
        "enc.weight",
        "enc.bias",
    ]


def test_torch_to_flax_reads_the_tie_from_either_key(models, twin):
    model, template = _init(models)
    with torch.no_grad():
        twin.scale.mul_(3.0)
    full = twin.state_dict()
    want = to_numpy(twin(torch.from_numpy(_x())))
    v = torch_to_flax(full, template)
    assert_close(model.apply(v, _x()), want, ATOL, what="both keys")
    np.testing.assert_array_equal(v["buffers"]["scale"], to_numpy(twin.scale))
    for dropped in ("dec.weight", "enc.weight"):  # a file that stored the shared tensor once
        partial = {k: t for k, t in full.items() if k != dropped}
        v = torch_to_flax(partial, template)
        assert_close(model.apply(v, _x()), want, ATOL, what=f"without {dropped}")


def test_tied_keys_that_differ_are_named(models, twin):
    _, template = _init(models)
    sd = {k: t.clone() for k, t in twin.state_dict().items()}
    sd["dec.weight"][0, 0] += 1.0
    with pytest.raises(StateDictMismatchError) as info:
        torch_to_flax(sd, template)
    assert info.value.untied == [("dec.weight", "enc.weight")]
    assert "tied keys differ: dec.weight and enc.weight are one weight in the model" in str(
        info.value
    )
    sd["dec.weight"] = torch.zeros(4, 5)
    with pytest.raises(StateDictMismatchError, match=r"size mismatch for dec\.weight"):
        torch_to_flax(sd, template)


@pytest.mark.parametrize(
    ("optimizer", "torch_optimizer"),
    [
        (
            optim.SGD(0.1, momentum=0.9, weight_decay=0.05),
            lambda p: torch.optim.SGD(p, 0.1, momentum=0.9, weight_decay=0.05),
        ),
        (optim.AdamW(0.01), lambda p: torch.optim.AdamW(p, 0.01)),
    ],
    ids=["sgd-l2", "adamw"],
)
def test_training_follows_torch_and_leaves_buffers_alone(models, twin, optimizer, torch_optimizer):
    model, v = _init(models)
    v = torch_to_flax(twin.state_dict(), v)
    state = TrainState.create(model, optimizer, jnp.ones((1, 4)), variables=v)
    assert "scale" not in jax.tree_util.tree_leaves(state.params) and set(state.constants) == {
        "buffers",
        "tied",
    }

    def loss_fn(out, y):
        return jnp.mean((out - y) ** 2)

    step = make_train_step(model, loss_fn, optimizer, task="regression")
    tx = torch_optimizer(twin.parameters())
    x, y = _x(), np.random.default_rng(1).standard_normal((6, 4)).astype(np.float32)
    metrics = init_metrics()
    scale_before = np.asarray(state.constants["buffers"]["scale"]).copy()
    for _ in range(5):
        state, metrics = step(state, metrics, (x, y))
        tx.zero_grad()
        torch.nn.functional.mse_loss(twin(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        tx.step()
    np.testing.assert_array_equal(state.constants["buffers"]["scale"], scale_before)
    back = flax_to_torch(jax.device_get(state.variables))
    for key, value in twin.state_dict().items():
        assert_close(back[key].numpy(), to_numpy(value), 1e-5, 1e-4, what=key)


def test_declaration_errors():
    class BadTie(nn.Module):
        def setup(self):
            self.fc = nn.Linear(2, 2)
            self.tie_weights("head.weight", "nowhere.weight")

        def __call__(self, x):
            return self.fc(x)

    v = BadTie().init(jax.random.key(0), jnp.ones((1, 2)))
    with pytest.raises(ValueError, match=r"the tie head\.weight -> nowhere\.weight names a key"):
        flax_to_torch(v)

    class SelfTie(nn.Module):
        def setup(self):
            self.tie_weights("a.weight", "a.weight")

        def __call__(self, x):
            return x

    with pytest.raises(ValueError, match=r"a key cannot be tied to itself \('a\.weight'\)"):
        SelfTie().init(jax.random.key(0), jnp.ones(1))

    class DottedBuffer(nn.Module):
        def setup(self):
            self.register_buffer("a.b", np.ones(2))

        def __call__(self, x):
            return x

    with pytest.raises(KeyError, match=r"can neither be empty nor contain '\.', got 'a\.b'"):
        DottedBuffer().init(jax.random.key(0), jnp.ones(1))


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_cli_round_trip_of_a_tied_model(models, twin, tmp_path, suffix, capsys):
    torch.save(twin.state_dict(), tmp_path / "src.pth")  # torch stores the shared tensor once
    spec = ["--model", "jaxnn_tied_models:TiedNet"]
    assert main(["convert", str(tmp_path / "src.pth"), str(tmp_path / "ck"), *spec]) == 0
    assert main(["convert", str(tmp_path / "ck"), str(tmp_path / f"back{suffix}")]) == 0
    if suffix == ".pth":
        back = torch.load(tmp_path / "back.pth", weights_only=True)
    else:
        from safetensors.torch import load_file

        back = load_file(tmp_path / "back.safetensors")
    assert set(back) == set(twin.state_dict())
    for key, value in twin.state_dict().items():
        assert torch.equal(back[key], value), key
    assert (
        main(
            [
                "verify",
                str(tmp_path / "ck"),
                *spec,
                "--torch-model",
                "jaxnn_tied_models:TorchTiedNet",
            ]
        )
        == 0
    )
    assert "max abs" in capsys.readouterr().out
    assert main(["inspect", str(tmp_path / "ck")]) == 0
    listing = capsys.readouterr().out
    assert "(tied to enc.weight)  dec.weight" in listing and "buffers/scale" in listing


def test_cli_refuses_tied_keys_that_differ(models, twin, tmp_path, capsys):
    sd = {k: t.clone() for k, t in twin.state_dict().items()}
    sd["dec.weight"] += 1.0
    torch.save(sd, tmp_path / "bad.pth")
    argv = [
        "convert",
        str(tmp_path / "bad.pth"),
        str(tmp_path / "ck"),
        "--model",
        "jaxnn_tied_models:TiedNet",
    ]
    assert main(argv) == 2
    assert "tied keys differ: dec.weight and enc.weight" in capsys.readouterr().err
    assert not (tmp_path / "ck").exists()
