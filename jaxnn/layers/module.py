"""`nn.Module`: Flax linen's Module, with torch's `forward`, torch's names for lists and
dicts of layers, buffers and tied weights."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
from flax import linen

from jaxnn.state_dict import BUFFERS, TIED

__all__ = ["Module"]

_PLAIN_METHODS = frozenset(
    {"extra_repr", "__repr__", "__len__", "__iter__", "__getitem__", "__contains__"}
)


def check_child_name(owner: str, name: Any) -> str:
    """torch's rules for a submodule, parameter or buffer name: a non-empty string
    without '.'."""
    if not isinstance(name, str):
        raise TypeError(f"{owner}: a name must be a string, got {type(name).__name__} {name!r}")
    if not name or "." in name:
        raise KeyError(f"{owner}: a name can neither be empty nor contain '.', got {name!r}")
    return name


def _is_layer_tree(value: Any) -> bool:
    """A non-empty list, tuple or str-keyed dict whose items are all modules (or such
    lists and dicts): what torch writes as ModuleList / ModuleDict."""
    if isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            return False
        items = list(value.values())
    else:
        return False
    return bool(items) and all(isinstance(v, linen.Module) or _is_layer_tree(v) for v in items)


def as_container(value: Any) -> Any:
    """A list/tuple of modules as ``ModuleList``, a dict of them as ``ModuleDict``
    (recursively); anything else unchanged."""
    if not _is_layer_tree(value):
        return value
    from jaxnn.layers.container import ModuleDict, ModuleList

    if isinstance(value, Mapping):
        return ModuleDict({k: as_container(v) for k, v in value.items()})
    return ModuleList([as_container(v) for v in value])


class Module(linen.Module):
    """Base class of every jaxnn layer and model: a ``flax.linen.Module``.

    Write models as in torch, with ``setup`` in place of ``__init__``, and either
    ``__call__`` or ``forward``; a subclass that defines ``forward`` (and no
    ``__call__``) is callable through it::

        class Net(nn.Module):
            def setup(self):
                self.fc = nn.Linear(4, 2)
                self.blocks = [nn.Linear(2, 2) for _ in range(3)]   # blocks.0, blocks.1, ...

            def forward(self, x):
                for block in self.blocks:
                    x = block(self.fc(x))
                return x

    Differences from ``torch.nn.Module``: the module holds no weights. ``init``
    returns the variables (``{'params': ..., 'batch_stats': ...}``) and ``apply``
    runs the model on them. ``model.apply(variables, x)`` is eval mode; calling
    ``apply`` with ``mutable=['batch_stats']`` and/or a ``'dropout'`` rng is
    train mode (BatchNorm uses and updates batch statistics, Dropout drops).

    Differences from ``flax.linen.Module``: a list or tuple of modules assigned in
    ``setup`` becomes an ``nn.ModuleList`` and a dict of them an ``nn.ModuleDict``, so
    their children are named as torch names them (``blocks.0``, ``transformer.wte``)
    where Flax would name them ``blocks_0``, ``transformer_wte``.
    """

    def __init_subclass__(cls, **kwargs):
        # Configuration helpers (repr, argument parsing, container access) are plain
        # Python: exempt them from Flax's method wrapping, which needs a bound scope.
        for attr, value in list(cls.__dict__.items()):
            if callable(value) and (
                attr in _PLAIN_METHODS
                or attr in ("__getattr__", "__setattr__")
                or (attr.startswith("_") and not attr.startswith("__"))
            ):
                setattr(cls, attr, linen.nowrap(value))
        if "forward" in cls.__dict__ and "__call__" not in cls.__dict__:

            def __call__(self, *args, **kw):
                return self.forward(*args, **kw)

            cls.__call__ = __call__
        super().__init_subclass__(**kwargs)

    @linen.nowrap
    def __setattr__(self, name: str, value: Any) -> None:
        # in setup: lists and dicts of layers get torch's child names (see the class doc)
        if not name.startswith("_") and name not in self.__dataclass_fields__:
            value = as_container(value)
        super().__setattr__(name, value)

    @linen.nowrap
    def add_module(self, name: str, module: linen.Module | None) -> None:
        """torch's ``add_module``, in ``setup``: ``self.add_module('conv1', m)`` is
        ``self.conv1 = m``, for names built at run time (``f'layer{i}'``)."""
        setattr(self, check_child_name(f"{type(self).__name__}.add_module", name), module)

    register_module = add_module

    @linen.nowrap
    def register_buffer(self, name: str, tensor: Any, persistent: bool = True) -> Any:
        """torch's ``register_buffer``, in ``setup`` (or a compact method): a tensor the
        model reads but does not train, e.g. a positional encoding.

        A persistent buffer is a variable of the ``buffers`` collection: it is in the
        variables ``init`` returns, in the state_dict under ``name`` (torch's layout),
        loaded from a torch checkpoint, never trained and never decayed. With
        ``persistent=False`` it is a constant of the module instead, out of the
        variables and the state_dict, as torch keeps it out of its state_dict.

        In ``setup`` the value is also set as ``self.<name>``; either way it is returned.
        ``tensor=None`` registers nothing and sets ``self.<name> = None``, as torch.
        """
        check_child_name(f"{type(self).__name__}.register_buffer", name)
        value = None if tensor is None else jnp.asarray(tensor)
        if value is not None and persistent:
            value = self.variable(BUFFERS, name, lambda: value).value
        if self.is_in_setup():
            setattr(self, name, value)
        return value

    @linen.nowrap
    def is_in_setup(self) -> bool:
        """Whether ``setup`` is running (attributes can be assigned only there)."""
        return bool(self._state.in_setup)

    @linen.nowrap
    def tie_weights(self, alias: str, target: str) -> None:
        """Declare that the torch key ``alias`` names the same tensor as ``target`` (both
        relative to this module), as ``self.lm_head.weight = self.wte.weight`` does in
        torch. Call it in ``setup``; the model itself computes with the one weight
        (e.g. ``self.wte.attend(x)`` for a tied output projection).

        ``flax_to_torch`` and ``state_dict`` then emit the target's tensor under both
        keys, and ``torch_to_flax`` reads it from either key (both present: they must be
        equal). The declaration is recorded at ``init`` in the ``tied`` collection; it
        holds no copy of the weight, and ``apply`` does not need it.

        Example::

            def setup(self):
                self.wte = nn.Embedding(vocab, dim)
                self.tie_weights("lm_head.weight", "wte.weight")
        """
        who = f"{type(self).__name__}.tie_weights"
        for key in (alias, target):
            if not isinstance(key, str) or not key or "" in key.split("."):
                raise ValueError(f"{who}: keys must be torch state_dict keys, got {key!r}")
        if alias == target:
            raise ValueError(f"{who}: a key cannot be tied to itself ({alias!r})")
        if self.is_initializing():
            self.variable(TIED, alias, lambda: {target: jnp.zeros((), jnp.int8)})

    def extra_repr(self) -> str | None:
        """The layer's configuration for ``repr``, as torch's ``extra_repr``; None
        keeps Flax's dataclass repr."""
        return None

    def __repr__(self) -> str:
        extra = self.extra_repr()
        if extra is None:
            return super().__repr__()
        return f"{type(self).__name__}({extra})"

    def _who(self) -> str:
        """How error messages name this layer: its repr, and its torch path when bound."""
        where = ""
        if self.scope is not None and self.scope.path:
            where = f" at '{'.'.join(self.scope.path)}'"
        return f"{self!r}{where}"


# linen's "parent not given" sentinel, for modules with a constructor of their own
UNSPECIFIED_PARENT = next(f.default for f in dataclasses.fields(Module) if f.name == "parent")
