"""``descentlab optimizers``: the table of optimizers, their defaults and update equations."""

from __future__ import annotations

import argparse

from .. import optim
from ..errors import InputError

#: The update equations in plain text (PyTorch defaults; p parameter, g gradient, η lr,
#: t the 1-based step). The full statement with the Keras/textbook variants is in each
#: class's docstring (``help(descentlab.optim.Adam)``).
EQUATIONS: dict[str, list[str]] = {
    "sgd": ["p ← p − η·g"],
    "momentum": ["b ← μ·b + (1 − d)·g   (b₁ = g₁)", "p ← p − η·b"],
    "nesterov": ["b ← μ·b + g", "p ← p − η·(g + μ·b)"],
    "adagrad": ["h ← h + g²", "p ← p − η·g / (√h + ε)"],
    "rmsprop": ["s ← ρ·s + (1 − ρ)·g²", "b ← μ·b + g / (√s + ε)   (μ = 0: b = g/(√s + ε))",
                "p ← p − η·b"],
    "adadelta": ["s ← ρ·s + (1 − ρ)·g²", "Δ ← √(u + ε) / √(s + ε) · g",
                 "u ← ρ·u + (1 − ρ)·Δ²", "p ← p − η·Δ"],
    "adam": ["m ← β1·m + (1 − β1)·g,   v ← β2·v + (1 − β2)·g²",
             "m̂ = m / (1 − β1ᵗ),   v̂ = v / (1 − β2ᵗ)", "p ← p − η·m̂ / (√v̂ + ε)"],
    "adamw": ["p ← p·(1 − η·λ)", "then the Adam step"],
    "amsgrad": ["as Adam, with v replaced by v_max ← max(v_max, v)"],
    "nadam": ["μₜ = β1·(1 − ½·0.96^(t·ψ)),   Πₜ = μ₁···μₜ,   m, v, v̂ as Adam",
              "p ← p − η·[(1 − μₜ)·g / (1 − Πₜ) + μₜ₊₁·m / (1 − Πₜ·μₜ₊₁)] / (√v̂ + ε)"],
    "adamax": ["m ← β1·m + (1 − β1)·g,   u ← max(β2·u, |g| + ε)",
               "p ← p − η/(1 − β1ᵗ) · m / u"],
}

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


def run(args: argparse.Namespace) -> int:
    names = [n for n in EQUATIONS if n in optim.available()]
    missing = sorted(set(optim.available()) - set(names))
    names += missing  # an optimizer added without an entry here is still listed
    if args.name:
        key = args.name.strip().lower()
        if key not in optim.available():
            raise InputError(f"unknown optimizer {args.name!r}; available: "
                             f"{', '.join(optim.available())}")
        names = [key]
    for name in names:
        print(f"{name:<10} {_defaults(name)}")
        for line in EQUATIONS.get(name, ["(see its docstring)"]):
            print(f"{'':<12}{line}")
        print()
    if args.name:
        cls = optim.OPTIMIZERS.get(names[0]) or optim.ALIASES[names[0]][0]
        print((cls.__doc__ or "").strip())
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("optimizers", help="list the optimizers, their defaults and equations",
                       description="The optimizers, their default hyperparameters (PyTorch's) "
                       "and their update equations.", epilog=EXAMPLE,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", nargs="?", help="show one optimizer, with its docstring")
    p.set_defaults(run=run)
