"""CheckpointManager: every-epoch TrainState checkpoints, best by metric, exact resume."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn as nn
from jaxnn import optim
from jaxnn.checkpoint import CheckpointManager, DamagedCheckpointError
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


def test_a_checkpoint_of_the_five_field_train_state_restores(tmp_path, caplog):
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
    with caplog.at_level("WARNING", logger="jaxnn.checkpoint"):
        restored, meta = manager.restore(template)
        manager.restore(template)
    manager.close()
    # written before content hashes: restored unchecked, and said once
    assert [r.getMessage() for r in caplog.records] == [
        f"epoch 2 in {tmp_path / 'run' / 'latest'} was written before jaxnn recorded content "
        "hashes: it restores unchecked"
    ]
    assert meta["epoch"] == 2 and isinstance(restored, TrainState) and restored.constants == {}
    for got, want in zip(jax.tree_util.tree_leaves(restored), jax.tree_util.tree_leaves(state)):
        np.testing.assert_array_equal(got, want)


# --- damage: resume from the newest intact epoch ----------------------------------------


def _damage(epoch_dir) -> None:
    """Flip a byte in the middle of the epoch's largest file (its array data)."""
    largest = max((p for p in epoch_dir.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    data = bytearray(largest.read_bytes())
    data[len(data) // 2] ^= 0x5A
    largest.write_bytes(bytes(data))


def _three_epochs(tmp_path):
    model, tx = Net(), optim.SGD(0.1)
    state = TrainState.create(model, tx, jnp.ones((8, 6)))
    manager = CheckpointManager(tmp_path, async_save=False)
    for epoch in (1, 2, 3):
        step = jnp.asarray(epoch, jnp.int32)
        manager.save(epoch, state.replace(step=step), metrics={"val_loss": 1.0 / epoch})
    manager.close()
    return state


def test_a_damaged_newest_epoch_is_said_and_skipped(tmp_path, caplog):
    state = _three_epochs(tmp_path)
    _damage(tmp_path / "latest" / "3")
    manager = CheckpointManager(tmp_path, async_save=False)
    with caplog.at_level("WARNING", logger="jaxnn.checkpoint"):
        restored, meta = manager.restore(state)
    assert meta["epoch"] == 2 and int(restored.step) == 2
    said = "\n".join(r.getMessage() for r in caplog.records)
    assert re.search(rf"epoch 3 in {tmp_path}/latest is damaged: \S+ differs from what", said)
    assert f"resuming from epoch 2; moved the damaged to {tmp_path}/damaged/latest-3" in said
    assert (tmp_path / "damaged" / "latest-3").is_dir()
    # epoch 3 can be saved again (orbax refuses an epoch it still sees), and restores
    manager.save(3, state.replace(step=jnp.asarray(30, jnp.int32)))
    assert manager.latest_epoch() == 3 and int(manager.restore(state)[0].step) == 30
    manager.close()


def test_damage_in_an_array_names_the_leaf(tmp_path, monkeypatch):
    from jaxnn import _orbax

    state = _three_epochs(tmp_path)
    real = _orbax._restore_item  # orbax's reads; here a disk that returns other bytes

    def corrupting(manager, epoch, **items):
        value = real(manager, epoch, **items)
        if "state" in items:
            value["params"]["fc1"]["kernel"] = value["params"]["fc1"]["kernel"] + 1
        return value

    monkeypatch.setattr(_orbax, "_restore_item", corrupting)
    manager = CheckpointManager(tmp_path, async_save=False)
    with pytest.raises(
        DamagedCheckpointError,
        match=r"epoch 3 in .*latest is damaged: params/fc1/kernel: content hash [0-9a-f]{8}, "
        r"written as [0-9a-f]{8}$",
    ):
        manager.restore(state, epoch=3)  # asked for by number: raised, nothing moved
    assert manager.latest_epoch() == 3 and not (tmp_path / "damaged").exists()
    manager.close()


def test_no_intact_epoch_is_a_clear_error(tmp_path):
    state = _three_epochs(tmp_path)
    for epoch in (1, 2, 3):
        _damage(tmp_path / "latest" / str(epoch))
    manager = CheckpointManager(tmp_path, async_save=False)
    with pytest.raises(
        DamagedCheckpointError,
        match=r"(?s)no intact checkpoint in .*latest: epoch 3 .* is damaged.*epoch 2 .*epoch 1 ",
    ):
        manager.restore(state)
    with pytest.raises(FileNotFoundError, match="no checkpoint of epoch 7 in"):
        manager.restore(state, epoch=7)
    manager.close()


def test_a_template_that_does_not_fit_is_not_damage(tmp_path):
    _three_epochs(tmp_path)
    other = TrainState.create(Net(), optim.Adam(1e-2), jnp.ones((8, 6)))  # Adam: more state
    manager = CheckpointManager(tmp_path, async_save=False)
    with pytest.raises(ValueError, match=r"checkpoint does not fit the template:\n  missing") as e:
        manager.restore(other)
    assert not isinstance(e.value, DamagedCheckpointError)
    assert not (tmp_path / "damaged").exists() and manager.latest_epoch() == 3
    manager.close()


def test_a_damaged_best_checkpoint_is_set_aside_when_opened(tmp_path, caplog):
    model, tx = Net(), optim.SGD(0.1)
    state = TrainState.create(model, tx, jnp.ones((8, 6)))
    manager = CheckpointManager(tmp_path, async_save=False)
    manager.save(1, state, metrics={"val_accuracy": 0.9}, best_metric="val_accuracy")
    manager.close()
    meta = tmp_path / "best" / "1" / "meta" / "metadata"
    meta.write_text(meta.read_text().replace('"val_accuracy": 0.9', '"val_accuracy": 0.1'))
    with caplog.at_level("WARNING", logger="jaxnn.checkpoint"):
        manager = CheckpointManager(tmp_path, async_save=False)
    assert "epoch 1 in" in caplog.text and "best is damaged" in caplog.text
    assert manager.best_epoch() is None and (tmp_path / "damaged" / "best-1").is_dir()
    manager.save(2, state, metrics={"val_accuracy": 0.5}, best_metric="val_accuracy")
    assert manager.best_epoch() == 2
    manager.close()
