"""Argument helpers shared by the lab's commands (no subcommand here).

The ``type=`` functions below check a flag's value as argparse reads it — a number that is
not finite or overflows, out of its range or beyond a limit of :mod:`descentlab.lab.limits`,
an output folder that is a file, lies under a file or cannot be written — so every mistake is
refused before any work, in one line naming the flag (argparse adds ``argument --flag:``).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .. import problems
from ..errors import InputError
from ..lab import limits

#: Lets ``--start -7,2`` parse (argparse would otherwise take ``-7,2`` for an option).
_NEGATIVE = re.compile(r"^-[\d.][\d.,:eE+-]*$")


def allow_negative_values(parser: argparse.ArgumentParser) -> None:
    """Make ``parser`` read ``-7,2`` and ``-8`` as values, not options."""
    parser._negative_number_matcher = _NEGATIVE  # noqa: SLF001 - argparse's own hook


def add_problem_arguments(p: argparse.ArgumentParser, default: str | None = None) -> None:
    p.add_argument("--problem", default=default, metavar="NAME",
                   help="a catalogue surface (see `descentlab problems`)"
                   + (f"; default {default}" if default else ""))
    p.add_argument("--f", dest="expression", metavar="EXPR",
                   help='your own surface as an expression in x (and y), e.g. "x**2/20 + y**2"')
    p.add_argument("--start", metavar="X[,Y]",
                   help="start point, e.g. --start=-7,2 (default: the problem's)")
    p.add_argument("--window", metavar="X0:X1[,Y0:Y1]",
                   help="view window for --f (default (-5, 5) per axis, widened to hold "
                   "--start)")


def resolve_problem(args: argparse.Namespace) -> Any:
    if args.expression and args.problem:
        raise InputError("give either --problem or --f, not both")
    window_text = getattr(args, "window", None)
    if args.expression:
        problem = problems.from_expression(args.expression)
        window = parse_window(window_text, problem) if window_text else problem.window
        if args.start is not None:  # widen the default window so that it holds the start
            start = parse_point(args.start, problem)
            if not window_text:
                window = tuple((min(lo, -math.ceil(1.25 * abs(s))),
                                max(hi, math.ceil(1.25 * abs(s))))
                               for (lo, hi), s in zip(window, start))
            return problems.from_expression(args.expression, start=start, window=window)
        return problems.from_expression(args.expression, window=window) if window_text \
            else problem
    if window_text:
        raise InputError("--window applies to --f expressions; catalogue problems have theirs")
    if not args.problem:
        raise InputError("say which surface: --problem NAME or --f EXPR")
    return problems.get(args.problem)


def parse_window(text: str, problem: Any) -> tuple[tuple[float, float], ...]:
    """``"-10:10,-5:5"`` → ((-10, 10), (-5, 5))."""
    parts = str(text).split(",")
    try:
        pairs = tuple((float(a), float(b)) for a, b in (p.split(":") for p in parts))
    except ValueError:
        raise InputError(f"--window {text!r}: expected X0:X1[,Y0:Y1], e.g. -10:10,-5:5") \
            from None
    if len(pairs) != problem.dim or not all(math.isfinite(lo) and math.isfinite(hi) and lo < hi
                                            for lo, hi in pairs):
        raise InputError(f"--window {text!r}: need {problem.dim} range(s) LOW:HIGH with "
                         "LOW < HIGH")
    return pairs


def check_start_inside(problem: Any, start: tuple[float, ...], margin: float) -> None:
    """A start outside the (widened) window would be 'diverged at step 0': say so instead."""
    from ..lab.engine import bounds

    lo, hi = bounds(problem, margin)
    if not (np.all(np.asarray(start) >= lo) and np.all(np.asarray(start) <= hi)):
        window = ", ".join(f"[{a:g}, {b:g}]" for a, b in problem.window)
        raise InputError(f"--start {start} is outside the window of {problem.name!r}, {window}; "
                         "choose a start inside it or widen it with --margin")


def parse_point(text: str | None, problem: Any, what: str = "--start") -> tuple[float, ...]:
    """``"-7,2"`` → (-7.0, 2.0), checked against the problem's dimension."""
    if text is None:
        return tuple(problem.start)
    parts = [s.strip() for s in str(text).split(",")]
    try:
        values = tuple(float(s) for s in parts)
    except ValueError:
        raise InputError(f"{what} {text!r}: expected {problem.dim} comma-separated number(s), "
                         "e.g. --start=-7,2") from None
    if len(values) != problem.dim or not all(math.isfinite(v) for v in values):
        raise InputError(f"{what} {text!r}: {problem.name!r} is {problem.dim}-D, so give "
                         f"{problem.dim} finite number(s)")
    return values


def parse_values(text: str, what: str) -> np.ndarray:
    """A list ``"0.1,0.5,1"`` or an inclusive range ``START:STOP:STEP`` (``"0.1:12:0.1"``).

    >>> parse_values("0.1:0.5:0.1", "--lr").tolist()
    [0.1, 0.2, 0.3, 0.4, 0.5]
    >>> parse_values("0.999,0.5", "beta2").tolist()
    [0.999, 0.5]
    """
    text = str(text).strip()
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise InputError(f"{what} {text!r}: a range is START:STOP:STEP, e.g. 0.1:12:0.1")
        try:
            a, b, s = (float(x) for x in parts)
        except ValueError:
            raise InputError(f"{what} {text!r}: START, STOP and STEP must be numbers") from None
        if not s > 0 or b < a:
            raise InputError(f"{what} {text!r}: need STEP > 0 and STOP >= START")
        if not all(math.isfinite(v) for v in (a, b, s)):
            raise InputError(f"{what} {text!r}: START, STOP and STEP must be finite numbers")
        n = math.floor((b - a) / s + 1e-9) + 1
        limits.check(what, n, limits.MAX_GRID_VALUES, "values in one list or range")
        return np.round(a + s * np.arange(n), 12)
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"{what} {text!r}: expected numbers separated by commas, or "
                         "START:STOP:STEP") from None
    if not values:
        raise InputError(f"{what} is empty")
    if not all(math.isfinite(v) for v in values):
        raise InputError(f"{what} {text!r}: every value must be a finite number")
    limits.check(what, len(values), limits.MAX_GRID_VALUES, "values in one list or range")
    return np.array(values)


def parse_grid(text: str) -> tuple[str, np.ndarray]:
    """``"beta2=0.999,0.5"`` → ("beta2", array([0.999, 0.5]))."""
    name, eq, values = str(text).partition("=")
    if not eq or not re.fullmatch(r"[A-Za-z_]\w*", name.strip()):
        raise InputError(f"--grid {text!r}: expected NAME=VALUES, e.g. --grid beta2=0.999,0.5")
    return name.strip(), parse_values(values, f"--grid {name.strip()}")


def formats(args: argparse.Namespace) -> tuple[str, ...]:
    return ("png", "svg") if getattr(args, "svg", False) else ("png",)


# ---------------------------------------------------------------------------- flag types
def integer(low: int, high: int, what: str = "") -> Callable[[str], int]:
    """A ``type=`` for an integer flag in [low, high]; ``high`` is a documented limit when
    ``what`` names it (``"steps"``)."""

    def convert(text: str) -> int:
        try:
            value = int(str(text).strip().replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        if value > high:
            if what:
                raise argparse.ArgumentTypeError(
                    f"{value} is more than the limit of {high:,} {what} "
                    "(descentlab.lab.limits, docs/lab.md)")
            raise argparse.ArgumentTypeError(f"must be at most {high:,}, got {value}")
        return value

    convert.__name__ = "integer"
    return convert


def number(low: float = -math.inf, high: float = math.inf, *, low_open: bool = False,
           high_open: bool = False) -> Callable[[str], float]:
    """A ``type=`` for a finite float flag in the given range (open ends where asked)."""
    lo_sign, hi_sign = (">" if low_open else ">="), ("<" if high_open else "<=")
    rule = " and ".join(x for x in (f"{lo_sign} {low:g}" if low > -math.inf else "",
                                    f"{hi_sign} {high:g}" if high < math.inf else "") if x)

    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}"
                                             + (" (it overflows)" if "nan" not in
                                                str(text).lower() and "inf" not in
                                                str(text).lower() else ""))
        if (value <= low if low_open else value < low) or \
                (value >= high if high_open else value > high):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text!r}")
        return value

    convert.__name__ = "number"
    return convert


#: ``--seed``: what NumPy's generators take, within an unsigned 64-bit integer.
seed = integer(0, 2**63 - 1)
#: ``--steps`` of the surface commands.
steps = integer(1, limits.MAX_STEPS, "steps")


def _writable_folder(path: Path, flag: str) -> None:
    """Nothing is created: an existing file in the way, or a read-only ancestor, is an
    error naming ``flag``."""
    for parent in [path, *path.parents]:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                where = "is an existing file" if parent == path else f"lies under the file " \
                    f"{parent}"
                raise argparse.ArgumentTypeError(f"{str(path)!r} {where}; give a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise argparse.ArgumentTypeError(f"{str(path)!r} cannot be written "
                                                 f"({parent} is not writable)")
            return


def out_dir(text: str) -> str:
    """``--out DIR``: a folder (made if missing), not a file, not under a file, writable."""
    if not str(text).strip():
        raise argparse.ArgumentTypeError("is empty; give a folder")
    _writable_folder(Path(text), "--out")
    return str(text)


def out_file(text: str) -> str:
    """``--json FILE``: a file path whose folder can be made and written, not a folder."""
    path = Path(text)
    if not str(text).strip():
        raise argparse.ArgumentTypeError("is empty; give a file name")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{str(path)!r} is a folder; give a file name")
    _writable_folder(path.parent, "--json")
    return str(text)


def add_plugin_argument(p: argparse.ArgumentParser) -> None:
    """``--plugin FILE`` (repeatable): a Python file of the user's that registers optimizers
    (:mod:`descentlab.plugins`); :func:`descentlab.cli.main` loads the files before the
    command runs and manifests record them with their SHA-256."""
    p.add_argument("--plugin", action="append", default=None, metavar="FILE",
                   help="a Python file registering your own optimizers with "
                        "@optim.register (repeatable; see docs/plugins.md)")


def add_output_arguments(p: argparse.ArgumentParser, default_out: str) -> None:
    """``--out DIR`` and ``--svg``, the output options of the surface commands."""
    p.add_argument("--out", type=out_dir, default=default_out, metavar="DIR",
                   help=f"output folder (default {default_out})")
    p.add_argument("--svg", action="store_true", help="also write every figure as SVG")


# -- the network experiments (mnist, init, batches) ------------------------------------------


def parse_hidden(text: str) -> list[int]:
    """``"100,100"`` → ``[100, 100]``; ``""`` or ``"none"`` → ``[]``."""
    text = text.strip()
    if text.lower() in ("", "none"):
        return []
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise InputError(f"--hidden: expected comma-separated layer sizes like 100,100, "
                         f"got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise InputError(f"--hidden: layer sizes must be positive, got {text!r}")
    if len(sizes) > 100 or any(s > 100_000 for s in sizes):
        raise InputError(f"--hidden {text!r}: at most 100 layers of at most 100,000 units")
    return sizes


#: BLAS threads environment variables: when one is set, ``--blas-threads auto`` obeys it.
_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def blas_threads_type(text: str) -> str | int:
    """``--blas-threads``: ``auto`` or a thread count 1..64."""
    if str(text).strip().lower() == "auto":
        return "auto"
    return integer(1, 64)(text)


@contextlib.contextmanager
def blas_threads(setting: str | int) -> Iterator[int | None]:
    """Run the block with ``setting`` BLAS threads; yields the count in force (None when
    unknown). ``auto``: the environment's setting if one of :data:`_THREAD_VARIABLES` is set,
    else 1 — measured faster for these networks on a 2-core machine
    (``benchmarks/mnist_blas_threads.py``: a busy machine ran the race 7–10× faster with 1
    thread than with 2; an idle one about as fast), and the same count on every run keeps
    float32 sums, so reruns, identical."""
    from threadpoolctl import threadpool_info, threadpool_limits

    if setting == "auto" and any(v in os.environ for v in _THREAD_VARIABLES):
        pools = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
        yield pools[0] if pools else None
        return
    count = 1 if setting == "auto" else int(setting)
    with threadpool_limits(limits=count, user_api="blas"):
        yield count


def add_training_arguments(p: argparse.ArgumentParser, iterations: int = 2000) -> None:
    """The options shared by the MNIST experiments."""
    p.add_argument("--iterations", type=integer(1, limits.MAX_ITERATIONS, "iterations"),
                   default=iterations,
                   help=f"training iterations (default {iterations})")
    p.add_argument("--batch-size", type=integer(1, 60_000), default=128,
                   help="mini-batch size, drawn with replacement (default 128)")
    p.add_argument("--hidden", default="100,100,100,100",
                   help="hidden layer sizes (default 100,100,100,100)")
    p.add_argument("--data-dir", default=None, help="folder holding the MNIST IDX files")
    p.add_argument("--seed", type=seed, default=0,
                   help="seed of the initial weights and the mini-batches (default 0)")
    p.add_argument("--log-every", type=integer(1, limits.MAX_ITERATIONS), default=100,
                   help="print the losses every N iterations (default 100)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--blas-threads", type=blas_threads_type, default="auto", metavar="N|auto",
                   help="BLAS threads for the matrix products (default auto: "
                        "$OPENBLAS_NUM_THREADS if set, else 1, the faster on a busy machine)")


def load_mnist_data(args: argparse.Namespace) -> tuple:
    """MNIST from ``--data-dir`` (else $DESCENTLAB_DATA, else the cache), normalised, flat."""
    from ..data import load_mnist

    return load_mnist(args.data_dir, normalize=True, flatten=True)


def add_noise_arguments(p: argparse.ArgumentParser, seeds: bool = False) -> None:
    """``--noise SIGMA``, ``--start-spread R``, ``--start-dist`` and ``--seed`` (and
    ``--seeds N`` for commands that draw a band over seeds); see :mod:`descentlab.lab.engine`."""
    p.add_argument("--noise", type=float, default=0.0, metavar="SIGMA",
                   help="additive Gaussian gradient noise σ, seeded (default 0)")
    p.add_argument("--start-spread", type=float, default=0.0, metavar="R",
                   help="draw the start around --start: box half-width or Gaussian σ (0)")
    from ..lab.engine import START_SHAPES

    p.add_argument("--start-dist", default="box", choices=START_SHAPES,
                   help="shape of the start distribution (box)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the noise and start, base of every seed (0)")
    if seeds:
        p.add_argument("--seeds", type=int, default=None, metavar="N",
                       help="run each optimizer on seeds SEED … SEED+N−1 and draw the median "
                       "f per step with its 25–75 %% band (spread.png)")


def noise_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Check the noise arguments; the keywords of the lab functions."""
    from ..errors import InputError

    for flag, v in (("--noise", args.noise), ("--start-spread", args.start_spread)):
        if not (math.isfinite(v) and v >= 0):
            raise InputError(f"{flag} must be a finite number >= 0, got {v}")
    if args.seed < 0:
        raise InputError(f"--seed must be >= 0, got {args.seed}")
    n = getattr(args, "seeds", None)
    if n is not None and not 1 <= n <= 10_000:
        raise InputError(f"--seeds must be between 1 and 10,000, got {n}")
    return {"noise": args.noise, "spread": args.start_spread}
