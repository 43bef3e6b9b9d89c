"""jaxnn.train: compiled steps, fused steps, metrics, NaN guard, data parallel, fit."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn as nn
from jaxnn import optim
from jaxnn.losses import CrossEntropyLoss, MSELoss
from jaxnn.train import (
    DataParallel,
    TrainState,
    evaluate,
    fit,
    init_metrics,
    make_eval_step,
    make_train_step,
    summarize,
)


class Net(nn.Module):
    """Small, but with every kind of state: BatchNorm stats and dropout."""

    def setup(self):
        self.fc1 = nn.Linear(6, 16)
        self.bn = nn.BatchNorm1d(16)
        self.drop = nn.Dropout(0.2)
        self.fc2 = nn.Linear(16, 3)

    def __call__(self, x):
        return self.fc2(self.drop(nn.functional.relu(self.bn(self.fc1(x)))))


def batches(n, batch=8, seed=0):
    """Learnable batches: the class is how many of the first two features are > 0."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        x = rng.standard_normal((batch, 6)).astype(np.float32)
        out.append((x, ((x[:, 0] > 0).astype(np.int32) + (x[:, 1] > 0)).astype(np.int32)))
    return out


@pytest.fixture(scope="module")
def setup():
    model, tx, loss = Net(), optim.SGD(0.1, momentum=0.9), CrossEntropyLoss()
    return model, tx, loss, make_train_step(model, loss, tx)


def fresh(model, tx, seed=0):
    return TrainState.create(model, tx, jnp.ones((8, 6)), seed=seed)


def test_step_trains_updates_stats_and_compiles_once(setup):
    model, tx, loss, step = setup
    state, metrics = fresh(model, tx), init_metrics()
    data = batches(6)
    before = summarize(make_eval_step(model, loss)(state, init_metrics(), data[0]))["loss"]
    for b in data * 3:
        state, metrics = step(state, metrics, b)
    assert step._cache_size() == 1  # same shapes: compiled once
    assert int(state.step) == 18 and int(state.batch_stats["bn"]["num_batches_tracked"]) == 18
    after = summarize(make_eval_step(model, loss)(state, init_metrics(), data[0]))["loss"]
    assert after < before
    s = summarize(metrics)
    assert s["count"] == 18 * 8 and 0.0 <= s["accuracy"] <= 1.0


def test_same_seed_same_run_and_dropout_keys_differ_per_step(setup):
    model, tx, _, step = setup
    runs = []
    for _ in range(2):
        state, metrics = fresh(model, tx), init_metrics()
        for b in batches(4):
            state, metrics = step(state, metrics, b)
        runs.append(state)
    jax.tree_util.tree_map(np.testing.assert_array_equal, runs[0].params, runs[1].params)
    keys = [
        jax.random.key_data(jax.random.fold_in(jax.random.wrap_key_data(runs[0].rng), i))
        for i in range(2)
    ]
    assert not np.array_equal(keys[0], keys[1])


@pytest.mark.parametrize("unroll", [None, False])
def test_fused_steps_equal_single_steps(setup, unroll):
    model, tx, loss, single = setup
    data = batches(8)
    a, ma = fresh(model, tx), init_metrics()
    for b in data:
        a, ma = single(a, ma, b)
    fused = make_train_step(model, loss, tx, steps_per_call=4, unroll=unroll)
    b_state, mb = fresh(model, tx), init_metrics()
    for i in (0, 4):
        stacked = jax.tree_util.tree_map(lambda *xs: np.stack(xs), *data[i : i + 4])
        b_state, mb = fused(b_state, mb, stacked)
    assert int(b_state.step) == 8
    jax.tree_util.tree_map(
        lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-6),
        (a.params, a.batch_stats),
        (b_state.params, b_state.batch_stats),
    )
    np.testing.assert_allclose(summarize(ma)["loss"], summarize(mb)["loss"], rtol=1e-6)


def test_regression_metrics():
    model, tx = nn.Linear(6, 2), optim.Adam(1e-2)
    step = make_train_step(model, MSELoss(), tx, task="regression")
    state, metrics = TrainState.create(model, tx, jnp.ones((4, 6))), init_metrics()
    x, y = np.ones((4, 6), np.float32), np.zeros((4, 2), np.float32)
    out = np.asarray(model.apply(state.variables, x))
    state, metrics = step(state, metrics, (x, y))
    s = summarize(metrics, "regression")
    np.testing.assert_allclose(s["mse"], np.mean(out**2), rtol=1e-5)
    np.testing.assert_allclose(s["loss"], np.mean(out**2), rtol=1e-5)


def test_nonfinite_loss_names_the_step(setup):
    model, tx, loss, _ = setup
    data = batches(5)
    data[3] = (np.full((8, 6), np.nan, np.float32), data[3][1])
    with pytest.raises(FloatingPointError, match=r"NaN or infinite at step 3 \(epoch 0\)"):
        fit(model, fresh(model, tx), data, loss_fn=loss, optimizer=tx, epochs=1, progress=False)


def test_fit_history_writer_and_eval(setup):
    model, tx, loss, _ = setup

    class Writer:
        def __init__(self):
            self.calls = []

        def add_scalar(self, tag, value, step):
            self.calls.append((tag, value, step))

    writer = Writer()
    state, history = fit(
        model,
        fresh(model, tx),
        batches(6),
        loss_fn=loss,
        optimizer=tx,
        epochs=2,
        val_loader=batches(2, seed=1),
        steps_per_call=4,
        writer=writer,
        progress=False,
    )
    assert [h["epoch"] for h in history] == [1, 2] and int(state.step) == 12
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy"} <= set(history[0])
    assert ("val/accuracy", history[1]["val_accuracy"], 2) in writer.calls
    assert evaluate(model, state, batches(2, seed=1), loss) == pytest.approx(
        {"loss": history[1]["val_loss"], "accuracy": history[1]["val_accuracy"], "count": 16}
    )


def test_tensorboardx_writer(tmp_path):
    from jaxnn.train import SummaryWriter

    writer = SummaryWriter(str(tmp_path))
    writer.add_scalar("train/loss", 1.5, 1)
    writer.close()
    assert any(p.name.startswith("events.out.tfevents") for p in tmp_path.iterdir())


def test_data_parallel_errors():
    dp = DataParallel(jax.devices()[:1])
    with pytest.raises(ValueError, match="task must be one of"):
        make_train_step(Net(), CrossEntropyLoss(), optim.SGD(0.1), task="ranking")
    with pytest.raises(ValueError, match="steps_per_call must be >= 1"):
        make_train_step(Net(), CrossEntropyLoss(), optim.SGD(0.1), steps_per_call=0)
    assert dp.shard_batch(np.ones((3, 2))).shape == (3, 2)


MULTI_DEVICE = textwrap.dedent("""
    import json, jax, jax.numpy as jnp, numpy as np
    import jaxnn as nn
    from jaxnn import optim
    from jaxnn.losses import CrossEntropyLoss
    from jaxnn.models import LeNet
    from jaxnn.train import DataParallel, TrainState, fit

    assert jax.device_count() == 4, jax.devices()
    rng = np.random.default_rng(0)
    data = [(rng.standard_normal((8, 3, 32, 32)).astype(np.float32),
             rng.integers(0, 10, 8).astype(np.int32)) for _ in range(4)]
    tx = optim.SGD(0.05, momentum=0.9)
    out = {}
    for n in (1, 4):
        model = LeNet()
        state = TrainState.create(model, tx, data[0][0])
        dp = DataParallel(jax.devices()[:n])
        state, hist = fit(model, state, data, loss_fn=CrossEntropyLoss(), optimizer=tx,
                          epochs=2, parallel=dp, progress=False)
        out[n] = {"loss": hist[-1]["train_loss"],
                  "kernel": np.asarray(state.params["fc3"]["kernel"]).ravel()[:20].tolist(),
                  "sharding": str(state.params["fc3"]["kernel"].sharding)}
    try:
        DataParallel().shard_batch(np.ones((6, 2)))
    except ValueError as e:
        out["error"] = str(e)
    print(json.dumps(out))
""")


@pytest.mark.slow
def test_four_devices_match_one_device():
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
        "JAX_PLATFORMS": "cpu",
    }
    proc = subprocess.run(
        [sys.executable, "-c", MULTI_DEVICE], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    one, four = out["1"], out["4"]
    assert abs(one["loss"] - four["loss"]) <= 1e-5 * max(1.0, abs(one["loss"]))
    np.testing.assert_allclose(four["kernel"], one["kernel"], atol=1e-5)
    assert "batch size 6 is not divisible by the number of devices (4" in out["error"]


@pytest.mark.parametrize(
    "tx",
    [
        optim.SGD(0.1, momentum=0.9, nesterov=True),
        optim.Adam(1e-3, amsgrad=True),
        optim.AdamW(1e-3),
        optim.RMSprop(1e-3, momentum=0.9, centered=True),
        optim.Adagrad(0.1),
    ],
    ids=["sgd", "adam-amsgrad", "adamw", "rmsprop-centered", "adagrad"],
)
def test_every_optimizer_state_can_be_donated(tx):
    # the step donates its state: an optimizer state holding one buffer twice (it did
    # once, Adam's two moments) fails at run time
    model = nn.Linear(6, 3)
    state = TrainState.create(model, tx, jnp.ones((8, 6)))
    step = make_train_step(model, CrossEntropyLoss(), tx)
    metrics = init_metrics()
    for b in batches(2):
        state, metrics = step(state, metrics, b)
    assert int(state.step) == 2


def test_create_from_variables_copies_them(setup):
    model, tx, _, step = setup
    variables = fresh(model, tx).variables
    state = TrainState.create(model, tx, jnp.ones((8, 6)), variables=variables)
    state, _ = step(state, init_metrics(), batches(1)[0])  # donates state's buffers
    np.asarray(variables["params"]["fc1"]["kernel"])  # still readable
