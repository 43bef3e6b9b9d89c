"""Save and load jaxnn variables with orbax: the counterpart of
``torch.save(model.state_dict(), path)`` / ``model.load_state_dict(torch.load(path))``.

A checkpoint is a directory holding the arrays (orbax, under ``arrays/``) and a small
JSON file (:data:`METADATA_FILE`) with the jaxnn version and, when given, the model's
name and constructor arguments::

    >>> variables = nn.Linear(4, 2).init(jax.random.key(0), jnp.ones((1, 4)))
    >>> path = jaxnn.save(variables, "linear_ckpt", metadata={"model": "Linear"})
    >>> restored = jaxnn.load("linear_ckpt", template=variables)
    >>> bool(np.array_equal(restored["params"]["kernel"], variables["params"]["kernel"]))
    True

Writes are atomic: everything goes into a temporary sibling directory that is renamed
into place only once complete, so a crash mid-save never leaves a half-written
checkpoint, and an existing one is replaced only with ``force=True``.

Damage is detected, never loaded: the JSON, sealed by its own checksum, records each
array's dtype, shape and content hash (CRC-32) and each file's size (and CRC-32 of the
small ones: orbax's metadata and indexes); :func:`load` checks the files before orbax
reads them and every array it returns (:class:`DamagedCheckpointError` names the file or
leaf). Checkpoints written before these records load unchecked, with one logged note.

Training runs use :class:`CheckpointManager`: the whole ``TrainState`` every epoch,
the best epoch by a metric, and exact resume.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxnn import _orbax, state_dict
from jaxnn._files import commit as _commit
from jaxnn._files import remove as _remove
from jaxnn._files import sibling as _sibling
from jaxnn._integrity import (
    check_inventory,
    describe,
    differences,
    first_line,
    inventory,
    note_unchecked,
    opened,
    seal,
)
from jaxnn._tree import cast_like, keyed_leaves, plain
from jaxnn._tree import flat as _flat

__all__ = [
    "ARRAYS_DIR",
    "METADATA_FILE",
    "CheckpointManager",
    "DamagedCheckpointError",
    "check_fit",
    "is_checkpoint",
    "load",
    "read_metadata",
    "save",
    "shapes",
]

METADATA_FILE = "jaxnn_checkpoint.json"
"""The file in a checkpoint directory with its metadata, hashes and inventory."""
ARRAYS_DIR = "arrays"
"""The subdirectory of a checkpoint with the orbax-written arrays."""
_FORMAT = "jaxnn-checkpoint"
_FORMAT_VERSION = 2  # 2: content hashes and a sealed JSON
_INTEGRITY = "integrity"  # the JSON's entry with the hashes (with "checksum": reserved)

_log = logging.getLogger(__name__)


class DamagedCheckpointError(ValueError):
    """A checkpoint whose files no longer hold what was written: unreadable or altered
    metadata, a file missing or of another size, an array whose content hash differs.
    The message names the checkpoint and where in it."""


def is_checkpoint(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a directory written by :func:`save`. Args: as :func:`shapes`."""
    return (Path(path) / METADATA_FILE).is_file()


def save(
    obj: Mapping[str, Any],
    f: str | os.PathLike,
    *,
    force: bool = False,
    metadata: Mapping[str, Any] | None = None,
    compress: bool = True,
) -> Path:
    """Write the variables ``obj`` (e.g. ``{'params': ..., 'batch_stats': ...}``) to the
    checkpoint directory ``f``, atomically, and return its path:
    ``torch.save(model.state_dict(), f)``'s counterpart, with torch's argument order
    (``save(f, obj)``, jaxnn 0.1's, still works for this release and warns:
    DeprecationWarning).

    Args:
        obj: a nested mapping of arrays (jax or numpy); not modified.
        f: the checkpoint directory to create. Its parent must exist.
        force: replace an existing ``path`` (atomically: the old checkpoint is moved
            aside, the new one renamed in, then the old one deleted). Default: False.
        metadata: JSON-serialisable extras stored beside the arrays, e.g.
            ``{"model": "LeNet", "model_kwargs": {}}``; the keys "integrity" and
            "checksum" are jaxnn's. Default: None.
        compress: zstd-compress the arrays. Float weights shrink by about a tenth, for
            some CPU time each way (benchmarks/RESULTS.md). Default: True.

    Raises:
        FileExistsError: ``path`` exists and ``force`` is False.
        FileNotFoundError: the parent directory does not exist.
        TypeError: ``metadata`` is not JSON-serialisable.
        ValueError: ``metadata`` uses a key jaxnn reserves.
    """
    if isinstance(obj, (str, os.PathLike)) and isinstance(f, Mapping):
        warnings.warn(
            "jaxnn.save(path, variables) is deprecated; use torch's order, "
            "jaxnn.save(variables, path)",
            DeprecationWarning,
            stacklevel=2,
        )
        obj, f = f, obj
    if not isinstance(obj, Mapping):
        raise TypeError(f"jaxnn.save: obj must be a mapping of arrays, got {type(obj).__name__}")
    variables, path = obj, Path(f).absolute()
    if path.exists() and not force:
        raise FileExistsError(f"{path} already exists; pass force=True to replace it")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: directory {path.parent} does not exist")
    from jaxnn import __version__  # at call time: jaxnn/__init__ may import this module

    reserved = sorted({_INTEGRITY, "checksum"} & set(metadata or {}))
    if reserved:
        raise ValueError(f"jaxnn.save: metadata keys {reserved} are reserved for jaxnn")
    info = {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "jaxnn_version": __version__,
        **dict(metadata or {}),
    }
    json.dumps(info)  # a TypeError before anything is written

    tree = plain(variables)
    tmp = _sibling(path, "tmp")
    try:
        tmp.mkdir()
        with ThreadPoolExecutor(1) as hasher:  # hash the arrays while orbax writes them
            arrays = hasher.submit(describe, list(_flat(tree).items()))
            _orbax.checkpointer(compress).save(tmp / ARRAYS_DIR, args=_orbax.save_args(tree))
            files = inventory(tmp / ARRAYS_DIR)
            info[_INTEGRITY] = {"arrays": arrays.result(), "files": files}
        text = json.dumps(seal(info), indent=2, sort_keys=True)
        (tmp / METADATA_FILE).write_text(text + "\n")
        _commit(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    return path


def _info(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint's JSON, its seal checked (without the seal)."""
    file = Path(path) / METADATA_FILE
    if not file.is_file():
        raise FileNotFoundError(f"{path} is not a jaxnn checkpoint (no {METADATA_FILE})")
    try:
        info, sealed = opened(json.loads(file.read_bytes()), _INTEGRITY)
    except ValueError as e:  # not UTF-8, not JSON, or not what was written
        raise DamagedCheckpointError(f"{path} is damaged: {METADATA_FILE}: {e}") from e
    if not sealed:
        note_unchecked(_log, str(Path(path).absolute()), "its arrays load unchecked")
    return info


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata stored in the checkpoint ``path`` (format, jaxnn version and the
    ``metadata`` given to :func:`save`). Args: as :func:`shapes`.

    Raises:
        FileNotFoundError: ``path`` is not a jaxnn checkpoint.
        DamagedCheckpointError: the JSON is unreadable or not what was written.
    """
    return {k: v for k, v in _info(path).items() if k != _INTEGRITY}


def _checked_tree(path: str | os.PathLike) -> tuple[Path, Mapping[str, Any], Any]:
    """(arrays directory, the arrays' orbax metadata tree, the recorded arrays or None),
    the files checked against the recorded inventory before orbax reads them (the arrays
    themselves are checked as they are read)."""
    integrity = _info(path).get(_INTEGRITY)
    arrays = Path(path).absolute() / ARRAYS_DIR
    recorded = None
    if integrity is not None:
        problem = check_inventory(arrays, integrity["files"])
        if problem is not None:
            raise DamagedCheckpointError(f"{path} is damaged: {ARRAYS_DIR}/{problem}")
        recorded = integrity["arrays"]
    try:
        meta = _orbax.tree_metadata(arrays)
    except Exception as e:  # orbax and tensorstore raise many kinds
        raise DamagedCheckpointError(f"{path} is damaged: {ARRAYS_DIR}: {first_line(e)}") from e
    if not isinstance(meta, Mapping):  # orbax logged why
        raise DamagedCheckpointError(f"{path} is damaged: its array metadata is unreadable")
    return arrays, meta, recorded


def shapes(path: str | os.PathLike) -> dict[str, Any]:
    """The shapes and dtypes of the variables saved in ``path``, as a nested dict of
    ``jax.ShapeDtypeStruct`` (like ``jax.eval_shape(model.init, ...)``); no array is read.

    Args:
        path: a checkpoint directory.

    Raises:
        FileNotFoundError: ``path`` is not a jaxnn checkpoint.
        DamagedCheckpointError: its metadata or files are not what was written.
    """
    _, meta, _ = _checked_tree(path)

    def spec(leaf: Any) -> jax.ShapeDtypeStruct:
        return jax.ShapeDtypeStruct(tuple(getattr(leaf, "shape", ())), leaf.dtype)

    return plain(jax.tree.map(spec, meta))


def load(
    path: str | os.PathLike,
    template: Mapping[str, Any] | None = None,
    *,
    leaves: Iterable[tuple[str, ...]] | None = None,
) -> dict[str, Any]:
    """Read the variables saved by :func:`save` in ``path``: a nested dict of numpy arrays
    (dtypes as saved, or the template's).

    Args:
        path: a checkpoint directory.
        template: optional variables of the expected structure (real arrays or
            ``jax.eval_shape`` results): the checkpoint must have exactly its leaves and
            shapes, and each leaf is returned in the template's dtype. Default: None.
        leaves: read only these leaves, each a path such as ``("params", "fc1",
            "kernel")``: a large checkpoint can be read a few arrays at a time. The
            template is still checked against the whole checkpoint. Default: None (all).

    Raises:
        FileNotFoundError: ``path`` is not a jaxnn checkpoint.
        DamagedCheckpointError: a file, the metadata or an array read back is not what
            was written (a ValueError).
        ValueError: the checkpoint does not fit ``template`` (every difference listed).
        KeyError: a path in ``leaves`` is not in the checkpoint.
    """
    arrays, meta, recorded = _checked_tree(path)
    if template is not None:
        template = plain(template)
        check_fit(plain(meta), template)
    leaves = None if leaves is None else [tuple(p) for p in leaves]
    unknown = [p for p in leaves or () if "/".join(p) not in _flat(plain(meta))]
    if unknown:
        raise KeyError(f"{path} holds no leaves {unknown}")
    try:
        tree = _orbax.restore(arrays, meta, leaves)
    except Exception as e:  # tensorstore: a chunk that does not decode, a short file, ...
        raise DamagedCheckpointError(f"{path} is damaged: {ARRAYS_DIR}: {first_line(e)}") from e
    if recorded is not None:
        bad = differences(_flat(tree).items(), recorded)
        if bad:
            where = "; ".join(f"{_named(p)}: {why}" for p, why in bad.items())
            raise DamagedCheckpointError(f"{path} is damaged: {where}")
    if template is not None:
        tree = cast_like(tree, template)
    return tree


def _named(path: str) -> str:
    """A leaf's path with its torch key, where it has one: 'params/fc/kernel (fc.weight)'."""
    collection, *rest = path.split("/")
    if collection not in state_dict.COLLECTIONS or not rest:
        return path
    return f"{path} ({state_dict.torch_key(collection, tuple(rest))})"


def check_fit(tree: Mapping[str, Any], template: Mapping[str, Any]) -> None:
    """Raise ValueError unless ``tree`` has exactly the leaves and shapes of ``template``;
    the message lists every difference, by path and torch key.

    Args:
        tree: a nested mapping of arrays (or shapes) to check, e.g. a loaded checkpoint.
        template: the nested mapping of arrays or shapes it must match.
    """
    got, want = _flat(tree), _flat(template)
    missing = [_named(k) for k in want if k not in got]
    unexpected = [_named(k) for k in got if k not in want]
    mismatched = [
        f"{_named(k)}: checkpoint has shape {tuple(np.shape(got[k]))}, "
        f"template {tuple(want[k].shape)}"
        for k in want
        if k in got and tuple(np.shape(got[k])) != tuple(want[k].shape)
    ]
    if missing or unexpected or mismatched:
        lines = ["checkpoint does not fit the template:"]
        if missing:
            lines.append(f"  missing ({len(missing)}): {', '.join(missing)}")
        if unexpected:
            lines.append(f"  unexpected ({len(unexpected)}): {', '.join(unexpected)}")
        lines += [f"  size mismatch for {m}" for m in mismatched]
        raise ValueError("\n".join(lines))


# ----------------------------------------------------------------------------- training runs


def _lower_is_better(metric: str) -> bool:
    return "loss" in metric or "mse" in metric or "error" in metric


def _is_named_tuple(value: Any) -> bool:
    return isinstance(value, tuple) and hasattr(value, "_asdict")


def _stored(state: Any) -> Any:
    """What is written for a training state: a ``TrainState`` (a NamedTuple) as the dict of its
    fields, without ``constants`` when the model has none, so that for models without buffers or
    ties the checkpoints written before ``constants`` existed restore unchanged."""
    if not _is_named_tuple(state):
        return state
    fields = state._asdict()
    if "constants" in fields and not jax.tree_util.tree_leaves(fields["constants"]):
        del fields["constants"]
    return fields


class CheckpointManager:
    """Every-epoch checkpoints of a whole ``jaxnn.train.TrainState`` with orbax, for exact
    resume and for keeping the best model.

    Layout: ``DIR/latest/<epoch>/`` (the last ``max_to_keep`` epochs) and
    ``DIR/best/<epoch>/`` (the best epoch by a metric). Orbax writes each checkpoint into
    a temporary directory and renames it when complete, so a crash mid-save leaves the
    previous checkpoint as the latest readable one. With ``async_save`` the arrays are
    copied off the device before ``save`` returns and written in the background.

    Args:
        directory: where the checkpoints live (created if missing).
        max_to_keep: how many recent epochs to keep. Default: 3.
        async_save: write in a background thread. Default: True.

    Example::

        ckpt = CheckpointManager("runs/lenet")
        if ckpt.latest_epoch() is not None:
            state, meta = ckpt.restore(state)        # state: a template of the same structure
            start_epoch = meta["epoch"]
        ...
        ckpt.save(epoch + 1, state, metrics={"val_accuracy": 0.97}, best_metric="val_accuracy")
    """

    def __init__(
        self, directory: str | os.PathLike, *, max_to_keep: int = 3, async_save: bool = True
    ) -> None:
        import orbax.checkpoint as ocp

        if max_to_keep < 1:
            raise ValueError(f"max_to_keep must be >= 1, got {max_to_keep}")
        self.directory = Path(directory).absolute()
        self._ocp = ocp

        def options(name: str, keep: int):
            # With several processes, orbax synchronises the two managers at barriers of
            # the same names; prefixes keep latest's background commit from colliding with
            # best's save of the same epoch ("Barrier ... is already ongoing").
            multiprocessing = ocp.options.MultiprocessingOptions(barrier_sync_key_prefix=name)
            return ocp.CheckpointManagerOptions(
                max_to_keep=keep,
                create=True,
                enable_async_checkpointing=async_save,
                multiprocessing_options=multiprocessing,
            )

        self._latest = ocp.CheckpointManager(
            self.directory / "latest", options=options("latest", max_to_keep)
        )
        self._best = ocp.CheckpointManager(self.directory / "best", options=options("best", 1))
        self._best_value: float | None = None
        self._unrecorded: list[tuple[Any, int]] = []
        best_epoch = self._best.latest_step()
        if best_epoch is not None:
            try:
                meta = self._restore(self._best, best_epoch, None)[1]
                self._best_value = meta.get("best_value")
            except DamagedCheckpointError as e:  # the next epoch's metric decides the best
                moved = _orbax.move_epochs(self._best, [best_epoch], self.directory / "damaged")
                _log.warning("%s; moved to %s", e, moved[0] if moved else "damaged/")

    def _args(self, state: Any, meta: dict[str, Any]):
        ocp = self._ocp
        return ocp.args.Composite(
            state=ocp.args.StandardSave(_stored(state)), meta=ocp.args.JsonSave(seal(meta))
        )

    def save(
        self,
        epoch: int,
        state: Any,
        *,
        metrics: Mapping[str, float] | None = None,
        best_metric: str | None = None,
    ) -> None:
        """Save ``state`` as epoch ``epoch`` (the number of epochs completed); also as the
        best checkpoint when ``metrics[best_metric]`` improves on every earlier one
        (lower is better for metrics named *loss*, *mse* or *error*)."""
        metrics = {k: float(v) for k, v in (metrics or {}).items()}
        arrays = describe(keyed_leaves(_stored(state)))
        meta = {"epoch": int(epoch), "metrics": metrics, "arrays": arrays}
        _orbax.record_files(self._unrecorded)  # orbax waits for the previous save anyway
        self._latest.save(int(epoch), args=self._args(state, meta))
        self._unrecorded.append((self._latest, int(epoch)))
        if best_metric is None:
            return
        if best_metric not in metrics:
            raise KeyError(
                f"best_metric {best_metric!r} is not among the metrics {sorted(metrics)}"
            )
        value = metrics[best_metric]
        better = self._best_value is None or (
            value < self._best_value if _lower_is_better(best_metric) else value > self._best_value
        )
        if better:
            self._best_value = value
            self._best.save(
                int(epoch),
                args=self._args(state, {**meta, "best_metric": best_metric, "best_value": value}),
            )
            self._unrecorded.append((self._best, int(epoch)))

    def latest_epoch(self) -> int | None:
        """The newest complete checkpoint's epoch, or None."""
        self._latest.wait_until_finished()
        return self._latest.latest_step()

    def best_epoch(self) -> int | None:
        """The best checkpoint's epoch, or None."""
        self._best.wait_until_finished()
        return self._best.latest_step()

    def restore(
        self, template: Any, epoch: int | None = None, *, best: bool = False
    ) -> tuple[Any, dict[str, Any]]:
        """Restore a state with the structure, shapes, dtypes and shardings of
        ``template`` (e.g. a freshly created TrainState). Returns (state, metadata) where
        metadata holds ``epoch`` and the saved ``metrics``. Default: the latest epoch.

        Each array is checked against its recorded content hash. By default a damaged
        newest epoch is logged and moved to ``DIR/damaged/``, and the newest intact one
        restored.

        Raises:
            FileNotFoundError: there is no checkpoint (of ``epoch``).
            DamagedCheckpointError: the asked-for checkpoint is damaged, or (by default)
                every epoch is.
        """
        manager = self._best if best else self._latest
        manager.wait_until_finished()
        epochs = sorted(manager.all_steps(), reverse=True) if epoch is None else [epoch]
        if not epochs:
            raise FileNotFoundError(
                f"no {'best' if best else 'saved'} checkpoint in {self.directory}"
            )
        if epochs[0] not in manager.all_steps():
            raise FileNotFoundError(f"no checkpoint of epoch {epoch} in {manager.directory}")
        abstract = jax.tree_util.tree_map(self._ocp.utils.to_shape_dtype_struct, _stored(template))
        damaged: dict[int, str] = {}
        for step in epochs:
            try:
                state, meta = self._restore(manager, step, abstract)
            except DamagedCheckpointError as e:
                if epoch is not None or best:
                    raise
                _log.warning("%s", e)
                damaged[step] = str(e)
                continue
            if damaged:  # out of orbax's sight, or it would refuse to save those epochs again
                moved = _orbax.move_epochs(manager, damaged, self.directory / "damaged")
                where = ", ".join(map(str, moved))
                _log.warning("resuming from epoch %d; moved the damaged to %s", step, where)
            if isinstance(state, Mapping) and _is_named_tuple(template):
                state = template._replace(**state)
            return state, meta
        raise DamagedCheckpointError(
            f"no intact checkpoint in {manager.directory}: " + "; ".join(damaged.values())
        )

    def _restore(self, manager: Any, epoch: int, abstract: Any) -> tuple[Any, dict[str, Any]]:
        """(state, metadata) of one epoch (state None without ``abstract``), checked."""
        state, meta, damage = _orbax.restore_checked(manager, epoch, abstract, check_fit)
        if damage is not None:
            where = f"epoch {epoch} in {manager.directory}"
            raise DamagedCheckpointError(f"{where} is damaged: {damage}")
        return state, meta

    def wait(self) -> None:
        """Block until background saves are written."""
        self._latest.wait_until_finished()
        self._best.wait_until_finished()
        _orbax.record_files(self._unrecorded)

    def close(self) -> None:
        _orbax.record_files(self._unrecorded)
        self._latest.close()
        self._best.close()
