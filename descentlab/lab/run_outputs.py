"""Writing a run's outputs: atomic files, CSV histories, figures and the manifest.

Every file is written to a temporary name in its directory and moved into place with
``os.replace``, so a crash never leaves half a file. The manifest (``manifest.json``) records
the command, the exact argument list that reproduces the run (``argv``: run it again with
``descentlab <argv...>``), every setting, the seed, the library version and the outputs.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same directory + replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_csv(path: str | os.PathLike, header: Sequence[str],
              rows: Sequence[Sequence[Any]]) -> Path:
    """A CSV file; floats written with ``repr`` precision, NaN as empty."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow(["" if isinstance(v, float) and not np.isfinite(v) else v for v in row])
    return atomic_write_text(path, buf.getvalue())


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 100) -> Path:
    """``fig.savefig`` through a temporary file (format from the suffix)."""
    path = Path(path)
    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix.lstrip(".") or "png", dpi=dpi)
    return atomic_write_bytes(path, buf.getvalue())


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def write_manifest(directory: str | os.PathLike, command: str, argv: Sequence[str],
                   settings: dict[str, Any], seed: int | None,
                   outputs: Sequence[str] = (), results: dict[str, Any] | None = None) -> Path:
    """``directory/manifest.json``: enough to run the experiment again identically."""
    from .. import __version__

    manifest = {
        "command": command,
        "argv": [command, *argv],
        "rerun": "descentlab " + " ".join([command, *argv]),
        "seed": seed,
        "settings": settings,
        "outputs": list(outputs),
        "results": results or {},
        "descentlab_version": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    text = json.dumps(_jsonable(manifest), indent=2, allow_nan=False) + "\n"
    return atomic_write_text(Path(directory) / "manifest.json", text)
