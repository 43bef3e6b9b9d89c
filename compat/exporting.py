"""``jaxnn-compat export``: a jaxnn checkpoint or PyTorch weight file to a verified ONNX
file, through :func:`jaxnn.onnx.export`."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from jaxnn.compat.models import batch_axis, build_model, example_batch, example_input, template
from jaxnn.compat.pipeline import check_destination, load_variables
from jaxnn.compat.sources import ConversionError

__all__ = ["export_onnx"]


def export_onnx(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    model: str,
    model_kwargs: Mapping[str, Any] | None = None,
    input_shape: tuple[int, ...] | None = None,
    opset: int | None = None,
    force: bool = False,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> tuple[Path, tuple[int, ...]]:
    """Export the weights in ``src`` as the ONNX model of ``model`` (dynamic batch axis:
    the one :func:`~jaxnn.compat.models.batch_axis` finds),
    checked in onnxruntime at two batch sizes on seeded inputs; returns the written path
    and the example input shape.

    Args:
        src: a jaxnn checkpoint directory or a ``.pth``/``.pt``/``.safetensors`` file.
        dst: the ONNX file to write; its name ends in ``.onnx``.
        model: a ``jaxnn.models`` name or ``module.path:ClassName``.
        model_kwargs: the model's constructor arguments. Default: None.
        input_shape: the example input's shape, batch axis included. Default: None (the
            model's ``example_input()``).
        opset: the ONNX opset. Default: None (:data:`jaxnn.onnx.DEFAULT_OPSET`).
        force: replace an existing ``dst``. Default: False.
        seed: the seed of the example inputs. Default: 0.
        log: receives one-line notes (e.g. which checkpoint entry was used). Default:
            None (silent).

    Raises:
        ConversionError: bad input, or a model that cannot be exported (the message names
            the layer and the JAX primitive); nothing is left at ``dst``.
    """
    from jaxnn import onnx as jaxnn_onnx

    dst = Path(dst)
    if dst.suffix != ".onnx":
        raise ConversionError(f"{dst}: an ONNX file name ends in .onnx")
    check_destination(dst, force)
    jax_model = build_model(model, model_kwargs)
    spec = example_input(jax_model, input_shape)
    variables = load_variables(src, jax_model, template(jax_model, spec), log or (lambda m: None))
    try:
        path = jaxnn_onnx.export(
            jax_model,
            variables,
            example_batch(spec, seed),
            dst,
            batch_axis=batch_axis(jax_model),
            opset_version=opset,
        )
    except (jaxnn_onnx.ExportError, ValueError) as e:
        raise ConversionError(str(e)) from e
    return path, tuple(spec.shape)
