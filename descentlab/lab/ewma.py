"""E2: an exponentially weighted moving average and its bias correction.

.. math::
    v_0 = 0, \\qquad v_t = \\beta\\, v_{t-1} + (1 - \\beta)\\, \\theta_t, \\qquad
    \\hat v_t = \\frac{v_t}{1 - \\beta^t}

Started from 0, ``v_t`` is pulled towards 0 for the first ~1/(1 − β) steps; dividing by
``1 − βᵗ`` (the total weight the average has given the data so far) removes that bias. This
is exactly Adam's m̂ and v̂.

>>> ewma([10.0, 10.0], 0.9).round(6).tolist()
[1.0, 1.9]
>>> ewma([10.0, 10.0], 0.9, bias_correction=True).round(6).tolist()
[10.0, 10.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InputError


def ewma(data: Sequence[float] | np.ndarray, beta: float,
         bias_correction: bool = False) -> np.ndarray:
    """The EWMA of ``data`` with decay ``beta`` in [0, 1), optionally bias-corrected."""
    if not 0 <= beta < 1:
        raise InputError(f"beta must be in [0, 1), got {beta!r}")
    x = np.asarray(data, dtype=float)
    out = np.empty_like(x)
    v = 0.0
    for t, theta in enumerate(x, start=1):
        v = beta * v + (1 - beta) * theta
        out[t - 1] = v / (1 - beta**t) if bias_correction else v
    return out


def sample_data(n: int = 100, seed: int = 0) -> np.ndarray:
    """Noisy daily temperatures: a slow seasonal curve plus Gaussian noise (seeded)."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, n + 1)
    return 12 + 8 * np.sin(2 * np.pi * (t - 20) / 365 * 2) + rng.normal(0, 2.5, n)
