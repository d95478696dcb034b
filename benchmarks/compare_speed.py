"""How fast is a comparison? Everything measured side by side in this one run.

1. The bowl study of the issue — 6 optimizers × 50 trials × 5 seeds × 100 steps, then the
   best of each and its defaults re-run on 5 test seeds — three ways, each in a fresh SQLite
   study (imports warmed up first, for all alike):

   * ``descentlab compare`` as it runs: random-search trials planned up front, each
     optimizer's 50 × 5 runs ONE vectorised computation, queued/claimed/told in bulk
     (one storage transaction per batch, :mod:`descentlab.lab.compare.bulk`);
   * the same vectorised evaluations with Optuna's per-trial bookkeeping (``bulk=False``);
   * the loop a user would write: an Optuna objective per optimizer (``study.optimize``,
     the same planned configurations enqueued so both sides run the same trials) that runs
     each trial's seeds one by one through the plain per-run engine (``run_batch`` of one
     row, scalar hyperparameters), then re-tests the best the same way. Its storage is the
     same kind, with the same fast SQLite settings and no heartbeat thread (the cheapest
     per-trial Optuna gets).

   The benchmark asserts that all three hold the same trials: the same configurations and
   the same values bit for bit, and the same test-seed results.

   TPE is not batched: each TPE proposal depends on the trials told before it, so a TPE
   study runs trial by trial through ask-and-tell (``--tpe`` times it).
2. An MNIST study: the cost of one trial-seed (training one network for N iterations inside
   a study of M configurations sharing mini-batches) against one plain ``mnist`` training
   run of one optimizer, and where the time goes (gradient, update, batch gathering); and
   the ``iterations_to_accuracy`` metric (accuracy checks every K iterations) against the
   plain run.

    python benchmarks/compare_speed.py [--mnist-dir ../shared/data/mnist] [--iterations 300]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from descentlab import optim, problems
from descentlab.lab.compare import SurfaceTask, compare, held_out_seeds, parse_space
from descentlab.lab.compare.space import default_config, plan
from descentlab.lab.compare.study import fast_sqlite, open_storage
from descentlab.lab.engine import draw_starts, run_batch

SIX = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]


def _warm_up(folder: Path) -> None:
    """Import Optuna, SQLAlchemy and alembic and create one storage, so neither side below
    pays the one-time import cost."""
    import optuna

    open_storage(f"sqlite:///{folder}/warm.db")
    optuna.create_study(storage=f"sqlite:///{folder}/warm2.db")


def _loop_storage(url: str):
    """What a user gets from ``optuna.storages.RDBStorage(url)``, with our SQLite settings."""
    from optuna.storages import RDBStorage

    storage = RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})
    fast_sqlite(storage.engine)
    return storage


def one_run(task: SurfaceTask, name: str, config: dict, seed: int, keep_path: bool):
    """One run, one seed, scalar hyperparameters: the plain per-run engine."""
    start = draw_starts(task.problem, task.start, task.spread, [seed])
    b = run_batch(task.problem, optim.create(name, **config), start, task.steps,
                  keep_path=keep_path, noise=task.noise, seeds=[seed])
    with np.errstate(all="ignore"):
        v = float(task.problem.f(b.final)[0]) - task.f_star
    return (np.inf if b.diverged_at[0] >= 0 or not np.isfinite(v) else v), b


def loop_study(task: SurfaceTask, budget: int, seeds: int, url: str) -> tuple[dict, float]:
    """The trial-by-trial study a user would write with Optuna; returns what it found and
    the seconds spent in the runs themselves."""
    import optuna

    storage = _loop_storage(url)
    found: dict = {}
    run_time = [0.0]
    for name in SIX:
        sp = parse_space(name)
        study = optuna.create_study(study_name=name, storage=storage,
                                    sampler=optuna.samplers.RandomSampler(seed=0))
        for c in plan(sp, budget, 0):
            study.enqueue_trial(c)

        def objective(trial, sp=sp, name=name):
            config = {d.key: trial.suggest_float(d.key, d.low, d.high, log=d.log)
                      for d in sp.dims}
            t0 = time.perf_counter()
            vals = [one_run(task, name, config, s, False)[0] for s in range(seeds)]
            run_time[0] += time.perf_counter() - t0
            trial.set_user_attr("seeds", {"values": vals,
                                          "diverged": int(sum(np.isinf(vals)))})
            return float(np.mean(vals))

        study.optimize(objective, n_trials=budget)
        trials = study.get_trials()
        values = np.array([t.value for t in trials])
        best = trials[int(np.argmin(values))]
        t0 = time.perf_counter()
        test = [[one_run(task, name, c, s, True)[0] for s in held_out_seeds(seeds)]
                for c in (best.params, default_config(sp))]
        run_time[0] += time.perf_counter() - t0
        found[name] = ([t.params for t in trials], values, np.array(test))
    return found, run_time[0]


def bowl(budget: int = 50, seeds: int = 5, steps: int = 100, tpe: bool = False) -> None:
    task = SurfaceTask(problems.get("bowl"), steps=steps, noise=0.5, spread=1.0)
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        _warm_up(folder)
        times = []
        for rep in range(3):  # short: the median of three, each in a fresh study
            t0 = time.perf_counter()
            fast = compare([task], SIX, budget=budget, seeds=seeds,
                           storage=f"sqlite:///{folder}/bulk{rep}.db")
            times.append(time.perf_counter() - t0)
        study = float(np.median(times))

        t0 = time.perf_counter()
        slow = compare([task], SIX, budget=budget, seeds=seeds,
                       storage=f"sqlite:///{folder}/api.db", bulk=False)
        api = time.perf_counter() - t0

        t0 = time.perf_counter()
        found, loop_runs = loop_study(task, budget, seeds, f"sqlite:///{folder}/loop.db")
        loop = time.perf_counter() - t0

        tpe_time = None
        if tpe:
            t0 = time.perf_counter()
            compare([task], SIX, budget=budget, seeds=seeds, sampler="tpe",
                    storage=f"sqlite:///{folder}/tpe.db")
            tpe_time = time.perf_counter() - t0

    seed_list = list(range(seeds))
    t0 = time.perf_counter()
    for name in SIX:  # the study's tuning evaluations alone, vectorised per optimizer
        sp = parse_space(name)
        task.evaluate(sp, plan(sp, budget, 0), seed_list)
    vector = time.perf_counter() - t0

    # the same trials everywhere: configurations, values bit for bit, test-seed results
    assert fast.rows() == slow.rows()
    for name in SIX:
        r, (configs, values, test) = fast.get("bowl", name), found[name]
        assert r.trial_configs == configs, name
        assert np.array_equal(r.trial_values, values), name
        assert np.array_equal(r.test.values[0], test[0]), name
        assert np.array_equal(r.default.values[0], test[1]), name

    runs = len(SIX) * budget * seeds
    print(f"bowl study: {len(SIX)} optimizers x {budget} trials x {seeds} seeds x {steps} steps"
          f" = {runs} tuning runs (+ {len(SIX) * 2 * seeds} test runs); SQLite")
    print(f"  vectorised, bulk bookkeeping (descentlab compare)   {study:7.2f} s "
          f"(median of {', '.join(f'{t:.2f}' for t in times)})")
    print(f"  vectorised, Optuna's per-trial bookkeeping         {api:7.2f} s")
    print(f"  trial by trial: Optuna objective, one run per seed {loop:7.2f} s "
          f"(runs {loop_runs:.2f} s, Optuna {loop - loop_runs:.2f} s)")
    print(f"  the tuning evaluations alone, vectorised           {vector:7.3f} s "
          f"(loop's runs / these: {loop_runs / vector:.0f} x)")
    print(f"  loop / vectorised study                            {loop / study:7.1f} x "
          f"(target >= 50 x; whole study target < 5 s)")
    print(f"  loop's runs alone (no Optuna) / vectorised study   {loop_runs / study:7.1f} x")
    print(f"  per-trial bookkeeping / bulk                       {api / study:7.1f} x")
    print("  same configurations, values (bit for bit) and test results on all three: yes")
    if tpe_time is not None:
        print(f"  TPE study (sequential: one trial per ask-and-tell)  {tpe_time:7.2f} s")


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
    if "iterations_to_accuracy" in getattr(MnistTask, "METRICS", ()):
        acc = MnistTask(x, t, xt, tt, iterations=iterations, metric="iterations_to_accuracy",
                        target_accuracy=0.9)
        t0 = time.perf_counter()
        ev = acc.evaluate(sp, cfg, [0])
        per = (time.perf_counter() - t0) / configs
        print(f"  iterations_to_accuracy 0.9 (check every {acc.check_every}, "
              f"{len(acc.x_val)} held-out images), one trial-seed  {per:6.2f} s "
              f"({per / plain:.2f}x the plain run; reached at {ev.values[:, 0].tolist()})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mnist-dir", default=None, help="MNIST IDX folder (else the usual search)")
    p.add_argument("--iterations", type=int, default=300)
    p.add_argument("--configs", type=int, default=4)
    p.add_argument("--skip-mnist", action="store_true")
    p.add_argument("--tpe", action="store_true", help="also time the study with TPE")
    a = p.parse_args()
    bowl(tpe=a.tpe)
    if not a.skip_mnist:
        mnist(a.mnist_dir, a.iterations, a.configs)


if __name__ == "__main__":
    main()
