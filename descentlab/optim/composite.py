"""Optimizers made of optimizers: what :mod:`.groups` and :mod:`.wrappers` share.

A composite holds one or more ordinary optimizers and offers the same surface:
``update(params, grads)``, ``step``, ``state_dict()`` / ``load_state_dict()`` (strict: checked
before anything changes) and ``save(path)`` / ``load(path)`` (one ``.npz``, written atomically,
read without pickle). Its state dict nests the inner optimizers' own state dicts, so any inner
optimizer — or another composite — round-trips.

>>> from descentlab import optim
>>> from descentlab.optim.wrappers import Lookahead
>>> opt = Lookahead(optim.SGD(0.1), sync_period=2)
>>> p = {"x": 1.0}
>>> for _ in range(2):
...     opt.update(p, {"x": 1.0})
>>> round(p["x"], 12)  # two fast steps to 0.8, then halfway back towards the start
0.9
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any, ClassVar

import numpy as np

from ..errors import FileFormatError, InputError, MissingKeyError, NonFiniteError
from ..files import atomic_path
from .base import read_arrays
from .tree import Leaf, flatten_grads, flatten_params, show

_ARRAY = "__array__"


def _encode(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    """JSON-able form of a state dict; arrays go to ``arrays`` under a numbered name."""
    if isinstance(obj, np.ndarray):
        name = f"a{len(arrays)}"
        arrays[name] = obj
        return {_ARRAY: name}
    if isinstance(obj, dict):
        return {str(k): _encode(v, arrays) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_encode(v, arrays) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _decode(obj: Any, arrays: Any) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {_ARRAY}:
            return arrays[obj[_ARRAY]]
        return {k: _decode(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    return obj


def save_state(path: str | os.PathLike, d: dict[str, Any]) -> None:
    """Write a (nested) state dict to ``.npz``: arrays as members, the rest as JSON."""
    arrays: dict[str, np.ndarray] = {}
    meta = json.dumps(_encode(d, arrays))
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, meta=np.array(meta), **arrays)
        f.flush()
        os.fsync(f.fileno())


def load_state(path: str | os.PathLike) -> dict[str, Any]:
    """Read what :func:`save_state` wrote; a damaged file is one error naming it."""
    name = os.fspath(path)
    arrays = read_arrays(name)  # bounded by the file's size; damage is a FileFormatError
    if "meta" not in arrays:
        raise FileFormatError(f"{name} is not a descentlab optimizer checkpoint")
    try:
        meta = arrays.pop("meta")
        d = _decode(json.loads(str(meta[()] if meta.shape == () else meta)), arrays)
    except (ValueError, KeyError, TypeError, RecursionError) as e:
        raise FileFormatError(f"{name} cannot be read as an optimizer checkpoint: {e}") from None
    if not isinstance(d, dict):
        raise FileFormatError(f"{name} is not a descentlab optimizer checkpoint")
    return d


def require(d: Any, keys: tuple[str, ...], what: str = "state dict") -> None:
    """Strict loading: ``d`` is a dict with exactly these keys."""
    if not isinstance(d, dict):
        raise InputError(f"the {what} must be a dict, not {type(d).__name__}")
    for k in keys:
        if k not in d:
            raise MissingKeyError(f"the {what} has no {k!r} entry")
    for k in d:
        if k not in keys:
            raise MissingKeyError(f"the {what} has an unknown entry {k!r}")


def count(d: dict[str, Any], key: str) -> int:
    """A non-negative integer entry of a state dict."""
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
        raise InputError(f"the state dict's {key!r} must be a non-negative integer, got {v!r}")
    return int(v)


def slot_arrays(d: Any, shapes: dict[str, tuple[int, ...]], slot: str) -> dict[str, np.ndarray]:
    """``{path: array}`` for one slot, checked against the inner optimizer's shapes."""
    if not isinstance(d, dict):
        raise InputError(f"the state dict's {slot!r} must be a dict of arrays by path")
    if shapes and set(d) != set(shapes):
        odd = sorted(set(d) ^ set(shapes))[0]
        raise MissingKeyError(f"the state dict's {slot!r} and the inner optimizer's state "
                              f"disagree about {show(odd)}")
    out = {}
    for path, a in d.items():
        a = np.asarray(a)
        if a.dtype.kind != "f":
            raise InputError(f"the state dict's {slot!r} for {show(path)} has dtype {a.dtype}")
        if shapes and a.shape != tuple(shapes[path]):
            raise InputError(f"the state dict's {slot!r} for {show(path)} has shape {a.shape}, "
                             f"the parameter has shape {tuple(shapes[path])}")
        out[path] = a.copy()
    return out


class Composite:
    """Base of groups and wrappers: checkpoints written once, on top of ``state_dict``."""

    name: ClassVar[str] = ""

    def state_dict(self) -> dict[str, Any]:  # pragma: no cover - every subclass has one
        raise NotImplementedError

    def load_state_dict(self, d: dict[str, Any]) -> None:  # pragma: no cover
        raise NotImplementedError

    def save(self, path: str | os.PathLike) -> None:
        """Write the state (the inner optimizers' included) to ``.npz`` atomically."""
        save_state(path, self.state_dict())

    def load(self, path: str | os.PathLike) -> None:
        """Restore from :meth:`save`'s file (strict, like :meth:`load_state_dict`)."""
        self.load_state_dict(load_state(path))


class Structure:
    """The parameters a composite first saw (paths, shapes, dtypes), checked on every call
    it handles without an inner update (an inner optimizer checks its own)."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[tuple[int, ...], np.dtype]] | None = None

    def check(self, params: Any, grads: Any) -> tuple[list[Leaf], list[np.ndarray]]:
        leaves = flatten_params(params)
        gs = flatten_grads(grads, leaves)
        if self.seen is not None:
            paths = {leaf.path for leaf in leaves}
            for path in self.seen:
                if path not in paths:
                    raise MissingKeyError(f"{show(path)} is missing: the optimizer has state "
                                          "for it")
            for leaf in leaves:
                if leaf.path not in self.seen:
                    raise MissingKeyError(f"{show(leaf.path)} was not among the parameters "
                                          "this optimizer was first used with")
                shape, dtype = self.seen[leaf.path]
                if leaf.array.shape != shape or leaf.array.dtype != dtype:
                    raise InputError(
                        f"{show(leaf.path)} is {leaf.array.dtype}{list(leaf.array.shape)}, "
                        f"but it was {dtype}{list(shape)} when the optimizer first saw it")
        return leaves, gs

    def remember(self, leaves: list[Leaf]) -> None:
        if self.seen is None:
            self.seen = {leaf.path: (leaf.array.shape, leaf.array.dtype) for leaf in leaves}


def nonfinite_path(leaves: list[Leaf], gs: list[np.ndarray]) -> str | None:
    """The path of the first gradient holding inf or nan, or None."""
    with np.errstate(over="ignore", invalid="ignore"):
        for leaf, g in zip(leaves, gs):
            if not np.isfinite(np.sum(g)) and not np.isfinite(g).all():
                return leaf.path
    return None


def finite_or_skip(policy: str, leaves: list[Leaf], gs: list[np.ndarray], step: int) -> bool:
    """Apply an optimizer's ``nonfinite`` policy; True when the call is to be skipped."""
    if policy == "ignore":
        return False
    bad = nonfinite_path(leaves, gs)
    if bad is None:
        return False
    message = f"the gradient of {show(bad)} is not finite at step {step}"
    if policy == "raise":
        raise NonFiniteError(message + " (pass nonfinite='skip' to skip such updates instead)")
    warnings.warn(message + "; update skipped", RuntimeWarning, stacklevel=3)
    return True


__all__ = ["Composite", "Structure", "save_state", "load_state", "require", "count",
           "slot_arrays", "finite_or_skip", "nonfinite_path"]
