"""Walking nested variable dicts by path: one helper for conversion, introspection
and re-initialisation."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


def leaves(
    tree: Mapping[str, Any], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, leaf) for every leaf of a nested mapping, in the mapping's order."""
    for key, value in tree.items():
        if isinstance(value, Mapping):
            yield from leaves(value, (*prefix, str(key)))
        else:
            yield (*prefix, str(key)), value


def plain(tree: Mapping[str, Any]) -> dict[str, Any]:
    """A plain nested dict (FrozenDicts and other mappings unwrapped); leaves untouched."""
    return {str(k): plain(v) if isinstance(v, Mapping) else v for k, v in tree.items()}


def unflatten(flat: Mapping[tuple[str, ...], Any]) -> dict[str, Any]:
    """The inverse of :func:`leaves`: {path: leaf} -> nested dicts."""
    out: dict[str, Any] = {}
    for path, leaf in flat.items():
        node = out
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = leaf
    return out
