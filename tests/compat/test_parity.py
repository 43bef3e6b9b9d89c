"""jaxnn.compat.parity: reports on matching and deliberately broken twins."""

from __future__ import annotations

import copy
import functools
import importlib.util
from pathlib import Path

import jax
import numpy as np
import pytest
import torch

import jaxnn as nn
import jaxnn.functional as F
from jaxnn import models as jm
from jaxnn.compat import torch_models as tm
from jaxnn.compat import torch_to_flax
from jaxnn.compat.parity import OUTPUT, ParityReport, compare


@functools.cache
def twins(name: str, *args):
    """(jaxnn model, variables from the torch twin's init, torch twin, input)."""
    torch.manual_seed(0)
    torch_model = getattr(tm, name)(*args).eval()
    jax_model = getattr(jm, name)(*args)
    shape = {"LeNet": (2, 3, 32, 32), "ResidualBlock": (4, 4, 8, 8), "ResNetCIFAR": (2, 3, 32, 32)}[
        name
    ]
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    template = jax.eval_shape(jax_model.init, jax.random.key(0), x)
    return jax_model, torch_to_flax(torch_model.state_dict(), template), torch_model, x


@pytest.fixture(scope="module", autouse=True)
def _free_models_after_this_module():
    yield
    twins.cache_clear()


def perturbed(torch_model: torch.nn.Module, name: str, delta: float) -> torch.nn.Module:
    broken = copy.deepcopy(torch_model)
    with torch.no_grad():
        broken.get_parameter(name).add_(delta)
    return broken


def test_matching_twins_report_ok() -> None:
    jax_model, variables, torch_model, x = twins("LeNet")
    report = compare(jax_model, variables, torch_model, x)
    assert isinstance(report, ParityReport)
    assert report.ok and report.first_divergence is None
    # torch's execution order; the shared pool gets a row per call
    assert [r.label for r in report.rows] == [
        "conv1",
        "pool",
        "conv2",
        "pool [call 2]",
        "fc1",
        "fc2",
        "fc3",
    ]
    assert report.rows[1].shape == (2, 6, 14, 14) and report.rows[3].shape == (2, 16, 5, 5)
    assert report.output.shape == (2, 10)
    assert report.output_max_abs <= 1e-5 and report.output_max_rel <= 1e-4
    assert report.only_torch == [] and report.only_jax == []
    assert report.stats == []


def test_table_lists_every_layer_aligned() -> None:
    jax_model, variables, torch_model, x = twins("LeNet")
    text = str(compare(jax_model, variables, torch_model, x))
    lines = text.splitlines()
    assert lines[0].startswith("parity LeNet (eval mode)")
    assert "max abs err" in lines[1] and "max rel err" in lines[1]
    rows = [
        line
        for line in lines
        if line.split()
        and line.split()[0] in ("conv1", "pool", "conv2", "fc1", "fc2", "fc3", OUTPUT)
    ]
    assert len(rows) == 8
    assert len({line.rindex(" ok") for line in rows}) == 1  # status column aligned
    assert "(2, 6, 28, 28)" in text
    assert lines[-1] == "result: OK"


def test_perturbed_conv_is_named_as_first_divergence() -> None:
    jax_model, variables, torch_model, x = twins("LeNet")
    report = compare(jax_model, variables, perturbed(torch_model, "conv2.weight", 1e-2), x)
    assert not report.ok
    assert report.first_divergence == "conv2"
    status = {r.label: r.ok for r in report.rows}
    assert status["conv1"] and status["pool"] and not status["conv2"]
    assert not report.output.ok and report.output_max_abs > 1e-5
    assert str(report).endswith("result: FAIL, first divergence: conv2")


def test_first_divergence_deep_in_a_resnet() -> None:
    jax_model, variables, torch_model, x = twins("ResNetCIFAR", (1, 1, 1))
    broken = perturbed(torch_model, "layer2.0.conv2.weight", 1e-2)
    report = compare(jax_model, variables, broken, x)
    assert report.first_divergence == "layer2.0.conv2"
    labels = [r.label for r in report.rows]
    failing = labels.index("layer2.0.conv2")
    assert all(r.ok for r in report.rows[:failing])
    assert labels[:failing][-2:] == ["layer2.0.conv1", "layer2.0.bn1"]


def test_tolerances_are_arguments() -> None:
    jax_model, variables, torch_model, x = twins("LeNet")
    broken = perturbed(torch_model, "fc3.bias", 5e-6)
    assert compare(jax_model, variables, broken, x).ok  # within the default atol 1e-5
    # float32 rounding elsewhere stays below 1e-6; the 5e-6 shift does not
    strict = compare(jax_model, variables, broken, x, atol=2e-6, rtol=0.0)
    assert not strict.ok and strict.first_divergence == "fc3"
    assert strict.atol == 2e-6 and "atol=2e-06, rtol=0" in str(strict)


def test_train_mode_compares_running_stats() -> None:
    jax_model, variables, torch_model, x = twins("ResidualBlock", 4, 8, 2)
    before = {k: v.clone() for k, v in torch_model.state_dict().items()}
    report = compare(jax_model, variables, torch_model, x, train=True)
    assert report.ok, str(report)
    assert report.train and "train mode" in str(report)
    assert [s.path for s in report.stats] == [k for k, _ in torch_model.named_buffers()]
    assert all(s.max_abs == 0 for s in report.stats if s.path.endswith("num_batches_tracked"))
    assert "running statistics after the step:" in str(report)
    # the caller's torch model is untouched: same buffers, still in eval mode
    assert all(torch.equal(before[k], v) for k, v in torch_model.state_dict().items())
    assert not torch_model.training


def test_train_mode_catches_diverging_running_stats() -> None:
    """torch's momentum 0.5 in one BatchNorm: the train-mode outputs (batch statistics)
    still agree, the running statistics after the step do not."""
    jax_model, variables, torch_model, x = twins("ResidualBlock", 4, 8, 2)
    other = copy.deepcopy(torch_model)
    other.bn2.momentum = 0.5
    report = compare(jax_model, variables, other, x, train=True)
    assert all(r.ok for r in report.rows) and report.output.ok
    assert not report.ok
    assert report.first_divergence == "bn2.running_mean"


def test_load_weights_loads_into_a_copy() -> None:
    jax_model, variables, _, x = twins("LeNet")
    fresh = tm.LeNet()
    weight = fresh.conv1.weight.detach().clone()
    assert compare(jax_model, variables, fresh, x, load_weights=True).ok
    assert torch.equal(fresh.conv1.weight, weight)
    assert not compare(jax_model, variables, fresh, x).ok


class _LinearWithFunctionalRelu(torch.nn.Module):
    """torch side: child "0" a Linear, the ReLU a function call."""

    def __init__(self) -> None:
        super().__init__()
        self.add_module("0", torch.nn.Linear(4, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.get_submodule("0")(x))


def test_modules_on_one_side_only_are_listed_not_compared() -> None:
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    jax_model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())  # ReLU a module here ...
    torch_model = _LinearWithFunctionalRelu()  # ... a function there
    variables = torch_to_flax(
        torch_model.state_dict(), jax.eval_shape(jax_model.init, jax.random.key(0), x)
    )
    report = compare(jax_model, variables, torch_model, x)
    assert report.ok and [r.path for r in report.rows] == ["0"]
    assert report.only_jax == ["1"] and report.only_torch == []
    assert "only in jaxnn (not compared): 1" in str(report)

    torch_seq = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU())
    torch_seq.load_state_dict(torch_model.state_dict())
    report = compare(nn.Sequential(nn.Linear(4, 4), F.relu), variables, torch_seq, x)
    assert report.ok and report.only_torch == ["1"] and report.only_jax == []


def test_train_mode_with_dropout_is_refused() -> None:
    x = np.ones((2, 4), np.float32)
    jax_model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    torch_model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.5))
    variables = torch_to_flax(
        torch_model.state_dict(), jax.eval_shape(jax_model.init, jax.random.key(0), x)
    )
    with pytest.raises(ValueError, match=r"Dropout at '1' \(p=0\.5\).*p=0"):
        compare(jax_model, variables, torch_model, x, train=True)
    assert compare(jax_model, variables, torch_model, x).ok  # eval mode: dropout is off
    torch_model[1].p = 0.0
    assert compare(
        nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.0)), variables, torch_model, x, train=True
    ).ok


def test_bad_tolerances_are_refused() -> None:
    jax_model, variables, torch_model, x = twins("LeNet")
    with pytest.raises(ValueError, match=r"atol and rtol must be >= 0, got atol=-1"):
        compare(jax_model, variables, torch_model, x, atol=-1.0)


def test_parity_report_example_finds_the_perturbed_layer(capsys) -> None:
    path = Path(__file__).resolve().parents[2] / "examples" / "parity_report.py"
    spec = importlib.util.spec_from_file_location("example_parity_report", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    assert example.main(["--perturb", "fc1.weight", "--delta", "1e-3"]) == 0
    out = capsys.readouterr().out
    assert "result: OK" in out
    assert "result: FAIL, first divergence: fc1" in out
