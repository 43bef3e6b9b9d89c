"""jaxnn.compat: PyTorch interoperability -- everything in jaxnn that needs torch.

``torch_to_flax`` / ``flax_to_torch`` move weights between a torch state_dict and jaxnn
variables by :mod:`jaxnn.state_dict`'s leaf rule table; :mod:`~jaxnn.compat.files` reads
and writes ``.pth`` / ``.safetensors``; :mod:`~jaxnn.compat.pipeline` converts and verifies
files (the ``jaxnn-compat`` CLI); :mod:`~jaxnn.compat.parity` compares a jaxnn model with
its twin in :mod:`~jaxnn.compat.torch_models`. torch itself is imported only when a
function needs it.
"""

from jaxnn.compat.convert import (
    LEAF_RULES,
    StateDictMismatchError,
    flax_to_torch,
    torch_key,
    torch_to_flax,
)

__all__ = ["LEAF_RULES", "StateDictMismatchError", "flax_to_torch", "torch_key", "torch_to_flax"]
