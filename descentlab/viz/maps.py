"""Stability maps: sweep outcomes by learning rate × a hyperparameter, or by start point."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from . import style

_ORDER = ("global", "local", "moving", "diverged")


def _codes(outcome: np.ndarray) -> np.ndarray:
    codes = np.zeros(outcome.shape, dtype=int)
    for i, o in enumerate(_ORDER):
        codes[outcome == o] = i
    return codes


def sweep_title(spec: str, swept: tuple[str, ...], what: str) -> str:
    """The optimizer spec without the hyperparameters the sweep varies, then what it varies:
    ``adam:lr=0.5,eps=1e-10`` sweeping lr → ``adam:eps=1e-10, lr swept ...``.

    >>> sweep_title("adam:lr=0.5,eps=1e-10", ("lr",), "lr 0.1 … 3 (30 rates)")
    'adam:eps=1e-10 — lr 0.1 … 3 (30 rates)'
    """
    name, _, rest = spec.partition(":")
    kept = [kv for kv in rest.split(",") if kv.strip() and
            kv.partition("=")[0].strip() not in swept]
    return (name + (":" + ",".join(kept) if kept else "")).strip() + f" — {what}"


def _rates(lr: np.ndarray) -> str:
    return f"lr {lr[0]:g}" if lr.size == 1 else f"lr {lr.min():g} … {lr.max():g} ({lr.size} rates)"


#: How a minimum is marked on a map: + global, × local.
MINIMUM_MARKERS = {"global": "+", "local": "x"}


def _outcome_handles() -> list:
    return [Patch(color=style.OUTCOME_COLOURS[o], label=style.OUTCOME_LABELS[o]) for o in _ORDER]


def stability_map(result: Any) -> Figure:
    """Learning rate (x) × second hyperparameter (rows), each cell coloured by outcome; a
    white dot marks runs that bounced (reached the global minimum, then left its basin);
    triangles mark the thresholds of :meth:`~descentlab.lab.sweep.SweepResult.thresholds`.
    The title shows the spec without the swept settings, and the rates swept."""
    import matplotlib.pyplot as plt

    n2, n1 = result.outcome.shape
    dense = n2 > 12  # a 2-D grid: numeric y axis, no per-cell markers
    fig, ax = plt.subplots(figsize=(8.0, 5.0 if dense else 2.3 + 0.8 * n2),
                           layout="constrained")
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
        if result.axis:
            ax.set_yticks(range(n2), [f"{result.axis} = {v:g}" for v in result.axis_values])
        else:
            ax.set_yticks([])  # one row and no second hyperparameter: nothing to label
        for j, th in enumerate(result.thresholds()):
            for key, colour in (("first_global", "#145a14"), ("first_bounce", "white")):
                if th[key] is not None:
                    ax.plot(th[key], j - 0.5, "v", color=colour, markeredgecolor="black",
                            markersize=8, clip_on=False, zorder=6)
    ax.set_xlabel("learning rate")
    p = result.problem
    swept = ("lr",) + ((result.axis,) if result.axis else ())
    what = _rates(lr) + (f" × {result.axis}" if result.axis else "")
    ax.set_title(f"{sweep_title(result.optimizer, swept, what)}\non {p.name} from "
                 f"{_pt(result.start)}, {result.steps} steps", fontsize=10, pad=12)
    handles = _outcome_handles()
    if not dense:
        handles.append(plt.Line2D([], [], marker="o", color="white", markeredgecolor="black",
                                  linestyle="", label="bounced (left the global basin)"))
        handles.append(plt.Line2D([], [], marker="v", color="#145a14", markeredgecolor="black",
                                  linestyle="", label="first rate ending at global min"))
        handles.append(plt.Line2D([], [], marker="v", color="white", markeredgecolor="black",
                                  linestyle="", label="first rate that bounces"))
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=8,
               frameon=False, columnspacing=1.0, handletextpad=0.4)
    return fig


def start_map(result: Any, lr_index: int | None = None) -> Figure:
    """Outcome by start point (2-D problems: a map over the window; 1-D: a strip), one panel
    per learning rate of the sweep (or only rate ``lr_index``)."""
    import matplotlib.pyplot as plt

    p = result.problem
    indices = list(range(result.lr.size)) if lr_index is None else [lr_index]
    n = len(indices)
    ncols = min(n, 3)
    nrows = -(-n // ncols)
    cmap = ListedColormap([style.OUTCOME_COLOURS[o] for o in _ORDER])
    panel = (5.0, 4.0) if p.dim == 2 else (6.0, 1.3)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel[0] * ncols, panel[1] * nrows + 1.2),
                             squeeze=False, layout="constrained", sharex=True, sharey=True)
    for ax, i in zip(axes.flat, indices):
        outcome = result.outcome[:, i]
        if p.dim == 2:
            side = int(round(np.sqrt(outcome.size)))
            (x0, x1), (y0, y1) = p.window
            ax.imshow(_codes(outcome).reshape(side, side), cmap=cmap, vmin=-0.5, vmax=3.5,
                      origin="lower", extent=(x0, x1, y0, y1), aspect="auto",
                      interpolation="nearest")
            for m in p.minima:
                ax.plot(*m.point, MINIMUM_MARKERS[m.kind], color="black", markersize=10,
                        markeredgewidth=1.5)
            ax.set_xlabel("start x")
            ax.set_ylabel("start y")
        else:
            (x0, x1), = p.window
            ax.imshow(_codes(outcome)[None, :], cmap=cmap, vmin=-0.5, vmax=3.5,
                      extent=(x0, x1, 0, 1), aspect="auto", interpolation="nearest")
            ax.set_yticks([])
            ax.set_xlabel("start x")
        rate = float((outcome == "global").mean())
        ax.set_title(f"lr = {result.lr[i]:g}: {rate:.0%} of starts reach the global minimum",
                     fontsize=10)
        ax.label_outer()
        # no tick at either end of x: side by side, "2.0" and "−2.0" would meet at the join
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 5, 10], prune="both"))
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle(f"{sweep_title(result.optimizer, ('lr',), _rates(result.lr[indices]))} on "
                 f"{p.name}: outcome by start point, {result.steps} steps", fontsize=11)
    kinds = sorted({m.kind for m in p.minima}) if p.dim == 2 else []
    marks = [Line2D([], [], marker=MINIMUM_MARKERS[k], color="black", linestyle="none",
                    markersize=8, markeredgewidth=1.5, label=f"{k} minimum") for k in kinds]
    fig.legend(handles=_outcome_handles() + marks, loc="outside lower center",
               ncol=4 + len(marks), fontsize=8, frameon=False)
    return fig


def _pt(p: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{c:g}" for c in p) + ")"
