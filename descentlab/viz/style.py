"""One look for every figure: the optimizer palette, sizes, and saving.

:data:`PALETTE` maps every optimizer name to one colour, used by every figure and animation,
so Adam is the same red on a contour grid, an overlay, a 1-D curve and a loss plot.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ..files import atomic_path  # noqa: E402

#: Optimizer name → colour (colour-blind-aware tab10 order; Adam red as in E1's dot).
PALETTE: dict[str, str] = {
    "sgd": "#1f77b4",
    "momentum": "#ff7f0e",
    "nesterov": "#2ca02c",
    "adagrad": "#9467bd",
    "rmsprop": "#8c564b",
    "adadelta": "#e377c2",
    "adam": "#d62728",
    "adamw": "#17becf",
    "amsgrad": "#bcbd22",
    "nadam": "#7f7f7f",
    "adamax": "#393b79",
}
#: Colours for labels with no palette entry or a second racer of the same name.
EXTRA = ["#0b84a5", "#e6a100", "#6f4e7c", "#7cb342", "#4d4d4d", "#f28e8e"]

#: Data points and other marks that belong to no optimizer.
NEUTRAL = "#9aa5b1"

#: Outcome → colour for stability maps.
OUTCOME_COLOURS = {"global": "#2ca02c", "local": "#ff9f1c", "moving": "#c7c7c7",
                   "diverged": "#222222"}
OUTCOME_LABELS = {"global": "reached the global minimum", "local": "reached a local minimum",
                  "moving": "still moving", "diverged": "diverged"}

#: Default figure sizes (inches) at :data:`DPI`: they read well at README width.
DPI = 100
PANEL = (4.6, 3.0)


def colours_for(names: Iterable[str]) -> list[str]:
    """One colour per racer: the palette colour of its optimizer name; repeated names and
    unknown names take the next unused extra colour.

    >>> colours_for(["adam", "sgd", "adam"])
    ['#d62728', '#1f77b4', '#0b84a5']
    """
    used: set[str] = set()
    out = []
    extra = iter(EXTRA * 4)
    for name in names:
        c = PALETTE.get(name)
        if c is None or c in used:
            c = next(extra)
        used.add(c)
        out.append(c)
    return out


def save(fig: Figure, path: str | os.PathLike, formats: Iterable[str] = ("png",)) -> list[Path]:
    """Save ``fig`` as ``path`` with each suffix in ``formats`` (``png``, ``svg``),
    atomically; close it; return the paths written."""
    written = []
    base = Path(path)
    for fmt in formats:
        target = base.with_suffix("." + fmt)
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=fmt, dpi=DPI, bbox_inches="tight",
                        metadata={"Software": None} if fmt == "png" else {"Date": None})
        written.append(target)
    plt.close(fig)
    return written
