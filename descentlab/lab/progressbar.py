"""A minimal text progress bar (no dependency): ``[#####.....]  50% 1000/2000 3.1s``.

Written to stderr, redrawn at most every ``interval`` seconds, so it never slows a loop.
When stderr is not a terminal only the final line is written.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """``bar = ProgressBar(total, "race"); bar.update(k); bar.close()``; ``eta=True`` adds
    the time left at the rate so far."""

    def __init__(self, total: int, label: str = "", *, width: int = 30,
                 stream: TextIO | None = None, interval: float = 0.1,
                 enabled: bool = True, unit: str = "", eta: bool = False) -> None:
        self.total = max(int(total), 0)
        self.label = label
        self.width = width
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.enabled = enabled
        self.unit = unit
        self.eta = eta
        self.count = 0
        self.start = time.perf_counter()
        self._last = -1e9
        self._live = enabled and getattr(self.stream, "isatty", lambda: False)()

    def text(self) -> str:
        frac = self.count / self.total if self.total else 1.0
        filled = int(round(frac * self.width))
        elapsed = time.perf_counter() - self.start
        label = f"{self.label} " if self.label else ""
        text = (f"{label}[{'#' * filled}{'.' * (self.width - filled)}] {100 * frac:3.0f}% "
                f"{self.count}/{self.total}{self.unit} {elapsed:.1f}s")
        if self.eta and 0 < self.count < self.total:  # the rate so far, held constant
            text += f" ETA {elapsed / self.count * (self.total - self.count):.0f}s"
        return text

    def update(self, count: int) -> None:
        """Set the number of items done and redraw if due."""
        self.count = count
        if self._live:
            now = time.perf_counter()
            if now - self._last >= self.interval or count >= self.total:
                self._last = now
                self.stream.write("\r" + self.text())
                self.stream.flush()

    def close(self) -> None:
        """Draw the final state and end the line."""
        if self.enabled:
            self.stream.write(("\r" if self._live else "") + self.text() + "\n")
            self.stream.flush()
