"""``descentlab schedules``: the E7 figures (learning-rate curves; constant vs decayed rate)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from ..lab import limits
from . import _common

EXAMPLE = """example:
  descentlab schedules --out out/e7
  descentlab schedules --out out/e7 --steps 2000 --noise 1.5 --seed 3"""

def run(args: argparse.Namespace) -> int:
    if args.steps < 20:
        raise InputError(f"--steps must be at least 20, got {args.steps}")
    if not args.noise >= 0:
        raise InputError(f"--noise must be >= 0, got {args.noise}")
    from ..lab.manifest import write_manifest
    from ..viz.schedules import save_e7

    out = Path(args.out)
    paths = save_e7(out, steps=args.steps, noise=args.noise, seed=args.seed)
    settings = {"problem": "f(x, y) = x**2/20 + y**2", "start": [-7.0, 2.0],
                "optimizer": "sgd", "gradient_noise_std": args.noise}
    paths.append(write_manifest(out, args, settings, paths, seed=args.seed))
    for p in paths:
        print(p)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "schedules", help="draw the learning-rate schedules and a constant vs decayed rate (E7)",
        description="Write schedules_curves.png (every schedule of descentlab.schedules) and "
        "schedules_bowl.png (SGD with noisy gradients on f = x²/20 + y²: a large constant rate "
        "wanders, decayed rates settle) into --out, with a manifest.json.",
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=_common.out_dir, required=True, metavar="DIR",
                   help="folder for the PNGs")
    p.add_argument("--steps", type=_common.integer(20, limits.MAX_STEPS, "steps"), default=1000,
                   help="updates in the bowl run (default 1000)")
    p.add_argument("--noise", type=_common.number(0), default=1.0,
                   help="standard deviation of the gradient noise (default 1.0)")
    p.add_argument("--seed", type=_common.seed, default=0, help="seed of the noise (default 0)")
    p.set_defaults(run=run)
