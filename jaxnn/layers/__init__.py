"""torch.nn's layers as Flax linen modules (NCHW, torch's numerics).

One file per torch.nn family; each lists its public names in its ``__all__``, and this
package exports exactly those (``jaxnn`` exports them again as ``nn.X``).
"""

from jaxnn.layers import (
    activation,
    batchnorm,
    container,
    conv,
    conv_transpose,
    distance,
    dropout,
    flatten,
    linear,
    module,
    padding,
    pixelshuffle,
    pooling,
    upsampling,
)
from jaxnn.layers.activation import *  # noqa: F403
from jaxnn.layers.batchnorm import *  # noqa: F403
from jaxnn.layers.container import *  # noqa: F403
from jaxnn.layers.conv import *  # noqa: F403
from jaxnn.layers.conv_transpose import *  # noqa: F403
from jaxnn.layers.distance import *  # noqa: F403
from jaxnn.layers.dropout import *  # noqa: F403
from jaxnn.layers.flatten import *  # noqa: F403
from jaxnn.layers.linear import *  # noqa: F403
from jaxnn.layers.module import *  # noqa: F403
from jaxnn.layers.padding import *  # noqa: F403
from jaxnn.layers.pixelshuffle import *  # noqa: F403
from jaxnn.layers.pooling import *  # noqa: F403
from jaxnn.layers.upsampling import *  # noqa: F403

FAMILIES = (
    activation,
    batchnorm,
    container,
    conv,
    conv_transpose,
    distance,
    dropout,
    flatten,
    linear,
    module,
    padding,
    pixelshuffle,
    pooling,
    upsampling,
)

__all__ = sorted(name for family in FAMILIES for name in family.__all__)
