"""The benchmark's outputs: ``report.md`` (one page: protocol, leaderboard with intervals,
verdicts, per-workload tables, held-out variants, defaults against tuned, figures), the PNG
figures, and the raw results as CSV — ``trials.csv`` (every tuning trial), ``runs.csv``
(every test run), ``curves.csv`` (every evaluation of every test run) and ``summary.csv``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ...files import write_text
from ..run_outputs import write_csv
from . import stats
from .run import BenchmarkResult
from .summary import Summary, censored_steps


def fmt(x: float, digits: int = 3) -> str:
    """A number for a table: ``∞`` for infinity, ``–`` for NaN, else ``digits``
    significant digits.

    >>> fmt(float("inf")), fmt(1234.5), fmt(0.012345)
    ('∞', '1.23e+03', '0.0123')
    """
    if math.isnan(x):
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:.{digits}g}"


def interval(t: tuple[float, float, float], digits: int = 3) -> str:
    """``median [low, high]``."""
    return f"{fmt(t[0], digits)} [{fmt(t[1], digits)}, {fmt(t[2], digits)}]"


def cell_value(x: Any) -> Any:
    """A CSV cell: ∞ written ``inf`` (a run that never reached the target), NaN empty."""
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def whole(steps: float) -> float | int:
    """A step count as an int (∞ stays a float)."""
    return int(steps) if math.isfinite(steps) else steps


def _taus(costs: np.ndarray, tau_max: float) -> np.ndarray:
    r = stats.ratios(costs)
    finite = r[np.isfinite(r)]
    top = max(2 * tau_max, float(finite.max()) * 1.2 if finite.size else 0.0)
    return np.unique(np.concatenate([[1.0], np.geomspace(1, top, 300)]))


def profile_curves(costs: np.ndarray, tau_max: float) -> tuple[np.ndarray, np.ndarray]:
    """(taus, rho[S, T]) of a (P, S) cost matrix."""
    from ..compare.report import performance_profile

    taus = _taus(costs, tau_max)
    return taus, performance_profile(costs, taus)


def figures(result: BenchmarkResult, summary: Summary, out: Path) -> list[Path]:
    """Draw and save every figure; return the paths."""
    from ...viz import benchmark as fig
    from ...viz import style
    from .summary import CPU_FLOOR, STEP_FLOOR

    labels = summary.leaderboard()          # every figure lists the optimizers in this order
    cols = [summary.labels.index(lab) for lab in labels]
    written: list[Path] = []
    panels = [("steps to target (median over test seeds)",
               *profile_curves(np.maximum(summary.steps_costs[:, cols], STEP_FLOOR),
                               stats.TAU_MAX)),
              ("CPU seconds to target (median over test seeds)",
               *profile_curves(np.maximum(summary.cpu_costs[:, cols], CPU_FLOOR),
                               stats.TAU_MAX))]
    written += style.save(fig.profiles(panels, labels, stats.TAU_MAX), out / "profiles")
    steps_panels, curve_panels, default_panels = [], [], []
    for obj in result.objectives:
        w = obj.name
        tuned = {lab: np.array([r.reached_at for r in result.select(w, lab)]) for lab in labels}
        dflt = {lab: np.array([r.reached_at for r in result.select(w, lab, "default")])
                for lab in labels}
        steps_panels.append((f"{w} (target {obj.target.metric} "
                             f"{'≤' if obj.target.mode == 'min' else '≥'} "
                             f"{fmt(result.targets[w], 4)})", censored_steps(result, w),
                             tuned, dflt))
        runs = {lab: result.select(w, lab) for lab in labels}
        steps = np.array(max((r.curve_steps for rs in runs.values() for r in rs), key=len))
        values = {}
        for lab in labels:
            rows = []
            for r in runs[lab]:
                v = np.full(len(steps), np.nan)
                v[:len(r.curve_values)] = r.curve_values[:len(steps)]
                rows.append(v)
            values[lab] = np.array(rows)
        curve_panels.append((w, obj.target.metric, result.targets[w], steps, values))
        default_panels.append((w, obj.target.metric,
                               {lab: summary.cells[(w, "", lab, "tuned")].final
                                for lab in labels},
                               {lab: summary.cells[(w, "", lab, "default")].final
                                for lab in labels}))
    written += style.save(fig.steps_to_target(steps_panels, labels), out / "steps_to_target")
    written += style.save(fig.curves(curve_panels, labels), out / "curves")
    written += style.save(fig.defaults_vs_tuned(default_panels, labels),
                          out / "defaults_vs_tuned")
    return written


def raw_csvs(result: BenchmarkResult, summary: Summary, out: Path) -> list[Path]:
    """trials.csv, runs.csv, curves.csv, summary.csv."""
    keys = sorted({d.key for sp in result.spaces for d in sp.dims})
    trial_rows = []
    for (w, lab), (values, configs, studies) in result.trials.items():
        per_study = len(values) // max(result.studies, 1)
        for i, (v, c, k) in enumerate(zip(values, configs, studies)):
            trial_rows.append([w, lab, int(k), i % per_study, float(v),
                               *(c.get(key, "") for key in keys)])
    written = [write_csv(out / "trials.csv", ["workload", "optimizer", "study", "plan_index",
                                              "tuning_cost", *keys],
                         [[cell_value(x) for x in row] for row in trial_rows])]
    head = ["workload", "variant", "optimizer", "config", "seed", "target", "final",
            "steps_to_target", "cpu_to_target", "cpu_seconds", "wall_seconds", "diverged"]
    written.append(write_csv(out / "runs.csv", head, [
        [cell_value(x) for x in (r.workload, r.variant, r.optimizer, r.config, r.seed,
                                 r.target, r.final, whole(r.reached_at), r.cpu_at_target,
                                 r.cpu_seconds, r.wall_seconds, int(r.diverged))]
        for r in result.runs]))
    written.append(write_csv(out / "curves.csv", ["workload", "variant", "optimizer", "config",
                                                  "seed", "step", "value"], [
        [r.workload, r.variant, r.optimizer, r.config, r.seed, s, v]
        for r in result.runs for s, v in zip(r.curve_steps, r.curve_values)]))
    rows = []
    for (w, v, lab, config), c in summary.cells.items():
        rows.append([cell_value(x) for x in (w, v, lab, config, *c.steps, *c.cpu, *c.final,
                                             c.reached, c.n, c.diverged)])
    written.append(write_csv(out / "summary.csv", [
        "workload", "variant", "optimizer", "config", "steps_median", "steps_lo", "steps_hi",
        "cpu_median", "cpu_lo", "cpu_hi", "final_median", "final_lo", "final_hi", "reached",
        "seeds", "diverged"], rows))
    return written


def _resolution(n_optimizers: int, n_seeds: int, alpha: float) -> list[str]:
    """A protocol line when the seeds are too few for any verdict: the smallest sign-flip
    p-value (2/2ⁿ, every seed agreeing) times the pairs (Holm's first factor) is ≥ α.

    >>> _resolution(13, 10, 0.05)[0][:46]
    '- **With 10 test seeds no pair can be told apa'
    >>> _resolution(6, 10, 0.05)
    []
    """
    pairs = n_optimizers * (n_optimizers - 1) // 2
    smallest = pairs * 2.0 / 2.0 ** n_seeds if n_seeds <= stats.EXACT_UP_TO else 0.0
    if pairs == 0 or smallest < alpha:
        return []
    return [f"- **With {n_seeds} test seeds no pair can be told apart**: the smallest "
            f"Holm-adjusted p-value over {pairs} pairs is {pairs} × 2/2^{n_seeds} = "
            f"{smallest:.2g} ≥ {alpha:g}, so every verdict is 'cannot tell' (use more "
            "--test-seeds)."]


def _verdict_table(summary: Summary, workload: str, variant: str = "") -> list[str]:
    labels = summary.labels
    v = summary.verdicts[(workload, variant)]
    sign = {"faster": "**faster**", "slower": "slower", "cannot tell": "·"}
    lines = ["| row vs column | " + " | ".join(labels) + " |",
             "|---|" + "---|" * len(labels)]
    for a in labels:
        cells = ["" if a == b else f"{sign[v[(a, b)][0]]} (p={v[(a, b)][1]:.2g})"
                 for b in labels]
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    return lines


def markdown(result: BenchmarkResult, summary: Summary, *, title: str, machine: dict[str, Any],
             wall_seconds: float) -> str:
    """The report page."""
    labels = summary.labels
    n_test = len(result.test_seeds)
    level = f"{stats.LEVEL:.0%}"
    lines = [f"# {title}", ""]
    lines += [f"Machine: {machine.get('cpu')} ({machine.get('platform')}), Python "
              f"{machine.get('python')}, NumPy {machine.get('numpy')}. Wall time "
              f"{wall_seconds:.0f} s ({wall_seconds / 60:.1f} min).", ""]
    lines += ["## Protocol", "",
              f"- {len(labels)} optimizers × {len(result.objectives)} workloads; each "
              f"optimizer tuned in {result.studies} independent stud"
              f"{'y' if result.studies == 1 else 'ies'} of {result.budget} random-search "
              f"trials over its declared search space on {len(result.tuning_seeds)} tuning "
              "seed(s) (objective: final validation cost, mean over the tuning seeds); the "
              "configuration tested is the best trial of the median study (studies ordered "
              "by their best tuning cost; AlgoPerf's median over studies"
              + (" — one study: no median taken)." if result.studies == 1 else ")."),
              "- Target per workload: the median over the optimizers of their best tuning "
              "value (tuning seeds only); per held-out variant: the median over the optimizers "
              "of their tuned configuration's mean final validation cost on the variant "
              "(the same tuning seeds).",
              f"- Best configuration and library defaults re-run on {n_test} fresh test seeds; "
              "steps to target = first evaluation meeting the target.",
              f"- Intervals: {level} percentile bootstrap over the test seeds "
              f"({stats.N_BOOT} resamples; the score's: 1000 joint resamples).",
              f"- Verdicts: paired sign-flip permutation test (exact over 2^{n_test} sign "
              "patterns) of the per-seed difference in steps to target (never reached = "
              "steps + eval_every), Holm-corrected over the pairs of each workload, level "
              f"{summary.alpha:g}.",
              *_resolution(len(labels), n_test, summary.alpha),
              f"- Score: AlgoPerf's integrated performance profile of median steps to target, "
              f"up to τ = {stats.TAU_MAX:g}, normalised to [0, 1] (1: fastest everywhere).",
              "- Held-out rule (AlgoPerf): an optimizer whose median steps to target on a "
              "held-out variant is ∞ (half or more of its test seeds never reach the target) "
              "is disqualified on the base workload: ∞ there in the profiles, ranks and score"
              + ("." if result.variants else " (this run has no variants)."),
              ""]
    lines += ["## Leaderboard", "",
              "Sorted by score; *faster / slower* count the pairwise verdicts over all "
              "workloads (a ranking without them is not a claim).", "",
              f"| optimizer | score (steps) [{level}] | score (CPU s) | mean rank | faster | "
              "slower | workloads reached | disqualified on |",
              "|---|---|---|---|---|---|---|---|"]
    mean_rank = summary.ranks.mean(axis=0)
    for lab in summary.leaderboard():
        s = labels.index(lab)
        wins, losses = summary.record(lab)
        reached = int(np.isfinite(summary.steps_costs[:, s]).sum())
        lines.append(f"| {lab} | {summary.score[s]:.3f} [{summary.score_ci[s, 0]:.3f}, "
                     f"{summary.score_ci[s, 1]:.3f}] | {summary.cpu_score[s]:.3f} | "
                     f"{mean_rank[s]:.2f} | {wins} | {losses} | {reached}/"
                     f"{len(summary.workloads)} | "
                     f"{', '.join(summary.disqualified_on(lab)) or '–'} |")
    lines += ["", "![performance profiles](profiles.png)", ""]
    lines += ["## Which optimizers cannot be separated", ""]
    for w in summary.workloads:
        groups = summary.inseparable(w)
        lines.append(f"- **{w}**: " + " > ".join("{" + ", ".join(g) + "}" for g in groups))
    lines += ["", "(groups in order of median steps to target; within a group no test "
              "separates the others from its first member)", ""]
    lines += ["## Steps to target per workload", ""]
    for obj in result.objectives:
        w = obj.name
        t = obj.target
        lines += [f"### {w}", "",
                  f"Target: validation {t.metric} {'≤' if t.mode == 'min' else '≥'} "
                  f"{fmt(result.targets[w], 4)}; budget {obj.task.steps} steps, evaluated every "
                  f"{obj.task.eval_every}.", "",
                  f"| optimizer | tuned config | steps to target [{level}] | reached | "
                  f"CPU s to target [{level}] | final {t.metric} [{level}] |",
                  "|---|---|---|---|---|---|"]
        for lab in labels:
            c = summary.cells[(w, "", lab, "tuned")]
            conf = ", ".join(f"{k}={v:.3g}" for k, v in result.best[(w, lab)].items())
            div = f", {c.diverged} diverged" if c.diverged else ""
            out = " (**disqualified**: failed a variant)" if w in summary.disqualified_on(
                lab) else ""
            lines.append(f"| {lab} | {conf} | {interval(c.steps)}{out} | {c.reached}/{c.n}"
                         f"{div} | {interval(c.cpu)} | {interval(c.final, 4)} |")
        if result.studies > 1:
            lines += ["", "Best tuning cost of each study (the tested one in bold):", ""]
            for lab in labels:
                bests = result.study_best[(w, lab)]
                k = result.chosen[(w, lab)]
                lines.append(f"- {lab}: " + ", ".join(
                    f"**{fmt(b, 4)}**" if i == k else fmt(b, 4) for i, b in enumerate(bests)))
        lines += ["", "Verdicts on steps to target:", ""] + _verdict_table(summary, w) + [""]
    lines += ["![steps to target](steps_to_target.png)", "",
              "![validation curves](curves.png)", ""]
    lines += ["## Defaults against tuned", "",
              f"Final validation metric, median [{level}] over the test seeds, of the tuned "
              "configuration and of the library defaults (the zero-budget baseline), and how "
              "many test seeds reach the target at the defaults.", "",
              "| workload | optimizer | tuned | defaults | defaults reach target |",
              "|---|---|---|---|---|"]
    for w in summary.workloads:
        for lab in labels:
            tc = summary.cells[(w, "", lab, "tuned")]
            dc = summary.cells[(w, "", lab, "default")]
            lines.append(f"| {w} | {lab} | {interval(tc.final, 4)} | {interval(dc.final, 4)} | "
                         f"{dc.reached}/{dc.n} |")
    lines += ["", "![defaults against tuned](defaults_vs_tuned.png)", ""]
    if result.variants:
        lines += ["## Held-out variants", "",
                  "The tuned configuration of the base workload, never tuned on the variant, "
                  "scored against the variant's own target (the median over the optimizers "
                  "of that configuration's final validation cost on the variant, tuning "
                  "seeds); a median of ∞ (failed) disqualifies the optimizer on the base "
                  "workload.", ""]
        for w, vs in result.variants.items():
            t = next(o.target for o in result.objectives if o.name == w)
            for v in vs:
                own = result.targets.get(f"{w}:{v}")
                lines += [f"### {w}:{v}" + ("" if own is None else
                          f" (target {t.metric} {'≤' if t.mode == 'min' else '≥'} "
                          f"{fmt(own, 4)})"), "",
                          f"| optimizer | steps to target [{level}] | reached | final "
                          f"[{level}] |", "|---|---|---|---|"]
                for lab in labels:
                    c = summary.cells[(w, v, lab, "tuned")]
                    lines.append(f"| {lab} | {interval(c.steps)} | {c.reached}/{c.n} | "
                                 f"{interval(c.final, 4)} |")
                groups = summary.inseparable(w, v)
                lines += ["", "Cannot be separated: " + " > ".join(
                    "{" + ", ".join(g) + "}" for g in groups), ""]
    lines += ["## Files", "",
              "Raw results: `trials.csv` (every tuning trial), `runs.csv` (every test run), "
              "`curves.csv` (every evaluation), `summary.csv`; `manifest.json` replays the run "
              "(`descentlab rerun manifest.json --out DIR`).", ""]
    return "\n".join(lines)


def title(preset: str) -> str:
    """The report's title for a run of ``preset``."""
    return f"descentlab benchmark: preset {preset}"


def write(result: BenchmarkResult, summary: Summary, out: str | Path, *, title: str,
          machine: dict[str, Any], wall_seconds: float) -> list[Path]:
    """Figures, CSVs and report.md in ``out``; the paths written."""
    out = Path(out)
    written = figures(result, summary, out)
    written += raw_csvs(result, summary, out)
    written.append(write_text(out / "report.md", markdown(
        result, summary, title=title, machine=machine, wall_seconds=wall_seconds)))
    return written


__all__ = ["write", "title", "markdown", "raw_csvs", "figures", "fmt", "interval", "profile_curves"]
