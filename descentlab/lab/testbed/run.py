"""Running the protocol of :mod:`descentlab.lab.testbed`: tune (Optuna, many workers),
set the targets, test, and hold everything the report needs in a :class:`BenchmarkResult`.

>>> import tempfile
>>> d = tempfile.mkdtemp()
>>> r = benchmark({"nqm": {"dim": 10, "steps": 40, "eval_every": 10}}, ["sgd", "adam"],
...               budget=3, seeds=1, test_seeds=3, out=d)
>>> [len(r.trials[("nqm", o)][0]) for o in r.labels], len(r.runs)
([3, 3], 12)

With ``studies=3`` each optimizer is tuned in three independent studies of ``budget``
trials (AlgoPerf's external tuning) and the median study's best configuration is tested:

>>> r = benchmark({"nqm": {"dim": 10, "steps": 40, "eval_every": 10}}, ["sgd"], budget=2,
...               seeds=1, test_seeds=2, studies=3, out=tempfile.mkdtemp())
>>> r.trials[("nqm", "sgd")][2].tolist(), len(r.study_best[("nqm", "sgd")])
([0, 0, 1, 1, 2, 2], 3)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputError
from ..compare import TEST_SEED_OFFSET, evaluators, prepare
from ..compare.space import Space, default_config
from ..compare.study import HEARTBEAT, completed, create_studies, work
from . import (
    TestRun,
    WorkloadObjective,
    cost_of,
    metric_of,
    read_tests,
    seeds_for,
    target_rule,
    test_evaluator,
    test_plan,
)

#: Study k of an optimizer draws its plan and tuning seeds from ``seed + STUDY_STRIDE · k``.
STUDY_STRIDE = 1000


def study_name(study: str, k: int) -> str:
    """The storage name of tuning study ``k`` (study 0 keeps the plain name)."""
    return study if k == 0 else f"{study}/study{k}"


def median_study(best_costs: Sequence[float]) -> int:
    """Which study's best configuration an optimizer carries to the test seeds: the median
    of its studies' best tuning costs (ties: the earlier study; an even number: the lower
    middle one), AlgoPerf's median over studies.

    >>> median_study([0.3, 0.1, 0.2, float("inf"), 0.25])
    4
    """
    order = sorted(range(len(best_costs)), key=lambda k: (best_costs[k], k))
    return order[(len(order) - 1) // 2]


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
    #: (workload, optimizer) → (trial values, configs, study of each trial), study order
    trials: dict[tuple[str, str], tuple[np.ndarray, list[dict[str, float]], np.ndarray]]
    best: dict[tuple[str, str], dict[str, float]]
    defaults: dict[str, dict[str, float]]
    #: the target (metric value) of every workload and of every held-out variant ("w:v")
    targets: dict[str, float]
    runs: list[TestRun]
    variants: dict[str, list[str]]
    studies: int = 1
    #: (workload, optimizer) → the best tuning cost of each study
    study_best: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    #: (workload, optimizer) → the study whose best configuration was tested
    chosen: dict[tuple[str, str], int] = field(default_factory=dict)

    def select(self, workload: str, optimizer: str, config: str = "tuned",
               variant: str = "") -> list[TestRun]:
        """The test runs of one optimizer on one workload (in test-seed order)."""
        return [r for r in self.runs if r.workload == workload and r.variant == variant
                and r.optimizer == optimizer and r.config == config]


def benchmark(workload_settings: dict[str, dict[str, Any]], optimizers: Sequence[str], *,
              budget: int, seeds: int, test_seeds: int, out: str | Path,
              variants: dict[str, Sequence[str]] | None = None, seed: int = 0,
              studies: int = 1,
              storage: str | None = None, study: str = "benchmark",
              heartbeat: int = HEARTBEAT, chunk: int | None = None,
              tuning_progress: Callable[[int], None] | None = None,
              test_progress: Callable[[int], None] | None = None,
              worker_only: bool = False, max_trials: int | None = None,
              prepared: Callable[[], None] | None = None) -> BenchmarkResult | None:
    """Run (or resume) a benchmark; ``None`` when ``worker_only`` (a helper worker: it tunes
    and tests, the main process reports) or ``max_trials`` (tuning trials and test runs)
    stopped it early. ``prepared`` is called once every study exists (to
    start helper workers). ``storage``: an Optuna URL (default SQLite
    ``out/study.db``), which holds the test runs too (:func:`~.test_plan`). ``studies``: tuning
    studies of ``budget`` trials per optimizer (study k: plan and tuning seeds from
    ``seed + STUDY_STRIDE · k``); the median study's best configuration is tested."""
    if not isinstance(test_seeds, int) or test_seeds < 1:
        raise InputError(f"--test-seeds must be an integer >= 1, got {test_seeds!r}")
    if isinstance(studies, bool) or not isinstance(studies, int) or studies < 1:
        raise InputError(f"--studies must be an integer >= 1, got {studies!r}")
    if studies > 1 and (not isinstance(seeds, int) or seeds > STUDY_STRIDE
                        or STUDY_STRIDE * studies >= TEST_SEED_OFFSET):
        raise InputError(f"--seeds {seeds} × --studies {studies}: each study's tuning seeds "
                         f"must stay below {STUDY_STRIDE} and the studies below "
                         f"{TEST_SEED_OFFSET // STUDY_STRIDE}")
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
    plans, evaluate = [], []
    for k in range(studies):               # plans[k * W * O + w * O + o]
        store, plans_k, spaces = prepare(
            objectives, list(optimizers), budget=budget, seeds=seeds, test_seeds=test_seeds,
            seed=seed + STUDY_STRIDE * k, sampler="random", storage=url,
            study=study_name(study, k), heartbeat=heartbeat)
        plans += plans_k
        evaluate += evaluators(objectives, spaces,
                               seeds_for(seeds, test_seeds, seed + STUDY_STRIDE * k)[0])
    tuning, test = seeds_for(seeds, test_seeds, seed)
    if prepared is not None:
        prepared()
    if tuning_progress is not None:
        tuning_progress(0)                       # the phase starts (0 done)
    ran = work(store, plans, evaluate, seed=seed, chunk=chunk,
               heartbeat=heartbeat, progress=tuning_progress, max_trials=max_trials)
    if max_trials is not None and ran >= max_trials:
        return None
    labels = [s.label for s in spaces]
    trials, best, targets, study_best, chosen = {}, {}, {}, {}, {}
    n_opt = len(spaces)
    for w, obj in enumerate(objectives):
        best_costs = []
        for o, sp in enumerate(spaces):
            key = (obj.name, sp.label)
            values, configs, which, bests, best_configs = [], [], [], [], []
            for k in range(studies):
                done = completed(store, plans[(k * len(objectives) + w) * n_opt + o])
                v = np.array([t.value for t in done], dtype=float)
                v = np.where(np.isnan(v), np.inf, v)
                c = [{d.key: float(t.params[d.key]) for d in sp.dims} for t in done]
                i = int(np.argmin(v))
                values.append(v)
                configs += c
                which += [k] * len(c)
                bests.append(float(v[i]))
                best_configs.append(c[i])
            chosen[key] = median_study(bests)
            study_best[key] = bests
            trials[key] = (np.concatenate(values), configs, np.array(which))
            best[key] = best_configs[chosen[key]]
            best_costs.append(bests[chosen[key]])
        targets[obj.name] = metric_of(obj.target, target_rule(best_costs))
    defaults = {sp.label: default_config(sp) for sp in spaces}
    if test_progress is not None:
        test_progress(0)                         # the phase starts (tuning has ended)
    # each held-out variant's own target: its tuned baselines run on it (tuning seeds)
    calibration = [(var, sp, test_plan(f"{study}/target", var, sp,
                                       {"tuned": best[(obj.name, sp.label)]}, tuning))
                   for obj in objectives for var in held_out.get(obj.name, [])
                   for sp in spaces]
    create_studies(store, [p for _, _, p in calibration], "random", seed)
    ran += work(store, [p for _, _, p in calibration],
                [test_evaluator(var, sp, {"tuned": best[(var.workload, sp.label)]}, tuning)
                 for var, sp, _ in calibration], seed=seed, chunk=chunk, heartbeat=heartbeat,
                progress=test_progress,
                max_trials=None if max_trials is None else max_trials - ran)
    if max_trials is not None and ran >= max_trials:
        return None
    for obj in objectives:
        for var in held_out.get(obj.name, []):
            costs = [variant_cost(var, read_tests(store, p))
                     for v, _, p in calibration if v is var]
            targets[var.name] = metric_of(var.target, target_rule(costs))
    test_plans, test_evaluate = [], []
    for obj in objectives:
        obj.set_target(targets[obj.name])
        for var in held_out.get(obj.name, []):
            var.set_target(targets[var.name])
        for sp in spaces:
            tuned = {"tuned": best[(obj.name, sp.label)]}
            for o, configs in [(obj, {**tuned, "default": defaults[sp.label]}),
                               *((var, tuned) for var in held_out.get(obj.name, []))]:
                test_plans.append(test_plan(study, o, sp, configs, test))
                test_evaluate.append(test_evaluator(o, sp, configs, test))
    create_studies(store, test_plans, "random", seed)
    more = work(store, test_plans, test_evaluate, seed=seed, chunk=chunk, heartbeat=heartbeat,
                progress=test_progress,
                max_trials=None if max_trials is None else max_trials - ran)
    if worker_only or (max_trials is not None and ran + more >= max_trials):
        return None
    runs = [r for p in test_plans for r in read_tests(store, p)]
    return BenchmarkResult(objectives=objectives, labels=labels, spaces=spaces,
                           budget=budget, tuning_seeds=tuning, test_seeds=test,
                           trials=trials, best=best, defaults=defaults, targets=targets,
                           runs=runs, variants=variants, studies=studies,
                           study_best=study_best, chosen=chosen)


def variant_cost(objective: WorkloadObjective, runs: Sequence[TestRun]) -> float:
    """A tuned baseline's cost on a held-out variant, as a tuning trial's value: the mean
    over its (tuning-seed) runs of the final validation cost (a diverged run: ∞).

    >>> from descentlab.lab.testbed import TestRun
    >>> obj = WorkloadObjective("nqm", {"dim": 5, "steps": 4, "eval_every": 2}, "steep")
    >>> run = dict(workload="nqm", variant="steep", optimizer="sgd", config="tuned",
    ...            target=0.0, reached_at=4, cpu_at_target=0.0, cpu_seconds=0.0,
    ...            wall_seconds=0.0, diverged=False)
    >>> variant_cost(obj, [TestRun(seed=0, final=0.25, **run), TestRun(seed=1, final=0.75,
    ...                                                              **run)])
    0.5
    """
    return float(np.mean([cost_of(objective.target, {objective.target.metric: r.final})
                          for r in runs])) if runs else math.inf


def count_test_runs(n_workloads: int, n_variants: int, n_optimizers: int, test_seeds: int,
                    tuning_seeds: int = 0) -> int:
    """How many test runs a benchmark makes (for the progress bar), counting the runs that
    set the variants' targets (``tuning_seeds`` per optimizer and variant)."""
    return n_optimizers * (test_seeds * (2 * n_workloads + n_variants)
                           + tuning_seeds * n_variants)


__all__ = ["BenchmarkResult", "benchmark", "count_test_runs", "variant_cost", "median_study",
           "study_name", "STUDY_STRIDE"]
