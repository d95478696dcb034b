"""E2: the bias correction of an exponentially weighted moving average (the numbers:
:mod:`descentlab.lab.ewma`)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from . import style


def ewma_figure(data: np.ndarray, beta: float, plain: np.ndarray,
                corrected: np.ndarray) -> Figure:
    """The data, the plain EWMA (biased towards 0 at first) and the bias-corrected one;
    colours from :mod:`.style` (the plain average in the extra colours, the corrected one in
    Adam's red: it is Adam's m̂)."""
    import matplotlib.pyplot as plt

    t = np.arange(1, data.size + 1)
    fig, ax = plt.subplots(figsize=(7.0, 3.8))
    ax.plot(t, data, "o", color=style.NEUTRAL, markersize=3, label="data")
    ax.plot(t, plain, "-", color=style.EXTRA[0], linewidth=1.8,
            label=f"EWMA, β = {beta:g}: v_t = β v_(t−1) + (1 − β) θ_t, v_0 = 0")
    ax.plot(t, corrected, "-", color=style.PALETTE["adam"], linewidth=1.8,
            label="bias-corrected: v_t / (1 − β^t)")
    ax.set_xlabel("t")
    ax.set_ylabel("value")
    ax.set_title("Bias correction of an exponentially weighted moving average", fontsize=11)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
