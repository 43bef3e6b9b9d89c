"""`from jaxnn import init`: torch's weight initialisation as Flax initializers.

Each ``init.X_(...)`` takes torch's arguments (without the tensor) and returns a Flax
initializer ``(key, shape, dtype) -> array``, usable in a layer constructor::

    nn.Linear(4, 2, weight_init=init.xavier_uniform_(), bias_init=init.zeros_())

Fans follow torch's definitions, computed on Flax's layouts: a kernel of shape
(*receptive, in, out) (Linear (in, out), Conv2d HWIO) has
fan_in = in * prod(receptive) and fan_out = out * prod(receptive) -- the same numbers
torch gets from its (out, in, *receptive) weight, grouped convolutions included.

``reinitialize`` re-draws the parameters of an existing variables tree by layer type,
the counterpart of torch's ``for m in model.modules(): if isinstance(m, nn.Conv2d): ...``.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from jaxnn import _tree

__all__ = [
    "Initializer",
    "calculate_gain",
    "constant_",
    "default_bias_init",
    "default_weight_init",
    "kaiming_normal_",
    "kaiming_uniform_",
    "normal_",
    "ones_",
    "orthogonal_",
    "reinitialize",
    "trunc_normal_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]

Initializer = Callable[..., jax.Array]
"""A Flax initializer: ``(key, shape, dtype=float32) -> array``, what every ``init.X_``
returns and what a layer's ``weight_init`` / ``bias_init`` take."""

_LINEAR_GAINS = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
)


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for ``nonlinearity``, as torch's ``calculate_gain``.

    Args:
        nonlinearity: ``'linear'``, a convolution's name (``'conv2d'``, ...), ``'sigmoid'``
            (gain 1), ``'tanh'`` (5/3), ``'relu'`` (sqrt 2), ``'leaky_relu'``
            (sqrt(2 / (1 + slope^2))) or ``'selu'`` (3/4).
        param: the negative slope for ``'leaky_relu'``. Default: None (0.01).
    """
    if nonlinearity in _LINEAR_GAINS:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ValueError(f"negative_slope {param} is not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _fans(shape: tuple[int, ...], who: str) -> tuple[int, int]:
    if len(shape) < 2:
        raise ValueError(
            f"{who}: fan in and fan out can not be computed for a tensor with "
            f"fewer than 2 dimensions (shape {tuple(shape)})"
        )
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _fan(shape, mode: str, who: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{who}: mode {mode!r} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _fans(shape, who)
    return fan_in if mode == "fan_in" else fan_out


def _flat(draw: Callable[..., jax.Array], key, shape, *args: Any) -> jax.Array:
    """``draw(key, shape, *args)``, drawn as one flat vector and reshaped.

    The values are the same (random bits are counted in row-major order either way), but
    XLA:CPU compiles the generator for a rank-4 shape several times slower (measured in
    benchmarks/RESULTS.md).
    """
    return draw(key, (math.prod(shape),), *args).reshape(shape)


def _uniform(key, shape, dtype, low: float, high: float) -> jax.Array:
    return _flat(jax.random.uniform, key, shape, dtype, low, high)


def _normal(key, shape, dtype) -> jax.Array:
    return _flat(jax.random.normal, key, shape, dtype)


def uniform_(a: float = 0.0, b: float = 1.0) -> Initializer:
    """U(a, b).

    Args:
        a: the lower bound. Default: 0.0.
        b: the upper bound. Default: 1.0.
    """
    return lambda key, shape, dtype=jnp.float32: _uniform(key, shape, dtype, a, b)


def normal_(mean: float = 0.0, std: float = 1.0) -> Initializer:
    """N(mean, std^2).

    Args:
        mean: the mean. Default: 0.0.
        std: the standard deviation. Default: 1.0.
    """
    return lambda key, shape, dtype=jnp.float32: mean + std * _normal(key, shape, dtype)


def trunc_normal_(
    mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0
) -> Initializer:
    """N(mean, std^2) truncated to [a, b] (absolute bounds, as in torch).

    Args:
        mean: the mean before truncation. Default: 0.0.
        std: the standard deviation before truncation, positive. Default: 1.0.
        a: the lowest value, absolute (not in units of std). Default: -2.0.
        b: the highest value, absolute. Default: 2.0.
    """
    if std <= 0:
        raise ValueError(f"trunc_normal_: std must be positive, got {std}")

    def initializer(key, shape, dtype=jnp.float32):
        lower, upper = (a - mean) / std, (b - mean) / std
        z = _flat(
            lambda k, s: jax.random.truncated_normal(k, lower, upper, s, jnp.float32), key, shape
        )
        return (mean + std * z).astype(dtype)

    return initializer


def constant_(val: float) -> Initializer:
    """Every element = ``val``.

    Args:
        val: the value.
    """
    return lambda key, shape, dtype=jnp.float32: jnp.full(shape, val, dtype)


def zeros_() -> Initializer:
    """Every element = 0."""
    return constant_(0.0)


def ones_() -> Initializer:
    """Every element = 1."""
    return constant_(1.0)


def xavier_uniform_(gain: float = 1.0) -> Initializer:
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)).

    Args:
        gain: the scale, e.g. ``calculate_gain('relu')``. Default: 1.0.
    """

    def initializer(key, shape, dtype=jnp.float32):
        fan_in, fan_out = _fans(shape, "xavier_uniform_")
        bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
        return _uniform(key, shape, dtype, -bound, bound)

    return initializer


def xavier_normal_(gain: float = 1.0) -> Initializer:
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)).

    Args:
        gain: the scale, e.g. ``calculate_gain('relu')``. Default: 1.0.
    """

    def initializer(key, shape, dtype=jnp.float32):
        fan_in, fan_out = _fans(shape, "xavier_normal_")
        std = gain * math.sqrt(2.0 / (fan_in + fan_out))
        return std * _normal(key, shape, dtype)

    return initializer


def kaiming_uniform_(
    a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> Initializer:
    """U(-bound, bound) with bound = gain(nonlinearity, a) * sqrt(3 / fan).

    Args:
        a: the negative slope of the rectifier after this layer (``'leaky_relu'`` only).
            Default: 0.0.
        mode: ``'fan_in'`` keeps the forward pass's variance, ``'fan_out'`` the backward
            pass's. Default: ``'fan_in'``.
        nonlinearity: the nonlinearity after this layer, as for :func:`calculate_gain`.
            Default: ``'leaky_relu'`` (with ``a=0`` the gain is ReLU's).
    """

    def initializer(key, shape, dtype=jnp.float32):
        fan = _fan(shape, mode, "kaiming_uniform_")
        if fan == 0:
            return jnp.zeros(shape, dtype)
        bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
        return _uniform(key, shape, dtype, -bound, bound)

    return initializer


def kaiming_normal_(
    a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> Initializer:
    """N(0, std^2) with std = gain(nonlinearity, a) / sqrt(fan).

    Args:
        a: the negative slope of the rectifier after this layer (``'leaky_relu'`` only).
            Default: 0.0.
        mode: ``'fan_in'`` keeps the forward pass's variance, ``'fan_out'`` the backward
            pass's. Default: ``'fan_in'``.
        nonlinearity: the nonlinearity after this layer, as for :func:`calculate_gain`.
            Default: ``'leaky_relu'`` (with ``a=0`` the gain is ReLU's).
    """

    def initializer(key, shape, dtype=jnp.float32):
        fan = _fan(shape, mode, "kaiming_normal_")
        if fan == 0:
            return jnp.zeros(shape, dtype)
        std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
        return std * _normal(key, shape, dtype)

    return initializer


def orthogonal_(gain: float = 1.0) -> Initializer:
    """A (semi-)orthogonal matrix scaled by ``gain``. As in torch, a kernel is seen as a
    matrix of out rows by (in * receptive) columns, so in Flax layout the *last* axis
    (out) holds the orthogonal rows.

    Args:
        gain: the scale. Default: 1.0.
    """

    def initializer(key, shape, dtype=jnp.float32):
        if len(shape) < 2:
            raise ValueError(
                f"orthogonal_: only tensors with 2 or more dimensions are "
                f"supported (shape {tuple(shape)})"
            )
        rows, cols = shape[-1], math.prod(shape[:-1])
        flat = jax.random.normal(key, (max(rows, cols), min(rows, cols)), jnp.float32)
        q, r = jnp.linalg.qr(flat)
        q = q * jnp.sign(jnp.diagonal(r))[None, :]
        if rows < cols:
            q = q.T  # (rows, cols)
        else:
            q = q[:rows]  # already (rows, cols)
        # torch's (out, in, *receptive) -> Flax layout (*receptive, in, out)
        q = q.reshape(shape[-1], shape[-2], *shape[:-2])
        q = jnp.transpose(q, (*range(2, len(shape)), 1, 0))
        return (gain * q).astype(dtype)

    return initializer


# ----------------------------------------------------------------------------- defaults


def default_weight_init() -> Initializer:
    """torch's default for Linear and Conv weights: kaiming_uniform_(a=sqrt(5)), which is
    U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    return kaiming_uniform_(a=math.sqrt(5))


def default_bias_init(fan_in: int) -> Initializer:
    """torch's default for Linear and Conv biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
    with the fan_in of the layer's weight (0 when fan_in is 0).

    Args:
        fan_in: the weight's fan_in, e.g. in_features, or in_channels / groups times the
            kernel's size.
    """
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return uniform_(-bound, bound)


# ----------------------------------------------------------------------------- re-initialise


def reinitialize(
    model: Any,
    variables: Mapping[str, Any],
    rules: Mapping[type, Mapping[str, Initializer]],
    *args: Any,
    key: jax.Array,
    **kwargs: Any,
) -> dict[str, Any]:
    """Re-draw parameters of ``variables`` by layer type; returns a new tree.

    Args:
        model: the model ``variables`` belong to.
        variables: its variables; only ``params`` leaves are re-drawn, the input is not
            changed.
        rules: a layer class -> ``{param_name: initializer}``; every module that is an
            instance of the class gets those parameters re-drawn (the first matching
            class wins, so list subclasses first). A class that matches no parameter is
            a ValueError.
        *args: example inputs for ``model`` (only their shapes matter: nothing is
            computed).
        key: the PRNG key; each parameter gets its own key folded from it.
        **kwargs: keyword inputs for ``model``, as ``*args``.

    The counterpart of::

        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight); nn.init.constant_(m.bias, 0)

    is::

        variables = init.reinitialize(
            model, variables,
            {nn.Conv2d: {"kernel": init.xavier_uniform_(), "bias": init.zeros_()}},
            x, key=jax.random.key(1))
    """
    from jaxnn.introspect import named_modules

    params = variables["params"]
    modules = named_modules(model, variables, *args, **kwargs)
    flat = dict(_tree.leaves(params))
    matched = set()
    for index, (name, module) in enumerate(modules.items()):
        for cls, inits in rules.items():
            if isinstance(module, cls):
                prefix = tuple(name.split(".")) if name else ()
                for leaf_name, initializer in inits.items():
                    path = (*prefix, leaf_name)
                    if path not in flat:
                        continue
                    old = flat[path]
                    leaf_key = jax.random.fold_in(
                        jax.random.fold_in(key, index), _stable_hash(leaf_name)
                    )
                    flat[path] = initializer(leaf_key, old.shape, old.dtype)
                    matched.add(cls)
                break
    unmatched = [cls.__name__ for cls in rules if cls not in matched]
    if unmatched:
        raise ValueError(
            f"reinitialize: no parameters of {', '.join(unmatched)} were found "
            f"in the model (check the classes and parameter names in rules)"
        )
    out = dict(variables)
    out["params"] = _tree.unflatten(flat)
    return out


def _stable_hash(text: str) -> int:
    return zlib.crc32(text.encode()) % (2**31)
