"""How ``jaxnn.checkpoint`` drives orbax.

For a plain tree of variables: a writer that does not copy host arrays, chunked writes of
large arrays, the tree's metadata, numpy restores of every leaf or of a few. For a
training run (an orbax CheckpointManager): each epoch's file inventory, written beside
its files once they are complete; one epoch's restore, checked against that inventory
and the content hashes in its metadata; moving damaged epochs out of the manager's sight.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxnn._files import commit, sibling
from jaxnn._integrity import (
    check_inventory,
    differences,
    first_line,
    inventory,
    note_unchecked,
    opened,
    seal,
)
from jaxnn._tree import flat, keyed_leaves, plain, unflatten

# Arrays larger than this are stored in chunks of at most this many bytes, so reading one
# back holds a chunk, not a second copy of the whole array, beside the result.
CHUNK_BYTES = 64 * 1024 * 1024
# The sealed inventory of an epoch's files, in the epoch's directory of a training run.
FILES_RECORD = "jaxnn_files.json"

_log = logging.getLogger("jaxnn.checkpoint")


def checkpointer(compress: bool = True):
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
        multiprocessing_options=this_process_only(),
    )
    # a PyTreeCheckpointer (what PyTreeCheckpointer() would be, but with this handler)
    checkpointer = ocp.PyTreeCheckpointer.__new__(ocp.PyTreeCheckpointer)
    ocp.Checkpointer.__init__(checkpointer, handler, multiprocessing_options=this_process_only())
    return checkpointer


def this_process_only():
    """save / load read and write host arrays: in a run of several processes the one
    process that calls them does it all (``if jax.process_index() == 0: jaxnn.save(...)``,
    as with torch.save), where orbax would wait for every process at its barriers."""
    import orbax.checkpoint as ocp

    me = jax.process_index()
    return ocp.options.MultiprocessingOptions(primary_host=me, active_processes={me})


def save_args(tree: dict[str, Any]):
    """Orbax's save arguments for ``tree``: arrays over :data:`CHUNK_BYTES` chunked."""
    import orbax.checkpoint as ocp

    def args(leaf: Any) -> Any:
        big = getattr(leaf, "nbytes", 0) > CHUNK_BYTES
        return ocp.SaveArgs(chunk_byte_size=CHUNK_BYTES) if big else ocp.SaveArgs()

    return ocp.args.PyTreeSave(tree, save_args=jax.tree.map(args, tree))


def tree_metadata(arrays: Path) -> Any:
    """The orbax metadata tree of the arrays in ``arrays`` (shapes and dtypes); None where
    orbax could not read it (it logs why)."""

    meta = checkpointer().metadata(arrays)
    # orbax >= 0.11 wraps the tree in StepMetadata.item_metadata.tree
    meta = getattr(meta, "item_metadata", meta)
    return getattr(meta, "tree", meta)


def restore(
    arrays: Path, meta: Mapping[str, Any], leaves: Iterable[tuple[str, ...]] | None = None
) -> dict[str, Any]:
    """Every leaf of the tree saved in ``arrays`` (with the metadata ``meta``) as numpy
    arrays, or only the paths in ``leaves``.

    Raises:
        KeyError: a path in ``leaves`` is not in the tree.
    """
    import orbax.checkpoint as ocp

    # numpy restore: no device placement or sharding info needed, one host copy
    restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), meta)
    args = ocp.args.PyTreeRestore(restore_args=restore_args)
    if leaves is not None:
        args_of = flat(restore_args)
        wanted = {tuple(p): args_of["/".join(p)] for p in leaves}
        item = unflatten(dict.fromkeys(wanted, 0))
        try:
            args = ocp.args.PyTreeRestore(
                item=item, restore_args=unflatten(wanted), partial_restore=True
            )
        except TypeError:  # an orbax without partial restores: read all, keep these
            pass
    tree = plain(checkpointer().restore(arrays, args=args))
    if leaves is None:
        return tree
    return unflatten({p: flat(tree)["/".join(p)] for p in wanted})


def record_files(saved: list[tuple[Any, int]]) -> None:
    """For each (orbax CheckpointManager, epoch) in ``saved`` (emptied): once orbax has
    written it, write the inventory of the epoch's files beside them, atomically (on
    process 0)."""
    for manager, epoch in saved:
        manager.wait_until_finished()
        directory = Path(manager.directory) / str(epoch)
        if jax.process_index() == 0 and directory.is_dir():
            tmp = sibling(directory / FILES_RECORD, "tmp")
            tmp.write_text(json.dumps(seal({"files": inventory(directory)})))
            commit(tmp, directory / FILES_RECORD)
    saved.clear()


def _restore_item(manager: Any, epoch: int, **items: Any) -> Any:
    import orbax.checkpoint as ocp

    (name,) = items
    return manager.restore(epoch, args=ocp.args.Composite(**items))[name]


def restore_checked(
    manager: Any, epoch: int, abstract: Any, fit: Callable[[Any, Any], None]
) -> tuple[Any, dict[str, Any], str | None]:
    """(state, metadata, what is damaged or None) of ``epoch`` in the orbax
    CheckpointManager ``manager``: the files checked against their inventory, then the
    metadata read and unsealed, then (given ``abstract``, else state None) the state
    restored and checked against its content hashes. ``fit(written, template)`` (each
    ``{path: shape}``-like) raises where the template does not fit the recorded arrays:
    that is not damage."""
    import orbax.checkpoint as ocp

    directory = Path(manager.directory) / str(epoch)
    try:
        if (directory / FILES_RECORD).is_file():
            files = opened(json.loads((directory / FILES_RECORD).read_bytes()), "files")[0]
            problem = check_inventory(directory, files["files"])
            if problem is not None:
                return None, {}, problem
        meta, sealed = opened(_restore_item(manager, epoch, meta=ocp.args.JsonRestore()), "arrays")
    except Exception as e:  # JSON, the seal, orbax: many kinds
        return None, {}, first_line(e)
    if not sealed:
        note_unchecked(_log, f"epoch {epoch} in {manager.directory}", "it restores unchecked")
    recorded = meta.pop("arrays", None)
    if abstract is None:
        return None, meta, None
    if recorded is not None:
        specs = {p: jax.ShapeDtypeStruct(r["shape"], r["dtype"]) for p, r in recorded.items()}
        fit(specs, dict(keyed_leaves(abstract)))
    try:
        state = _restore_item(manager, epoch, state=ocp.args.StandardRestore(abstract))
    except Exception as e:
        if recorded is None:  # no record to tell damage from a template that does not fit
            raise
        return None, meta, first_line(e)
    bad = differences(keyed_leaves(state), recorded or {})
    return state, meta, "; ".join(f"{p}: {why}" for p, why in bad.items()) or None


def move_epochs(manager: Any, epochs: Iterable[int], directory: Path) -> list[Path]:
    """Move ``epochs`` of the orbax CheckpointManager ``manager`` into ``directory`` (as
    ``<manager dir name>-<epoch>``) and make the manager forget them; returns where they
    went. Process 0 moves them; every process reloads."""
    moved = []
    if jax.process_index() == 0:
        directory.mkdir(exist_ok=True)
        for epoch in epochs:
            target = directory / f"{Path(manager.directory).name}-{epoch}"
            while target.exists():
                target = target.with_name(target.name + "+")
            (Path(manager.directory) / str(epoch)).rename(target)
            moved.append(target)
    manager.reload()
    return moved
