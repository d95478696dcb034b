"""Manifests: every run writes ``manifest.json`` next to its outputs; running it again
(``descentlab rerun manifest.json --out DIR``) reproduces the outputs exactly.

A manifest holds the command line (``argv``, what ``descentlab rerun`` parses again, so a
replay gets every check and limit a typed command gets) and its parsed arguments, the
resolved settings (problem formula, start, window; every optimizer hyperparameter including
defaults), the seed, the user's plugin files loaded for the run (``plugins``: each file, its
SHA-256 and the optimizers it registered; :mod:`descentlab.plugins`) and the installed
packages' optimizer entry points with their versions (``installed_plugins``), the environment
(versions of descentlab, Python, NumPy, numba, matplotlib; the BLAS library and its thread
settings; the CPU model; the git commit when run from a checkout) and the files written.
:func:`read_manifest` checks a manifest's shape and types before anything uses it; every
error names the file and the key.
The lab's runs are deterministic (the seed matters only where data is drawn at random, e.g.
``descentlab ewma``), so a rerun gives byte-identical ``trajectories.csv``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from .. import plugins
from ..errors import FileFormatError

FORMAT = "descentlab-manifest/1"


def versions() -> dict[str, Any]:
    """The environment a run happened in (what can change its numbers or its speed)."""
    from importlib import metadata

    import matplotlib

    from .. import __version__

    def version_of(package: str) -> str | None:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return None

    return {"descentlab": __version__, "python": platform.python_version(),
            "numpy": np.__version__, "numba": version_of("numba"),
            "matplotlib": matplotlib.__version__, "platform": platform.platform(),
            "cpu": _cpu_model(), "blas": _blas(), "git_commit": _git_commit()}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _blas() -> dict[str, Any]:
    """The BLAS NumPy uses and its thread settings (threadpoolctl's report when installed)."""
    info: dict[str, Any] = {"threads_env": {k: os.environ[k] for k in (
        "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
        if k in os.environ}, "cpu_count": os.cpu_count()}
    try:
        from threadpoolctl import threadpool_info

        # the kernel architecture a BLAS picked for this CPU (OpenBLAS: Haswell, SkylakeX…)
        # decides its float32 rounding: the same code and seed give other last bits on a
        # machine where it picks another one
        info["threadpools"] = [{k: d.get(k) for k in ("internal_api", "version",
                                                     "num_threads", "architecture")}
                               for d in threadpool_info()]
    except ImportError:
        pass
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info.update({"name": blas.get("name"), "version": blas.get("version")})
    except Exception:  # noqa: BLE001 - older NumPy: no dict mode; the rest still helps
        pass
    return info


def _git_commit() -> str | None:
    """The checkout's commit (with ``-dirty`` for local changes) when descentlab runs from one."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("-dirty" if dirty else "")


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

    arguments = {k: v for k, v in vars(args).items()
                 if k not in ("run", "out", "command", "argv")}
    doc = {
        "format": FORMAT,
        "command": args.command,
        "argv": getattr(args, "argv", None),
        "arguments": _jsonable(arguments),
        "seed": seed,
        "plugins": [p.record() for p in plugins.active()],
        "installed_plugins": plugins.entry_point_records(),
        "settings": _jsonable(settings),
        "versions": versions(),
        "outputs": sorted(Path(p).name for p in outputs),
        "created": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return write_text(Path(out) / "manifest.json", json.dumps(doc, indent=2) + "\n")


#: JSON nesting deeper than this is not a manifest (and would exhaust the parser's stack).
MAX_DEPTH = 50
#: The most a manifest file may hold.
MAX_BYTES = 16 << 20


def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """Load and check a manifest, untrusted input: a regular file (not a FIFO, a device or
    a folder) of at most :data:`MAX_BYTES`, read without trusting its size
    (:func:`~descentlab.files.read_bounded`); valid UTF-8 JSON, an object of the documented
    format with ``command`` (text) and ``argv`` (a list of text) or ``arguments`` (an
    object). Errors (:class:`~descentlab.errors.FileFormatError`) name the file and the
    key."""
    from ..files import read_bounded

    p = Path(path)
    if p.is_dir():
        p = p / "manifest.json"
    raw = read_bounded(p, MAX_BYTES, "manifest")  # a regular file of at most MAX_BYTES
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FileFormatError(f"{p} is not UTF-8 text (byte {e.start})") from None
    if _depth(text) > MAX_DEPTH:
        raise FileFormatError(f"{p}: JSON nested more than {MAX_DEPTH} levels deep; not a "
                              "manifest")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise FileFormatError(f"{p} is not valid JSON ({e.msg}, line {e.lineno})") from None
    except RecursionError:
        raise FileFormatError(f"{p}: JSON nested too deeply; not a manifest") from None
    if not isinstance(doc, dict):
        raise FileFormatError(f"{p} is not a descentlab manifest (a JSON object with "
                              f"\"format\": \"{FORMAT}\"), it holds a {type(doc).__name__}")
    if doc.get("format") != FORMAT:
        raise FileFormatError(f"{p} is not a descentlab manifest (key 'format' is "
                              f"{doc.get('format')!r}, expected {FORMAT!r})")
    if not isinstance(doc.get("command"), str):
        raise FileFormatError(f"{p}: key 'command' must be a command name (text), got "
                              f"{_kind(doc.get('command'))}")
    plugins.check_records(doc.get("plugins"), str(p))
    argv = doc.get("argv")
    if argv is not None and not (isinstance(argv, list) and all(isinstance(a, str)
                                                                 for a in argv)):
        raise FileFormatError(f"{p}: key 'argv' must be a list of text, got {_kind(argv)}")
    if argv is None:
        arguments = doc.get("arguments")
        if not isinstance(arguments, dict):
            raise FileFormatError(f"{p}: key 'arguments' must be an object (name: value), got "
                                  f"{_kind(arguments)}")
        for key, value in arguments.items():
            items = value if isinstance(value, list) else [value]
            if not all(v is None or isinstance(v, str | int | float | bool) for v in items):
                raise FileFormatError(f"{p}: key 'arguments.{key}' must be a number, text, "
                                      f"true/false or a list of them, got {_kind(value)}")
    return doc


def _kind(value: Any) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {json.dumps(value)[:40]}"


def _depth(text: str) -> int:
    """The deepest bracket nesting of JSON text (ignoring brackets inside strings)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest
