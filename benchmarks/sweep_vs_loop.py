"""A 200 × 200 sweep (learning rate × momentum, heavy ball on the two-basin surface,
100 steps) as ONE vectorised
computation, against a Python loop over the same runs one at a time.

The loop is timed on a random subset of the 40 000 runs and extrapolated linearly (each run
costs the same: 100 updates of one 2-D point); the printed ratio says so. The subset's
outcomes are checked equal to the vectorised sweep's. Writes the stability map next to this
file (benchmarks/sweep_200x200.png).

    PYTHONPATH=. python benchmarks/sweep_vs_loop.py
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from descentlab import optim, problems
from descentlab.lab.engine import run_batch
from descentlab.lab.sweep import sweep

N, STEPS, SUBSET = 200, 100, 200


def main() -> None:
    p = problems.get("two_basin")
    rates = np.round(np.linspace(0.005, 0.3, N), 12)
    momenta = np.round(np.linspace(0.0, 0.99, N), 12)

    t0 = time.perf_counter()
    s = sweep(p, "momentum", rates, axis="momentum", axis_values=momenta, steps=STEPS)
    vectorised = time.perf_counter() - t0

    rng = np.random.default_rng(0)
    picks = rng.choice(N * N, SUBSET, replace=False)
    t0 = time.perf_counter()
    for k in picks:
        j, i = divmod(int(k), N)
        b = run_batch(p, optim.create("momentum", lr=rates[i], momentum=momenta[j]),
                      np.array([p.start]), STEPS, keep_path=False)
        assert b.outcome[0] == s.outcome[j, i], (rates[i], momenta[j])
    loop_subset = time.perf_counter() - t0
    loop_total = loop_subset / SUBSET * N * N

    from descentlab.viz import maps, style

    style.save(maps.stability_map(s), Path(__file__).with_name("sweep_200x200"))
    counts = {o: int((s.outcome == o).sum()) for o in ("global", "local", "moving",
                                                         "diverged")}
    print(f"sweep {N}x{N} runs x {STEPS} steps, momentum on two_basin (lr x momentum): {counts}")
    print(f"vectorised: {vectorised:.2f} s for {N * N} runs")
    print(f"python loop over runs: {loop_subset:.2f} s for {SUBSET} runs -> "
          f"{loop_total:.0f} s extrapolated to {N * N} runs")
    print(f"ratio loop / vectorised = {loop_total / vectorised:.0f}x")


if __name__ == "__main__":
    main()
