"""torch.nn.utils' twins: ``from jaxnn import utils; utils.clip_grad_norm_(grads, 1.0)``."""

from __future__ import annotations

from jaxnn.utils import clip_grad
from jaxnn.utils.clip_grad import *  # noqa: F403

__all__ = [*clip_grad.__all__]
