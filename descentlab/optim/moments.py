"""The moment estimates every adaptive rule shares, written once.

Every rule that keeps a running average calls these helpers, so the arithmetic (and its order,
which the fused kernels repeat bit for bit) is in one place. They are plain arithmetic on
arrays updated in place, so they also run on NumPy object arrays of exact numbers. (The
hyperparameters the Adam family shares are declared once, on :class:`.adam.AdamFamily`.)

>>> import numpy as np
>>> m, v = np.zeros(2), np.zeros(2)
>>> g = np.array([1.0, -2.0])
>>> ema(m, g, 0.9), ema_square(v, g, 0.5), bias_correction(0.5, 1)
(array([ 0.1, -0.2]), array([0.5, 2. ]), 0.5)
"""

from __future__ import annotations

from typing import Any

import numpy as np


def lerp(avg: np.ndarray, x: Any, weight: Any) -> np.ndarray:
    """``avg ← avg + w·(x − avg)`` in place (PyTorch's ``lerp_``). Returns ``avg``."""
    avg += weight * (x - avg)
    return avg


def ema(avg: np.ndarray, x: Any, beta: Any) -> np.ndarray:
    """``avg ← β·avg + (1 − β)·x`` in place, computed as ``avg += (1 − β)(x − avg)`` (the
    rounding of PyTorch's ``lerp_(x, 1 − β)``). Returns ``avg``."""
    return lerp(avg, x, 1 - beta)


def ema_square(avg: np.ndarray, x: Any, beta: Any) -> np.ndarray:
    """``avg ← β·avg + (1 − β)·x²`` in place (PyTorch's ``mul_(β).addcmul_(x, x, 1 − β)``).
    Returns ``avg``."""
    avg *= beta
    avg += (1 - beta) * x * x
    return avg


#: ``pow`` element by element (Python's, i.e. C's ``pow``), for arrays of hyperparameters.
_pow = np.frompyfunc(pow, 2, 1)


def power(x: Any, y: Any) -> Any:
    """``x ** y`` for a hyperparameter: a float, or an array of them (one per run of a
    batch) raised element by element with the ``pow`` a single float gets. NumPy's own
    power (vectorised, and ``** 0.5`` as a square root) differs from it in the last bit for
    a few per cent of values, and a batch must give each run exactly what it gets alone.

    >>> b = np.array([0.9707673451833094, 0.5])
    >>> bool(power(b, 19)[0] == 0.9707673451833094 ** 19), power(b, 1).tolist()
    (True, [0.9707673451833094, 0.5])
    """
    if isinstance(x, np.ndarray) and x.dtype.kind == "f":
        return _pow(x, y).astype(x.dtype)
    return x**y


def scalar_sqrt(x: Any) -> Any:
    """``√x`` of a hyperparameter (``np.sqrt``'s bits): a Python float for one value, so a
    float32 step stays float32 (a Python float is weak in NumPy's promotion, as in torch; a
    NumPy float64 scalar is not), an array for an array of them (one per run of a batch).

    >>> type(scalar_sqrt(np.float64(4.0))).__name__, scalar_sqrt(np.array([4.0, 9.0])).tolist()
    ('float', [2.0, 3.0])
    """
    root = np.sqrt(x)
    return float(root) if np.ndim(root) == 0 else root


def bias_correction(beta: Any, t: int) -> Any:
    """``1 − βᵗ``: what an average started at zero lacks after ``t`` updates (``βᵗ`` by
    :func:`power`, the same bits for one β and for an array of them)."""
    return 1 - power(beta, t)


#: Where a rule may keep an accumulator: in the parameters' dtype (``"param"``), or rounded to
#: float32 after every step as optax casts its ``mu_dtype``/``dtype_momentum`` accumulators.
ACCUMULATOR_DTYPES = ("param", "float32")


def store_as(avg: np.ndarray, dtype: str) -> np.ndarray:
    """``avg`` rounded in place to the values of ``dtype`` (:data:`ACCUMULATOR_DTYPES`),
    kept in its own dtype: what optax's ``tree.cast(accumulator, float32)`` stores after the
    step has read the unrounded value (reading a float32 back into float64 arithmetic is
    exact, so the state keeps the parameter's dtype and the numbers are optax's). Returns
    ``avg``.

    >>> store_as(np.array([0.1]), "float32").tolist() == [float(np.float32(0.1))]
    True
    """
    if dtype == "float32" and avg.dtype.itemsize > 4:
        avg[...] = avg.astype(np.float32)
    return avg
