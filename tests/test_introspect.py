"""jaxnn.introspect against torch's own introspection of the twin models."""

from __future__ import annotations

import functools

import jax
import numpy as np
import pytest
import torch

from jaxnn import introspect
from jaxnn import models as jm
from jaxnn.compat import StateDictMismatchError, flax_to_torch, torch_to_flax
from jaxnn.compat import torch_models as tm

SHAPES = {
    "LeNet": ((), (2, 3, 32, 32)),
    "ResidualBlock": ((4, 8, 2), (2, 4, 8, 8)),
    "CIFAR10Net": ((), (2, 3, 32, 32)),
    "NeuralNetwork": ((), (2, 28, 28)),
    "ResNet18": ((), (1, 3, 64, 64)),
}


@functools.cache
def twins(name: str):
    """(jaxnn model, variables = the torch twin's init, torch twin, input)."""
    args, shape = SHAPES[name]
    torch.manual_seed(0)
    torch_model = getattr(tm, name)(*args).eval()
    jax_model = getattr(jm, name)(*args)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    template = jax.eval_shape(jax_model.init, jax.random.key(0), x)
    return jax_model, torch_to_flax(torch_model.state_dict(), template), torch_model, x


@pytest.fixture(scope="module", autouse=True)
def _free_models_after_this_module():
    yield
    twins.cache_clear()


def torch_hook_outputs(torch_model: torch.nn.Module, x: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(module path, output) for every submodule call, as forward hooks see them."""
    seen = []
    handles = [
        m.register_forward_hook(lambda m, a, out, name=name: seen.append((name, out.clone())))
        for name, m in torch_model.named_modules()
        if name
    ]
    with torch.no_grad():
        torch_model(torch.from_numpy(x))
    for h in handles:
        h.remove()
    return [(name, out.numpy()) for name, out in seen]


@pytest.mark.parametrize("name", list(SHAPES))
def test_named_parameters_and_buffers_equal_torch(name: str) -> None:
    _, variables, torch_model, _ = twins(name)
    params = introspect.named_parameters(variables)
    theirs = dict(torch_model.named_parameters())
    assert params.keys() == theirs.keys()
    for key, value in params.items():
        np.testing.assert_array_equal(value, theirs[key].detach().numpy(), err_msg=key)
    buffers = introspect.named_buffers(variables)
    theirs = dict(torch_model.named_buffers())
    assert buffers.keys() == theirs.keys()
    for key, value in buffers.items():
        assert value.dtype == theirs[key].numpy().dtype, key  # int64 counters included
        np.testing.assert_array_equal(value, theirs[key].numpy(), err_msg=key)
    assert introspect.count_parameters(variables) == sum(
        p.numel() for p in torch_model.parameters()
    )


def test_abstract_variables_give_torch_shapes() -> None:
    model = jm.ResNet18()
    abstract = jax.eval_shape(model.init, jax.random.key(0), np.zeros((1, 3, 64, 64), np.float32))
    shapes = {k: v.shape for k, v in introspect.named_parameters(abstract).items()}
    assert shapes == {k: tuple(p.shape) for k, p in tm.ResNet18().named_parameters()}
    assert introspect.named_buffers(abstract)["bn1.num_batches_tracked"].dtype == np.int64
    assert introspect.count_parameters(abstract) == 11_689_512  # torchvision's resnet18


def test_state_dict_round_trip_through_torch() -> None:
    _, variables, torch_model, _ = twins("ResidualBlock")
    sd = introspect.state_dict(variables)
    assert sorted(sd) == sorted(torch_model.state_dict())
    assert sd.keys() == flax_to_torch(variables).keys()
    other = tm.ResidualBlock(4, 8, 2)
    other.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=True)
    back = introspect.load_state_dict(variables, other.state_dict())
    jax.tree_util.tree_map(np.testing.assert_array_equal, back, variables)
    sd["conv1.weight"] += 1  # an owned copy: the variables do not change
    assert not np.array_equal(sd["conv1.weight"], introspect.state_dict(variables)["conv1.weight"])


def test_load_state_dict_lists_what_does_not_fit() -> None:
    _, variables, torch_model, _ = twins("ResidualBlock")
    sd = dict(torch_model.state_dict())
    del sd["bn1.running_mean"]
    sd["bn9.weight"] = torch.ones(3)
    with pytest.raises(StateDictMismatchError, match=r"missing keys \(1\): bn1\.running_mean"):
        introspect.load_state_dict(variables, sd)
    partial = introspect.load_state_dict(
        variables, {"conv1.weight": torch.zeros(8, 4, 3, 3)}, strict=False
    )
    assert not np.any(partial["params"]["conv1"]["kernel"])


@pytest.mark.parametrize("name", ["LeNet", "ResNet18"])
def test_summary_has_a_row_per_call_with_torchs_shapes(name: str) -> None:
    jax_model, variables, torch_model, x = twins(name)
    summary = introspect.summary(jax_model, variables, x)
    root, *rows = summary.rows
    assert root.path == "" and root.type == name
    hooks = torch_hook_outputs(torch_model, x)
    # torch's hooks fire when a module returns, the summary lists calls as they start
    assert sorted((r.path, r.output_shape) for r in rows) == sorted(
        (path, out.shape) for path, out in hooks
    )
    torch_modules = dict(torch_model.named_modules())
    for row in rows:
        if row.num_params is not None:
            assert row.num_params == sum(p.numel() for p in torch_modules[row.path].parameters()), (
                row.path
            )
    assert summary.total_params == sum(p.numel() for p in torch_model.parameters())
    text = str(summary)
    assert all(r.path in text for r in rows)
    assert f"Total params: {summary.total_params:,}" in text


def test_summary_of_lenet_reads_like_torchinfo() -> None:
    jax_model, variables, _, x = twins("LeNet")
    lines = str(introspect.summary(jax_model, variables, x)).splitlines()
    assert lines[1].split() == ["Layer", "(type)", "Output", "Shape", "Param", "#"]
    conv1 = next(line for line in lines if line.startswith("conv1"))
    assert conv1.split() == ["conv1", "(Conv2d)", "(2,", "6,", "28,", "28)", "456"]
    assert "Total params: 62,006" in lines


@pytest.mark.parametrize(
    "name, names",
    [
        ("LeNet", ["conv1", "fc2"]),
        ("ResNet18", ["conv1", "layer2.0.downsample", "layer4.1.bn2"]),
    ],
)
def test_intermediates_equal_torch_forward_hooks(name: str, names: list[str]) -> None:
    jax_model, variables, torch_model, x = twins(name)
    got = introspect.intermediates(jax_model, variables, x, names=names)
    assert list(got) == names
    hooks = dict(torch_hook_outputs(torch_model, x))
    for n in names:
        np.testing.assert_allclose(got[n], hooks[n], rtol=1e-4, atol=1e-5, err_msg=n)


def test_intermediates_of_a_shared_module_is_its_last_call() -> None:
    jax_model, variables, torch_model, x = twins("LeNet")
    got = introspect.intermediates(jax_model, variables, x, names=["pool"])["pool"]
    last_pool = [out for name, out in torch_hook_outputs(torch_model, x) if name == "pool"][-1]
    assert got.shape == last_pool.shape == (2, 16, 5, 5)  # the second of LeNet's two calls
    np.testing.assert_allclose(got, last_pool, rtol=1e-4, atol=1e-5)


def test_intermediates_bad_names() -> None:
    jax_model, variables, _, x = twins("LeNet")
    with pytest.raises(
        ValueError,
        match=r"no module 'conv9' is called by LeNet; its modules "
        r"are: conv1, pool, conv2, fc1, fc2, fc3",
    ):
        introspect.intermediates(jax_model, variables, x, names=["conv1", "conv9"])
    with pytest.raises(TypeError, match=r"names must be a list .* names=\['conv1'\]"):
        introspect.intermediates(jax_model, variables, x, names="conv1")


def test_named_modules_in_call_order() -> None:
    jax_model, variables, torch_model, x = twins("ResidualBlock")
    modules = introspect.named_modules(jax_model, variables, x)
    assert list(modules) == [
        "",
        "conv1",
        "bn1",
        "conv2",
        "bn2",
        "shortcut",
        "shortcut.0",
        "shortcut.1",
    ]
    assert list(modules) == [name for name, _ in torch_model.named_modules()]
    assert type(modules["shortcut.1"]).__name__ == "BatchNorm2d"
