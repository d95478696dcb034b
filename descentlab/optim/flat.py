"""A flat parameter buffer: named arrays that are views into one contiguous array.

A network's parameters are usually a dict of separate arrays (``W1``, ``b1``, ...). An
optimizer then runs once per array: with the fused path that is one kernel launch per array,
and small arrays (biases) fall back to NumPy. Put them into one buffer instead and the whole
network is updated by one kernel call:

>>> import numpy as np
>>> from descentlab import optim
>>> params = FlatParams.from_dict({"W": np.ones((2, 3)), "b": np.zeros(3)})
>>> params.flat.shape                    # one contiguous array ...
(9,)
>>> params["W"].base is params.flat      # ... and the named arrays are views into it
True
>>> grads = params.zeros_like()          # a gradient buffer with the same layout
>>> grads["W"] = np.full((2, 3), 2.0)    # assignment copies into the view
>>> grads["b"][:] = 1.0                  # so does writing through it
>>> opt = optim.SGD(lr=0.5)
>>> opt.update(params.flat, grads.flat)  # the whole "network" in one update
>>> params["W"][0], params["b"]
(array([0., 0., 0.]), array([-0.5, -0.5, -0.5]))

A :class:`FlatParams` is also a dict, so ``opt.update(params, grads)`` works too (one update
per named array, state keyed by name). Updating ``.flat`` instead keys the state by the single
root array; :meth:`FlatParams.views` shows any such flat array (say ``opt.state[""]["m"]``)
under the parameter names.

Keys are fixed when the buffer is made: assigning ``params[name] = array`` copies into the
view (shapes must match), and deleting or adding names is an error — rebinding a name to a
new array would silently detach it from the buffer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np


class FlatParams(dict):
    """Named views into one contiguous 1-D array, :attr:`flat` (C order, one dtype)."""

    flat: np.ndarray

    def __init__(self, flat: np.ndarray, shapes: Mapping[str, tuple[int, ...]]) -> None:
        """Wrap ``flat`` (1-D, C-contiguous) as views of ``shapes``, laid out in order."""
        if not isinstance(flat, np.ndarray) or flat.ndim != 1 or not flat.flags.c_contiguous:
            raise ValueError("flat must be a 1-D C-contiguous NumPy array")
        sizes = {name: int(np.prod(shape, dtype=np.int64)) for name, shape in shapes.items()}
        if sum(sizes.values()) != flat.size:
            raise ValueError(f"the shapes hold {sum(sizes.values())} elements, "
                             f"flat has {flat.size}")
        self.flat = flat
        self.shapes = {name: tuple(shape) for name, shape in shapes.items()}
        start = 0
        for name, shape in self.shapes.items():
            dict.__setitem__(self, name, flat[start:start + sizes[name]].reshape(shape))
            start += sizes[name]

    @classmethod
    def from_dict(cls, arrays: Mapping[str, Any], dtype: Any = None) -> FlatParams:
        """A new buffer holding copies of ``arrays`` (in their order), of ``dtype``
        (default: the arrays' common dtype)."""
        if not arrays:
            raise ValueError("arrays is empty: nothing to put in a flat buffer")
        values = {name: np.asarray(a) for name, a in arrays.items()}
        for name, a in values.items():
            if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
                raise TypeError(f"{name!r} has dtype {a.dtype}, not a number type")
        dtype = np.result_type(*values.values()) if dtype is None else np.dtype(dtype)
        if not np.issubdtype(dtype, np.floating):
            dtype = np.dtype(np.float64)
        out = cls.zeros({name: a.shape for name, a in values.items()}, dtype)
        for name, a in values.items():
            out[name] = a
        return out

    @classmethod
    def zeros(cls, shapes: Mapping[str, tuple[int, ...]], dtype: Any = np.float64) -> FlatParams:
        """A zero-filled buffer with the given named shapes."""
        total = sum(int(np.prod(s, dtype=np.int64)) for s in shapes.values())
        return cls(np.zeros(total, dtype), shapes)

    def zeros_like(self) -> FlatParams:
        """A zero-filled buffer with this layout and dtype (e.g. for the gradients)."""
        return type(self).zeros(self.shapes, self.flat.dtype)

    def views(self, flat: np.ndarray) -> dict[str, np.ndarray]:
        """Another flat array of this size (e.g. optimizer state), as named views."""
        return dict(FlatParams(np.ascontiguousarray(flat).reshape(-1), self.shapes))

    # ---- keep every name bound to its view
    def __setitem__(self, name: str, value: Any) -> None:
        if name not in self:
            raise KeyError(f"{name!r} is not in this flat buffer (its names are fixed: "
                           f"{', '.join(map(repr, self))})")
        value = np.asarray(value)
        view = dict.__getitem__(self, name)
        if value.shape != view.shape:
            raise ValueError(f"{name!r} has shape {view.shape}, cannot assign shape "
                             f"{value.shape}")
        view[...] = value

    def update(self, other: Any = (), **kwargs: Any) -> None:  # type: ignore[override]
        items: Iterable[tuple[str, Any]] = other.items() if isinstance(other, Mapping) else other
        for name, value in [*items, *kwargs.items()]:
            self[name] = value

    def _fixed(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("the names of a FlatParams are fixed; make a new one with from_dict")

    __delitem__ = pop = popitem = clear = setdefault = _fixed  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:  # copy, deepcopy and pickle rebuild the views
        return (type(self), (self.flat.copy(), self.shapes))

    def __repr__(self) -> str:
        inner = ", ".join(f"{k!r}: shape {v.shape}" for k, v in self.items())
        return f"FlatParams({{{inner}}}, dtype={self.flat.dtype})"
