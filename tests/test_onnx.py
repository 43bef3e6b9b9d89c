"""jaxnn.onnx: every model of jaxnn.models (and user-defined ones) exported to ONNX and
run in onnxruntime at two batch sizes, the jax.export artifact, the CLI and TensorBoard's
graph.

Tolerance (float32): max |onnxruntime - jaxnn| <= 1e-4 + 1e-4 * max |jaxnn| per output.
"""

from __future__ import annotations

import glob
import json
import pathlib
import struct
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import jaxnn as nn  # noqa: E402
import jaxnn.onnx as jo  # noqa: E402
from jaxnn import models  # noqa: E402
from jaxnn.compat.models import batch_axis  # noqa: E402
from jaxnn.onnx import lower  # noqa: E402

ATOL = RTOL = 1e-4

# constructor arguments for the models that need some, and smaller inputs for the big ones
MODEL_KWARGS = {
    "Classifier": {"num_inputs": 12, "num_classes": 3},
    "Regressor": {"num_inputs": 12, "num_outputs": 2},
    "ResidualBlock": {"in_channels": 4, "out_channels": 8, "stride": 2},
    "BasicBlock": {"inplanes": 4, "planes": 4},
    "ResNetCIFAR": {"num_blocks": (1, 1, 1)},
    "ResNet18": {"num_classes": 10},
    "VGG16": {"num_classes": 10},
    "GPT": {
        "config": {"block_size": 16, "vocab_size": 50, "n_layer": 2, "n_head": 2, "n_embd": 32}
    },
    "RNNModel": {"rnn_type": "LSTM", "ntoken": 50, "ninp": 16, "nhid": 16, "nlayers": 2},
    "TransformerModel": {"ntoken": 50, "ninp": 16, "nhead": 2, "nhid": 32, "nlayers": 2},
    "vit_b_16": {"image_size": 64},  # a ViT takes one image size: the zoo's 64x64 here
}
SMALL_INPUT = {"ResNet18": (3, 32, 32), "VGG16": (3, 32, 32)}


def _inputs(model, batch: int, seed: int = 0, name: str = ""):
    spec = model.example_input(batch)
    shape = spec.shape
    if name[:1].islower():  # torchvision's zoo: smaller images
        shape = (batch, 3, 64, 64)
    if type(model).__name__ in SMALL_INPUT:
        shape = (batch, *SMALL_INPUT[type(model).__name__])
    rng = np.random.default_rng(seed)
    if np.issubdtype(np.dtype(spec.dtype), np.integer):
        return rng.integers(0, 2, shape).astype(spec.dtype)
    return rng.standard_normal(shape).astype(spec.dtype)


def _close(got, want, what):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, f"{what}: {got.shape} vs {want.shape}"
    err = np.max(np.abs(got - want), initial=0.0)
    assert err <= ATOL + RTOL * np.max(np.abs(want), initial=0.0), f"{what}: max abs {err:.3g}"


def _run(path, *inputs):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, inputs)))


def _model_cases():
    """One name per model class of jaxnn.models: builders of one class (resnet18 ..
    resnet152) differ in sizes only, not in what is exported."""
    first: dict[type, str] = {}
    # small ones first; for some classes the shortest name is a big model
    order = lambda n: (n not in REPRESENTATIVE, len(n), n)  # noqa: E731
    for name in sorted(models.list_models(), key=order):
        model = models.get_model(name, **MODEL_KWARGS.get(name, {}))
        first.setdefault((type(model), getattr(model, "block", None)), name)
    return [
        pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name
        for name in sorted(first.values())
    ]


REPRESENTATIVE = {"convnext_tiny", "mobilenet_v3_small", "regnet_y_400mf"}
# VGGs: 130M+ parameters, ONNX files over 500 MB; convnext_tiny and vit_b_16: ~20 s each on
# two cores, most of it drawing their 28M / 86M parameters
SLOW = {"VGG16", "vgg11", "convnext_tiny", "vit_b_16"}


@pytest.mark.parametrize("name", _model_cases())
def test_every_model_exports_and_matches_at_two_batch_sizes(name, tmp_path):
    """export() runs the file in onnxruntime at batch 2 and 3 and compares every output
    with jaxnn's, raising above the tolerance (test_a_wrong_lowering_is_caught shows that
    check bites); the file keeps a symbolic batch axis."""
    model = models.get_model(name, **MODEL_KWARGS.get(name, {}))
    x2 = _inputs(model, 2, name=name)
    axis = batch_axis(model)  # 1 for the word-language models' (T, N) tokens
    # jitted: eager init compiles each initializer's shape on its own (seconds per model)
    variables = jax.jit(model.init)(jax.random.key(0), x2)
    path = jo.export(model, variables, x2, tmp_path / f"{name}.onnx", batch_axis=axis)
    proto = onnx.load(str(path), load_external_data=False)
    assert proto.graph.input[0].type.tensor_type.shape.dim[axis].dim_param == "batch"
    for out in proto.graph.output:  # e.g. RNNModel's ("35*batch", 50) and (2, "batch", 16)
        assert any("batch" in d.dim_param for d in out.type.tensor_type.shape.dim), out


class _TwoHeads(nn.Module):
    """A user model: two inputs, two outputs, a functional op at the top level."""

    def setup(self):
        self.body = nn.Sequential(nn.Linear(6, 8), nn.GELU(), nn.Linear(8, 8))
        self.head = nn.Linear(8, 3)

    def __call__(self, x, y):
        h = self.body(x) * jax.nn.sigmoid(y)
        return nn.functional.log_softmax(self.head(h), dim=1), h.mean(axis=1)


def test_user_model_with_names_two_inputs_and_two_outputs(tmp_path):
    model = _TwoHeads()
    x = np.random.default_rng(1).standard_normal((3, 6)).astype(np.float32)
    y = np.random.default_rng(2).standard_normal((3, 8)).astype(np.float32)
    v = model.init(jax.random.key(0), x, y)
    path = jo.export(
        model, v, (x, y), tmp_path / "m.onnx", input_names=["x", "y"], output_names=["logp", "m"]
    )
    proto = onnx.load(str(path))
    assert [i.name for i in proto.graph.input] == ["x", "y"]
    assert [o.name for o in proto.graph.output] == ["logp", "m"]
    layers = {n.name.rpartition("/")[0] for n in proto.graph.node}
    assert {"body.0", "body.1", "body.2", "head"} <= layers  # nodes carry torch paths
    for got, want in zip(_run(path, x, y), model.apply(v, x, y)):
        _close(got, want, "two heads")
    fixed = jo.export(model, v, (x, y), tmp_path / "fixed.onnx", dynamic_batch=False)
    assert onnx.load(str(fixed)).graph.input[0].type.tensor_type.shape.dim[0].dim_value == 3


def test_scalar_constants_stay_scalars(tmp_path):
    """ReLU6 and Hardswish pick between the input and scalars broadcast to its shape (a
    symbolic batch): a scalar initializer must stay 0-d, or the broadcast gains a rank
    and the next convolution cannot be loaded (MobileNets)."""
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.ReLU6(), nn.Conv2d(4, 4, 3), nn.Hardswish(), nn.Conv2d(4, 2, 1)
    )
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32) * 8
    v = model.init(jax.random.key(0), x)
    path = jo.export(model, v, x, tmp_path / "hard.onnx")
    x3 = np.random.default_rng(1).standard_normal((3, 3, 8, 8)).astype(np.float32) * 8
    _close(_run(path, x3)[0], model.apply(v, x3), "ReLU6 / Hardswish at batch 3")
    scalars = [i for i in onnx.load(str(path)).graph.initializer if len(i.dims) == 0]
    assert {float(onnx.numpy_helper.to_array(i)) for i in scalars} >= {0.0, 6.0}


class _Sorting(nn.Module):
    def setup(self):
        self.fc = nn.Linear(4, 4)
        self.head = _SortHead()

    def __call__(self, x):
        return self.head(self.fc(x))


class _SortHead(nn.Module):
    @linen.compact
    def __call__(self, x):
        return jnp.sort(x, axis=1)


def test_unsupported_primitive_names_the_layer(tmp_path):
    model = _Sorting()
    x = np.ones((2, 4), np.float32)
    v = model.init(jax.random.key(0), x)
    with pytest.raises(jo.ExportError, match=r"layer 'head' uses the JAX primitive 'sort'"):
        jo.export(model, v, x, tmp_path / "sort.onnx")
    assert list(tmp_path.iterdir()) == []


def test_a_wrong_lowering_is_caught_and_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setitem(lower.RULES, "tanh", lower.RULES["neg"])  # a broken rule
    model = nn.Sequential(nn.Linear(4, 4), nn.Tanh())
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    v = model.init(jax.random.key(0), x)
    with pytest.raises(jo.ExportError, match=r"onnxruntime output 0 differs from jaxnn's by"):
        jo.export(model, v, x, tmp_path / "bad.onnx")
    assert list(tmp_path.iterdir()) == []
    path = jo.export(model, v, x, tmp_path / "unchecked.onnx", verify=False)
    assert path.exists()  # verify=False writes what was built, unchecked


def test_arguments_are_checked(tmp_path):
    model = nn.Linear(4, 2)
    x = np.ones((2, 4), np.float32)
    v = model.init(jax.random.key(0), x)
    with pytest.raises(ValueError, match=r"opset_version must be between 18 and"):
        jo.export(model, v, x, tmp_path / "m.onnx", opset_version=11)
    with pytest.raises(ValueError, match=r"output_names has 2 names for 1 outputs"):
        jo.export(model, v, x, tmp_path / "m.onnx", output_names=["a", "b"])
    with pytest.raises(jo.ExportError, match="needs every input to have a batch axis"):
        jo.export(model, v, np.float32(1.0), tmp_path / "m.onnx")
    with pytest.raises(jo.ExportError, match=r"input 0 of shape \(2, 4\) has no axis 2"):
        jo.export(model, v, x, tmp_path / "m.onnx", batch_axis=2)
    with pytest.raises(ValueError, match="batch_axis has 2 axes for 1 inputs"):
        jo.export(model, v, x, tmp_path / "m.onnx", batch_axis=[0, 1])
    assert jo.export(model, v, x, tmp_path / "m.onnx", opset_version=20).exists()


def test_jax_export_artifact_runs_without_the_models_code(tmp_path):
    model = models.LeNet()
    x = _inputs(model, 2)
    v = model.init(jax.random.key(0), x)
    path = jo.save_exported(model, v, x, tmp_path / "lenet.jax")
    x3 = _inputs(model, 3, seed=3)
    np.save(tmp_path / "x3.npy", x3)
    script = textwrap.dedent(
        f"""
        import numpy as np
        from jaxnn.onnx.artifact import load_exported
        run = load_exported({str(path)!r})
        x3 = np.load({str(tmp_path / "x3.npy")!r})
        np.save({str(tmp_path / "y3.npy")!r}, np.asarray(run(x3)))
        import sys
        assert "jaxnn.models" not in sys.modules and "jaxnn.layers" not in sys.modules
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    np.testing.assert_array_equal(np.load(tmp_path / "y3.npy"), model.apply(v, x3))


def _graph_defs(logdir):
    from tensorboardX.proto.event_pb2 import Event
    from tensorboardX.proto.graph_pb2 import GraphDef

    found = []
    for file in glob.glob(str(logdir / "events*")):
        data, pos = pathlib.Path(file).read_bytes(), 0
        while pos < len(data):
            (n,) = struct.unpack("<Q", data[pos : pos + 8])
            event = Event.FromString(data[pos + 12 : pos + 12 + n])
            pos += 12 + n + 4
            if event.graph_def:
                found.append(GraphDef.FromString(event.graph_def))
    return found


def test_tensorboard_graph_groups_operations_by_layer_with_shapes(tmp_path):
    from jaxnn import introspect
    from jaxnn.train import SummaryWriter

    model = models.LeNet()
    x = np.zeros((1, 3, 32, 32), np.float32)
    v = model.init(jax.random.key(0), x)
    writer = SummaryWriter(str(tmp_path))
    writer.add_graph(model, v, x)
    writer.close()
    (graph,) = _graph_defs(tmp_path)
    groups = {node.name.rpartition("/")[0] for node in graph.node if "/" in node.name}
    modules = {path for path in introspect.named_modules(model, v, x) if path}
    assert modules <= groups | {"output"}, modules - groups
    shapes = {
        node.name.split("/")[0]: [d.size for d in node.attr["_output_shapes"].list.shape[0].dim]
        for node in graph.node
        if node.op in ("Conv", "MatMul")
    }
    assert shapes["conv1"] == [1, 6, 28, 28] and shapes["fc3"] == [1, 10]
    by_name = {node.name: node for node in graph.node}
    conv2 = next(n for n in graph.node if n.name.startswith("conv2/") and n.op == "Conv")
    assert all(i in by_name for i in conv2.input) and conv2.input  # wired to a producer


def test_cli_export_from_pth_and_from_a_checkpoint(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    from jaxnn.compat import torch_models
    from jaxnn.compat.cli import main

    torch.manual_seed(0)
    twin = torch_models.LeNet().eval()
    torch.save(twin.state_dict(), tmp_path / "lenet.pth")
    assert (
        main(["export", str(tmp_path / "lenet.pth"), str(tmp_path / "a.onnx"), "--model", "LeNet"])
        == 0
    )
    assert "checked in onnxruntime at two batch sizes" in capsys.readouterr().out
    x = np.random.default_rng(0).standard_normal((4, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        want = twin(torch.from_numpy(x)).numpy()
    _close(_run(tmp_path / "a.onnx", x)[0], want, "torch weights through ONNX")

    assert (
        main(["convert", str(tmp_path / "lenet.pth"), str(tmp_path / "ck"), "--model", "LeNet"])
        == 0
    )
    argv = ["export", str(tmp_path / "ck"), str(tmp_path / "a.onnx"), "--model", "LeNet"]
    assert main(argv) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert main([*argv, "--force", "--opset", "19"]) == 0
    assert onnx.load(str(tmp_path / "a.onnx")).opset_import[0].version == 19
    _close(_run(tmp_path / "a.onnx", x)[0], want, "checkpoint through ONNX")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["out.txt", "--model", "LeNet"], "an ONNX file name ends in .onnx"),
        (["out.onnx", "--model", "LeNet", "--opset", "9"], "opset_version must be between 18"),
        (["out.onnx", "--model", "Nope"], "unknown model 'Nope'"),
    ],
)
def test_cli_export_bad_input_exits_2(argv, message, tmp_path, capsys):
    from jaxnn import checkpoint
    from jaxnn.compat.cli import main

    v = models.LeNet().init(jax.random.key(0), np.zeros((1, 3, 32, 32), np.float32))
    checkpoint.save(v, tmp_path / "ck")
    argv = ["export", str(tmp_path / "ck"), str(tmp_path / argv[0]), *argv[1:]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxnn-compat: error: ") and message in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]


class _Stacking(nn.Module):
    @linen.compact
    def __call__(self, x):
        return jnp.stack([x, 2 * x], axis=0), jnp.stack([x, -x, x + 1], axis=-1)


def test_stack_lowers_along_any_axis(tmp_path):
    """jnp.stack is its own primitive (the phase interleaving of ConvTranspose2d uses it)."""
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    model = _Stacking()
    v = model.init(jax.random.key(0), x)
    path = jo.export(model, v, x, tmp_path / "stack.onnx")
    x4 = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
    got = _run(path, x4)
    want = model.apply(v, x4)
    assert [g.shape for g in got] == [(2, 4, 3), (4, 3, 3)]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, np.asarray(w))


class _Indexing(nn.Module):
    @linen.compact
    def __call__(self, x):
        return x[:, 0], x[:, -1, 1:], x[:, :, 2]


def test_integer_indexing_behind_the_batch_axis_lowers(tmp_path):
    """``x[:, 0]`` (ViT's class token) is a gather of one window at a constant index once
    the batch axis is symbolic: a Slice, then a Squeeze of the indexed axis."""
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    model = _Indexing()
    v = model.init(jax.random.key(0), x)
    path = jo.export(model, v, x, tmp_path / "indexing.onnx")
    x4 = np.random.default_rng(1).standard_normal((4, 5, 3)).astype(np.float32)
    got = _run(path, x4)
    assert [g.shape for g in got] == [(4, 3), (4, 2), (4, 5)]
    for g, w in zip(got, model.apply(v, x4)):
        np.testing.assert_array_equal(g, np.asarray(w))


@pytest.mark.parametrize("rnn_type", ["GRU", "RNN_TANH"])
def test_sequence_first_recurrent_models_export_with_batch_axis_1(rnn_type, tmp_path):
    model = models.RNNModel(rnn_type, ntoken=30, ninp=8, nhid=8, nlayers=2)
    x = _inputs(model, 2)  # (35, 2) token ids
    v = model.init(jax.random.key(0), x)
    path = jo.export(model, v, x, tmp_path / "rnn.onnx", batch_axis=1)
    x5 = np.random.default_rng(5).integers(0, 30, (35, 5)).astype(np.int32)
    for got, want in zip(_run(path, x5), jax.tree_util.tree_leaves(model.apply(v, x5))):
        _close(got, want, rnn_type)


def test_cli_exports_a_sequence_first_model_from_its_torch_twin(tmp_path, capsys):
    """The word-language TransformerModel takes (T, N) tokens: the CLI finds the batch axis
    from example_input and the file runs at any batch size, matching the torch twin."""
    torch = pytest.importorskip("torch")
    from jaxnn.compat import torch_models
    from jaxnn.compat.cli import main

    kwargs = {"ntoken": 40, "ninp": 16, "nhead": 2, "nhid": 32, "nlayers": 1, "dropout": 0.0}
    torch.manual_seed(0)
    twin = torch_models.TransformerModel(**kwargs).eval()
    torch.save(twin.state_dict(), tmp_path / "tm.pth")
    argv = ["export", str(tmp_path / "tm.pth"), str(tmp_path / "tm.onnx")]
    argv += ["--model", "TransformerModel", "--model-kwargs", json.dumps(kwargs)]
    assert main(argv) == 0, capsys.readouterr().err
    proto = onnx.load(str(tmp_path / "tm.onnx"))
    assert proto.graph.input[0].type.tensor_type.shape.dim[1].dim_param == "batch"
    x = np.random.default_rng(0).integers(0, 40, (35, 3)).astype(np.int32)
    with torch.no_grad():
        want = twin(torch.from_numpy(x).long()).numpy()
    _close(_run(tmp_path / "tm.onnx", x)[0], want, "torch TransformerModel through ONNX")


def test_batch_axis_is_where_example_inputs_differ():
    from jaxnn.compat.sources import ConversionError

    class TwoAxes(nn.Module):
        def example_input(self, batch_size=1):
            return jax.ShapeDtypeStruct((batch_size, batch_size), jnp.float32)

    assert batch_axis(models.LeNet()) == 0
    assert batch_axis(models.RNNModel("GRU", 10, 4, 4, 1)) == 1
    assert batch_axis(nn.Linear(2, 3)) == 0  # no example_input: axis 0
    with pytest.raises(ConversionError, match=r"TwoAxes.example_input: batch sizes 1 and 2"):
        batch_axis(TwoAxes())
