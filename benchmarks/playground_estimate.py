"""The playground's work estimate (``compute.estimate``) against the work measured: per rule
and number of runs K (a map's cells, a drag field's starts) the seconds of one step of K runs
on the bowl (``run_batch``, as the playground's maps and fields run them), in units of one
step of ONE SGD run measured just before it, next to what the estimate charges per step.
A ratio estimate/measured >= 1 means the estimate never lets through more work than it
admits; far above 1, it refuses requests the server could do.

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python benchmarks/playground_estimate.py

The rules: element-wise (SGD, Adam; their runs as rows of one array), the rules that stack
their runs (``stacks_runs``: C-AdamW, C-Lion, MARS, Scion, Muon; one call on the stack) and
two that run a copy per run (LAMB, Muon in its optax form).
"""

from __future__ import annotations

import time

import numpy as np

from descentlab import problems
from descentlab.lab import engine
from descentlab.playground import compute

RACERS = [compute.Racer("sgd"), compute.Racer("adam"), compute.Racer("cadamw"),
          compute.Racer("clion"), compute.Racer("mars"), compute.Racer("scion"),
          compute.Racer("muon"), compute.Racer("lamb"), compute.Racer("muon", {},
                                                                      {"form": "optax"})]
SIZES = (1, 16, 961, 4096)


def seconds_per_step(racer: compute.Racer, K: int, budget: float = 0.3,
                     repeats: int = 3) -> float:
    """Best of ``repeats`` timings of ``steps`` steps of K runs, per step (steps chosen so
    that a timing takes about ``budget`` seconds)."""
    p = problems.get("bowl")
    starts = np.asarray(p.start, float) + np.random.default_rng(0).normal(0, 0.1, (K, 2))
    steps, best = 2, np.inf
    while True:
        t0 = time.perf_counter()
        engine.run_batch(p, racer.build(), starts, steps, keep_path=False)
        took = time.perf_counter() - t0
        if took > budget / 4 or steps >= 2000:
            break
        steps *= 4
    for _ in range(repeats):
        t0 = time.perf_counter()
        engine.run_batch(p, racer.build(), starts, steps, keep_path=False)
        best = min(best, time.perf_counter() - t0)
    return best / steps


def main() -> None:
    sgd = compute.Racer("sgd")
    surface = compute.Surface("bowl")
    print("unit: one step of one SGD run, measured right before each row (side by side, so "
          "that the machine's load cancels)")
    print(f"{'racer':<16} {'batching':<8} {'K':>5} {'unit µs':>8} {'measured':>9} "
          f"{'estimate':>9} {'estimate/measured':>18}")
    for racer in RACERS:
        how = engine.batching(racer.build())
        for K in SIZES:
            charged = compute.estimate("map", surface, [racer], 100, runs=K).work / 100
            unit = seconds_per_step(sgd, 1, repeats=5)
            measured = seconds_per_step(racer, K) / unit
            print(f"{racer.spec():<16} {how:<8} {K:>5} {unit * 1e6:>8.0f} {measured:>9.1f} "
                  f"{charged:>9.1f} {charged / measured:>18.2f}")


if __name__ == "__main__":
    main()
