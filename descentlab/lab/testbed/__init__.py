"""The optimizer testbed: every optimizer tuned with the same budget on real workloads
(:mod:`descentlab.lab.workloads`), scored by the steps it needs to reach a validation
target, with bootstrap intervals and pairwise verdicts (:mod:`.stats`) — on the compare
machinery (:mod:`descentlab.lab.compare`: Optuna studies, planned random search, exactly
``budget`` trials however many workers, resumable).

The protocol (after AlgoPerf, Dahl et al. 2023, and Crowded Valley, Schmidt et al. 2021):

1. **Tuning.** Each optimizer gets ``budget`` random-search trials over its declared search
   space (:func:`descentlab.optim.search_space`). A trial trains the workload on the
   *tuning seeds* for the workload's full step budget; its value is the mean over those
   seeds of the final *validation cost* — the target metric itself when it is minimised
   (loss, bits per character), 1 − the metric when it is maximised (accuracy → error);
   a diverged run costs ∞.
2. **Target.** AlgoPerf sets each workload's target from the best tuned baseline. Here the
   target is set from the tuned optimizers of the run: the median, over the optimizers, of
   each one's best tuning value (``target_rule``). So roughly half of them reach it
   and time-to-target separates them; it uses tuning seeds only, never the test seeds it is
   scored on.
3. **Test.** Each optimizer's best trial (ties: earliest in the plan) and its library
   defaults (the zero-budget baseline) are re-run on ``test_seeds`` fresh seeds
   (``seed + 1 000 000 + j``, never used in tuning); recorded per run: the validation curve,
   the first evaluated step meeting the target (steps to target), the CPU seconds of
   training up to then and in all (evaluation excluded), the final validation metric.
4. **Held-out variants** (other widths, activations, data sizes; never seen while tuning):
   the tuned configuration of the base workload re-run on the test seeds of each variant,
   reported separately and scored against the **variant's own target** (AlgoPerf sets one
   per held-out workload from baselines run on it): each optimizer's tuned configuration is
   first trained on the variant on the tuning seeds; the target is the median over the
   optimizers of its mean final validation cost there (``target_rule``, as in 2).
5. **Statistics** (:mod:`.stats`): every number with a 95 % percentile-bootstrap interval
   over the test seeds; for every pair of optimizers on every workload the paired sign-flip
   test on steps to target (a run that never reaches the target counts as ``steps +
   eval_every``: censored just past the budget), Holm-corrected over the workload's pairs,
   level 0.05 → "faster / slower / cannot tell".
6. **Aggregate:** performance profiles (Dolan & Moré 2002) of the median steps to target
   (∞ when half or more of the seeds never reach it) and of the median CPU seconds to
   target, ranks per workload, and AlgoPerf's integrated score (profile integrated up to
   τ = 4, normalised to [0, 1]).

Trials live in an Optuna study (``NAME/workload/optimizer``), and so do the test runs
(``NAME/test/workload/optimizer/HASH``, one planned trial per run, :func:`test_plan`): any
number of workers share both phases, and an interrupted benchmark resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ... import optim
from ...errors import InputError, NonFiniteError
from .. import workloads
from ..compare import TEST_SEED_OFFSET, held_out_seeds, tuning_seeds
from ..compare.space import Dim, Space, config_kwargs
from ..compare.study import StudyPlan, completed
from ..compare.tasks import Evaluation, stacked
from ..workloads import RunResult, Target


@dataclass(frozen=True)
class Preset:
    """A benchmark's settings: optimizers, workloads (with settings overriding their
    defaults), held-out variants per workload, trials per tuning study (``budget``), tuning
    studies per optimizer (``studies``, AlgoPerf's S), tuning and test seeds."""

    optimizers: tuple[str, ...]
    workloads: dict[str, dict[str, Any]]
    variants: dict[str, tuple[str, ...]]
    budget: int
    seeds: int
    test_seeds: int
    studies: int = 1


_SMALL_MNIST = {"n_train": 4000, "n_valid": 1000, "batch_size": 64}
#: The classic lineage and the modern family (``standard``). Left out: muon (it updates 2-D
#: parameters only; every workload but the NQM has biases or convolution kernels).
CLASSIC = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam")
MODERN = ("adamw", "nadam", "radam", "lion", "adan", "ademamix", "schedule_free_adamw")
#: The presets. ``smoke``: six optimizers, every workload shrunk (a few hundred steps on a
#: few thousand images; the autoencoder 784-128-32-128-784, the CNN conv8-conv16, 500
#: validation images), one tuning study of 4 trials, 10 test seeds (minutes);
#: ``standard``: the classic lineage and the modern family, AlgoPerf's external tuning
#: (5 studies × 5 trials, median study), 14 test seeds — with 14 optimizers (91 pairs) Holm
#: needs p < 0.05/91 ≈ 0.00055, which 10 seeds (smallest p 2/2¹⁰ ≈ 0.002) can never give;
#: sized to about 3–4 CPU hours (docs/benchmark.md, benchmarks/benchmark_estimate.py): the
#: NQM, logreg and the MLP at their own budgets, the autoencoder (784-128-32-128-784), the
#: CNN (conv8-conv16, batch 32, 1,000 validation images) and the character model (hidden
#: 64, windows of 32) smaller and shorter — at their own budgets, with their variants,
#: these three were 39.9 of the 43.8 estimated CPU hours — and one cheap held-out variant
#: per workload (three on the NQM).
PRESETS: dict[str, Preset] = {
    "smoke": Preset(
        optimizers=("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"),
        workloads={
            "nqm": {"steps": 300, "eval_every": 20},
            "logreg": {**_SMALL_MNIST, "steps": 150, "eval_every": 15},
            "mlp": {**_SMALL_MNIST, "steps": 150, "eval_every": 15},
            "autoencoder": {**_SMALL_MNIST, "steps": 150, "eval_every": 15,
                            "hidden": (128, 32, 128)},
            "cnn": {**_SMALL_MNIST, "n_valid": 500, "batch_size": 32, "steps": 60,
                    "eval_every": 10, "channels": (8, 16)},
            "charlm": {"steps": 100, "eval_every": 10, "batch_size": 16, "seq_len": 32,
                       "hidden_size": 64, "max_eval_chars": 4000},
        },
        variants={"nqm": ("steep",), "mlp": ("tanh",), "charlm": ("short",)},
        budget=4, seeds=1, test_seeds=10, studies=1),
    "standard": Preset(
        optimizers=CLASSIC + MODERN,
        workloads={
            "nqm": {}, "logreg": {}, "mlp": {},
            "autoencoder": {"hidden": (128, 32, 128), "steps": 800, "eval_every": 80},
            "cnn": {"channels": (8, 16), "batch_size": 32, "n_valid": 1000, "steps": 400,
                    "eval_every": 40},
            "charlm": {"hidden_size": 64, "seq_len": 32, "steps": 800, "eval_every": 80},
        },
        variants={"nqm": ("steep", "wide", "small-batch"), "logreg": ("small-data",),
                  "mlp": ("tanh",), "autoencoder": ("narrow",), "cnn": ("small-data",),
                  "charlm": ("short",)},
        budget=5, seeds=1, test_seeds=14, studies=5),
}
#: Settings a ``scale`` multiplies (rounded, at least 1; evaluations keep ≥ 2 per run).
SCALED = ("steps", "n_train", "n_valid")
MNIST_WORKLOADS = ("logreg", "mlp", "autoencoder", "cnn")


def cost_of(target: Target, metrics: dict[str, float]) -> float:
    """The validation cost tuning minimises: the target's metric, or 1 − it when it is
    maximised (accuracy → error); ∞ when it is not finite.

    >>> cost_of(Target("accuracy", 0.9, "max"), {"accuracy": 0.75})
    0.25
    """
    v = float(metrics.get(target.metric, math.nan))
    if not math.isfinite(v):
        return math.inf
    return v if target.mode == "min" else 1.0 - v


def metric_of(target: Target, cost: float) -> float:
    """The metric value of a cost (the inverse of :func:`cost_of`)."""
    return cost if target.mode == "min" else 1.0 - cost


def variant_settings(workload: str, variant: str, settings: dict[str, Any]) -> dict[str, Any]:
    """A held-out variant's settings: the base workload's (a preset's) with the variant's
    own winning; an InputError naming the variant when a smaller-data variant would train
    on no fewer images than the base.

    >>> variant_settings("mlp", "tanh", {"steps": 150, "activation": "relu"})
    {'steps': 150, 'activation': 'tanh'}
    """
    changed = workloads.VARIANTS.get(workload, {}).get(variant, {})
    for key, value in changed.items():
        if key == "n_train" and key in settings and value >= settings[key]:
            raise InputError(
                f"variant {workload}:{variant} trains on {value} images, not fewer than the "
                f"base workload's n_train {settings[key]}: leave it out of this preset (or "
                f"--no-variants)")
    return {**settings, **changed}


class WorkloadObjective:
    """A workload as a :mod:`descentlab.lab.compare` problem: ``evaluate(space, configs,
    seeds)`` trains every configuration on every seed and returns the final validation
    costs (direction "minimize"). ``runs(...)`` returns the full :class:`RunResult` s."""

    direction = "minimize"

    def __init__(self, workload: str, settings: dict[str, Any], variant: str | None = None
                 ) -> None:
        self.workload, self.variant = workload, variant
        self.settings = dict(settings)
        if variant is not None:
            settings = variant_settings(workload, variant, settings)
        self.task = workloads.make(workload, variant=variant, **settings)
        self.name = self.task.name
        self.metric = f"valid_{self.task.target.metric}_cost"

    @property
    def target(self) -> Target:
        return self.task.target

    def set_target(self, value: float) -> None:
        """Score steps to ``value`` of the target's metric from now on."""
        t = self.task.target
        self.task.target = Target(t.metric, float(value), t.mode)

    def batch_bytes(self, configs: int, seeds: int, curves: bool = False) -> float:
        """Estimated memory of ``configs`` × ``seeds`` runs for compare's limits
        (:func:`descentlab.lab.compare.check_size`): the runs train one after another, so
        what grows with the batch is the validation curves kept, one value and one step per
        evaluation and run (a workload's one network is laptop-sized by design)."""
        evaluations = self.task.steps // max(int(self.task.eval_every), 1) + 1
        return 16.0 * float(configs) * float(seeds) * evaluations

    def describe(self) -> dict[str, Any]:
        return {"kind": "workload", "workload": self.workload, "variant": self.variant,
                "settings": {k: v for k, v in self.settings.items() if k != "data_dir"},
                "steps": self.task.steps, "eval_every": self.task.eval_every,
                "batch_size": self.task.batch_size, "metric": self.task.target.metric}

    def runs(self, space: Space, configs: list[dict[str, float]], seeds: Sequence[int]
             ) -> list[list[Any]]:
        """(M configurations) × (S seeds) RunResults. The NQM runs them all as one array
        when the optimizer is element-wise (:meth:`NoisyQuadraticTask.run_many`)."""
        seeds = [int(s) for s in seeds]
        task = self.task
        if isinstance(task, workloads.NoisyQuadraticTask) and getattr(
                optim.get_class(space.name), "elementwise", False):
            flat = task.run_many(stacked(space, configs, len(seeds)),
                                 [s for _ in configs for s in seeds])
            return [flat[i * len(seeds):(i + 1) * len(seeds)] for i in range(len(configs))]
        return [[self._run(optim.create(space.name, **config_kwargs(space, c)), s)
                 for s in seeds] for c in configs]

    def _run(self, optimizer: Any, seed: int) -> Any:
        """One run; an optimizer refusing a non-finite gradient ends it as diverged (the
        loop itself only sees the loss)."""
        try:
            return self.task.run(optimizer, seed=seed)
        except NonFiniteError:
            return RunResult(self.name, int(seed), self.task.steps, diverged=True)

    def evaluate(self, space: Space, configs: list[dict[str, float]], seeds: list[int],
                 curves: bool = False) -> Evaluation:
        results = self.runs(space, configs, seeds)
        values = np.array([[math.inf if r.diverged else cost_of(self.target, r.final)
                            for r in row] for row in results])
        diverged = np.array([[r.diverged for r in row] for row in results])
        return Evaluation(values, None, diverged)


@dataclass
class TestRun:
    """One test-seed run, as its test study and ``runs.csv`` keep it."""

    workload: str          #: base workload
    variant: str           #: "" for the base workload
    optimizer: str
    config: str            #: "tuned" or "default"
    seed: int
    target: float          #: the target metric value it was scored against
    final: float           #: final validation metric
    reached_at: float      #: steps to target (∞: never)
    cpu_at_target: float   #: CPU seconds to target (∞: never)
    cpu_seconds: float
    wall_seconds: float
    diverged: bool
    curve_steps: list[int] = field(default_factory=list)
    curve_values: list[float] = field(default_factory=list)
    params: dict[str, float] = field(default_factory=dict)   #: the configuration run


def record_run(objective: WorkloadObjective, optimizer: str, config: str, result: Any,
               params: dict[str, float] | None = None) -> TestRun:
    """A :class:`TestRun` from a RunResult (``params``: the configuration it ran)."""
    metric = objective.target.metric
    reached = math.inf if result.reached_at is None else float(result.reached_at)
    return TestRun(
        workload=objective.workload, variant=objective.variant or "", optimizer=optimizer,
        config=config, seed=int(result.seed), target=objective.target.value,
        final=float(result.final.get(metric, math.nan)) if not result.diverged else math.nan,
        reached_at=reached,
        cpu_at_target=math.inf if result.cpu_at_target is None else result.cpu_at_target,
        cpu_seconds=result.cpu_seconds, wall_seconds=result.wall_seconds,
        diverged=bool(result.diverged), curve_steps=[int(s) for s, _ in result.curve],
        curve_values=[float(m.get(metric, math.nan)) for _, m in result.curve],
        params=dict(params or {}))


def target_rule(best_costs: Sequence[float]) -> float:
    """The target cost from the optimizers' best tuning costs: their median (∞ ignored;
    when none is finite, ∞).

    >>> target_rule([0.1, 0.3, 0.2, float("inf")])
    0.2
    """
    finite = np.asarray([c for c in best_costs if math.isfinite(c)], dtype=float)
    return float(np.median(finite)) if finite.size else math.inf


def scaled(settings: dict[str, Any], scale: float) -> dict[str, Any]:
    """``settings`` with the keys in :data:`SCALED` multiplied by ``scale`` (at least 1;
    ``eval_every`` shrunk so that a run still evaluates at least twice)."""
    out = dict(settings)
    for key in SCALED:
        if key in out:
            out[key] = max(1, int(round(out[key] * scale)))
    if "steps" in out and "eval_every" in out:
        out["eval_every"] = max(1, min(out["eval_every"], out["steps"] // 2))
    return out


def seeds_for(n_tuning: int, n_test: int, seed: int) -> tuple[list[int], list[int]]:
    """The tuning and the test seeds (as :mod:`descentlab.lab.compare` draws them)."""
    if max(n_tuning, n_test) >= TEST_SEED_OFFSET:
        raise InputError(f"--seeds/--test-seeds must be below {TEST_SEED_OFFSET:,}")
    return tuning_seeds(n_tuning, seed), held_out_seeds(n_test, seed)


def test_units(configs: dict[str, dict[str, float]], seeds: Sequence[int]
               ) -> list[tuple[str, int]]:
    """The test runs of one optimizer on one workload: (configuration name, seed)."""
    return [(kind, int(s)) for kind in configs for s in seeds]


def test_plan(study: str, objective: WorkloadObjective, space: Space,
              configs: dict[str, dict[str, float]], seeds: Sequence[int]) -> StudyPlan:
    """The test runs of ``space``'s optimizer on ``objective`` as a study of the compare
    machinery (:mod:`descentlab.lab.compare.study`): one planned trial per (configuration,
    seed), its parameter ``unit`` the run's index in :func:`test_units` — so any number of
    workers claim them, each runs once, and an interrupted benchmark resumes. The study's
    name ends with a hash of what decides the runs (workload, optimizer, configurations,
    seeds, target): a changed tuning result gets fresh runs, never stale ones."""
    n = len(test_units(configs, seeds))
    protocol = {"task": objective.describe(), "optimizer": space.label,
                "configs": configs, "seeds": [int(s) for s in seeds],
                "target": objective.target.value, "budget": n, "version": 1}
    digest = hashlib.sha256(json.dumps(protocol, sort_keys=True).encode()).hexdigest()[:12]
    return StudyPlan(name=f"{study}/test/{objective.name}/{space.label}/{digest}",
                     protocol=protocol, direction="minimize",
                     configs=[{"unit": float(i)} for i in range(n)], budget=n,
                     distributions={"unit": Dim("unit", 0.0, float(max(n - 1, 1)), False)})


def test_evaluator(objective: WorkloadObjective, space: Space,
                   configs: dict[str, dict[str, float]], seeds: Sequence[int]) -> Callable:
    """``evaluate(claimed) -> (values, attrs)`` for :func:`descentlab.lab.compare.study.work`:
    runs the claimed units (those of one configuration together: the NQM vectorises them);
    value: steps to target; attribute ``run``: the :class:`TestRun`."""
    units = test_units(configs, seeds)

    def evaluate(claimed: list[dict[str, float]]) -> tuple[list[float], list[dict]]:
        idx = [int(round(c["unit"])) for c in claimed]
        done: dict[int, TestRun] = {}
        for kind, config in configs.items():
            mine = [i for i in idx if units[i][0] == kind]
            if mine:
                results = objective.runs(space, [config], [units[i][1] for i in mine])[0]
                done.update({i: record_run(objective, space.label, kind, r, config)
                             for i, r in zip(mine, results)})
        runs = [done[i] for i in idx]
        return [r.reached_at for r in runs], [{"run": asdict(r)} for r in runs]
    return evaluate


def read_tests(storage: Any, plan: StudyPlan) -> list[TestRun]:
    """The finished test runs of a :func:`test_plan` study, in unit order."""
    return [TestRun(**t.user_attrs["run"]) for t in completed(storage, plan)]


__all__ = ["PRESETS", "Preset", "WorkloadObjective", "TestRun", "cost_of", "test_units",
           "metric_of", "record_run", "target_rule", "scaled", "seeds_for", "test_plan",
           "test_evaluator", "read_tests", "CLASSIC", "MODERN", "variant_settings",
           "MNIST_WORKLOADS"]
