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
from .style import legend, line_styles, many, marks  # noqa: E402

MARKERS = ("o", "x", "s", "D", "^", "v", "<", ">", "p", "h", "*")
#: Text of the E6 histogram figure's title (the experiment's fixed set-up).
HISTOGRAM_TITLE = ("Activations z of each layer (100 units, no bias) for 1000 inputs "
                   "x ~ N(0, 1), by weight initialisation and activation")


def loss_curves(losses: dict[str, np.ndarray], *, title: str = "", smooth: bool = True,
                ylim: tuple[float, float] | None = (0.0, 1.0), markevery: int = 100,
                diverged: dict[str, int] | None = None,
                labels: dict[str, str] | None = None) -> plt.Figure:
    """Training loss against iteration, one line per key; smoothed with an 11-tap Kaiser
    window (β = 2) unless ``smooth=False``; y-axis limited to ``ylim`` (the classic 0..1).
    ``labels[key]`` is the legend entry (default: the key), e.g. with the learning rate.
    Each line has the palette colour and line style of :func:`~descentlab.viz.style.line_styles`;
    with many lines (:func:`~descentlab.viz.style.many`) their markers are its markers, at
    staggered places, and the legend is right of the axes."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = line_styles(name.split(":")[0] for name in losses)  # the palette of every figure
    crowded = many(len(losses))
    for k, (name, y) in enumerate(losses.items()):
        y = np.asarray(y, dtype=np.float64)
        curve = smooth_curve(y) if smooth else y
        label = (labels or {}).get(name, name)
        if diverged and name in diverged:
            label += f" (diverged at {diverged[name]})"
        st = styles[k]
        ax.plot(np.arange(1, len(y) + 1), curve, color=st.colour, linestyle=st.linestyle,
                marker=st.marker if crowded else MARKERS[k % len(MARKERS)],
                markevery=marks(k, len(losses), len(y)) if crowded else markevery,
                markersize=5, label=label)
    ax.set_xlabel("iterations")
    ax.set_ylabel("loss" + (" (smoothed)" if smooth else ""))
    if ylim is not None:
        ax.set_ylim(*ylim)
    if title:
        ax.set_title(title)
    legend(ax)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def rate_labels(settings: dict[str, dict]) -> dict[str, str]:
    """Legend entries naming each optimizer's learning rate, from the optimizer settings of a
    race (:func:`descentlab.lab.manifest.optimizer_settings`).

    >>> rate_labels({"adam": {"hyperparameters": {"lr": 0.001}}})
    {'adam': 'adam (lr = 0.001)'}
    """
    out = {}
    for name, st in settings.items():
        lr = st.get("hyperparameters", {}).get("lr")
        text = f"{lr:g}" if isinstance(lr, int | float) else str(lr)
        out[name] = name if lr is None else f"{name} (lr = {text})"
    return out


def activation_histograms(rows: dict[str, Sequence[np.ndarray]], *, bins: int = 30,
                          ranges: dict[str, tuple[float, float]] | None = None,
                          title: str = HISTOGRAM_TITLE) -> plt.Figure:
    """A grid: one row per configuration, one column per layer, each a histogram of that
    layer's activations (``bins`` bins, over ``ranges[row]``). What the range leaves out is
    said in the panel ("4% > 2 not shown"), and so is a pile of exact zeros (ReLU's dead
    units: "z = 0: 50%", the tall bar at 0)."""
    n_rows = len(rows)
    n_cols = max(len(a) for a in rows.values())
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.3 * n_cols, 2.0 * n_rows + 0.6),
                             squeeze=False, sharey="row")
    for r, (name, layers) in enumerate(rows.items()):
        lo_hi = (ranges or {}).get(name)
        for c, a in enumerate(layers):
            ax = axes[r][c]
            z = np.ravel(a)
            ax.hist(z, bins=bins, range=lo_hi, color="C0")
            notes = []
            if np.mean(z == 0) > 0.05:
                notes.append(f"z = 0: {np.mean(z == 0):.0%}")
            if lo_hi is not None:
                below, above = np.mean(z < lo_hi[0]), np.mean(z > lo_hi[1])
                if above > 0:
                    notes.append(f"{above:.1%} > {lo_hi[1]:g} not shown")
                if below > 0:
                    notes.append(f"{below:.1%} < {lo_hi[0]:g} not shown")
            if notes:
                ax.text(0.97, 0.95, "\n".join(notes), transform=ax.transAxes, ha="right",
                        va="top", fontsize=7, bbox={"facecolor": "white", "alpha": 0.8,
                                                    "edgecolor": "none", "pad": 1})
            if r == 0:
                ax.set_title(f"layer {c + 1}")
            if c == 0:
                ax.set_ylabel(f"{name}\ncount", fontsize=8)
            if r == n_rows - 1:
                ax.set_xlabel("activation z", fontsize=8)
            ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def batch_mode_curves(panels: dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]],
                      ) -> plt.Figure:
    """E8: for each dataset (row), the full-data loss against samples seen and against wall
    time (columns; a symmetric-log time axis, so t = 0 — before the first update — is shown).
    ``panels[dataset][label] = (samples, seconds, loss)``; one colour per mode (the label's
    text before " ("), labels containing "(raw)" drawn dashed; one legend under the panels,
    where it covers no data."""
    fig, axes = plt.subplots(len(panels), 2, figsize=(11, 4 * len(panels) + 0.6),
                             squeeze=False, layout="constrained")
    for r, (dataset, curves) in enumerate(panels.items()):
        modes = list(dict.fromkeys(label.split(" (")[0] for label in curves))
        for label, (samples, seconds, loss) in curves.items():
            loss = np.where(np.isfinite(loss), loss, np.nan)
            style = "--" if "(raw)" in label else "-"
            color = f"C{modes.index(label.split(' (')[0])}"
            for c, xs in enumerate((samples, seconds)):
                axes[r][c].plot(xs, loss, style, color=color, label=label, linewidth=1.2)
        positive = [t[t > 0] for _, t, _ in curves.values()]
        first = min((float(t.min()) for t in positive if t.size), default=1e-3)
        # symlog keeps t = 0 (the starting loss) in view: linear up to the first update's time
        for c, xlabel in enumerate(("samples seen", f"update time (s; log scale above "
                                                    f"{first:.1g} s, linear below: t = 0 "
                                                    "shown)")):
            ax = axes[r][c]
            ax.set_yscale("log")
            if c == 1:
                ax.set_xscale("symlog", linthresh=first, linscale=0.5)
                last = max(float(t.max()) for _, t, _ in curves.values())
                decades = range(int(np.ceil(np.log10(first))), int(np.ceil(np.log10(last))) + 1)
                ax.set_xticks([0.0, *(10.0 ** k for k in decades)])
                ax.set_xlim(0, last * 1.05)
            ax.set_xlabel(xlabel)
            ax.set_ylabel("loss on the whole set")
            ax.set_title(dataset)
            ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=9, frameon=False)
    return fig
