"""The example scripts, run end to end on the built-in data (short runs)."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def last_json(capsys):
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_train_digits_checkpoint_resume_and_convert(tmp_path, capsys):
    train = load("train")
    args = ["--epochs", "2", "--checkpoint-dir", str(tmp_path), "--no-progress"]
    assert train.main(args) == 0
    first = last_json(capsys)
    assert first["start_epoch"] == 0 and first["epochs"] == 2 and first["devices"] >= 1
    assert first["steps"] == 2 * (1437 // 32) and 0.5 < first["test_accuracy"] <= 1.0
    assert set(first) >= {"test_accuracy", "test_loss", "seconds"}

    # resume: the run continues from epoch 2 and ends where a 3-epoch run would
    assert train.main(["--epochs", "3", "--resume", *args[2:]]) == 0
    resumed = last_json(capsys)
    assert resumed["start_epoch"] == 2 and resumed["steps"] == 3 * (1437 // 32)
    assert train.main(["--epochs", "3", "--no-progress"]) == 0
    straight = last_json(capsys)
    assert resumed["test_accuracy"] == straight["test_accuracy"]
    assert resumed["test_loss"] == straight["test_loss"]

    # the saved weights convert to a state_dict the torch twin accepts
    from jaxnn import checkpoint
    from jaxnn.compat import flax_to_torch, torch_models

    variables = checkpoint.load(tmp_path / "model")
    assert checkpoint.read_metadata(tmp_path / "model")["model"] == "SimpleCNN"
    torch_models.SimpleCNN().load_state_dict(flax_to_torch(variables), strict=True)


def test_train_regressor_on_diabetes(capsys):
    train = load("train")
    argv = [
        "--model",
        "Regressor",
        "--dataset",
        "diabetes",
        "--epochs",
        "3",
        "--lr",
        "0.05",
        "--no-progress",
        "--steps-per-call",
        "4",
        "--precision",
        "bf16",
    ]
    assert train.main(argv) == 0
    result = last_json(capsys)
    assert "test_mse" in result and "test_accuracy" not in result
    assert np.isfinite(result["test_mse"]) and result["test_mse"] > 0


def test_resume_needs_checkpoint_dir():
    with pytest.raises(SystemExit, match="--resume needs --checkpoint-dir"):
        load("train").main(["--resume"])


def test_lenet_to_torch_example(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["lenet_to_torch.py", "--batch-size", "2"])
    assert load("lenet_to_torch").main() == 0
    assert "parity OK" in capsys.readouterr().out


def test_regressor_diabetes_example(capsys):
    assert load("regressor_diabetes").main(["--epochs", "5"]) == 0
    result = last_json(capsys)
    assert result["count"] == 89 and 0 < result["mse"] < 1.5  # targets are standardized


def test_char_gpt_example(tmp_path, capsys):
    """A tiny GPT on the default text: the loss falls, a sample prints, the .pth loads into
    nanoGPT's GPT with the same logits."""
    argv = ["--steps", "40", "--n-layer", "1", "--n-head", "2", "--n-embd", "32"]
    argv += ["--block-size", "16", "--eval-every", "20", "--sample-tokens", "24"]
    argv += ["--out", str(tmp_path / "char.pth")]
    assert load("char_gpt").main(argv) == 0
    result = last_json(capsys)
    assert result["train_loss"] < result["first_loss"] - 0.5  # ln(vocab) ~ 4.3 at the start
    assert result["sample_chars"] == 24 and result["torch_max_abs_error"] < 1e-5
    assert (tmp_path / "char.pth").exists()


# The TFDS flows run on tfds' mock data (random images of the right shapes): these check
# that the scripts work end to end, not what they learn.
def _mock(num_examples):
    import tensorflow_datasets as tfds

    return tfds.testing.mock_data(
        num_examples=num_examples, policy=tfds.testing.MockPolicy.USE_CODE
    )


def test_mnist_mlp_example_on_mock_data(capsys):
    with _mock(64):
        assert load("mnist_mlp").main(["--epochs", "1", "--batch-size", "16"]) == 0
    assert last_json(capsys)["count"] == 64


@pytest.mark.slow
@pytest.mark.parametrize("model", ["CIFAR10Net", "LeNet", "ResNetCIFAR"])
def test_cifar10_example_on_mock_data(model, capsys):
    with _mock(32):
        argv = ["--model", model, "--epochs", "1", "--batch-size", "16", "--steps-per-call", "2"]
        assert load("cifar10").main(argv) == 0
    result = last_json(capsys)
    assert result["model"] == model and result["count"] == 32


@pytest.mark.slow
def test_vgg16_finetune_example_on_mock_data(capsys):
    with _mock(16):
        argv = ["--epochs", "1", "--batch-size", "8"]
        assert load("vgg16_finetune").main(argv) == 0
    out = capsys.readouterr().out
    assert "result: OK" in out
    result = json.loads(out.strip().splitlines()[-1])
    assert result["features_frozen"] is True and result["count"] == 16
