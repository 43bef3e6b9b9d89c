"""A griffe extension for the reference, which inspects the live objects:

* Flax adds ``parent`` and ``name`` to every module's constructor; they are Flax's
  plumbing, not the layer's arguments, so the rendered signatures leave them out.
* Inspecting a constant (``METADATA_FILE = "..."``) or a Flax field (``inplace = False``)
  finds its value's type's docstring (``str``'s, ``bool``'s); the reference shows the
  string literal that follows the assignment in the source instead, or nothing.
* Docstrings name other objects with Sphinx roles (``:class:`ReLU```, ``Args: as
  :func:`conv2d```), which Markdown would print as they are; the reference shows the
  name as code instead (``~`` keeps only its last part, as Sphinx does).
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import itertools
import re
from typing import Any

import griffe


@functools.cache
def _attribute_docstrings(module_name: str) -> dict[str, str]:
    """The string literal after each top-level assignment of a module, by name."""
    body = ast.parse(inspect.getsource(importlib.import_module(module_name))).body
    found = {}
    for stmt, after in itertools.pairwise(body):
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and isinstance(after, ast.Expr):
            text = after.value.value if isinstance(after.value, ast.Constant) else None
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                if isinstance(target, ast.Name) and isinstance(text, str):
                    found[target.id] = inspect.cleandoc(text)
    return found


_ROLE = re.compile(r":(?:attr|class|data|exc|func|meth|mod|obj):`(?P<tilde>~?)(?P<target>[\w.]+)`")


def code_for_roles(text: str) -> str:
    """``text`` with each Sphinx cross-reference role written as a Markdown code span."""

    def code(match: re.Match) -> str:
        target = match["target"]
        return f"`{target.rsplit('.', 1)[-1] if match['tilde'] else target}`"

    return _ROLE.sub(code, text)


class ReferenceCleanup(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = code_for_roles(obj.docstring.value)

    def on_function_instance(self, *, func: griffe.Function, **kwargs: Any) -> None:
        if func.name != "__init__":
            return
        names = [p.name for p in func.parameters]
        if "parent" in names and "name" in names:
            for plumbing in ("parent", "name"):
                del func.parameters[plumbing]

    def on_attribute_instance(self, *, node: Any, attr: griffe.Attribute, **kwargs: Any) -> None:
        borrowed = type(getattr(node, "obj", None)).__doc__
        if attr.docstring is None or not isinstance(borrowed, str):
            return
        if attr.docstring.value != inspect.cleandoc(borrowed):
            return
        own = None
        if attr.parent is not None and attr.parent.is_module:
            own = _attribute_docstrings(attr.parent.path).get(attr.name)
        attr.docstring = griffe.Docstring(code_for_roles(own), parent=attr) if own else None
