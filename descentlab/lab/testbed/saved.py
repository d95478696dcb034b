"""A finished benchmark read back from its files — ``manifest.json``, ``runs.csv``,
``curves.csv`` and ``trials.csv`` in its output folder — so that its report and figures can
be drawn again without re-running anything (:func:`redraw`, ``descentlab benchmark
--report-only DIR``).

Everything the report shows is rebuilt from those files: the test runs (their curves from
``curves.csv``), the targets, seeds, studies and chosen study from the manifest, each tuned
configuration as the best trial of the chosen study in ``trials.csv`` (ties: the earliest,
as when it ran). The summary is recomputed with the run's own α and seed, so the numbers
come out as they were (a test checks the committed runs' ``report.md``).

>>> import pathlib
>>> run = pathlib.Path(__file__).parents[3] / "docs" / "figures" / "benchmark_smoke"
>>> saved = load(run)
>>> saved.result.labels[:3], len(saved.result.runs), saved.title
(['sgd', 'momentum', 'nesterov'], 900, 'descentlab benchmark: preset smoke')
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputError
from ...files import write_text
from ..compare.space import Dim, Space
from ..workloads.base import Target, default_target
from . import TestRun, report
from .run import BenchmarkResult
from .summary import summarise


@dataclass(frozen=True)
class SavedTask:
    """What the report reads of a workload's task: its budget and evaluation interval."""

    steps: int
    eval_every: int
    batch_size: int


@dataclass(frozen=True)
class SavedObjective:
    """A workload of a finished run as the report reads it (name, target, task)."""

    name: str
    workload: str
    variant: str | None
    target: Target
    task: SavedTask


@dataclass(frozen=True)
class SavedRun:
    """A finished benchmark: its result, and the title, machine and wall time of its
    report."""

    result: BenchmarkResult
    title: str
    machine: dict[str, Any]
    wall_seconds: float
    alpha: float
    seed: int


def _number(text: str) -> float:
    """A CSV cell as written by :func:`~descentlab.lab.run_outputs.write_csv`: empty is
    NaN, ``inf`` is ∞."""
    return math.nan if text == "" else float(text)


def _rows(path: Path, *columns: str) -> list[dict[str, str]]:
    """The rows of a benchmark's CSV file, which must have ``columns`` and at least one row;
    an InputError naming the file otherwise."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            header = reader.fieldnames or []
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InputError(f"{path}: cannot read the benchmark's file ({e})") from None
    missing = [n for n in columns if n not in header]
    if missing:
        raise InputError(f"{path}: no column {', '.join(missing)} (not a benchmark's file)")
    if not rows:
        raise InputError(f"{path}: no rows (not a finished benchmark's file)")
    for line, row in enumerate(rows, start=2):  # (a short or long row: a damaged file)
        if None in row or None in row.values():
            raise InputError(f"{path}: line {line} does not have the header's "
                             f"{len(header)} fields (a damaged or truncated file?)")
    return rows


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[None]:
    """A value missing or unreadable while reading ``path``: an InputError naming it."""
    try:
        yield
    except InputError as e:
        raise InputError(f"{path}: {e}") from None
    except (KeyError, ValueError, TypeError, IndexError) as e:
        raise InputError(f"{path}: not a finished benchmark's file ({type(e).__name__}: "
                         f"{e})") from None


def load(out: str | Path) -> SavedRun:
    """The benchmark written to folder ``out``; an InputError naming the file when one is
    missing or is not a finished benchmark's."""
    out = Path(out)
    path = out / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not a finished benchmark run ({e})") from None
    if manifest.get("command") != "benchmark" or "settings" not in manifest:
        raise InputError(f"{path} is not a benchmark's manifest")
    s = manifest["settings"]
    runs_rows = _rows(out / "runs.csv", "workload", "variant", "optimizer", "config", "seed",
                      "target", "final", "steps_to_target", "cpu_to_target", "cpu_seconds",
                      "wall_seconds", "diverged")
    curve_rows = _rows(out / "curves.csv", "workload", "variant", "optimizer", "config",
                       "seed", "step", "value")
    trial_rows = _rows(out / "trials.csv", "workload", "optimizer", "study", "tuning_cost")
    curves: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}
    with _reading(out / "curves.csv"):
        for c in curve_rows:
            key = (c["workload"], c["variant"], c["optimizer"], c["config"], c["seed"])
            steps, values = curves.setdefault(key, ([], []))
            steps.append(int(c["step"]))
            values.append(_number(c["value"]))
    runs = []
    with _reading(out / "runs.csv"):
        for r in runs_rows:
            steps, values = curves.get((r["workload"], r["variant"], r["optimizer"],
                                        r["config"], r["seed"]), ([], []))
            runs.append(TestRun(
                workload=r["workload"], variant=r["variant"], optimizer=r["optimizer"],
                config=r["config"], seed=int(r["seed"]), target=_number(r["target"]),
                final=_number(r["final"]), reached_at=_number(r["steps_to_target"]),
                cpu_at_target=_number(r["cpu_to_target"]),
                cpu_seconds=_number(r["cpu_seconds"]), wall_seconds=_number(r["wall_seconds"]),
                diverged=r["diverged"] == "1", curve_steps=steps, curve_values=values))
    with _reading(path):
        labels = list(s["optimizers"])
        spaces = [Space(d["name"], label, tuple(Dim(**x) for x in d["dims"]),
                        d.get("fixed", {})) for label, d in zip(labels, s["spaces"])]
        objectives = []
        for w in s["workloads"]:
            target = default_target(w["workload"])
            objectives.append(SavedObjective(
                name=w["workload"], workload=w["workload"], variant=None,
                target=Target(target.metric, float(s["targets"][w["workload"]]), target.mode),
                task=SavedTask(int(w["steps"]), int(w["eval_every"]), int(w["batch_size"]))))
        chosen = {tuple(k.split("/", 1)): int(v) for k, v in s["chosen_study"].items()}
        missing = [f"{o.name}/{sp.label}" for o in objectives for sp in spaces
                   if (o.name, sp.label) not in chosen]
        if missing:
            raise InputError(f"no chosen_study of {missing[0]}")
    trials: dict[tuple[str, str], tuple[np.ndarray, list[dict[str, float]], np.ndarray]] = {}
    best = {}
    have = {(r.workload, r.optimizer) for r in runs}
    absent = [f"{o.name}/{label}" for o in objectives for label in labels
              if (o.name, label) not in have]
    if absent:
        raise InputError(f"{out / 'runs.csv'}: no test runs of {absent[0]} (a damaged or "
                         "truncated file?)")
    with _reading(out / "trials.csv"):
        for o in objectives:
            for sp in spaces:
                mine = [t for t in trial_rows if t["workload"] == o.name
                        and t["optimizer"] == sp.label]
                values = np.array([_number(t["tuning_cost"]) for t in mine])
                configs = [{d.key: float(t[d.key]) for d in sp.dims} for t in mine]
                which = np.array([int(t["study"]) for t in mine])
                key = (o.name, sp.label)
                in_study = np.flatnonzero(which == chosen[key])
                if not in_study.size:
                    raise InputError(f"no trials of {sp.label} on {o.name} in study "
                                     f"{chosen[key]}")
                trials[key] = (values, configs, which)
                best[key] = configs[int(in_study[np.argmin(values[in_study])])]
    with _reading(path):
        result = BenchmarkResult(
            objectives=objectives, labels=labels, spaces=spaces, budget=int(s["budget"]),
            tuning_seeds=list(s["tuning_seeds"]), test_seeds=list(s["test_seeds"]),
            trials=trials, best=best, defaults={}, targets=dict(s["targets"]), runs=runs,
            variants={k: list(v) for k, v in s["variants"].items()},
            studies=int(s.get("studies", 1)),
            study_best={tuple(k.split("/", 1)): list(v) for k, v in s["study_best"].items()},
            chosen=chosen)
        args = manifest.get("arguments", {})
        return SavedRun(result=result, title=report.title(str(args.get("preset"))),
                        machine=dict(manifest.get("versions", {})),
                        wall_seconds=float(s["wall_seconds"]), alpha=float(s["alpha"]),
                        seed=int(manifest.get("seed", 0)))


def redraw(out: str | Path) -> list[Path]:
    """Draw the figures and write ``report.md`` of the benchmark in folder ``out`` again
    from its files (:func:`load`; the summary recomputed with the run's α and seed); the
    CSVs and the manifest are left as they are. The paths written."""
    out = Path(out)
    saved = load(out)
    summary = summarise(saved.result, alpha=saved.alpha, seed=saved.seed)
    page = report.markdown(saved.result, summary, title=saved.title, machine=saved.machine,
                           wall_seconds=saved.wall_seconds)
    written = report.figures(saved.result, summary, out)
    written.append(write_text(out / "report.md", page))
    return written


__all__ = ["load", "redraw", "SavedRun", "SavedObjective", "SavedTask"]
