"""PyTorch state_dicts <-> jaxnn variables, without torch: the one leaf rule table.

Module paths are torch's attribute paths (DESIGN decisions 4 and 10), so the variable
``params/model1/0/kernel`` is torch's ``model1.0.weight``: a torch key is the module path
joined with dots, then the torch name of the leaf. A leaf's collection and name alone
decide its torch name and layout -- never the model, so there are no per-model tables.

=============  ===================  ===================  ========================  ================
collection     jaxnn leaf           torch leaf           layout, jaxnn -> torch    declared by
=============  ===================  ===================  ========================  ================
params         kernel (rank 2)      weight               (in, out) -> (out, in)    Linear
params         kernel (rank >= 3)   weight               (*S, I, O) -> (O, I, *S)  Conv2d
params         scale                weight               none                      norm layers
params         embedding            weight               none                      Embedding
params         bias                 bias                 none                      any layer
batch_stats    mean                 running_mean         none                      BN, InstanceNorm
batch_stats    var                  running_var          none                      BN, InstanceNorm
batch_stats    num_batches_tracked  num_batches_tracked  none; int64 in torch      BN, InstanceNorm
=============  ===================  ===================  ========================  ================

How a layer kind declares its leaves (DESIGN decision 9):

* A leaf with a Flax convention (``kernel``, ``scale``, ...) takes a row of this table,
  :data:`LEAF_RULES`; a new layer kind adds its row there. The same torch name may need
  another layout in another layer: the layer then picks the Flax layout that an existing
  row maps to torch's (a transposed convolution keeps its kernel as the HWIO kernel of
  the convolution it is the adjoint of, which the ``kernel`` row maps to torch's
  (in, out / groups, kH, kW)), or a leaf name of its own with a row of its own.
* A leaf with no Flax convention keeps torch's name and layout and needs no row: an
  ``nn.Parameter`` such as ViT's ``class_token``, LSTM's ``weight_ih_l0``,
  MultiheadAttention's packed ``in_proj_weight``.
* Persistent buffers (``Module.register_buffer``) live in the ``buffers`` collection
  under torch's name and layout. They are read by the model, never trained, never decayed.
  A buffer that training updates belongs in ``batch_stats``, as BatchNorm's statistics do.
* Tied weights (``Module.tie_weights``) are one leaf. The ``tied`` collection records
  each alias as ``{alias key: {target key: 0}}`` (keys relative to the declaring module)
  and holds no copy: :func:`state_dict` emits the target's array under both keys, and
  :func:`load_state_dict` accepts either key, or both when their values are equal.

Everything here works on numpy arrays; ``jaxnn.compat`` adds torch tensors and files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn._arrays import bits_equal, c_order, copy_tiled
from jaxnn._tree import leaves

__all__ = [
    "BUFFERS",
    "COLLECTIONS",
    "LEAF_RULES",
    "TIED",
    "LeafRule",
    "StateDictMatch",
    "StateDictMismatchError",
    "TorchLeaf",
    "bits_equal",
    "c_order",
    "copy_tiled",
    "leaf_rule",
    "load_state_dict",
    "match_state_dict",
    "state_dict",
    "tied_keys",
    "torch_key",
    "torch_leaves",
    "torch_order",
    "torch_shape",
]

BUFFERS = "buffers"
"""The collection of persistent buffers (``Module.register_buffer``), under torch's names."""
TIED = "tied"
"""The collection that records tied weights: ``{alias: {target: 0}}``, no arrays."""
COLLECTIONS = ("params", "batch_stats", BUFFERS)
"""The collections whose leaves are state_dict entries, in the order they are emitted."""


def _kernel_to_torch(a: np.ndarray) -> np.ndarray:
    """(*spatial, in, out) -> (out, in, *spatial); a rank-2 kernel is transposed."""
    n = a.ndim
    return np.transpose(a, (n - 1, n - 2, *range(n - 2)))


def _kernel_to_flax(a: np.ndarray) -> np.ndarray:
    """(out, in, *spatial) -> (*spatial, in, out)."""
    n = a.ndim
    return np.transpose(a, (*range(2, n), 1, 0))


def _same(a: np.ndarray) -> np.ndarray:
    return a


@dataclass(frozen=True)
class LeafRule:
    """How one kind of jaxnn leaf maps to torch: its name there, and the layout change
    each way (numpy views where possible).

    Attributes:
        collection: the Flax collection ('params', 'batch_stats', 'buffers').
        flax_name: the leaf's name in jaxnn (``kernel``).
        torch_name: its name in the state_dict (``weight``).
        to_torch: jaxnn layout -> torch's. Default: unchanged.
        to_flax: torch layout -> jaxnn's. Default: unchanged.
        torch_dtype: the torch-side dtype when it differs (int64 counters). Default: None.
    """

    collection: str
    flax_name: str
    torch_name: str
    to_torch: Callable[[np.ndarray], np.ndarray] = _same
    to_flax: Callable[[np.ndarray], np.ndarray] = _same
    torch_dtype: str | None = None


LEAF_RULES: tuple[LeafRule, ...] = (
    LeafRule("params", "kernel", "weight", _kernel_to_torch, _kernel_to_flax),
    LeafRule("params", "scale", "weight"),
    LeafRule("params", "embedding", "weight"),
    LeafRule("params", "bias", "bias"),
    LeafRule("batch_stats", "mean", "running_mean"),
    LeafRule("batch_stats", "var", "running_var"),
    LeafRule("batch_stats", "num_batches_tracked", "num_batches_tracked", torch_dtype="int64"),
)
"""The rule table (the module docstring shows it); a leaf without a row keeps its name."""
_RULES = {(r.collection, r.flax_name): r for r in LEAF_RULES}
# a leaf's rank in the table orders a module's tensors as torch does:
# weight, bias, running_mean, running_var, num_batches_tracked
_RULE_RANK = {(r.collection, r.flax_name): i for i, r in enumerate(LEAF_RULES)}


def leaf_rule(collection: str, name: str) -> LeafRule:
    """The rule of the leaf ``name`` in ``collection``: its row of :data:`LEAF_RULES`, or
    torch's own name and layout when it has none.

    Args:
        collection: the leaf's collection.
        name: the leaf's name, the last part of its path.
    """
    return _RULES.get((collection, name)) or LeafRule(collection, name, name)


def torch_key(collection: str, path: tuple[str, ...]) -> str:
    """The torch state_dict key of the jaxnn leaf ``variables[collection][path]``.

    Args:
        collection: the leaf's collection.
        path: the module path and leaf name, e.g. ``('model1', '0', 'kernel')``.
    """
    return ".".join((*path[:-1], leaf_rule(collection, path[-1]).torch_name))


def torch_shape(rule: LeafRule, flax_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The torch-side shape of a leaf of ``flax_shape`` (nothing is allocated).

    Args:
        rule: the leaf's rule.
        flax_shape: the leaf's shape in jaxnn.
    """
    return tuple(rule.to_torch(np.broadcast_to(np.empty((), np.bool_), flax_shape)).shape)


class TorchLeaf(NamedTuple):
    """One jaxnn leaf with its torch key and rule.

    Attributes:
        key: the state_dict key.
        collection: the Flax collection.
        path: the path inside the collection.
        leaf: the array (or ``jax.ShapeDtypeStruct``).
        rule: its :class:`LeafRule`.
    """

    key: str
    collection: str
    path: tuple[str, ...]
    leaf: Any
    rule: LeafRule


def torch_leaves(variables: Mapping[str, Any]) -> Iterator[TorchLeaf]:
    """Every leaf that is a state_dict entry, collection by collection
    (:data:`COLLECTIONS`) in the variables' order, with its torch key.

    Args:
        variables: a model's variables (or their ``jax.eval_shape``).

    Raises:
        ValueError: a collection has no torch counterpart, or two leaves map to one key.
    """
    allowed = (*COLLECTIONS, TIED)
    unknown = sorted(set(variables) - set(allowed))
    if unknown:
        raise ValueError(
            f"variables has collections {unknown} that have no torch counterpart; "
            f"expected only {list(allowed)}"
        )
    seen: dict[str, str] = {}
    for collection in COLLECTIONS:
        for path, leaf in leaves(variables.get(collection, {})):
            key = torch_key(collection, path)
            where = f"{collection}/{'/'.join(path)}"
            if key in seen:
                raise ValueError(
                    f"two leaves map to the torch key {key!r}: {seen[key]} and {where}"
                )
            seen[key] = where
            yield TorchLeaf(key, collection, path, leaf, leaf_rule(collection, path[-1]))


def tied_keys(variables: Mapping[str, Any]) -> dict[str, str]:
    """{alias key: target key} for every tie declared in ``variables['tied']``.

    Args:
        variables: a model's variables.
    """
    out = {}
    for path, _ in leaves(variables.get(TIED, {})):
        *module, alias, target = path
        out[".".join((*module, alias))] = ".".join((*module, target))
    return out


def _natural(part: str) -> tuple[int, int | str]:
    # "features.10" after "features.2", as torch's registration order has them
    return (0, int(part)) if part.isdigit() else (1, part)


def torch_order(key: str, collection: str = "", flax_name: str = "") -> tuple:
    """A sort key that orders state_dict keys as torch registers them: by module path
    (numeric indices numerically), then a module's tensors in table order (weight, bias,
    running_mean, ...). Registration order other than alphabetical is not known here.

    Args:
        key: a state_dict key.
        collection: the leaf's collection ('' when not known).
        flax_name: the leaf's jaxnn name ('' when not known: after the table's rows).
    """
    *module, name = key.split(".")
    rank = _RULE_RANK.get((collection, flax_name), len(_RULE_RANK))
    return ([_natural(p) for p in module], rank, name)


# ----------------------------------------------------------------------------- matching


class StateDictMismatchError(ValueError):
    """A state_dict does not fit the model: every missing, unexpected and mis-shaped key
    is listed, with both shapes for the mis-shaped ones, and tied keys whose values
    differ. Where keys differ only by Flax's automatic names for modules in a list or
    dict (``h_0`` for torch's ``h.0``), the message says so.

    Args:
        missing: the model's keys the state_dict lacks.
        unexpected: the state_dict's keys the model lacks.
        mismatched: ``(key, state_dict's shape, the model's shape)`` triples.
        untied: ``(alias, target)`` pairs of tied keys whose values differ. Default: None.
    """

    def __init__(
        self,
        missing: list[str],
        unexpected: list[str],
        mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]],
        untied: list[tuple[str, str]] | None = None,
    ):
        self.missing, self.unexpected, self.mismatched = missing, unexpected, mismatched
        self.untied = list(untied or [])
        lines = ["state_dict does not fit the model:"]
        if missing:
            lines.append(f"  missing keys ({len(missing)}): {', '.join(missing)}")
        if unexpected:
            lines.append(f"  unexpected keys ({len(unexpected)}): {', '.join(unexpected)}")
        for key, got, want in mismatched:
            lines.append(
                f"  size mismatch for {key}: checkpoint has shape {got}, the model expects {want}"
            )
        for alias, target in self.untied:
            lines.append(
                f"  tied keys differ: {alias} and {target} are one weight in the model, "
                f"but the state_dict holds different values for them"
            )
        lines += _auto_name_hints(missing, unexpected)
        super().__init__("\n".join(lines))


def _auto_name_hints(missing: list[str], unexpected: list[str]) -> list[str]:
    """A hint for each module path that differs from the state_dict's only in '_' for '.'
    (``transformer_h_0`` vs ``transformer.h.0``): Flax's automatic naming at work."""
    flat = {}
    for key in unexpected:
        flat.setdefault(key.replace(".", "_"), key)
    pairs: dict[str, str] = {}
    for key in missing:
        theirs = flat.get(key.replace(".", "_"))
        if theirs is None:
            continue
        ours_module, theirs_module = key.rsplit(".", 1)[0], theirs.rsplit(".", 1)[0]
        pairs.setdefault(ours_module, theirs_module)
    if not pairs:
        return []
    shown = ", ".join(f"'{ours}' vs '{theirs}'" for ours, theirs in list(pairs.items())[:3])
    return [
        f"  hint: the model's module paths use '_' where the state_dict's use '.' ({shown}): "
        "Flax names the modules of a list or dict assigned in setup 'name_index'. Derive "
        "the model from jaxnn.Module, which names them as torch does ('name.index'), or use "
        "nn.ModuleList / nn.ModuleDict."
    ]


@dataclass
class StateDictMatch:
    """How a state_dict's keys pair with a model's leaves (:func:`match_state_dict`).

    Attributes:
        pairs: ``(leaf, source key)`` for every leaf whose key (or, for a tied target,
            an alias's key) is present with the right shape; the leaf's values come
            from the source key.
        missing: the model's keys the state_dict lacks (only with ``strict=False``).
        tied: ``(alias, target)`` pairs present on both sides, whose values must be
            equal.
    """

    pairs: list[tuple[TorchLeaf, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    tied: list[tuple[str, str]] = field(default_factory=list)


def match_state_dict(
    shapes: Mapping[str, tuple[int, ...]], variables: Mapping[str, Any], *, strict: bool = True
) -> StateDictMatch:
    """Pair each leaf of the template ``variables`` with its key in a state_dict, knowing
    only the state_dict's shapes.

    A tie's alias may stand in for its target (a file that stored a shared tensor once,
    under either name), and is otherwise expected to equal it.

    Args:
        shapes: key -> torch shape, in the state_dict's order.
        variables: the template (only shapes are read).
        strict: missing and unexpected keys are an error (mis-shaped keys always are).
            Default: True.

    Raises:
        StateDictMismatchError: listing every missing, unexpected (``strict``) and
            mis-shaped key.
    """
    aliases = tied_keys(variables)
    by_target: dict[str, list[str]] = {}
    for alias, target in aliases.items():
        by_target.setdefault(target, []).append(alias)
    result, mismatched, used = StateDictMatch(), [], set()
    for leaf in torch_leaves(variables):
        present = [k for k in (leaf.key, *by_target.get(leaf.key, ())) if k in shapes]
        if not present:
            result.missing.append(leaf.key)
            continue
        expected = torch_shape(leaf.rule, tuple(leaf.leaf.shape))
        bad = [k for k in present if tuple(shapes[k]) != expected]
        used.update(present)
        mismatched += [(k, tuple(shapes[k]), expected) for k in bad]
        if bad:
            continue
        result.pairs.append((leaf, present[0]))
        result.tied += [(alias, present[0]) for alias in present[1:]]
    unexpected = [k for k in shapes if k not in used]
    if mismatched or (strict and (result.missing or unexpected)):
        raise StateDictMismatchError(
            result.missing if strict else [], unexpected if strict else [], mismatched
        )
    return result


# ----------------------------------------------------------------------------- numpy level


def _torch_array(leaf: TorchLeaf) -> np.ndarray | jax.ShapeDtypeStruct:
    """A leaf in torch's layout and dtype: an owned C-ordered numpy array, or for an
    abstract leaf (``jax.eval_shape(model.init, ...)``) its torch shape and dtype."""
    dtype = np.dtype(leaf.rule.torch_dtype or leaf.leaf.dtype)
    if isinstance(leaf.leaf, jax.ShapeDtypeStruct):
        return jax.ShapeDtypeStruct(torch_shape(leaf.rule, tuple(leaf.leaf.shape)), dtype)
    view = leaf.rule.to_torch(np.asarray(leaf.leaf))
    out = np.empty(view.shape, dtype)
    copy_tiled(out, view)
    return out


def state_dict(variables: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters, buffers and tied aliases by torch key, as numpy arrays in torch's
    layout and dtype, ordered as torch registers them (:func:`torch_order`): what
    ``torch_model.state_dict()`` holds, without needing torch. A tied alias is the same
    array as its target. Abstract variables (``jax.eval_shape(model.init, ...)``) give
    ``jax.ShapeDtypeStruct`` values with torch's shapes, allocating nothing.

    Args:
        variables: a model's variables, or their ``jax.eval_shape``.

    Example::

        >>> from jaxnn.models import Classifier
        >>> sd = state_dict(Classifier(4, 3).init(jax.random.key(0), jnp.ones((1, 4))))
        >>> {k: v.shape for k, v in sd.items()}
        {'fc.weight': (3, 4), 'fc.bias': (3,)}
    """
    entries = [
        (leaf.key, (leaf.collection, leaf.path[-1]), leaf) for leaf in torch_leaves(variables)
    ]
    out = {key: _torch_array(leaf) for key, _, leaf in entries}
    ranks = {key: rank for key, rank, _ in entries}
    for alias, target in tied_keys(variables).items():
        if target not in out:
            raise ValueError(f"the tie {alias} -> {target} names a key the model does not have")
        out[alias] = out[target]
        ranks[alias] = ranks[target]
    return dict(sorted(out.items(), key=lambda kv: torch_order(kv[0], *ranks[kv[0]])))


def _set(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for k in path[:-1]:
        tree = tree.setdefault(k, {})
    tree[path[-1]] = value


def load_state_dict(
    variables: Mapping[str, Any],
    state_dict: Mapping[str, Any],
    *,
    strict: bool = True,
    to_numpy: Callable[[Any], np.ndarray] = np.asarray,
) -> dict[str, Any]:
    """New variables with the values of a torch-keyed ``state_dict``: torch's
    ``model.load_state_dict(sd)``, returning instead of mutating.

    Args:
        variables: a template with the model's structure, e.g. ``model.init(...)`` or
            ``jax.eval_shape(model.init, ...)`` (only shapes are read).
        state_dict: torch key -> array in torch's layout; not modified.
        strict: missing and unexpected keys are an error; mis-shaped keys always are.
        to_numpy: how a value becomes a numpy array (``jaxnn.compat`` passes its torch
            tensor reader).

    Returns:
        a new variables dict of jax arrays with ``variables``' structure. Floating
        values keep the state_dict's dtype; integer counters take the template's dtype
        (int64 -> int32 unless x64 is on). The ``tied`` declarations are kept.

    Raises:
        StateDictMismatchError: listing every missing, unexpected and mis-shaped key,
            or tied keys whose values differ.
    """
    match = match_state_dict(
        {k: tuple(np.shape(v)) for k, v in state_dict.items()}, variables, strict=strict
    )
    untied = [
        (alias, target)
        for alias, target in match.tied
        if not bits_equal(to_numpy(state_dict[alias]), to_numpy(state_dict[target]))
    ]
    if untied:
        raise StateDictMismatchError([], [], [], untied)
    out: dict[str, Any] = {}
    for leaf, key in match.pairs:
        value = leaf.rule.to_flax(to_numpy(state_dict[key]))
        if np.issubdtype(value.dtype, np.integer):
            value = value.astype(leaf.leaf.dtype)
        else:
            value = c_order(value)  # jnp.asarray's own copy of a transposed view is slow
        _set(out, (leaf.collection, *leaf.path), jnp.asarray(value))
    missing = set(match.missing)
    for leaf in torch_leaves(variables) if missing else ():
        if leaf.key in missing:  # strict=False: the template's values for what is absent
            _set(out, (leaf.collection, *leaf.path), jnp.asarray(leaf.leaf))
    if TIED in variables:
        out[TIED] = variables[TIED]
    return out
