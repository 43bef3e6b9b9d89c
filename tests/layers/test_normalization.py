"""LayerNorm, RMSNorm, GroupNorm, InstanceNorm1d/2d, LocalResponseNorm and their F.* forms
against torch: forward and gradients (input, weight, bias) over the options, running
statistics over train steps, repr and every error. Tolerance: 1e-5 abs on outputs and
input gradients, 1e-4 on parameter gradients (sums over the batch)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from conftest import assert_close, load_torch, to_numpy

import jaxnn as nn
import jaxnn.functional as F

ATOL, GRAD_ATOL = 1e-5, 1e-4


def randomized(variables, seed=1):
    """The variables with every parameter drawn at random (non-trivial affine terms)."""
    rng = np.random.default_rng(seed)
    params = jax.tree_util.tree_map(
        lambda a: jnp.asarray(rng.uniform(0.5, 1.5, a.shape).astype(np.float32)),
        variables.get("params", {}),
    )
    return {**variables, "params": params}


def check_forward_and_grad(layer, ref, x):
    """Outputs and the gradients of sum(sin(y) * r) for input and parameters."""
    v = randomized(layer.init(jax.random.key(0), x))
    ref = load_torch(ref, v)
    r = np.random.default_rng(2).standard_normal(x.shape).astype(np.float32)

    def loss(params, x):
        return jnp.sum(jnp.sin(layer.apply({**v, "params": params}, x)) * r)

    # one compiled function: far faster than dispatching each operation on its own
    y, (g, gx) = jax.jit(
        lambda p, x: (layer.apply({**v, "params": p}, x), jax.grad(loss, argnums=(0, 1))(p, x))
    )(v["params"], x)
    xt = torch.from_numpy(x).requires_grad_()
    yt = ref(xt)
    (torch.sin(yt) * torch.from_numpy(r)).sum().backward()
    assert_close(y, to_numpy(yt), ATOL, what="output")
    assert_close(gx, to_numpy(xt.grad), ATOL, what="input grad")
    names = {"scale": "weight", "bias": "bias"}
    for name, grad in g.items():
        assert_close(grad, to_numpy(getattr(ref, names[name]).grad), GRAD_ATOL, what=name)


LAYER_NORM = [
    dict(normalized_shape=8),
    dict(normalized_shape=(3, 8)),
    dict(normalized_shape=[8], eps=1e-3),
    dict(normalized_shape=8, elementwise_affine=False),
    dict(normalized_shape=8, bias=False),
]


@pytest.mark.parametrize("kwargs", LAYER_NORM, ids=str)
def test_layer_norm(kwargs, rng):
    x = (rng.standard_normal((2, 3, 8)) * 3 + 1).astype(np.float32)
    check_forward_and_grad(nn.LayerNorm(**kwargs), torch.nn.LayerNorm(**kwargs), x)
    assert repr(nn.LayerNorm(**kwargs)) == repr(torch.nn.LayerNorm(**kwargs))


RMS_NORM = [
    dict(normalized_shape=8),
    dict(normalized_shape=(3, 8), eps=1e-3),
    dict(normalized_shape=8, elementwise_affine=False),
]


@pytest.mark.parametrize("kwargs", RMS_NORM, ids=str)
def test_rms_norm(kwargs, rng):
    x = (rng.standard_normal((2, 3, 8)) * 3 + 1).astype(np.float32)
    check_forward_and_grad(nn.RMSNorm(**kwargs), torch.nn.RMSNorm(**kwargs), x)
    assert repr(nn.RMSNorm(**kwargs)) == repr(torch.nn.RMSNorm(**kwargs))


GROUP_NORM = [
    (dict(num_groups=1, num_channels=6), (2, 6, 5)),
    (dict(num_groups=3, num_channels=6), (2, 6, 4, 3)),
    (dict(num_groups=6, num_channels=6, eps=1e-3), (2, 6, 4)),
    (dict(num_groups=2, num_channels=6, affine=False), (2, 6, 2, 2, 2)),
    (dict(num_groups=2, num_channels=6, bias=False), (3, 6)),
]


@pytest.mark.parametrize(("kwargs", "shape"), GROUP_NORM, ids=str)
def test_group_norm(kwargs, shape, rng):
    x = (rng.standard_normal(shape) * 2 - 1).astype(np.float32)
    check_forward_and_grad(nn.GroupNorm(**kwargs), torch.nn.GroupNorm(**kwargs), x)
    assert repr(nn.GroupNorm(**kwargs)) == repr(torch.nn.GroupNorm(**kwargs))


INSTANCE_NORM = [
    (nn.InstanceNorm1d, torch.nn.InstanceNorm1d, dict(num_features=4), (2, 4, 7)),
    (nn.InstanceNorm1d, torch.nn.InstanceNorm1d, dict(num_features=4, affine=True), (4, 7)),
    (nn.InstanceNorm2d, torch.nn.InstanceNorm2d, dict(num_features=4, affine=True), (2, 4, 3, 5)),
    (nn.InstanceNorm2d, torch.nn.InstanceNorm2d, dict(num_features=4, eps=1e-3), (4, 3, 5)),
]


@pytest.mark.parametrize(("cls", "ref", "kwargs", "shape"), INSTANCE_NORM, ids=str)
def test_instance_norm(cls, ref, kwargs, shape, rng):
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(np.float32)
    check_forward_and_grad(cls(**kwargs), ref(**kwargs), x)
    assert repr(cls(**kwargs)) == repr(ref(**kwargs))


@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
@pytest.mark.parametrize("affine", [False, True])
def test_instance_norm_running_stats(momentum, affine, rng):
    kwargs = dict(num_features=3, momentum=momentum, affine=affine, track_running_stats=True)
    layer, ref = nn.InstanceNorm2d(**kwargs), torch.nn.InstanceNorm2d(**kwargs)
    xs = [(rng.standard_normal((2, 3, 4, 4)) * (i + 1) + i).astype(np.float32) for i in range(3)]
    v = layer.init(jax.random.key(0), xs[0])
    assert set(v["batch_stats"]) == {"mean", "var", "num_batches_tracked"}
    ref = load_torch(ref, v).train()
    for x in xs:  # train mode: instance statistics, running ones updated
        y, updates = layer.apply(v, x, mutable=["batch_stats"])
        v = {**v, **updates}
        assert_close(y, to_numpy(ref(torch.from_numpy(x))), ATOL, what="train output")
    assert_close(v["batch_stats"]["mean"], to_numpy(ref.running_mean), ATOL, what="mean")
    assert_close(v["batch_stats"]["var"], to_numpy(ref.running_var), ATOL, what="var")
    assert int(v["batch_stats"]["num_batches_tracked"]) == int(ref.num_batches_tracked) == 0
    ref.eval()  # eval mode: the running statistics
    assert_close(layer.apply(v, xs[0]), to_numpy(ref(torch.from_numpy(xs[0]))), ATOL)


LRN = [
    (dict(size=1), (2, 6, 5)),
    (dict(size=2), (2, 6, 4, 3)),
    (dict(size=3, alpha=0.1, beta=0.5, k=2.0), (1, 6, 2, 3, 2)),
    (dict(size=5), (2, 6, 5)),
]


@pytest.mark.parametrize(("kwargs", "shape"), LRN, ids=str)
def test_local_response_norm(kwargs, shape, rng):
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    layer, ref = nn.LocalResponseNorm(**kwargs), torch.nn.LocalResponseNorm(**kwargs)
    xt = torch.from_numpy(x).requires_grad_()
    yt = ref(xt)
    torch.sin(yt).sum().backward()
    _, gx = jax.jit(jax.value_and_grad(lambda x: jnp.sum(jnp.sin(layer.apply({}, x)))))(x)
    assert_close(layer.apply({}, x), to_numpy(yt), ATOL)
    assert_close(gx, to_numpy(xt.grad), ATOL, what="input grad")
    assert repr(layer) == repr(ref)


def test_functional_forms_match_torch(rng):
    tf = torch.nn.functional
    x = (rng.standard_normal((2, 6, 4, 5)) * 2 + 1).astype(np.float32)
    w5, b5 = rng.standard_normal(5).astype(np.float32), rng.standard_normal(5).astype(np.float32)
    w6, b6 = rng.standard_normal(6).astype(np.float32), rng.standard_normal(6).astype(np.float32)
    mean, var = rng.standard_normal(6).astype(np.float32), rng.uniform(0.5, 2, 6).astype(np.float32)
    t = torch.from_numpy
    pairs = [
        (F.layer_norm(x, 5, w5, b5, 1e-3), tf.layer_norm(t(x), (5,), t(w5), t(b5), 1e-3)),
        (F.layer_norm(x, (4, 5)), tf.layer_norm(t(x), (4, 5))),
        (F.rms_norm(x, 5, w5), tf.rms_norm(t(x), (5,), t(w5))),
        (F.rms_norm(x, [4, 5], eps=0.1), tf.rms_norm(t(x), [4, 5], eps=0.1)),
        (F.group_norm(x, 3, w6, b6), tf.group_norm(t(x), 3, t(w6), t(b6))),
        (F.instance_norm(x, weight=w6, bias=b6), tf.instance_norm(t(x), weight=t(w6), bias=t(b6))),
        (
            F.instance_norm(x, mean, var, use_input_stats=False),
            tf.instance_norm(t(x), t(mean), t(var), use_input_stats=False),
        ),
        (F.local_response_norm(x, 3, k=2.0), tf.local_response_norm(t(x), 3, k=2.0)),
    ]
    for i, (ours, theirs) in enumerate(pairs):
        assert_close(ours, to_numpy(theirs), ATOL, what=f"pair {i}")


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_layer_norm_computes_in_float32(dtype, rng):
    x = (rng.standard_normal((4, 16)) * 4 + 3).astype(np.float32)
    ours = F.layer_norm(jnp.asarray(x, dtype), 16)
    theirs = torch.nn.functional.layer_norm(torch.from_numpy(x).to(getattr(torch, dtype)), (16,))
    assert ours.dtype == jnp.dtype(dtype)
    assert_close(ours.astype(jnp.float32), to_numpy(theirs.float()), 1e-2)


def test_state_dict_keys_match_torch():
    from jaxnn.compat import flax_to_torch

    for layer, ref, x in [
        (nn.LayerNorm(4), torch.nn.LayerNorm(4), np.ones((2, 4), np.float32)),
        (nn.RMSNorm(4), torch.nn.RMSNorm(4), np.ones((2, 4), np.float32)),
        (nn.GroupNorm(2, 4), torch.nn.GroupNorm(2, 4), np.ones((2, 4, 3), np.float32)),
        (
            nn.InstanceNorm1d(4, affine=True, track_running_stats=True),
            torch.nn.InstanceNorm1d(4, affine=True, track_running_stats=True),
            np.ones((2, 4, 3), np.float32),
        ),
    ]:
        sd = flax_to_torch(layer.init(jax.random.key(0), x))
        assert {k: tuple(t.shape) for k, t in sd.items()} == {
            k: tuple(t.shape) for k, t in ref.state_dict().items()
        }
        assert all(torch.equal(sd[k], ref.state_dict()[k]) for k in sd)  # same init


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: nn.GroupNorm(4, 6), ValueError, r"num_channels \(6\) must be divisible by"),
        (lambda: nn.LayerNorm("8"), TypeError, "normalized_shape must be an int or a sequence"),
        (lambda: nn.LocalResponseNorm(0), ValueError, "size must be positive"),
    ],
)
def test_constructor_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize(
    ("layer", "shape", "match"),
    [
        (nn.LayerNorm(8), (2, 7), r"LayerNorm\(\(8,\).*expected input with shape \[\*, 8\]"),
        (nn.RMSNorm((2, 8)), (2, 3, 8), r"expected input with shape \[\*, 2, 8\], got"),
        (nn.GroupNorm(2, 6), (2, 4, 3), r"expected input of shape \(N, 6, \*\), got \(2, 4, 3\)"),
        (nn.InstanceNorm2d(3), (3, 4), r"expected input of shape \(N, 3, H, W\) or"),
        (
            nn.InstanceNorm1d(3, affine=True),
            (2, 4, 5),
            r"expected input's size at dim=1 to match num_features \(3\), but got: 4",
        ),
        (nn.InstanceNorm1d(3), (2, 3, 1), "expected more than 1 spatial element when training"),
        (nn.LocalResponseNorm(2), (2, 3), r"expected 3D or higher dimensionality input"),
    ],
)
def test_call_errors_name_the_layer_and_shapes(layer, shape, match):
    with pytest.raises(ValueError, match=match):
        layer.init(jax.random.key(0), jnp.ones(shape))


def test_instance_norm_warns_like_torch_when_num_features_is_unused():
    with pytest.warns(UserWarning, match=r"input's size at dim=1 does not match num_features"):
        nn.InstanceNorm1d(3).init(jax.random.key(0), jnp.ones((2, 4, 5)))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: F.layer_norm(jnp.ones((2, 4)), 4, jnp.ones(3)),
            ValueError,
            r"layer_norm: expected weight of shape \(4,\), got \(3,\)",
        ),
        (
            lambda: F.group_norm(jnp.ones((2, 4, 3)), 3),
            ValueError,
            r"group_norm: input has 4 channels .* which 3 groups do not divide",
        ),
        (
            lambda: F.instance_norm(jnp.ones((2, 4)), None, None),
            ValueError,
            "instance_norm: expected input of shape \\(N, C, \\*\\) with a spatial axis",
        ),
        (
            lambda: F.instance_norm(jnp.ones((2, 4, 3)), use_input_stats=False),
            ValueError,
            "running_mean and running_var are required when use_input_stats=False",
        ),
        (
            lambda: F.rms_norm(jnp.ones((2, 4)), 4, jnp.ones(2)),
            ValueError,
            r"rms_norm: expected weight of shape \(4,\)",
        ),
    ],
)
def test_functional_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()
