"""Static race figures: the E3 contour grid, the overlay of all paths, the 1-D curve.

Contour levels: only the part of the surface a path can reach is drawn — levels stop at
:func:`level_cap` (for E3's bowl from (−7, 2) that is 7, the classic picture's cut).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from . import style


def grid_of(problem: Any, n: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X, Y, Z = f on an n × n grid over the problem's window."""
    (x0, x1), (y0, y1) = problem.window
    X, Y = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    with np.errstate(all="ignore"):
        Z = problem.f(np.stack([X, Y], axis=-1))
    return X, Y, Z


def level_cap(problem: Any, start: tuple[float, ...], Z: np.ndarray) -> float:
    """The highest contour drawn: f(start) rounded up to a whole number, plus a little
    headroom (bowl from (−7, 2): f = 6.45 → 7); at least the median of the grid."""
    with np.errstate(all="ignore"):
        f0 = float(problem.f(np.array(start, dtype=float)))
    finite = Z[np.isfinite(Z)]
    lo = float(finite.min()) if finite.size else 0.0
    median = float(np.median(finite)) if finite.size else 1.0
    if not math.isfinite(f0):
        return median
    cap = math.ceil(f0 + 0.05 * abs(f0 - lo) + 1e-9)
    return max(cap, median)


def levels_for(Z: np.ndarray, cap: float, n: int = 14) -> np.ndarray:
    """Contour levels up to ``cap``, spaced by quantiles of f below the cap (so steep and
    flat surfaces both get readable spacing)."""
    below = Z[np.isfinite(Z) & (Z <= cap)]
    if below.size < 2:
        return np.linspace(np.nanmin(Z), cap, n)
    levels = np.unique(np.quantile(below, np.linspace(0.01, 1.0, n)))
    if levels.size < 3:
        levels = np.linspace(below.min(), cap, n)
    return levels


def draw_contours(ax: Axes, problem: Any, start: tuple[float, ...]) -> None:
    X, Y, Z = grid_of(problem)
    cap = level_cap(problem, start, Z)
    ax.contour(X, Y, np.where(Z <= cap, Z, np.nan), levels=levels_for(Z, cap),
               cmap="viridis", linewidths=0.8, alpha=0.9)
    for m in problem.minima:
        if m.kind == "global" or len(problem.minima) <= 6:
            ax.plot(*m.point, "+", color="black", markersize=12, markeredgewidth=1.6, zorder=5)
    (x0, x1), (y0, y1) = problem.window
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("x")
    ax.set_ylabel("y")


def contour_grid(result: Any, ncols: int = 2, path_colour: str = "red") -> Figure:
    """E3: one contour plot per optimizer (3 × 2 for six), the path as ``path_colour``
    markers joined by lines, '+' at the minimum; titles in the optimizer's palette colour."""
    import matplotlib.pyplot as plt

    entries = result.entries
    n = len(entries)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(style.PANEL[0] * ncols,
                                                    style.PANEL[1] * nrows + 0.4),
                             squeeze=False, sharex=True, sharey=True)
    colours = style.colours_for(e.name for e in entries)
    for ax, e, c in zip(axes.flat, entries, colours):
        draw_contours(ax, result.problem, result.start)
        ax.plot(e.path[:, 0], e.path[:, 1], "o-", color=path_colour, markersize=3.5,
                linewidth=1.0, zorder=4)
        title = e.spec if e.label == e.name else e.label
        suffix = ""
        if e.diverged_at is not None:
            gone = "left the window" if np.all(np.isfinite(e.path[-1])) else "diverged"
            suffix = f" — {gone} at step {e.diverged_at}"
        ax.set_title(title + suffix, color=c, fontsize=11, fontweight="bold")
        ax.label_outer()
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, prune="upper"))
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle(f"{result.problem.name}: f = {result.problem.formula}, start "
                 f"{_point(result.start)}, {result.steps} steps", fontsize=12)
    fig.tight_layout()
    return fig


def overlay(result: Any) -> Figure:
    """Every path on one contour plot, one palette colour per optimizer."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 4.6))
    draw_contours(ax, result.problem, result.start)
    for e, c in zip(result.entries, style.colours_for(e.name for e in result.entries)):
        ax.plot(e.path[:, 0], e.path[:, 1], "o-", color=c, markersize=3, linewidth=1.3,
                label=e.label, zorder=4)
    ax.plot(*result.start, "s", color="black", markersize=6, zorder=6, label="start")
    ax.legend(loc="best", fontsize=9, framealpha=0.85)
    ax.set_title(f"{result.problem.name}: f = {result.problem.formula}, {result.steps} steps",
                 fontsize=11)
    fig.tight_layout()
    return fig


def curve_window(problem: Any, n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    (x0, x1), = problem.window
    xs = np.linspace(x0, x1, n)
    with np.errstate(all="ignore"):
        return xs, problem.f(xs[:, None])


def curve(result: Any) -> Figure:
    """1-D race: the curve, every optimizer's iterates on it (palette colours), the minima
    marked."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 4.0))
    xs, fs = curve_window(result.problem)
    ax.plot(xs, fs, color="black", linewidth=1.2)
    for e, c in zip(result.entries, style.colours_for(e.name for e in result.entries)):
        ax.plot(e.path[:, 0], e.f, "o-", color=c, markersize=4, linewidth=0.6, alpha=0.75,
                label=e.label)
        ax.plot(e.path[-1, 0], e.f[-1], "o", color=c, markersize=9, markeredgecolor="black")
    for m in result.problem.minima:
        ax.plot(m.point[0], m.value, "+", color="black", markersize=12, markeredgewidth=1.6)
    curve_limits(ax, xs, fs, path_top(result))
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    ax.legend(fontsize=9)
    ax.set_title(f"{result.problem.name}: f = {result.problem.formula}, start "
                 f"{_point(result.start)}, {result.steps} steps", fontsize=10)
    fig.tight_layout()
    return fig


def path_top(result: Any) -> float:
    """The highest f any path visits (so 1-D plots zoom on where the action is)."""
    tops = [float(np.nanmax(np.where(np.isfinite(e.f), e.f, np.nan))) for e in result.entries
            if np.isfinite(e.f).any()]
    return max(tops) if tops else np.inf


def curve_limits(ax: Axes, xs: np.ndarray, fs: np.ndarray, top: float = np.inf) -> None:
    """Limits of a 1-D plot: the whole window in x, f from its lowest to ``top``."""
    finite = fs[np.isfinite(fs)]
    lo, hi = float(finite.min()), min(float(finite.max()), top)
    pad = 0.08 * (hi - lo or 1.0)
    ax.set_xlim(xs[0], xs[-1])
    ax.set_ylim(lo - pad, hi + pad)


def _point(p: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{c:g}" for c in p) + ")"
