"""A tiny progress bar on stderr (shown only when stderr is a terminal)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``Progress(total, "sweep")``; call it with the number of units done; ``close()``.

    Silent unless ``stream`` is a terminal (or ``force=True``), so files and pipes stay clean.
    """

    def __init__(self, total: int, label: str = "", stream: TextIO | None = None,
                 force: bool = False, width: int = 30) -> None:
        self.total = max(int(total), 1)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = force or (hasattr(self.stream, "isatty") and self.stream.isatty())
        self.width = width
        self.start = time.perf_counter()
        self._last = -1.0

    def __call__(self, done: int) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if done < self.total and now - self._last < 0.1:
            return
        self._last = now
        frac = min(done / self.total, 1.0)
        filled = int(frac * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {frac:4.0%} {now - self.start:5.1f}s")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self(self.total)
            self.stream.write("\n")
            self.stream.flush()
