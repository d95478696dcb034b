"""Static race figures: the E3 contour grid, the overlay of all paths, the 1-D curve, f
against the step, and the 3-D surface with the paths lifted onto it.

Contour levels: only the part of the surface a path can reach is drawn — levels stop at
:func:`level_cap` (for E3's bowl from (−7, 2) that is 7, the classic picture's cut).
Colours: one per optimizer (:mod:`.style`); ``look="classic"`` draws the E3 grid's paths as
the textbook's red dots.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..errors import InputError
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
    cap = float(math.ceil(f0 + 0.05 * abs(f0 - lo) + 1e-9))  # a float: ceil of 1e201 is a huge int
    return max(cap, median)


def levels_for(Z: np.ndarray, cap: float, n: int = 14) -> np.ndarray:
    """Contour levels up to ``cap``, spaced by quantiles of f below the cap (so steep and
    flat surfaces both get readable spacing)."""
    below = Z[np.isfinite(Z) & (Z <= cap)]
    if below.size < 2:  # (almost) nothing defined below the cap: evenly spaced up to it
        finite = Z[np.isfinite(Z)]
        return np.linspace(float(finite.min()) if finite.size else cap - 1.0, cap, n)
    levels = np.unique(np.quantile(below, np.linspace(0.01, 1.0, n)))
    if levels.size < 3:
        levels = np.linspace(below.min(), cap, n)
    return levels


def draw_contours(ax: Axes, problem: Any, start: tuple[float, ...]) -> None:
    X, Y, Z = grid_of(problem)
    cap = level_cap(problem, start, Z)
    if np.isfinite(Z).any():  # a surface undefined on the whole window has no contours
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


LOOKS = ("palette", "classic")


def contour_grid(result: Any, ncols: int = 2, look: str = "palette") -> Figure:
    """E3: one contour plot per optimizer (3 × 2 for six), the path as markers joined by
    lines in the optimizer's palette colour (``look="classic"``: red, as the textbook's
    figure), '+' at the minimum; titles in the palette colour."""
    if look not in LOOKS:
        raise InputError(f"unknown look {look!r}; choose from {', '.join(LOOKS)}")
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
        ax.plot(e.path[:, 0], e.path[:, 1], "o-", color="red" if look == "classic" else c,
                markersize=3.5, linewidth=1.0, zorder=4)
        title = e.spec if e.label == e.name else e.label
        suffix = f" — {e.ended}" if e.ended else ""
        ax.set_title(title + suffix, color=c, fontsize=11, fontweight="bold")
        ax.label_outer()
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, prune="upper"))
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.set_visible(False)
        elif k + ncols >= n:  # nothing below it: its own x tick labels
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel("x")
    top = fig.suptitle(f"{result.problem.name}: f = {result.problem.formula}, "
                       f"{result.start_words()}, {result.steps} steps", fontsize=12)
    fig.tight_layout()
    style.under_suptitle(fig, top)
    return fig


def overlay(result: Any) -> Figure:
    """Every path on one contour plot, one palette colour and marker per optimizer; paths
    that coincide stay visible (:func:`.style.racer_styles`)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 4.6))
    draw_contours(ax, result.problem, result.start)
    paths = [draw_path(ax, e.path[:, 0], e.path[:, 1], st, label=racer_label(e))
             for e, st in zip(result.entries, style.racer_styles(e.name for e in result.entries))]
    start = ax.plot(*result.drawn_start, "s", color="black", markersize=6, zorder=20,
                    label=f"start (seed {result.seeds[0]})" if result.seeds else "start")[0]
    style.legend(ax, [m for _, m in paths] + [start],
                 outside_handles=[*paths, start], loc="best", fontsize=9, framealpha=0.85)
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
    """1-D race: the curve, every optimizer's iterates on it (palette colours, one marker
    each, earlier racers as rings around later ones where they coincide), the final points
    large, the minima marked."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 4.0))
    xs, fs = curve_window(result.problem)
    ax.plot(xs, fs, color="black", linewidth=1.2)
    paths = []
    for e, st in zip(result.entries, style.racer_styles(e.name for e in result.entries)):
        paths.append(draw_path(ax, e.path[:, 0], e.f, st, label=racer_label(e),
                               line_alpha=0.5))
        ax.plot(e.path[-1, 0], e.f[-1], st.marker, zorder=st.zorder + 0.5,
                **marker_look(st, grow=5, edge="black"))
    for m in result.problem.minima:
        ax.plot(m.point[0], m.value, "+", color="black", markersize=12, markeredgewidth=1.6)
    curve_limits(ax, xs, fs, path_top(result))
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    style.legend(ax, [m for _, m in paths], outside_handles=paths, fontsize=9)
    ax.set_title(f"{result.problem.name}: f = {result.problem.formula}, "
                 f"{result.start_words()}, {result.steps} steps", fontsize=10)
    fig.tight_layout()
    return fig


def draw_path(ax: Axes, xs: np.ndarray, ys: np.ndarray, st: style.RacerStyle, label: str,
              line_alpha: float = 0.85) -> tuple[Any, Any]:
    """One racer's path: a line (wider for earlier racers, in the racer's line style) and
    open-centred markers (labelled); returns the line and the markers."""
    line, = ax.plot(xs, ys, linestyle=st.linestyle, color=st.colour, linewidth=st.width,
                    alpha=line_alpha, zorder=st.zorder, solid_capstyle="round")
    dots, = ax.plot(xs, ys, st.marker, linestyle="none", label=label, zorder=st.zorder + 0.1,
                    **marker_look(st))
    return line, dots


def marker_look(st: style.RacerStyle, grow: float = 0.0, edge: str = "white") -> dict:
    """Marker keywords for a racer: a coloured ring when it is hollow, else filled with an
    ``edge`` border; ``grow`` points larger."""
    if st.hollow:
        return {"markersize": st.size + grow, "markerfacecolor": "none",
                "markeredgecolor": st.colour, "markeredgewidth": 1.8, "color": st.colour}
    return {"markersize": st.size + grow, "markerfacecolor": st.colour,
            "markeredgecolor": edge, "markeredgewidth": 0.6, "color": st.colour}


def racer_label(e: Any) -> str:
    """A racer's legend entry: its label, and how it ended if it ended early."""
    return f"{e.label} ({e.ended})" if e.ended else e.label


def progress(result: Any) -> Figure:
    """f against the step, one line per optimizer (the plot to look at after the paths).

    With a known minimum the y axis is the gap f − f* to the lowest minimum f*, on a log
    scale (a gap of exactly 0 is drawn at the bottom of the axes); without one (a saddle) it
    is f itself. A run that ended early ends in a ×, its legend entry says how."""
    import matplotlib.pyplot as plt

    p = result.problem
    fig, ax = plt.subplots(figsize=(7.0, 4.0))
    f_star = min((m.value for m in p.minima), default=None)
    gaps = f_star is not None
    if gaps:
        finite = np.concatenate([e.f[np.isfinite(e.f)] - f_star for e in result.entries])
        positive = finite[finite > 0]
        floor = max(float(positive.min()) / 3 if positive.size else 1e-16, 1e-300)
    for e, st in zip(result.entries, style.racer_styles(e.name for e in result.entries)):
        y = np.maximum(e.f - f_star, floor) if gaps else e.f
        k = np.arange(len(y))
        ax.plot(k, y, st.marker, linestyle=st.linestyle, linewidth=max(st.width - 0.5, 1.2),
                alpha=0.9, zorder=st.zorder, label=racer_label(e),
                markevery=max(1, len(y) // 15), **marker_look(st))
        if e.ended:
            ax.plot(k[-1], y[-1], "x", color="black", markersize=9, markeredgewidth=2,
                    zorder=30)
    if gaps:
        ax.set_yscale("log")
        ax.set_ylabel(f"f − f*   (f* = {f_star:.4g}, the lowest minimum; log scale)")
    else:
        ax.set_ylabel("f   (no minimum)")
    ax.set_xlabel("step")
    ax.grid(alpha=0.3, which="both" if gaps else "major")
    style.legend(ax, fontsize=8, framealpha=0.85)
    ax.set_title(f"{p.name}: f = {p.formula}, {result.start_words()}", fontsize=10)
    fig.tight_layout()
    return fig


def surface_axes(fig: Figure, problem: Any, start: tuple[float, ...],
                 rect: Any = 111) -> tuple[Any, float, float]:
    """A 3-D axes on ``fig`` with the surface f over the window, cut at :func:`level_cap`;
    returns the axes, the cap and the height by which paths are lifted above the surface."""
    X, Y, Z = grid_of(problem, 70)
    cap = level_cap(problem, start, Z)
    # The cut: f is clipped to the cap, and every cell lying wholly above it is transparent.
    # Cells that cross it keep their corners at the cap, so the rim runs level at f = cap
    # (dropping those cells, as NaN does, left a saw-tooth of whole cells).
    ok = np.isfinite(Z)
    Zc = np.where(ok, np.minimum(Z, cap), np.nan)
    ax = fig.add_subplot(rect, projection="3d", computed_zorder=False)
    below = Zc[ok & (Z <= cap)]
    if below.size:  # (a surface undefined on the whole window leaves the box empty)
        import matplotlib.pyplot as plt

        lo_c = float(below.min())
        colours = plt.get_cmap("viridis")((Zc - lo_c) / ((cap - lo_c) or 1.0))
        above = ~ok | (Z >= cap)
        cell_above = above[:-1, :-1] & above[1:, :-1] & above[:-1, 1:] & above[1:, 1:]
        colours[..., 3] = 0.55
        colours[:-1, :-1, 3] = np.where(cell_above, 0.0, 0.55)
        ax.plot_surface(X, Y, Zc, facecolors=colours, linewidth=0, antialiased=False,
                        rcount=70, ccount=70, zorder=1, shade=False)
    finite = below
    lo = float(finite.min()) if finite.size else cap - 1.0
    lift = 0.015 * (cap - lo)
    ax.set_zlim(lo, cap)
    (x0, x1), (y0, y1) = problem.window
    ax.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="x", ylabel="y", zlabel="f")
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_major_locator(MaxNLocator(nbins=5))
    ax.view_init(elev=38, azim=-62)
    return ax, cap, lift


def lifted(problem: Any, path: np.ndarray, f: np.ndarray, cap: float,
           lift: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A path's (x, y, z) on the 3-D surface, ``lift`` above it; points above the cut or
    outside the window are left out (nan)."""
    (x0, x1), (y0, y1) = problem.window
    inside = ((path[:, 0] >= x0) & (path[:, 0] <= x1) & (path[:, 1] >= y0) & (path[:, 1] <= y1)
              & np.isfinite(f) & (f <= cap))
    z = np.where(inside, f + lift, np.nan)
    return path[:, 0], path[:, 1], z


def surface3d(result: Any) -> Figure:
    """2-D problems: the surface in 3-D (cut above f(start)) with every path lifted onto it,
    one palette colour and marker per optimizer; '+' at the minima."""
    import matplotlib.pyplot as plt

    p = result.problem
    fig = plt.figure(figsize=(8.0, 6.2))
    ax, cap, lift = surface_axes(fig, p, result.start)
    paths = []
    for e, st in zip(result.entries, style.racer_styles(e.name for e in result.entries)):
        x, y, z = lifted(p, e.path, e.f, cap, lift)
        line, = ax.plot(x, y, z, linestyle=st.linestyle, color=st.colour,
                        linewidth=max(st.width - 0.5, 1.2), zorder=10 + st.zorder)
        dots, = ax.plot(x, y, z, st.marker, zorder=10.1 + st.zorder, label=racer_label(e),
                        linestyle="none", **marker_look(st))
        paths.append((line, dots))
    for m in p.minima:
        if m.kind == "global" or len(p.minima) <= 6:
            ax.plot([m.point[0]], [m.point[1]], [m.value + lift], "+", color="black",
                    markersize=12, markeredgewidth=2, zorder=40)
    style.legend(ax, [m for _, m in paths], outside_handles=paths, loc="upper left",
                 fontsize=8, framealpha=0.85)
    ax.set_title(f"{p.name}: f = {p.formula}, {result.steps} steps", fontsize=10)
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
