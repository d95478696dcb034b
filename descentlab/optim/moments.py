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


#: The float32 cube root's constants (:func:`cube_root`; the fused kernels take them from
#: here): the bits of the guess of x^(-1/3) are ``CUBE_ROOT_GUESS − bits(x)/3``; an x below
#: ``CUBE_ROOT_TINY`` (a subnormal) is scaled by ``CUBE_ROOT_UP`` = 2^24 first, its root by
#: ``CUBE_ROOT_DOWN`` = 2^-8 after (both exact).
CUBE_ROOT_GUESS = 0x54A21D2A
CUBE_ROOT_TINY, CUBE_ROOT_UP, CUBE_ROOT_DOWN = (np.float32(2.0**-126), np.float32(2.0**24),
                                                np.float32(2.0**-8))
_THIRD, _FOUR = np.float32(1 / 3), np.float32(4.0)


def cube_root(x: Any) -> Any:
    """``∛x`` element-wise: NumPy's ``np.cbrt``, except for float32, which takes this fixed
    sequence of float32 operations (the fused kernels repeat it, so their bits are the
    rule's; libm's ``cbrtf``, which ``np.cbrt`` calls, cannot be vectorised):

    1. r ≈ |x|^(-1/3) from the bits: ``0x54A21D2A − q``, q the third of bits(|x|) taken
       in float32, ``int(float32(bits(|x|))·(1/3))`` (truncated; within 64 of the integer
       division, cheaper than it in a vector; a subnormal |x| is first scaled by 2^24, its
       root by 2^-8 at the end: exact);
    2. two Newton steps for r, division-free: r ← (r·(1/3))·(4 − (|x|·r)·(r·r));
    3. y = (|x|·r)·r, then one Newton step for y: y ← y − (y − |x|/(y·y))·(1/3);
    4. the sign of x; ±0, ±inf and NaN give x + x.

    Within 1 ulp of the correctly rounded cube root on every float32 input
    (``benchmarks/cube_root_check.py`` checks all 2^32).

    >>> x = np.array([27.0, -8.0, 0.001, 0.0], np.float32)
    >>> cube_root(x).tolist(), cube_root(x).dtype.name, cube_root(np.float64(64.0))
    ([3.0, -2.0, 0.10000000149011612, 0.0], 'float32', np.float64(4.0))
    """
    x = np.asarray(x) if not isinstance(x, np.generic) else x
    if x.dtype != np.float32:
        return np.cbrt(x)
    with np.errstate(all="ignore"):  # the unused lanes of np.where may overflow
        a = np.abs(x)
        tiny = a < CUBE_ROOT_TINY
        a = np.where(tiny, a * CUBE_ROOT_UP, a)
        third_of_bits = (a.view(np.int32).astype(np.float32) * _THIRD).astype(np.int32)
        r = (np.int32(CUBE_ROOT_GUESS) - third_of_bits).view(np.float32)
        for _ in range(2):
            r = (r * _THIRD) * (_FOUR - (a * r) * (r * r))
        y = (a * r) * r
        y = y - (y - a / (y * y)) * _THIRD
        y = np.copysign(np.where(tiny, y * CUBE_ROOT_DOWN, y), x)
        special = (a == 0) | ~(a < np.inf)
        return np.where(special, x + x, y).astype(np.float32)


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
