"""Containers with torch's child names: Sequential, ModuleList, ModuleDict."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from flax import linen

from jaxnn.layers.module import Module, as_container, check_child_name

__all__ = ["ModuleDict", "ModuleList", "Sequential"]

# linen's "parent not given" sentinel, read from the public dataclass field default
_UNSPECIFIED_PARENT = next(f.default for f in dataclasses.fields(Module) if f.name == "parent")


_RESERVED = frozenset({"parent", "name", "scope", "layers", "names"})


class _Container(Module):
    """Children in order under torch's names: their variables live at ``(name, ...)``, so
    child ``'0'``'s weight is torch's ``0.weight``. Linen modules are immutable, so the
    editing methods return a new container."""

    layers: tuple[Callable[..., Any], ...] = ()
    names: tuple[str, ...] = ()

    # children keep the names given to them here when adopted
    preserve_adopted_names = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Flax makes every subclass a dataclass, which writes a field-by-field __init__
        # for a subclass that has none of its own (torch code subclasses these containers:
        # class DenseBlock(nn.ModuleDict) adding only forward). Such a subclass is built
        # as its base is, so it keeps its base's __init__.
        inherited = "__init__" not in cls.__dict__
        super().__init_subclass__(**kwargs)
        if inherited:
            for base in cls.__mro__[1:]:
                if issubclass(base, _Container) and "__init__" in base.__dict__:
                    cls.__init__ = base.__dict__["__init__"]
                    break

    def __init__(
        self,
        named: Iterable[tuple[str, Any]] = (),
        *,
        parent: Any = _UNSPECIFIED_PARENT,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        who = type(self).__name__
        if "layers" in kwargs:  # Flax's clone() passes the fields by keyword
            named = zip(kwargs.pop("names"), kwargs.pop("layers"))
        if kwargs:
            raise TypeError(f"{who} got unexpected keyword arguments {sorted(kwargs)}")
        names, layers = [], []
        for key, layer in named:
            check_child_name(who, key)
            if key in _RESERVED or hasattr(type(self), key):
                raise KeyError(f"{who}: {key!r} is an attribute of {who}, not a free name")
            if key in names:
                raise KeyError(f"{who}: two children are named {key!r}")
            layer = as_container(layer)
            if isinstance(layer, linen.Module):
                layer = layer.clone(parent=None, name=key)
            elif not self._accepts(layer):
                raise TypeError(f"{who}: layer {key} is not {self._kind}: {layer!r}")
            names.append(key)
            layers.append(layer)
        object.__setattr__(self, "layers", tuple(layers))
        object.__setattr__(self, "names", tuple(names))
        object.__setattr__(self, "parent", parent)
        object.__setattr__(self, "name", name)
        self.__post_init__()

    _kind = "a Module"

    def _accepts(self, layer: Any) -> bool:
        return False

    def _children(self) -> tuple[Any, ...]:
        """The children, bound to this container's scope when it has one. Flax adopts a
        module's submodule fields in its setup, which runs before a wrapped method; the
        plain accessors below are not wrapped, so they run it themselves."""
        self._try_setup()
        return self.layers

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._children())

    def __contains__(self, key: object) -> bool:
        return key in self.names

    def __getattr__(self, name: str) -> Any:
        # torch lets named children be read as attributes: seq.conv1, transformer.wte
        names = self.__dict__.get("names", ())
        if name in names:
            return self._children()[names.index(name)]
        return super().__getattr__(name)

    def _named(self) -> list[tuple[str, Any]]:
        return list(zip(self.names, self.layers))

    def extra_repr(self) -> str:
        if not self.layers:
            return ""
        lines = []
        for key, layer in self._named():
            text = repr(layer).replace("\n", "\n  ")
            lines.append(f"  ({key}): {text}")
        return "\n" + "\n".join(lines) + "\n"


def _numbered(layers: Iterable[Any]) -> list[tuple[str, Any]]:
    return [(str(i), layer) for i, layer in enumerate(layers)]


def _index(container: _Container, index: int) -> int:
    n = len(container.layers)
    if not -n <= index < n:
        raise IndexError(f"{type(container).__name__}: index {index} is out of range ({n})")
    return index % n


class Sequential(_Container):
    """Run layers one after another, torch's ``nn.Sequential``.

    ``nn.Sequential(nn.Conv2d(3, 32, 5, padding=2), nn.MaxPool2d(2), ...)``: child *i*
    is named ``str(i)``, so its parameters live at ``('0', 'kernel')`` and convert to
    torch's ``0.weight``. ``nn.Sequential(OrderedDict(conv=..., relu=...))`` names the
    children by the keys (``conv.weight``), and ``seq.conv`` reads one back. Plain
    functions (e.g. ``F.relu``) may be children too.

    Linen modules are immutable: ``append``, ``insert`` and ``replace`` return a new
    Sequential (the counterpart of torch's ``seq.append(m)``, ``seq[6] = m``), e.g.
    ``classifier = classifier.replace(6, nn.Linear(4096, 10))``.

    Args:
        *layers: the modules (or callables) to run, in order; or one mapping of
            name -> module.
        **kwargs: Flax's ``parent`` and ``name`` (and the fields, when Flax clones it).

    Shape:
        whatever the first layer takes -> whatever the last layer returns.
    """

    def __init__(self, *layers: Any, **kwargs: Any) -> None:
        if len(layers) == 1 and isinstance(layers[0], Mapping):
            super().__init__(layers[0].items(), **kwargs)
        else:
            super().__init__(_numbered(layers), **kwargs)

    _kind = "callable"

    def _accepts(self, layer: Any) -> bool:
        return callable(layer)

    def __call__(self, input: Any, *args: Any, **kwargs: Any) -> Any:
        if not self.layers:
            return input
        out = self.layers[0](input, *args, **kwargs)
        for layer in self.layers[1:]:
            out = layer(out)
        return out

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):  # keeps the children's names, as torch's does
            return Sequential(dict(self._named()[index]))
        return self._children()[_index(self, index)]

    def _renumbered(self, layers: list[Any]) -> Sequential:
        if all(key == str(i) for i, key in enumerate(self.names)):
            return Sequential(*layers)
        raise TypeError(
            "Sequential: append/insert/replace by position need numbered children; "
            "build a new Sequential(OrderedDict(...)) to edit a named one"
        )

    @linen.nowrap
    def append(self, module: Callable[..., Any]) -> Sequential:
        """A new Sequential with ``module`` added at the end."""
        return self._renumbered([*self.layers, module])

    @linen.nowrap
    def insert(self, index: int, module: Callable[..., Any]) -> Sequential:
        """A new Sequential with ``module`` inserted before position ``index``."""
        layers = list(self.layers)
        layers.insert(index, module)
        return self._renumbered(layers)

    @linen.nowrap
    def replace(self, index: int, module: Callable[..., Any]) -> Sequential:
        """A new Sequential with child ``index`` replaced by ``module``."""
        layers = list(self.layers)
        layers[_index(self, index)] = module
        return self._renumbered(layers)


class ModuleList(_Container):
    """Modules in a list, named ``'0'``, ``'1'``, ... as torch's ``nn.ModuleList``.

    A list (or tuple) of modules assigned in a ``jaxnn.Module``'s ``setup`` becomes a
    ModuleList by itself, so ``self.h = [Block() for _ in range(n)]`` gives torch's
    ``h.0.ln_1.weight`` keys. Index, iterate and ``len`` it as a list; ``append``,
    ``extend`` and ``insert`` return a new ModuleList (linen modules are immutable).

    Args:
        modules: an iterable of modules. Default: empty.
        **kwargs: Flax's ``parent`` and ``name`` (and the fields, when Flax clones it).
    """

    def __init__(self, modules: Iterable[linen.Module] = (), **kwargs: Any) -> None:
        super().__init__(_numbered(modules), **kwargs)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):  # renumbered from 0, as torch's ModuleList does
            return ModuleList(self.layers[index])
        return self._children()[_index(self, index)]

    @linen.nowrap
    def append(self, module: linen.Module) -> ModuleList:
        """A new ModuleList with ``module`` added at the end."""
        return ModuleList([*self.layers, module])

    @linen.nowrap
    def extend(self, modules: Iterable[linen.Module]) -> ModuleList:
        """A new ModuleList with ``modules`` added at the end."""
        return ModuleList([*self.layers, *modules])

    @linen.nowrap
    def insert(self, index: int, module: linen.Module) -> ModuleList:
        """A new ModuleList with ``module`` inserted before position ``index``."""
        layers = list(self.layers)
        layers.insert(index, module)
        return ModuleList(layers)


class ModuleDict(_Container):
    """Modules by name, torch's ``nn.ModuleDict``: child ``'wte'`` of ``transformer`` is
    ``transformer.wte`` in the state_dict.

    A dict of modules assigned in a ``jaxnn.Module``'s ``setup`` becomes a ModuleDict by
    itself. Read children as ``d['wte']`` or ``d.wte``; ``keys``, ``values``, ``items``,
    ``len``, ``in`` and iteration (over keys) work as on a dict, in insertion order.
    ``update`` returns a new ModuleDict (linen modules are immutable).

    Args:
        modules: a mapping of name -> module, or an iterable of (name, module) pairs.
            Default: empty.
        **kwargs: Flax's ``parent`` and ``name`` (and the fields, when Flax clones it).
    """

    def __init__(
        self,
        modules: Mapping[str, linen.Module] | Iterable[tuple[str, linen.Module]] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(modules.items() if isinstance(modules, Mapping) else modules, **kwargs)

    def __getitem__(self, key: str) -> Any:
        if key not in self.names:
            raise KeyError(f"ModuleDict has no child {key!r}; it has {list(self.names)}")
        return self._children()[self.names.index(key)]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    @linen.nowrap
    def keys(self) -> list[str]:
        return list(self.names)

    @linen.nowrap
    def values(self) -> list[Any]:
        return list(self._children())

    @linen.nowrap
    def items(self) -> list[tuple[str, Any]]:
        return list(zip(self.names, self._children()))

    @linen.nowrap
    def update(
        self, modules: Mapping[str, linen.Module] | Iterable[tuple[str, linen.Module]]
    ) -> ModuleDict:
        """A new ModuleDict with ``modules`` added (replacing children of the same name)."""
        merged = dict(self._named())
        merged.update(modules.items() if isinstance(modules, Mapping) else modules)
        return ModuleDict(merged)
