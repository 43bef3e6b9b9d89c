"""The one implementation of each torch operation that ``jaxnn.functional`` (torch's
weight layouts) and the layers (Flax's) share: argument rules (:mod:`~jaxnn.core.args`),
convolution and linear (:mod:`~jaxnn.core.conv`), pooling (:mod:`~jaxnn.core.pooling`)
and normalization (:mod:`~jaxnn.core.norm`). torch's API lives in ``jaxnn.functional``;
these functions take already-parsed arguments and a ``who`` that names the caller in
errors."""
