"""``descentlab trace``: every internal quantity of an optimizer's rule, step by step (E4)."""

from __future__ import annotations

import argparse

from ..lab import limits
from ..lab.trace import trace
from . import _common

EXAMPLE = """examples:
  descentlab trace adam:lr=1,beta1=0.5,beta2=0.5 --f "x*y" --start 1,2 --steps 2 --exact
  descentlab trace momentum:lr=0.1 --problem bowl --steps 3

--exact runs the optimizer's own rule in exact arithmetic (rationals and simple square roots,
ε → 0 where ε only guards a division) and prints e.g. -2*sqrt(2)/3; values that are not of
that kind are printed as floats marked ≈. Every optimizer traces exactly this way."""


def run(args: argparse.Namespace) -> int:
    problem = _common.resolve_problem(args)
    start = _common.parse_point(args.start, problem)
    if args.exact:
        limits.check("--steps", args.steps, limits.MAX_EXACT_TRACE_ROWS, "exact traced steps")
    result = trace(problem, args.optimizer, start, args.steps, exact=args.exact)
    print(f"{args.optimizer} on f = {problem.formula} from {start}")
    print()
    print(result.table(), end="")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("trace", help="print every internal quantity of a rule, per step",
                       description="Print, per step, every internal quantity of an optimizer's "
                       "rule (Adam: g, m, v, m̂, v̂, the step, the new point) — checkable by hand.",
                       epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.allow_negative_values(p)
    p.add_argument("optimizer", metavar="SPEC", help="e.g. adam:lr=1,beta1=0.5,beta2=0.5")
    _common.add_problem_arguments(p)
    p.add_argument("--steps", type=_common.integer(0, limits.MAX_TRACE_ROWS, "traced steps"),
                   default=2, help="updates to trace (default 2)")
    p.add_argument("--exact", action="store_true",
                   help="exact values (rationals, simple radicals) with ε → 0")
    _common.add_plugin_argument(p)
    p.set_defaults(run=run)
