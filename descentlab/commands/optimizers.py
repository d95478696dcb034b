"""``descentlab optimizers``: the table of optimizers, their defaults and update equations."""

from __future__ import annotations

import argparse

from .. import optim

EXAMPLE = """example:
  descentlab optimizers
  descentlab optimizers adam     (one optimizer, with its full docstring)"""


def _defaults(name: str) -> str:
    opt = optim.create(name, lr=1.0) if name == "sgd" else optim.create(name)
    parts = [f"{k}={v:g}" for k, v in opt.hyperparameters().items()
             if not (k == "weight_decay" and v == 0) and not callable(v)]
    if name == "sgd":
        parts[0] = "lr=0.01"
    return ", ".join(parts)


def _class_of(name: str) -> type[optim.Optimizer]:
    return optim.OPTIMIZERS[name] if name in optim.OPTIMIZERS else optim.ALIASES[name][0]


def run(args: argparse.Namespace) -> int:
    names = [*optim.OPTIMIZERS, *optim.ALIASES]  # the lineage's order, then the aliases
    if args.name:
        key = args.name.strip().lower()
        if key not in optim.available():
            raise ValueError(f"unknown optimizer {args.name!r}; available: "
                             f"{', '.join(optim.available())}")
        names = [key]
    for name in names:
        print(f"{name:<10} {_defaults(name)}")
        # The equations live on the class (p parameter, g gradient, η lr, t the 1-based step);
        # the full statement with the Keras/textbook variants is its docstring.
        for line in _class_of(name).equations or ("(see its docstring)",):
            print(f"{'':<12}{line}")
        print()
    if args.name:
        print((_class_of(names[0]).__doc__ or "").strip())
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("optimizers", help="list the optimizers, their defaults and equations",
                       description="The optimizers, their default hyperparameters (PyTorch's) "
                       "and their update equations.", epilog=EXAMPLE,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", nargs="?", help="show one optimizer, with its docstring")
    p.set_defaults(run=run)
