"""Smoothing of noisy training curves (the classic ``smooth_curve``).

The curve is mirrored at both ends (``window − 1`` samples each side) and convolved with a
normalised Kaiser window (``np.kaiser(11, 2)`` by default), so the output has the input's
length and no edge droop.

>>> import numpy as np
>>> smooth_curve(np.ones(20)).round(12).tolist() == [1.0] * 20
True
>>> smooth_curve(np.arange(30.0))[10:13].round(9).tolist()  # a line stays a line
[10.0, 11.0, 12.0]
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError


def smooth_curve(y: np.ndarray, window: int = 11, beta: float = 2.0) -> np.ndarray:
    """Kaiser-window moving average of ``y`` (same length). ``window`` must be odd.

    Curves shorter than the window are returned unchanged; non-finite values (a diverged
    run) stay non-finite where they are and do not spill into the finite part.
    """
    y = np.asarray(y, dtype=np.float64)
    if window < 1 or window % 2 == 0:
        raise InputError(f"window must be a positive odd number, got {window}")
    finite = np.isfinite(y)
    n = int(np.argmin(finite)) if not finite.all() else len(y)  # the finite prefix
    head = y[:n]
    if n < window:
        return y.copy()
    s = np.r_[head[window - 1:0:-1], head, head[-1:-window:-1]]
    w = np.kaiser(window, beta)
    smoothed = np.convolve(w / w.sum(), s, mode="valid")
    half = window // 2
    out = y.copy()
    out[:n] = smoothed[half:len(smoothed) - half]
    return out
