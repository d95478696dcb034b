"""E7 — learning-rate decay: the schedules' curves, and a constant vs a decayed rate on a bowl.

:func:`schedule_curves` draws α(n) for every schedule of :mod:`descentlab.schedules`;
:func:`bowl_run` runs SGD with *noisy* gradients on f(x, y) = x²/20 + y² (E3's bowl) with a
large constant rate, which keeps wandering around the minimum because every step scales the
noise by α, and with decayed rates, which settle into it; :func:`save_e7` writes both PNGs.
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

from .. import optim  # noqa: E402
from .. import schedules as S  # noqa: E402
from .style import save  # noqa: E402

START = (-7.0, 2.0)


def bowl(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """f(x, y) = x²/20 + y² (minimum 0 at the origin)."""
    return x ** 2 / 20 + y ** 2


# ------------------------------------------------------------------ (a) the curves
@dataclass
class Panel:
    """One panel of the curves figure: a title and (label, schedule, style) lines."""

    title: str
    lines: list[tuple[str, Callable[[int], float], str]]
    metric: np.ndarray | None = field(default=None, repr=False)


def plateau_metric(steps: int, seed: int = 0) -> np.ndarray:
    """A validation loss that improves, then stalls (noisy), reported every 10 updates."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps // 10)
    return 0.3 + np.exp(-t / 4.0) + rng.normal(0, 0.02, t.size)


def default_panels(steps: int = 300, steps_per_epoch: int = 30, seed: int = 0) -> list[Panel]:
    """The schedules drawn by :func:`schedule_curves` (α₀ = 0.1 throughout)."""
    a0, spe = 0.1, steps_per_epoch
    plateau = S.ReduceOnPlateau(a0, factor=0.5, patience=3)
    metric = plateau_metric(steps, seed)
    # The plateau schedule is stateful: record its rate at each n while feeding the metric.
    plateau_rates = []
    for n in range(steps):
        plateau_rates.append(plateau(n))
        if (n + 1) % 10 == 0 and (n + 1) // 10 - 1 < metric.size:
            plateau.report(metric[(n + 1) // 10 - 1])
    recorded = S.Lambda(_Recorded(plateau_rates))
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
              [("", S.Lambda(_Recorded(by_hand_rates(steps))), "-")]),
    ]


def by_hand_rates(steps: int) -> list[float]:
    """The rates an optimizer uses when its exponential decay is scaled by hand at n = 150
    (``opt.lr = opt.lr * 0.2``: the schedule keeps its shape) and replaced at n = 225."""
    opt = optim.SGD(lr=S.ExponentialDecay(0.1, 0.995))
    p, rates = np.zeros(1), []
    for n in range(steps):
        if n == 150:
            opt.lr = opt.lr * 0.2
        if n == 225:
            opt.lr = 0.03
        opt.update(p, np.zeros(1))
        rates.append(opt.current_lr)
    return rates


class _Recorded:
    """Rates recorded from a stateful schedule, replayed as a function of n (for drawing)."""

    def __init__(self, rates: list[float]) -> None:
        self.rates = rates

    def __call__(self, n: int) -> float:
        return self.rates[min(n, len(self.rates) - 1)]


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
def bowl_schedules(steps: int = 1000) -> dict[str, Callable[[int], float] | float]:
    """The rates raced on the bowl: a large constant one and three ways of lowering it."""
    a0 = 0.4
    return {
        "constant α = 0.4": a0,
        "exponential 0.95ᵉ·α₀ (10 updates/epoch)": S.ExponentialDecay(a0, 0.95, 10,
                                                                      staircase=True),
        "inverse time α₀/(1 + e), staircase": S.InverseTimeDecay(a0, 1.0, 10, staircase=True),
        f"set by hand to 0.02 at n = {steps // 2}": S.Join([S.Constant(a0), S.Constant(0.02)],
                                                          [steps // 2]),
    }


def run_bowl(rate: Callable[[int], float] | float, steps: int, noise: float,
             seed: int) -> tuple[np.ndarray, np.ndarray]:
    """SGD on the bowl with gradient noise N(0, noise²) per coordinate (same noise for every
    rate: the seed fixes it). Returns the iterates (steps + 1, 2) and the rates used."""
    rng = np.random.default_rng(seed)
    opt = optim.SGD(lr=rate)
    p = np.array(START)
    path, rates = [p.copy()], []
    for _ in range(steps):
        g = np.array([p[0] / 10, 2 * p[1]]) + noise * rng.standard_normal(2)
        opt.update(p, g)
        path.append(p.copy())
        rates.append(opt.current_lr)
    return np.array(path), np.array(rates)


COLOURS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd"]


def bowl_run(steps: int = 1000, noise: float = 1.0, seed: int = 0) -> Figure:
    """(b) constant vs decayed rates on f = x²/20 + y² with noisy gradients."""
    runs = {label: run_bowl(rate, steps, noise, seed)
            for label, rate in bowl_schedules(steps).items()}
    fig, (ax_map, ax_f, ax_lr) = plt.subplots(1, 3, figsize=(17, 5.4), layout="constrained",
                                              gridspec_kw={"width_ratios": [1.5, 1, 1]})
    xs, ys = np.linspace(-8.5, 8.5, 300), np.linspace(-3.2, 3.2, 200)
    X, Y = np.meshgrid(xs, ys)
    ax_map.contour(X, Y, bowl(X, Y), levels=np.geomspace(0.02, 7, 12), colors="0.75",
                   linewidths=0.8)
    tail = steps // 4
    shown = list(runs.items())[:2]  # the map shows the constant rate and one decay
    for z, ((label, (path, _)), colour) in enumerate(zip(shown, COLOURS)):
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
    for z, ((label, (path, rates)), colour) in enumerate(zip(runs.items(), COLOURS)):
        f = bowl(path[:, 0], path[:, 1])
        on_top = 10 - z if z == 0 else z  # the constant rate drawn over the hand-set one
        ax_f.semilogy(n, _smooth(f, 25), color=colour, lw=1.4, label=label, zorder=on_top)
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


def _smooth(y: np.ndarray, width: int) -> np.ndarray:
    kernel = np.ones(width) / width
    padded = np.concatenate([np.full(width - 1, y[0]), y])
    return np.convolve(padded, kernel, mode="valid")


# ------------------------------------------------------------------ saving
def save_e7(out: str | os.PathLike, steps: int = 1000, noise: float = 1.0,
            seed: int = 0) -> list[Path]:
    """Write ``schedules_curves.png`` and ``schedules_bowl.png`` into ``out``."""
    out = Path(out)
    return [*save(schedule_curves(seed=seed), out / "schedules_curves.png"),
            *save(bowl_run(steps, noise, seed), out / "schedules_bowl.png")]
