"""Where the workloads' provisional targets come from: every workload trained once (seed 0)
with Adam and with SGD + momentum at the classic defaults, printing the validation curve.

Each target in ``descentlab.lab.workloads`` was set so that Adam meets it after 40–70 % of
the budget; a benchmark protocol sets its own from tuned baselines.
The output is committed as ``docs/workload_targets.txt``.

    python benchmarks/workload_targets.py --data-dir /path/to/mnist [workload ...]
"""

from __future__ import annotations

import argparse
import time

from descentlab import optim
from descentlab.lab import workloads

CONTENDERS = {"nqm": (("adam", {"lr": 0.01}), ("sgd", {"lr": 0.5}), ("momentum", {"lr": 0.1}))}
DEFAULT = (("adam", {"lr": 1e-3}), ("momentum", {"lr": 0.01}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("names", nargs="*", default=list(workloads.WORKLOADS))
    args = ap.parse_args()
    for name in args.names:
        settings = {} if name in ("nqm", "charlm") else {"data_dir": args.data_dir}
        task = workloads.make(name, **settings)
        print(f"{name}: budget {task.steps} steps × batch {task.batch_size}, target "
              f"{task.target.metric} {'≤' if task.target.mode == 'min' else '≥'} "
              f"{task.target.value}", flush=True)
        for opt_name, kw in CONTENDERS.get(name, DEFAULT):
            t0 = time.perf_counter()
            r = task.run(optim.create(opt_name, **kw), seed=0)
            curve = "  ".join(f"{s}:{m[task.target.metric]:.4f}" for s, m in r.curve)
            print(f"  {opt_name} {kw}: reached at {r.reached_at}, cpu {r.cpu_seconds:.1f} s, "
                  f"wall {time.perf_counter() - t0:.1f} s\n    {curve}", flush=True)


if __name__ == "__main__":
    main()
