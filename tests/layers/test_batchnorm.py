"""nn.BatchNorm1d/2d against torch: eval, train steps, running statistics, gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from conftest import assert_close, load_torch, to_numpy

import jaxnn as nn

ATOL = 1e-5

CONFIGS = [
    dict(),
    dict(momentum=0.3, eps=1e-3),
    dict(momentum=None),
    dict(affine=False),
    dict(track_running_stats=False),
    dict(bias=False),
]
SHAPES = {nn.BatchNorm1d: [(8, 5), (6, 5, 7)], nn.BatchNorm2d: [(4, 5, 6, 7)]}
TORCH = {nn.BatchNorm1d: torch.nn.BatchNorm1d, nn.BatchNorm2d: torch.nn.BatchNorm2d}


def _randomized(v, rng):
    """Variables with non-trivial affine parameters and running statistics."""
    v = jax.tree_util.tree_map(np.asarray, v)
    out = {"params": {}, "batch_stats": {}}
    for k, a in v.get("params", {}).items():
        out["params"][k] = (a + rng.standard_normal(a.shape) * 0.5).astype(np.float32)
    for k, a in v.get("batch_stats", {}).items():
        if k == "mean":
            out["batch_stats"][k] = rng.standard_normal(a.shape).astype(np.float32)
        elif k == "var":
            out["batch_stats"][k] = rng.uniform(0.5, 2.0, a.shape).astype(np.float32)
        else:
            out["batch_stats"][k] = np.asarray(7, a.dtype)
    return {k: v for k, v in out.items() if v}


CASES = [(cls, shape, cfg) for cls, shapes in SHAPES.items() for shape in shapes for cfg in CONFIGS]


@pytest.mark.parametrize(("cls", "shape", "cfg"), CASES, ids=str)
def test_eval_and_three_train_steps_match_torch(cls, shape, cfg, rng):
    layer = cls(5, **cfg)
    xs = [(rng.standard_normal(shape) * 2 + 1).astype(np.float32) for _ in range(3)]
    v = _randomized(layer.init(jax.random.key(0), xs[0]), rng)
    ref = load_torch(TORCH[cls](5, **cfg), v)

    ref.eval()
    assert_close(layer.apply(v, xs[0]), to_numpy(ref(torch.from_numpy(xs[0]))), ATOL, what="eval")

    ref.train()
    step = jax.jit(lambda v, x: layer.apply(v, x, mutable=["batch_stats"]))
    for i, x in enumerate(xs):
        y, updates = step(v, x)
        v = {**v, **updates}
        assert_close(y, to_numpy(ref(torch.from_numpy(x))), ATOL, what=f"train step {i}")
    if cfg.get("track_running_stats", True):
        stats = v["batch_stats"]
        assert_close(stats["mean"], to_numpy(ref.running_mean), ATOL, what="running_mean")
        assert_close(stats["var"], to_numpy(ref.running_var), ATOL, what="running_var")
        assert int(stats["num_batches_tracked"]) == int(ref.num_batches_tracked) == 10
    else:
        assert "batch_stats" not in v


def test_train_mode_gradients_match_torch(rng):
    layer = nn.BatchNorm2d(3)
    x = rng.standard_normal((4, 3, 5, 5)).astype(np.float32)
    v = _randomized(layer.init(jax.random.key(0), x), rng)
    ref = load_torch(torch.nn.BatchNorm2d(3), v).train()

    def loss(params, x):
        y, _ = layer.apply({**v, "params": params}, x, mutable=["batch_stats"])
        return jnp.sum(jnp.sin(y) * jnp.arange(5.0).reshape(1, 1, 1, 5))

    g, gx = jax.grad(loss, argnums=(0, 1))(v["params"], x)
    xt = torch.from_numpy(x).requires_grad_()
    (torch.sin(ref(xt)) * torch.arange(5.0)).sum().backward()
    assert_close(gx, to_numpy(xt.grad), 1e-4)
    assert_close(g["scale"], to_numpy(ref.weight.grad), 1e-4)
    assert_close(g["bias"], to_numpy(ref.bias.grad), 1e-4)


def test_init_leaves_running_stats_untouched():
    v = nn.BatchNorm2d(3).init(jax.random.key(0), jnp.full((2, 3, 4, 4), 5.0))
    np.testing.assert_array_equal(v["batch_stats"]["mean"], np.zeros(3))
    np.testing.assert_array_equal(v["batch_stats"]["var"], np.ones(3))
    assert int(v["batch_stats"]["num_batches_tracked"]) == 0


def test_bf16_input_uses_float32_statistics(rng):
    layer = nn.BatchNorm2d(3)
    x = (rng.standard_normal((4, 3, 5, 5)) * 100 + 1000).astype(np.float32)
    v = layer.init(jax.random.key(0), x)
    y, upd = layer.apply(v, jnp.asarray(x, jnp.bfloat16), mutable=["batch_stats"])
    assert y.dtype == jnp.bfloat16 and upd["batch_stats"]["mean"].dtype == jnp.float32
    ref = torch.nn.BatchNorm2d(3).train()(torch.from_numpy(x))
    assert_close(y.astype(jnp.float32), to_numpy(ref), 0.05)


def test_errors():
    with pytest.raises(
        ValueError,
        match=r"BatchNorm2d\(4.*expected input of shape "
        r"\(N, 4, H, W\), got \(2, 3, 5, 5\)",
    ):
        nn.BatchNorm2d(4).init(jax.random.key(0), jnp.ones((2, 3, 5, 5)))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 3\) or \(N, 3, L\)"):
        nn.BatchNorm1d(3).init(jax.random.key(0), jnp.ones((2, 3, 4, 4)))
    layer = nn.BatchNorm1d(3)
    v = layer.init(jax.random.key(0), jnp.ones((1, 3)))
    with pytest.raises(ValueError, match="expected more than 1 value per channel when training"):
        layer.apply(v, jnp.ones((1, 3)), mutable=["batch_stats"])


def test_repr_matches_torch():
    for cfg in CONFIGS:
        assert repr(nn.BatchNorm2d(5, **cfg)) == repr(torch.nn.BatchNorm2d(5, **cfg))
