"""Figures of a comparison: loss per step with a seed band, expected best against the budget,
performance profiles (drawn from :mod:`descentlab.lab.compare` results; nothing computed
here but medians and quantiles)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from ..lab.compare.report import BAND, quantile  # noqa: E402
from ..lab.smoothing import smooth_curve  # noqa: E402
from .style import LineStyle, in_turns, legend, line_styles, many, marks  # noqa: E402


def _positive(values: Sequence[np.ndarray]) -> bool:
    finite = [v[np.isfinite(v)] for v in values]
    return all(f.size == 0 or (f > 0).all() for f in finite)


def _plain(ax, axis) -> None:
    """A log axis labelled in plain numbers (``20``, ``0.05``, not 2×10¹): at 1, 2, 5 × 10ᵏ
    over at most three decades, at the powers of ten over more."""
    ax.autoscale_view()
    lo, hi = axis.get_view_interval()
    wide = lo > 0 and hi / lo > 1e3
    axis.set_major_locator(LogLocator(base=10, subs=(1.0,) if wide else (1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _marked(st: LineStyle, k: int, n: int, points: int, few: str | None = None) -> dict:
    """Marker keywords for line k of n: with many lines (:func:`~descentlab.viz.style.many`)
    the line's own marker at staggered places (:func:`~descentlab.viz.style.marks`), else
    ``few`` on every point (or none)."""
    if many(n):
        return {"marker": st.marker, "markevery": marks(k, n, points)}
    return {} if few is None else {"marker": few}


def loss_bands(curves: dict[str, np.ndarray], *, title: str = "", ylabel: str = "f − f*",
               xlabel: str = "step", start: int = 0, smooth: bool = False) -> plt.Figure:
    """Median over seeds (rows of each (S, T) array) per step, with the 25–75 % band; log
    y-axis when every value is positive. A seed that diverged drops out from then on.
    ``smooth``: median and band smoothed as E5's curves (11-tap Kaiser window, β = 2).
    Medians that coincide are drawn in turns, each dash in one optimizer's colour, the legend
    saying which equals which (:func:`~descentlab.viz.style.in_turns`)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = line_styles(label.split(":")[0] for label in curves)
    drawn = []
    for c in curves.values():
        c = np.asarray(c, dtype=float)
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
        drawn.append((np.arange(start, start + c.shape[1]), med, lo, hi, c.shape[0]))
    lines = []
    for k, ((x, med, lo, hi, n), st, label) in enumerate(zip(drawn, styles, curves)):
        lines += ax.plot(x, med, color=st.colour, linestyle=st.linestyle,
                         label=f"{label} ({n} seeds)", markersize=4,
                         **_marked(st, k, len(curves), x.size))
        ax.fill_between(x, lo, hi, color=st.colour, alpha=0.2, linewidth=0)
    if _positive(list(curves.values())):
        ax.set_yscale("log")
        _plain(ax, ax.yaxis)
    in_turns(ax, lines, list(curves))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{ylabel} (median, band {BAND[0]:.0%}–{BAND[1]:.0%}"
                  + (", smoothed)" if smooth else ")"))
    if title:
        ax.set_title(title)
    legend(ax, fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def expected_best(curves: dict[str, tuple[np.ndarray, ...]], *, metric: str,
                  title: str = "", log: bool = True) -> plt.Figure:
    """Expected best value of n trials against n, with the 25–75 % band, per optimizer;
    a log y-axis if ``log`` and every value is positive; the budget axis in plain numbers
    (1, 2, 5, 10, 20 …); coinciding curves take turns in their colours."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = line_styles(label.split(":")[0] for label in curves)
    lines = []
    for k, ((label, (n, mean, lo, hi)), st) in enumerate(zip(curves.items(), styles)):
        clean = [np.where(np.isfinite(a), a, np.nan) for a in (mean, lo, hi)]
        lines += ax.plot(n, clean[0], color=st.colour, linestyle=st.linestyle, label=label,
                         markersize=3, **_marked(st, k, len(curves), np.size(n), "o"))
        ax.fill_between(n, clean[1], clean[2], color=st.colour, alpha=0.12, linewidth=0)
    ax.set_xscale("log")
    _plain(ax, ax.xaxis)  # 1, 2, 5, 10, 20 trials
    if log and _positive([c[1] for c in curves.values()]):
        ax.set_yscale("log")
        _plain(ax, ax.yaxis)
    in_turns(ax, lines, list(curves))
    ax.set_xlabel("trials of tuning budget")
    ax.set_ylabel(f"expected best {metric.replace('_', ' ')} (tuning seeds)")
    if title:
        ax.set_title(title)
    legend(ax, fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


def profile(taus: np.ndarray, rho: np.ndarray, labels: Sequence[str], *,
            title: str = "") -> plt.Figure:
    """Performance profiles ρₛ(τ) as step functions over log₂ τ; coinciding steps take turns
    in their colours (:func:`~descentlab.viz.style.in_turns`)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    lines = []
    styles = line_styles(lb.split(":")[0] for lb in labels)
    for k, (label, r, st) in enumerate(zip(labels, rho, styles)):
        lines += ax.step(taus, r, where="post", color=st.colour, linestyle=st.linestyle,
                         label=label, markersize=4, **_marked(st, k, len(labels), np.size(taus)))
    ax.set_xscale("log", base=2)
    ax.set_ylim(-0.02, 1.02)
    in_turns(ax, lines, list(labels))
    ax.set_xlabel("τ (within a factor τ of the best)")
    ax.set_ylabel("fraction of problems ρ(τ)")
    if title:
        ax.set_title(title)
    legend(ax, fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
