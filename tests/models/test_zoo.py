"""jaxnn's model zoo against torchvision's own model code (imported through
jaxnn.compat.torchvision_models): every builder gives torchvision's state_dict keys and
shapes; one model per family computes torchvision's outputs with weights moved either
way, in eval mode and in train mode (BatchNorm statistics included).

Tolerance (float32): max abs error <= 1e-4 * max(1, max |torchvision output|) on outputs
and running statistics.
"""

from __future__ import annotations

import functools

import jax
import numpy as np
import pytest
import torch

from jaxnn import introspect
from jaxnn import models as jm
from jaxnn.compat import flax_to_torch, torch_to_flax
from jaxnn.compat import torchvision_models as tvm

RTOL = 1e-4

TV = tvm.models()
# torchvision's builders that jaxnn provides (the list and their siblings)
ZOO = sorted(set(jm.list_models()) & set(TV.list_models()))
REQUIRED = {
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
    "wide_resnet50_2", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn",
    "vgg19", "vgg19_bn", "alexnet", "squeezenet1_0", "squeezenet1_1", "densenet121",
    "shufflenet_v2_x1_0",
}  # fmt: skip
# one model per family, on small inputs: (builder, input size)
NUMERIC = {
    "resnet50": 64,
    "resnext50_32x4d": 64,
    "vgg11_bn": 64,
    "alexnet": 64,
    "squeezenet1_1": 64,
    "densenet121": 64,
    "shufflenet_v2_x0_5": 64,
}


def test_the_zoo_has_torchvisions_names():
    assert REQUIRED <= set(ZOO), REQUIRED - set(ZOO)
    for name in ZOO:
        with pytest.raises(ValueError, match="jaxnn does not download pretrained weights"):
            jm.get_model(name, weights="DEFAULT")


@pytest.mark.parametrize("name", ZOO)
def test_keys_and_shapes_equal_torchvisions(name):
    """Abstract variables (nothing allocated) against torchvision's meta-device model."""
    with torch.device("meta"):
        theirs = {
            k: tuple(t.shape) for k, t in tvm.get_model(name, num_classes=10).state_dict().items()
        }
    model = jm.get_model(name, num_classes=10)
    x = jax.ShapeDtypeStruct((1, 3, 64, 64), np.float32)
    ours = introspect.state_dict(jax.eval_shape(model.init, jax.random.key(0), x))
    assert {k: tuple(a.shape) for k, a in ours.items()} == theirs


def _randomize_norms(model: torch.nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.1)


@functools.cache
def _case(name: str):
    torch.manual_seed(0)
    theirs = tvm.get_model(name, num_classes=10).eval()
    _randomize_norms(theirs, 1)
    model = jm.get_model(name, num_classes=10)
    size = NUMERIC[name]
    x = np.random.default_rng(0).standard_normal((2, 3, size, size)).astype(np.float32)
    template = jax.eval_shape(model.init, jax.random.key(0), x)
    return model, theirs, x, template, jax.jit(model.apply)


@pytest.fixture(scope="module", autouse=True)
def _free_models():
    yield
    _case.cache_clear()


def _close(got, want, what):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, what
    err = np.max(np.abs(got - want))
    assert err <= RTOL * max(1.0, np.max(np.abs(want))), f"{what}: max abs error {err:.3g}"


def _random_like(template, seed: int):
    """Variables shaped like ``template``: N(0, 0.05) floats, positive variances."""
    rng = np.random.default_rng(seed)

    def draw(path, leaf):
        if np.issubdtype(leaf.dtype, np.integer):
            return np.zeros(leaf.shape, leaf.dtype)
        values = rng.standard_normal(leaf.shape).astype(leaf.dtype) * 0.05
        return np.abs(values) + 0.5 if path[-1].key in ("var", "scale") else values

    return jax.tree_util.tree_map_with_path(draw, template)


def _forward(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("name", list(NUMERIC))
def test_outputs_equal_torchvisions_both_ways(name):
    _, theirs, x, template, apply = _case(name)
    variables = torch_to_flax(theirs.state_dict(), template)
    _close(apply(variables, x), _forward(theirs, x), f"{name} torchvision weights")
    mine = _random_like(template, seed=1)  # weights that start on the jaxnn side
    with torch.device("meta"):
        twin = tvm.get_model(name, num_classes=10)
    twin.load_state_dict(flax_to_torch(mine), strict=True, assign=True)
    _close(apply(mine, x), _forward(twin.eval(), x), f"{name} jaxnn weights")


# dropout masks cannot match across frameworks: train mode is compared without it
NO_DROPOUT = {
    "alexnet": {"dropout": 0.0},
    "vgg11_bn": {"dropout": 0.0},
    "squeezenet1_1": {"dropout": 0.0},
}


@pytest.mark.parametrize("name", list(NUMERIC))
def test_train_mode_and_running_statistics_equal_torchvisions(name):
    _, theirs, x, template, _ = _case(name)
    kwargs = {"num_classes": 10, **NO_DROPOUT.get(name, {})}
    model = jm.get_model(name, **kwargs)
    variables = torch_to_flax(theirs.state_dict(), template)
    twin = tvm.get_model(name, **kwargs)
    twin.load_state_dict(theirs.state_dict())
    out, updates = jax.jit(functools.partial(model.apply, mutable=["batch_stats"]))(variables, x)
    _close(out, _forward(twin.train(), x), f"{name} train output")
    ours = introspect.named_buffers({**variables, **updates})
    theirs_buffers = dict(twin.named_buffers())
    assert set(ours) == set(theirs_buffers)
    for key, value in theirs_buffers.items():
        _close(ours[key], value.numpy(), f"{name} {key}")
