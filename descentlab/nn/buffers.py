"""Reusable output buffers, so a training step allocates nothing after the first."""

from __future__ import annotations

import numpy as np


class Buffers:
    """A small cache of arrays keyed by (name, shape, dtype).

    ``get(name, shape, dtype)`` returns the same array each time it is asked for the same
    key, so a layer can write its outputs with ``out=``. A few shapes are kept per name (a
    training batch and an evaluation batch alternate without reallocating); older ones are
    dropped. Contents are overwritten by the next call that asks for the same key.
    """

    __slots__ = ("_arrays",)
    keep = 8

    def __init__(self) -> None:
        self._arrays: dict[tuple, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: np.dtype,
            fill: float | None = None) -> np.ndarray:
        """The array for this key (uninitialised when new, or filled with ``fill``)."""
        key = (name, shape, dtype)
        a = self._arrays.get(key)
        if a is None:
            if len(self._arrays) >= self.keep:
                self._arrays.pop(next(iter(self._arrays)))
            a = self._arrays[key] = np.empty(shape, dtype)
            if fill is not None:
                a.fill(fill)
        return a

    def clear(self) -> None:
        self._arrays.clear()
