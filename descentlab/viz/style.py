"""One look for every figure: the optimizer palette, sizes, and saving.

:data:`PALETTE` maps every optimizer name that declares a colour (``colour`` on its class) to
it, used by every figure and animation, so Adam is the same red on a contour grid, an overlay,
a 1-D curve and a loss plot; a racer without one takes the next of :data:`EXTRA`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import matplotlib

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


@dataclass(frozen=True)
class RacerStyle:
    """How one racer is drawn when several share an axes."""

    colour: str
    marker: str
    size: float  #: marker size (points)
    width: float  #: line width (points)
    zorder: float
    hollow: bool  #: markers drawn as coloured rings (every racer but the last, on top)


def racer_styles(names: Iterable[str]) -> list[RacerStyle]:
    """Styles for racers drawn on one axes, so that paths that coincide stay visible: each
    racer has its palette colour and its own marker, and earlier racers are drawn *under*
    later ones with larger, hollow markers and wider lines — where two paths coincide, the
    earlier shows as a coloured ring and border around the later.

    >>> [(s.colour, s.marker, s.size) for s in racer_styles(["sgd", "adam"])]
    [('#1f77b4', 'o', 7.0), ('#d62728', 's', 4.5)]
    """
    names = list(names)
    n = len(names)
    grow, widen = min(2.5, 4.5 / max(n - 1, 1)), min(1.0, 2.0 / max(n - 1, 1))
    return [RacerStyle(colour=c, marker=MARKERS[k % len(MARKERS)], size=4.5 + grow * (n - 1 - k),
                       width=1.0 + widen * (n - 1 - k), zorder=4 + k, hollow=k < n - 1)
            for k, c in enumerate(colours_for(names))]


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
