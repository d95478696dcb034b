"""Figures of a comparison: loss per step with a seed band, expected best against the budget,
performance profiles (drawn from :mod:`descentlab.lab.compare` results; nothing computed
here but medians and quantiles)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..lab.compare.report import BAND, quantile  # noqa: E402
from ..lab.smoothing import smooth_curve  # noqa: E402
from .style import colours_for  # noqa: E402


def _positive(values: Sequence[np.ndarray]) -> bool:
    finite = [v[np.isfinite(v)] for v in values]
    return all(f.size == 0 or (f > 0).all() for f in finite)


def loss_bands(curves: dict[str, np.ndarray], *, title: str = "", ylabel: str = "f − f*",
               xlabel: str = "step", start: int = 0, smooth: bool = False) -> plt.Figure:
    """Median over seeds (rows of each (S, T) array) per step, with the 25–75 % band; log
    y-axis when every value is positive. A seed that diverged drops out from then on.
    ``smooth``: median and band smoothed as E5's curves (11-tap Kaiser window, β = 2)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = colours_for(label.split(":")[0] for label in curves)
    for (label, c), colour in zip(curves.items(), colours):
        c = np.asarray(c, dtype=float)
        x = np.arange(start, start + c.shape[1])
        with np.errstate(all="ignore"):
            ok = np.isfinite(c).any(axis=0)
            z = np.where(np.isfinite(c), c, np.inf)
            med = np.where(ok, quantile(z, 0.5, axis=0), np.nan)
            lo = np.where(ok, quantile(z, BAND[0], axis=0), np.nan)
            hi = np.where(ok, quantile(z, BAND[1], axis=0), np.nan)
        hi = np.where(np.isfinite(hi), hi, np.nan)
        med = np.where(np.isfinite(med), med, np.nan)
        if smooth:
            med, lo, hi = (smooth_curve(a) for a in (med, lo, hi))
        ax.plot(x, med, color=colour, label=f"{label} ({c.shape[0]} seeds)")
        ax.fill_between(x, lo, hi, color=colour, alpha=0.2, linewidth=0)
    if _positive(list(curves.values())):
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{ylabel} (median, band {BAND[0]:.0%}–{BAND[1]:.0%}"
                  + (", smoothed)" if smooth else ")"))
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def expected_best(curves: dict[str, tuple[np.ndarray, ...]], *, metric: str,
                  title: str = "", log: bool = True) -> plt.Figure:
    """Expected best value of n trials against n, with the 25–75 % band, per optimizer;
    a log y-axis if ``log`` and every value is positive."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = colours_for(label.split(":")[0] for label in curves)
    for (label, (n, mean, lo, hi)), colour in zip(curves.items(), colours):
        clean = [np.where(np.isfinite(a), a, np.nan) for a in (mean, lo, hi)]
        ax.plot(n, clean[0], color=colour, label=label, marker="o", markersize=3)
        ax.fill_between(n, clean[1], clean[2], color=colour, alpha=0.12, linewidth=0)
    ax.set_xscale("log")
    if log and _positive([c[1] for c in curves.values()]):
        ax.set_yscale("log")
    ax.set_xlabel("trials of tuning budget")
    ax.set_ylabel(f"expected best {metric} (tuning seeds)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


def profile(taus: np.ndarray, rho: np.ndarray, labels: Sequence[str], *,
            title: str = "") -> plt.Figure:
    """Performance profiles ρₛ(τ) as step functions over log₂ τ."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, r, colour in zip(labels, rho, colours_for(lb.split(":")[0] for lb in labels)):
        ax.step(taus, r, where="post", color=colour, label=label)
    ax.set_xscale("log", base=2)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("τ (within a factor τ of the best)")
    ax.set_ylabel("fraction of problems ρ(τ)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
