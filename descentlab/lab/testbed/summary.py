"""From a :class:`~.run.BenchmarkResult` to the report's numbers: per workload and optimizer
the medians with bootstrap intervals, the pairwise verdicts, performance-profile costs,
ranks and the integrated score with its interval (seeds resampled jointly: the test seeds
are shared by all optimizers, so one resample keeps the pairs).

AlgoPerf's held-out rule: an optimizer that fails a held-out variant of a workload — the
median over the test seeds of its steps to the target on the variant is ∞, i.e. half or
more of them never reach it — is disqualified on the base workload: its cost there is ∞ in
the performance profiles, the ranks and the integrated score (:func:`failed_variants`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..compare.report import ranks
from . import stats
from .run import BenchmarkResult

#: Profile costs are at least this (a target met at step 0 / in no time is not infinitely
#: better than one met at step 1).
STEP_FLOOR, CPU_FLOOR = 1.0, 1e-3


def censored_steps(result: BenchmarkResult, workload: str) -> float:
    """Where a run that never reaches the target is put for the tests: one evaluation past
    the budget (``steps + eval_every``)."""
    obj = next(o for o in result.objectives if o.name == workload)
    return float(obj.task.steps + obj.task.eval_every)


@dataclass
class Cell:
    """One optimizer on one workload (or variant): medians [95 % interval] over seeds."""

    steps: tuple[float, float, float]
    cpu: tuple[float, float, float]
    final: tuple[float, float, float]
    reached: int
    n: int
    diverged: int


def cell(runs: list[Any], seed: int = 0) -> Cell:
    steps = [r.reached_at for r in runs]
    cpu = [r.cpu_at_target for r in runs]
    final = [r.final if math.isfinite(r.final) else math.inf for r in runs]
    return Cell(steps=stats.bootstrap_ci(steps, seed=seed),
                cpu=stats.bootstrap_ci(cpu, seed=seed),
                final=stats.bootstrap_ci(final, seed=seed),
                reached=sum(math.isfinite(s) for s in steps), n=len(runs),
                diverged=sum(r.diverged for r in runs))


@dataclass
class Summary:
    workloads: list[str]
    labels: list[str]
    cells: dict[tuple[str, str, str, str], Cell]   #: (workload, variant, optimizer, config)
    verdicts: dict[tuple[str, str], dict[tuple[str, str], tuple[str, float]]]
    steps_costs: np.ndarray                          #: (P, S) median steps to target
    cpu_costs: np.ndarray                            #: (P, S) median CPU seconds to target
    score: np.ndarray                                #: (S,) integrated score (steps)
    score_ci: np.ndarray                             #: (S, 2)
    cpu_score: np.ndarray                            #: (S,) integrated score (CPU s)
    ranks: np.ndarray                                #: (P, S)
    alpha: float
    #: (P, S) True where a failed held-out variant disqualifies the optimizer
    disqualified: np.ndarray | None = None

    def disqualified_on(self, label: str) -> list[str]:
        """The base workloads on which ``label`` is disqualified by a failed variant."""
        if self.disqualified is None:
            return []
        s = self.labels.index(label)
        return [w for p, w in enumerate(self.workloads) if self.disqualified[p, s]]

    def leaderboard(self) -> list[str]:
        """The optimizers by integrated score (steps), best first; ties in the run's order."""
        return [self.labels[s] for s in np.argsort(-self.score, kind="stable")]

    def record(self, label: str) -> tuple[int, int]:
        """(faster than, slower than): how many pairwise verdicts over the base workloads."""
        wins = losses = 0
        for w in self.workloads:
            for (a, _), (v, _) in self.verdicts[(w, "")].items():
                if a == label:
                    wins += v == "faster"
                    losses += v == "slower"
        return wins, losses

    def inseparable(self, workload: str, variant: str = "") -> list[list[str]]:
        """Groups of optimizers no test separates from the group's first (fastest median)."""
        order = sorted(self.labels, key=lambda s: self.cells[(workload, variant, s,
                                                              "tuned")].steps[0])
        groups: list[list[str]] = []
        placed: set[str] = set()
        v = self.verdicts[(workload, variant)]
        for lead in order:
            if lead in placed:
                continue
            group = [lead] + [o for o in order if o != lead and o not in placed
                              and v[(lead, o)][0] == "cannot tell"]
            placed.update(group)
            groups.append(group)
        return groups


def matrix(result: BenchmarkResult, workload: str, variant: str, field: str = "reached_at"
           ) -> np.ndarray:
    """(S, n) per optimizer and test seed (tuned configs)."""
    return np.array([[getattr(r, field) for r in result.select(workload, lab, "tuned",
                                                               variant)]
                     for lab in result.labels], dtype=float)


def variant_matrices(result: BenchmarkResult) -> list[tuple[int, np.ndarray]]:
    """(index of the base workload, (S, n) steps to target) for every held-out variant."""
    names = [o.name for o in result.objectives]
    return [(p, matrix(result, w, v)) for p, w in enumerate(names)
            for v in result.variants.get(w, [])]


def failed_variants(shape: tuple[int, int], variants: list[tuple[int, np.ndarray]],
                    idx: np.ndarray | None = None) -> np.ndarray:
    """(P, S): True where optimizer s fails a held-out variant of base workload p — the
    median of its steps to target on the variant over the test seeds (``idx``: a bootstrap
    resample of them) is ∞. ``variants``: :func:`variant_matrices`.

    >>> never = np.inf
    >>> failed_variants((2, 2), [(1, np.array([[5.0, never, 7.0], [never, never, 9.0]]))])
    array([[False, False],
           [False,  True]])
    """
    out = np.zeros(shape, dtype=bool)
    for p, steps in variants:
        if idx is not None:
            steps = steps[:, idx]
        out[p] |= ~np.isfinite(stats.median(steps))
    return out


def summarise(result: BenchmarkResult, *, alpha: float = stats.ALPHA, seed: int = 0,
              n_boot: int = 1000) -> Summary:
    names = [o.name for o in result.objectives]
    cells: dict[tuple[str, str, str, str], Cell] = {}
    verdicts = {}
    groups = [(w, "") for w in names] + [(w, v) for w, vs in result.variants.items()
                                          for v in vs]
    for w, v in groups:
        for lab in result.labels:
            for config in ("tuned", "default") if not v else ("tuned",):
                cells[(w, v, lab, config)] = cell(result.select(w, lab, config, v), seed)
        steps = matrix(result, w, v)
        steps = np.where(np.isfinite(steps), steps, censored_steps(result, w))
        verdicts[(w, v)] = stats.verdicts(steps, result.labels, alpha=alpha, seed=seed)
    steps_all = np.stack([matrix(result, w, "") for w in names])          # (P, S, n)
    cpu_all = np.stack([matrix(result, w, "", "cpu_at_target") for w in names])
    held_out = variant_matrices(result)
    failed = failed_variants(steps_all.shape[:2], held_out)
    steps_costs = np.where(failed, np.inf, stats.median(steps_all))
    cpu_costs = np.where(failed, np.inf, stats.median(cpu_all))
    score = stats.integrated_score(stats.ratios(np.maximum(steps_costs, STEP_FLOOR)))
    cpu_score = stats.integrated_score(stats.ratios(np.maximum(cpu_costs, CPU_FLOOR)))
    rng = np.random.default_rng(seed)
    n = steps_all.shape[-1]
    boot = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        c = np.where(failed_variants(steps_all.shape[:2], held_out, idx), np.inf,
                     stats.median(steps_all[:, :, idx]))
        boot.append(stats.integrated_score(stats.ratios(np.maximum(c, STEP_FLOOR))))
    boot = np.sort(np.array(boot), axis=0)
    lo = np.quantile(boot, (1 - stats.LEVEL) / 2, axis=0)
    hi = np.quantile(boot, (1 + stats.LEVEL) / 2, axis=0)
    return Summary(workloads=names, labels=list(result.labels), cells=cells,
                   verdicts=verdicts, steps_costs=steps_costs, cpu_costs=cpu_costs,
                   score=score, score_ci=np.stack([lo, hi], axis=1), cpu_score=cpu_score,
                   ranks=ranks(steps_costs), alpha=alpha, disqualified=failed)


__all__ = ["Summary", "Cell", "summarise", "matrix", "censored_steps", "cell",
           "failed_variants", "variant_matrices"]
