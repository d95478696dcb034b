"""Manifests: every run writes ``manifest.json`` next to its outputs; running it again
(``descentlab rerun manifest.json --out DIR``) reproduces the outputs exactly.

A manifest holds the command and its arguments (what :func:`rerun` replays), the resolved
settings (problem formula, start, window; every optimizer hyperparameter including defaults),
the seed, the versions of Python, NumPy, matplotlib and descentlab, and the files written.
The lab's runs are deterministic (the seed matters only where data is drawn at random, e.g.
``descentlab ewma``), so a rerun gives byte-identical ``trajectories.csv``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

FORMAT = "descentlab-manifest/1"


def versions() -> dict[str, str]:
    import matplotlib

    from .. import __version__

    return {"descentlab": __version__, "python": platform.python_version(),
            "numpy": np.__version__, "matplotlib": matplotlib.__version__,
            "platform": platform.platform()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return repr(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if callable(value):
        return f"<schedule {getattr(value, '__name__', type(value).__name__)}>"
    return repr(value)


def optimizer_settings(opt: Any) -> dict[str, Any]:
    """Every hyperparameter (defaults included) and option of an optimizer."""
    return {"class": type(opt).__name__, "hyperparameters": _jsonable(opt.hyperparameters()),
            "options": _jsonable(opt.options())}


def problem_settings(problem: Any) -> dict[str, Any]:
    return {"name": problem.name, "dim": problem.dim, "formula": problem.formula,
            "start": list(problem.start), "window": [list(w) for w in problem.window],
            "minima": [{"point": list(m.point), "value": m.value, "kind": m.kind}
                       for m in problem.minima]}


def write_manifest(out: str | os.PathLike, args: argparse.Namespace,
                   settings: dict[str, Any], outputs: list[str | os.PathLike],
                   seed: int | None = None) -> Path:
    """Write ``out/manifest.json`` for the command that produced ``args``."""
    from ..files import write_text

    arguments = {k: v for k, v in vars(args).items() if k not in ("run", "out", "command")}
    doc = {
        "format": FORMAT,
        "command": args.command,
        "arguments": _jsonable(arguments),
        "seed": seed,
        "settings": _jsonable(settings),
        "versions": versions(),
        "outputs": sorted(Path(p).name for p in outputs),
        "created": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return write_text(Path(out) / "manifest.json", json.dumps(doc, indent=2) + "\n")


def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """Load and check a manifest; errors name the file and what is wrong."""
    p = Path(path)
    if p.is_dir():
        p = p / "manifest.json"
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"no manifest at {p}") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{p} is not valid JSON ({e.msg}, line {e.lineno})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError(f"{p} is not a descentlab manifest (no \"format\": \"{FORMAT}\")")
    for key in ("command", "arguments"):
        if key not in doc:
            raise InputError(f"{p} has no {key!r} entry")
    return doc
