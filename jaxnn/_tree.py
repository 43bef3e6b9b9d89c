"""Walking nested variable dicts by path: one helper for conversion, introspection
and re-initialisation."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np


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


def flat(tree: Mapping[str, Any]) -> dict[str, Any]:
    """{'params/fc/kernel': leaf, ...}: :func:`leaves` keyed by '/'-joined paths."""
    return {"/".join(path): leaf for path, leaf in leaves(tree)}


def keyed_leaves(pytree: Any) -> list[tuple[str, Any]]:
    """(path, leaf) for every leaf of any pytree (NamedTuples, lists, dicts), paths like
    'opt_state/0/mu/fc1/kernel'."""
    import jax

    flat = jax.tree_util.tree_flatten_with_path(pytree)[0]
    return [(jax.tree_util.keystr(path, simple=True, separator="/"), leaf) for path, leaf in flat]


def cast_like(tree: Mapping[str, Any], template: Mapping[str, Any]) -> dict[str, Any]:
    """``tree``'s leaves in the dtypes of ``template``'s, in the template's order (``tree``
    may hold a subset of its leaves)."""

    def cast(value: Any, like: Any) -> Any:
        return value if value.dtype == like.dtype else np.asarray(value).astype(like.dtype)

    return {
        k: cast_like(tree[k], like) if isinstance(like, Mapping) else cast(tree[k], like)
        for k, like in template.items()
        if k in tree
    }
