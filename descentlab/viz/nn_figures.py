"""Figures of the network experiments: E5 loss curves, E6 activation histograms, E8 batch
modes. Each function returns the matplotlib Figure (Agg backend; save it with
:func:`descentlab.viz.style.save`)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..lab.smoothing import smooth_curve  # noqa: E402
from .style import colours_for  # noqa: E402

MARKERS = ("o", "x", "s", "D", "^", "v", "<", ">", "p", "h", "*")


def loss_curves(losses: dict[str, np.ndarray], *, title: str = "", smooth: bool = True,
                ylim: tuple[float, float] | None = (0.0, 1.0), markevery: int = 100,
                diverged: dict[str, int] | None = None) -> plt.Figure:
    """Training loss against iteration, one line per key; smoothed with an 11-tap Kaiser
    window (β = 2) unless ``smooth=False``; y-axis limited to ``ylim`` (the classic 0..1)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = colours_for(name.split(":")[0] for name in losses)  # the palette of every figure
    for k, (name, y) in enumerate(losses.items()):
        y = np.asarray(y, dtype=np.float64)
        curve = smooth_curve(y) if smooth else y
        label = name
        if diverged and name in diverged:
            label += f" (diverged at {diverged[name]})"
        ax.plot(np.arange(1, len(y) + 1), curve, marker=MARKERS[k % len(MARKERS)],
                markevery=markevery, markersize=5, label=label, color=colours[k])
    ax.set_xlabel("iterations")
    ax.set_ylabel("loss" + (" (smoothed)" if smooth else ""))
    if ylim is not None:
        ax.set_ylim(*ylim)
    if title:
        ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def activation_histograms(rows: dict[str, Sequence[np.ndarray]], *, bins: int = 30,
                          ranges: dict[str, tuple[float, float]] | None = None) -> plt.Figure:
    """A grid: one row per configuration, one column per layer, each a histogram of that
    layer's activations (``bins`` bins, over ``ranges[row]``)."""
    n_rows = len(rows)
    n_cols = max(len(a) for a in rows.values())
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.2 * n_cols, 1.9 * n_rows),
                             squeeze=False, sharey="row")
    for r, (name, layers) in enumerate(rows.items()):
        lo_hi = (ranges or {}).get(name)
        for c, a in enumerate(layers):
            ax = axes[r][c]
            ax.hist(np.ravel(a), bins=bins, range=lo_hi, color="C0")
            if r == 0:
                ax.set_title(f"layer {c + 1}")
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
            ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def batch_mode_curves(panels: dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]],
                      ) -> plt.Figure:
    """E8: for each dataset (row), the full-data loss against samples seen and against wall
    time (columns). ``panels[dataset][label] = (samples, seconds, loss)``; one colour per mode
    (the label's text before " ("), labels containing "(raw)" drawn dashed."""
    fig, axes = plt.subplots(len(panels), 2, figsize=(11, 4 * len(panels)), squeeze=False)
    for r, (dataset, curves) in enumerate(panels.items()):
        modes = list(dict.fromkeys(label.split(" (")[0] for label in curves))
        for label, (samples, seconds, loss) in curves.items():
            loss = np.where(np.isfinite(loss), loss, np.nan)
            style = "--" if "(raw)" in label else "-"
            color = f"C{modes.index(label.split(' (')[0])}"
            for c, xs in enumerate((samples, seconds)):
                axes[r][c].plot(xs, loss, style, color=color, label=label, linewidth=1.2)
        for c, xlabel in enumerate(("samples seen", "update time (s, log scale)")):
            ax = axes[r][c]
            ax.set_yscale("log")
            if c == 1:
                ax.set_xscale("log")
            ax.set_xlabel(xlabel)
            ax.set_ylabel("loss on the whole set")
            ax.set_title(dataset)
            ax.grid(alpha=0.3)
        axes[r][0].legend(fontsize=8)
    fig.tight_layout()
    return fig
