"""Sequential, ModuleList, ModuleDict, Flatten, Unflatten and the nn.Module forward alias."""

from collections import OrderedDict

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from conftest import assert_close, load_torch, to_numpy

import jaxnn as nn
import jaxnn.functional as F

ATOL = 1e-5


def _stack():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(8 * 4 * 4, 10),
        nn.LogSoftmax(dim=1),
    )


def _torch_stack():
    t = torch.nn
    return t.Sequential(
        t.Conv2d(3, 8, 3, padding=1),
        t.BatchNorm2d(8),
        t.ReLU(),
        t.MaxPool2d(2),
        t.Flatten(),
        t.Linear(8 * 4 * 4, 10),
        t.LogSoftmax(dim=1),
    )


def test_sequential_names_children_like_torch_and_matches(rng):
    model = _stack()
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    v = model.init(jax.random.key(0), x)
    assert set(v["params"]) == {"0", "1", "5"} and set(v["batch_stats"]) == {"1"}
    ref = load_torch(_torch_stack(), v).eval()  # strict load: every key matched
    assert_close(model.apply(v, x), to_numpy(ref(torch.from_numpy(x))), ATOL)
    ref.train()
    y, _ = model.apply(v, x, mutable=["batch_stats"])
    assert_close(y, to_numpy(ref(torch.from_numpy(x))), ATOL)
    assert repr(model) == repr(_torch_stack())


def test_nested_sequential_inside_a_module(rng):
    class Net(nn.Module):
        def setup(self):
            self.model1 = nn.Sequential(nn.Linear(4, 5), nn.Sequential(nn.ReLU(), nn.Linear(5, 2)))

        def forward(self, x):  # torch's name for the call method
            return self.model1(x)

    x = rng.standard_normal((3, 4)).astype(np.float32)
    v = Net().init(jax.random.key(0), x)
    assert jax.tree_util.tree_map(jnp.shape, v["params"]) == {
        "model1": {
            "0": {"kernel": (4, 5), "bias": (5,)},
            "1": {"1": {"kernel": (5, 2), "bias": (2,)}},
        }
    }
    ref = torch.nn.Module()
    ref.model1 = torch.nn.Sequential(
        torch.nn.Linear(4, 5), torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(5, 2))
    )
    load_torch(ref, v)
    assert_close(Net().apply(v, x), to_numpy(ref.model1(torch.from_numpy(x))), ATOL)


def test_indexing_append_insert_replace():
    seq = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    assert len(seq) == 3 and isinstance(seq[1], nn.ReLU) and len(seq[:2]) == 2
    head = seq.replace(2, nn.Linear(8, 10))
    assert head[2].out_features == 10 and seq[2].out_features == 3  # seq is unchanged
    longer = seq.append(nn.Linear(3, 2))
    v = longer.init(jax.random.key(0), jnp.ones((1, 4)))
    assert set(v["params"]) == {"0", "2", "3"}
    assert longer.apply(v, jnp.ones((1, 4))).shape == (1, 2)
    inserted = seq.insert(1, nn.Dropout(0.1))
    assert [type(m).__name__ for m in inserted] == ["Linear", "Dropout", "ReLU", "Linear"]


def test_plain_functions_as_children(rng):
    seq = nn.Sequential(nn.Linear(4, 4), F.relu, nn.Linear(4, 2))
    x = rng.standard_normal((2, 4)).astype(np.float32)
    v = seq.init(jax.random.key(0), x)
    assert set(v["params"]) == {"0", "2"}
    with pytest.raises(TypeError, match="layer 1 is not callable"):
        nn.Sequential(nn.Linear(1, 1), 3)


@pytest.mark.parametrize(("start", "end"), [(1, -1), (0, -1), (1, 2), (2, 3), (-3, -2)])
def test_flatten_matches_torch_order(start, end, rng):
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    expected = to_numpy(torch.nn.Flatten(start, end)(torch.from_numpy(x)))
    np.testing.assert_array_equal(nn.Flatten(start, end).apply({}, x), expected)


@pytest.mark.parametrize(("dim", "sizes"), [(1, (3, 4)), (-1, (2, -1)), (0, (1, 2))])
def test_unflatten_matches_torch(dim, sizes, rng):
    x = rng.standard_normal((2, 12)).astype(np.float32)
    expected = to_numpy(torch.nn.Unflatten(dim, sizes)(torch.from_numpy(x)))
    np.testing.assert_array_equal(nn.Unflatten(dim, sizes).apply({}, x), expected)


def test_flatten_errors():
    with pytest.raises(IndexError, match="dim 5 is out of range"):
        nn.Flatten(5).apply({}, jnp.ones((2, 3)))
    with pytest.raises(
        ValueError, match=r"sizes \(5, 5\) \(product 25\) do not match dim 1 of size 12"
    ):
        nn.Unflatten(1, (5, 5)).apply({}, jnp.ones((2, 12)))


# --- named containers: ModuleList, ModuleDict, Sequential(OrderedDict), lists in setup ---


class _Block(nn.Module):
    def setup(self):
        self.fc = nn.Linear(4, 4)
        self.ln = nn.BatchNorm1d(4)

    def __call__(self, x):
        return F.relu(self.ln(self.fc(x)))


class _TorchBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 4)
        self.ln = torch.nn.BatchNorm1d(4)

    def forward(self, x):
        return torch.relu(self.ln(self.fc(x)))


class _ContainersNet(nn.Module):
    """nanoGPT's shape: a dict holding a list, plus an OrderedDict Sequential head and
    layers added under names built at run time."""

    explicit: bool = False

    def setup(self):
        if self.explicit:  # the torch spellings
            self.transformer = nn.ModuleDict(
                {"wte": nn.Linear(3, 4), "h": nn.ModuleList([_Block() for _ in range(2)])}
            )
        else:  # plain Python containers, named as torch names its containers
            self.transformer = {"wte": nn.Linear(3, 4), "h": [_Block() for _ in range(2)]}
        self.head = nn.Sequential(OrderedDict(act=nn.ReLU(), proj=nn.Linear(4, 2)))
        for i in range(2):
            self.add_module(f"extra{i}", nn.Linear(2, 2))

    def __call__(self, x):
        x = self.transformer.wte(x)
        for block in self.transformer["h"]:
            x = block(x)
        x = self.transformer.h[-1](x)  # a module may be called twice, as in torch
        x = self.head(x)
        return self.extra1(self.extra0(x))


class _TorchContainersNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.transformer = torch.nn.ModuleDict(
            {
                "wte": torch.nn.Linear(3, 4),
                "h": torch.nn.ModuleList([_TorchBlock() for _ in range(2)]),
            }
        )
        self.head = torch.nn.Sequential(
            OrderedDict(act=torch.nn.ReLU(), proj=torch.nn.Linear(4, 2))
        )
        for i in range(2):
            self.add_module(f"extra{i}", torch.nn.Linear(2, 2))

    def forward(self, x):
        x = self.transformer.wte(x)
        for block in self.transformer["h"]:
            x = block(x)
        x = self.transformer.h[-1](x)
        x = self.head(x)
        return self.extra1(self.extra0(x))


@pytest.mark.parametrize("explicit", [False, True], ids=["python-containers", "torch-spelling"])
def test_named_containers_have_torch_keys_both_ways(explicit, rng):
    from jaxnn.compat import flax_to_torch, torch_to_flax

    model = _ContainersNet(explicit=explicit)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    v = model.init(jax.random.key(0), x)
    ref = _TorchContainersNet()
    assert set(flax_to_torch(v)) == set(ref.state_dict())
    assert "transformer.h.1.ln.running_mean" in flax_to_torch(v)

    # torch -> jaxnn: torch's own weights and randomised running statistics
    with torch.no_grad():
        for buf in ref.buffers():
            if buf.is_floating_point():
                buf.uniform_(0.5, 1.5)
    v = torch_to_flax(ref.state_dict(), v)
    ref.eval()
    assert_close(model.apply(v, x), to_numpy(ref(torch.from_numpy(x))), ATOL, what="eval")
    ref.train()
    y, updates = model.apply(v, x, mutable=["batch_stats"])
    assert_close(y, to_numpy(ref(torch.from_numpy(x))), ATOL, what="train")
    # jaxnn -> torch: the updated statistics land on torch's keys
    back = flax_to_torch({**v, **updates})
    for key, value in ref.state_dict().items():
        assert_close(back[key].numpy(), to_numpy(value), ATOL, what=key)


def test_module_list_and_dict_behave_like_python_containers():
    blocks = nn.ModuleList([nn.Linear(2, 2), nn.ReLU()])
    assert len(blocks) == 2 and isinstance(blocks[-1], nn.ReLU)
    assert [type(m).__name__ for m in blocks.append(nn.Tanh())] == ["Linear", "ReLU", "Tanh"]
    assert len(blocks.extend([nn.Tanh(), nn.Tanh()])) == 4 and len(blocks) == 2
    assert [type(m).__name__ for m in blocks.insert(0, nn.Tanh())][:2] == ["Tanh", "Linear"]
    assert len(blocks[1:]) == 1 and isinstance(blocks[1:], nn.ModuleList)
    d = nn.ModuleDict({"a": nn.Linear(2, 2), "b": nn.ReLU()})
    assert list(d) == ["a", "b"] == d.keys() and "a" in d and "c" not in d
    assert isinstance(d["b"], nn.ReLU) and isinstance(d.b, nn.ReLU)
    assert list(d.update({"c": nn.Tanh()})) == ["a", "b", "c"] and len(d) == 2
    named = nn.Sequential(OrderedDict(conv=nn.Linear(2, 2), act=nn.ReLU()))
    assert isinstance(named.act, nn.ReLU) and list(named[:1].names) == ["conv"]
    assert repr(named) == repr(
        torch.nn.Sequential(OrderedDict(conv=torch.nn.Linear(2, 2), act=torch.nn.ReLU()))
    )


def test_container_errors():
    with pytest.raises(KeyError, match=r"ModuleDict: two children are named 'a'"):
        nn.ModuleDict([("a", nn.ReLU()), ("a", nn.Tanh())])
    with pytest.raises(KeyError, match=r"can neither be empty nor contain '\.', got 'a\.b'"):
        nn.ModuleDict({"a.b": nn.ReLU()})
    with pytest.raises(KeyError, match=r"'keys' is an attribute of ModuleDict"):
        nn.ModuleDict({"keys": nn.ReLU()})
    with pytest.raises(TypeError, match=r"ModuleList: layer 1 is not a Module: 3"):
        nn.ModuleList([nn.ReLU(), 3])
    with pytest.raises(KeyError, match=r"ModuleDict has no child 'z'; it has \['a'\]"):
        nn.ModuleDict({"a": nn.ReLU()})["z"]
    with pytest.raises(IndexError, match=r"ModuleList: index 2 is out of range \(2\)"):
        nn.ModuleList([nn.ReLU(), nn.ReLU()])[2]
    with pytest.raises(TypeError, match="need numbered children"):
        nn.Sequential(OrderedDict(a=nn.ReLU())).append(nn.ReLU())
    with pytest.raises(TypeError, match="a name must be a string"):
        nn.ModuleDict({1: nn.ReLU()})
