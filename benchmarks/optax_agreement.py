"""How close the optax-exact optimizers of the catalogue come to optax: the worst relative
difference, over every entry of the parameters after every one of 100 steps and 2 seeds,
between descentlab and real optax 0.2.8 in float64 (JAX x64).

It runs the cases of ``tests/test_optim_optax.py`` (the same random shapes, hyperparameters
and gradients the test asserts within 1e-12 relative), and those of
``tests/test_optim_closure.py`` for the rules that need more than the gradient (Polyak SGD,
MoMo, MoMo-Adam, SAM, Sophia: the loss of every step from random data, its gradient, loss
value and Hessian-vector products given to both), and prints, per case, the worst
``|ours − optax| / |optax|`` (entries where optax's value is below 1e-300 in size are
compared absolutely), and the worst share of the test's tolerance, |ours − optax| /
(1e-13 + 1e-12·|optax|) (the largest relative differences are on entries near zero, where the
test's absolute 1e-13 applies) — the numbers docs/optimizers.md quotes.

    PYTHONPATH=. python benchmarks/optax_agreement.py [CASE-PREFIX ...]
    PYTHONPATH=. python benchmarks/optax_agreement.py --cases MODULE [CASE-PREFIX ...]

``--cases MODULE`` runs the cases of another test module of tests/ with the same
``CASES`` and ``run_case(name, seed)``: ``test_optax_forms`` (optax's forms of RAdam, Rprop,
Adafactor and Muon, ``form="optax"``), ``test_noisy_sgd`` (Noisy SGD fed optax's draws).
"""

from __future__ import annotations

import copy
import importlib
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from optax_oracle import optax_trajectory  # noqa: E402
from test_optim_closure import CASES as CLOSURE_CASES  # noqa: E402
from test_optim_closure import trajectories  # noqa: E402
from test_optim_optax import CASES, problem  # noqa: E402


def differences(ours: np.ndarray, theirs: np.ndarray) -> tuple[float, float]:
    """The worst relative difference of one array, and its worst share of the tolerance."""
    diff = np.abs(np.asarray(ours) - theirs)
    return (float(np.max(diff / np.maximum(np.abs(theirs), 1e-300))),
            float(np.max(diff / (1e-13 + 1e-12 * np.abs(theirs)))))


def catalogue_case(name: str, seed: int) -> tuple:
    """(ours, params, grads, optax's parameters after each step) of a catalogue case."""
    rng, params, grads = problem(name, seed)
    opt, make, hyper, static, *evaluate = CASES[name](rng)
    compiled = static.pop("compiled", True)
    expected = optax_trajectory(make, params, grads, hyper=hyper, static=static,
                                compiled=compiled)
    return opt, params, grads, expected[0] if evaluate else expected


def worst(name: str, run: Callable[[str, int], tuple] = catalogue_case) -> tuple[float, float]:
    """The worst relative difference, and the worst share of the test's tolerance
    (``atol + rtol·|optax|`` = 1e-13 + 1e-12·|optax|: at most 1 passes)."""
    out = share = 0.0
    if name in CLOSURE_CASES:
        for seed in range(2):
            ours, expected, _ = trajectories(name, seed)
            for a, b in zip(ours, expected):
                for k in a:
                    rel, part = differences(a[k], np.asarray(b[k]))
                    out, share = max(out, rel), max(share, part)
        return out, share
    for seed in range(2):
        opt, params, grads, expected = run(name, seed)
        ours = copy.deepcopy(params)
        for step, g in enumerate(grads):
            opt.update(ours, g)
            for k in ours:
                theirs = np.asarray(expected[step][k])
                diff = np.abs(np.asarray(ours[k]) - theirs)
                out = max(out, float(np.max(diff / np.maximum(np.abs(theirs), 1e-300))))
                share = max(share, float(np.max(diff / (1e-13 + 1e-12 * np.abs(theirs)))))
    return out, share


def main(prefixes: list[str]) -> None:
    cases, run = {**CASES, **CLOSURE_CASES}, catalogue_case
    if prefixes[:1] == ["--cases"]:
        module = importlib.import_module(prefixes[1])
        cases, run, prefixes = module.CASES, module.run_case, prefixes[2:]
    names = [n for n in cases if not prefixes or n.split("(")[0] in prefixes]
    width = max(60, *(len(n) for n in names))
    print(f"{'case':<{width}} {'worst relative':>15} {'share of tolerance':>19}")
    for name in names:
        rel, share = worst(name, run)
        print(f"{name:<{width}} {rel:>15.2e} {share:>19.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
