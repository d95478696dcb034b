"""Figures of a benchmark (:mod:`descentlab.lab.testbed`): performance profiles, steps to
target per workload, validation curves with seed bands, defaults against tuned. Nothing is
computed here but what is drawn (medians and quantiles come from the summary)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..lab.compare.report import BAND, quantile  # noqa: E402
from .style import colours_for, line_styles, marks  # noqa: E402


def _grid(n: int) -> tuple[plt.Figure, np.ndarray]:
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


#: Profile k of S is raised by (k − (S − 1)/2) · PROFILE_OFFSET, so that equal profiles run
#: side by side rather than on top of each other (14 optimizers: within ±0.026 of ρ).
PROFILE_OFFSET = 0.004

def _legend_right(fig: plt.Figure, handles: list, labels: Sequence[str], title: str) -> None:
    """One legend for the whole figure, right of the panels (never over data), every name
    in the order given."""
    fig.legend(handles, list(labels), loc="upper left", bbox_to_anchor=(1.0, 0.95),
               fontsize=8, title=title, title_fontsize=8, ncol=math.ceil(len(labels) / 24),
               handlelength=4, frameon=False)


def _name_ticks(ax: plt.Axes, labels: Sequence[str]) -> None:
    """Optimizer names under their columns, slanted and anchored at their tick."""
    ax.set_xticks(range(len(labels)), labels, rotation=40, ha="right",
                  rotation_mode="anchor", fontsize=8)


def profiles(panels: Sequence[tuple[str, np.ndarray, np.ndarray]], labels: Sequence[str],
             tau_max: float) -> plt.Figure:
    """One panel per (title, taus, rho[S, T]): ρₛ(τ) as steps over log₂ τ, τ_max marked.
    ``labels`` (the rows of rho) in the legend's order — the leaderboard's, best first, drawn
    on top. Every racer has its own colour, line style and marker
    (:func:`~descentlab.viz.style.line_styles`); equal profiles stay visible as parallel
    lines (:data:`PROFILE_OFFSET`) with their markers at different places; one legend right
    of the panels names them all.

    >>> taus = np.geomspace(1, 8, 50)
    >>> rho = np.array([np.ones(50), np.ones(50), (taus > 2).astype(float)])
    >>> fig = profiles([("steps", taus, rho)], ["sgd", "adam", "radam"], 4.0)
    >>> [t.get_text() for t in fig.legends[0].get_texts()]
    ['sgd', 'adam', 'radam']
    >>> plt.close(fig)
    """
    n = len(labels)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels), 4.2), squeeze=False)
    styles = line_styles(labels)
    handles: list = []
    for p, (ax, (title, taus, rho)) in enumerate(zip(axes[0], panels)):
        for k, (lab, r, st) in enumerate(zip(labels, rho, styles)):
            dy = (k - (n - 1) / 2) * PROFILE_OFFSET
            line, = ax.step(taus, np.asarray(r, dtype=float) + dy, where="post",
                            color=st.colour, linestyle=st.linestyle, linewidth=1.4,
                            marker=st.marker, markersize=4.5, markevery=marks(k, n, len(taus)),
                            zorder=3 + n - k, label=lab)
            if p == 0:
                handles.append(line)
        ax.axvline(tau_max, color="grey", linestyle=":", linewidth=1)
        ax.text(tau_max, 0.02, f" τ = {tau_max:g}", color="grey", fontsize=8)
        ax.set_xscale("log", base=2)
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel("τ: within a factor τ of the fastest")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("fraction of workloads ρ(τ)")
    fig.tight_layout()
    _legend_right(fig, handles, labels, "by score")
    if n > 1:
        fig.text(0.5, -0.02, f"equal profiles are drawn side by side: line k is raised by "
                 f"(k − {(n - 1) / 2:g}) × {PROFILE_OFFSET:g}", ha="center", fontsize=8,
                 color="grey")
    return fig


def steps_to_target(panels: Sequence[tuple[str, float, dict[str, np.ndarray],
                                           dict[str, np.ndarray]]],
                    labels: Sequence[str]) -> plt.Figure:
    """One panel per workload (title, censor line, tuned[label] = steps per seed,
    default[label] = steps per seed): seeds as dots (never reached: on the censor line),
    the median as a bar; defaults as rings to the right."""
    fig, axes = _grid(len(panels))
    colours = colours_for(labels)
    rng = np.random.default_rng(0)
    for ax, (title, censor, tuned, default) in zip(axes, panels):
        for i, (lab, c) in enumerate(zip(labels, colours)):
            for dx, data, hollow in ((-0.15, tuned[lab], False), (0.15, default[lab], True)):
                y = np.where(np.isfinite(data), data, censor)
                x = i + dx + rng.uniform(-0.05, 0.05, y.size)
                ax.scatter(x, y, s=14, facecolors="none" if hollow else c, edgecolors=c,
                           linewidths=0.8)
                med = float(quantile(y, 0.5))
                ax.plot([i + dx - 0.12, i + dx + 0.12], [med, med], color=c, linewidth=2)
        ax.axhline(censor, color="grey", linestyle=":", linewidth=1)
        ax.text(1.01, censor, "not\nreached", fontsize=7, color="grey", ha="left",
                va="center", transform=ax.get_yaxis_transform())     # right of the axes
        _name_ticks(ax, labels)
        ax.set_ylabel("steps to target")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle("steps to the validation target per test seed (filled: tuned, rings: "
                 "defaults; bar: median)", fontsize=10)
    fig.tight_layout()
    return fig


def curves(panels: Sequence[tuple[str, str, float, np.ndarray, dict[str, np.ndarray]]],
           labels: Sequence[str]) -> plt.Figure:
    """One panel per workload (title, metric, target, steps[T], values[label] (seeds, T)):
    the median over seeds with the 25–75 % band, the target as a wide grey line; each racer
    in its own colour, line style and marker, one legend right of the panels. A metric to
    minimise is cut at twice its largest starting median (a diverging run leaves the
    panel)."""
    fig, axes = _grid(len(panels))
    styles = line_styles(labels)
    handles: list = []
    for p, (ax, (title, metric, target, steps, values)) in enumerate(zip(axes, panels)):
        positive = True
        start = max(float(np.nanmedian(np.asarray(values[lab], dtype=float)[:, 0]))
                    for lab in labels)
        for k, (lab, st) in enumerate(zip(labels, styles)):
            v = np.asarray(values[lab], dtype=float)
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)   # a step no seed reached
                z = np.where(np.isfinite(v), v, np.nan)
                med = np.nanmedian(z, axis=0)
                lo = np.nanquantile(z, BAND[0], axis=0)
                hi = np.nanquantile(z, BAND[1], axis=0)
            positive = positive and bool(np.all(z[np.isfinite(z)] > 0))
            line, = ax.plot(steps, med, color=st.colour, linestyle=st.linestyle, label=lab,
                            linewidth=1.2, marker=st.marker, markersize=3.5,
                            markevery=marks(k, len(labels), len(steps)),
                            zorder=3 + len(labels) - k)
            ax.fill_between(steps, lo, hi, color=st.colour, alpha=0.18, linewidth=0)
            if p == 0:
                handles.append(line)
        ax.axhline(target, color="black", linewidth=3, alpha=0.25, zorder=1)
        if metric == "accuracy":
            ax.set_ylim(-0.02, 1.02)
        else:
            if positive:
                ax.set_yscale("log")
            if math.isfinite(start) and start > 0:
                ax.set_ylim(top=2 * start)
        ax.set_xlabel("step")
        ax.set_ylabel(f"validation {metric}")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    fig.suptitle(f"validation metric on the test seeds (median, band {BAND[0]:.0%}–"
                 f"{BAND[1]:.0%}; wide grey line: target)", fontsize=10)
    fig.tight_layout()
    _legend_right(fig, handles, labels, "optimizer")
    return fig


def defaults_vs_tuned(panels: Sequence[tuple[str, str, dict[str, tuple[float, float, float]],
                                             dict[str, tuple[float, float, float]]]],
                      labels: Sequence[str]) -> plt.Figure:
    """One panel per workload (title, metric, tuned[label] = (median, lo, hi),
    default[label] = ...): final validation metric with its 95 % interval."""
    fig, axes = _grid(len(panels))
    colours = colours_for(labels)
    for ax, (title, metric, tuned, default) in zip(axes, panels):
        for i, (lab, c) in enumerate(zip(labels, colours)):
            for dx, (m, lo, hi), hollow in ((-0.12, tuned[lab], False),
                                            (0.12, default[lab], True)):
                if not math.isfinite(m):
                    continue
                hi_c = hi if math.isfinite(hi) else m
                ax.errorbar(i + dx, m, yerr=[[m - lo], [hi_c - m]], fmt="o", color=c,
                            mfc="white" if hollow else c, capsize=3, markersize=5)
        _name_ticks(ax, labels)
        ax.set_ylabel(f"final validation {metric}")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle("final validation metric, median and 95 % bootstrap interval over test seeds "
                 "(filled: tuned, open: defaults)", fontsize=10)
    fig.tight_layout()
    return fig


__all__ = ["profiles", "steps_to_target", "curves", "defaults_vs_tuned"]
