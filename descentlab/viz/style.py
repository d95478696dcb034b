"""One look for every figure: the optimizer palette, sizes, and saving.

:data:`PALETTE` maps every optimizer name that declares a colour (``colour`` on its class) to
it, used by every figure and animation, so Adam is the same red on a contour grid, an overlay,
a 1-D curve and a loss plot; a racer without one takes the next of :data:`EXTRA`.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ..files import atomic_path  # noqa: E402


class _Palette(Mapping[str, str]):
    """Registered name → the colour it declares (``colour`` on its class or alias), read from
    the registry at each access, so a user's optimizer that declares one has it too."""

    def _items(self) -> dict[str, str]:
        from .. import optim

        found = {name: optim.colour(name) for name in optim.available()}
        return {k: v for k, v in found.items() if v is not None}

    def __getitem__(self, key: str) -> str:
        return self._items()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items())

    def __len__(self) -> int:
        return len(self._items())


#: Optimizer name → colour, declared on the classes (colour-blind-aware tab10 order; Adam red
#: as in E1's dot).
PALETTE: Mapping[str, str] = _Palette()
#: Colours for labels with no palette entry or a second racer of the same name.
EXTRA = ["#0b84a5", "#e6a100", "#6f4e7c", "#7cb342", "#4d4d4d", "#f28e8e"]

#: Data points and other marks that belong to no optimizer.
NEUTRAL = "#9aa5b1"

#: Outcome → colour for stability maps.
OUTCOME_COLOURS = {"global": "#2ca02c", "local": "#ff9f1c", "moving": "#c7c7c7",
                   "diverged": "#222222"}
OUTCOME_LABELS = {"global": "reached the global minimum", "local": "reached a local minimum",
                  "moving": "still moving", "diverged": "diverged or left the window"}

#: One marker shape per racer (in order), so lines stay apart in black and white too.
MARKERS = ("o", "s", "D", "^", "v", "X", "P", "<", ">", "p", "h", "*")

#: Default figure sizes (inches) at :data:`DPI`: they read well at README width.
DPI = 100
PANEL = (4.6, 3.0)


def colours_for(names: Iterable[str]) -> list[str]:
    """One colour per racer: the palette colour of its optimizer name; repeated names and
    unknown names take the next extra colour (:data:`EXTRA` in turn).

    >>> colours_for(["adam", "sgd", "adam"])
    ['#d62728', '#1f77b4', '#0b84a5']
    """
    used: set[str] = set()
    out = []
    extra = itertools.cycle(EXTRA)
    for name in names:
        c = PALETTE.get(name)
        if c is None or c in used:
            c = next(extra)
        used.add(c)
        out.append(c)
    return out


@dataclass(frozen=True)
class RacerStyle:
    """How one racer is drawn when several share an axes."""

    colour: str
    marker: str
    size: float  #: marker size (points)
    width: float  #: line width (points)
    zorder: float
    hollow: bool  #: markers drawn as coloured rings (every racer but the last, on top)
    linestyle: str = "-"  #: of the line joining the markers (:func:`line_styles`)


def racer_styles(names: Iterable[str]) -> list[RacerStyle]:
    """Styles for racers drawn on one axes, so that paths that coincide stay visible: each
    racer has its palette colour, line style and marker (:func:`line_styles`: no two racers
    alike), and earlier racers are drawn *under* later ones with larger, hollow markers and
    wider lines — where two paths coincide, the earlier shows as a coloured ring and border
    around the later.

    >>> [(s.colour, s.marker, s.size) for s in racer_styles(["sgd", "adam"])]
    [('#1f77b4', 'o', 7.0), ('#d62728', 's', 4.5)]
    """
    names = list(names)
    n = len(names)
    grow, widen = min(2.5, 4.5 / max(n - 1, 1)), min(1.0, 2.0 / max(n - 1, 1))
    return [RacerStyle(colour=ls.colour, marker=ls.marker, size=4.5 + grow * (n - 1 - k),
                       width=1.0 + widen * (n - 1 - k), zorder=4 + k, hollow=k < n - 1,
                       linestyle=ls.linestyle)
            for k, ls in enumerate(line_styles(names))]


#: Line styles that tell apart racers of alike colours (:func:`line_styles`).
LINESTYLES = ("-", "--", "-.", ":")
#: Colours closer than this (Euclidean distance of RGB in [0, 1]) count as alike.
ALIKE = 0.36


@dataclass(frozen=True)
class LineStyle:
    """How one of many racers' lines is drawn: colour, line style and marker."""

    colour: str
    linestyle: str
    marker: str


def line_styles(names: Iterable[str]) -> list[LineStyle]:
    """One (colour, line style, marker) per racer, every racer's different, for figures with
    more racers than there are distinguishable colours: the palette colour
    (:func:`colours_for`), the first of :data:`LINESTYLES` no earlier racer of an alike
    colour (within :data:`ALIKE`) has, and the racer's own marker (:data:`MARKERS` in order;
    past the last, a marker not yet used with that colour and line style).

    >>> [(s.colour, s.linestyle, s.marker) for s in line_styles(["sgd", "adam", "radam"])]
    [('#1f77b4', '-', 'o'), ('#d62728', '-', 's'), ('#0b84a5', '--', 'D')]
    """
    out: list[LineStyle] = []
    for k, c in enumerate(colours_for(names)):
        rgb = np.array(matplotlib.colors.to_rgb(c))
        near = {s.linestyle for s in out
                if np.linalg.norm(np.array(matplotlib.colors.to_rgb(s.colour)) - rgb) < ALIKE}
        free = [ls for ls in LINESTYLES if ls not in near]
        ls = free[0] if free else LINESTYLES[k % len(LINESTYLES)]
        taken = {s.marker for s in out if (s.colour, s.linestyle) == (c, ls)}
        marker = next((m for m in MARKERS[k % len(MARKERS):] + MARKERS if m not in taken),
                      MARKERS[k % len(MARKERS)])
        out.append(LineStyle(c, ls, marker))
    return out


#: A legend of up to this many entries stays inside the axes, where the figure puts it;
#: longer ones go right of the axes (:func:`legend`). Every committed figure has at most 7.
MAX_INSIDE = 8
#: Markers per line on a figure with many lines; line k of n has its own shifted by k/n of
#: their spacing (:func:`marks`).
MARKS_PER_LINE = 4


def many(n: int) -> bool:
    """Whether ``n`` lines are too many for a legend inside the axes (more than
    :data:`MAX_INSIDE`): then every line also carries markers, and the legend goes outside.

    >>> many(6), many(20)
    (False, True)
    """
    return n > MAX_INSIDE


def marks(k: int, n: int, points: int) -> tuple[int, int]:
    """``markevery`` for line k of n on a line of ``points`` points: :data:`MARKS_PER_LINE`
    marks, each line's shifted along it by its share of the spacing (so that lines that run
    together still show every marker).

    >>> [marks(k, 3, 300) for k in range(3)]
    [(0, 75), (25, 75), (50, 75)]
    """
    every = max(points // MARKS_PER_LINE, 1)
    return (k * every // max(n, 1), every)


def legend(ax: Any, handles: Sequence[Any] | None = None, labels: Sequence[str] | None = None,
           *, outside_handles: Sequence[Any] | None = None, **inside: Any) -> Any:
    """The legend of ``ax`` naming every line. Up to :data:`MAX_INSIDE` entries: inside the
    axes, as ``ax.legend(handles, labels, **inside)``. More: right of the axes, never over
    data, in as many columns as it takes to be no taller than the axes, the figure widened by
    the legend's width (``outside_handles``, if given, are drawn there instead of
    ``handles``, e.g. each path's line with its marker). Call it before ``tight_layout``.

    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots(figsize=(4, 3))
    >>> for k in range(12):
    ...     _ = ax.plot([0, 1], [k, k], label=f"line {k}")
    >>> leg = legend(ax, fontsize=8)
    >>> len(leg.get_texts()), bool(fig.get_size_inches()[0] > 4)
    (12, True)
    >>> plt.close(fig)
    """
    if handles is None:
        handles, found = ax.get_legend_handles_labels()
        labels = found if labels is None else labels
    handles = list(handles)
    labels = [h.get_label() for h in handles] if labels is None else list(labels)
    if not many(len(handles)):
        return ax.legend(handles, labels, **inside)
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    box = ax.get_window_extent(renderer)
    right = max(ax.get_tightbbox(renderer).x1, box.x1)  # past a 3-D axes' z label too
    x = (right - box.x0) / box.width + 0.02
    shown = list(outside_handles) if outside_handles is not None else handles
    for ncol in range(1, len(shown) + 1):
        leg = ax.legend(shown, labels, loc="upper left", bbox_to_anchor=(x, 1.0),
                        borderaxespad=0.0, fontsize=inside.get("fontsize", 8), ncol=ncol,
                        handlelength=3.0, frameon=False)
        if leg.get_window_extent(renderer).height <= box.height:
            break
    width, height = fig.get_size_inches()
    wider = width + leg.get_window_extent(renderer).width / fig.dpi + 0.3
    fig.set_size_inches(wider, height)  # room for the legend, taken by tight_layout
    return leg


def under_suptitle(fig: Figure, suptitle: Any, pad: float = 4.0) -> None:
    """After ``tight_layout``: lower the panels of ``fig`` if their titles reach into
    ``suptitle`` (tight_layout leaves them there on a tall grid, e.g. 20 racers' contour
    panels), so that ``pad`` pixels separate them; otherwise change nothing.

    >>> import matplotlib.pyplot as plt
    >>> fig, axes = plt.subplots(10, 2, figsize=(9, 30))
    >>> for ax in axes.flat:
    ...     _ = ax.set_title("panel")
    >>> top = fig.suptitle("all panels")
    >>> fig.tight_layout()
    >>> under_suptitle(fig, top)
    >>> renderer = fig.canvas.get_renderer()
    >>> bool(max(ax.get_tightbbox(renderer).y1 for ax in fig.axes)
    ...      < top.get_window_extent(renderer).y0)
    True
    >>> plt.close(fig)
    """
    renderer = fig.canvas.get_renderer()
    reach = max(ax.get_tightbbox(renderer).y1 for ax in fig.axes if ax.get_visible())
    overlap = reach + pad - suptitle.get_window_extent(renderer).y0
    if overlap > 0:
        fig.subplots_adjust(top=fig.subplotpars.top - overlap / fig.bbox.height)


#: Dash length (in line widths) of lines drawn in turns where they coincide.
TURN = 4.0


def coinciding(ys: Sequence[Any], px: float = 2.0, share: float = 0.8) -> list[int]:
    """For each curve (its y values in display pixels, all at the same x), the index of the
    first curve it coincides with on the figure — within ``px`` pixels at ``share`` of the
    points where either is drawn — or its own index.

    >>> coinciding([[10.0, 20.0, 30.0], [50.0, 60.0, 70.0], [10.5, 20.0, 31.0]])
    [0, 1, 0]
    """
    arrays = [np.asarray(y, dtype=float) for y in ys]
    out: list[int] = []
    for i, a in enumerate(arrays):
        out.append(next((j for j in range(i)
                         if out[j] == j and _close(arrays[j], a, px, share)), i))
    return out


def _close(a: np.ndarray, b: np.ndarray, px: float, share: float) -> bool:
    if a.shape != b.shape:
        return False
    drawn = np.isfinite(a) | np.isfinite(b)
    if not drawn.any():
        return False
    with np.errstate(invalid="ignore"):
        near = np.abs(a - b) <= px
    return bool((near & drawn).sum() >= share * drawn.sum())


def in_turns(ax: Any, lines: Sequence[Any], names: Sequence[str]) -> None:
    """Keep lines that coincide on ``ax`` visible (call after plotting, before the legend): a
    group of m lines that lie on top of each other (:func:`coinciding`, in display pixels
    at the axes' current scales and limits) is redrawn as one line whose dashes take turns in
    the m colours (line k of the group: dash TURN, gap (m−1)·TURN, shifted by k dashes), and
    every member after the first names the first in its legend label: ``sgd (= nesterov)``
    when the data are equal, ``sgd (≈ nesterov)`` when they only look so.

    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> lines = [ax.plot([0, 1, 2], y, label=n)[0] for n, y in
    ...          (("nesterov", [1, 2, 3]), ("adam", [3, 1, 0]), ("sgd", [1, 2, 3]))]
    >>> in_turns(ax, lines, ["nesterov", "adam", "sgd"])
    >>> [(line.get_label(), line.get_linestyle()) for line in lines]
    [('nesterov', '--'), ('adam', '-'), ('sgd (= nesterov)', '--')]
    >>> plt.close(fig)
    """
    ax.autoscale_view()
    xs = [np.asarray(line.get_xdata(), dtype=float) for line in lines]
    ys = []
    for line, x in zip(lines, xs):
        with np.errstate(all="ignore"):
            y = np.asarray(line.get_ydata(), dtype=float)
            points = ax.transData.transform(np.column_stack([x, y]))[:, 1]
        if ax.get_yscale() == "log":
            points = np.where(y > 0, points, np.nan)
        ys.append(np.where(np.isfinite(y), points, np.nan))
    first = coinciding(ys)
    for i, g in enumerate(first):  # (different x: never the same curve)
        if g != i and (xs[i].shape != xs[g].shape or not np.array_equal(xs[i], xs[g])):
            first[i] = i
    groups: dict[int, list[int]] = {}
    for i, g in enumerate(first):
        groups.setdefault(g, []).append(i)
    for g, group in groups.items():
        m = len(group)
        if m == 1:
            continue
        for k, i in enumerate(group):
            lines[i].set_linestyle((((m - k) % m) * TURN, (TURN, (m - 1) * TURN)))
            if k:
                same = np.array_equal(np.asarray(lines[i].get_ydata(), dtype=float),
                                      np.asarray(lines[g].get_ydata(), dtype=float),
                                      equal_nan=True)
                note = f"{names[i]} ({'=' if same else '≈'} {names[g]})"
                lines[i].set_label(lines[i].get_label().replace(names[i], note, 1))


#: Metadata that would make two saves of one figure differ, left out (per format).
_NO_DATES = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}


def save(fig: Figure, path: str | os.PathLike, formats: Iterable[str] = ("png",)) -> list[Path]:
    """Save ``fig`` as ``path`` with each suffix in ``formats`` (``png``, ``svg``, ``pdf``),
    atomically, without dates (equal figures give equal files); close it; return the paths
    written."""
    written = []
    base = Path(path)
    for fmt in formats:
        target = base.with_suffix("." + fmt)
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=fmt, dpi=DPI, bbox_inches="tight",
                        metadata=_NO_DATES.get(fmt, {"Date": None}))
        written.append(target)
    plt.close(fig)
    return written
