"""Sequential, Flatten, Unflatten and the nn.Module forward alias."""

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
