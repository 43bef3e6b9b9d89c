"""PyTorch state_dict <-> jaxnn variables, by one leaf rule table.

Module paths are torch's attribute paths (DESIGN decision 4), so the variable at
``params/model1/0/kernel`` is torch's ``model1.0.weight``: a key is the module path
joined with dots plus the torch name of the leaf. Only the leaf's *name* decides its
torch name and layout, never the model -- there are no per-model tables.

=============  =========================  ===========================  ==================
collection     jaxnn leaf                 torch key suffix             layout change
=============  =========================  ===========================  ==================
params         kernel (rank 2, (in, out)) weight (out, in)             transpose
params         kernel (rank >= 3, HWIO)   weight (O, I, *spatial)      (*S, I, O) -> (O, I, *S)
params         scale                      weight                       none
params         bias                       bias                         none
batch_stats    mean                       running_mean                 none
batch_stats    var                        running_var                  none
batch_stats    num_batches_tracked        num_batches_tracked (int64)  none
=============  =========================  ===========================  ==================

A parameter with any other name keeps its name and layout (a custom ``self.param``
in a user model matches a torch ``nn.Parameter`` of the same name).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np

from jaxnn._tree import leaves

__all__ = [
    "LEAF_RULES",
    "LeafRule",
    "StateDictMismatchError",
    "flax_to_torch",
    "torch_key",
    "torch_to_flax",
]


def _kernel_to_torch(a):
    """(*spatial, in, out) -> (out, in, *spatial); a rank-2 kernel is transposed."""
    n = a.ndim
    return np.transpose(a, (n - 1, n - 2, *range(n - 2)))


def _kernel_to_flax(a):
    """(out, in, *spatial) -> (*spatial, in, out)."""
    n = a.ndim
    return np.transpose(a, (*range(2, n), 1, 0))


def _same(a):
    return a


@dataclass(frozen=True)
class LeafRule:
    """How one kind of jaxnn leaf maps to torch: its name there, and the layout change
    each way. ``torch_dtype`` forces the torch-side dtype (torch's int64 counters)."""

    collection: str
    flax_name: str
    torch_name: str
    to_torch: Callable[[np.ndarray], np.ndarray] = _same
    to_flax: Callable[[np.ndarray], np.ndarray] = _same
    torch_dtype: str | None = None


LEAF_RULES: tuple[LeafRule, ...] = (
    LeafRule("params", "kernel", "weight", _kernel_to_torch, _kernel_to_flax),
    LeafRule("params", "scale", "weight"),
    LeafRule("params", "bias", "bias"),
    LeafRule("batch_stats", "mean", "running_mean"),
    LeafRule("batch_stats", "var", "running_var"),
    LeafRule("batch_stats", "num_batches_tracked", "num_batches_tracked", torch_dtype="int64"),
)
_RULES = {(r.collection, r.flax_name): r for r in LEAF_RULES}
_COLLECTIONS = ("params", "batch_stats")


def _rule(collection: str, name: str) -> LeafRule:
    return _RULES.get((collection, name)) or LeafRule(collection, name, name)


class StateDictMismatchError(ValueError):
    """A state_dict does not fit the model: every missing, unexpected and mis-shaped key
    is listed, with both shapes for the mis-shaped ones."""

    def __init__(
        self,
        missing: list[str],
        unexpected: list[str],
        mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]],
    ):
        self.missing, self.unexpected, self.mismatched = missing, unexpected, mismatched
        lines = ["state_dict does not fit the model:"]
        if missing:
            lines.append(f"  missing keys ({len(missing)}): {', '.join(missing)}")
        if unexpected:
            lines.append(f"  unexpected keys ({len(unexpected)}): {', '.join(unexpected)}")
        for key, got, want in mismatched:
            lines.append(
                f"  size mismatch for {key}: checkpoint has shape {got}, the model expects {want}"
            )
        super().__init__("\n".join(lines))


def torch_key(collection: str, path: tuple[str, ...]) -> str:
    """The torch state_dict key of the jaxnn leaf ``variables[collection][path]``."""
    return ".".join((*path[:-1], _rule(collection, path[-1]).torch_name))


def _variableleaves(variables: Mapping[str, Any]) -> Iterator[tuple[str, tuple, Any]]:
    unknown = sorted(set(variables) - set(_COLLECTIONS))
    if unknown:
        raise ValueError(
            f"variables has collections {unknown} that have no torch counterpart; "
            f"expected only {list(_COLLECTIONS)}"
        )
    for collection in _COLLECTIONS:
        for path, leaf in leaves(variables.get(collection, {})):
            yield collection, path, leaf


def _to_numpy(value: Any) -> np.ndarray:
    """A torch tensor, jax array or numpy array -> numpy, bit for bit (bfloat16 too)."""
    if type(value).__module__.startswith("torch"):
        import torch

        tensor = value.detach().cpu()
        if tensor.dtype == torch.bfloat16:
            return tensor.view(torch.int16).numpy().view(jnp.bfloat16)
        return tensor.numpy()
    return np.asarray(value)


def flax_to_torch(variables: Mapping[str, Any]) -> dict[str, Any]:
    """jaxnn variables -> a torch state_dict (``dict[str, torch.Tensor]``).

    The result is what ``torch_model.load_state_dict(sd, strict=True)`` accepts for the
    torch twin of the model. Values are copied bit for bit in their own dtype (torch's
    ``num_batches_tracked`` counters become int64). ``variables`` is not modified.

    Example::

        >>> sd = flax_to_torch(variables)
        >>> torch_model.load_state_dict(sd)
    """
    import torch

    out: dict[str, Any] = {}
    for collection, path, leaf in _variableleaves(variables):
        rule = _rule(collection, path[-1])
        key = torch_key(collection, path)
        if key in out:
            raise ValueError(
                f"flax_to_torch: two leaves map to the torch key {key!r} "
                f"(second: {collection}/{'/'.join(path)})"
            )
        # a C-ordered copy that keeps 0-d leaves 0-d (ascontiguousarray would not)
        array = np.array(rule.to_torch(_to_numpy(leaf)), order="C", copy=True)
        if array.dtype == jnp.bfloat16:
            tensor = torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
        else:
            tensor = torch.from_numpy(array)
        if rule.torch_dtype is not None:
            tensor = tensor.to(getattr(torch, rule.torch_dtype))
        out[key] = tensor
    return out


def torch_to_flax(
    state_dict: Mapping[str, Any], variables: Mapping[str, Any], *, strict: bool = True
) -> dict[str, Any]:
    """A torch state_dict -> jaxnn variables with the structure of ``variables``.

    Args:
        state_dict: ``str -> torch.Tensor`` (or numpy / jax arrays); not modified.
        variables: a template with the model's structure, e.g. ``model.init(...)`` or
            ``jax.eval_shape(model.init, ...)`` (only shapes are read).
        strict: raise on missing and unexpected keys. Mis-shaped keys always raise.

    Returns:
        a new variables dict of jax arrays. Floating values keep the state_dict's dtype;
        integer counters take the template's dtype (int64 -> int32 unless x64 is on).

    Raises:
        StateDictMismatchError: listing every missing, unexpected and mis-shaped key.
    """
    missing, mismatched, used = [], [], set()
    out: dict[str, Any] = {}
    for collection, path, leaf in _variableleaves(variables):
        rule = _rule(collection, path[-1])
        key = torch_key(collection, path)
        expected = tuple(rule.to_torch(np.empty(leaf.shape, np.bool_)).shape)
        if key not in state_dict:
            missing.append(key)
            continue
        used.add(key)
        value = _to_numpy(state_dict[key])
        if value.shape != expected:
            mismatched.append((key, tuple(value.shape), expected))
            continue
        value = rule.to_flax(value)
        if np.issubdtype(value.dtype, np.integer):
            value = value.astype(leaf.dtype)
        node = out.setdefault(collection, {})
        for k in path[:-1]:
            node = node.setdefault(k, {})
        node[path[-1]] = jnp.asarray(value)
    unexpected = [k for k in state_dict if k not in used]
    if mismatched or (strict and (missing or unexpected)):
        raise StateDictMismatchError(
            missing if strict else [], unexpected if strict else [], mismatched
        )
    if missing:  # strict=False: keep the template's values for what the checkpoint lacks
        for collection, path, leaf in _variableleaves(variables):
            if torch_key(collection, path) in missing:
                node = out.setdefault(collection, {})
                for k in path[:-1]:
                    node = node.setdefault(k, {})
                node[path[-1]] = jnp.asarray(leaf)
    return out
