"""Atomic file writing (a temporary file in the same folder, then ``os.replace``), and CSV text
written by the :mod:`csv` module (quoting labels with commas or quotes)."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path next to ``path``; on success it is renamed to ``path``.

    >>> import tempfile, pathlib
    >>> d = tempfile.mkdtemp()
    >>> with atomic_path(f"{d}/a.txt") as tmp:
    ...     _ = pathlib.Path(tmp).write_text("hi")
    >>> pathlib.Path(f"{d}/a.txt").read_text()
    'hi'
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes files private; give them the usual mode
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    return Path(path)


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV text with a header row, through :func:`csv.writer` (``\\n`` line ends): a field
    holding a comma, a quote or a line break is quoted, so every row has the header's fields.

    >>> print(csv_text(["optimizer", "f"], [["adam:lr=0.3,eps=1e-10", 0.5]]), end="")
    optimizer,f
    "adam:lr=0.3,eps=1e-10",0.5
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()
