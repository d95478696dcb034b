"""The E5 network's training step with 1 vs 2 BLAS threads, measured side by side.

Trains the 784-100×4-10 network (float32, batch 128, Adam) on random MNIST-shaped data for a
few hundred iterations under threadpoolctl limits of 1 and of 2 BLAS threads, alternating,
and prints the ratio. On a busy 2-core machine 2 threads lose badly (a 2-thread product waits
for its second thread whenever the other core is taken); on an idle one they are close.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from descentlab.lab.mnist_race import run_race


def seconds(threads: int, iterations: int) -> float:
    rng = np.random.default_rng(0)
    x = rng.random((2000, 784), dtype=np.float32)
    t = rng.integers(0, 10, 2000).astype(np.uint8)
    with threadpool_limits(limits=threads, user_api="blas"):
        t0 = time.perf_counter()
        run_race(x, t, ["adam"], iterations=iterations, batch_size=128, log_every=10**9,
                 progress=False)
        return time.perf_counter() - t0


def main() -> None:
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    seconds(1, 5)  # compile the kernels first
    times: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(2):
        for threads in (1, 2):
            times[threads].append(seconds(threads, iterations))
    one, two = min(times[1]), min(times[2])
    print(f"{iterations} iterations: 1 thread {one:.2f} s, 2 threads {two:.2f} s, "
          f"ratio 2/1 = {two / one:.2f}x")


if __name__ == "__main__":
    main()
