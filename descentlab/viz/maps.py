"""Stability maps: sweep outcomes by learning rate × a hyperparameter, or by start point."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from . import style

_ORDER = ("global", "local", "moving", "diverged")


def _codes(outcome: np.ndarray) -> np.ndarray:
    codes = np.zeros(outcome.shape, dtype=int)
    for i, o in enumerate(_ORDER):
        codes[outcome == o] = i
    return codes


def stability_map(result: Any) -> Figure:
    """Learning rate (x) × second hyperparameter (rows), each cell coloured by outcome; a
    white dot marks runs that bounced (reached the global minimum, then left its basin);
    triangles mark the thresholds of :meth:`~descentlab.lab.sweep.SweepResult.thresholds`."""
    import matplotlib.pyplot as plt

    n2, n1 = result.outcome.shape
    dense = n2 > 12  # a 2-D grid: numeric y axis, no per-cell markers
    fig, ax = plt.subplots(figsize=(8.0, 5.0 if dense else 1.4 + 0.9 * n2))
    cmap = ListedColormap([style.OUTCOME_COLOURS[o] for o in _ORDER])
    lr = result.lr
    step = (lr[-1] - lr[0]) / max(n1 - 1, 1) if n1 > 1 else 1.0
    if dense:
        values = result.axis_values
        half = (values[-1] - values[0]) / max(n2 - 1, 1) / 2
        extent = (lr[0] - step / 2, lr[-1] + step / 2, values[0] - half, values[-1] + half)
        ax.imshow(_codes(result.outcome), cmap=cmap, vmin=-0.5, vmax=3.5, aspect="auto",
                  extent=extent, origin="lower", interpolation="nearest")
        ax.set_ylabel(result.axis or "")
    else:
        extent = (lr[0] - step / 2, lr[-1] + step / 2, n2 - 0.5, -0.5)
        ax.imshow(_codes(result.outcome), cmap=cmap, vmin=-0.5, vmax=3.5, aspect="auto",
                  extent=extent, interpolation="nearest")
        jj, ii = np.nonzero(result.bounced)
        ax.plot(lr[ii], jj, "o", color="white", markersize=3.2, markeredgecolor="black",
                markeredgewidth=0.4)
        labels = [f"{result.axis} = {v:g}" if result.axis else "" for v in result.axis_values]
        ax.set_yticks(range(n2), labels)
        for j, th in enumerate(result.thresholds()):
            for key, colour in (("first_global", "#145a14"), ("first_bounce", "white")):
                if th[key] is not None:
                    ax.plot(th[key], j - 0.5, "v", color=colour, markeredgecolor="black",
                            markersize=8, clip_on=False, zorder=6)
    ax.set_xlabel("learning rate")
    p = result.problem
    ax.set_title(f"{result.optimizer} on {p.name} from {_pt(result.start)}, {result.steps} "
                 "steps", fontsize=10)
    handles = [Patch(color=style.OUTCOME_COLOURS[o], label=style.OUTCOME_LABELS[o])
               for o in _ORDER]
    if not dense:
        handles.append(plt.Line2D([], [], marker="o", color="white", markeredgecolor="black",
                                  linestyle="", label="bounced (left the global basin)"))
        handles.append(plt.Line2D([], [], marker="v", color="#145a14", markeredgecolor="black",
                                  linestyle="", label="first rate ending at global min"))
        handles.append(plt.Line2D([], [], marker="v", color="white", markeredgecolor="black",
                                  linestyle="", label="first rate that bounces"))
    anchor = -0.12 if dense else -0.28 - 0.1 / n2
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, anchor),
              ncol=4, fontsize=8, frameon=False, columnspacing=1.0, handletextpad=0.4)
    fig.tight_layout()
    return fig


def start_map(result: Any, lr_index: int = 0) -> Figure:
    """Outcome by start point (2-D problems: a map over the window; 1-D: a strip)."""
    import matplotlib.pyplot as plt

    p = result.problem
    outcome = result.outcome[:, lr_index]
    cmap = ListedColormap([style.OUTCOME_COLOURS[o] for o in _ORDER])
    fig, ax = plt.subplots(figsize=(6.0, 4.4 if p.dim == 2 else 1.8))
    if p.dim == 2:
        n = int(round(np.sqrt(outcome.size)))
        (x0, x1), (y0, y1) = p.window
        ax.imshow(_codes(outcome).reshape(n, n), cmap=cmap, vmin=-0.5, vmax=3.5,
                  origin="lower", extent=(x0, x1, y0, y1), aspect="auto",
                  interpolation="nearest")
        for m in p.minima:
            ax.plot(*m.point, "+", color="black", markersize=10, markeredgewidth=1.5)
        ax.set_xlabel("start x")
        ax.set_ylabel("start y")
    else:
        (x0, x1), = p.window
        ax.imshow(_codes(outcome)[None, :], cmap=cmap, vmin=-0.5, vmax=3.5,
                  extent=(x0, x1, 0, 1), aspect="auto", interpolation="nearest")
        ax.set_yticks([])
        ax.set_xlabel("start x")
    rate = float((outcome == "global").mean())
    ax.set_title(f"{result.optimizer}, lr = {result.lr[lr_index]:g}: "
                 f"{rate:.0%} of starts reach the global minimum", fontsize=10)
    handles = [Patch(color=style.OUTCOME_COLOURS[o], label=style.OUTCOME_LABELS[o])
               for o in _ORDER]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def _pt(p: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{c:g}" for c in p) + ")"
