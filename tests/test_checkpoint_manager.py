"""CheckpointManager: every-epoch TrainState checkpoints, best by metric, exact resume."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn as nn
from jaxnn import optim
from jaxnn.checkpoint import CheckpointManager
from jaxnn.losses import CrossEntropyLoss
from jaxnn.train import TrainState, fit


class Net(nn.Module):
    def setup(self):
        self.fc1 = nn.Linear(6, 16)
        self.bn = nn.BatchNorm1d(16)
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(16, 3)

    def __call__(self, x):
        return self.fc2(self.drop(nn.functional.relu(self.bn(self.fc1(x)))))


class EpochLoader:
    """A loader whose order is a function of (seed, epoch), like jaxnn.data.DataLoader."""

    def __init__(self, n=48, batch=8, seed=0):
        rng = np.random.default_rng(123)
        self.x = rng.standard_normal((n, 6)).astype(np.float32)
        self.y = ((self.x[:, 0] > 0).astype(np.int32) + (self.x[:, 1] > 0)).astype(np.int32)
        self.batch, self.seed, self.epoch = batch, seed, 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        return len(self.x) // self.batch

    def __iter__(self):
        order = np.random.default_rng((self.seed, self.epoch)).permutation(len(self.x))
        for i in range(len(self)):
            idx = order[i * self.batch : (i + 1) * self.batch]
            yield self.x[idx], self.y[idx]


def _run(tmp, epochs, start_state=None, start_epoch=0, manager=None):
    model, tx = Net(), optim.Adam(1e-2)
    state = start_state or TrainState.create(model, tx, jnp.ones((8, 6)), seed=3)
    return fit(
        model,
        state,
        EpochLoader(),
        loss_fn=CrossEntropyLoss(),
        optimizer=tx,
        epochs=epochs,
        val_loader=EpochLoader(16),
        start_epoch=start_epoch,
        checkpoints=manager,
        best_metric="val_loss" if manager else None,
        progress=False,
    )


def test_resume_is_bit_identical(tmp_path):
    straight, _ = _run(tmp_path, 4)

    manager = CheckpointManager(tmp_path / "run", max_to_keep=2)
    _run(tmp_path, 2, manager=manager)
    manager.close()

    # a new process would do exactly this: fresh template, restore latest, continue
    manager = CheckpointManager(tmp_path / "run", max_to_keep=2)
    template = TrainState.create(Net(), optim.Adam(1e-2), jnp.ones((8, 6)), seed=99)
    state, meta = manager.restore(template)
    assert meta["epoch"] == 2 and "val_loss" in meta["metrics"]
    resumed, history = _run(tmp_path, 4, start_state=state, start_epoch=2, manager=manager)
    assert [h["epoch"] for h in history] == [3, 4]
    leaves = zip(jax.tree_util.tree_leaves(straight), jax.tree_util.tree_leaves(resumed))
    for a, b in leaves:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert manager.latest_epoch() == 4
    assert sorted(int(p.name) for p in (tmp_path / "run" / "latest").iterdir()) == [3, 4]
    manager.close()


def test_best_checkpoint_follows_the_metric(tmp_path):
    model, tx = Net(), optim.SGD(0.1)
    state = TrainState.create(model, tx, jnp.ones((8, 6)))
    manager = CheckpointManager(tmp_path, async_save=False)
    for epoch, acc in [(1, 0.5), (2, 0.8), (3, 0.7)]:
        manager.save(
            epoch,
            state.replace(step=jnp.asarray(epoch, jnp.int32)),
            metrics={"val_accuracy": acc},
            best_metric="val_accuracy",
        )
    assert manager.best_epoch() == 2 and manager.latest_epoch() == 3
    best, meta = manager.restore(state, best=True)
    assert int(best.step) == 2 and meta["best_value"] == 0.8
    manager.close()
    # a reopened manager remembers the best value: a worse epoch does not replace it
    manager = CheckpointManager(tmp_path, async_save=False)
    manager.save(4, state, metrics={"val_accuracy": 0.6}, best_metric="val_accuracy")
    assert manager.best_epoch() == 2
    with pytest.raises(KeyError, match="best_metric 'val_loss' is not among the metrics"):
        manager.save(5, state, metrics={"val_accuracy": 0.9}, best_metric="val_loss")
    manager.close()


def test_interrupted_save_leaves_latest_readable(tmp_path):
    model, tx = Net(), optim.SGD(0.1)
    state = TrainState.create(model, tx, jnp.ones((8, 6)))
    manager = CheckpointManager(tmp_path, async_save=False)
    manager.save(1, state)
    manager.close()
    # what a crash mid-save leaves behind: orbax's temporary directory, never renamed
    partial = tmp_path / "latest" / "2.orbax-checkpoint-tmp-1234"
    partial.mkdir()
    (partial / "state").mkdir()
    manager = CheckpointManager(tmp_path, async_save=False)
    assert manager.latest_epoch() == 1
    restored, meta = manager.restore(state)
    assert meta["epoch"] == 1
    jax.tree_util.tree_map(np.testing.assert_array_equal, restored.params, state.params)
    manager.close()


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="max_to_keep must be >= 1"):
        CheckpointManager(tmp_path, max_to_keep=0)
    manager = CheckpointManager(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no saved checkpoint in"):
        manager.restore({"a": jnp.zeros(1)})
    manager.close()


def test_a_checkpoint_of_the_five_field_train_state_restores(tmp_path):
    """TrainState gained ``constants`` (buffers, ties); a run checkpointed before that,
    whose state had five fields, resumes into the new state unchanged."""
    from typing import Any, NamedTuple

    class FiveFieldState(NamedTuple):  # TrainState as jaxnn 0.1 wrote it
        step: Any
        params: Any
        batch_stats: Any
        opt_state: Any
        rng: Any

    model, tx = Net(), optim.Adam(1e-2)
    state = TrainState.create(model, tx, jnp.ones((8, 6)), seed=3)
    import orbax.checkpoint as ocp

    writer = ocp.CheckpointManager(tmp_path / "run" / "latest")
    writer.save(  # what the old CheckpointManager wrote: the five-field NamedTuple itself
        2,
        args=ocp.args.Composite(
            state=ocp.args.StandardSave(FiveFieldState(*state[:5])),
            meta=ocp.args.JsonSave({"epoch": 2, "metrics": {}}),
        ),
    )
    writer.wait_until_finished()
    writer.close()
    manager = CheckpointManager(tmp_path / "run")
    template = TrainState.create(model, tx, jnp.ones((8, 6)), seed=9)
    restored, meta = manager.restore(template)
    manager.close()
    assert meta["epoch"] == 2 and isinstance(restored, TrainState) and restored.constants == {}
    for got, want in zip(jax.tree_util.tree_leaves(restored), jax.tree_util.tree_leaves(state)):
        np.testing.assert_array_equal(got, want)
