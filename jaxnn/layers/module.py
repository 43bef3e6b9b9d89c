"""`nn.Module`: Flax linen's Module, with torch's `forward` accepted as the call method."""

from __future__ import annotations

from flax import linen

__all__ = ["Module"]

_PLAIN_METHODS = frozenset({"extra_repr", "__repr__", "__len__", "__iter__", "__getitem__"})


class Module(linen.Module):
    """Base class of every jaxnn layer and model: a ``flax.linen.Module``.

    Write models as in torch, with ``setup`` in place of ``__init__``, and either
    ``__call__`` or ``forward``; a subclass that defines ``forward`` (and no
    ``__call__``) is callable through it::

        class Net(nn.Module):
            def setup(self):
                self.fc = nn.Linear(4, 2)

            def forward(self, x):
                return self.fc(x)

    Differences from ``torch.nn.Module``: the module holds no weights. ``init``
    returns the variables (``{'params': ..., 'batch_stats': ...}``) and ``apply``
    runs the model on them. ``model.apply(variables, x)`` is eval mode; calling
    ``apply`` with ``mutable=['batch_stats']`` and/or a ``'dropout'`` rng is
    train mode (BatchNorm uses and updates batch statistics, Dropout drops).
    """

    def __init_subclass__(cls, **kwargs):
        # Configuration helpers (repr, argument parsing, container access) are plain
        # Python: exempt them from Flax's method wrapping, which needs a bound scope.
        for attr, value in list(cls.__dict__.items()):
            if callable(value) and (
                attr in _PLAIN_METHODS or (attr.startswith("_") and not attr.startswith("__"))
            ):
                setattr(cls, attr, linen.nowrap(value))
        if "forward" in cls.__dict__ and "__call__" not in cls.__dict__:

            def __call__(self, *args, **kw):
                return self.forward(*args, **kw)

            cls.__call__ = __call__
        super().__init_subclass__(**kwargs)

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
