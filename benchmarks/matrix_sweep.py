"""Muon in a sweep: K runs as one stack of matrices (``stacks_runs``, batched products) against
one optimizer copy per run (what every other rule that is not element-wise gets), side by side
on the same grid, with the same bits (tests/test_lab_matrix_sweeps.py).

    OPENBLAS_NUM_THREADS=1 python benchmarks/matrix_sweep.py [K ...]

prints, per grid size K (default 16, 100, 400), the seconds of 50 steps each way and the ratio.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from descentlab import optim, problems
from descentlab.lab.engine import run_batch


class MuonCopies(optim.Muon):
    """Muon without the stacked path: one copy per run (not registered)."""

    stacks_runs = False


def seconds(cls: type, K: int, steps: int = 50, repeats: int = 3) -> tuple[float, np.ndarray]:
    problem = problems.get("two_basin")
    starts = np.tile(np.asarray(problem.start, dtype=float), (K, 1))
    lr = np.geomspace(1e-3, 1.0, K)[:, None]
    best, final = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        b = run_batch(problem, cls(lr=lr), starts, steps, keep_path=False)
        best = min(best, time.perf_counter() - t0)
        final = b.final
    return best, final


def main(sizes: list[int]) -> None:
    print(f"{'K':>6} {'stacked s':>10} {'copies s':>10} {'copies/stacked':>15}  same bits")
    for K in sizes:
        stacked, a = seconds(optim.Muon, K)
        copies, b = seconds(MuonCopies, K)
        same = np.array_equal(a, b, equal_nan=True)
        print(f"{K:>6} {stacked:>10.3f} {copies:>10.3f} {copies / stacked:>15.1f}  {same}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [16, 100, 400])
