"""``descentlab problems``: list the catalogue of surfaces, or show one in detail."""

from __future__ import annotations

import argparse
import textwrap

from .. import problems
from ..problems import Problem

EPILOG = """examples:
  descentlab problems                       # the catalogue: name, dim, formula, minima, start
  descentlab problems himmelblau            # one problem: description, every minimum, window
  descentlab problems --f "x**2/20 + y**2"  # check how a formula of yours is read
"""


def _point(values: tuple[float, ...]) -> str:
    text = ", ".join(f"{v:.6g}" for v in values)
    return text if len(values) == 1 else f"({text})"


def _shorten(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _minima_summary(p: Problem) -> str:
    if not p.minima:
        return "none"
    best = p.global_minima
    text = f"global {_point(best[0].point)} f={best[0].value:.6g}"
    if len(best) > 1:
        text += f" (+{len(best) - 1} more global)"
    local = len(p.minima) - len(best)
    if local:
        text += f", {local} local"
    return text


def list_catalogue() -> None:
    rows = [(p.name, str(p.dim), _shorten(p.formula), _minima_summary(p), _point(p.start))
            for p in problems.catalogue().values()]
    header = ("name", "dim", "formula", "minima", "start")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4])
    print("\n`descentlab problems NAME` shows one problem in detail.")


def show(p: Problem, max_minima: int = 12) -> None:
    print(f"{p.name} ({p.dim}-D)")
    print(f"  f          = {p.formula}")
    print(f"  gradient   = {p.gradient_expression}")
    print(f"  start      = {_point(p.start)}")
    print("  window     = " + " x ".join(f"[{lo:g}, {hi:g}]" for lo, hi in p.window))
    if p.bounds != p.window:
        print("  bounds     = " + " x ".join(f"[{lo:g}, {hi:g}]" for lo, hi in p.bounds)
              + "  (leaving them counts as diverged)")
    if p.description:
        print(textwrap.fill(p.description, width=88, initial_indent="  ",
                            subsequent_indent="  "))
    if not p.minima:
        print("  minima: none listed")
    for i, m in enumerate(p.minima[:max_minima]):
        print(f"  minimum {i}: {m.kind:<6} at {_point(m.point)}  f = {m.value:.10g}")
    if len(p.minima) > max_minima:
        print(f"  ... and {len(p.minima) - max_minima} more local minima")


def run(args: argparse.Namespace) -> int:
    if args.f is not None:
        show(problems.from_expression(args.f))
    elif args.name:
        show(problems.get(args.name), max_minima=10**9 if args.all else 12)
    else:
        list_catalogue()
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "problems", help="list the catalogue of loss surfaces",
        description="List the catalogue of 1-D and 2-D loss surfaces (formula, minima, start), "
        "show one in detail, or show how a formula of yours is parsed and differentiated.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", nargs="?", help="a catalogue name: show that problem in detail")
    p.add_argument("--f", metavar="EXPR",
                   help='a formula in x (and y), e.g. "sin(x)*cos(y)"; ^ means power')
    p.add_argument("--all", action="store_true", help="list every minimum (Rastrigin has 121)")
    p.set_defaults(run=run)
