"""jaxnn.parallel: DataParallel's placement and FullyShardedDataParallel (sharded parameters
and optimizer state) against replicated training on 4 simulated devices."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn as nn
from jaxnn import optim
from jaxnn.data import DataLoader
from jaxnn.parallel import DataParallel, FullyShardedDataParallel, shard_axis
from jaxnn.train import TrainState

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("shape", "parts", "min_size", "axis"),
    [
        ((400, 120), 4, 1024, 0),  # both divide: the larger
        ((120, 400), 4, 1024, 1),
        ((84, 10), 4, 1, 0),  # only 84 divides
        ((5, 5, 6, 16), 4, 1024, 3),  # a conv kernel (HWIO): its output channels
        ((64, 64), 4, 1024, 0),  # equal: the first
        ((120,), 4, 1024, None),  # small: replicated
        ((3, 1023), 4, 1, None),  # no dimension divides
        ((), 4, 1, None),  # a scalar (the step count)
        ((2048,), 1, 1024, 0),  # one device: everything "divides"
    ],
)
def test_shard_axis(shape, parts, min_size, axis):
    assert shard_axis(shape, parts, min_size) == axis


def test_one_process_placement_and_errors():
    dp, fsdp = DataParallel(jax.devices()[:1]), FullyShardedDataParallel(jax.devices()[:1])
    assert repr(fsdp) == "FullyShardedDataParallel(devices=1, processes=1, min_size=1024)"
    with pytest.raises(ValueError, match="min_size must be >= 1, got 0"):
        FullyShardedDataParallel(min_size=0)
    state = TrainState.create(nn.Linear(6, 3), optim.Adam(1e-3), jnp.ones((2, 6)))
    placed = fsdp.place(state)
    assert placed.params["kernel"].sharding == fsdp.sharding(placed.params["kernel"])
    # Adam's moments are two copies of the parameters, its count one int32
    held = fsdp.bytes_per_device(placed.opt_state)
    assert held == {jax.devices()[0]: 2 * (6 * 3 + 3) * 4 + 4}
    # with one process a loader sharded for several cannot be fed
    x = np.ones((8, 6), np.float32)
    assert dp.loader_is_per_process(DataLoader(x, batch_size=4)) is False
    sharded = DataLoader(x, batch_size=4, drop_last=True, num_shards=2, shard_index=1)
    with pytest.raises(ValueError, match=r"num_shards=2, shard_index=1 in process 0 of 1; pass"):
        dp.loader_is_per_process(sharded)


FOUR_DEVICES = textwrap.dedent("""
    import contextlib, importlib.util, io, json, sys
    import jax, numpy as np
    import jaxnn as nn
    from jaxnn import optim
    from jaxnn.losses import CrossEntropyLoss
    from jaxnn.train import (DataParallel, FullyShardedDataParallel, TrainState,
                             init_metrics, make_train_step, summarize)

    assert jax.device_count() == 4, jax.devices()

    class Net(nn.Module):
        def setup(self):
            self.conv = nn.Conv2d(1, 8, 3)
            self.fc1 = nn.Linear(8 * 6 * 6, 128, bias=False)
            self.bn = nn.BatchNorm1d(128)
            self.fc2 = nn.Linear(128, 10)

        def __call__(self, x):
            x = nn.functional.flatten(nn.functional.relu(self.conv(x)), 1)
            return self.fc2(nn.functional.relu(self.bn(self.fc1(x))))

    rng = np.random.default_rng(0)
    data = [(rng.standard_normal((16, 1, 8, 8)).astype(np.float32),
             rng.integers(0, 10, 16).astype(np.int32)) for _ in range(6)]
    tx = optim.Adam(1e-2, weight_decay=1e-4)
    out = {}
    for name, parallel in (("dp", DataParallel()), ("fsdp", FullyShardedDataParallel())):
        model = Net()
        state = parallel.place(TrainState.create(model, tx, data[0][0]))
        step = make_train_step(model, CrossEntropyLoss(), tx, parallel=parallel)
        losses = []
        for batch in data:
            state, metrics = step(state, init_metrics(), parallel.shard_batch(batch))
            losses.append(summarize(metrics)["loss"])
        kernel = state.params["fc1"]["kernel"]
        out[name] = {
            "losses": losses,
            "compiled": step._cache_size(),
            "state": [np.asarray(a).ravel().tolist() for a in jax.tree_util.tree_leaves(
                (state.params, state.opt_state, state.batch_stats))],
            "spec": {k: str(state.params[k]["kernel"].sharding.spec)
                     for k in ("conv", "fc1", "fc2")},
            # every leaf shaped like fc1's kernel: the kernel and Adam's two moments
            "fc1_like": sorted(str(a.sharding.spec) for a in jax.tree_util.tree_leaves(state)
                               if a.shape == kernel.shape),
            "shard": list(kernel.addressable_shards[0].data.shape),
            "bytes": {k: [max(parallel.bytes_per_device(t).values()),
                          sum(a.nbytes for a in jax.tree_util.tree_leaves(t))]
                      for k, t in (("params", state.params), ("optimizer", state.opt_state))},
        }

    # created in place (no device holds the whole state) equals created, then placed
    def make():
        return TrainState.create(Net(), tx, data[0][0], seed=1)

    born, placed = parallel.create(make), parallel.place(make())
    out["create"] = [(str(a.sharding.spec), bool(np.array_equal(a, b)))
                     for a, b in zip(jax.tree_util.tree_leaves(born),
                                     jax.tree_util.tree_leaves(placed))
                     if a.sharding == b.sharding]

    spec = importlib.util.spec_from_file_location("train_example", sys.argv[1])
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        example.main(["--fsdp", "--epochs", "1", "--no-progress"])
    out["example"] = printed.getvalue().splitlines()
    print(json.dumps(out))
""")


@pytest.mark.slow
def test_fully_sharded_trains_like_replicated_on_a_quarter_of_the_bytes():
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
        "JAX_PLATFORMS": "cpu",
    }
    proc = subprocess.run(
        [sys.executable, "-c", FOUR_DEVICES, str(ROOT / "examples" / "train.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    dp, fsdp = out["dp"], out["fsdp"]
    # the same trajectory: per-step losses and every parameter, moment and statistic
    np.testing.assert_allclose(fsdp["losses"], dp["losses"], atol=1e-5, rtol=0)
    for a, b in zip(fsdp["state"], dp["state"]):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
    assert fsdp["compiled"] == dp["compiled"] == 1
    # each leaf split along its largest divisible dimension; small ones replicated
    assert dp["spec"] == {"conv": "P()", "fc1": "P()", "fc2": "P()"}
    assert fsdp["spec"] == {"conv": "P()", "fc1": "P('data',)", "fc2": "P('data',)"}
    assert fsdp["fc1_like"] == ["P('data',)"] * 3 and fsdp["shard"] == [72, 128]
    for kind in ("params", "optimizer"):
        most, total = fsdp["bytes"][kind]
        assert dp["bytes"][kind] == [total, total]
        assert 0.25 <= most / total <= 0.27, (kind, most, total)
    # FullyShardedDataParallel.create: same shardings (else filtered out) and values
    assert len(out["create"]) == len(fsdp["state"]) + 2  # + the step and the rng
    assert all(equal for _, equal in out["create"])
    assert ["P('data',)", True] in out["create"]  # JSON: lists
    # the example prints the same measurement, and reports it in its JSON line
    lines = out["example"]
    assert any(line.startswith("param bytes: 246,824 in all, 65,") for line in lines), lines
    result = json.loads(lines[-1])
    assert result["devices"] == 4 and result["processes"] == 1
    for kind in ("param", "optimizer"):
        share = result[f"{kind}_bytes_per_device"] / result[f"{kind}_bytes"]
        assert 0.25 <= share <= 0.27, (kind, share)
