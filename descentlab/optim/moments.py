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


def ema(avg: np.ndarray, x: Any, beta: Any) -> np.ndarray:
    """``avg ← β·avg + (1 − β)·x`` in place, computed as ``avg += (1 − β)(x − avg)`` (the
    rounding of PyTorch's ``lerp``). Returns ``avg``."""
    avg += (1 - beta) * (x - avg)
    return avg


def ema_square(avg: np.ndarray, x: Any, beta: Any) -> np.ndarray:
    """``avg ← β·avg + (1 − β)·x²`` in place (PyTorch's ``mul_(β).addcmul_(x, x, 1 − β)``).
    Returns ``avg``."""
    avg *= beta
    avg += (1 - beta) * x * x
    return avg


def bias_correction(beta: Any, t: int) -> Any:
    """``1 − βᵗ``: what an average started at zero lacks after ``t`` updates."""
    return 1 - beta**t
