"""How long a ``descentlab benchmark`` preset takes, estimated from measured costs: for every
workload and held-out variant of the preset, the CPU seconds of one training step (Adam,
the median of ``--steps`` steps after a warm-up) and of one validation evaluation, times the
preset's counts of runs, steps and evaluations:

    tuning runs per workload = optimizers × budget × studies × tuning seeds
    test runs per workload   = optimizers × test seeds × 2 (tuned, defaults)
    runs per variant         = optimizers × (tuning seeds + test seeds)
                               (its target from the tuned configurations, then the test)
    a run = steps × step + (steps / eval_every + 1) × evaluation

One process does one run at a time, so the single-process wall time on an idle machine is
about the CPU total; ``--workers N`` divides it by up to N (the trials and the test runs
are both shared). Not counted: process start, numba's first compile, the report (about a
minute together). Optimizers cost about the same per step on these networks (the gradient
dominates); Adam stands for all.

    python benchmarks/benchmark_estimate.py --preset standard --data-dir /path/to/mnist
"""

from __future__ import annotations

import argparse
import statistics
import time

from descentlab import optim
from descentlab.lab.testbed import MNIST_WORKLOADS, PRESETS, WorkloadObjective


def measure(objective: WorkloadObjective, steps: int) -> tuple[float, float]:
    """(CPU seconds per training step, per validation evaluation) of one task."""
    task = objective.task
    opt = optim.create("adam")
    params = task.init_params(0)
    batches = task.train_batches(0)
    times = []
    for i in range(steps + 3):
        c = time.process_time()
        _, grads = task.loss_and_grad(params, next(batches))
        task._update(opt, params, grads)
        if i >= 3:                                  # the first steps compile and warm up
            times.append(time.process_time() - c)
    task.evaluate(params, "valid")
    evals = []
    for _ in range(2):
        c = time.process_time()
        task.evaluate(params, "valid")
        evals.append(time.process_time() - c)
    return statistics.median(times), min(evals)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="standard", choices=sorted(PRESETS))
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--steps", type=int, default=20, help="steps timed per task (20)")
    args = ap.parse_args()
    p = PRESETS[args.preset]
    n_opt = len(p.optimizers)
    tuning_runs = n_opt * p.budget * p.studies * p.seeds
    print(f"preset {args.preset}: {n_opt} optimizers ({', '.join(p.optimizers)}); "
          f"{p.budget} trials × {p.studies} studies × {p.seeds} tuning seed(s); "
          f"{p.test_seeds} test seeds")
    print(f"{'task':<22}{'steps':>7}{'evals':>7}{'step ms':>10}{'eval ms':>10}"
          f"{'run s':>9}{'runs':>7}{'CPU h':>8}")
    total = 0.0
    for name, settings in p.workloads.items():
        s = dict(settings)
        if name in MNIST_WORKLOADS:
            s["data_dir"] = args.data_dir
        for variant in (None, *p.variants.get(name, ())):
            obj = WorkloadObjective(name, s, variant)
            step, evaluation = measure(obj, args.steps)
            task = obj.task
            evals = task.steps // task.eval_every + 1
            run = task.steps * step + evals * evaluation
            runs = (tuning_runs + 2 * n_opt * p.test_seeds if variant is None
                    else n_opt * (p.seeds + p.test_seeds))
            total += runs * run
            print(f"{task.name:<22}{task.steps:>7}{evals:>7}{step * 1e3:>10.2f}"
                  f"{evaluation * 1e3:>10.1f}{run:>9.2f}{runs:>7}{runs * run / 3600:>8.2f}",
                  flush=True)
    print(f"total: {total / 3600:.1f} CPU hours: about {total / 3600:.1f} h wall in one "
          f"process on an idle machine, {total / 7200:.1f} h with --workers 2 on 2 idle "
          f"cores")


if __name__ == "__main__":
    main()
