"""jaxnn.compat: PyTorch interoperability.

``torch_to_flax`` / ``flax_to_torch`` move weights between a torch state_dict and jaxnn
variables by one leaf rule table. torch itself is imported only when a function needs it.
"""

from jaxnn.compat.convert import (
    LEAF_RULES,
    StateDictMismatchError,
    flax_to_torch,
    torch_key,
    torch_to_flax,
)

__all__ = ["LEAF_RULES", "StateDictMismatchError", "flax_to_torch", "torch_key", "torch_to_flax"]
