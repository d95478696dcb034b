"""Gradient clipping: by value, by each array's norm, by the global norm.

The optimizers take these as options (``clip_value=``, ``clip_norm=``, ``clip_global_norm=``)
and clip a copy of the gradients, before weight decay and before the update rule. The public
functions below clip a gradient tree in place, like PyTorch's ``clip_grad_norm_`` and
``clip_grad_value_``, and return the norm measured *before* clipping.

Norm clipping follows PyTorch: ``coef = max_norm / (norm + 1e-6)``, clamped at 1, and every
gradient is multiplied by ``coef`` (by 1 when the norm is already small enough).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .hyperparams import POSITIVE, check_value
from .tree import leaves_of

NORM_EPS = 1e-6


def global_norm(arrays: list[np.ndarray]) -> float:
    """The L2 norm of all arrays taken together."""
    return float(np.sqrt(sum(float(np.dot(a.ravel(), a.ravel())) for a in arrays)))


def _norm(a: np.ndarray) -> float:
    return float(np.sqrt(np.dot(a.ravel(), a.ravel())))


def clip_arrays(
    grads: list[np.ndarray],
    clip_value: float | None = None,
    clip_norm: float | None = None,
    clip_global_norm: float | None = None,
) -> list[np.ndarray]:
    """Clipped copies of ``grads`` (arrays that need no change are returned as they are)."""
    out = list(grads)
    if clip_value is not None:
        out = [np.clip(g, -clip_value, clip_value) for g in out]
    if clip_norm is not None:
        out = [g * min(1.0, clip_norm / (_norm(g) + NORM_EPS)) for g in out]
    if clip_global_norm is not None:
        coef = min(1.0, clip_global_norm / (global_norm(out) + NORM_EPS))
        out = [g * coef for g in out]
    return out


def _array_leaves(grads: Any) -> list[tuple[str, np.ndarray, Any]]:
    """(path, array, setter) for every leaf; Python floats get a setter into their container."""
    out = []
    for path, g in leaves_of(grads):
        if isinstance(g, np.ndarray):
            out.append((path, g, None))
        else:
            out.append((path, np.asarray(g, dtype=np.float64), path))
    return out


def _key(node: Any, segment: str) -> Any:
    if isinstance(node, dict):
        return next(k for k in node if str(k) == segment)
    return int(segment)


def _write(grads: Any, path: str, value: np.ndarray) -> None:
    node = grads
    keys = path.split("/")
    for k in keys[:-1]:
        node = node[_key(node, k)]
    node[_key(node, keys[-1])] = float(value)


def _apply(grads: Any, new: list[np.ndarray]) -> None:
    for (path, g, setter), n in zip(_array_leaves(grads), new, strict=True):
        if setter is None:
            g[...] = n
        else:
            _write(grads, path, n)


def clip_grad_norm(grads: Any, max_norm: float) -> float:
    """Scale a gradient tree in place so that its global L2 norm is at most ``max_norm``.

    Returns the global norm before clipping (PyTorch's ``clip_grad_norm_``).

    >>> g = {"x": np.array([3.0, 4.0])}
    >>> clip_grad_norm(g, 1.0)
    5.0
    >>> np.round(g["x"], 6)
    array([0.6, 0.8])
    """
    max_norm = check_value("max_norm", max_norm, POSITIVE)
    arrays = [a for _, a, _ in _array_leaves(grads)]
    norm = global_norm(arrays)
    _apply(grads, clip_arrays(arrays, clip_global_norm=max_norm))
    return norm


def clip_grad_norm_each(grads: Any, max_norm: float) -> dict[str, float]:
    """Scale each gradient array in place to an L2 norm of at most ``max_norm``.

    Returns each array's norm before clipping, keyed by path.
    """
    max_norm = check_value("max_norm", max_norm, POSITIVE)
    leaves = _array_leaves(grads)
    norms = {path: _norm(a) for path, a, _ in leaves}
    _apply(grads, clip_arrays([a for _, a, _ in leaves], clip_norm=max_norm))
    return norms


def clip_grad_value(grads: Any, clip_value: float) -> float:
    """Clamp every gradient entry in place to [-clip_value, clip_value].

    Returns the global L2 norm before clipping (PyTorch's ``clip_grad_value_`` returns nothing).
    """
    clip_value = check_value("clip_value", clip_value, POSITIVE)
    arrays = [a for _, a, _ in _array_leaves(grads)]
    norm = global_norm(arrays)
    _apply(grads, clip_arrays(arrays, clip_value=clip_value))
    return norm


__all__ = ["clip_grad_norm", "clip_grad_norm_each", "clip_grad_value", "global_norm"]
