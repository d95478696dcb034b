"""CSV tables of the network experiments, written atomically (see :mod:`descentlab.files`)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..files import csv_text, write_text


def write_csv(path: str | os.PathLike, header: Sequence[str],
              rows: Sequence[Sequence[Any]]) -> Path:
    """A CSV file with a header row; floats at full precision (``repr``), NaN as empty.

    >>> import tempfile, pathlib
    >>> p = write_csv(pathlib.Path(tempfile.mkdtemp()) / "h.csv", ["i", "loss"],
    ...               [[1, 0.5], [2, float("nan")]])
    >>> p.read_text()
    'i,loss\\n1,0.5\\n2,\\n'
    """
    return write_text(path, csv_text(header, (
        ["" if isinstance(v, float) and not math.isfinite(v) else v for v in row]
        for row in rows)))
