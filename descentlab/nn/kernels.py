"""Small fused loops compiled with numba (cached on disk after the first use).

Each replaces a few NumPy calls that would each make a pass over the data (and, for the
masks, a boolean temporary); results are the same as the NumPy expressions they replace,
which the tests check.
"""

from __future__ import annotations

import numba
import numpy as np

_TYPES = (np.dtype(np.float32), np.dtype(np.float64))


def fits(*arrays: np.ndarray) -> bool:
    """True if the kernels take these arrays: 2-D, C-contiguous, one dtype, float32/64."""
    first = arrays[0].dtype
    return first in _TYPES and all(
        a.ndim == 2 and a.dtype == first and a.flags.c_contiguous for a in arrays)


@numba.njit(cache=True, nogil=True)
def relu_backward(dout: np.ndarray, out: np.ndarray, dx: np.ndarray) -> None:
    """dx = dout where out > 0, else 0 (out is the ReLU's output). 2-D C-contiguous."""
    n, m = dout.shape
    for i in range(n):
        for j in range(m):
            dx[i, j] = dout[i, j] if out[i, j] > 0 else 0.0


@numba.njit(cache=True, nogil=True)
def softmax_cross_entropy(x: np.ndarray, t: np.ndarray, y: np.ndarray) -> float:
    """y = softmax(x) row-wise; returns −(1/N) Σₙ log softmax(xₙ)[tₙ] (accumulated in
    float64), computed as log Σ e^(x − max) − (x[t] − max)."""
    n, k = x.shape
    total = 0.0
    for i in range(n):
        mx = x[i, 0]
        for j in range(1, k):
            if x[i, j] > mx:
                mx = x[i, j]
        s = 0.0
        for j in range(k):
            e = np.exp(x[i, j] - mx)
            y[i, j] = e
            s += e
        inv = 1.0 / s
        for j in range(k):
            y[i, j] *= inv
        total += np.log(s) - (x[i, t[i]] - mx)
    return total / n


@numba.njit(cache=True, nogil=True)
def softmax_cross_entropy_backward(y: np.ndarray, t: np.ndarray, scale: float,
                                   dx: np.ndarray) -> None:
    """dx = scale·(y − onehot(t))."""
    n, k = y.shape
    for i in range(n):
        for j in range(k):
            dx[i, j] = y[i, j] * scale
        dx[i, t[i]] -= scale
