"""``jaxnn-compat``: move weights between PyTorch and jaxnn, and prove they compute alike.

Subcommands (``jaxnn-compat SUBCOMMAND --help`` shows each one's options and an example):

* ``convert SRC DST --model NAME``: a ``.pth``/``.pt``/``.safetensors`` state_dict to a
  jaxnn checkpoint directory, or a jaxnn checkpoint to ``.pth``/``.safetensors`` (chosen
  by DST's suffix). The written file is read back and compared tensor by tensor before
  success is reported; a failed convert leaves no DST behind.
* ``verify SRC --model NAME``: load the weights into the jaxnn model and its PyTorch twin,
  run both on the same seeded inputs and print the per-layer parity report.
* ``inspect FILE``: keys, shapes, dtypes and parameter counts of any of those files.
* ``export SRC OUT.onnx --model NAME``: the weights in SRC as a verified ONNX file.

Exit codes: 0 ok, 1 parity failed, 2 bad input (one line on stderr prefixed
``jaxnn-compat: error:``; a state_dict that does not fit lists every bad key after it).

This module is the command line only -- arguments and printing. The work is done by
:mod:`jaxnn.compat.pipeline` (convert, verify), :mod:`jaxnn.compat.listing` (inspect) and
:mod:`jaxnn.compat.files` (reading and writing weight files).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from jaxnn.compat.sources import ConversionError

__all__ = ["build_parser", "main"]

PROG = "jaxnn-compat"
LARGE_FILE_BYTES = 100 * 1024 * 1024


def _progress(path: Path, verb: str) -> None:
    """A note on stderr before a long read."""
    if not path.exists():
        return
    if path.is_file():
        size = path.stat().st_size
    else:
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    if size > LARGE_FILE_BYTES:
        print(f"{PROG}: {verb} {path} ({size / 2**20:.0f} MB)...", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# subcommands


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
        raise ConversionError(f"--model-kwargs is not valid JSON ({e}): {text!r}") from e
    if not isinstance(kwargs, dict):
        raise ConversionError(f"--model-kwargs must be a JSON object, got {text!r}")
    return _tuples(kwargs)


def cmd_convert(args: argparse.Namespace) -> int:
    from jaxnn.compat import pipeline

    _progress(Path(args.src), "reading")
    count = pipeline.convert(
        args.src,
        args.dst,
        model=args.model,
        model_kwargs=_model_kwargs(args.model_kwargs),
        input_shape=args.input_shape,
        dtype=args.dtype,
        force=args.force,
        log=print,
    )
    print(f"wrote {args.dst} ({count} tensors, read back and verified bit-exact)")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from jaxnn.compat import pipeline

    _progress(Path(args.src), "reading")
    reports = pipeline.verify(
        args.src,
        model=args.model,
        model_kwargs=_model_kwargs(args.model_kwargs),
        torch_model=args.torch_model,
        input_shape=args.input_shape,
        atol=args.atol,
        rtol=args.rtol,
        seed=args.seed,
        log=print,
    )
    for report in reports:
        print(report)
    return 0 if all(report.ok for report in reports) else 1


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
    from jaxnn.compat.listing import inspect

    _progress(Path(args.file), "reading")
    found = inspect(args.file, log=print)
    print(f"file: {args.file}\nformat: {found.format}")
    if found.metadata:
        print("metadata: " + json.dumps(found.metadata, sort_keys=True))
    lines = _table(found.rows, found.header)
    print("\n".join(["", *lines, *_counts(found.counted)]))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from jaxnn.compat.exporting import export_onnx

    _progress(Path(args.src), "reading")
    path, shape = export_onnx(
        args.src,
        args.dst,
        model=args.model,
        model_kwargs=_model_kwargs(args.model_kwargs),
        input_shape=args.input_shape,
        opset=args.opset,
        force=args.force,
        log=print,
    )
    size = path.stat().st_size / 2**20
    print(
        f"wrote {args.dst} ({size:.1f} MB; input {shape} with a dynamic batch axis; "
        f"checked in onnxruntime at two batch sizes)"
    )
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


def build_parser() -> argparse.ArgumentParser:
    """The `jaxnn-compat` argument parser (the CLI reference is generated from it)."""
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

    p = sub.add_parser(
        "export",
        parents=[common, model],
        formatter_class=raw,
        help="export to ONNX, verified in onnxruntime",
        description="Load SRC's weights (a jaxnn checkpoint or .pth/.pt/.safetensors) into "
        "the jaxnn model and write it as an ONNX file with a dynamic batch axis. The file is "
        "run in onnxruntime at two batch sizes and compared with jaxnn before it is put in "
        "place.",
        epilog="example:\n  jaxnn-compat export lenet_ckpt lenet.onnx --model LeNet",
    )
    p.add_argument("src", metavar="SRC")
    p.add_argument("dst", metavar="OUT.onnx")
    p.add_argument(
        "--model",
        metavar="NAME",
        required=True,
        help="a jaxnn.models class name or module.path:ClassName",
    )
    p.add_argument("--opset", type=int, metavar="N", help="ONNX opset version (default 18)")
    p.add_argument("--force", action="store_true", help="replace an existing OUT.onnx")
    p.set_defaults(func=cmd_export)
    parser.subcommands = dict(sub.choices)  # name -> parser, for the generated reference
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``jaxnn-compat`` and return the exit code (0 ok, 1 parity failed, 2 bad input).

    Args:
        argv: the arguments after the program name, e.g. ``["inspect", "model.pth"]``.
            Default: None (``sys.argv[1:]``).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (2), already printed by argparse
        return int(e.code or 0)
    debug = getattr(args, "debug", False)
    notes = logging.StreamHandler(sys.stderr)  # jaxnn's logged notes, e.g. an unchecked checkpoint
    notes.setFormatter(logging.Formatter(f"{PROG}: note: %(message)s"))
    logger = logging.getLogger("jaxnn")
    logger.addHandler(notes)
    propagate, logger.propagate = logger.propagate, False
    try:
        return args.func(args)
    except ConversionError as e:
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
    finally:
        logger.removeHandler(notes)
        logger.propagate = propagate


if __name__ == "__main__":
    sys.exit(main())
