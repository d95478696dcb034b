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

    def scratch(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A C-contiguous array of this shape at the start of one growing flat array per
        (name, dtype): arrays of several sizes (a chunk and the smaller last chunk) share
        the memory instead of taking turns in the cache of shapes."""
        size = int(np.prod(shape, dtype=np.int64))
        key = ("scratch:" + name, (), dtype)
        flat = self._arrays.get(key)
        if flat is None or flat.size < size:
            flat = self._arrays[key] = np.empty(size, dtype)
        return flat[:size].reshape(shape)

    def clear(self) -> None:
        self._arrays.clear()
