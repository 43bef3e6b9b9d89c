"""The one implementation of each torch operation that ``jaxnn.functional`` (torch's
weight layouts) and the layers (Flax's) share: argument rules (:mod:`~jaxnn.core.args`),
convolution and linear (:mod:`~jaxnn.core.conv`), pooling (:mod:`~jaxnn.core.pooling`),
normalization (:mod:`~jaxnn.core.norm`), pairwise distance (:mod:`~jaxnn.core.distance`,
for the triplet losses), and torch's ``lerp`` (:mod:`~jaxnn.core.lerp`, shared by the
optimizers and swa_utils). torch's API lives in ``jaxnn.functional``;
these functions take already-parsed arguments and a ``who`` that names the caller in
errors."""
