"""Fair comparisons of optimizers: the same tuning budget for each, on several seeds, the
winner re-tested on fresh seeds — on Optuna.

The protocol (Schmidt, Schneider & Hennig 2021; Sivaprasad et al. 2020):

1. every optimizer gets ``budget`` trials in its search space (:mod:`.space`), random search
   by default (the plan drawn from the seed up front) or TPE;
2. a trial runs on the *tuning seeds* (``seed + 0 … seeds − 1``); its value is the mean of the
   metric over them (:mod:`.tasks`); a diverged run is a recorded outcome, the worst value;
3. the best trial of each optimizer (ties: the earliest in the plan) is re-run on the *test
   seeds* (``seed + 1 000 000 + 0 … test_seeds − 1``), never used in tuning, and so are the
   library defaults (the zero-budget baseline);
4. the report (:mod:`.report`): median [IQR] over the test seeds, the expected best value
   against the number of trials, loss per step with a seed band, and across problems a
   performance profile and ranks.

Trials live in Optuna studies (:mod:`.study`): SQLite in the output folder by default, any
Optuna storage URL for many workers on many machines.

>>> import tempfile
>>> from descentlab import problems
>>> task = SurfaceTask(problems.get("bowl"), steps=30)
>>> r = compare([task], ["sgd", "adam"], budget=4, seeds=2, test_seeds=3,
...             storage=f"sqlite:///{tempfile.mkdtemp()}/study.db")
>>> [len(x.trial_values) for x in r.results], r.results[0].test.values.shape
([4, 4], (1, 3))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ... import plugins
from ...errors import InputError, LimitError
from . import report
from .space import Space, config_kwargs, default_config, parse_space, plan
from .study import (
    HEARTBEAT,
    StudyPlan,
    check_existing,
    completed,
    create_studies,
    open_storage,
    work,
)
from .tasks import Evaluation, MnistTask, SurfaceTask, trial_value

#: Test seeds start here (offset by ``seed``), far from the tuning seeds.
TEST_SEED_OFFSET = 1_000_000
SAMPLERS = ("random", "tpe")


def tuning_seeds(n: int, seed: int = 0) -> list[int]:
    return [seed + i for i in range(n)]


def held_out_seeds(n: int, seed: int = 0) -> list[int]:
    return [seed + TEST_SEED_OFFSET + i for i in range(n)]


@dataclass
class OptimizerResult:
    """One optimizer on one problem."""

    problem: str
    label: str
    space: Space
    trial_values: np.ndarray  #: (budget,) in plan order
    trial_configs: list[dict[str, float]]
    best_index: int
    best_config: dict[str, float]
    test: Evaluation  #: the best configuration on the test seeds (1, T), with curves
    default_config: dict[str, float]
    default: Evaluation  #: the library defaults on the test seeds

    @property
    def test_summary(self) -> tuple[float, float, float]:
        return report.median_iqr(self.test.values[0])

    @property
    def default_summary(self) -> tuple[float, float, float]:
        return report.median_iqr(self.default.values[0])


@dataclass
class CompareResult:
    tasks: list[Any]
    labels: list[str]
    metric: str
    direction: str
    budget: int
    tuning_seeds: list[int]
    test_seeds: list[int]
    sampler: str
    results: list[OptimizerResult]

    def get(self, problem: str, label: str) -> OptimizerResult:
        return next(r for r in self.results if r.problem == problem and r.label == label)

    def rows(self) -> list[dict[str, Any]]:
        """One row per problem and optimizer: tuned hyperparameters, test median [IQR], the
        value at defaults, how many test runs diverged."""
        out = []
        for r in self.results:
            med, q1, q3 = r.test_summary
            dmed, dq1, dq3 = r.default_summary
            out.append({"problem": r.problem, "optimizer": r.label,
                        "tuned": dict(r.best_config), "best_trial": r.best_index,
                        "tuning_value": float(r.trial_values[r.best_index]),
                        "test_median": med, "test_q25": q1, "test_q75": q3,
                        "test_diverged": int(r.test.diverged.sum()),
                        "default_median": dmed, "default_q25": dq1, "default_q75": dq3})
        return out

    @property
    def metric_label(self) -> str:
        """The metric as the report names it (e.g. with its target accuracy)."""
        return getattr(self.tasks[0], "metric_label", self.metric)

    def table(self) -> str:
        """The report's table as fixed-width text."""
        head = (f"{'problem':<12} {'optimizer':<16} {'tuned hyperparameters':<36} "
                f"{self.metric_label + ' median [IQR], test seeds':>34} {'at defaults':>12}")
        lines = [head, "-" * len(head)]
        for row in self.rows():
            tuned = ", ".join(f"{k}={v:.3g}" for k, v in row["tuned"].items())
            cell = (f"{row['test_median']:.3g} [{row['test_q25']:.3g}, "
                    f"{row['test_q75']:.3g}]")
            if row["test_diverged"]:
                cell += f" ({row['test_diverged']} div)"
            lines.append(f"{row['problem']:<12} {row['optimizer']:<16} {tuned:<36} "
                         f"{cell:>34} {row['default_median']:>12.3g}")
        lines.append(f"({self.budget} {self.sampler} trials per optimizer, each on "
                     f"{len(self.tuning_seeds)} tuning seeds; best re-run on "
                     f"{len(self.test_seeds)} fresh test seeds; "
                     f"{'lower' if self.direction == 'minimize' else 'higher'} is better)")
        t = self.tasks[0]
        if self.metric == "iterations_to_accuracy":
            lines.append(f"(iterations to {t.target_accuracy:g} accuracy on {t.n_val} held-out "
                         f"training images, checked every {t.check_every} iterations; not "
                         f"reached in {t.iterations}: {t.iterations + 1})")
        return "\n".join(lines)

    def expected_curves(self, problem: str) -> dict[str, tuple[np.ndarray, ...]]:
        """Per optimizer: (n, expected best of n trials, band low, band high). A diverged
        trial (∞) counts as the worst finite trial value of any optimizer on this problem —
        otherwise one diverged trial makes every small budget's expectation infinite."""
        ns = np.arange(1, self.budget + 1)
        mine = [r for r in self.results if r.problem == problem]
        finite = np.concatenate([r.trial_values[np.isfinite(r.trial_values)] for r in mine])
        cap = float(finite.max()) if finite.size else 0.0
        return {r.label: (ns, *report.expected_best(
                    np.where(np.isfinite(r.trial_values), r.trial_values, cap), ns,
                    self.direction)) for r in mine}

    def profile_costs(self) -> np.ndarray:
        """(problems, optimizers) positive costs of the test medians (see
        :func:`.report.profile_costs`): the gap to the known optimum (surfaces with a known
        minimum: f* for ``loss``, 0 for ``distance``/``steps``; accuracy: 1), else to the
        best median any optimizer reached, floored at 1e-12 × the problem's scale."""
        values = np.array([[self.get(t.name, lab).test_summary[0] for lab in self.labels]
                           for t in self.tasks])
        ref = []
        for t, row in zip(self.tasks, values):
            known = getattr(t, "problem", None) is None or any(
                m.kind == "global" for m in t.problem.minima)
            if self.direction == "maximize":
                ref.append(1.0 if self.metric == "test_accuracy" else np.max(row))
            elif known:
                ref.append(0.0)
            else:
                ref.append(np.min(row))
        ref = np.array(ref, dtype=float)
        finite = np.where(np.isfinite(values), np.abs(values), 0.0)
        scale = np.maximum(np.max(finite, axis=1), 1.0)
        return report.profile_costs(values, self.direction, ref, 1e-12 * scale)

    def rank_table(self) -> tuple[np.ndarray, np.ndarray]:
        """(problems, optimizers) ranks of the test medians and the mean rank per optimizer."""
        r = report.ranks(self.profile_costs())
        return r, r.mean(axis=0)


def _protocol(task: Any, space: Space, budget: int, tuning: list[int], sampler: str,
              seed: int) -> dict[str, Any]:
    out = {"task": task.describe(), "space": space.as_dict(), "budget": budget,
           "tuning_seeds": tuning, "sampler": sampler, "seed": seed, "version": 1}
    source = plugins.source_of(space.name)
    if source is not None:  # a user's optimizer: its code is part of the protocol
        out["plugin_sha256"] = source.sha256
    return out


def prepare(tasks: Sequence[Any], specs: Sequence[str], *, budget: int, seeds: int,
            test_seeds: int | None, seed: int, sampler: str, storage: str, study: str,
            heartbeat: int = HEARTBEAT, bulk: bool | None = None,
            ) -> tuple[Any, list[StudyPlan], list[Space]]:
    """Check everything, open the storage, create or check every study. Nothing runs.
    ``bulk``: queue trials in one transaction per study (see :mod:`.bulk`; default:
    whenever the storage allows, False: through Optuna's ``add_trial``)."""
    if not isinstance(budget, int) or budget < 1:
        raise InputError(f"--budget must be an integer >= 1, got {budget!r}")
    if not isinstance(seeds, int) or seeds < 1:
        raise InputError(f"--seeds must be an integer >= 1, got {seeds!r}")
    n_test = seeds if test_seeds is None else test_seeds
    if not isinstance(n_test, int) or n_test < 1:
        raise InputError(f"--test-seeds must be an integer >= 1, got {test_seeds!r}")
    if max(seeds, n_test) >= TEST_SEED_OFFSET:
        raise LimitError(f"--seeds/--test-seeds must be below {TEST_SEED_OFFSET:,}")
    if budget > 100_000:
        raise LimitError(f"--budget {budget} is above the limit of 100,000 trials")
    if sampler not in SAMPLERS:
        raise InputError(f"--sampler {sampler!r}: expected one of {', '.join(SAMPLERS)}")
    if not isinstance(seed, int) or seed < 0:
        raise InputError(f"--seed must be an integer >= 0, got {seed!r}")
    if not tasks:
        raise InputError("--problem: give at least one problem")
    if not specs:
        raise InputError("--optimizers: give at least one optimizer")
    spaces = [parse_space(s) for s in specs]
    labels = [s.label for s in spaces]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise InputError(f"--optimizers: {', '.join(dup)} given twice")
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise InputError(f"--problem: a problem given twice ({', '.join(names)})")
    directions = {t.direction for t in tasks}
    if len(directions) != 1:
        raise InputError("every problem of one comparison needs the same metric direction")
    tuning = tuning_seeds(seeds, seed)
    # a study per optimizer name (so another space for it under this --study is an error),
    # per spec when one name is compared in several spaces
    optimizer_names = [sp.name for sp in spaces]
    keys = [sp.name if optimizer_names.count(sp.name) == 1 else sp.label for sp in spaces]
    plans = []
    for t in tasks:
        for sp, key in zip(spaces, keys):
            configs = None if sampler == "tpe" else plan(sp, budget, seed)
            plans.append(StudyPlan(name=f"{study}/{t.name}/{key}",
                                   protocol=_protocol(t, sp, budget, tuning, sampler, seed),
                                   direction=t.direction, configs=configs, budget=budget,
                                   distributions={d.key: d for d in sp.dims}))
    store = open_storage(storage, heartbeat)
    check_existing(store, plans)  # every study checked before any is created or run
    create_studies(store, plans, sampler, seed, bulk=bulk)
    return store, plans, spaces


def evaluators(tasks: Sequence[Any], spaces: Sequence[Space], tuning: list[int]
               ) -> list[Callable]:
    """One ``evaluate(configs) -> (values, attrs)`` per study, in plan order."""
    out = []
    for t in tasks:
        for sp in spaces:
            def evaluate(configs, t=t, sp=sp):
                ev = t.evaluate(sp, configs, tuning)
                values = trial_value(ev.values, t.direction)
                attrs = [{"seeds": {"values": [float(x) for x in row],
                                    "diverged": int(d.sum())}}
                         for row, d in zip(ev.values, ev.diverged)]
                return list(values), attrs
            out.append(evaluate)
    return out


def _row(ev: Evaluation, i: int) -> Evaluation:
    return Evaluation(ev.values[i:i + 1], None if ev.curves is None else ev.curves[i:i + 1],
                      ev.diverged[i:i + 1])


def collect(store: Any, plans: list[StudyPlan], tasks: Sequence[Any],
            spaces: Sequence[Space], *, budget: int, tuning: list[int], test: list[int],
            sampler: str) -> CompareResult:
    """Read the finished studies; re-run each best configuration and the defaults on the
    test seeds. A pure function of the trial values: every worker builds the same report."""
    results = []
    it = iter(plans)
    for t in tasks:
        for sp in spaces:
            p = next(it)
            trials = completed(store, p)
            values = np.array([tr.value for tr in trials], dtype=float)
            configs = [{d.key: float(tr.params[d.key]) for d in sp.dims} for tr in trials]
            order = values if t.direction == "minimize" else -values
            best = int(np.argmin(np.where(np.isnan(order), np.inf, order)))
            dflt = default_config(sp)
            ev = t.evaluate(sp, [configs[best], dflt], test, curves=True)
            results.append(OptimizerResult(
                problem=t.name, label=sp.label, space=sp, trial_values=values,
                trial_configs=configs, best_index=best, best_config=configs[best],
                test=_row(ev, 0), default_config=dflt, default=_row(ev, 1)))
    return CompareResult(tasks=list(tasks), labels=[s.label for s in spaces],
                         metric=tasks[0].metric, direction=tasks[0].direction,
                         budget=budget, tuning_seeds=tuning, test_seeds=test,
                         sampler=sampler, results=results)


def compare(tasks: Sequence[Any], specs: Sequence[str], *, budget: int = 50, seeds: int = 5,
            test_seeds: int | None = None, seed: int = 0, sampler: str = "random",
            storage: str, study: str = "compare", chunk: int | None = None,
            heartbeat: int = HEARTBEAT, progress: Callable[[int], None] | None = None,
            bulk: bool | None = None) -> CompareResult:
    """Run (or resume) a whole comparison in this process and return its report.

    ``tasks``: :class:`SurfaceTask` / :class:`MnistTask` objects; ``specs``: optimizer search
    spaces (:func:`.space.parse_space`); ``storage``: an Optuna storage URL; ``bulk``:
    random-search trials queued, claimed and told a batch per transaction (:mod:`.bulk`;
    default whenever the storage allows; False: one trial at a time through Optuna's API —
    the same study, slower).
    """
    store, plans, spaces = prepare(tasks, specs, budget=budget, seeds=seeds,
                                   test_seeds=test_seeds, seed=seed, sampler=sampler,
                                   storage=storage, study=study, heartbeat=heartbeat,
                                   bulk=bulk)
    tuning = tuning_seeds(seeds, seed)
    work(store, plans, evaluators(tasks, spaces, tuning), sampler=sampler, seed=seed,
         chunk=chunk, heartbeat=heartbeat, progress=progress, bulk=bulk)
    test = held_out_seeds(seeds if test_seeds is None else test_seeds, seed)
    return collect(store, plans, tasks, spaces, budget=budget, tuning=tuning, test=test,
                   sampler=sampler)


__all__ = ["compare", "prepare", "collect", "evaluators", "CompareResult", "OptimizerResult",
           "SurfaceTask", "MnistTask", "parse_space", "config_kwargs", "tuning_seeds",
           "held_out_seeds", "TEST_SEED_OFFSET"]
