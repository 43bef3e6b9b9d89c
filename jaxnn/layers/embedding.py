"""Embedding."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxnn import init
from jaxnn.core import embedding as core
from jaxnn.layers.module import Module

__all__ = ["Embedding"]


def _constant(array: np.ndarray) -> init.Initializer:
    def initializer(key, shape, dtype=jnp.float32):
        del key
        return jnp.asarray(array, dtype).reshape(shape)

    return initializer


class Embedding(Module):
    """A lookup table of ``num_embeddings`` vectors of size ``embedding_dim``, torch's
    ``nn.Embedding``.

    Args:
        num_embeddings: size of the table.
        embedding_dim: size of each vector.
        padding_idx: a row (negative: from the end) that starts at zero and never gets a
            gradient, e.g. for padding tokens. Default: None.
        max_norm: rows looked up with a larger ``norm_type``-norm are rescaled to norm
            ``max_norm`` in the output. torch also writes the rescaled rows back into its
            weight; JAX parameters are immutable, so the stored weight keeps its values
            (a later optimizer step starts from them, not from the rescaled ones).
        norm_type: the p of the p-norm for ``max_norm``. Default: 2.
        scale_grad_by_freq: divide each row's gradient by its count in the batch.
        sparse: accepted for torch compatibility; gradients in JAX are dense arrays (of
            the same values).
        _weight: initial values (num_embeddings, embedding_dim), as torch's ``_weight``
            (see :meth:`from_pretrained`).
        _freeze: the weight gets no gradient (torch's ``requires_grad=False``).
        weight_init: Flax initializer for ``embedding``. Default: torch's N(0, 1) (Flax's
            Embed uses a variance-scaling normal), with the ``padding_idx`` row zeroed.
        param_dtype: parameter dtype. Default: float32.

    Shape:
        integer input (*) -> (*, embedding_dim). An index outside [0, num_embeddings)
        raises IndexError when the input is concrete; under ``jit`` it cannot be checked
        and its row is NaN.

    Variables: ``params/embedding`` (num_embeddings, embedding_dim), torch's ``weight``
    unchanged.

    Example::

        >>> emb = nn.Embedding(10, 3)
        >>> v = emb.init(jax.random.key(0), jnp.array([[1, 2, 4, 5], [4, 3, 2, 9]]))
        >>> emb.apply(v, jnp.array([[1, 2, 4, 5], [4, 3, 2, 9]])).shape
        (2, 4, 3)
    """

    num_embeddings: int
    embedding_dim: int
    padding_idx: int | None = None
    max_norm: float | None = None
    norm_type: float = 2.0
    scale_grad_by_freq: bool = False
    sparse: bool = False
    _weight: Any = None
    _freeze: bool = False
    weight_init: init.Initializer | None = None
    param_dtype: Any = jnp.float32

    def __post_init__(self) -> None:
        who = type(self).__name__
        if self.padding_idx is not None:
            object.__setattr__(
                self,
                "padding_idx",
                core.check_padding_idx(self.padding_idx, self.num_embeddings, who),
            )
        if self._weight is not None:
            # kept as an initializer: module fields must hash, arrays do not
            weight = np.asarray(self._weight)
            if weight.shape != (self.num_embeddings, self.embedding_dim):
                raise ValueError(
                    f"{who}: _weight has shape {weight.shape}, expected "
                    f"({self.num_embeddings}, {self.embedding_dim})"
                )
            object.__setattr__(self, "weight_init", _constant(weight))
            object.__setattr__(self, "_weight", None)
        super().__post_init__()

    def setup(self) -> None:
        base = self.weight_init or init.normal_()

        def initializer(key, shape, dtype=jnp.float32):
            weight = base(key, shape, dtype)
            if self.padding_idx is not None and self.weight_init is None:
                weight = weight.at[self.padding_idx].set(0)
            return weight

        self.embedding = self.param(
            "embedding", initializer, (self.num_embeddings, self.embedding_dim), self.param_dtype
        )

    def _table(self) -> jax.Array:
        return lax.stop_gradient(self.embedding) if self._freeze else self.embedding

    def __call__(self, input: jax.Array) -> jax.Array:
        return core.embedding(
            jnp.asarray(input),
            self._table(),
            padding_idx=self.padding_idx,
            max_norm=self.max_norm,
            norm_type=self.norm_type,
            scale_grad_by_freq=self.scale_grad_by_freq,
            who=self._who(),
        )

    def attend(self, query: jax.Array) -> jax.Array:
        """``query @ weight.T``: scores against every row, for an output layer tied to
        this table (GPT's ``lm_head``). Shape: (*, embedding_dim) -> (*, num_embeddings)."""
        if query.shape[-1:] != (self.embedding_dim,):
            raise ValueError(
                f"{self._who()}.attend: query has {query.shape[-1] if query.ndim else 0} "
                f"features (shape {tuple(query.shape)}), expected {self.embedding_dim}"
            )
        table = self._table()
        return lax.dot_general(query, table, (((query.ndim - 1,), (1,)), ((), ())))

    @classmethod
    def from_pretrained(
        cls,
        embeddings: Any,
        freeze: bool = True,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
    ) -> Embedding:
        """An Embedding whose ``init`` returns ``embeddings`` (2-D) as its weight, torch's
        ``Embedding.from_pretrained``; ``freeze`` (default) stops its gradient.

        Example::

            >>> emb = nn.Embedding.from_pretrained(np.array([[1.0, 2.3, 3.0], [4.0, 5.1, 6.3]]))
            >>> v = emb.init(jax.random.key(0), jnp.array([1]))
            >>> emb.apply(v, jnp.array([1]))
            Array([[4. , 5.1, 6.3]], dtype=float32)
        """
        weight = np.asarray(embeddings)
        if weight.ndim != 2:
            raise ValueError(
                f"Embedding.from_pretrained: embeddings must be 2-dimensional, got shape "
                f"{weight.shape}"
            )
        return cls(
            weight.shape[0],
            weight.shape[1],
            padding_idx=padding_idx,
            max_norm=max_norm,
            norm_type=norm_type,
            scale_grad_by_freq=scale_grad_by_freq,
            sparse=sparse,
            _weight=weight,
            _freeze=freeze,
            param_dtype=jax.dtypes.canonicalize_dtype(weight.dtype)
            if np.issubdtype(weight.dtype, np.floating)
            else jnp.float32,
        )

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq is not False:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        if self.sparse is not False:
            s += ", sparse=True"
        return s
