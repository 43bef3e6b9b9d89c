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
import shutil
import sys
import traceback
import uuid
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from jaxnn._tree import leaves as _leaves

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
        variables = jax.eval_shape(model.init, jax.random.key(0), dummy)
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


def _load_pth(path: Path) -> Any:
    import pickle

    import torch

    try:
        with warnings.catch_warnings():
            # a note that the pickle protocol is newer than torch's default; the
            # weights-only unpickler still vets every instruction
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
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


def _read_torch_file(path: Path) -> tuple[dict[str, Any], str]:
    """A state_dict (str -> torch.Tensor) from .pth/.pt/.safetensors, and its format."""
    if not path.exists():
        raise CliError(f"{path}: no such file")
    if path.is_dir():
        raise CliError(f"{path}: is a directory but not a jaxnn checkpoint")
    _progress(path, "reading")
    if path.suffix == SAFETENSORS_SUFFIX:
        from safetensors.torch import load_file

        try:
            state_dict = load_file(path)
        except Exception as e:  # SafetensorError, OSError, ...
            raise CliError(f"{path}: not a valid safetensors file ({e})") from e
        if not state_dict:
            raise CliError(f"{path}: holds no tensors")
        return state_dict, "safetensors"
    if path.suffix in TORCH_SUFFIXES:
        state_dict, entry = _state_dict_of(_load_pth(path), path)
        if entry is not None:
            print(f"using the checkpoint's '{entry}' entry as the state_dict")
        return state_dict, "pytorch (torch.save)"
    raise CliError(
        f"{path}: unknown file type {path.suffix!r}; expected .pth, .pt, .safetensors "
        f"or a jaxnn checkpoint directory"
    )


def _numpy(value: Any) -> np.ndarray:
    """torch tensor / jax / numpy -> numpy without a copy where possible (bfloat16 too)."""
    if type(value).__module__.startswith("torch"):
        import torch

        if value.dtype == torch.bfloat16:
            import ml_dtypes

            return value.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
        return value.numpy()
    return np.asarray(value)


def _bits_equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Same dtype, shape and bytes (NaN payloads and -0.0 included)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.itemsize in (1, 2, 4, 8):
        unsigned = np.dtype(f"u{a.dtype.itemsize}")
        return bool(np.array_equal(a.view(unsigned), b.view(unsigned)))
    return bool(np.array_equal(a, b, equal_nan=True))


def _sibling(path: Path, tag: str) -> Path:
    return path.with_name(f".{path.name}.{tag}-{uuid.uuid4().hex[:8]}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _commit(tmp: Path, dst: Path) -> None:
    """Move the finished ``tmp`` to ``dst``, replacing an existing ``dst`` atomically."""
    if dst.exists() and (dst.is_dir() or tmp.is_dir()):
        old = _sibling(dst, "old")
        dst.rename(old)
        try:
            tmp.rename(dst)
        except BaseException:
            old.rename(dst)
            raise
        _remove(old)
    else:
        os.replace(tmp, dst)


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


def _cast_torch(state_dict: dict[str, Any], dtype: str | None) -> dict[str, Any]:
    if dtype is None:
        return state_dict
    import torch

    target = getattr(torch, dtype)
    return {k: v.to(target) if v.is_floating_point() else v for k, v in state_dict.items()}


def _check_x64(state_dict: Mapping[str, Any], src: Path) -> None:
    """float64 tensors would silently become float32 in JAX's default (32-bit) mode."""
    import jax

    wide = [
        k
        for k, v in state_dict.items()
        if str(v.dtype) in ("torch.float64", "torch.int64")
        and not k.endswith("num_batches_tracked")
    ]
    if wide and jax.dtypes.canonicalize_dtype(np.float64) != np.float64:
        raise CliError(
            f"{src}: {len(wide)} tensors are 64-bit ({', '.join(wide[:3])}...), which JAX "
            f"keeps only with JAX_ENABLE_X64=1; set it, or pass --dtype float32 for floats"
        )


def _cast_jax(tree: Mapping[str, Any], dtype: str | None) -> dict[str, Any]:
    if dtype is None:
        return dict(tree)
    import jax.numpy as jnp

    target = jnp.dtype(dtype)

    def cast(node: Any) -> Any:
        if isinstance(node, Mapping):
            return {k: cast(v) for k, v in node.items()}
        return np.asarray(node).astype(target) if _is_floating(node.dtype) else node

    return cast(tree)


def _rules() -> dict[tuple[str, str], Any]:
    from jaxnn.compat import LEAF_RULES

    return {(r.collection, r.flax_name): r for r in LEAF_RULES}


def _compare_checkpoint(variables: Mapping[str, Any], state_dict: Mapping[str, Any]) -> None:
    """Every leaf of ``variables`` equals its torch counterpart in ``state_dict``, bit for
    bit (integer counters by value: jaxnn keeps them as int32), and no key is left over."""
    from jaxnn.compat import torch_key

    rules, seen, bad = _rules(), set(), []
    for (collection, *path), leaf in _leaves(variables):
        key = torch_key(collection, tuple(path))
        seen.add(key)
        if key not in state_dict:
            bad.append(f"{key} (not in the source)")
            continue
        rule = rules.get((collection, path[-1]))
        got = np.asarray(leaf) if rule is None else rule.to_torch(np.asarray(leaf))
        want = _numpy(state_dict[key])
        if np.issubdtype(want.dtype, np.integer) and np.issubdtype(got.dtype, np.integer):
            same = got.shape == want.shape and np.array_equal(got, want)
        else:
            same = _bits_equal(got, want)
        if not same:
            bad.append(f"{key} ({got.dtype}{list(got.shape)} vs {want.dtype}{list(want.shape)})")
    bad += [f"{k} (missing from the checkpoint)" for k in state_dict if k not in seen]
    if bad:
        raise CliError(f"read-back check failed, the written file differs: {', '.join(bad)}")


def _compare_state_dicts(written: Mapping[str, Any], expected: Mapping[str, Any]) -> None:
    bad = sorted(set(written) ^ set(expected))
    bad += [
        k
        for k in expected
        if k in written and not _bits_equal(_numpy(written[k]), _numpy(expected[k]))
    ]
    if bad:
        raise CliError(f"read-back check failed, the written file differs: {', '.join(bad)}")


def _write_torch_file(state_dict: dict[str, Any], dst: Path, tmp: Path) -> None:
    if dst.suffix == SAFETENSORS_SUFFIX:
        from safetensors.torch import load_file, save_file

        save_file(state_dict, tmp, metadata={"format": "pt"})
        _compare_state_dicts(load_file(tmp), state_dict)
    else:
        import torch

        torch.save(state_dict, tmp)
        _compare_state_dicts(_load_pth(tmp), state_dict)


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
    from jaxnn.compat import StateDictMismatchError, flax_to_torch, torch_to_flax

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
            template = None
            if args.model is not None:
                model = _jax_model(args.model, kwargs)
                template = _template(model, _input_shape(model, kwargs, args.input_shape))
            _progress(src, "reading")
            try:
                variables = checkpoint.load(src, template)
            except ValueError as e:
                raise CliError(f"{src}: {e}") from e
            state_dict = flax_to_torch(_cast_jax(variables, args.dtype))
            del variables
            # the source file's key order, when the checkpoint came from one
            order = checkpoint.read_metadata(src).get("torch_keys")
            if isinstance(order, list) and sorted(order) == sorted(state_dict):
                state_dict = {k: state_dict[k] for k in order}
            _write_torch_file(state_dict, dst, tmp)
        else:
            model = _jax_model(args.model, kwargs)
            template = _template(model, _input_shape(model, kwargs, args.input_shape))
            state_dict, source_format = _read_torch_file(src)
            state_dict = _cast_torch(state_dict, args.dtype)
            _check_x64(state_dict, src)
            try:
                variables = torch_to_flax(state_dict, template)
            except StateDictMismatchError as e:
                raise CliError(f"{src}: {e} (model {args.model})") from e
            metadata = {
                "model": args.model,
                "model_kwargs": kwargs,
                "source": src.name,
                "source_format": source_format,
                "torch_keys": list(state_dict),
            }
            checkpoint.save(tmp, variables, metadata=metadata)
            del variables
            _compare_checkpoint(checkpoint.load(tmp), state_dict)
        _commit(tmp, dst)
    except BaseException:
        _remove(tmp)
        raise
    print(f"wrote {dst} ({len(state_dict)} tensors, read back and verified bit-exact)")
    return 0


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
