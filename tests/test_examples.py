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


def _flip_largest_file(directory):
    largest = max((p for p in directory.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    data = bytearray(largest.read_bytes())
    data[len(data) // 2] ^= 0x5A
    largest.write_bytes(bytes(data))


def test_train_digits_checkpoint_resume_and_convert(tmp_path, capsys, caplog):
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

    # a damaged newest epoch: said, skipped, and the run still ends where the straight one does
    latest = tmp_path / "train" / "latest"
    _flip_largest_file(latest / "3")
    with caplog.at_level("WARNING", logger="jaxnn.checkpoint"):
        assert train.main(["--epochs", "3", "--resume", *args[2:]]) == 0
    assert f"epoch 3 in {latest} is damaged" in caplog.text
    assert "resuming from epoch 2" in caplog.text
    again = last_json(capsys)
    assert again["start_epoch"] == 2 and again["test_loss"] == straight["test_loss"]
    for epoch in latest.iterdir():  # none intact: a clear error, no traceback
        _flip_largest_file(epoch)
    with pytest.raises(SystemExit, match=r"train\.py: error: no intact checkpoint in .*latest"):
        train.main(["--epochs", "4", "--resume", *args[2:]])

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


def test_train_with_the_pytorch_mnist_recipe(capsys):
    """torch's MNIST example trains with Adadelta(lr=1.0) and StepLR(step_size=1,
    gamma=0.7); on digits two epochs reach well above chance (0.1): > 0.8."""
    argv = ["--optimizer", "adadelta", "--lr", "1.0", "--scheduler", "steplr", "--gamma", "0.7"]
    assert load("train").main([*argv, "--epochs", "2", "--no-progress"]) == 0
    result = last_json(capsys)
    assert result["steps"] == 2 * (1437 // 32) and result["test_accuracy"] > 0.8


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


def _png_size(path):
    """(width, height) from a PNG's IHDR, after checking the signature and every CRC."""
    import zlib

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        body = data[pos + 4 : pos + 8 + length]
        assert int.from_bytes(data[pos + 8 + length : pos + 12 + length], "big") == zlib.crc32(body)
        chunks.append((body[:4], body[4:]))
        pos += 12 + length
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    header = chunks[0][1]
    width, height = int.from_bytes(header[:4], "big"), int.from_bytes(header[4:8], "big")
    pixels = np.frombuffer(zlib.decompress(chunks[1][1]), np.uint8).reshape(height, width + 1)
    assert np.all(pixels[:, 0] == 0) and pixels[:, 1:].std() > 0  # filter bytes; not blank
    return width, height


@pytest.mark.slow
def test_dcgan_example_writes_samples_and_resumes_exactly(tmp_path, capsys):
    dcgan = load("dcgan")
    tiny = ["--batch-size", "8", "--max-batches", "2", "--nz", "8", "--ngf", "4", "--ndf", "4"]
    out = ["--out-dir", str(tmp_path / "a")]
    assert dcgan.main(["--epochs", "1", *tiny, *out]) == 0
    first = last_json(capsys)
    assert first["start_epoch"] == 0 and first["steps"] == 2
    # 64 samples in an 8 x 8 grid of 32 x 32 images with 2-pixel borders
    assert _png_size(tmp_path / "a" / "fake_samples_epoch_001.png") == (274, 274)

    assert dcgan.main(["--epochs", "2", "--resume", *tiny, *out]) == 0
    resumed = last_json(capsys)
    assert resumed["start_epoch"] == 1 and resumed["steps"] == 4
    assert (tmp_path / "a" / "fake_samples_epoch_002.png").exists()
    assert dcgan.main(["--epochs", "2", *tiny, "--out-dir", str(tmp_path / "b")]) == 0
    straight = last_json(capsys)
    for key in ("loss_d", "loss_g", "d_x", "d_g_z1", "d_g_z2"):
        assert resumed[key] == straight[key], key
    a = (tmp_path / "a" / "fake_samples_epoch_002.png").read_bytes()
    assert a == (tmp_path / "b" / "fake_samples_epoch_002.png").read_bytes()


def test_dcgan_train_step_is_the_pytorch_examples_step():
    """Three steps of examples/dcgan.py's jitted step against the PyTorch DCGAN example's
    loop (D on real and on detached fake, then G through the updated D; BCELoss, Adam
    2e-4 / (0.5, 0.999)) on the same weights, noise and images: the losses, and then every
    parameter and BatchNorm statistic of both networks, agree within 1e-6."""
    import jax
    import jax.numpy as jnp
    import torch

    from jaxnn import optim
    from jaxnn.compat import flax_to_torch
    from jaxnn.compat import torch_models as tm

    dc = load("dcgan")
    nz, ngf, ndf, size, b, seed = 8, 4, 4, 32, 8, 3
    netG, netD = dc.DCGANGenerator(nz, ngf, 1, size), dc.DCGANDiscriminator(1, ndf, size)
    z, x = jnp.zeros((2, nz, 1, 1)), jnp.zeros((2, 1, size, size))
    g_vars = dc.weights_init(netG, netG.init(jax.random.key(0), z), z, jax.random.key(1))
    d_vars = dc.weights_init(netD, netD.init(jax.random.key(2), x), x, jax.random.key(3))
    opt_g, opt_d = (optim.Adam(2e-4, betas=(0.5, 0.999)) for _ in range(2))
    state = dc.GANState(
        g_vars,
        d_vars,
        opt_g.init(g_vars["params"]),
        opt_d.init(d_vars["params"]),
        jnp.zeros((), jnp.int32),
    )
    step = dc.make_train_step(netG, netD, opt_g, opt_d, nz, seed)

    tG, tD = tm.DCGANGenerator(nz, ngf, 1, size), tm.DCGANDiscriminator(1, ndf, size)
    tG.load_state_dict(flax_to_torch(g_vars))
    tD.load_state_dict(flax_to_torch(d_vars))
    optimizer_d = torch.optim.Adam(tD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizer_g = torch.optim.Adam(tG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    criterion = torch.nn.BCELoss()
    rng = np.random.default_rng(0)
    for i in range(3):
        real = rng.uniform(-1, 1, (b, 1, size, size)).astype(np.float32)
        noise = jax.random.normal(jax.random.fold_in(jax.random.key(seed), i), (b, nz, 1, 1))
        state, metrics = step(state, real)
        # the PyTorch example's iteration, verbatim in spirit
        tD.zero_grad()
        err_real = criterion(tD(torch.from_numpy(real)).view(-1), torch.ones(b))
        err_real.backward()
        fake = tG(torch.from_numpy(np.array(noise)))
        err_fake = criterion(tD(fake.detach()).view(-1), torch.zeros(b))
        err_fake.backward()
        optimizer_d.step()
        tG.zero_grad()
        err_g = criterion(tD(fake).view(-1), torch.ones(b))
        err_g.backward()
        optimizer_g.step()
        assert abs(float(metrics["loss_d"]) - (err_real + err_fake).item()) < 1e-6
        assert abs(float(metrics["loss_g"]) - err_g.item()) < 1e-6
    for ours, theirs in ((state.generator, tG), (state.discriminator, tD)):
        sd = flax_to_torch(ours)
        for key, value in theirs.state_dict().items():
            np.testing.assert_allclose(sd[key].numpy(), value.numpy(), atol=1e-6, err_msg=key)


def test_train_weight_decay_defaults_to_each_optimizers_own():
    """No --weight-decay: AdamW decays by torch's 1e-2; an explicit 0 means no decay
    (a zero gradient then leaves the parameters where they are)."""
    import jax.numpy as jnp

    train = load("train")
    params = {"w": jnp.ones(3)}
    zero = {"w": jnp.zeros(3)}

    def after_one_step(argv):
        args = train.parse_args(["--optimizer", "adamw", "--lr", "0.1", *argv])
        opt = train.OPTIMIZERS["adamw"](args, args.lr)
        updates, _ = opt.update(zero, opt.init(params), params)
        return np.asarray(params["w"] + updates["w"])

    np.testing.assert_allclose(after_one_step([]), 1 - 0.1 * 1e-2, rtol=1e-6)
    np.testing.assert_array_equal(after_one_step(["--weight-decay", "0"]), np.ones(3))
