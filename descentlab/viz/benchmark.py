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
from .style import MARKERS, colours_for  # noqa: E402


def _grid(n: int) -> tuple[plt.Figure, np.ndarray]:
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def profiles(panels: Sequence[tuple[str, np.ndarray, np.ndarray]], labels: Sequence[str],
             tau_max: float) -> plt.Figure:
    """One panel per (title, taus, rho[S, T]): ρₛ(τ) as steps over log₂ τ, τ_max marked."""
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 4.2), squeeze=False)
    colours = colours_for(labels)
    for ax, (title, taus, rho) in zip(axes[0], panels):
        for lab, r, c, m in zip(labels, rho, colours, MARKERS):
            ax.step(taus, r, where="post", color=c, label=lab)
            ax.plot(taus[:1], r[:1], marker=m, color=c, linestyle="none")
        ax.axvline(tau_max, color="grey", linestyle=":", linewidth=1)
        ax.text(tau_max, 0.02, f" τ = {tau_max:g}", color="grey", fontsize=8)
        ax.set_xscale("log", base=2)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("τ: within a factor τ of the fastest")
        ax.set_ylabel("fraction of workloads ρ(τ)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
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
        ax.text(len(labels) - 0.5, censor, "not reached", fontsize=7, color="grey",
                ha="right", va="bottom")
        ax.set_xticks(range(len(labels)), labels, rotation=30, fontsize=8)
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
    the median over seeds with the 25–75 % band, the target dashed. A metric to minimise is
    cut at twice its largest starting median (a diverging run leaves the panel)."""
    fig, axes = _grid(len(panels))
    colours = colours_for(labels)
    for ax, (title, metric, target, steps, values) in zip(axes, panels):
        positive = True
        start = max(float(np.nanmedian(np.asarray(values[lab], dtype=float)[:, 0]))
                    for lab in labels)
        for lab, c in zip(labels, colours):
            v = np.asarray(values[lab], dtype=float)
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)   # a step no seed reached
                z = np.where(np.isfinite(v), v, np.nan)
                med = np.nanmedian(z, axis=0)
                lo = np.nanquantile(z, BAND[0], axis=0)
                hi = np.nanquantile(z, BAND[1], axis=0)
            positive = positive and bool(np.all(z[np.isfinite(z)] > 0))
            ax.plot(steps, med, color=c, label=lab, linewidth=1.2)
            ax.fill_between(steps, lo, hi, color=c, alpha=0.18, linewidth=0)
        ax.axhline(target, color="black", linestyle="--", linewidth=0.8)
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
    axes[0].legend(fontsize=7)
    fig.suptitle(f"validation metric on the test seeds (median, band {BAND[0]:.0%}–"
                 f"{BAND[1]:.0%}; dashed: target)", fontsize=10)
    fig.tight_layout()
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
        ax.set_xticks(range(len(labels)), labels, rotation=30, fontsize=8)
        ax.set_ylabel(f"final validation {metric}")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle("final validation metric, median and 95 % bootstrap interval over test seeds "
                 "(filled: tuned, open: defaults)", fontsize=10)
    fig.tight_layout()
    return fig


__all__ = ["profiles", "steps_to_target", "curves", "defaults_vs_tuned"]
