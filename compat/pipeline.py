"""The conversion and verification pipelines behind ``jaxnn-compat``, as Python functions.

* :func:`convert`: a ``.pth``/``.pt``/``.safetensors`` state_dict to a jaxnn checkpoint
  directory, or a jaxnn checkpoint to ``.pth``/``.safetensors`` (by the destination's
  suffix). The written file is read back and compared tensor by tensor before it is put in
  place; a failed conversion leaves no destination behind.
* :func:`verify`: load the weights into a jaxnn model and its PyTorch twin, run both on the
  same seeded input and return the parity reports.
* :func:`load_variables`: the weights of any of those files as a model's variables.

Both directions stream: one tensor (or block of one) of the source is held at a time, and
checkpoints are read back a few arrays at a time. Bad input raises
:class:`~jaxnn.compat.sources.ConversionError` with a one-line reason.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from jaxnn import checkpoint
from jaxnn import state_dict as sd
from jaxnn._files import commit, remove, sibling
from jaxnn._tree import unflatten
from jaxnn.compat.convert import from_numpy, leaf_to_torch, to_numpy, torch_to_flax
from jaxnn.compat.files import (
    SAFETENSORS_SUFFIX,
    TORCH_SUFFIXES,
    open_tensors,
    tensors_equal,
    write_state_dict,
)
from jaxnn.compat.models import (
    build_model,
    build_torch_model,
    example_batch,
    example_input,
    template,
)
from jaxnn.compat.sources import ConversionError, TensorSource, numpy_dtype

__all__ = ["GROUP_BYTES", "check_destination", "convert", "load_variables", "verify"]

Log = Callable[[str], None]

GROUP_BYTES = 64 * 1024 * 1024
"""Bytes of arrays read back from a checkpoint per restore (one larger array alone)."""


def _quiet(message: str) -> None:
    del message


# ----------------------------------------------------------------------------- dtypes


def _is_floating(dtype: Any) -> bool:
    return np.dtype(dtype).kind == "f" or np.dtype(dtype) == numpy_dtype("bfloat16")


def _cast_torch(block: np.ndarray, dtype: str | None) -> np.ndarray:
    """A block of a source tensor cast to ``dtype`` by torch, as ``tensor.to(dtype)`` casts
    (floating blocks only; others are returned as they are)."""
    if dtype is None or not _is_floating(block.dtype):
        return block
    import torch

    return to_numpy(from_numpy(block).to(getattr(torch, dtype)))


def _cast_jax(array: np.ndarray, dtype: str | None) -> np.ndarray:
    """A jaxnn leaf cast to ``dtype`` if it is floating."""
    if dtype is None or not _is_floating(np.asarray(array).dtype):
        return array
    return np.asarray(array).astype(numpy_dtype(dtype))


def _source_dtype(tensors: TensorSource, key: str, dtype: str | None) -> np.dtype:
    """The dtype of ``key``'s values once cast to ``dtype`` (floating tensors only)."""
    name = tensors.dtype_name(key)
    found = numpy_dtype(name)
    if found is None:
        raise ConversionError(f"{key}: tensors of dtype {name} are not supported")
    if dtype is not None and _is_floating(found):
        return numpy_dtype(dtype)
    return found


def _check_x64(tensors: TensorSource, src: Path, dtype: str | None) -> None:
    """float64 tensors (once cast to ``dtype``) would silently become float32 in JAX's
    default (32-bit) mode."""
    import jax

    def name(key: str) -> str:
        name = tensors.dtype_name(key)
        return dtype if dtype is not None and name.startswith(("float", "bfloat")) else name

    wide = [
        k
        for k in tensors.keys()
        if name(k) in ("float64", "int64") and not k.endswith("num_batches_tracked")
    ]
    if wide and jax.dtypes.canonicalize_dtype(np.float64) != np.float64:
        raise ConversionError(
            f"{src}: {len(wide)} tensors are 64-bit ({', '.join(wide[:3])}...), which JAX "
            f"keeps only with JAX_ENABLE_X64=1; set it, or pass --dtype float32 for floats"
        )


def _note_unchecked(tensors: TensorSource, src: Path, log: Log) -> None:
    if not tensors.checked:
        log(f"{src} carries no checksums: damage to its values cannot be detected")


# ----------------------------------------------------------------------------- torch -> jaxnn


def _leaf_from_torch(
    tensors: TensorSource, key: str, leaf: sd.TorchLeaf, dtype: str | None
) -> np.ndarray:
    """One jaxnn leaf (numpy, C-ordered, shaped like the template leaf) from the tensor
    ``key``, written block by block through a torch-layout view of the result, so that
    neither a whole source tensor nor a transposed copy of one is ever held."""
    import jax

    target = _source_dtype(tensors, key, dtype)
    if np.issubdtype(target, np.integer):
        target = np.dtype(leaf.leaf.dtype)  # counters: the template's dtype (int32 unless x64)
    target = np.dtype(jax.dtypes.canonicalize_dtype(target))  # as jnp.asarray would
    out = np.empty(tuple(leaf.leaf.shape), target)
    view = leaf.rule.to_torch(out)
    if not np.may_share_memory(view, out):  # a rule that copies: convert the whole tensor
        whole = np.empty(tensors.shape(key), target)
        for r0, block in tensors.blocks(key):
            _put(whole, r0, _cast_torch(block, dtype))
        out[...] = leaf.rule.to_flax(whole)
        return out
    for r0, block in tensors.blocks(key):
        _put(view, r0, _cast_torch(block, dtype))
    return out


def _put(dst: np.ndarray, r0: int, block: np.ndarray) -> None:
    """``dst[r0 : r0 + len(block)] = block``, tile by tile where ``dst`` is a transposed
    view."""
    sd.copy_tiled(dst[r0 : r0 + block.shape[0]] if dst.ndim else dst, block)


def _same_values(got: np.ndarray, want: np.ndarray) -> bool:
    """Bit for bit, or by value where both are integers (jaxnn keeps counters as int32)."""
    if np.issubdtype(want.dtype, np.integer) and np.issubdtype(got.dtype, np.integer):
        return got.shape == want.shape and bool(np.array_equal(got, want))
    return tensors_equal(got, want)


def _matches(got: np.ndarray, tensors: TensorSource, key: str, dtype: str | None) -> bool:
    """``got`` (torch layout; may be a transposed view) equals the source tensor ``key``
    cast to ``dtype``, compared a block of the source at a time."""
    want = _source_dtype(tensors, key, dtype)
    if got.shape != tensors.shape(key):
        return False
    if got.dtype != want and not (np.issubdtype(got.dtype, np.integer) and want.kind in "iu"):
        return False
    for r0, block in tensors.blocks(key):
        part = got[r0 : r0 + block.shape[0]] if got.ndim else got
        if not _same_values(part, _cast_torch(block, dtype)):
            return False
    return True


def _same_tensor(tensors: TensorSource, a: str, b: str) -> bool:
    """Two keys of one source hold the same values (a tied pair), block by block."""
    if tensors.shape(a) != tensors.shape(b) or tensors.dtype_name(a) != tensors.dtype_name(b):
        return False
    return all(
        tensors_equal(x, y)
        for (_, x), (_, y) in zip(tensors.blocks(a), tensors.blocks(b), strict=True)
    )


def _groups(entries: list[tuple[Any, int]]) -> list[list[Any]]:
    """Items grouped, largest first, into lists of at most GROUP_BYTES (or one item)."""
    groups: list[list[Any]] = []
    size = GROUP_BYTES
    for item, nbytes in sorted(entries, key=lambda e: -e[1]):
        if size + nbytes > GROUP_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(item)
        size += nbytes
    return groups


def _get(tree: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    for k in path:
        tree = tree[k]
    return tree


def _nbytes(spec: Any) -> int:
    return int(np.prod(spec.shape, dtype=np.int64)) * np.dtype(spec.dtype).itemsize


def _compare_checkpoint(ckpt: Path, tensors: TensorSource, dtype: str | None) -> None:
    """Read the checkpoint ``ckpt`` back a few arrays at a time: every leaf equals its torch
    counterpart in ``tensors`` (cast to ``dtype``), bit for bit (integer counters by value:
    jaxnn keeps them as int32), every tied alias the source holds equals its leaf, and no
    source key is left over."""
    written = checkpoint.shapes(ckpt)
    aliases = sd.tied_keys(written)
    by_target: dict[str, list[str]] = {}
    for alias, target in aliases.items():
        by_target.setdefault(target, []).append(alias)
    seen, bad, entries = set(aliases), [], []
    for leaf in sd.torch_leaves(written):
        keys = [k for k in (leaf.key, *by_target.get(leaf.key, ())) if k in tensors]
        seen.add(leaf.key)
        if not keys:
            bad.append(f"{leaf.key} (not in the source)")
            continue
        entries.append(((leaf, keys), _nbytes(leaf.leaf)))
    for group in _groups(entries):
        arrays = checkpoint.load(ckpt, leaves=[(leaf.collection, *leaf.path) for leaf, _ in group])
        for leaf, keys in group:
            got = leaf.rule.to_torch(_get(arrays, (leaf.collection, *leaf.path)))
            for key in keys:
                if not _matches(got, tensors, key, dtype):
                    want = f"{_source_dtype(tensors, key, dtype)}{list(tensors.shape(key))}"
                    bad.append(f"{key} ({got.dtype}{list(got.shape)} vs {want})")
        del arrays, got
    bad += [f"{k} (missing from the checkpoint)" for k in tensors.keys() if k not in seen]
    if bad:
        raise ConversionError(f"read-back check failed, the written file differs: {', '.join(bad)}")


def _torch_to_checkpoint(
    src: Path, tmp: Path, model_spec: str, kwargs: dict[str, Any], shape: Any, dtype: Any, log: Log
) -> int:
    """Write the PyTorch file ``src`` as a jaxnn checkpoint at ``tmp`` and verify it.

    One tensor at a time is read and converted (largest first, while little else is held),
    the arrays are written uncompressed without further copies, and the checkpoint is read
    back a few arrays at a time and compared with the source read again from its file."""
    model = build_model(model_spec, kwargs)
    variables_spec = template(model, example_input(model, shape))
    tensors, source_format, entry = open_tensors(src)
    if entry is not None:
        log(f"using the checkpoint's '{entry}' entry as the state_dict")
    _note_unchecked(tensors, src, log)
    _check_x64(tensors, src, dtype)
    try:
        match = sd.match_state_dict({k: tensors.shape(k) for k in tensors.keys()}, variables_spec)
    except sd.StateDictMismatchError as e:
        raise ConversionError(f"{src}: {e} (model {model_spec})") from e
    untied = [(a, t) for a, t in match.tied if not _same_tensor(tensors, a, t)]
    if untied:
        error = sd.StateDictMismatchError([], [], [], untied)
        raise ConversionError(f"{src}: {error} (model {model_spec})")
    flat = {}
    for leaf, key in sorted(match.pairs, key=lambda p: -tensors.nbytes(p[1])):
        flat[(leaf.collection, *leaf.path)] = _leaf_from_torch(tensors, key, leaf, dtype)
    order = [(leaf.collection, *leaf.path) for leaf, _ in match.pairs]
    variables = unflatten({path: flat.pop(path) for path in order})
    if sd.TIED in variables_spec:
        variables[sd.TIED] = {
            alias: {target: np.zeros((), np.int8) for target in targets}
            for alias, targets in variables_spec[sd.TIED].items()
        }
    metadata = {
        "model": model_spec,
        "model_kwargs": kwargs,
        "source": src.name,
        "source_format": source_format,
        "torch_keys": tensors.keys(),
    }
    checkpoint.save(variables, tmp, metadata=metadata, compress=False)
    del variables
    _compare_checkpoint(tmp, tensors, dtype)
    return len(tensors)


# ----------------------------------------------------------------------------- jaxnn -> torch


def _checkpoint_to_torch(
    src: Path, dst: Path, tmp: Path, model_spec: str | None, kwargs: dict, shape: Any, dtype: Any
) -> int:
    """Write the jaxnn checkpoint ``src`` as the PyTorch file ``tmp`` (format by ``dst``'s
    suffix) and verify it. Arrays are read a few at a time, largest first, each converted
    and dropped before the next group is read."""
    specs = checkpoint.shapes(src)
    expected = None
    if model_spec is not None:
        model = build_model(model_spec, kwargs)
        expected = template(model, example_input(model, shape))
        try:
            checkpoint.check_fit(specs, expected)
        except ValueError as e:
            raise ConversionError(f"{src}: {e}") from e
        specs = expected  # its order, and the dtypes arrays are cast to
    torch_leaves = {(leaf.collection, *leaf.path): leaf for leaf in sd.torch_leaves(specs)}
    entries = [(path, _nbytes(leaf.leaf)) for path, leaf in torch_leaves.items()]
    tensors: dict[str, Any] = {}
    for group in _groups(entries):
        try:
            arrays = checkpoint.load(src, expected, leaves=group)
        except checkpoint.DamagedCheckpointError:
            raise
        except ValueError as e:
            raise ConversionError(f"{src}: {e}") from e
        for path in group:
            leaf = torch_leaves[path]
            value = _cast_jax(_get(arrays, path), dtype)
            tensors[leaf.key] = leaf_to_torch(leaf._replace(leaf=value))
        del arrays, value  # nothing of this group may live on while the next one is read
    for alias, target in sd.tied_keys(specs).items():
        tensors[alias] = tensors[target]
    # the source file's key order, when the checkpoint came from one
    order = checkpoint.read_metadata(src).get("torch_keys")
    if not (isinstance(order, list) and sorted(order) == sorted(tensors)):
        order = list(tensors)
    state_dict = {k: tensors.pop(k) for k in order}
    write_state_dict(state_dict, tmp, dst.suffix)
    return len(state_dict)


# ----------------------------------------------------------------------------- public


def check_destination(dst: Path, force: bool) -> None:
    """Raise ConversionError unless ``dst`` can be written (absent, or ``force``; its
    directory writable).

    Args:
        dst: the file or checkpoint directory to write.
        force: an existing ``dst`` will be replaced.
    """
    if dst.exists() and not force:
        raise ConversionError(f"{dst} already exists; pass --force to replace it")
    parent = dst.absolute().parent
    if not parent.is_dir():
        raise ConversionError(f"cannot write {dst}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConversionError(f"cannot write {dst}: directory {parent} is not writable")


def convert(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    model: str | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
    input_shape: tuple[int, ...] | None = None,
    dtype: str | None = None,
    force: bool = False,
    log: Log = _quiet,
) -> int:
    """Convert ``src`` to ``dst`` and verify the result bit for bit; returns the number of
    tensors written.

    Args:
        src: a ``.pth``/``.pt`` (a state_dict, or a training checkpoint with a
            ``state_dict`` / ``model`` entry) or ``.safetensors`` file, or a jaxnn
            checkpoint directory.
        dst: a jaxnn checkpoint directory for a PyTorch ``src``; a ``.pth``/``.pt``/
            ``.safetensors`` file for a jaxnn ``src``.
        model: a ``jaxnn.models`` name or ``module.path:ClassName``; required for a
            PyTorch ``src``, optional for a jaxnn one (it then checks the structure).
        model_kwargs: the model's constructor arguments.
        input_shape: the input shape that builds the model's variables (default: the
            model's ``example_input()``).
        dtype: cast floating tensors to 'float32', 'bfloat16' or 'float16'.
        force: replace an existing ``dst`` (atomically).
        log: receives one-line notes (e.g. which checkpoint entry was used).

    Raises:
        ConversionError: bad input, or a read-back that differs; nothing is left at ``dst``.
    """
    src, dst = Path(src), Path(dst)
    if not src.exists():
        raise ConversionError(f"{src}: no such file")
    from_jaxnn = checkpoint.is_checkpoint(src)
    to_torch = dst.suffix in (*TORCH_SUFFIXES, SAFETENSORS_SUFFIX)
    if from_jaxnn and not to_torch:
        raise ConversionError(
            f"converting the jaxnn checkpoint {src} needs a DST ending in "
            f".pth, .pt or .safetensors, got {dst}"
        )
    if not from_jaxnn and to_torch:
        raise ConversionError(
            f"{dst}: a PyTorch file converts to a jaxnn checkpoint directory; "
            f"give DST without a .pth/.pt/.safetensors suffix"
        )
    if not from_jaxnn and model is None:
        raise ConversionError("--model is required to convert a PyTorch file")
    check_destination(dst, force)
    kwargs = dict(model_kwargs or {})
    tmp = sibling(dst.absolute(), "tmp")
    try:
        if from_jaxnn:
            count = _checkpoint_to_torch(src, dst, tmp, model, kwargs, input_shape, dtype)
        else:
            count = _torch_to_checkpoint(src, tmp, model, kwargs, input_shape, dtype, log)
        commit(tmp, dst)
    except checkpoint.DamagedCheckpointError as e:  # the source, or what was just written
        remove(tmp)
        raise ConversionError(str(e)) from e
    except BaseException:
        remove(tmp)
        raise
    return count


def load_variables(
    src: str | os.PathLike, model: Any, variables_spec: Mapping[str, Any], log: Log = _quiet
) -> dict[str, Any]:
    """The weights in ``src`` (a jaxnn checkpoint or a PyTorch file) as variables of
    ``model`` with the structure of ``variables_spec`` (e.g. :func:`template`).

    Args:
        src: a jaxnn checkpoint directory or a ``.pth``/``.pt``/``.safetensors`` file.
        model: the jaxnn module, named in a mismatch's message.
        variables_spec: the variables' structure and shapes (arrays or
            ``jax.ShapeDtypeStruct``).
        log: receives one-line notes (e.g. which checkpoint entry was used). Default:
            silent.

    Raises:
        ConversionError: unreadable or damaged weights, or weights that do not fit
            ``variables_spec`` (every bad key listed).
    """
    src = Path(src)
    if checkpoint.is_checkpoint(src):
        try:
            return checkpoint.load(src, variables_spec)
        except checkpoint.DamagedCheckpointError as e:
            raise ConversionError(str(e)) from e
        except ValueError as e:
            raise ConversionError(f"{src}: {e}") from e
    tensors, _, entry = open_tensors(src)
    if entry is not None:
        log(f"using the checkpoint's '{entry}' entry as the state_dict")
    _note_unchecked(tensors, src, log)
    state_dict = {key: tensors.read(key) for key in tensors.keys()}
    try:
        return torch_to_flax(state_dict, variables_spec)
    except sd.StateDictMismatchError as e:
        raise ConversionError(f"{src}: {e} (model {type(model).__name__})") from e


def verify(
    src: str | os.PathLike,
    *,
    model: str,
    model_kwargs: Mapping[str, Any] | None = None,
    torch_model: str | None = None,
    input_shape: tuple[int, ...] | None = None,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    seed: int = 0,
    log: Log = _quiet,
) -> list[Any]:
    """Load ``src``'s weights into the jaxnn ``model`` and its PyTorch twin, run both on
    the same seeded input (eval mode; also train mode when the model has BatchNorm) and
    return the :class:`~jaxnn.compat.parity.ParityReport` of each mode.

    Args:
        src: as for :func:`convert`.
        model: as for :func:`convert`.
        model_kwargs: as for :func:`convert`.
        input_shape: as for :func:`convert`.
        log: as for :func:`convert`.
        torch_model: the twin: a class of ``jaxnn.compat.torch_models``, one of
            torchvision's builder names, or ``module.path:ClassName``. Default: the name
            given as ``model`` (``LeNet``'s twin, torchvision's ``resnet50``; for
            ``module.path:Net``, ``Net``).
        atol: a tensor passes when ``max|jaxnn - torch| <= atol + rtol * max|torch|``.
        rtol: see ``atol``.
        seed: seed of the random input.
    """
    from jaxnn.compat.parity import compare

    kwargs = dict(model_kwargs or {})
    jax_model = build_model(model, kwargs)
    spec = example_input(jax_model, input_shape)
    variables = load_variables(src, jax_model, template(jax_model, spec), log)
    twin_name = torch_model or model.rpartition(":")[2]  # module.path:Net's twin is Net
    twin = build_torch_model(twin_name, kwargs)
    x = example_batch(spec, seed)
    reports = []
    for train in [False, True] if "batch_stats" in variables else [False]:
        try:
            report = compare(
                jax_model, variables, twin, x, train=train, atol=atol, rtol=rtol, load_weights=True
            )
        except ValueError as e:
            if train:  # e.g. active Dropout: train-mode outputs cannot be compared
                log(f"train mode not compared: {e}")
                continue
            raise ConversionError(str(e)) from e
        except RuntimeError as e:  # torch's load_state_dict on a twin that does not fit
            raise ConversionError(f"the torch model {twin_name} does not fit: {e}") from e
        reports.append(report)
    return reports
