"""Peak memory of `descentlab sweep` against the number of runs (a 1-D problem, Adam).

Each size runs in a fresh child process (`descentlab sweep ... --out TMP`); its peak resident
memory comes from resource.getrusage(RUSAGE_CHILDREN). Prints the peak per size and the
memory per run, (peak(N) - peak(small)) / (N - small), side by side in one run.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time

SIZES = (10_000, 1_000_000)


def peak_mib(runs: int, steps: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as out:
        code = ("import resource, sys; from descentlab.cli import main; r = main(sys.argv[1:]); "
                "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); "
                "sys.exit(r)")
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", code, "sweep", "--problem", "quartic",
                               "--start=-8", "--steps", str(steps), "--optimizer",
                               "adam:eps=1e-10", "--lr", f"0.01:{runs * 0.01}:0.01",
                               "--out", out], capture_output=True, text=True, check=True)
        seconds = time.perf_counter() - t0
        return int(proc.stderr.strip().splitlines()[-1]) / 1024, seconds


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 99
    results = {n: peak_mib(n, steps) for n in SIZES}
    for n, (mib, s) in results.items():
        print(f"{n:>9,} runs x {steps} steps: peak {mib:7.1f} MiB, {s:6.1f} s")
    (a, _), (b, _) = results[SIZES[0]], results[SIZES[-1]]
    per_run = (b - a) * 2**20 / (SIZES[-1] - SIZES[0])
    print(f"memory per run: {per_run:.0f} bytes (1-D problem, Adam)")


if __name__ == "__main__":
    main()
