"""What the Kronecker-factored preconditioners (Shampoo, SOAP) share: one matrix per axis of
a parameter, its statistics and the mode products that apply them.

A parameter of shape (n₁, …, n_d) has, for each axis i, the n_i × n_i statistic
G₍ᵢ₎G₍ᵢ₎ᵀ of its gradient unfolded along that axis (the sum over every other axis), and a
preconditioner matrix acts on axis i alone (the mode-i product). Both rules were written
for matrices and reach higher-dimensional parameters this way.

>>> g = np.arange(6.0).reshape(2, 3)
>>> axis_statistic(g, 0).tolist(), axis_statistic(g, 1).shape
([[5.0, 14.0], [14.0, 50.0]], (3, 3))
>>> m = np.array([[0.0, 1.0], [1.0, 0.0]])
>>> cycle_products(g, [m.T, None]).tolist()   # axis 0 swapped, axis 1 untouched
[[3.0, 4.0, 5.0], [0.0, 1.0, 2.0]]
>>> mode_product(g, m, 0).tolist()
[[3.0, 4.0, 5.0], [0.0, 1.0, 2.0]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def axis_statistic(g: np.ndarray, axis: int) -> np.ndarray:
    """G₍ᵢ₎G₍ᵢ₎ᵀ: ``g`` contracted with itself over every axis but ``axis`` (n × n)."""
    others = [k for k in range(g.ndim) if k != axis]
    return np.tensordot(g, g, axes=(others, others))


def cycle_products(x: np.ndarray, mats: Sequence[np.ndarray | None]) -> np.ndarray:
    """x contracted, axis after axis, with the row index of ``mats[i]`` (x ×ᵢ Mᵢᵀ): each step
    takes axis 0, contracts it (``None``: leaves it) and puts the result last, so after all
    ``len(mats) == x.ndim`` steps the axes are back in order."""
    for m in mats:
        x = np.moveaxis(x, 0, -1) if m is None else np.tensordot(x, m, axes=([0], [0]))
    return x


def mode_product(x: np.ndarray, m: np.ndarray, axis: int) -> np.ndarray:
    """x ×ᵢ M: every fibre of ``x`` along ``axis`` multiplied by M."""
    return np.moveaxis(np.tensordot(m, x, axes=([1], [axis])), 0, axis)


__all__ = ["axis_statistic", "cycle_products", "mode_product"]
