"""torch.nn's layers as Flax linen modules (NCHW, torch's numerics).

One file per torch.nn family; each lists its public names in its ``__all__``, and this
package exports exactly those (``jaxnn`` exports them again as ``nn.X``).
"""

from jaxnn.layers import (
    activation,
    attention,
    batchnorm,
    container,
    conv,
    conv_transpose,
    distance,
    dropout,
    embedding,
    flatten,
    linear,
    module,
    normalization,
    padding,
    pixelshuffle,
    pooling,
    rnn,
    transformer,
    upsampling,
)
from jaxnn.layers.activation import *  # noqa: F403
from jaxnn.layers.attention import *  # noqa: F403
from jaxnn.layers.batchnorm import *  # noqa: F403
from jaxnn.layers.container import *  # noqa: F403
from jaxnn.layers.conv import *  # noqa: F403
from jaxnn.layers.conv_transpose import *  # noqa: F403
from jaxnn.layers.distance import *  # noqa: F403
from jaxnn.layers.dropout import *  # noqa: F403
from jaxnn.layers.embedding import *  # noqa: F403
from jaxnn.layers.flatten import *  # noqa: F403
from jaxnn.layers.linear import *  # noqa: F403
from jaxnn.layers.module import *  # noqa: F403
from jaxnn.layers.normalization import *  # noqa: F403
from jaxnn.layers.padding import *  # noqa: F403
from jaxnn.layers.pixelshuffle import *  # noqa: F403
from jaxnn.layers.pooling import *  # noqa: F403
from jaxnn.layers.rnn import *  # noqa: F403
from jaxnn.layers.transformer import *  # noqa: F403
from jaxnn.layers.upsampling import *  # noqa: F403

FAMILIES = (
    activation,
    attention,
    batchnorm,
    container,
    conv,
    conv_transpose,
    distance,
    dropout,
    embedding,
    flatten,
    linear,
    module,
    normalization,
    padding,
    pixelshuffle,
    pooling,
    rnn,
    transformer,
    upsampling,
)

__all__ = sorted(name for family in FAMILIES for name in family.__all__)
