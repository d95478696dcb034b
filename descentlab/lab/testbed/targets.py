"""The workloads' validation targets from tuned baselines (AlgoPerf, Dahl et al. 2023: each
workload's target is what the best of the tuned baselines reaches), written to the file the
workloads read (:data:`descentlab.lab.workloads.base.TARGETS_FILE`, with provenance).

The rule, from a finished ``descentlab benchmark`` run in folder OUT whose workloads ran at
their own budgets (no preset shrinking, ``--scale 1``): for each workload, each optimizer's
tuned configuration (the median study's best trial) was re-run on the test seeds; its value
is the **median over the test seeds of the final validation metric** (``runs.csv``, base
workload, config "tuned"; a diverged run counts as the worst value); the target is the
**best of these values over the optimizers** (the lowest for a minimised metric, the highest
for a maximised one). So the best tuned baseline meets it on about half of its seeds.
Every held-out variant the run ran gets its own entry ``workload:variant`` by the same rule
over its runs (the base workload's tuned configurations on the variant's test seeds).

    python -m descentlab.lab.testbed.targets OUT [--workloads nqm logreg] [--file PATH]

>>> rows = [{"optimizer": "sgd", "final": v} for v in ("0.2", "0.4", "0.3")]
>>> rows += [{"optimizer": "adam", "final": v} for v in ("0.1", "", "0.15")]
>>> best_baseline(rows, "min")            # sgd: median 0.3; adam: median of 0.1, ∞, 0.15
('adam', 0.15)
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputError
from ...files import write_text
from ..workloads.base import TARGETS_FILE, default_target


def best_baseline(rows: Sequence[dict[str, str]], mode: str) -> tuple[str, float]:
    """(optimizer, value): the best over the optimizers of the median of their ``final``
    values (an empty or non-finite one: the worst possible)."""
    worst = math.inf if mode == "min" else -math.inf
    finals: dict[str, list[float]] = {}
    for r in rows:
        v = float(r["final"]) if r["final"] not in ("", "nan") else math.nan
        finals.setdefault(r["optimizer"], []).append(v if math.isfinite(v) else worst)
    medians = {o: float(np.median(v)) for o, v in finals.items()}
    pick = min if mode == "min" else max
    name = pick(medians, key=lambda o: medians[o])
    return name, medians[name]


def derive(out: str | Path, names: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """The targets file's entries for the workloads of the run in ``out`` (or ``names`` of
    them): metric, mode, value and provenance. InputError when the run is unfinished, or a
    workload ran shrunk (its targets would not fit the workload's own budget)."""
    out = Path(out)
    try:
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        with open(out / "runs.csv", newline="", encoding="utf-8") as f:
            runs = list(csv.DictReader(f))
    except (OSError, ValueError) as e:
        raise InputError(f"{out}: not a finished benchmark run ({e})") from None
    if manifest.get("command") != "benchmark":
        raise InputError(f"{out}/manifest.json is not a benchmark's")
    s = manifest["settings"]
    ran = {d["workload"]: d for d in s["workloads"]}
    names = list(ran) if not names else list(names)
    when = datetime.now(UTC).strftime("%Y-%m-%d")
    command = "descentlab " + " ".join(manifest.get("argv", []))
    entries = {}
    for w in names:
        if w not in ran:
            raise InputError(f"--workloads: {w!r} is not in the run in {out} "
                             f"({', '.join(ran)})")
        shrunk = {k: v for k, v in ran[w]["settings"].items() if k != "data_dir"}
        if shrunk:
            raise InputError(f"workload {w} in {out} ran with settings {shrunk}, not at its "
                             f"own budget: its result cannot set the workload's target")
        target = default_target(w)
        for v in ["", *s.get("variants", {}).get(w, [])]:
            name = f"{w}:{v}" if v else w
            rows = [r for r in runs if r["workload"] == w and r["variant"] == v
                    and r["config"] == "tuned"]
            if not rows:
                raise InputError(f"{out}/runs.csv has no tuned test runs of {name}")
            best, value = best_baseline(rows, target.mode)
            if not math.isfinite(value):
                raise InputError(f"{name}: every tuned baseline diverged; no target")
            n = len({r["seed"] for r in rows})
            entries[name] = {
                "metric": target.metric, "mode": target.mode, "value": float(f"{value:.6g}"),
                "provenance": (
                    f"best of tuned baselines{' (tuned on ' + w + ')' if v else ''}: {best}, "
                    f"median over {n} test seeds of the final validation {target.metric}, "
                    f"in `{command}` ({len(s['optimizers'])} optimizers: "
                    f"{', '.join(s['optimizers'])}; {s['budget']} trials × "
                    f"{s.get('studies', 1)} studies; {when}; read from {out} by "
                    "python -m descentlab.lab.testbed.targets)")}
    return entries


def write(entries: dict[str, dict[str, Any]], path: str | Path = TARGETS_FILE) -> Path:
    """Merge ``entries`` into the targets file at ``path`` (atomically; others kept)."""
    path = Path(path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["workloads"].update(entries)
    return write_text(path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m descentlab.lab.testbed.targets",
                                 description="Set the workloads' targets from a benchmark "
                                 "run's tuned baselines.")
    ap.add_argument("out", help="the benchmark's output folder (manifest.json, runs.csv)")
    ap.add_argument("--workloads", nargs="+", metavar="NAME", help="only these workloads")
    ap.add_argument("--file", default=str(TARGETS_FILE), help="the targets file to update")
    args = ap.parse_args(argv)
    try:
        entries = derive(args.out, args.workloads)
        write(entries, args.file)
    except InputError as e:
        print(f"error: {e}")
        return 2
    for w, e in entries.items():
        print(f"{w}: {e['metric']} {'≤' if e['mode'] == 'min' else '≥'} {e['value']}  "
              f"({e['provenance']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
