"""What the ONNX exporter and the jax.export artifact share, importable without onnx."""

from __future__ import annotations

__all__ = ["BATCH", "ExportError"]

BATCH = "batch"
"""The name of the symbolic batch axis in traced jaxprs, ONNX models and jax.export
artifacts."""


class ExportError(ValueError):
    """The model cannot be exported: which layer, which JAX primitive, and why."""
