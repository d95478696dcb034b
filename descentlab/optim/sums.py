"""Sums over all parameters, for the rules whose step needs them (:meth:`.base.Optimizer.prepass`:
DoG's distance and gradient norms, Prodigy's and D-Adaptation's dot products), written once.

Each takes lists of arrays (one per parameter, as the pre-pass sees them) and returns a Python
float: the sum of the per-array sums, in the parameters' order; :func:`start_of` is where
they measure distances from. :class:`GroupPart` is one parameter group's share of a pre-pass
whose sums run over several groups (:meth:`.base.Optimizer.prepass_groups`).

>>> import numpy as np
>>> a, b = [np.array([3.0]), np.array([4.0])], [np.array([1.0]), np.array([2.0])]
>>> sq_norm(a), norm(a), vdot(a, b), l1(a)
(25.0, 5.0, 11.0, 7.0)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np


def sq_norm(arrays: Iterable[np.ndarray]) -> float:
    """``Σ ‖x‖²`` over the arrays."""
    return float(sum(float(np.sum(x * x)) for x in arrays))


def norm(arrays: Iterable[np.ndarray]) -> float:
    """``√(Σ ‖x‖²)``: the norm of all the arrays as one vector."""
    return math.sqrt(sq_norm(arrays))


def vdot(xs: Iterable[np.ndarray], ys: Iterable[np.ndarray]) -> float:
    """``Σ ⟨x, y⟩`` over pairs of arrays of the same shapes."""
    return float(sum(float(np.sum(x * y)) for x, y in zip(xs, ys)))


def l1(arrays: Iterable[np.ndarray]) -> float:
    """``Σ ‖x‖₁`` over the arrays."""
    return float(sum(float(np.sum(np.abs(x))) for x in arrays))


def start_of(p: np.ndarray, state: dict[str, np.ndarray], h: Any) -> np.ndarray:
    """The parameter before the first update, x₀ (kept in ``state["x0"]``; ``p`` itself
    during the first update, whose rule records it)."""
    return p if h.t == 1 else state["x0"]


class GroupPart(NamedTuple):
    """One parameter group in a pre-pass over several (:meth:`.base.Optimizer.prepass_groups`):
    its optimizer (its own settings), its ``(p, g, state)`` per parameter as the pre-pass sees
    them, its step's hyperparameters ``h`` (the pre-pass puts the step's scalars on it) and
    the name an error gives it (``"group 'bias*'"``)."""

    opt: Any
    leaves: list[tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]]
    h: Any
    label: str


__all__ = ["GroupPart", "sq_norm", "norm", "vdot", "l1", "start_of"]
