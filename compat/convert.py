"""PyTorch state_dicts <-> jaxnn variables, with torch tensors.

The rules -- which jaxnn leaf is which torch key, in which layout -- are
:mod:`jaxnn.state_dict`'s, written once there and usable without torch. This module adds
only what needs torch: tensors in and out, bit for bit in every dtype (bfloat16 too).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ml_dtypes
import numpy as np

from jaxnn.state_dict import (
    LEAF_RULES,
    StateDictMismatchError,
    TorchLeaf,
    copy_tiled,
    load_state_dict,
    tied_keys,
    torch_key,
    torch_leaves,
)

__all__ = [
    "LEAF_RULES",
    "StateDictMismatchError",
    "flax_to_torch",
    "from_numpy",
    "leaf_to_torch",
    "to_numpy",
    "torch_key",
    "torch_to_flax",
]

BFLOAT16 = np.dtype(ml_dtypes.bfloat16)


def to_numpy(value: Any) -> np.ndarray:
    """A torch tensor, jax array or numpy array -> numpy without a copy where possible,
    bit for bit (bfloat16 too).

    Args:
        value: the tensor or array (a torch tensor is detached and moved to the CPU).
    """
    if type(value).__module__.startswith("torch"):
        import torch

        tensor = value.detach().cpu()
        if tensor.dtype == torch.bfloat16:
            return tensor.view(torch.int16).numpy().view(BFLOAT16)
        return tensor.numpy()
    return np.asarray(value)


def from_numpy(array: np.ndarray) -> Any:
    """numpy -> a torch tensor sharing its memory (bfloat16 too).

    Args:
        array: the numpy array (ml_dtypes' bfloat16 becomes ``torch.bfloat16``).
    """
    import torch

    if array.dtype == BFLOAT16:
        return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(array)


def leaf_to_torch(leaf: TorchLeaf) -> Any:
    """One jaxnn leaf -> its torch tensor: torch's layout, a new C-ordered copy (0-d kept
    0-d), the same bits in the same dtype (the rule's ``torch_dtype`` where it has one).

    Args:
        leaf: the leaf with its torch key and rule (from ``jaxnn.state_dict.torch_leaves``).
    """
    import torch

    view = leaf.rule.to_torch(to_numpy(leaf.leaf))
    array = np.empty(view.shape, view.dtype)  # owned and writable, as torch wants
    copy_tiled(array, view)
    tensor = from_numpy(array)
    if leaf.rule.torch_dtype is not None:
        tensor = tensor.to(getattr(torch, leaf.rule.torch_dtype))
    return tensor


def flax_to_torch(variables: Mapping[str, Any]) -> dict[str, Any]:
    """jaxnn variables -> a torch state_dict (``dict[str, torch.Tensor]``).

    The result is what ``torch_model.load_state_dict(sd, strict=True)`` accepts for the
    torch twin of the model. Values are copied bit for bit in their own dtype (torch's
    ``num_batches_tracked`` counters become int64). A tied weight appears under each of
    its keys as one tensor, as in torch. ``variables`` is not modified.

    Args:
        variables: the model's variables (``params``, ``batch_stats``, buffers, ties).

    Example::

        >>> import torch
        >>> variables = nn.Linear(4, 2).init(jax.random.key(0), jnp.ones((1, 4)))
        >>> sd = flax_to_torch(variables)
        >>> torch.nn.Linear(4, 2).load_state_dict(sd)
        <All keys matched successfully>
    """
    out = {leaf.key: leaf_to_torch(leaf) for leaf in torch_leaves(variables)}
    for alias, target in tied_keys(variables).items():
        if target not in out:
            raise ValueError(f"the tie {alias} -> {target} names a key the model does not have")
        out[alias] = out[target]
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
        A tied weight is read from any of its keys; when several are present their
        values must be equal.

    Raises:
        StateDictMismatchError: listing every missing, unexpected and mis-shaped key,
            or tied keys whose values differ.
    """
    return load_state_dict(variables, state_dict, strict=strict, to_numpy=to_numpy)
