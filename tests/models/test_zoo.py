"""jaxnn's model zoo against torchvision's own model code (imported through
jaxnn.compat.torchvision_models): every builder gives torchvision's state_dict keys and
shapes; one model per family computes torchvision's outputs with weights moved either
way, in eval mode and in train mode (BatchNorm statistics included).

Tolerance (float32): max abs error <= 1e-4 * max(1, max |torchvision output|) on outputs
and running statistics.
"""

from __future__ import annotations

import contextlib
import functools
import importlib

import jax
import numpy as np
import pytest
import torch
from conftest import load_torch

import jaxnn as nn
from jaxnn import introspect, ops
from jaxnn import models as jm
from jaxnn.compat import flax_to_torch, parity, torch_to_flax
from jaxnn.compat import torchvision_models as tvm

RTOL = 1e-4

TV = tvm.models()
# torchvision's builders that jaxnn provides (the list and their siblings)
ZOO = sorted(set(jm.list_models()) & set(TV.list_models()))
REQUIRED = {
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
    "wide_resnet50_2", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn",
    "vgg19", "vgg19_bn", "alexnet", "squeezenet1_0", "squeezenet1_1", "densenet121",
    "shufflenet_v2_x1_0", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large",
    "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3", "regnet_y_400mf",
    "convnext_tiny", "vit_b_16",
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
    "mobilenet_v2": 64,
    "mobilenet_v3_small": 64,
    "efficientnet_b0": 64,
    "regnet_y_400mf": 64,
    "convnext_tiny": 32,
    "vit_b_16": 32,
}
# builder arguments a model needs for its NUMERIC input size (ViT's image_size is fixed)
SIZED = {"vit_b_16": {"image_size": 32}}


def _kwargs(name: str, **more) -> dict:
    """The arguments both sides build the NUMERIC model ``name`` with."""
    return {"num_classes": 10, **SIZED.get(name, {}), **more}


def test_the_zoo_has_torchvisions_names():
    assert REQUIRED <= set(ZOO), REQUIRED - set(ZOO)
    for name in ZOO:
        with pytest.raises(ValueError, match="jaxnn does not download pretrained weights"):
            jm.get_model(name, weights="DEFAULT")


@contextlib.contextmanager
def _meta_device():
    """Build torchvision models on the meta device (nothing allocated). RegNet's
    BlockParams reads its stage widths back from tensors: those it computes on the CPU."""
    params = importlib.import_module("torchvision.models.regnet").BlockParams
    original = params.from_init_params

    def on_cpu(*args, **kwargs):
        with torch.device("cpu"):
            return original(*args, **kwargs)

    params.from_init_params = on_cpu
    try:
        with torch.device("meta"):
            yield
    finally:
        params.from_init_params = original


@pytest.mark.parametrize("name", ZOO)
def test_keys_and_shapes_equal_torchvisions(name):
    """Abstract variables (nothing allocated) against torchvision's meta-device model, on
    the model's own example input (ViTs take one image size only)."""
    with _meta_device():
        theirs = {
            k: tuple(t.shape) for k, t in tvm.get_model(name, num_classes=10).state_dict().items()
        }
    model = jm.get_model(name, num_classes=10)
    x = model.example_input(1)
    ours = introspect.state_dict(jax.eval_shape(model.init, jax.random.key(0), x))
    assert {k: tuple(a.shape) for k, a in ours.items()} == theirs


def _randomize_constants(model: torch.nn.Module, seed: int) -> None:
    """Random BatchNorm statistics and affine parameters; every other constant parameter
    (zero heads and class tokens, ConvNeXt's 1e-6 layer scales, LayerNorm's ones and
    zeros, zero biases) N(its value, 0.1^2), so that no part of the model is left out of
    the comparison."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
        for p in model.parameters():
            if p.numel() > 1 and bool((p == p.flatten()[0]).all()):
                p.add_(torch.randn(p.shape, generator=gen) * 0.1)


@functools.cache
def _case(name: str):
    torch.manual_seed(0)
    theirs = tvm.get_model(name, **_kwargs(name)).eval()
    _randomize_constants(theirs, 1)
    model = jm.get_model(name, **_kwargs(name))
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
    with _meta_device():
        twin = tvm.get_model(name, **_kwargs(name))
    twin.load_state_dict(flax_to_torch(mine), strict=True, assign=True)
    _close(apply(mine, x), _forward(twin.eval(), x), f"{name} jaxnn weights")


# dropout masks cannot match across frameworks: train mode is compared without it
NO_DROPOUT = {
    "alexnet": {"dropout": 0.0},
    "vgg11_bn": {"dropout": 0.0},
    "squeezenet1_1": {"dropout": 0.0},
    "mobilenet_v2": {"dropout": 0.0},
    "mobilenet_v3_small": {"dropout": 0.0},
    "efficientnet_b0": {"dropout": 0.0, "stochastic_depth_prob": 0.0},
    "convnext_tiny": {"stochastic_depth_prob": 0.0},
    "vit_b_16": {"dropout": 0.0, "attention_dropout": 0.0},
}


@pytest.mark.parametrize("name", list(NUMERIC))
def test_train_mode_and_running_statistics_equal_torchvisions(name):
    _, theirs, x, template, _ = _case(name)
    kwargs = _kwargs(name, **NO_DROPOUT.get(name, {}))
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


# small configurations of the classes, built alike from torchvision's module and jaxnn's
SMALL = {
    "mobilenetv2": lambda m: m.MobileNetV2(
        10, inverted_residual_setting=[[1, 16, 1, 1], [6, 24, 2, 2]]
    ),
    "mobilenetv3": lambda m: m.MobileNetV3(
        [
            m.InvertedResidualConfig(16, 3, 16, 16, True, "RE", 2, 1, 1.0),
            m.InvertedResidualConfig(16, 5, 72, 24, True, "HS", 1, 1, 1.0),
        ],
        128,
        num_classes=10,
    ),
    "efficientnet": lambda m: m.EfficientNet(
        [m.MBConvConfig(1, 3, 1, 32, 16, 1), m.MBConvConfig(6, 5, 2, 16, 24, 2)],
        0.2,
        num_classes=10,
    ),
    "regnet": lambda m: m.RegNet(
        m.BlockParams.from_init_params(3, 24, 24.48, 2.54, 8, se_ratio=0.25), num_classes=10
    ),
    "convnext": lambda m: m.ConvNeXt(
        [m.CNBlockConfig(16, 32, 2), m.CNBlockConfig(32, None, 1)], num_classes=10
    ),
    "vision_transformer": lambda m: m.VisionTransformer(32, 8, 2, 2, 32, 64, num_classes=10),
    # the other stem and heads: a convolutional stem and a pre_logits layer
    "vision_transformer/conv_stem": lambda m: m.VisionTransformer(
        32,
        4,
        1,
        2,
        32,
        64,
        num_classes=10,
        representation_size=24,
        conv_stem_configs=[m.ConvStemConfig(8, 3, 2), m.ConvStemConfig(16, 3, 2)],
    ),
}


@pytest.mark.parametrize("case", list(SMALL))
def test_initialisation_is_torchvisions(case):
    """Every tensor drawn as torchvision draws it: constants equal; random tensors of n
    draws with torchvision's standard deviation (ratio within 5 / sqrt(n) of 1) and mean
    (within 5 std / sqrt(n)), several standard errors of comparing two samples: another
    initialiser (fan, gain, torch's default) fails, a fair draw passes."""
    torch.manual_seed(0)
    family = case.partition("/")[0]
    theirs = SMALL[case](importlib.import_module(f"torchvision.models.{family}")).state_dict()
    model = SMALL[case](importlib.import_module(f"jaxnn.models.{family}"))
    x = np.zeros((1, 3, 32, 32), np.float32)
    ours = introspect.state_dict(jax.jit(model.init)(jax.random.key(0), x))
    assert set(ours) == set(theirs)
    for key, want in theirs.items():
        got, want = np.asarray(ours[key], np.float64), want.numpy().astype(np.float64)
        assert got.shape == want.shape, key
        if want.std() == 0:
            assert np.array_equal(got, want), key
            continue
        bound = 5 / np.sqrt(want.size)
        assert abs(got.std() / want.std() - 1) <= bound, (key, got.std(), want.std())
        assert abs(got.mean() - want.mean()) <= bound * want.std(), (key, got.mean(), want.mean())


def test_stochastic_depth_drops_the_residual_branch_in_train_mode():
    """An MBConv block whose branch is always dropped (p=1) returns its input in train
    mode (a 'dropout' rng given), as torchvision's does; in eval mode it adds the branch."""
    from jaxnn.models import efficientnet

    ours = efficientnet.MBConv(efficientnet.MBConvConfig(4, 3, 1, 8, 8, 1), 1.0, nn.BatchNorm2d)
    tv = importlib.import_module("torchvision.models.efficientnet")
    theirs = tv.MBConv(tv.MBConvConfig(4, 3, 1, 8, 8, 1), 1.0, torch.nn.BatchNorm2d)
    x = np.random.default_rng(0).standard_normal((2, 8, 5, 5)).astype(np.float32)
    v = ours.init(jax.random.key(0), x)
    out, _ = ours.apply(v, x, rngs={"dropout": jax.random.key(1)}, mutable=["batch_stats"])
    np.testing.assert_array_equal(np.asarray(out), x)
    np.testing.assert_array_equal(_forward(theirs.train(), x), x)
    eval_out = ours.apply(v, x)
    _close(eval_out, _forward(load_torch(theirs, v).eval(), x), "MBConv eval")
    assert np.max(np.abs(np.asarray(eval_out) - x)) > 1e-3  # the branch is there in eval mode


@pytest.mark.parametrize("case", ["convnext", "vision_transformer/conv_stem"])
def test_every_layer_is_torchvisions_under_its_torch_path(case):
    """jaxnn.compat.parity's per-layer comparison (what ``jaxnn-compat verify`` prints)
    pairs every module call by torch path (LayerNorm2d and the ViT's dropouts included)
    and finds each within tolerance. jaxnn's MultiheadAttention calls its ``out_proj``
    as a layer where torch reads its weights in a fused kernel: the one jaxnn-only path."""
    family = case.partition("/")[0]
    model = SMALL[case](importlib.import_module(f"jaxnn.models.{family}"))
    theirs = SMALL[case](importlib.import_module(f"torchvision.models.{family}"))
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    variables = _random_like(jax.eval_shape(model.init, jax.random.key(0), x), seed=2)
    report = parity.compare(model, variables, theirs, x, load_weights=True, atol=RTOL)
    assert report.ok, str(report)
    assert report.only_torch == []
    assert all(path.endswith("self_attention.out_proj") for path in report.only_jax)
    assert len(report.rows) > 10


# residual blocks whose branch is always dropped in train mode: ConvNeXt's by stochastic
# depth, ViT's by dropout after the attention and in the MLP; (block, input shape)
ALWAYS_DROPPED = {
    "convnext": (lambda m: m.CNBlock(8, 0.5, 1.0), (2, 8, 5, 5)),
    "vision_transformer": (lambda m: m.EncoderBlock(2, 8, 16, 1.0, 0.0), (2, 5, 8)),
}


@pytest.mark.parametrize("family", list(ALWAYS_DROPPED))
def test_dropout_and_stochastic_depth_act_in_train_mode(family):
    """In train mode (a 'dropout' rng given) the block returns its input, as
    torchvision's does; in eval mode it computes torchvision's output."""
    build, shape = ALWAYS_DROPPED[family]
    ours = build(importlib.import_module(f"jaxnn.models.{family}"))
    theirs = build(importlib.import_module(f"torchvision.models.{family}"))
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    v = ours.init(jax.random.key(0), x)
    np.testing.assert_array_equal(ours.apply(v, x, rngs={"dropout": jax.random.key(1)}), x)
    np.testing.assert_array_equal(_forward(theirs.train(), x), x)
    eval_out = ours.apply(v, x)
    _close(eval_out, _forward(load_torch(theirs, v).eval(), x), f"{family} block eval")
    assert np.max(np.abs(np.asarray(eval_out) - x)) > 1e-3  # the branch is there in eval mode


@pytest.mark.parametrize("name", ["convnext_tiny", "efficientnet_b0"])
def test_stochastic_depth_grows_over_the_blocks_as_torchvisions(name):
    """Each block's drop probability (torchvision's builder default) is torchvision's;
    jaxnn's EfficientNet blocks without a residual never call theirs (torchvision's hold
    one), so the blocks compared are those that use it."""
    with _meta_device():
        twin = tvm.get_model(name)
    sd = importlib.import_module("torchvision.ops").StochasticDepth
    theirs = {k: m.p for k, m in twin.named_modules() if isinstance(m, sd)}
    model = jm.get_model(name)
    x = model.example_input(1)
    variables = jax.eval_shape(model.init, jax.random.key(0), x)
    modules = introspect.named_modules(model, variables, x)
    ours = {k: m.p for k, m in modules.items() if isinstance(m, ops.StochasticDepth)}
    assert set(ours) <= set(theirs)
    assert ours == pytest.approx({k: theirs[k] for k in ours}, abs=1e-12)
    assert len(set(ours.values())) > 1


# what each family refuses, and the message (torchvision's own, checked on both sides);
# the error type, or a pair (torchvision's, jaxnn's) where torchvision asserts
BAD = [
    ("mobilenetv2", lambda m: m.MobileNetV2(inverted_residual_setting=[[1, 16, 1]]), ValueError,
     "inverted_residual_setting should be non-empty or a 4-element list"),
    ("mobilenetv2", lambda m: m.InvertedResidual(16, 16, 3, 6), ValueError,
     "stride should be 1 or 2 instead of 3"),
    ("mobilenetv3", lambda m: m.MobileNetV3([], 128), ValueError,
     "The inverted_residual_setting should not be empty"),
    ("mobilenetv3", lambda m: m.MobileNetV3([(16, 3, 16, 16)], 128), TypeError,
     r"The inverted_residual_setting should be List\[InvertedResidualConfig\]"),
    ("mobilenetv3",
     lambda m: m.InvertedResidual(
         m.InvertedResidualConfig(16, 3, 16, 16, True, "RE", 3, 1, 1.0), None),
     ValueError, "illegal stride value"),
    ("efficientnet", lambda m: m.EfficientNet([], 0.2), ValueError,
     "The inverted_residual_setting should not be empty"),
    ("efficientnet", lambda m: m.EfficientNet([(1, 3, 1, 32, 16, 1)], 0.2), TypeError,
     r"The inverted_residual_setting should be List\[MBConvConfig\]"),
    ("efficientnet", lambda m: m.MBConv(m.MBConvConfig(1, 3, 3, 32, 16, 1), 0.0, None),
     ValueError, "illegal stride value"),
    ("regnet", lambda m: m.BlockParams.from_init_params(16, 50, 27.89, 2.09, 8), ValueError,
     "Invalid RegNet settings"),
    ("regnet", lambda m: m.BlockParams.from_init_params(16, 48, 27.89, 1.0, 8), ValueError,
     "Invalid RegNet settings"),
    ("convnext", lambda m: m.ConvNeXt([]), ValueError, "The block_setting should not be empty"),
    ("convnext", lambda m: m.ConvNeXt([(96, 192, 3)]), TypeError,
     r"The block_setting should be List\[CNBlockConfig\]"),
    ("vision_transformer", lambda m: m.VisionTransformer(30, 16, 1, 2, 8, 16),
     (AssertionError, ValueError), "Input shape indivisible by patch size!"),
    ("vision_transformer", lambda m: m.vit_b_16(num_layers=2), TypeError,
     "got multiple values for keyword argument 'num_layers'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("family", "build", "error", "match"), BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)]
)
def test_bad_arguments_are_refused_as_torchvision_refuses_them(family, build, error, match):
    theirs_error, ours_error = error if isinstance(error, tuple) else (error, error)
    with pytest.raises(theirs_error, match=match):
        build(importlib.import_module(f"torchvision.models.{family}"))
    with pytest.raises(ours_error, match=match):
        build(importlib.import_module(f"jaxnn.models.{family}"))


@pytest.mark.parametrize(("shape", "match"), [
    ((1, 3, 64, 32), "Wrong image height! Expected 32 but got 64!"),
    ((1, 3, 32, 16), "Wrong image width! Expected 32 but got 16!"),
])  # fmt: skip
def test_a_vit_refuses_images_of_another_size(shape, match):
    """torchvision asserts the image size when it runs; jaxnn raises ValueError when the
    model is traced (init or apply), with torchvision's message."""
    tv = importlib.import_module("torchvision.models.vision_transformer")
    with pytest.raises(AssertionError, match=match):
        tv.VisionTransformer(32, 8, 1, 2, 8, 16)(torch.zeros(shape))
    model = jm.VisionTransformer(32, 8, 1, 2, 8, 16)
    with pytest.raises(ValueError, match=match):
        jax.eval_shape(model.init, jax.random.key(0), jax.ShapeDtypeStruct(shape, np.float32))
