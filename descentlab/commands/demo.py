"""``descentlab demo``: the main job on defaults (``make demo``)."""

from __future__ import annotations

import argparse

import numpy as np

from .. import optim

# E3 of the product brief: the ill-conditioned bowl f(x, y) = x²/20 + y², start (−7, 2).
E3_RATES = {"sgd": 0.95, "momentum": 0.1, "nesterov": 0.3, "adagrad": 1.5, "rmsprop": 0.3,
            "adam": 0.3}


def run(args: argparse.Namespace) -> int:
    print(f"Every optimizer on f(x, y) = x²/20 + y² from (-7, 2), {args.steps} steps")
    print(f"{'optimizer':<10} {'lr':>6} {'x':>12} {'y':>12} {'f':>12}")
    for name, lr in E3_RATES.items():
        params = {"x": -7.0, "y": 2.0}
        opt = optim.create(name, lr=lr)
        for _ in range(args.steps):
            opt.update(params, {"x": params["x"] / 10, "y": 2 * params["y"]})
        f = params["x"] ** 2 / 20 + params["y"] ** 2
        print(f"{name:<10} {lr:>6g} {params['x']:>12.6f} {params['y']:>12.6f} {f:>12.3e}")
    return 0 if np.isfinite(f) else 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the default demonstration",
                       description="Run the default demonstration (what `make demo` runs).")
    p.add_argument("--steps", type=int, default=30, help="updates per optimizer (default 30)")
    p.set_defaults(run=run)
