"""torch-style introspection of a jaxnn model: modules, parameters and buffers by their
torch names, ``state_dict`` / ``load_state_dict``, a torchinfo-like ``summary`` and
per-module outputs (what a torch forward hook would see).

Names and layouts come from :mod:`jaxnn.state_dict`'s leaf rule table, so they are
exactly the keys of ``jaxnn.compat.flax_to_torch(variables)`` -- without needing torch.
Example::

    >>> from jaxnn import introspect
    >>> from jaxnn.models import LeNet
    >>> x = jnp.zeros((1, 3, 32, 32))
    >>> v = LeNet().init(jax.random.key(0), x)
    >>> {k: a.shape for k, a in introspect.named_parameters(v).items()}["conv1.weight"]
    (6, 3, 5, 5)
    >>> introspect.intermediates(LeNet(), v, x, names=["conv1"])["conv1"].shape
    (1, 6, 28, 28)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
from flax import linen

from jaxnn import _tree
from jaxnn import state_dict as sd

__all__ = [
    "ModelSummary",
    "SummaryRow",
    "captured_calls",
    "count_parameters",
    "intermediates",
    "load_state_dict",
    "named_buffers",
    "named_modules",
    "named_parameters",
    "state_dict",
    "summary",
]

# a numpy array, or for abstract variables (jax.eval_shape(model.init, ...)) its shape
ArrayOrShape = np.ndarray | jax.ShapeDtypeStruct


def named_modules(
    model: linen.Module, variables: Mapping[str, Any], *args: Any, **kwargs: Any
) -> dict[str, linen.Module]:
    """Every module ``model`` calls on the example input, keyed by torch path
    (``''`` for the model itself, then e.g. ``'model1.0'``), in call order.

    Nothing is computed: the model is traced abstractly (``jax.eval_shape``), so
    example inputs only need the right shapes and dtypes.

    Args:
        model: the model.
        variables: its variables (abstract ones will do).
        *args: the model's positional example inputs.
        **kwargs: the model's keyword example inputs.
    """
    found: dict[str, linen.Module] = {}

    def record(next_fun, fun_args, fun_kwargs, context):
        if context.method_name == "__call__":
            found.setdefault(".".join(context.module.path), context.module)
        return next_fun(*fun_args, **fun_kwargs)

    def run(variables, *args, **kwargs):
        with linen.intercept_methods(record):
            return model.apply(variables, *args, **kwargs)

    jax.eval_shape(run, variables, *args, **kwargs)
    return found


# ----------------------------------------------------------------------------- state dict


def _entries(variables: Mapping[str, Any], collections: tuple[str, ...]) -> dict[str, Any]:
    """The state_dict entries of ``collections`` (no tied aliases), in torch's order."""
    wanted = {leaf.key for leaf in sd.torch_leaves(variables) if leaf.collection in collections}
    return {k: v for k, v in sd.state_dict(variables).items() if k in wanted}


def named_parameters(variables: Mapping[str, Any]) -> dict[str, ArrayOrShape]:
    """The trainable parameters by torch name, in torch's layout: torch's
    ``dict(model.named_parameters())``, as numpy arrays. Abstract variables
    (``jax.eval_shape(model.init, ...)``) give ``jax.ShapeDtypeStruct`` values with
    torch's shapes, so a model's layout can be listed without allocating it.

    A Linear ``kernel`` (in, out) comes back as ``weight`` (out, in), a Conv2d HWIO
    kernel as OIHW, a BatchNorm ``scale`` as ``weight``. A tied weight appears once, under
    its own key (torch lists a shared parameter once too). Keys are ordered by module path
    (numeric indices numerically), which is torch's order except where a torch model
    registers its layers out of alphabetical order -- compare as dicts.

    Args:
        variables: the model's variables (``model.init``'s result), or abstract ones.
    """
    return _entries(variables, ("params",))


def named_buffers(variables: Mapping[str, Any]) -> dict[str, ArrayOrShape]:
    """The buffers by torch name: BatchNorm's running statistics (``bn1.running_mean``,
    ``bn1.running_var``, ``bn1.num_batches_tracked`` as int64) and the persistent buffers
    registered with ``Module.register_buffer``; torch's ``dict(model.named_buffers())``
    but for non-persistent buffers, which jaxnn keeps out of the variables. Abstract
    variables give shapes, as :func:`named_parameters`.

    Args:
        variables: the model's variables (``model.init``'s result), or abstract ones.
    """
    return _entries(variables, ("batch_stats", sd.BUFFERS))


def state_dict(variables: Mapping[str, Any]) -> dict[str, ArrayOrShape]:
    """Parameters, buffers and tied aliases by torch key, as numpy arrays in torch's
    layout: the keys and values of ``flax_to_torch(variables)`` without needing torch
    (:func:`jaxnn.state_dict.state_dict`).

    ``torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})``
    accepts it. Abstract variables give shapes, as :func:`named_parameters`.

    Args:
        variables: the model's variables (``model.init``'s result), or abstract ones.
    """
    return sd.state_dict(variables)


def load_state_dict(
    variables: Mapping[str, Any], state_dict: Mapping[str, Any], *, strict: bool = True
) -> dict[str, Any]:
    """New variables with the values of a torch-keyed ``state_dict`` (numpy arrays; torch
    tensors through ``jaxnn.compat.torch_to_flax``): torch's ``model.load_state_dict(sd)``,
    returning instead of mutating (:func:`jaxnn.state_dict.load_state_dict`).

    Args:
        variables: the model's current variables (only the structure and shapes are read).
        state_dict: torch key -> array; not modified.
        strict: missing and unexpected keys are an error. Default: True.

    Raises:
        StateDictMismatchError: listing every missing, unexpected and mis-shaped key.
    """
    return sd.load_state_dict(variables, state_dict, strict=strict)


def count_parameters(variables: Mapping[str, Any]) -> int:
    """Number of trainable scalars: torch's ``sum(p.numel() for p in model.parameters())``.

    Args:
        variables: the model's variables (``model.init``'s result), or abstract ones.
    """
    return sum(math.prod(leaf.shape) for _, leaf in _tree.leaves(variables.get("params", {})))


# ----------------------------------------------------------------------------- summary


@dataclass(frozen=True)
class SummaryRow:
    """One module call: its torch path, class name, depth, output shape(s) and the number
    of parameters under it.

    Attributes:
        path: the module's torch path (``''`` for the model itself).
        type: the module's class name.
        depth: how deep the module is nested (the model is 0).
        output_shape: the shape of the call's output, or the output's structure (tuple,
            dict) with a shape for each array.
        num_params: the parameters of the module and its children; None on a repeated
            call of a shared module (counted at its first call).
    """

    path: str
    type: str
    depth: int
    output_shape: Any
    num_params: int | None


@dataclass(frozen=True)
class ModelSummary:
    """What :func:`summary` returns: ``rows`` in call order, totals, and a torchinfo-like
    table as ``str(summary)``.

    Attributes:
        model: the model's class name.
        rows: one :class:`SummaryRow` per module call, in call order (parents first).
        total_params: the number of trainable scalars.
        total_buffers: the number of buffer scalars (BatchNorm statistics, registered
            buffers).
    """

    model: str
    rows: list[SummaryRow]
    total_params: int
    total_buffers: int

    def __str__(self) -> str:
        header = ("Layer (type)", "Output Shape", "Param #")
        lines = []
        for r in self.rows:
            name = r.type if not r.path else "  " * (r.depth - 1) + f"{r.path} ({r.type})"
            params = "--" if r.num_params is None else f"{r.num_params:,}"
            lines.append((name, str(r.output_shape), params))
        widths = [max(len(row[i]) for row in [header, *lines]) for i in range(3)]

        def fmt(row):
            return f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}"

        rule = "=" * len(fmt(header))
        return "\n".join(
            [
                rule,
                fmt(header),
                rule,
                *(fmt(row) for row in lines),
                rule,
                f"Total params: {self.total_params:,}",
                f"Buffers: {self.total_buffers:,}",
                rule,
            ]
        )


def _shapes(tree: Any) -> Any:
    return jax.tree_util.tree_map(lambda a: tuple(a.shape), tree)


def summary(
    model: linen.Module, variables: Mapping[str, Any], *args: Any, **kwargs: Any
) -> ModelSummary:
    """A torchinfo-style table of ``model`` on example inputs: one row per module call,
    in call order, with its torch path, class, output shape and parameter count.

    Nothing is computed (the model is traced with ``jax.eval_shape``), so the inputs
    only need the right shapes. Flax's own ``Module.tabulate`` re-runs ``init`` and shows
    Flax's names and layouts; this reads the given variables and speaks torch.

    Args:
        model: the model.
        variables: its variables (abstract ones will do).
        *args: the model's positional example inputs.
        **kwargs: the model's keyword example inputs.

    Example::

        >>> from jaxnn.models import Classifier
        >>> model = Classifier(4, 3)
        >>> v = model.init(jax.random.key(0), jnp.zeros((1, 4)))
        >>> print(summary(model, v, jnp.zeros((2, 4))))
        ===================================
        Layer (type)  Output Shape  Param #
        ===================================
        Classifier    (2, 3)             15
        fc (Linear)   (2, 3)             15
        ===================================
        Total params: 15
        Buffers: 0
        ===================================
    """
    calls: list[list[Any]] = []  # [path, module, output shape], filled in on return

    def record(next_fun, fun_args, fun_kwargs, context):
        if context.method_name != "__call__":
            return next_fun(*fun_args, **fun_kwargs)
        entry = [".".join(context.module.path), context.module, None]
        calls.append(entry)  # appended at the start: pre-order, parents first
        out = next_fun(*fun_args, **fun_kwargs)
        entry[2] = _shapes(out)
        return out

    def run(variables, *args, **kwargs):
        with linen.intercept_methods(record):
            return model.apply(variables, *args, **kwargs)

    jax.eval_shape(run, variables, *args, **kwargs)

    # shapes suffice: count without copying the weights
    params = named_parameters(
        jax.tree_util.tree_map(
            lambda a: jax.ShapeDtypeStruct(np.shape(a), a.dtype), dict(variables)
        )
    )
    seen: set[str] = set()
    rows = []
    for path, module, shape in calls:
        num_params = None
        if path not in seen:
            seen.add(path)
            prefix = f"{path}." if path else ""
            num_params = sum(math.prod(a.shape) for k, a in params.items() if k.startswith(prefix))
        depth = path.count(".") + 1 if path else 0
        rows.append(SummaryRow(path, type(module).__name__, depth, shape, num_params))
    return ModelSummary(
        type(model).__name__,
        rows,
        count_parameters(variables),
        sum(
            math.prod(np.shape(a))
            for collection in ("batch_stats", sd.BUFFERS)
            for _, a in _tree.leaves(variables.get(collection, {}))
        ),
    )


# ----------------------------------------------------------------------------- outputs


def intermediates(
    model: linen.Module,
    variables: Mapping[str, Any],
    *args: Any,
    names: Iterable[str],
    **kwargs: Any,
) -> dict[str, Any]:
    """The outputs of the named modules on ``args`` (eval mode): what a torch forward
    hook registered on ``model.get_submodule(name)`` would see.

    Built on Flax's ``capture_intermediates``, restricted to the requested paths. A module
    called more than once (a shared ``relu``) reports its last call, as a hook storing
    into a dict would.

    Args:
        model: the model.
        variables: its variables.
        *args: the model's positional inputs.
        **kwargs: the model's keyword inputs.
        names: torch module paths, e.g. ``['conv1', 'layer1.0.bn2']``.

    Returns:
        {name: output}.

    Raises:
        ValueError: a name is not a module the model calls; the message lists those it does.

    Example::

        >>> from jaxnn.models import LeNet
        >>> x = jnp.zeros((2, 3, 32, 32))
        >>> v = LeNet().init(jax.random.key(0), x)
        >>> intermediates(LeNet(), v, x, names=["conv1"])["conv1"].shape
        (2, 6, 28, 28)
    """
    if isinstance(names, str):
        raise TypeError(
            f"intermediates: names must be a list of module paths, "
            f"got the string {names!r} (write names=[{names!r}])"
        )
    wanted = list(dict.fromkeys(names))

    def keep(module: linen.Module, method_name: str) -> bool:
        return method_name == "__call__" and ".".join(module.path) in wanted

    # compiled as one program (op by op, a ResNet takes seconds to dispatch); keyword
    # inputs are closed over, so Python values among them stay static
    @jax.jit
    def run(variables, *args):
        return model.apply(variables, *args, capture_intermediates=keep, mutable=[], **kwargs)

    _, state = run(variables, *args)
    captured = captured_calls(state.get("intermediates", {}))
    missing = [n for n in wanted if n not in captured]
    if missing:
        known = [p for p in named_modules(model, variables, *args, **kwargs) if p]
        raise ValueError(
            f"intermediates: no module {', '.join(map(repr, missing))} is called "
            f"by {type(model).__name__}; its modules are: {', '.join(known)}"
        )
    return {n: captured[n][-1] for n in wanted}


def captured_calls(tree: Mapping[str, Any]) -> dict[str, tuple[Any, ...]]:
    """Flatten Flax's ``intermediates`` collection (from ``capture_intermediates``) into
    {torch module path: (output of call 1, output of call 2, ...)}; ``''`` is the model.

    Args:
        tree: the ``intermediates`` collection of ``model.apply(..., mutable=
            ['intermediates'])``.
    """
    out: dict[str, tuple[Any, ...]] = {}

    def walk(node: Mapping[str, Any], prefix: tuple[str, ...]) -> None:
        for key, value in node.items():
            if key == "__call__":
                out[".".join(prefix)] = tuple(value)
            elif isinstance(value, Mapping):
                walk(value, (*prefix, key))

    walk(tree, ())
    return out
