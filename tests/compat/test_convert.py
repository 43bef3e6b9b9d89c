"""torch_to_flax / flax_to_torch: rule table, strict errors, bit-exact round trips."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxnn as nn
from jaxnn.compat import StateDictMismatchError, flax_to_torch, torch_to_flax


def _torch_net():
    t = torch.nn
    net = t.Module()
    net.conv1 = t.Conv2d(3, 4, (3, 2), groups=1)
    net.bn1 = t.BatchNorm2d(4)
    net.model1 = t.Sequential(
        t.Linear(5, 6), t.ReLU(), t.Linear(6, 2, bias=False), t.BatchNorm1d(2)
    )
    return net


class _Net(nn.Module):
    def setup(self):
        self.conv1 = nn.Conv2d(3, 4, (3, 2))
        self.bn1 = nn.BatchNorm2d(4)
        self.model1 = nn.Sequential(
            nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 2, bias=False), nn.BatchNorm1d(2)
        )

    def __call__(self, img, feats):
        return self.bn1(self.conv1(img)), self.model1(feats)


@pytest.fixture(scope="module")
def template():
    return _Net().init(jax.random.key(0), jnp.ones((1, 3, 6, 6)), jnp.ones((2, 5)))


def test_keys_and_layouts(template):
    sd = flax_to_torch(template)
    ref = _torch_net().state_dict()
    assert set(sd) == set(ref)
    for k in ref:
        assert sd[k].shape == ref[k].shape and sd[k].dtype == ref[k].dtype, k
    p = template["params"]
    np.testing.assert_array_equal(
        sd["conv1.weight"].numpy(), np.transpose(p["conv1"]["kernel"], (3, 2, 0, 1))
    )
    np.testing.assert_array_equal(
        sd["model1.0.weight"].numpy(), np.asarray(p["model1"]["0"]["kernel"]).T
    )
    np.testing.assert_array_equal(sd["bn1.weight"].numpy(), p["bn1"]["scale"])


def test_torch_round_trip_is_bit_exact_and_does_not_mutate(template):
    net = _torch_net()
    with torch.no_grad():
        net.bn1.running_mean.normal_()
        net.bn1.num_batches_tracked.fill_(12)
    sd = net.state_dict()
    snapshot = {k: v.clone() for k, v in sd.items()}
    back = flax_to_torch(torch_to_flax(sd, template))
    assert list(sd) == list(snapshot)
    for k in sd:
        assert torch.equal(sd[k], snapshot[k])  # input untouched
        assert back[k].dtype == sd[k].dtype and torch.equal(back[k], sd[k]), k


def test_abstract_template(template):
    abstract = jax.eval_shape(lambda: template)
    out = torch_to_flax(_torch_net().state_dict(), abstract)
    assert jax.tree_util.tree_structure(out) == jax.tree_util.tree_structure(template)


def test_mismatch_lists_every_key_with_both_shapes(template):
    sd = dict(_torch_net().state_dict())
    del sd["bn1.running_var"]
    sd["model1.0.weight"] = torch.zeros(6, 7)
    sd["head.weight"] = torch.zeros(1)
    with pytest.raises(StateDictMismatchError) as info:
        torch_to_flax(sd, template)
    e = info.value
    assert e.missing == ["bn1.running_var"] and e.unexpected == ["head.weight"]
    assert e.mismatched == [("model1.0.weight", (6, 7), (6, 5))]
    msg = str(e)
    assert "missing keys (1): bn1.running_var" in msg and "unexpected keys (1): head.weight" in msg
    assert (
        "size mismatch for model1.0.weight: checkpoint has shape (6, 7), the model expects (6, 5)"
        in msg
    )


def test_non_strict_keeps_template_values(template):
    sd = dict(_torch_net().state_dict())
    del sd["conv1.bias"]
    sd["extra"] = torch.zeros(1)
    out = torch_to_flax(sd, template, strict=False)
    np.testing.assert_array_equal(
        out["params"]["conv1"]["bias"], template["params"]["conv1"]["bias"]
    )
    sd["conv1.weight"] = torch.zeros(1)
    with pytest.raises(StateDictMismatchError, match=r"size mismatch for conv1\.weight"):
        torch_to_flax(sd, template, strict=False)


def test_bfloat16_and_float16_kept():
    v = {
        "params": {
            "fc": {"kernel": jnp.ones((2, 3), jnp.bfloat16), "bias": jnp.ones(3, jnp.float16)}
        }
    }
    sd = flax_to_torch(v)
    assert sd["fc.weight"].dtype == torch.bfloat16 and sd["fc.bias"].dtype == torch.float16
    back = torch_to_flax(sd, v)
    assert back["params"]["fc"]["kernel"].dtype == jnp.bfloat16
    np.testing.assert_array_equal(back["params"]["fc"]["kernel"], v["params"]["fc"]["kernel"])


def test_unknown_collection_is_refused():
    with pytest.raises(
        ValueError, match=r"collections \['intermediates'\] that have no torch counterpart"
    ):
        flax_to_torch({"params": {}, "intermediates": {}})


_names = st.text("abcdefgh_", min_size=1, max_size=6)
_leaf_shapes = {
    "kernel": st.sampled_from([(3, 4), (2, 2, 3, 5), (1, 3, 2, 2), (4, 3, 2)]),
    "bias": st.sampled_from([(4,), (1,)]),
    "scale": st.sampled_from([(2,), (5,)]),
}


@st.composite
def variable_trees(draw):
    paths = draw(
        st.lists(
            st.lists(_names, min_size=1, max_size=3).map(tuple), min_size=1, max_size=5, unique=True
        )
    )
    params, stats = {}, {}
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    for path in paths:
        if any(p[: len(path)] == path or path[: len(p)] == p for p in paths if p != path):
            continue  # a module path may not also be another module's leaf folder
        kind = draw(st.sampled_from(["conv", "linear", "bn"]))
        node = params
        for k in path:
            node = node.setdefault(k, {})
        if kind == "bn":
            c = draw(st.integers(1, 4))
            node.update(
                scale=rng.standard_normal(c).astype(np.float32),
                bias=rng.standard_normal(c).astype(np.float32),
            )
            snode = stats
            for k in path:
                snode = snode.setdefault(k, {})
            snode.update(
                mean=rng.standard_normal(c).astype(np.float32),
                var=rng.uniform(0.1, 2, c).astype(np.float32),
                num_batches_tracked=np.asarray(draw(st.integers(0, 1000)), np.int32),
            )
        else:
            shape = (
                draw(_leaf_shapes["kernel"])
                if kind == "conv"
                else draw(st.sampled_from([(3, 4), (7, 1)]))
            )
            node["kernel"] = rng.standard_normal(shape).astype(np.float32)
            if draw(st.booleans()):
                node["bias"] = rng.standard_normal(shape[-1]).astype(np.float32)
    return {"params": params, "batch_stats": stats} if stats else {"params": params}


@settings(max_examples=60, deadline=None)
@given(variable_trees())
def test_round_trip_property(variables):
    sd = flax_to_torch(variables)
    back = torch_to_flax(sd, variables)
    flat_a = jax.tree_util.tree_leaves_with_path(variables)
    flat_b = jax.tree_util.tree_leaves_with_path(back)
    assert [p for p, _ in flat_a] == [p for p, _ in flat_b]
    for (_, a), (_, b) in zip(flat_a, flat_b):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    again = flax_to_torch(back)
    assert list(again) == list(sd) and all(torch.equal(again[k], sd[k]) for k in sd)
