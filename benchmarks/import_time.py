"""How long `descentlab --help` takes, against `python -c pass`, side by side in one run.

`descentlab --help` builds every subcommand's parser; it must not import numba, the networks
or matplotlib (command modules import those inside their ``run``). Each command is started
REPEATS times, alternating, and the median wall time of each is printed, with the difference
(descentlab's own start-up cost) and the ratio. The target is under 0.5 s for `--help`.

    .venv/bin/python benchmarks/import_time.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPEATS = 9
SCRIPT = Path(sys.executable).with_name("descentlab")


def wall(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    help_argv = [str(SCRIPT), "--help"] if SCRIPT.exists() else \
        [sys.executable, "-m", "descentlab", "--help"]
    runs = {"python -c pass": [sys.executable, "-c", "pass"],
            "descentlab --help": help_argv}
    times: dict[str, list[float]] = {k: [] for k in runs}
    for argv in runs.values():  # warm the file cache once
        wall(argv)
    for _ in range(REPEATS):
        for name, argv in runs.items():
            times[name].append(wall(argv))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"start-up time, median of {REPEATS} (load average {load:.2f})")
    med = {k: statistics.median(v) for k, v in times.items()}
    for name, t in med.items():
        print(f"  {name:<20} {t * 1000:8.1f} ms   (min {min(times[name]) * 1000:.1f} ms)")
    base, help_ = med["python -c pass"], med["descentlab --help"]
    print(f"  descentlab's own cost {1000 * (help_ - base):.1f} ms; ratio {help_ / base:.1f}x "
          f"python -c pass; target: descentlab --help < 500 ms -> "
          f"{'met' if help_ < 0.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
