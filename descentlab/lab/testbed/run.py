"""Running the protocol of :mod:`descentlab.lab.testbed`: tune (Optuna, many workers),
set the targets, test, and hold everything the report needs in a :class:`BenchmarkResult`.

>>> import tempfile
>>> d = tempfile.mkdtemp()
>>> r = benchmark({"nqm": {"dim": 10, "steps": 40, "eval_every": 10}}, ["sgd", "adam"],
...               budget=3, seeds=1, test_seeds=3, out=d)
>>> [len(r.trials[("nqm", o)][0]) for o in r.labels], len(r.runs)
([3, 3], 12)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputError
from ..compare import evaluators, prepare
from ..compare.space import Space, default_config
from ..compare.study import HEARTBEAT, completed, work
from . import Journal, TestRun, WorkloadObjective, metric_of, run_tests, seeds_for, target_rule


@dataclass
class BenchmarkResult:
    """Everything measured: per (workload, optimizer) the trial values and configs (plan
    order) and the best config; per workload the target (metric value); every test run."""

    objectives: list[WorkloadObjective]
    labels: list[str]
    spaces: list[Space]
    budget: int
    tuning_seeds: list[int]
    test_seeds: list[int]
    trials: dict[tuple[str, str], tuple[np.ndarray, list[dict[str, float]]]]
    best: dict[tuple[str, str], dict[str, float]]
    defaults: dict[str, dict[str, float]]
    targets: dict[str, float]
    runs: list[TestRun]
    variants: dict[str, list[str]]

    def select(self, workload: str, optimizer: str, config: str = "tuned",
               variant: str = "") -> list[TestRun]:
        """The test runs of one optimizer on one workload (in test-seed order)."""
        return [r for r in self.runs if r.workload == workload and r.variant == variant
                and r.optimizer == optimizer and r.config == config]


def benchmark(workload_settings: dict[str, dict[str, Any]], optimizers: Sequence[str], *,
              budget: int, seeds: int, test_seeds: int, out: str | Path,
              variants: dict[str, Sequence[str]] | None = None, seed: int = 0,
              storage: str | None = None, study: str = "benchmark",
              heartbeat: int = HEARTBEAT, chunk: int | None = None,
              tuning_progress: Callable[[int], None] | None = None,
              test_progress: Callable[[int], None] | None = None,
              tune_only: bool = False, max_trials: int | None = None,
              prepared: Callable[[], None] | None = None) -> BenchmarkResult | None:
    """Run (or resume) a benchmark; ``None`` when ``tune_only`` (a helper worker) or
    ``max_trials`` stopped it early. ``prepared`` is called once every study exists (to
    start helper workers). ``storage``: an Optuna URL (default SQLite
    ``out/study.db``); the test journal is ``out/test_runs.jsonl``."""
    if not isinstance(test_seeds, int) or test_seeds < 1:
        raise InputError(f"--test-seeds must be an integer >= 1, got {test_seeds!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    url = storage or f"sqlite:///{(out / 'study.db').resolve()}"
    variants = {k: list(v) for k, v in (variants or {}).items()}
    unknown = sorted(set(variants) - set(workload_settings))
    if unknown:
        raise InputError(f"variants given for workloads not benchmarked: {', '.join(unknown)}")
    objectives = [WorkloadObjective(name, s) for name, s in workload_settings.items()]
    held_out = {name: [WorkloadObjective(name, workload_settings[name], v) for v in vs]
                for name, vs in variants.items()}
    store, plans, spaces = prepare(objectives, list(optimizers), budget=budget, seeds=seeds,
                                   test_seeds=test_seeds, seed=seed, sampler="random",
                                   storage=url, study=study, heartbeat=heartbeat)
    tuning, test = seeds_for(seeds, test_seeds, seed)
    if prepared is not None:
        prepared()
    if tuning_progress is not None:
        tuning_progress(0)                       # the phase starts (0 done)
    work(store, plans, evaluators(objectives, spaces, tuning), seed=seed, chunk=chunk,
         heartbeat=heartbeat, progress=tuning_progress, max_trials=max_trials)
    if tune_only or max_trials is not None:
        return None
    labels = [s.label for s in spaces]
    trials, best, targets = {}, {}, {}
    it = iter(plans)
    for obj in objectives:
        best_costs = []
        for sp in spaces:
            done = completed(store, next(it))
            values = np.array([t.value for t in done], dtype=float)
            configs = [{d.key: float(t.params[d.key]) for d in sp.dims} for t in done]
            i = int(np.argmin(np.where(np.isnan(values), np.inf, values)))
            trials[(obj.name, sp.label)] = (values, configs)
            best[(obj.name, sp.label)] = configs[i]
            best_costs.append(float(values[i]))
        targets[obj.name] = metric_of(obj.target, target_rule(best_costs))
    journal = Journal(out / "test_runs.jsonl")
    defaults = {sp.label: default_config(sp) for sp in spaces}
    runs: list[TestRun] = []
    if test_progress is not None:
        test_progress(0)
    for obj in objectives:
        obj.set_target(targets[obj.name])
        for sp in spaces:
            runs += run_tests(journal, obj, sp, {"tuned": best[(obj.name, sp.label)],
                                                 "default": defaults[sp.label]},
                              test, test_progress)
        for var in held_out.get(obj.name, []):
            var.set_target(targets[obj.name])
            for sp in spaces:
                runs += run_tests(journal, var, sp, {"tuned": best[(obj.name, sp.label)]},
                                  test, test_progress)
    return BenchmarkResult(objectives=objectives, labels=labels, spaces=spaces,
                           budget=budget, tuning_seeds=tuning, test_seeds=test,
                           trials=trials, best=best, defaults=defaults, targets=targets,
                           runs=runs, variants=variants)


def count_test_runs(n_workloads: int, n_variants: int, n_optimizers: int, test_seeds: int
                   ) -> int:
    """How many test runs a benchmark makes (for the progress bar)."""
    return n_optimizers * test_seeds * (2 * n_workloads + n_variants)


__all__ = ["BenchmarkResult", "benchmark", "count_test_runs"]
