"""Save and load jaxnn variables with orbax: the counterpart of
``torch.save(model.state_dict(), path)`` / ``model.load_state_dict(torch.load(path))``.

A checkpoint is a directory holding the arrays (orbax, under ``arrays/``) and a small
JSON file (:data:`METADATA_FILE`) with the jaxnn version and, when given, the model's
name and constructor arguments::

    >>> jaxnn.save(variables, "lenet_ckpt", metadata={"model": "LeNet"})
    >>> variables = jaxnn.load("lenet_ckpt", template=variables)

Writes are atomic: everything goes into a temporary sibling directory that is renamed
into place only once complete, so a crash mid-save never leaves a half-written
checkpoint, and an existing one is replaced only with ``force=True``.

Training runs use :class:`CheckpointManager`: the whole ``TrainState`` every epoch,
the best epoch by a metric, and exact resume.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxnn import state_dict
from jaxnn._files import commit as _commit
from jaxnn._files import remove as _remove
from jaxnn._files import sibling as _sibling
from jaxnn._tree import leaves as _leaves
from jaxnn._tree import plain, unflatten

__all__ = [
    "ARRAYS_DIR",
    "METADATA_FILE",
    "CheckpointManager",
    "check_fit",
    "is_checkpoint",
    "load",
    "read_metadata",
    "save",
    "shapes",
]

# Arrays larger than this are stored in chunks of at most this many bytes, so reading one
# back holds a chunk, not a second copy of the whole array, beside the result.
_CHUNK_BYTES = 64 * 1024 * 1024

METADATA_FILE = "jaxnn_checkpoint.json"
ARRAYS_DIR = "arrays"
_FORMAT = "jaxnn-checkpoint"
_FORMAT_VERSION = 1


def is_checkpoint(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a directory written by :func:`save`."""
    return (Path(path) / METADATA_FILE).is_file()


def _checkpointer(compress: bool = True):
    """An orbax PyTree checkpointer whose numpy arrays are written as they are: orbax's
    default handler first deep-copies every host array (a guard for asynchronous saves; a
    second full copy of the weights), which a synchronous save does not need."""
    import orbax.checkpoint as ocp

    th = ocp.type_handlers
    try:
        numpy_handler = th.NumpyHandler(deepcopy_host_arrays=False)
    except TypeError:  # an orbax without the option
        numpy_handler = th.get_type_handler(np.ndarray)
    pairs = [(np.ndarray, numpy_handler)]
    for ty in (int, float, bytes, np.number, jax.Array, str):
        try:
            pairs.append((ty, th.get_type_handler(ty)))
        except ValueError:
            pass
    handler = ocp.PyTreeCheckpointHandler(
        use_compression=compress,
        type_handler_registry=th.create_type_handler_registry(*pairs),
        multiprocessing_options=_this_process_only(),
    )
    # a PyTreeCheckpointer (what PyTreeCheckpointer() would be, but with this handler)
    checkpointer = ocp.PyTreeCheckpointer.__new__(ocp.PyTreeCheckpointer)
    ocp.Checkpointer.__init__(checkpointer, handler, multiprocessing_options=_this_process_only())
    return checkpointer


def _this_process_only():
    """save / load read and write host arrays: in a run of several processes the one
    process that calls them does it all (``if jax.process_index() == 0: jaxnn.save(...)``,
    as with torch.save), where orbax would wait for every process at its barriers."""
    import orbax.checkpoint as ocp

    me = jax.process_index()
    return ocp.options.MultiprocessingOptions(primary_host=me, active_processes={me})


def _save_args(tree: dict[str, Any]):
    import orbax.checkpoint as ocp

    def args(leaf: Any) -> Any:
        big = getattr(leaf, "nbytes", 0) > _CHUNK_BYTES
        return ocp.SaveArgs(chunk_byte_size=_CHUNK_BYTES) if big else ocp.SaveArgs()

    return ocp.args.PyTreeSave(tree, save_args=jax.tree.map(args, tree))


def save(
    obj: Mapping[str, Any],
    f: str | os.PathLike,
    *,
    force: bool = False,
    metadata: Mapping[str, Any] | None = None,
    compress: bool = True,
) -> Path:
    """Write the variables ``obj`` (e.g. ``{'params': ..., 'batch_stats': ...}``) to the
    checkpoint directory ``f``, atomically: ``torch.save(model.state_dict(), f)``'s
    counterpart, with torch's argument order.

    ``save(f, obj)``, the order of jaxnn 0.1, still works for this release and warns
    (DeprecationWarning).

    Args:
        obj: a nested mapping of arrays (jax or numpy); not modified.
        f: the checkpoint directory to create. Its parent must exist.
        force: replace an existing ``path`` (atomically: the old checkpoint is moved
            aside, the new one renamed in, then the old one deleted). Default: False.
        metadata: JSON-serialisable extras stored beside the arrays, e.g.
            ``{"model": "LeNet", "model_kwargs": {}}``. Default: None.
        compress: zstd-compress the arrays. Float weights shrink by about a tenth, for
            some CPU time each way (benchmarks/RESULTS.md). Default: True.

    Returns:
        the checkpoint's path.

    Raises:
        FileExistsError: ``path`` exists and ``force`` is False.
        FileNotFoundError: the parent directory does not exist.
        TypeError: ``metadata`` is not JSON-serialisable.
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

    info = {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "jaxnn_version": __version__,
        **dict(metadata or {}),
    }
    info_text = json.dumps(info, indent=2, sort_keys=True)  # fails before anything is written

    tmp = _sibling(path, "tmp")
    try:
        tmp.mkdir()
        _checkpointer(compress).save(tmp / ARRAYS_DIR, args=_save_args(plain(variables)))
        (tmp / METADATA_FILE).write_text(info_text + "\n")
        _commit(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    return path


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata JSON stored in the checkpoint ``path``.

    Raises:
        FileNotFoundError: ``path`` is not a jaxnn checkpoint.
    """
    file = Path(path) / METADATA_FILE
    if not file.is_file():
        raise FileNotFoundError(f"{path} is not a jaxnn checkpoint (no {METADATA_FILE})")
    return json.loads(file.read_text())


def _orbax_tree(path: str | os.PathLike):
    """(checkpointer, arrays directory, the arrays' orbax metadata tree)."""
    read_metadata(path)  # a clear error for a directory that is not a checkpoint
    arrays = Path(path).absolute() / ARRAYS_DIR
    checkpointer = _checkpointer()
    meta = checkpointer.metadata(arrays)
    # orbax >= 0.11 wraps the tree in StepMetadata.item_metadata.tree
    meta = getattr(meta, "item_metadata", meta)
    meta = getattr(meta, "tree", meta)
    return checkpointer, arrays, meta


def shapes(path: str | os.PathLike) -> dict[str, Any]:
    """The shapes and dtypes of the variables saved in ``path``, as a nested dict of
    ``jax.ShapeDtypeStruct`` (like ``jax.eval_shape(model.init, ...)``); no array is read.

    Raises:
        FileNotFoundError: ``path`` is not a jaxnn checkpoint.
    """
    _, _, meta = _orbax_tree(path)

    def spec(leaf: Any) -> jax.ShapeDtypeStruct:
        return jax.ShapeDtypeStruct(tuple(getattr(leaf, "shape", ())), leaf.dtype)

    return plain(jax.tree.map(spec, meta))


def load(
    path: str | os.PathLike,
    template: Mapping[str, Any] | None = None,
    *,
    leaves: Iterable[tuple[str, ...]] | None = None,
) -> dict[str, Any]:
    """Read the variables saved by :func:`save` in ``path``.

    Args:
        path: a checkpoint directory.
        template: optional variables of the expected structure (real arrays or
            ``jax.eval_shape`` results): the checkpoint must have exactly its leaves and
            shapes, and each leaf is returned in the template's dtype. Default: None.
        leaves: read only these leaves, each a path such as ``("params", "fc1",
            "kernel")``: a large checkpoint can be read a few arrays at a time. The
            template is still checked against the whole checkpoint. Default: None (all).

    Returns:
        a nested dict of numpy arrays (dtypes as saved, or the template's).

    Raises:
        FileNotFoundError: ``path`` is not a jaxnn checkpoint.
        ValueError: the checkpoint does not fit ``template`` (every difference listed).
        KeyError: a path in ``leaves`` is not in the checkpoint.
    """
    import orbax.checkpoint as ocp

    checkpointer, arrays, meta = _orbax_tree(path)
    if template is not None:
        template = plain(template)
        check_fit(plain(meta), template)
    # numpy restore: no device placement or sharding info needed, one host copy
    restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), meta)
    if leaves is None:
        tree = checkpointer.restore(arrays, args=ocp.args.PyTreeRestore(restore_args=restore_args))
    else:
        flat = _flat(restore_args)
        wanted = {tuple(p): flat["/".join(p)] for p in leaves}  # KeyError: not saved
        item = unflatten(dict.fromkeys(wanted, 0))
        try:
            args = ocp.args.PyTreeRestore(
                item=item, restore_args=unflatten(wanted), partial_restore=True
            )
        except TypeError:  # an orbax without partial restores: read all, keep these
            args = ocp.args.PyTreeRestore(restore_args=restore_args)
        tree = plain(checkpointer.restore(arrays, args=args))
        tree = unflatten({p: _flat(tree)["/".join(p)] for p in wanted})
    tree = plain(tree)
    if template is not None:
        tree = _cast_like(tree, template)
    return tree


def _flat(tree: Mapping[str, Any]) -> dict[str, Any]:
    return {"/".join(path): leaf for path, leaf in _leaves(tree)}


def _named(path: str) -> str:
    """A leaf's path with its torch key, where it has one: 'params/fc/kernel (fc.weight)'."""
    collection, *rest = path.split("/")
    if collection not in state_dict.COLLECTIONS or not rest:
        return path
    return f"{path} ({state_dict.torch_key(collection, tuple(rest))})"


def check_fit(tree: Mapping[str, Any], template: Mapping[str, Any]) -> None:
    """Raise ValueError unless ``tree`` has exactly the leaves and shapes of ``template``
    (each a nested mapping of arrays or shapes); the message lists every difference, by
    path and torch key."""
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


def _cast_like(tree: dict[str, Any], template: dict[str, Any]) -> dict[str, Any]:
    """``tree``'s leaves in the dtypes of ``template``'s (``tree`` may hold a subset)."""

    def cast(value: Any, like: Any) -> Any:
        return value if value.dtype == like.dtype else np.asarray(value).astype(like.dtype)

    return {  # in the template's order, as a full load always returned them
        k: _cast_like(tree[k], like) if isinstance(like, Mapping) else cast(tree[k], like)
        for k, like in template.items()
        if k in tree
    }


# ----------------------------------------------------------------------------- training runs


def _lower_is_better(metric: str) -> bool:
    return "loss" in metric or "mse" in metric or "error" in metric


def _is_named_tuple(value: Any) -> bool:
    return isinstance(value, tuple) and hasattr(value, "_asdict")


def _stored(state: Any) -> Any:
    """What is written for a training state: a ``TrainState`` (a NamedTuple) as the dict
    of its fields, without ``constants`` when the model has none. Models without buffers
    or ties so keep the layout of checkpoints written before ``constants`` existed, and
    those restore unchanged."""
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
        best_epoch = self._best.latest_step()
        if best_epoch is not None:
            meta = self._best.restore(
                best_epoch, args=ocp.args.Composite(meta=ocp.args.JsonRestore())
            )["meta"]
            self._best_value = meta.get("best_value")

    def _args(self, state: Any, meta: dict[str, Any]):
        ocp = self._ocp
        return ocp.args.Composite(
            state=ocp.args.StandardSave(_stored(state)), meta=ocp.args.JsonSave(meta)
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
        meta = {"epoch": int(epoch), "metrics": metrics}
        self._latest.save(int(epoch), args=self._args(state, meta))
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
        metadata holds ``epoch`` and the saved ``metrics``. Default: the latest epoch."""
        ocp = self._ocp
        manager = self._best if best else self._latest
        manager.wait_until_finished()
        epoch = manager.latest_step() if epoch is None else epoch
        if epoch is None:
            raise FileNotFoundError(
                f"no {'best' if best else 'saved'} checkpoint in {self.directory}"
            )
        abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, _stored(template))
        restored = manager.restore(
            epoch,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()
            ),
        )
        state = restored["state"]
        if isinstance(state, Mapping) and _is_named_tuple(template):
            state = template._replace(**state)
        return state, dict(restored["meta"])

    def wait(self) -> None:
        """Block until background saves are written."""
        self._latest.wait_until_finished()
        self._best.wait_until_finished()

    def close(self) -> None:
        self._latest.close()
        self._best.close()
