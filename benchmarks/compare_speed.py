"""How fast is a comparison? Everything measured side by side in this one run.

1. The bowl study of the issue — 6 optimizers × 50 trials × 5 seeds × 100 steps — as
   ``descentlab compare`` runs it (SQLite study, every trial's batch vectorised), against
   a loop: every trial and seed its own optimizer with scalar hyperparameters, one Python
   loop per run (the same numbers, bit for bit).
2. An MNIST study: the cost of one trial-seed (training one network for N iterations inside
   a study of M configurations sharing mini-batches) against one plain ``mnist`` training
   run of one optimizer, and where the time goes (gradient, update, batch gathering).

    python benchmarks/compare_speed.py [--mnist-dir ../shared/data/mnist] [--iterations 300]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from descentlab import optim, problems
from descentlab.lab.compare import SurfaceTask, compare, parse_space
from descentlab.lab.compare.space import plan
from descentlab.lab.engine import draw_starts, run_batch

SIX = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]


def bowl(budget: int = 50, seeds: int = 5, steps: int = 100) -> None:
    task = SurfaceTask(problems.get("bowl"), steps=steps, noise=0.5, spread=1.0)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        compare([task], SIX, budget=budget, seeds=seeds, storage=f"sqlite:///{d}/s.db")
    study = time.perf_counter() - t0

    seed_list = list(range(seeds))
    t0 = time.perf_counter()
    for name in SIX:  # the evaluations of the study alone, vectorised per optimizer
        sp = parse_space(name)
        task.evaluate(sp, plan(sp, budget, 0), seed_list)
    vector = time.perf_counter() - t0

    t0 = time.perf_counter()
    for name in SIX:  # the loop: one run per trial and seed
        sp = parse_space(name)
        for c in plan(sp, budget, 0):
            for s in seed_list:
                start = draw_starts(task.problem, task.start, task.spread, [s])
                run_batch(task.problem, optim.create(name, **c), start, steps,
                          keep_path=False, noise=task.noise, seeds=[s])
    loop = time.perf_counter() - t0
    runs = len(SIX) * budget * seeds
    print(f"bowl study: {len(SIX)} optimizers x {budget} trials x {seeds} seeds x {steps} steps"
          f" = {runs} runs")
    print(f"  whole study (Optuna + SQLite + report data)  {study:7.2f} s")
    print(f"  evaluations vectorised (6 batches)           {vector:7.3f} s")
    print(f"  evaluations in a loop (one run at a time)    {loop:7.2f} s")
    print(f"  loop / vectorised evaluations                {loop / vector:7.0f} x")
    print(f"  loop / whole vectorised study                {loop / study:7.1f} x")


def mnist(data_dir: str | None, iterations: int, configs: int) -> None:
    from descentlab.data import load_mnist
    from descentlab.lab.compare import MnistTask
    from descentlab.lab.mnist_race import run_race, train_together
    from descentlab.nn import MultiLayerNet

    (x, t), (xt, tt) = load_mnist(data_dir, progress=False)
    t0 = time.perf_counter()
    run_race(x, t, ["adam"], x_test=xt, t_test=tt, iterations=iterations, log=None,
             progress=False)
    plain = time.perf_counter() - t0

    task = MnistTask(x, t, xt, tt, iterations=iterations)
    sp = parse_space("adam")
    cfg = plan(sp, configs, 0)
    t0 = time.perf_counter()
    task.evaluate(sp, cfg, [0])
    together = (time.perf_counter() - t0) / configs
    t0 = time.perf_counter()
    for c in cfg:
        task.evaluate(sp, [c], [0])
    alone = (time.perf_counter() - t0) / configs

    nets = {str(i): MultiLayerNet(784, [100] * 4, 10, seed=0) for i in range(configs)}
    opts = {str(i): optim.create("adam", **c) for i, c in enumerate(cfg)}
    r = train_together(nets, opts, x, t, iterations=iterations, log=None, progress=False,
                       train_accuracy=False)
    grad = np.mean(list(r.gradient_seconds.values())) * 1e3
    upd = np.mean(list(r.update_seconds.values())) * 1e3
    batch = r.batch_seconds * 1e3 / configs
    print(f"MNIST ({len(x)} training images), {iterations} iterations of 128, Adam:")
    print(f"  one plain `mnist` run (train + test/train accuracy)  {plain:6.2f} s")
    print(f"  one trial-seed, {configs} configurations per batch      {together:6.2f} s "
          f"({together / plain:.2f}x the plain run)")
    print(f"  one trial-seed, trained alone                       {alone:6.2f} s "
          f"({alone / plain:.2f}x)")
    print(f"  per network and iteration: gradient {grad:.3f} ms, update {upd:.3f} ms, "
          f"batch gathering {batch:.3f} ms (shared by the {configs})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mnist-dir", default=None, help="MNIST IDX folder (else the usual search)")
    p.add_argument("--iterations", type=int, default=300)
    p.add_argument("--configs", type=int, default=4)
    p.add_argument("--skip-mnist", action="store_true")
    a = p.parse_args()
    bowl()
    if not a.skip_mnist:
        mnist(a.mnist_dir, a.iterations, a.configs)


if __name__ == "__main__":
    main()
