"""E7 — learning-rate decay: the schedules' curves, and a constant vs a decayed rate on a bowl.

:func:`schedule_curves` draws α(n) for every schedule of :mod:`descentlab.schedules`;
:func:`bowl_run` draws SGD with *noisy* gradients on E3's bowl f(x, y) = x²/20 + y² with a
large constant rate, which keeps wandering around the minimum because every step scales the
noise by α, and with decayed rates, which settle into it (the runs:
:mod:`descentlab.lab.schedule_study`); :func:`save_e7` writes both PNGs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from .. import problems  # noqa: E402
from .. import schedules as S  # noqa: E402
from ..lab.schedule_study import (  # noqa: E402
    START,
    Recorded,
    bowl_schedules,
    by_hand_rates,
    plateau_metric,
    plateau_rates,
    run_bowl,
    running_mean,
)
from .style import colours_for, save  # noqa: E402


# ------------------------------------------------------------------ (a) the curves
@dataclass
class Panel:
    """One panel of the curves figure: a title and (label, schedule, style) lines."""

    title: str
    lines: list[tuple[str, Callable[[int], float], str]]
    metric: np.ndarray | None = field(default=None, repr=False)


def default_panels(steps: int = 300, steps_per_epoch: int = 30, seed: int = 0) -> list[Panel]:
    """The schedules drawn by :func:`schedule_curves` (α₀ = 0.1 throughout)."""
    a0, spe = 0.1, steps_per_epoch
    metric = plateau_metric(steps, seed)
    # The plateau schedule is stateful: its rates are recorded while feeding it the metric.
    recorded = S.Lambda(Recorded(plateau_rates(a0, steps, metric)))
    return [
        Panel(f"inverse time  α₀/(1 + r·e),  r = 1\n(e = epochs of {spe} updates)", [
            ("staircase", S.InverseTimeDecay(a0, 1.0, spe, staircase=True), "-"),
            ("smooth", S.InverseTimeDecay(a0, 1.0, spe), "--")]),
        Panel("exponential  0.95ᵉ·α₀", [
            ("staircase", S.ExponentialDecay(a0, 0.95, spe, staircase=True), "-"),
            ("smooth", S.ExponentialDecay(a0, 0.95, spe), "--")]),
        Panel("inverse square root  k/√(e+1)·α₀,  k = 1", [
            ("staircase", S.InverseSqrtDecay(a0, 1.0, spe, staircase=True), "-"),
            ("smooth", S.InverseSqrtDecay(a0, 1.0, spe), "--")]),
        Panel("step  (×0.5 every 60)", [("", S.StepDecay(a0, 60, 0.5), "-")]),
        Panel("multi-step  (×0.3 at 100, 200)", [
            ("", S.MultiStepDecay(a0, [100, 200], 0.3), "-")]),
        Panel("polynomial  (power 2, to 0 at 250)", [("", S.Polynomial(a0, 250, 2.0), "-")]),
        Panel("linear warmup (30) → exponential", [
            ("", S.Join([S.LinearWarmup(a0, 30), S.ExponentialDecay(a0, 0.99)], [30]), "-")]),
        Panel("cosine with warmup (30)", [
            ("", S.CosineDecay(a0, steps, final_lr=0.005, warmup_steps=30), "-")]),
        Panel("cosine warm restarts (SGDR, 40 ×2)", [("", S.CosineRestarts(a0, 40, 2), "-")]),
        Panel("one-cycle", [("", S.OneCycle(a0, steps), "-")]),
        Panel("reduce on plateau  (patience 3)", [("", recorded, "-")], metric=metric),
        Panel("by hand: opt.lr = opt.lr·0.2 at n = 150,\nopt.lr = 0.03 at n = 225",
              [("", S.Lambda(Recorded(by_hand_rates(steps))), "-")]),
    ]


def schedule_curves(steps: int = 300, steps_per_epoch: int = 30, seed: int = 0) -> Figure:
    """(a) α(n) for n = 0 … steps − 1, one panel per schedule, on a 3 × 4 grid."""
    panels = default_panels(steps, steps_per_epoch, seed)
    fig, axes = plt.subplots(3, 4, figsize=(15, 9.5), sharex=True, layout="constrained")
    n = np.arange(steps)
    colour = "#1f77b4"
    for ax, panel in zip(axes.flat, panels):
        for label, sched, style in panel.lines:
            ax.plot(n, [sched(int(k)) for k in n], style, color=colour, lw=1.8,
                    label=label or None, drawstyle="steps-post" if style == "-" else "default")
        if panel.metric is not None:
            twin = ax.twinx()
            t = (np.arange(panel.metric.size) + 1) * 10
            twin.plot(t, panel.metric, ".", color="#ff7f0e", ms=3, label="val. loss")
            twin.set_ylabel("reported metric", color="#ff7f0e", fontsize=8)
            twin.tick_params(axis="y", labelsize=7, colors="#ff7f0e")
        ax.set_title(panel.title, fontsize=10)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
        if any(label for label, _, _ in panel.lines):
            ax.legend(fontsize=8, loc="upper right")
    for ax in axes[-1]:
        ax.set_xlabel("n (updates made)")
    for ax in axes[:, 0]:
        ax.set_ylabel("learning rate α")
    fig.suptitle("Learning-rate schedules (descentlab.schedules), α₀ = 0.1", fontsize=13)
    return fig


# ------------------------------------------------------------------ (b) the bowl run
def bowl_run(steps: int = 1000, noise: float = 1.0, seed: int = 0) -> Figure:
    """(b) constant vs decayed rates on f = x²/20 + y² with noisy gradients."""
    runs = {label: run_bowl(rate, steps, noise, seed)
            for label, rate in bowl_schedules(steps).items()}
    fig, (ax_map, ax_f, ax_lr) = plt.subplots(1, 3, figsize=(17, 5.4), layout="constrained",
                                              gridspec_kw={"width_ratios": [1.5, 1, 1]})
    xs, ys = np.linspace(-8.5, 8.5, 300), np.linspace(-3.2, 3.2, 200)
    X, Y = np.meshgrid(xs, ys)
    bowl = problems.get("bowl")
    colours = colours_for(runs)  # none is an optimizer name: the palette's extra colours
    ax_map.contour(X, Y, bowl.f(np.stack([X, Y], axis=-1)), levels=np.geomspace(0.02, 7, 12),
                   colors="0.75", linewidths=0.8)
    tail = steps // 4
    shown = list(runs.items())[:2]  # the map shows the constant rate and one decay
    for z, ((label, (path, _)), colour) in enumerate(zip(shown, colours)):
        rms = float(np.sqrt(np.mean(np.sum(path[-tail:] ** 2, axis=1))))
        ax_map.plot(path[:, 0], path[:, 1], "-", color=colour, lw=0.6, alpha=0.35, zorder=2)
        ax_map.plot(path[-tail:, 0], path[-tail:, 1], "o", color=colour, ms=2.5 + z,
                    mec="k" if z else colour, mew=0.3, zorder=4 + z,
                    label=f"{label}\nlast {tail} iterates, RMS distance to minimum {rms:.2f}")
    ax_map.plot(*START, "ks", ms=6, label="start (−7, 2)")
    ax_map.plot(0, 0, "k+", ms=12, mew=1.2, zorder=3)
    ax_map.set(xlim=(-8.5, 8.5), ylim=(-3.2, 3.2), xlabel="x", ylabel="y",
               title=f"SGD with noisy gradients (σ = {noise:g}) on f = x²/20 + y²")
    ax_map.legend(fontsize=8, loc="lower right")
    n = np.arange(steps + 1)
    for z, ((label, (path, rates)), colour) in enumerate(zip(runs.items(), colours)):
        f = bowl.f(path)
        on_top = 10 - z if z == 0 else z  # the constant rate drawn over the hand-set one
        ax_f.semilogy(n, running_mean(f, 25), color=colour, lw=1.4, label=label, zorder=on_top)
        ax_lr.semilogy(np.arange(steps), rates, color=colour, lw=1.6, label=label,
                       zorder=on_top)
    ax_f.set(xlabel="n (updates made)", ylabel="f(xₙ)  (running mean over 25 updates)",
             title="the constant rate never settles")
    ax_lr.set(xlabel="n (updates made)", ylabel="learning rate used (opt.current_lr)",
              title="the rates")
    for ax in (ax_f, ax_lr):
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle("E7 — a large constant rate wanders around the minimum; a decayed one "
                 "settles into it", fontsize=13)
    return fig


# ------------------------------------------------------------------ saving
def save_e7(out: str | os.PathLike, steps: int = 1000, noise: float = 1.0,
            seed: int = 0) -> list[Path]:
    """Write ``schedules_curves.png`` and ``schedules_bowl.png`` into ``out``."""
    out = Path(out)
    return [*save(schedule_curves(seed=seed), out / "schedules_curves.png"),
            *save(bowl_run(steps, noise, seed), out / "schedules_bowl.png")]
