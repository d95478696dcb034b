"""Gradient clipping: by value, by each array's norm, by the global norm.

The optimizers take these as options (``clip_value=``, ``clip_norm=``, ``clip_global_norm=``)
and clip a copy of the gradients, before weight decay and before the update rule, in this
order: values first, then each array's norm, then the global norm. The public functions below
clip a gradient tree in place, like PyTorch's ``clip_grad_norm_`` and ``clip_grad_value_``, and
return the norm measured *before* clipping.

Norm clipping follows PyTorch: ``coef = max_norm / (norm + 1e-6)``, clamped at 1, and every
gradient is multiplied by ``coef`` (cast to the gradient's dtype). The optimizers' option
``clip_eps=0`` drops the 1e-6, which is Keras's ``clipnorm``/``global_clipnorm``
(``g·c/max(‖g‖, c)``, tested against Keras). Sums of squares are added up
in float64 (float32 BLAS dots over chunks, see :func:`_sum_of_squares`), so float16 and float32
gradients whose sum of squares overflows their own dtype still get a finite norm (PyTorch's
float32 norm is then ``inf`` and it zeroes the gradients); whenever PyTorch's norm is finite
the two agree to the gradients' rounding.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import InputError, InputTypeError
from .hyperparams import POSITIVE, check_value

NORM_EPS = 1e-6
_CHUNK = 1 << 16  # elements summed in the gradient's precision before adding to a float64 total


def _sum_of_squares(a: np.ndarray) -> float:
    """Σ a² as a Python float.

    float64 arrays: one BLAS dot. Other dtypes: BLAS float32 dots over chunks of 65 536
    entries, added up in float64 (accurate to ~1e-7 relative, like PyTorch's float32 norm, at
    BLAS speed); a chunk whose float32 sum overflows is summed again in float64, so the result
    is finite whenever the true value is.
    """
    flat = a.reshape(-1)
    if flat.dtype == np.float64:
        return float(np.dot(flat, flat))
    total = 0.0
    with np.errstate(over="ignore"):
        for i in range(0, flat.size, _CHUNK):
            chunk = flat[i:i + _CHUNK]
            if chunk.dtype != np.float32:
                chunk = chunk.astype(np.float32)
            part = float(np.dot(chunk, chunk))
            if part == math.inf:
                wide = chunk.astype(np.float64)
                part = float(np.dot(wide, wide))
            total += part
    return total


def check_clip_options(values: Mapping[str, Any]) -> None:
    """Refuse a ``clip_eps`` that would change nothing: it is the ε of norm clipping only, so a
    value other than the default needs ``clip_norm`` or ``clip_global_norm`` (checked by every
    optimizer at construction and on every assignment, which is undone if this raises).

    >>> check_clip_options({"clip_eps": 0.0, "clip_norm": 1.0})
    >>> check_clip_options({"clip_eps": 0.0, "clip_norm": None, "clip_global_norm": None})
    Traceback (most recent call last):
    ...
    descentlab.errors.InputError: clip_eps=0.0 takes effect only with norm clipping: \
clip_norm and clip_global_norm are both None; set one of them first, or leave clip_eps at its \
default 1e-06
    """
    eps = values.get("clip_eps", NORM_EPS)
    if eps != NORM_EPS and values.get("clip_norm") is None and (
            values.get("clip_global_norm") is None):
        raise InputError(f"clip_eps={eps!r} takes effect only with norm clipping: clip_norm "
                         "and clip_global_norm are both None; set one of them first, or leave "
                         f"clip_eps at its default {NORM_EPS!r}")


def global_norm(arrays: list[np.ndarray]) -> float:
    """The L2 norm of all arrays taken together (partial sums added in float64)."""
    return math.sqrt(sum(_sum_of_squares(a) for a in arrays))


def _norm(a: np.ndarray) -> float:
    return math.sqrt(_sum_of_squares(a))


def _coefficient(max_norm: float, norm: float, eps: float) -> float:
    """max_norm / (norm + eps); 1 (no change) for a zero norm with eps = 0, as Keras."""
    denominator = norm + eps
    return max_norm / denominator if denominator > 0 else 1.0


def clip_arrays(
    grads: list[np.ndarray],
    clip_value: float | None = None,
    clip_norm: float | None = None,
    clip_global_norm: float | None = None,
    *,
    eps: float = NORM_EPS,
    in_place: bool = False,
) -> list[np.ndarray]:
    """Clip by value, then each array's norm, then the global norm.

    Norm clipping multiplies by ``min(1, c / (norm + eps))``: ``eps = 1e-6`` is PyTorch's
    ``clip_grad_norm_``; ``eps = 0`` is Keras's ``clipnorm`` / ``global_clipnorm``
    (``g·c / max(norm, c)``), which leaves a zero gradient unchanged.

    Returns clipped copies (arrays that need no change are returned as they are), or with
    ``in_place=True`` modifies and returns the arrays themselves.
    """

    def scaled(g: np.ndarray, coef: float) -> np.ndarray:
        if coef >= 1.0:
            return g
        if in_place:
            g *= coef
            return g
        return g * coef

    out = list(grads)
    if clip_value is not None:
        out = [np.clip(g, -clip_value, clip_value, out=g if in_place else None) for g in out]
    if clip_norm is not None:
        out = [scaled(g, _coefficient(clip_norm, _norm(g), eps)) for g in out]
    if clip_global_norm is not None:
        coef = _coefficient(clip_global_norm, global_norm(out), eps)
        out = [scaled(g, coef) for g in out]
    return out


class _GradLeaf:
    """One gradient leaf: its path, its values as an array, and how to write new values back."""

    def __init__(self, path: str, node: Any, container: Any, key: Any) -> None:
        self.path, self.container, self.key = path, container, key
        if isinstance(node, np.ndarray):
            if not np.issubdtype(node.dtype, np.floating):
                raise InputTypeError(f"the gradient {path!r} has dtype {node.dtype}; clipping in "
                                "place needs floating-point arrays")
            if not node.flags.writeable:
                raise InputError(f"the gradient {path!r} is a read-only array")
            self.array, self.scalar_type = node, None
        elif isinstance(node, (float, np.floating)):
            if container is None or isinstance(container, tuple):
                where = "at the root" if container is None else "inside a tuple"
                raise InputTypeError(f"the gradient {path!r} is a float {where} and cannot be "
                                "clipped in place; put it in a dict or list")
            self.array, self.scalar_type = np.array(node, dtype=np.float64), type(node)
        else:
            raise InputTypeError(f"the gradient {path!r} is a {type(node).__name__}, not a float "
                            "or a floating-point array")

    def write(self, value: np.ndarray) -> None:
        if self.scalar_type is None:
            if value is not self.array:
                self.array[...] = value
        else:
            self.container[self.key] = self.scalar_type(value[()])


def _grad_leaves(grads: Any) -> list[_GradLeaf]:
    out: list[_GradLeaf] = []

    def visit(node: Any, path: str, container: Any, key: Any) -> None:
        if isinstance(node, Mapping):
            children = list(node.items())
        elif isinstance(node, (list, tuple)):
            children = list(enumerate(node))
        else:
            out.append(_GradLeaf(path, node, container, key))
            return
        for k, child in children:
            visit(child, f"{path}/{k}" if path else str(k), node, k)

    visit(grads, "", None, None)
    return out


def _clip_in_place(grads: Any, **how: float) -> list[_GradLeaf]:
    leaves = _grad_leaves(grads)
    new = clip_arrays([leaf.array for leaf in leaves], **how, in_place=True)
    for leaf, value in zip(leaves, new, strict=True):
        leaf.write(value)
    return leaves


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
    norm = global_norm([leaf.array for leaf in _grad_leaves(grads)])
    _clip_in_place(grads, clip_global_norm=max_norm)
    return norm


def clip_grad_norm_each(grads: Any, max_norm: float) -> dict[str, float]:
    """Scale each gradient array in place to an L2 norm of at most ``max_norm``.

    Returns each array's norm before clipping, keyed by path.
    """
    max_norm = check_value("max_norm", max_norm, POSITIVE)
    norms = {leaf.path: _norm(leaf.array) for leaf in _grad_leaves(grads)}
    _clip_in_place(grads, clip_norm=max_norm)
    return norms


def clip_grad_value(grads: Any, clip_value: float) -> float:
    """Clamp every gradient entry in place to [-clip_value, clip_value].

    Returns the global L2 norm before clipping (PyTorch's ``clip_grad_value_`` returns nothing).
    """
    clip_value = check_value("clip_value", clip_value, POSITIVE)
    norm = global_norm([leaf.array for leaf in _grad_leaves(grads)])
    _clip_in_place(grads, clip_value=clip_value)
    return norm


__all__ = ["clip_grad_norm", "clip_grad_norm_each", "clip_grad_value", "global_norm"]
