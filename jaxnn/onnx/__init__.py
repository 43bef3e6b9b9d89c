"""Exporting jaxnn models: to ONNX (``torch.onnx.export``'s counterpart) and to a
serialized ``jax.export`` artifact.

:func:`export` traces ``model.apply(variables, *args)`` in eval mode to a jaxpr whose
batch axis is symbolic, lowers it with jaxnn's own table of JAX primitives to ONNX
operators (opset 18 and later: :mod:`jaxnn.onnx.lower`), and with ``verify=True`` runs
the file in onnxruntime at two batch sizes and compares with jaxnn (float32: max abs
error <= 1e-4 + 1e-4 * max |jaxnn|) before putting it in place; a failed export leaves
no file. Any jaxnn model works, user-defined ones included; a layer whose computation
has no lowering raises :class:`ExportError` naming the layer's torch path and the JAX
primitive.

Nodes are named by the layer that emitted them (``features.0/Conv``), so Netron and
TensorBoard (``jaxnn.train.SummaryWriter.add_graph``) group them by layer. Weights are
ONNX initializers; work on weights alone (a transposed kernel, a mask built from
``iota``) is done at export time and stored. ``lax.scan`` (the recurrent layers) is
unrolled over its static length.

Differences from jaxnn that ONNX imposes: an embedding index out of range is an error in
onnxruntime (jaxnn returns NaN rows); ``round`` must round half to even.
"""

try:
    from jaxnn.onnx.exporter import DEFAULT_OPSET, build, check_with_onnxruntime, export
except ModuleNotFoundError as e:  # the onnx extra is not installed
    if e.name != "onnx":
        raise
    raise ImportError("jaxnn.onnx needs the onnx package: pip install 'jaxnn[onnx]'") from e
from jaxnn.onnx.artifact import load_exported, save_exported
from jaxnn.onnx.common import ExportError

__all__ = [
    "DEFAULT_OPSET",
    "ExportError",
    "build",
    "check_with_onnxruntime",
    "export",
    "load_exported",
    "save_exported",
]
