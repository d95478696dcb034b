"""``descentlab demo`` (what ``make demo`` runs): the lab on its classic experiments.

1. E3 — the ill-conditioned bowl race: six optimizers from (−7, 2), 30 steps, the contour
   grid, the overlay and an animation.
2. E1 — Adam on the quartic from x = −8, 99 steps: the stability sweep of the learning rate
   (0.1 … 12) × β2 ∈ {0.999, 0.5} with its thresholds, then the moving-dot animation at the
   smallest rate that reaches the global minimum.

Everything is written under one folder (default ``out/demo``), each part with its manifest.
"""

from __future__ import annotations

import argparse
from pathlib import Path

E3_OPTIMIZERS = ["sgd:lr=0.95", "momentum:lr=0.1", "adagrad:lr=1.5", "adam:lr=0.3",
                 "rmsprop:lr=0.3", "nesterov:lr=0.3"]


def _command(argv: list[str]) -> int:
    """Run ``descentlab ARGV`` as the command line would (each command stays on its own)."""
    from ..cli import build_parser

    args = build_parser().parse_args(argv)
    return int(args.run(args) or 0)


def run(args: argparse.Namespace) -> int:
    import json

    out = Path(args.out)
    print("== E3: the ill-conditioned bowl race ==")
    _command(["race", "--problem", "bowl", "--start=-7,2", "--steps", "30", "--optimizers",
              *E3_OPTIMIZERS, "--animate", "gif", "--out", str(out / "e3_race")])
    print()
    print("== E1: Adam on the quartic, learning rate x beta2 ==")
    sweep_json = out / "e1_sweep" / "sweep.json"
    _command(["sweep", "--problem", "quartic", "--start=-8", "--steps", "99", "--optimizer",
              "adam:eps=1e-10", "--lr", "0.1:12:0.1", "--grid", "beta2=0.999,0.5",
              "--out", str(out / "e1_sweep"), "--json", str(sweep_json)])
    doc = json.loads(sweep_json.read_text())
    lr = doc["thresholds"][0]["first_global"] or 1.5
    print()
    print(f"== E1: the moving dot, Adam lr = {lr:g} (the smallest rate reaching the global "
          "minimum, beta2 = 0.999) ==")
    _command(["race", "--problem", "quartic", "--start=-8", "--steps", "99", "--optimizers",
              f"adam:lr={lr:g},eps=1e-10", "--animate", "gif", "--out", str(out / "e1_adam")])
    print()
    print(f"demo written to {out.resolve()}/")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the default demonstration (E3 race, E1 sweep)",
                       description="Run the default demonstration (what `make demo` runs): "
                       "the E3 bowl race with its animation and the E1 learning-rate sweep "
                       "with the moving-dot animation.",
                       epilog="example:\n  descentlab demo --out out/demo",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="out/demo", metavar="DIR",
                   help="output folder (default out/demo)")
    p.set_defaults(run=run)
