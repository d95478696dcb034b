"""What the full matrix costs: adagrad_full against adagrad (its diagonal), per update.

Printed side by side in one run (milliseconds per update, best of interleaved rounds) for
n = 2 (a surface of the lab), 100, 300 and 1,000 parameters (``AdaGradFull.max_parameters``,
the documented limit): the eigendecomposition is O(n³), the diagonal O(n), so the ratio grows
with n; the absolute times say what the limit buys (at 1,000: 0.36 s per update on one
core, 1.8 s on a busy one, when the limit was chosen; 2,000 took 4.7 s, 12 s busy).

    python benchmarks/adagrad_full.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from descentlab import optim


def per_update(opt: optim.Optimizer, n: int, reps: int) -> float:
    rng = np.random.default_rng(0)
    p, g = rng.standard_normal(n), rng.standard_normal(n)
    opt.update(p, g)  # state allocated outside the timing
    start = time.perf_counter()
    for _ in range(reps):
        opt.update(p, g)
    return (time.perf_counter() - start) / reps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"{'n':>6} {'adagrad ms':>11} {'adagrad_full ms':>16} {'ratio':>9}")
    for n in (2, 100, 300, optim.AdaGradFull.max_parameters):
        reps = 2 if n >= 1000 else 20
        diag = min(per_update(optim.AdaGrad(), n, reps) for _ in range(args.rounds))
        full = min(per_update(optim.AdaGradFull(), n, reps) for _ in range(args.rounds))
        print(f"{n:>6} {diag * 1e3:>11.3f} {full * 1e3:>16.2f} {full / diag:>8.0f}×")


if __name__ == "__main__":
    main()
