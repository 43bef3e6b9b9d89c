"""Sequential: children named "0", "1", ... as in torch."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

from flax import linen

from jaxnn.layers.module import Module

__all__ = ["Sequential"]

# linen's "parent not given" sentinel, read from the public dataclass field default
_UNSPECIFIED_PARENT = next(f.default for f in dataclasses.fields(Module) if f.name == "parent")


class Sequential(Module):
    """Run layers one after another, torch's ``nn.Sequential``.

    ``nn.Sequential(nn.Conv2d(3, 32, 5, padding=2), nn.MaxPool2d(2), ...)``: child *i*
    is named ``str(i)``, so its parameters live at ``('0', 'kernel')`` and convert to
    torch's ``0.weight``. Plain functions (e.g. ``F.relu``) may be children too.

    Linen modules are immutable: ``append``, ``insert`` and ``replace`` return a new
    Sequential (the counterpart of torch's ``seq.append(m)``, ``seq[6] = m``), e.g.
    ``classifier = classifier.replace(6, nn.Linear(4096, 10))``.

    Args:
        *layers: the modules (or callables) to run, in order.

    Shape:
        whatever the first layer takes -> whatever the last layer returns.
    """

    layers: tuple[Callable[..., Any], ...] = ()

    # children keep the names given to them here ("0", "1", ...) when adopted
    preserve_adopted_names = True

    def __init__(
        self,
        *layers: Callable[..., Any],
        parent: Any = _UNSPECIFIED_PARENT,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if "layers" in kwargs:  # Flax's clone() passes the fields by keyword
            if layers:
                raise TypeError("Sequential: pass the layers positionally or as layers=, not both")
            layers = tuple(kwargs.pop("layers"))
        if kwargs:
            raise TypeError(f"Sequential got unexpected keyword arguments {sorted(kwargs)}")
        named = []
        for i, layer in enumerate(layers):
            if isinstance(layer, linen.Module):
                layer = layer.clone(parent=None, name=str(i))
            elif not callable(layer):
                raise TypeError(f"Sequential: layer {i} is not callable: {layer!r}")
            named.append(layer)
        object.__setattr__(self, "layers", tuple(named))
        object.__setattr__(self, "parent", parent)
        object.__setattr__(self, "name", name)
        self.__post_init__()

    def __call__(self, input: Any, *args: Any, **kwargs: Any) -> Any:
        if not self.layers:
            return input
        out = self.layers[0](input, *args, **kwargs)
        for layer in self.layers[1:]:
            out = layer(out)
        return out

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Callable[..., Any]]:
        return iter(self.layers)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return Sequential(*self.layers[index])
        return self.layers[index]

    @linen.nowrap
    def append(self, module: Callable[..., Any]) -> Sequential:
        """A new Sequential with ``module`` added at the end."""
        return Sequential(*self.layers, module)

    @linen.nowrap
    def insert(self, index: int, module: Callable[..., Any]) -> Sequential:
        """A new Sequential with ``module`` inserted before position ``index``."""
        layers = list(self.layers)
        layers.insert(index, module)
        return Sequential(*layers)

    @linen.nowrap
    def replace(self, index: int, module: Callable[..., Any]) -> Sequential:
        """A new Sequential with child ``index`` replaced by ``module``."""
        layers = list(self.layers)
        layers[index] = module
        return Sequential(*layers)

    def extra_repr(self) -> str:
        if not self.layers:
            return ""
        lines = []
        for i, layer in enumerate(self.layers):
            text = repr(layer).replace("\n", "\n  ")
            lines.append(f"  ({i}): {text}")
        return "\n" + "\n".join(lines) + "\n"
