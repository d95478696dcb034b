"""Activation and loss functions as plain functions (the classic ``common/functions.py``).

Loss conventions follow PyTorch (mean reductions):

* softmax cross-entropy  ``L = −(1/N) Σₙ log softmax(xₙ)[tₙ]`` (``torch.nn.CrossEntropyLoss``);
* binary cross-entropy on probabilities ``L = −mean(t·log y + (1−t)·log(1−y))``
  (``torch.nn.BCELoss``);
* mean squared error ``L = mean((y − t)²)`` over every element (``torch.nn.MSELoss``).
  The classic textbook's ``mean_squared_error`` is ``½·Σ(y − t)²`` instead.

>>> import numpy as np
>>> softmax(np.array([0.0, np.log(3.0)]))
array([0.25, 0.75])
>>> round(float(cross_entropy_error(np.array([0.25, 0.75]), 1)), 6)  # −log 0.75
0.287682
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import InputError


def sigmoid(x: np.ndarray) -> np.ndarray:
    """σ(x) = 1 / (1 + e^(−x)), computed without overflow for large |x|."""
    x = np.asarray(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def relu(x: np.ndarray) -> np.ndarray:
    """max(x, 0)."""
    return np.maximum(x, 0)


def softmax(x: np.ndarray) -> np.ndarray:
    """softmax over the last axis: e^(xᵢ − max x) / Σⱼ e^(xⱼ − max x)."""
    x = np.asarray(x)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(x: np.ndarray) -> np.ndarray:
    """log softmax over the last axis: (x − max x) − log Σ e^(x − max x)."""
    x = np.asarray(x)
    z = x - x.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def labels_to_indices(t: np.ndarray, n_classes: int) -> np.ndarray:
    """Class indices from indices or one-hot rows (checked against ``n_classes``)."""
    t = np.asarray(t)
    if t.ndim == 2 and t.shape[1] == n_classes:
        return t.argmax(axis=1)
    if t.dtype.kind not in "iu":
        if t.dtype.kind == "f" and np.all(t == np.round(t)):
            t = t.astype(np.intp)
        else:
            raise InputError(f"labels must be class indices or one-hot rows, got dtype {t.dtype}")
    if t.size and (t.min() < 0 or t.max() >= n_classes):
        raise InputError(f"label out of range: labels must be in 0..{n_classes - 1}, "
                         f"got {int(t.min())}..{int(t.max())}")
    return t.reshape(-1)


def cross_entropy_error(y: np.ndarray, t: np.ndarray) -> float:
    """−(1/N) Σₙ log yₙ[tₙ] for probabilities ``y`` (rows) and labels (indices or one-hot).

    Probabilities are clipped at the smallest positive normal number so log 0 stays finite.
    """
    y = np.asarray(y)
    t = np.asarray(t)
    if y.ndim == 1:  # one sample: probabilities (K,), label scalar or one-hot (K,)
        y = y.reshape(1, -1)
        t = t.reshape(1, -1) if t.size == y.shape[1] and t.size > 1 else t.reshape(1)
    idx = labels_to_indices(t, y.shape[1])
    p = y[np.arange(y.shape[0]), idx]
    tiny = np.finfo(y.dtype if y.dtype.kind == "f" else np.float64).tiny
    return float(-np.mean(np.log(np.maximum(p, tiny))))


def binary_cross_entropy(y: np.ndarray, t: np.ndarray) -> float:
    """−mean(t·log y + (1 − t)·log(1 − y)) for probabilities ``y`` (``torch.nn.BCELoss``,
    which also clamps the logarithms at −100)."""
    y, t = np.asarray(y, dtype=np.float64), np.asarray(t, dtype=np.float64)
    with np.errstate(divide="ignore"):
        log_y = np.maximum(np.log(y), -100.0)
        log_1my = np.maximum(np.log1p(-y), -100.0)
    return float(-np.mean(t * log_y + (1 - t) * log_1my))


def mean_squared_error(y: np.ndarray, t: np.ndarray) -> float:
    """mean((y − t)²) over every element (``torch.nn.MSELoss``)."""
    d = np.asarray(y, dtype=np.float64) - np.asarray(t, dtype=np.float64)
    return float(np.mean(d * d))


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray,
                       h: float = 1e-4) -> np.ndarray:
    """Central differences ``(f(x + h·eᵢ) − f(x − h·eᵢ)) / 2h`` for every element of ``x``.

    ``x`` is perturbed in place and restored, so ``f`` may read it through a closure (as the
    classic ``numerical_gradient(f, W)`` does). Use float64 arrays: in float32 the rounding
    error of f swamps the difference.

    >>> import numpy as np
    >>> x = np.array([1.0, 2.0])
    >>> numerical_gradient(lambda v: float(np.sum(v ** 2)), x)
    array([2., 4.])
    """
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat, x):
        raise InputError("numerical_gradient needs a contiguous array to perturb in place")
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        f_plus = f(x)
        flat[i] = old - h
        f_minus = f(x)
        flat[i] = old
        gflat[i] = (f_plus - f_minus) / (2 * h)
    return grad.astype(x.dtype, copy=False)
