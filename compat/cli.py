"""``jaxnn-compat``: move weights between PyTorch and jaxnn, and prove they compute alike.

Subcommands (``jaxnn-compat SUBCOMMAND --help`` shows each one's options and an example):

* ``convert SRC DST --model NAME``: a ``.pth``/``.pt``/``.safetensors`` state_dict to a
  jaxnn checkpoint directory, or a jaxnn checkpoint to ``.pth``/``.safetensors`` (chosen
  by DST's suffix). The written file is read back and compared tensor by tensor before
  success is reported; a failed convert leaves no DST behind.
* ``verify SRC --model NAME``: load the weights into the jaxnn model and its PyTorch twin,
  run both on the same seeded inputs and print the per-layer parity report.
* ``inspect FILE``: keys, shapes, dtypes and parameter counts of any of those files.

Exit codes: 0 ok, 1 parity failed, 2 bad input (one line on stderr prefixed
``jaxnn-compat: error:``; a state_dict that does not fit lists every bad key after it).

``.pth`` files are read only with ``torch.load(..., weights_only=True)``: a pickle that
would build arbitrary objects or run code is refused, never executed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import traceback
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from jaxnn._files import commit as _commit
from jaxnn._files import remove as _remove
from jaxnn._files import sibling as _sibling
from jaxnn._tree import leaves as _leaves
from jaxnn._tree import unflatten

__all__ = ["DEFAULT_INPUT_SHAPES", "main"]

PROG = "jaxnn-compat"
LARGE_FILE_BYTES = 100 * 1024 * 1024
TORCH_SUFFIXES = (".pth", ".pt")
SAFETENSORS_SUFFIX = ".safetensors"

# The one place that knows each model's example input: class name -> input shape, or a
# function of the constructor kwargs for models whose input depends on them.
DEFAULT_INPUT_SHAPES: dict[str, tuple[int, ...] | Callable[[dict[str, Any]], tuple[int, ...]]] = {
    "LeNet": (1, 3, 32, 32),
    "SimpleCNN": (1, 1, 32, 32),
    "NeuralNetwork": (1, 28, 28),
    "CIFAR10Net": (1, 3, 32, 32),
    "VGG16": (1, 3, 224, 224),
    "ResNet18": (1, 3, 224, 224),
    "ResNetCIFAR": (1, 3, 32, 32),
    "ResidualBlock": lambda kw: (1, kw["in_channels"], 8, 8),
    "BasicBlock": lambda kw: (1, kw["inplanes"], 8, 8),
    "Classifier": lambda kw: (1, kw["num_inputs"]),
    "Regressor": lambda kw: (1, kw["num_inputs"]),
}


_SAFETENSORS_DTYPES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U8": "uint8",
    "BOOL": "bool",
}


class CliError(Exception):
    """Bad input: reported as one line (plus an optional listing), exit code 2."""


# ---------------------------------------------------------------------------------------
# models


def _tuples(value: Any) -> Any:
    """JSON lists -> tuples, so module attributes stay hashable like torch's tuples."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


def _model_kwargs(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        kwargs = json.loads(text)
    except json.JSONDecodeError as e:
        raise CliError(f"--model-kwargs is not valid JSON ({e}): {text!r}") from e
    if not isinstance(kwargs, dict):
        raise CliError(f"--model-kwargs must be a JSON object, got {text!r}")
    return _tuples(kwargs)


def _resolve_class(spec: str, module: Any, what: str) -> type:
    """A class from ``module`` by name, or from ``package.module:ClassName``."""
    if ":" in spec:
        module_name, _, class_name = spec.partition(":")
        try:
            mod = importlib.import_module(module_name)
        except Exception as e:  # ImportError, or the module failing as it imports
            raise CliError(f"cannot import {module_name!r} for {what} {spec!r}: {e}") from e
        cls = getattr(mod, class_name, None)
        if cls is None:
            raise CliError(f"module {module_name!r} has no {class_name!r} ({what} {spec!r})")
        return cls
    names = list(getattr(module, "__all__", ()))
    if spec not in names:
        raise CliError(
            f"unknown {what} {spec!r}; known: {', '.join(sorted(names))}, "
            f"or module.path:ClassName for your own"
        )
    return getattr(module, spec)


def _build(cls: type, kwargs: dict[str, Any], spec: str) -> Any:
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise CliError(f"cannot build {spec} with --model-kwargs {json.dumps(kwargs)}: {e}") from e


def _jax_model(spec: str, kwargs: dict[str, Any]) -> Any:
    from flax import linen

    import jaxnn.models

    cls = _resolve_class(spec, jaxnn.models, "model")
    if not (isinstance(cls, type) and issubclass(cls, linen.Module)):
        raise CliError(f"{spec!r} is not a Flax linen / jaxnn Module")
    return _build(cls, kwargs, spec)


def _input_shape(model: Any, kwargs: dict[str, Any], given: tuple[int, ...] | None):
    if given is not None:
        return given
    name = type(model).__name__
    default = DEFAULT_INPUT_SHAPES.get(name)
    if default is None:
        raise CliError(f"no default input shape for model {name}; pass --input-shape N,C,H,W")
    try:
        return default(kwargs) if callable(default) else default
    except KeyError as e:
        raise CliError(f"{name} needs {e.args[0]!r} in --model-kwargs") from e


def _template(model: Any, shape: tuple[int, ...]) -> dict[str, Any]:
    """The model's variables as shapes and dtypes only (nothing is computed)."""
    import jax
    import jax.numpy as jnp

    dummy = jax.ShapeDtypeStruct(shape, jnp.float32)
    try:
        # the key is made inside the traced function: an abstract key needs no XLA backend
        variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x), dummy)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CliError(
            f"cannot initialise {type(model).__name__} on input shape {shape}: {first} "
            f"(wrong --input-shape or --model-kwargs?)"
        ) from e
    return {k: v for k, v in variables.items() if k in ("params", "batch_stats")}


# ---------------------------------------------------------------------------------------
# reading and writing files


def _progress(path: Path, verb: str) -> None:
    size = path.stat().st_size if path.is_file() else _dir_size(path)
    if size > LARGE_FILE_BYTES:
        print(f"{PROG}: {verb} {path} ({size / 2**20:.0f} MB)...", file=sys.stderr, flush=True)


def _dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _refusal_reason(message: str) -> str:
    """The specific line of torch's weights_only refusal (not its boilerplate)."""
    for line in message.splitlines():
        if "GLOBAL" in line or "Unsupported" in line or "unsupported" in line:
            return line.strip()
    return message.strip().splitlines()[-1] if message.strip() else "not plain weights"


def _load_pth(path: Path, *, meta: bool = False) -> Any:
    """``torch.load(path, weights_only=True)``: tensors memory-mapped from the file, or with
    ``meta`` tensors that hold no data at all (shapes, dtypes and, for a zip archive,
    where each storage lies in the file)."""
    import pickle

    import torch

    try:
        with warnings.catch_warnings():
            # a note that the pickle protocol is newer than torch's default; the
            # weights-only unpickler still vets every instruction
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            if meta:
                return torch.load(path, map_location="meta", weights_only=True)
            return torch.load(
                path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path)
            )
    except pickle.UnpicklingError as e:
        raise CliError(
            f"{path}: refused to load: the pickle holds more than plain weights "
            f"({_refusal_reason(str(e))}); it was not executed. Re-save it as safetensors "
            f"in a trusted environment."
        ) from e
    except Exception as e:  # truncated or corrupt archives raise RuntimeError, KeyError, ...
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CliError(f"{path}: not a readable PyTorch file ({first})") from e


def _state_dict_of(obj: Any, path: Path) -> tuple[dict[str, Any], str | None]:
    """The state_dict in a loaded .pth: the object itself, or its 'state_dict' / 'model'
    entry (a training checkpoint). Returns the dict and the entry used."""
    import torch

    def is_state_dict(value: Any) -> bool:
        return (
            isinstance(value, Mapping)
            and len(value) > 0
            and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())
        )

    if is_state_dict(obj):
        return dict(obj), None
    if isinstance(obj, Mapping):
        for entry in ("state_dict", "model"):
            if is_state_dict(obj.get(entry)):
                return dict(obj[entry]), entry
        bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)][:5]
        raise CliError(
            f"{path}: not a state_dict: entries {bad} are not tensors, and there is no "
            f"'state_dict' or 'model' entry holding one"
        )
    raise CliError(f"{path}: not a state_dict: it holds a {type(obj).__name__}")


def _torch_source(path: Path, open_safetensors: Any, open_pth: Any) -> tuple[Any, str]:
    """Open a .pth/.pt/.safetensors file with the opener of its kind; the opened tensors
    and the format's name. ``open_pth(path)`` returns ``(tensors, entry)``, ``entry`` the
    checkpoint entry that held the state_dict (or None)."""
    if not path.exists():
        raise CliError(f"{path}: no such file")
    if path.is_dir():
        raise CliError(f"{path}: is a directory but not a jaxnn checkpoint")
    _progress(path, "reading")
    if path.suffix == SAFETENSORS_SUFFIX:
        try:
            tensors = open_safetensors(path)
        except Exception as e:  # SafetensorError, OSError, ...
            raise CliError(f"{path}: not a valid safetensors file ({e})") from e
        if not len(tensors):
            raise CliError(f"{path}: holds no tensors")
        return tensors, "safetensors"
    if path.suffix in TORCH_SUFFIXES:
        tensors, entry = open_pth(path)
        if entry is not None:
            print(f"using the checkpoint's '{entry}' entry as the state_dict")
        return tensors, "pytorch (torch.save)"
    raise CliError(
        f"{path}: unknown file type {path.suffix!r}; expected .pth, .pt, .safetensors "
        f"or a jaxnn checkpoint directory"
    )


def _read_torch_file(path: Path) -> tuple[dict[str, Any], str]:
    """A state_dict (str -> torch.Tensor) from .pth/.pt/.safetensors, and its format."""

    def load_safetensors(path: Path) -> dict[str, Any]:
        from safetensors.torch import load_file

        return load_file(path)

    return _torch_source(path, load_safetensors, lambda p: _state_dict_of(_load_pth(p), p))


# Bytes of one block when a tensor is read from its file a block of leading-axis rows at a time.
BLOCK_BYTES = 16 * 1024 * 1024


def _numpy_dtype(name: str) -> np.dtype | None:
    """The numpy dtype of a torch dtype name ("float32", "bfloat16", ...); None for one
    numpy cannot hold."""
    if name == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    if name in ("float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8"):
        return np.dtype(name)
    if name in ("bool", "complex64", "complex128"):
        return np.dtype(name)
    return None


def _torch_dtype_name(tensor: Any) -> str:
    return str(tensor.dtype).removeprefix("torch.")


class _Tensors:
    """A state_dict's keys, shapes and dtypes, with each tensor's values produced on
    demand (``blocks``), so that a conversion holds one tensor -- or one block of one --
    of its source at a time."""

    def keys(self) -> list[str]:
        raise NotImplementedError

    def shape(self, key: str) -> tuple[int, ...]:
        raise NotImplementedError

    def dtype_name(self, key: str) -> str:
        """torch's name for the dtype: "float32", "bfloat16", "int64", ..."""
        raise NotImplementedError

    def blocks(self, key: str) -> Any:
        """(first row, C-ordered numpy array) pairs covering the tensor in torch's layout,
        by rows of its leading axis (one pair for a 0-d tensor)."""
        raise NotImplementedError

    def __contains__(self, key: object) -> bool:
        return key in self.keys()

    def __len__(self) -> int:
        return len(self.keys())

    def nbytes(self, key: str) -> int:
        dtype = _numpy_dtype(self.dtype_name(key))
        return int(np.prod(self.shape(key), dtype=np.int64)) * (dtype.itemsize if dtype else 1)


class _MemoryTensors(_Tensors):
    """Tensors already loaded (or memory-mapped) by torch or safetensors."""

    def __init__(self, state_dict: Mapping[str, Any]):
        self._sd = state_dict

    def keys(self) -> list[str]:
        return list(self._sd)

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(self._sd[key].shape)

    def dtype_name(self, key: str) -> str:
        return _torch_dtype_name(self._sd[key])

    def blocks(self, key: str) -> Any:
        yield 0, _c_order(_numpy(self._sd[key]))


class _PthFileTensors(_Tensors):
    """The tensors of a torch.save zip archive, read straight from the file.

    torch.load(map_location="meta", weights_only=True) parses the pickle -- the same
    vetted unpickler as a real load -- and tells where each storage lies in the archive;
    the values are then read a block of rows at a time, so no full copy of the file is
    ever resident (a memory-mapped load keeps every page it touched)."""

    def __init__(self, path: Path, meta: Mapping[str, Any], located: dict[str, tuple]):
        self._path, self._meta, self._located = path, meta, located

    @classmethod
    def locate(cls, path: Path, meta: Mapping[str, Any]) -> _PthFileTensors | None:
        """None where torch does not say where a storage lies (older torch), the archive
        is not in this machine's byte order, or a dtype has no numpy equivalent: the
        caller then loads the file with torch."""
        if not _native_byte_order(path):
            return None
        size = path.stat().st_size
        located = {}
        for key, t in meta.items():
            dtype = _numpy_dtype(_torch_dtype_name(t))
            storage = t.untyped_storage()
            base = getattr(storage, "_checkpoint_offset", None)
            if dtype is None or t.device.type != "meta" or not isinstance(base, int):
                return None
            item = t.element_size()
            start = base + t.storage_offset() * item
            span = (sum((n - 1) * st for n, st in zip(t.shape, t.stride())) + 1) * item
            end = base + storage.nbytes()
            if t.numel() and (base < 0 or start < base or start + span > end or end > size):
                return None
            strides = tuple(st * item for st in t.stride())
            located[key] = (start, span, tuple(t.shape), strides, dtype, t.is_contiguous())
        return cls(path, meta, located)

    def keys(self) -> list[str]:
        return list(self._meta)

    def shape(self, key: str) -> tuple[int, ...]:
        return self._located[key][2]

    def dtype_name(self, key: str) -> str:
        return _torch_dtype_name(self._meta[key])

    def blocks(self, key: str) -> Any:
        start, span, shape, strides, dtype, contiguous = self._located[key]
        if 0 in shape:
            yield 0, np.empty(shape, dtype)
            return
        with open(self._path, "rb", buffering=0) as f:
            if not contiguous or not shape:
                raw = np.empty(span, np.uint8)
                self._read(f, start, raw)
                yield 0, _c_order(np.ndarray(shape, dtype, buffer=raw, strides=strides))
                return
            row = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
            step = max(1, BLOCK_BYTES // max(row, 1))
            for r0 in range(0, shape[0], step):
                block = np.empty((min(step, shape[0] - r0), *shape[1:]), dtype)
                self._read(f, start + r0 * row, block)
                yield r0, block

    def _read(self, f: Any, offset: int, out: np.ndarray) -> None:
        view = memoryview(out.reshape(-1).view(np.uint8))
        f.seek(offset)
        done = 0
        while done < len(view):
            n = f.readinto(view[done:])
            if not n:
                raise CliError(f"{self._path}: not a readable PyTorch file (truncated data)")
            done += n


def _native_byte_order(path: Path) -> bool:
    """Whether the archive's tensors are in this machine's byte order (torch.load byte-
    swaps otherwise; a file without the record is little-endian, as torch reads it)."""
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.count("/") == 1 and name.endswith("/byteorder"):
                return archive.read(name).decode().strip() == sys.byteorder
    return sys.byteorder == "little"


class _SafetensorsTensors(_Tensors):
    """A safetensors file's tensors, each read from the file when it is asked for."""

    def __init__(self, path: Path):
        from safetensors import safe_open

        self._path, self._info = path, {}
        with safe_open(path, framework="pt") as f:
            for key in f.keys():
                piece = f.get_slice(key)
                dtype = _SAFETENSORS_DTYPES.get(piece.get_dtype(), piece.get_dtype())
                self._info[key] = (tuple(piece.get_shape()), dtype)

    def keys(self) -> list[str]:
        return list(self._info)

    def shape(self, key: str) -> tuple[int, ...]:
        return self._info[key][0]

    def dtype_name(self, key: str) -> str:
        return self._info[key][1]

    def blocks(self, key: str) -> Any:
        from safetensors import safe_open

        with safe_open(self._path, framework="pt") as f:
            tensor = f.get_tensor(key)
        yield 0, _c_order(_numpy(tensor))


def _pth_tensors(path: Path) -> tuple[_Tensors, str | None]:
    """A .pth file's state_dict, read from the file tensor by tensor where possible."""
    if zipfile.is_zipfile(path):
        meta, entry = _state_dict_of(_load_pth(path, meta=True), path)
        located = _PthFileTensors.locate(path, meta)
        if located is not None:
            return located, entry
    state_dict, entry = _state_dict_of(_load_pth(path), path)
    return _MemoryTensors(state_dict), entry


def _open_tensors(path: Path) -> tuple[_Tensors, str]:
    """:func:`_read_torch_file` that reads no tensor yet: the state_dict's tensors are
    read on demand, one at a time."""
    return _torch_source(path, _SafetensorsTensors, _pth_tensors)


def _numpy(value: Any) -> np.ndarray:
    """torch tensor / jax / numpy -> numpy without a copy where possible (bfloat16 too)."""
    if type(value).__module__.startswith("torch"):
        import torch

        if value.dtype == torch.bfloat16:
            import ml_dtypes

            return value.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
        return value.numpy()
    return np.asarray(value)


def _c_order(a: np.ndarray) -> np.ndarray:
    """``a`` if C-ordered, else a C-ordered copy (0-d stays 0-d, unlike ascontiguousarray)."""
    return a if a.flags.c_contiguous else np.array(a, order="C")


def _bits_equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Same dtype, shape and bytes (NaN payloads and -0.0 included)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    strided = _bits_equal_strided(a, b)
    if strided is not None:
        return strided
    if a.dtype.itemsize in (1, 2, 4, 8):
        unsigned = np.dtype(f"u{a.dtype.itemsize}")
        return bool(np.array_equal(a.view(unsigned), b.view(unsigned)))
    return bool(np.array_equal(a, b, equal_nan=True))


def _check_destination(dst: Path, force: bool) -> None:
    if dst.exists() and not force:
        raise CliError(f"{dst} already exists; pass --force to replace it")
    parent = dst.absolute().parent
    if not parent.is_dir():
        raise CliError(f"cannot write {dst}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CliError(f"cannot write {dst}: directory {parent} is not writable")


def _is_floating(dtype: Any) -> bool:
    import jax.numpy as jnp

    return bool(jnp.issubdtype(dtype, jnp.floating))


def _cast_torch(block: np.ndarray, dtype: str | None) -> np.ndarray:
    """A block of a source tensor cast to ``dtype`` by torch, as ``tensor.to(dtype)`` casts
    (floating blocks only; others are returned as they are)."""
    if dtype is None or not _is_floating(block.dtype):
        return block
    import torch

    return _numpy(_from_numpy(block).to(getattr(torch, dtype)))


def _from_numpy(array: np.ndarray) -> Any:
    """numpy -> torch sharing memory (bfloat16 too)."""
    import torch

    if array.dtype == _numpy_dtype("bfloat16"):
        return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(array)


def _check_x64(tensors: _Tensors, src: Path, dtype: str | None) -> None:
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
        raise CliError(
            f"{src}: {len(wide)} tensors are 64-bit ({', '.join(wide[:3])}...), which JAX "
            f"keeps only with JAX_ENABLE_X64=1; set it, or pass --dtype float32 for floats"
        )


def _cast_jax(array: np.ndarray, dtype: str | None) -> np.ndarray:
    """A jaxnn leaf cast to ``dtype`` if it is floating."""
    if dtype is None or not _is_floating(array.dtype):
        return array
    import jax.numpy as jnp

    return np.asarray(array).astype(jnp.dtype(dtype))


def _source_dtype(tensors: _Tensors, key: str, dtype: str | None) -> np.dtype:
    """The dtype of ``key``'s values once cast to ``dtype`` (floating tensors only)."""
    name = tensors.dtype_name(key)
    numpy_dtype = _numpy_dtype(name)
    if numpy_dtype is None:
        raise CliError(f"{key}: tensors of dtype {name} are not supported")
    if dtype is not None and _is_floating(numpy_dtype):
        return _numpy_dtype(dtype)
    return numpy_dtype


def _leaf_from_torch(tensors: _Tensors, key: str, rule: Any, leaf: Any, dtype: str | None):
    """One jaxnn leaf (numpy, C-ordered, shaped like the template ``leaf``) from the
    tensor ``key``, written block by block through a torch-layout view of the result, so
    that neither a whole source tensor nor a transposed copy of one is ever held."""
    import jax

    target = _source_dtype(tensors, key, dtype)
    if np.issubdtype(target, np.integer):
        target = np.dtype(leaf.dtype)  # counters: the template's dtype (int32 unless x64)
    target = np.dtype(jax.dtypes.canonicalize_dtype(target))  # as jnp.asarray would
    out = np.empty(tuple(leaf.shape), target)
    view = rule.to_torch(out)
    if not np.may_share_memory(view, out):  # a rule that copies: convert the whole tensor
        whole = np.empty(tensors.shape(key), target)
        for r0, block in tensors.blocks(key):
            _put(whole, r0, _cast_torch(block, dtype))
        out[...] = rule.to_flax(whole)
        return out
    for r0, block in tensors.blocks(key):
        _put(view, r0, _cast_torch(block, dtype))
    return out


def _put(dst: np.ndarray, r0: int, block: np.ndarray) -> None:
    """``dst[r0 : r0 + len(block)] = block``, tile by tile where ``dst`` is a transposed
    view."""
    from jaxnn.compat.convert import _copy_tiled

    _copy_tiled(dst[r0 : r0 + block.shape[0]] if dst.ndim else dst, block)


def _rules() -> dict[tuple[str, str], Any]:
    from jaxnn.compat import LEAF_RULES

    return {(r.collection, r.flax_name): r for r in LEAF_RULES}


def _same_values(got: np.ndarray, want: np.ndarray) -> bool:
    """Bit for bit, or by value where both are integers (jaxnn keeps counters as int32)."""
    if np.issubdtype(want.dtype, np.integer) and np.issubdtype(got.dtype, np.integer):
        return got.shape == want.shape and bool(np.array_equal(got, want))
    return _bits_equal(got, want)


def _matches(got: np.ndarray, tensors: _Tensors, key: str, dtype: str | None) -> bool:
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


def _bits_equal_strided(a: np.ndarray, b: np.ndarray) -> bool | None:
    """:func:`_bits_equal` for a transposed ``a`` and C-ordered ``b`` by torch's strided
    compare (a third of numpy's time here); None where torch cannot take them."""
    if a.flags.c_contiguous or a.ndim < 2 or not (a.flags.writeable and b.flags.writeable):
        return None
    if a.dtype != b.dtype or a.shape != b.shape or a.dtype.itemsize not in (1, 2, 4, 8):
        return None
    import torch

    signed = np.dtype(f"i{a.dtype.itemsize}")
    return bool(torch.equal(torch.from_numpy(a.view(signed)), torch.from_numpy(b.view(signed))))


# Bytes of arrays read back from a checkpoint per restore (one larger array alone).
GROUP_BYTES = 64 * 1024 * 1024


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


def _compare_checkpoint(ckpt: Path, tensors: _Tensors, dtype: str | None) -> None:
    """Read the checkpoint ``ckpt`` back a few arrays at a time: every leaf equals its torch
    counterpart in ``tensors`` (cast to ``dtype``), bit for bit (integer counters by value:
    jaxnn keeps them as int32), and no key is left over."""
    from jaxnn import checkpoint
    from jaxnn.compat import torch_key
    from jaxnn.compat.convert import _rule

    seen, bad, entries = set(), [], []
    for path, spec in _leaves(checkpoint.shapes(ckpt)):
        key = torch_key(path[0], tuple(path[1:]))
        seen.add(key)
        if key not in tensors:
            bad.append(f"{key} (not in the source)")
            continue
        nbytes = int(np.prod(spec.shape, dtype=np.int64)) * np.dtype(spec.dtype).itemsize
        entries.append(((path, key), nbytes))
    for group in _groups(entries):
        arrays = checkpoint.load(ckpt, leaves=[path for path, _ in group])
        for path, key in group:
            got = _rule(path[0], path[-1]).to_torch(_get(arrays, path))
            if not _matches(got, tensors, key, dtype):
                want = f"{_source_dtype(tensors, key, dtype)}{list(tensors.shape(key))}"
                bad.append(f"{key} ({got.dtype}{list(got.shape)} vs {want})")
        del arrays, got
    bad += [f"{k} (missing from the checkpoint)" for k in tensors.keys() if k not in seen]
    if bad:
        raise CliError(f"read-back check failed, the written file differs: {', '.join(bad)}")


def _compare_state_dicts(written: _Tensors, expected: Mapping[str, Any]) -> None:
    """The file read back (``written``) holds exactly ``expected``, bit for bit."""
    bad = sorted(set(written.keys()) ^ set(expected))
    for key, tensor in expected.items():
        if key not in written:
            continue
        want = _numpy(tensor)
        same = written.shape(key) == tuple(want.shape)
        for r0, block in written.blocks(key) if same else ():
            part = want[r0 : r0 + block.shape[0]] if want.ndim else want
            same = same and _bits_equal(block, part)
            if not same:
                break
        if not same:
            bad.append(key)
    if bad:
        raise CliError(f"read-back check failed, the written file differs: {', '.join(bad)}")


def _write_torch_file(state_dict: dict[str, Any], dst: Path, tmp: Path) -> None:
    if dst.suffix == SAFETENSORS_SUFFIX:
        from safetensors.torch import save_file

        save_file(state_dict, tmp, metadata={"format": "pt"})
        _compare_state_dicts(_SafetensorsTensors(tmp), state_dict)
    else:
        import torch

        torch.save(state_dict, tmp)
        _compare_state_dicts(_pth_tensors(tmp)[0], state_dict)


# ---------------------------------------------------------------------------------------
# subcommands


def _load_variables(args: argparse.Namespace, model: Any, template: dict[str, Any]):
    """The weights in ``args.src`` as jaxnn variables of ``model``."""
    from jaxnn import checkpoint
    from jaxnn.compat import StateDictMismatchError, torch_to_flax

    src = Path(args.src)
    if checkpoint.is_checkpoint(src):
        _progress(src, "reading")
        try:
            return checkpoint.load(src, template)
        except ValueError as e:
            raise CliError(f"{src}: {e}") from e
    state_dict, _ = _read_torch_file(src)
    try:
        return torch_to_flax(state_dict, template)
    except StateDictMismatchError as e:
        raise CliError(f"{src}: {e} (model {type(model).__name__})") from e


def cmd_convert(args: argparse.Namespace) -> int:
    from jaxnn import checkpoint

    src, dst = Path(args.src), Path(args.dst)
    if not src.exists():
        raise CliError(f"{src}: no such file")
    from_jaxnn = checkpoint.is_checkpoint(src)
    to_torch = dst.suffix in (*TORCH_SUFFIXES, SAFETENSORS_SUFFIX)
    if from_jaxnn and not to_torch:
        raise CliError(
            f"converting the jaxnn checkpoint {src} needs a DST ending in "
            f".pth, .pt or .safetensors, got {dst}"
        )
    if not from_jaxnn and to_torch:
        raise CliError(
            f"{dst}: a PyTorch file converts to a jaxnn checkpoint directory; "
            f"give DST without a .pth/.pt/.safetensors suffix"
        )
    if not from_jaxnn and args.model is None:
        raise CliError("--model is required to convert a PyTorch file")
    _check_destination(dst, args.force)
    kwargs = _model_kwargs(args.model_kwargs)

    tmp = _sibling(dst.absolute(), "tmp")
    try:
        if from_jaxnn:
            count = _checkpoint_to_torch(args, kwargs, src, dst, tmp)
        else:
            count = _torch_to_checkpoint(args, kwargs, src, tmp)
        _commit(tmp, dst)
    except BaseException:
        _remove(tmp)
        raise
    print(f"wrote {dst} ({count} tensors, read back and verified bit-exact)")
    return 0


def _torch_to_checkpoint(
    args: argparse.Namespace, kwargs: dict[str, Any], src: Path, tmp: Path
) -> int:
    """Write the PyTorch file ``src`` as a jaxnn checkpoint at ``tmp`` and verify it.

    One tensor at a time is read and converted (largest first, while little else is held),
    the arrays are written uncompressed without further copies, and the checkpoint is read
    back a few arrays at a time and compared with the source read again from its file."""
    from jaxnn import checkpoint
    from jaxnn.compat.convert import StateDictMismatchError, _match_state_dict

    model = _jax_model(args.model, kwargs)
    template = _template(model, _input_shape(model, kwargs, args.input_shape))
    tensors, source_format = _open_tensors(src)
    _check_x64(tensors, src, args.dtype)
    try:
        pairs, _ = _match_state_dict({k: tensors.shape(k) for k in tensors.keys()}, template)
    except StateDictMismatchError as e:
        raise CliError(f"{src}: {e} (model {args.model})") from e
    flat = {}
    for collection, path, leaf, key, rule in sorted(pairs, key=lambda p: -tensors.nbytes(p[3])):
        flat[(collection, *path)] = _leaf_from_torch(tensors, key, rule, leaf, args.dtype)
    variables = unflatten({(c, *path): flat.pop((c, *path)) for c, path, *_ in pairs})
    metadata = {
        "model": args.model,
        "model_kwargs": kwargs,
        "source": src.name,
        "source_format": source_format,
        "torch_keys": tensors.keys(),
    }
    checkpoint.save(tmp, variables, metadata=metadata, compress=False)
    del variables
    _compare_checkpoint(tmp, tensors, args.dtype)
    return len(tensors)


def _checkpoint_to_torch(
    args: argparse.Namespace, kwargs: dict[str, Any], src: Path, dst: Path, tmp: Path
) -> int:
    """Write the jaxnn checkpoint ``src`` as the PyTorch file ``tmp`` (format by ``dst``'s
    suffix) and verify it. Arrays are read a few at a time, largest first, each converted
    and dropped before the next group is read."""
    from jaxnn import checkpoint
    from jaxnn.compat.convert import _leaf_to_torch, _unique_torch_key, _variableleaves

    template = None
    if args.model is not None:
        model = _jax_model(args.model, kwargs)
        template = _template(model, _input_shape(model, kwargs, args.input_shape))
    _progress(src, "reading")
    specs = checkpoint.shapes(src)
    if template is not None:
        try:
            checkpoint._check_fit(specs, checkpoint._plain(template))
        except ValueError as e:
            raise CliError(f"{src}: {e}") from e
        specs = checkpoint._plain(template)  # its order, and the dtypes arrays are cast to
    keys: dict[str, tuple[str, ...]] = {}
    entries = []
    for collection, path, spec in _variableleaves(specs):
        key = _unique_torch_key(keys, collection, path)
        keys[key] = (collection, *path)
        nbytes = int(np.prod(spec.shape, dtype=np.int64)) * np.dtype(spec.dtype).itemsize
        entries.append(((collection, *path), nbytes))
    tensors: dict[tuple[str, ...], Any] = {}
    for group in _groups(entries):
        try:
            arrays = checkpoint.load(src, template, leaves=group)
        except ValueError as e:
            raise CliError(f"{src}: {e}") from e
        for path in group:
            leaf = _cast_jax(_get(arrays, path), args.dtype)
            tensors[path] = _leaf_to_torch(path[0], path[1:], leaf)
        del arrays, leaf
    # the source file's key order, when the checkpoint came from one
    order = checkpoint.read_metadata(src).get("torch_keys")
    if not (isinstance(order, list) and sorted(order) == sorted(keys)):
        order = list(keys)
    state_dict = {k: tensors.pop(keys[k]) for k in order}
    _write_torch_file(state_dict, dst, tmp)
    return len(state_dict)


def cmd_verify(args: argparse.Namespace) -> int:
    import jaxnn.compat.torch_models as torch_models
    from jaxnn.compat.parity import compare

    kwargs = _model_kwargs(args.model_kwargs)
    model = _jax_model(args.model, kwargs)
    shape = _input_shape(model, kwargs, args.input_shape)
    template = _template(model, shape)
    variables = _load_variables(args, model, template)

    torch_spec = args.torch_model or type(model).__name__
    torch_model = _build(
        _resolve_class(torch_spec, torch_models, "torch model"), kwargs, torch_spec
    )
    x = np.random.default_rng(args.seed).standard_normal(shape).astype(np.float32)
    modes = [False, True] if "batch_stats" in variables else [False]
    ok = True
    for train in modes:
        try:
            report = compare(
                model,
                variables,
                torch_model,
                x,
                train=train,
                atol=args.atol,
                rtol=args.rtol,
                load_weights=True,
            )
        except ValueError as e:
            if train:  # e.g. active Dropout: train-mode outputs cannot be compared
                print(f"train mode not compared: {e}")
                continue
            raise CliError(str(e)) from e
        except RuntimeError as e:  # torch's load_state_dict on a twin that does not fit
            raise CliError(f"the torch model {torch_spec} does not fit: {e}") from e
        print(report)
        ok = ok and report.ok
    return 0 if ok else 1


def _counts(keys_and_shapes: list[tuple[str, tuple[int, ...], bool]]) -> list[str]:
    """Per top-level module and total parameter counts (buffers counted apart)."""
    per_module: dict[str, list[int]] = {}
    for key, shape, is_buffer in keys_and_shapes:
        n = int(np.prod(shape, dtype=np.int64))
        counts = per_module.setdefault(key.split(".")[0], [0, 0])
        counts[1 if is_buffer else 0] += n
    width = max([len(m) for m in per_module] + [6])
    lines = ["", f"{'module':<{width}}  {'parameters':>12}  {'buffers':>10}"]
    for module, (params, buffers) in per_module.items():
        lines.append(f"{module:<{width}}  {params:>12,}  {buffers:>10,}")
    total_p = sum(c[0] for c in per_module.values())
    total_b = sum(c[1] for c in per_module.values())
    lines.append(f"{'total':<{width}}  {total_p:>12,}  {total_b:>10,}")
    return lines


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(f"{c:<{w}}" for c, w in zip(row, widths)).rstrip() for row in [header, *rows]]


def cmd_inspect(args: argparse.Namespace) -> int:
    from jaxnn import checkpoint
    from jaxnn.compat import torch_key

    path = Path(args.file)
    if not path.exists():
        raise CliError(f"{path}: no such file")
    buffer_names = {r.torch_name for r in _rules().values() if r.collection == "batch_stats"}
    if checkpoint.is_checkpoint(path):
        try:
            metadata = checkpoint.read_metadata(path)
        except ValueError as e:
            raise CliError(f"{path}: unreadable metadata ({e})") from e
        _progress(path, "reading")
        try:
            variables = checkpoint.load(path)
        except Exception as e:
            raise CliError(f"{path}: unreadable jaxnn checkpoint ({e})") from e
        print(f"file: {path}\nformat: jaxnn checkpoint (orbax)")
        print("metadata: " + json.dumps(metadata, sort_keys=True))
        rows, entries = [], []
        for (collection, *leaf_path), leaf in _leaves(variables):
            key = torch_key(collection, tuple(leaf_path))
            shape = tuple(np.shape(leaf))
            rows.append(("/".join((collection, *leaf_path)), key, str(shape), str(leaf.dtype)))
            entries.append((key, shape, collection != "params"))
        lines = _table(rows, ("variable", "torch key", "shape", "dtype"))
    else:
        if path.suffix == SAFETENSORS_SUFFIX:
            from safetensors import safe_open

            try:
                with safe_open(path, framework="pt") as f:
                    slices = {k: f.get_slice(k) for k in f.keys()}
                    info = [
                        (
                            k,
                            tuple(s.get_shape()),
                            _SAFETENSORS_DTYPES.get(s.get_dtype(), s.get_dtype()),
                        )
                        for k, s in slices.items()
                    ]
                    file_metadata = f.metadata()
            except Exception as e:
                raise CliError(f"{path}: not a valid safetensors file ({e})") from e
            print(f"file: {path}\nformat: safetensors")
            if file_metadata:
                print("metadata: " + json.dumps(file_metadata, sort_keys=True))
        else:
            state_dict, fmt = _read_torch_file(path)
            info = [
                (k, tuple(v.shape), str(v.dtype).removeprefix("torch."))
                for k, v in state_dict.items()
            ]
            print(f"file: {path}\nformat: {fmt}")
        rows = [(k, str(s), d) for k, s, d in info]
        entries = [(k, s, k.rsplit(".", 1)[-1] in buffer_names) for k, s, _ in info]
        lines = _table(rows, ("key", "shape", "dtype"))
    print("\n".join(["", *lines, *_counts(entries)]))
    return 0


# ---------------------------------------------------------------------------------------
# the command line


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in text.replace("x", ",").split(",") if s.strip())
    except ValueError:
        shape = ()
    if not shape or any(s <= 0 for s in shape):
        raise argparse.ArgumentTypeError(f"expected positive integers like 1,3,32,32, got {text!r}")
    return shape


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show Python tracebacks on errors",
    )
    model = argparse.ArgumentParser(add_help=False)
    model.add_argument(
        "--model-kwargs",
        metavar="JSON",
        help="constructor arguments as a JSON object, e.g. '{\"num_classes\": 10}'",
    )
    model.add_argument(
        "--input-shape",
        type=_shape,
        metavar="N,C,H,W",
        help="example input shape used to build the model's variables "
        "(default: the model's usual input)",
    )

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Move weights between PyTorch and jaxnn and check parity.",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    raw = argparse.RawDescriptionHelpFormatter

    p = sub.add_parser(
        "convert",
        parents=[common, model],
        formatter_class=raw,
        help="convert .pth/.safetensors <-> jaxnn checkpoint",
        description="Convert a PyTorch state_dict (.pth/.pt, or a checkpoint dict with a "
        "'state_dict' or 'model' entry; or .safetensors) to a jaxnn checkpoint "
        "directory, or a jaxnn checkpoint to .pth/.safetensors (by DST's suffix).",
        epilog="example:\n  jaxnn-compat convert lenet.pth lenet_ckpt --model LeNet\n"
        "  jaxnn-compat convert lenet_ckpt lenet.safetensors",
    )
    p.add_argument("src", metavar="SRC")
    p.add_argument("dst", metavar="DST")
    p.add_argument(
        "--model",
        metavar="NAME",
        help="a jaxnn.models class name or module.path:ClassName (required for a "
        "PyTorch SRC; optional for a jaxnn SRC, where it checks the structure)",
    )
    p.add_argument(
        "--dtype",
        choices=["float32", "bfloat16", "float16"],
        help="cast floating-point tensors to this dtype",
    )
    p.add_argument("--force", action="store_true", help="replace an existing DST")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser(
        "verify",
        parents=[common, model],
        formatter_class=raw,
        help="run jaxnn and PyTorch on the same input and compare",
        description="Load SRC's weights into the jaxnn model and its PyTorch twin, run both on "
        "seeded random inputs (eval mode; also train mode when the model has "
        "BatchNorm) and print max abs/rel errors per layer. Exit 1 above tolerance.",
        epilog="example:\n  jaxnn-compat verify lenet.pth --model LeNet --atol 1e-5",
    )
    p.add_argument("src", metavar="SRC")
    p.add_argument(
        "--model",
        metavar="NAME",
        required=True,
        help="a jaxnn.models class name or module.path:ClassName",
    )
    p.add_argument(
        "--torch-model",
        metavar="NAME",
        help="the PyTorch twin (default: the same name in jaxnn.compat.torch_models)",
    )
    p.add_argument("--atol", type=float, default=1e-5, help="absolute tolerance (default 1e-5)")
    p.add_argument("--rtol", type=float, default=1e-4, help="relative tolerance (default 1e-4)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random input (default 0)")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser(
        "inspect",
        parents=[common],
        formatter_class=raw,
        help="list keys, shapes, dtypes and parameter counts",
        description="List the tensors of a .pth/.pt/.safetensors file or a jaxnn checkpoint "
        "(with torch-style key names and the stored metadata), with parameter "
        "counts per top-level module and in total.",
        epilog="example:\n  jaxnn-compat inspect lenet_ckpt",
    )
    p.add_argument("file", metavar="FILE")
    p.set_defaults(func=cmd_inspect)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``jaxnn-compat`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (2), already printed by argparse
        return int(e.code or 0)
    debug = getattr(args, "debug", False)
    try:
        return args.func(args)
    except CliError as e:
        if debug:
            traceback.print_exc()
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if debug:
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(
            f"{PROG}: error: {type(e).__name__}: {first} (run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
