"""A griffe extension for the reference: Flax adds ``parent`` and ``name`` to every
module's constructor; they are Flax's plumbing, not the layer's arguments, so the
rendered signatures leave them out."""

from __future__ import annotations

from typing import Any

import griffe


class DropFlaxPlumbing(griffe.Extension):
    def on_function_instance(self, *, func: griffe.Function, **kwargs: Any) -> None:
        if func.name != "__init__":
            return
        names = [p.name for p in func.parameters]
        if "parent" in names and "name" in names:
            for plumbing in ("parent", "name"):
                del func.parameters[plumbing]
