"""jaxnn-compat: convert / verify / inspect, called through ``main([...])``."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

import jaxnn.models  # noqa: E402
from jaxnn.compat import torch_models  # noqa: E402
from jaxnn.compat.cli import main  # noqa: E402

# Constructor arguments for the models that need some; every other model is built bare.
MODEL_KWARGS = {
    "Classifier": {"num_inputs": 4, "num_classes": 3},
    "Regressor": {"num_inputs": 4, "num_outputs": 2},
    "ResidualBlock": {"in_channels": 3, "out_channels": 8, "stride": 2},
    "BasicBlock": {"inplanes": 4, "planes": 4},
    "ResNetCIFAR": {"num_blocks": [1, 1, 1]},
    "GPT": {"config": {"block_size": 8, "vocab_size": 11, "n_layer": 1, "n_head": 2, "n_embd": 4}},
    "RNNModel": {
        "rnn_type": "LSTM",
        "ntoken": 11,
        "ninp": 4,
        "nhid": 4,
        "nlayers": 2,
        "tie_weights": True,
    },
    "TransformerModel": {"ntoken": 11, "ninp": 4, "nhead": 2, "nhid": 8, "nlayers": 1},
}
SLOW = {"VGG16"}  # 138M parameters (550 MB in float32): seconds per conversion step
ROUND_TRIP_MODELS = [
    pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name
    for name in jaxnn.models.list_models()
    if hasattr(torch_models, name)
]


def _torch_state_dict(name: str, seed: int = 0) -> dict:
    """The torch twin's state_dict, with random values (and non-zero counters)."""
    torch.manual_seed(seed)
    model = getattr(torch_models, name)(**MODEL_KWARGS.get(name, {}))
    state_dict = model.state_dict()
    for key, value in state_dict.items():
        if key.endswith("num_batches_tracked"):
            value.fill_(17)
        elif key.endswith("running_var"):
            value.uniform_(0.5, 1.5)
        elif value.is_floating_point():
            value.normal_()
    return state_dict


def _model_args(name: str) -> list[str]:
    args = ["--model", name]
    if name in MODEL_KWARGS:
        args += ["--model-kwargs", json.dumps(MODEL_KWARGS[name])]
    if name == "VGG16":
        args += ["--input-shape", "1,3,32,32"]
    return args


def _assert_bit_exact(got: dict, want: dict, ordered: bool = True) -> None:
    """Same keys (in the same order, unless the format sorts them), dtypes and bytes."""
    assert list(got) == list(want) if ordered else sorted(got) == sorted(want)
    for key in want:
        g, w = got[key], want[key]
        assert g.dtype == w.dtype and g.shape == w.shape, key
        assert torch.equal(g.view(-1).view(torch.uint8), w.view(-1).view(torch.uint8)), key


def _load_pth(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def _error_line(capsys) -> str:
    """stderr of a failed run: exactly one line, prefixed, with no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("jaxnn-compat: error: "), err
    return lines[0]


def _files(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture
def lenet_pth(tmp_path):
    path = tmp_path / "lenet.pth"
    torch.save(_torch_state_dict("LeNet"), path)
    return path


# --- round trips -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ROUND_TRIP_MODELS)
def test_round_trip_is_bit_exact(name, tmp_path, capsys):
    state_dict = _torch_state_dict(name)
    torch.save(state_dict, tmp_path / "src.pth")
    # safetensors refuses tensors that share memory (tied weights): one copy each
    safetensors_torch.save_file(
        {k: v.clone() for k, v in state_dict.items()}, tmp_path / "src.safetensors"
    )

    assert (
        main(["convert", str(tmp_path / "src.pth"), str(tmp_path / "a"), *_model_args(name)]) == 0
    )
    assert (
        main(
            ["convert", str(tmp_path / "src.safetensors"), str(tmp_path / "b"), *_model_args(name)]
        )
        == 0
    )
    assert main(["convert", str(tmp_path / "a"), str(tmp_path / "a.pth")]) == 0
    assert (
        main(["convert", str(tmp_path / "b"), str(tmp_path / "b.safetensors"), *_model_args(name)])
        == 0
    )
    assert "verified bit-exact" in capsys.readouterr().out

    _assert_bit_exact(_load_pth(tmp_path / "a.pth"), state_dict)
    # safetensors files keep their own key order
    _assert_bit_exact(
        safetensors_torch.load_file(tmp_path / "b.safetensors"), state_dict, ordered=False
    )
    assert not [f for f in _files(tmp_path) if f.startswith(".")]


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_dtype_casts_floating_tensors(dtype, lenet_pth, tmp_path):
    assert (
        main(
            [
                "convert",
                str(lenet_pth),
                str(tmp_path / "ckpt"),
                "--model",
                "LeNet",
                "--dtype",
                dtype,
            ]
        )
        == 0
    )
    assert main(["convert", str(tmp_path / "ckpt"), str(tmp_path / "out.safetensors")]) == 0
    want = {k: v.to(getattr(torch, dtype)) for k, v in _load_pth(lenet_pth).items()}
    _assert_bit_exact(
        safetensors_torch.load_file(tmp_path / "out.safetensors"), want, ordered=False
    )


@pytest.mark.parametrize("entry", ["state_dict", "model"])
def test_training_checkpoint_entry(entry, tmp_path, capsys):
    state_dict = _torch_state_dict("SimpleCNN")
    torch.save({"epoch": 3, entry: state_dict, "optimizer": {"lr": 0.1}}, tmp_path / "c.pth")
    assert (
        main(["convert", str(tmp_path / "c.pth"), str(tmp_path / "ckpt"), "--model", "SimpleCNN"])
        == 0
    )
    assert f"using the checkpoint's '{entry}' entry" in capsys.readouterr().out
    assert main(["convert", str(tmp_path / "ckpt"), str(tmp_path / "out.pth")]) == 0
    _assert_bit_exact(_load_pth(tmp_path / "out.pth"), state_dict)


def test_force_replaces_destination(lenet_pth, tmp_path, capsys):
    dst = tmp_path / "out.pth"
    dst.write_bytes(b"old")
    assert main(["convert", str(lenet_pth), str(tmp_path / "ckpt"), "--model", "LeNet"]) == 0
    assert main(["convert", str(tmp_path / "ckpt"), str(dst)]) == 2
    assert "out.pth already exists; pass --force" in _error_line(capsys)
    assert dst.read_bytes() == b"old"
    assert main(["convert", str(tmp_path / "ckpt"), str(dst), "--force"]) == 0
    _assert_bit_exact(_load_pth(dst), _load_pth(lenet_pth))
    # a checkpoint directory is replaced as a whole
    other = tmp_path / "other.pth"
    torch.save(_torch_state_dict("LeNet", seed=1), other)
    assert main(["convert", str(other), str(tmp_path / "ckpt"), "--model", "LeNet", "--force"]) == 0
    assert main(["convert", str(tmp_path / "ckpt"), str(dst), "--force"]) == 0
    _assert_bit_exact(_load_pth(dst), _load_pth(other))
    assert not [f for f in _files(tmp_path) if f.startswith(".")]


# --- user models -----------------------------------------------------------------------

USER_MODULE = textwrap.dedent(
    """
    import torch
    import jaxnn as nn


    class Tiny(nn.Module):
        def setup(self):
            self.fc = nn.Linear(4, 3)
            self.bn = nn.BatchNorm1d(3)

        def __call__(self, x):
            return self.bn(self.fc(x))


    class TinyTorch(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 3)
            self.bn = torch.nn.BatchNorm1d(3)

        def forward(self, x):
            return self.bn(self.fc(x))
    """
)


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "jaxnn_cli_user_models.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "jaxnn_cli_user_models", raising=False)
    import jaxnn_cli_user_models

    torch.manual_seed(0)
    sd = jaxnn_cli_user_models.TinyTorch().state_dict()
    sd["bn.running_mean"].normal_()
    torch.save(sd, tmp_path / "tiny.pth")
    return tmp_path / "tiny.pth"


def test_user_model_by_module_path(user_module, tmp_path, capsys):
    spec = "jaxnn_cli_user_models:Tiny"
    ckpt = tmp_path / "tiny_ckpt"
    assert main(["convert", str(user_module), str(ckpt), "--model", spec]) == 2
    assert "no default input shape for model Tiny; pass --input-shape" in _error_line(capsys)
    assert (
        main(["convert", str(user_module), str(ckpt), "--model", spec, "--input-shape", "2,4"]) == 0
    )
    assert main(["convert", str(ckpt), str(tmp_path / "back.pth")]) == 0
    _assert_bit_exact(_load_pth(tmp_path / "back.pth"), _load_pth(user_module))
    assert (
        main(
            [
                "verify",
                str(ckpt),
                "--model",
                spec,
                "--input-shape",
                "2,4",
                "--torch-model",
                "jaxnn_cli_user_models:TinyTorch",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "(eval mode)" in out and "(train mode)" in out and "result: FAIL" not in out


# --- verify ----------------------------------------------------------------------------


def test_verify_passes_on_good_weights(lenet_pth, tmp_path, capsys):
    assert main(["verify", str(lenet_pth), "--model", "LeNet", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "parity LeNet (eval mode)" in out and "conv2" in out and "result: OK" in out


def test_verify_train_mode_for_batchnorm(tmp_path, capsys):
    torch.save(_torch_state_dict("ResidualBlock"), tmp_path / "rb.pth")
    assert main(["verify", str(tmp_path / "rb.pth"), *_model_args("ResidualBlock")]) == 0
    out = capsys.readouterr().out
    assert "(eval mode)" in out and "(train mode)" in out and "bn1.running_mean" in out


def test_verify_fails_on_a_diverging_layer(lenet_pth, monkeypatch, capsys):
    class PerturbedLeNet(torch_models.LeNet):
        """conv2's output is off by 1: the report must name conv2 first."""

        def __init__(self):
            super().__init__()
            self.conv2.register_forward_hook(lambda module, args, out: out + 1.0)

    monkeypatch.setattr(torch_models, "LeNet", PerturbedLeNet)
    assert main(["verify", str(lenet_pth), "--model", "LeNet"]) == 1
    out = capsys.readouterr().out
    assert "result: FAIL, first divergence: conv2" in out


def test_torchvision_model_round_trip_and_verify(tmp_path, capsys):
    """A torchvision zoo model by builder name: its torch twin is torchvision's own
    builder, weights convert there and back bit-exact, and verify passes in eval and
    train mode (BatchNorm eps 0.001 / momentum 0.01, squeeze-and-excitation, Hardswish)."""
    from jaxnn.compat import torchvision_models

    kwargs = {"num_classes": 10, "dropout": 0.0}  # no dropout: train mode is compared too
    torch.manual_seed(0)
    state_dict = torchvision_models.get_model("mobilenet_v3_small", **kwargs).state_dict()
    for key, value in state_dict.items():  # torchvision's init, with statistics to match
        if key.endswith("num_batches_tracked"):
            value.fill_(17)
        elif key.endswith(("running_var", "1.weight")) and value.ndim == 1:
            value.uniform_(0.5, 1.5)
        elif key.endswith(("running_mean", "bias")):
            value.normal_(0.0, 0.1)
        elif value.ndim == 2:  # the classifier's Linear layers, torchvision's N(0, 0.01)
            value.normal_(0.0, value.shape[1] ** -0.5)
    torch.save(state_dict, tmp_path / "src.pth")
    args = ["--model", "mobilenet_v3_small", "--model-kwargs", json.dumps(kwargs)]
    assert main(["convert", str(tmp_path / "src.pth"), str(tmp_path / "ckpt"), *args]) == 0
    assert main(["convert", str(tmp_path / "ckpt"), str(tmp_path / "back.pth")]) == 0
    _assert_bit_exact(_load_pth(tmp_path / "back.pth"), state_dict)
    capsys.readouterr()
    verify = ["verify", str(tmp_path / "src.pth"), *args, "--input-shape", "2,3,64,64"]
    assert main(verify) == 0
    out = capsys.readouterr().out
    assert "parity MobileNetV3 (eval mode)" in out and "(train mode)" in out
    assert "features.1.block.1.fc2" in out and "result: OK" in out and "FAIL" not in out


# --- inspect ---------------------------------------------------------------------------


def test_inspect_all_formats(lenet_pth, tmp_path, capsys):
    safetensors_torch.save_file(_load_pth(lenet_pth), tmp_path / "l.safetensors")
    assert main(["convert", str(lenet_pth), str(tmp_path / "ckpt"), "--model", "LeNet"]) == 0
    capsys.readouterr()
    for path, fmt in [
        (lenet_pth, "pytorch"),
        (tmp_path / "l.safetensors", "safetensors"),
        (tmp_path / "ckpt", "jaxnn checkpoint"),
    ]:
        assert main(["inspect", str(path)]) == 0
        out = capsys.readouterr().out
        assert f"format: {fmt}" in out
        assert "conv1.weight" in out and "float32" in out
        assert "total         62,006" in out  # LeNet-5: 62,006 parameters
    assert '"model": "LeNet"' in out and "params/conv1/kernel" in out


# --- bad input: exit 2, one line, nothing written ----------------------------------------


def test_code_running_pickle_is_refused_and_not_run(tmp_path, capsys):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    for name, write in [
        ("raw.pth", lambda p: p.write_bytes(pickle.dumps({"w": Payload()}))),
        ("zip.pth", lambda p: torch.save({"w": Payload()}, p)),
    ]:
        write(tmp_path / name)
        assert (
            main(["convert", str(tmp_path / name), str(tmp_path / "out"), "--model", "LeNet"]) == 2
        )
        line = _error_line(capsys)
        assert "refused to load" in line and "it was not executed" in line
        assert "Re-save it as safetensors" in line
        if name == "zip.pth":
            assert "posix.system" in line
        assert main(["inspect", str(tmp_path / name)]) == 2
        _error_line(capsys)
    assert not marker.exists()
    assert not (tmp_path / "out").exists()


def _bad_inputs(tmp_path, lenet_pth):
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(lenet_pth.read_bytes()[:4000])
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\xff" * 64)
    npz = tmp_path / "l.npz"
    npz.write_bytes(lenet_pth.read_bytes())
    tensors = tmp_path / "list.pth"
    torch.save([torch.ones(2)], tensors)
    src, dst = str(lenet_pth), str(tmp_path / "out")
    return {
        "missing": (
            ["convert", str(tmp_path / "nope.pth"), dst, "--model", "LeNet"],
            "nope.pth: no such file",
        ),
        "truncated": (
            ["convert", str(truncated), dst, "--model", "LeNet"],
            "not a readable PyTorch file",
        ),
        "corrupt": (
            ["convert", str(corrupt), dst, "--model", "LeNet"],
            "not a valid safetensors file",
        ),
        "not a state_dict": (
            ["convert", str(tensors), dst, "--model", "LeNet"],
            "not a state_dict: it holds a list",
        ),
        "unknown suffix": (
            ["convert", str(npz), dst, "--model", "LeNet"],
            "unknown file type '.npz'",
        ),
        "unknown model": (
            ["convert", src, dst, "--model", "LeNet7"],
            "unknown model 'LeNet7'; known: ",
        ),
        "bad module": (
            ["convert", src, dst, "--model", "no_such_mod:X"],
            "cannot import 'no_such_mod'",
        ),
        "bad json": (
            ["convert", src, dst, "--model", "Classifier", "--model-kwargs", "{num"],
            "--model-kwargs is not valid JSON",
        ),
        "bad kwargs": (
            ["convert", src, dst, "--model", "LeNet", "--model-kwargs", '{"width": 3}'],
            "cannot build LeNet with --model-kwargs",
        ),
        "missing kwarg": (
            ["convert", src, dst, "--model", "Classifier", "--model-kwargs", '{"num_classes": 3}'],
            "missing 1 required positional argument: 'num_inputs'",
        ),
        "unwritable": (
            ["convert", src, str(tmp_path / "no_dir" / "out"), "--model", "LeNet"],
            "no_dir does not exist",
        ),
        "wrong direction": (
            ["convert", src, str(tmp_path / "out.safetensors"), "--model", "LeNet"],
            "converts to a jaxnn checkpoint directory",
        ),
        "verify missing": (
            ["verify", str(tmp_path / "nope.pth"), "--model", "LeNet"],
            "no such file",
        ),
    }


BAD_INPUTS = [
    "missing",
    "truncated",
    "corrupt",
    "not a state_dict",
    "unknown suffix",
    "unknown model",
    "bad module",
    "bad json",
    "bad kwargs",
    "missing kwarg",
    "unwritable",
    "wrong direction",
    "verify missing",
]


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_exits_2_with_one_line(case, lenet_pth, tmp_path, capsys):
    argv, message = _bad_inputs(tmp_path, lenet_pth)[case]
    before = set(_files(tmp_path))
    assert main(argv) == 2
    assert message in _error_line(capsys)
    assert set(_files(tmp_path)) == before  # no DST, no temp litter


def test_64_bit_tensors_are_refused_without_x64(lenet_pth, tmp_path, capsys):
    sd = {k: v.double() for k, v in _load_pth(lenet_pth).items()}
    torch.save(sd, tmp_path / "f64.pth")
    assert (
        main(["convert", str(tmp_path / "f64.pth"), str(tmp_path / "out"), "--model", "LeNet"]) == 2
    )
    assert "tensors are 64-bit" in _error_line(capsys)
    assert (
        main(
            [
                "convert",
                str(tmp_path / "f64.pth"),
                str(tmp_path / "out"),
                "--model",
                "LeNet",
                "--dtype",
                "float32",
            ]
        )
        == 0
    )


def test_progress_line_for_large_files(lenet_pth, tmp_path, monkeypatch, capsys):
    from jaxnn.compat import cli

    monkeypatch.setattr(cli, "LARGE_FILE_BYTES", 1000)  # LeNet's 250 kB counts as large
    assert main(["convert", str(lenet_pth), str(tmp_path / "ckpt"), "--model", "LeNet"]) == 0
    assert "jaxnn-compat: reading " in capsys.readouterr().err


def test_state_dict_that_does_not_fit_lists_every_key(lenet_pth, tmp_path, capsys):
    sd = _load_pth(lenet_pth)
    del sd["fc3.bias"]
    sd["fc4.weight"] = torch.zeros(2, 2)
    sd["conv1.weight"] = torch.zeros(6, 1, 5, 5)
    torch.save(sd, tmp_path / "bad.pth")
    assert (
        main(["convert", str(tmp_path / "bad.pth"), str(tmp_path / "out"), "--model", "LeNet"]) == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("jaxnn-compat: error: ") and "Traceback" not in err
    assert "missing keys (1): fc3.bias" in err
    assert "unexpected keys (1): fc4.weight" in err
    assert (
        "size mismatch for conv1.weight: checkpoint has shape (6, 1, 5, 5), "
        "the model expects (6, 3, 5, 5)"
    ) in err
    assert not (tmp_path / "out").exists()
    assert main(["verify", str(tmp_path / "bad.pth"), "--model", "LeNet"]) == 2
    assert "missing keys (1): fc3.bias" in capsys.readouterr().err


def test_failed_read_back_leaves_no_destination(lenet_pth, tmp_path, monkeypatch, capsys):
    from jaxnn.compat import cli

    real_save = torch.save

    def corrupting_save(state_dict, path):  # a disk that flips what it is given
        real_save({k: v + 1 for k, v in state_dict.items()}, path)

    assert main(["convert", str(lenet_pth), str(tmp_path / "ckpt"), "--model", "LeNet"]) == 0
    monkeypatch.setattr(torch, "save", corrupting_save)
    before = set(_files(tmp_path))
    assert main(["convert", str(tmp_path / "ckpt"), str(tmp_path / "out.pth")]) == 2
    assert "read-back check failed" in _error_line(capsys)
    assert set(_files(tmp_path)) == before
    assert cli.main(["convert", str(tmp_path / "ckpt"), str(tmp_path / "out.pth"), "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err  # --debug shows it


def test_help(capsys):
    for command in ("convert", "verify", "inspect"):
        assert main([command, "--help"]) == 0
        assert "example:\n  jaxnn-compat " + command in capsys.readouterr().out
    result = subprocess.run(
        [sys.executable, "-m", "jaxnn.compat", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "convert" in result.stdout and "verify" in result.stdout
    assert "inspect" in result.stdout


# --- reading and writing a tensor at a time ---------------------------------------------


def _awkward_state_dict() -> dict:
    """LeNet's state_dict with tensors torch stores unusually: a transposed (non-contiguous)
    weight, a bias that is a slice of a larger storage, two keys sharing one storage."""
    sd = _torch_state_dict("LeNet")
    sd["fc1.weight"] = sd["fc1.weight"].t().contiguous().t()
    sd["fc1.bias"] = torch.cat([torch.randn(7), sd["fc1.bias"]])[7:]
    sd["fc2.bias"] = sd["fc2.weight"].reshape(-1)[: sd["fc2.bias"].numel()]
    assert not sd["fc1.weight"].is_contiguous() and sd["fc1.bias"].storage_offset() == 7
    return sd


@pytest.mark.parametrize("how", ["from the file", "torch.load fallback", "legacy format"])
def test_unusual_storages_round_trip(how, tmp_path, monkeypatch):
    from jaxnn.compat import pth

    sd = _awkward_state_dict()
    if how == "legacy format":
        torch.save(sd, tmp_path / "src.pth", _use_new_zipfile_serialization=False)
    else:
        torch.save(sd, tmp_path / "src.pth")
    if how == "torch.load fallback":  # a torch that does not say where storages lie
        monkeypatch.setattr(pth.PthFileTensors, "locate", classmethod(lambda cls, *a: None))
    argv = ["convert", str(tmp_path / "src.pth"), str(tmp_path / "ckpt"), "--model", "LeNet"]
    assert main(argv) == 0
    assert main(["convert", str(tmp_path / "ckpt"), str(tmp_path / "back.pth")]) == 0
    _assert_bit_exact(_load_pth(tmp_path / "back.pth"), {k: v.contiguous() for k, v in sd.items()})


def test_convert_streams_the_source_and_the_read_back(lenet_pth, tmp_path, monkeypatch):
    """A .pth is parsed with meta tensors (no data), then read a block at a time; the
    written checkpoint is read back a few arrays at a time; both directions stay exact."""
    from jaxnn import checkpoint
    from jaxnn.compat import pipeline, pth

    monkeypatch.setattr(pth, "BLOCK_BYTES", 4096)
    monkeypatch.setattr(pipeline, "GROUP_BYTES", 20_000)
    loads, blocks, restores = [], [], []
    real_load_pth, real_blocks, real_load = (
        pth.load_pth,
        pth.PthFileTensors.blocks,
        checkpoint.load,
    )

    def load_pth(path, *, meta=False):
        loads.append(meta)
        return real_load_pth(path, meta=meta)

    def counted_blocks(self, key):
        for item in real_blocks(self, key):
            blocks.append(key)
            yield item

    def load(path, template=None, *, leaves=None):
        restores.append(leaves)
        return real_load(path, template, leaves=leaves)

    monkeypatch.setattr(pth, "load_pth", load_pth)
    monkeypatch.setattr(pth.PthFileTensors, "blocks", counted_blocks)
    monkeypatch.setattr(checkpoint, "load", load)
    assert main(["convert", str(lenet_pth), str(tmp_path / "ckpt"), "--model", "LeNet"]) == 0
    assert loads == [True]  # never a full torch.load of the source
    assert blocks.count("fc1.weight") > 2  # 120 x 400 float32 in blocks of 4 kB
    assert len(restores) > 2 and all(leaves for leaves in restores)
    loads.clear(), restores.clear()
    assert main(["convert", str(tmp_path / "ckpt"), str(tmp_path / "back.pth")]) == 0
    assert loads == [True] and len(restores) > 2  # the written .pth is read back by blocks
    _assert_bit_exact(_load_pth(tmp_path / "back.pth"), _load_pth(lenet_pth))


def test_bfloat16_source_round_trip(tmp_path):
    sd = {
        k: v.to(torch.bfloat16) if v.is_floating_point() else v
        for k, v in _torch_state_dict("LeNet").items()
    }
    torch.save(sd, tmp_path / "bf16.pth")
    argv = ["convert", str(tmp_path / "bf16.pth"), str(tmp_path / "ckpt"), "--model", "LeNet"]
    assert main(argv) == 0
    assert main(["convert", str(tmp_path / "ckpt"), str(tmp_path / "back.pth")]) == 0
    _assert_bit_exact(_load_pth(tmp_path / "back.pth"), sd)


def test_failed_checkpoint_read_back_leaves_no_destination(
    lenet_pth, tmp_path, monkeypatch, capsys
):
    from jaxnn import checkpoint

    real_save = checkpoint.save

    def corrupting_save(variables, path, **kwargs):  # a disk that flips what it is given
        variables["params"]["fc3"]["kernel"] = variables["params"]["fc3"]["kernel"] + 1
        return real_save(variables, path, **kwargs)

    monkeypatch.setattr(checkpoint, "save", corrupting_save)
    before = set(_files(tmp_path))
    assert main(["convert", str(lenet_pth), str(tmp_path / "ckpt"), "--model", "LeNet"]) == 2
    line = _error_line(capsys)
    assert "read-back check failed" in line and "fc3.weight (float32[10, 84]" in line
    assert set(_files(tmp_path)) == before
