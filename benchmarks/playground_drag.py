"""Why the playground's drag does not ask the server per mouse move: 6 racers × 200 steps.

Side by side in one run: (a) one race from one start (what every move would cost if the page
asked for it: 6 × 200 update calls), (b) the drag field — every racer from a whole lattice of
starts, one vectorised `run_batch` per racer (also 6 × 200 update calls, on bigger arrays) —
and (c) looking a path up in the field (what the page does per move, in JavaScript; here the
same indexing in NumPy). The browser test measures the real input → redrawn-paths time.

    PYTHONPATH=. python benchmarks/playground_drag.py
"""

from __future__ import annotations

import base64
import os
import time

import numpy as np

from descentlab.playground import compute

RACERS = [compute.Racer(n, {"lr": lr}) for n, lr in
          [("sgd", 0.95), ("momentum", 0.1), ("nesterov", 0.1), ("adagrad", 1.5),
           ("rmsprop", 0.3), ("adam", 0.3)]]
STEPS = 200


def best_of(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    surface = compute.Surface(problem="bowl")
    surface.build()
    starts = iter(np.linspace(-9, 9, 100))

    def one_race():  # a new start each time: no cache hit
        compute.race_paths(surface, RACERS, (next(starts), 1.0), STEPS)

    def field():
        compute.clear_caches()
        return compute.drag_field(surface, RACERS, STEPS)

    t_race = best_of(one_race)
    t_field = best_of(field)
    f = field()
    n = len(f["axes"][0])
    data = [np.frombuffer(base64.b64decode(p), "<f4").reshape(n * n, STEPS + 1, 2)
            for p in f["paths"]]

    def lookup():
        for k in range(1000):
            s = (k * 7919) % (n * n)
            for arr in data:
                arr[s]

    t_lookup = best_of(lookup) / 1000
    print(f"load average {os.getloadavg()[0]:.1f}; 6 racers × {STEPS} steps on the bowl; "
          f"lattice {n} × {n} = {n * n} starts")
    print(f"(a) one race request          {t_race * 1e3:9.1f} ms")
    print(f"(b) drag field (once)         {t_field * 1e3:9.1f} ms   = {t_field / t_race:.1f} × (a)"
          f" for {n * n} starts")
    print(f"(c) one move: field lookup    {t_lookup * 1e3:9.4f} ms   (a)/(c) = "
          f"{t_race / t_lookup:,.0f}")


if __name__ == "__main__":
    main()
