"""``descentlab benchmark``: the optimizer testbed — every optimizer tuned with the same
budget on real workloads, scored by steps to a validation target, with bootstrap intervals
and pairwise verdicts (see :mod:`descentlab.lab.testbed`)."""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from pathlib import Path

from ..errors import InputError
from ..lab import manifest
from ..lab.compare.space import parse_space
from ..lab.compare.study import HEARTBEAT, redact
from ..lab.progressbar import ProgressBar
from . import _common

# The parser's names and defaults, written here so that `descentlab --help` imports no
# network (lab.testbed imports the workloads); tests/test_benchmark.py checks them against
# lab.testbed.PRESETS, lab.workloads.WORKLOADS and lab.testbed.stats.ALPHA.
PRESET_NAMES = ("smoke", "standard")
WORKLOAD_NAMES = ("nqm", "logreg", "mlp", "autoencoder", "cnn", "charlm")
ALPHA = 0.05

EXAMPLE = """examples:
  descentlab benchmark --preset smoke --data-dir ../shared/data/mnist --out out/bench-smoke
  descentlab benchmark --preset smoke --workloads nqm charlm --optimizers sgd adam lion \\
      --out out/bench-two
  descentlab benchmark --preset standard --data-dir ~/mnist --workers 2 --out out/bench
  descentlab benchmark --plugin my_rules.py --optimizers my_signsgd adam sgd \
      --data-dir ~/mnist --out out/bench-mine

  descentlab benchmark --report-only out/bench      (redraw the report from its files)

Many machines: give each the same command with --storage postgresql://user@host/db
(--worker-only on all but one). Ctrl-C and run the same command again to resume.

writes to --out: report.md (leaderboard, verdicts, tables), profiles.png,
steps_to_target.png, curves.png, defaults_vs_tuned.png, trials.csv, runs.csv, curves.csv,
summary.csv, manifest.json and study.db (the Optuna studies: tuning trials and test runs)."""


def _settings(args: argparse.Namespace) -> tuple[dict, dict, list[str]]:
    from ..lab.testbed import MNIST_WORKLOADS, PRESETS, scaled, variant_settings
    from ..lab.workloads import VARIANTS, WORKLOADS

    preset = PRESETS[args.preset]
    names = args.workloads or list(preset.workloads)
    for n in names:
        if n not in WORKLOADS:
            raise InputError(f"--workloads: unknown workload {n!r}; use {', '.join(WORKLOADS)}")
    if len(set(names)) != len(names):
        raise InputError("--workloads: a workload given twice")
    if not (math.isfinite(args.scale) and args.scale > 0):
        raise InputError(f"--scale must be a positive number, got {args.scale}")
    settings = {}
    for n in names:
        s = scaled(preset.workloads.get(n, {}), args.scale)
        if n in MNIST_WORKLOADS:
            if not args.data_dir:
                raise InputError(f"workload {n} needs --data-dir (the MNIST IDX files)")
            s["data_dir"] = args.data_dir
        settings[n] = s
    if args.no_variants:
        variants = {}
    else:
        variants = {n: list(preset.variants[n]) for n in names if n in preset.variants}
        for n, vs in variants.items():
            for v in vs:
                if v not in VARIANTS[n]:
                    raise InputError(f"preset {args.preset}: unknown variant {v!r} of {n}")
                variant_settings(n, v, settings[n])       # checked before anything is written
    optimizers = args.optimizers or list(preset.optimizers)
    for spec in optimizers:       # checked before anything is written
        parse_space(spec)
    for flag in ("budget", "seeds", "test_seeds", "studies"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise InputError(f"--{flag.replace('_', '-')} must be an integer >= 1, "
                             f"got {value}")
    return settings, variants, optimizers


def _worker_argv(args: argparse.Namespace, url: str) -> list[str]:
    argv = list(args.argv)
    out = []
    skip = False
    for tok in argv:
        if skip:
            skip = False
            continue
        flag = tok.split("=", 1)[0]
        if flag in ("--workers", "--storage"):
            skip = "=" not in tok
            continue
        out.append(tok)
    return [*out, f"--storage={url}", "--workers=1", "--worker-only"]


def report_only(folder: str) -> int:
    """``--report-only DIR``: the report and figures of a finished run drawn again from its
    files (:func:`descentlab.lab.testbed.saved.redraw`), nothing re-run."""
    from ..lab.testbed.saved import redraw

    if not Path(folder).is_dir():
        raise InputError(f"--report-only: {folder} is not a folder")
    written = redraw(folder)
    print(f"redrew {', '.join(p.name for p in written)} in {folder}/ from its CSVs and "
          "manifest.json")
    return 0


def run(args: argparse.Namespace) -> int:
    from ..lab.testbed import PRESETS, stats
    from ..lab.testbed.run import benchmark, count_test_runs

    if args.report_only is not None:
        return report_only(args.report_only)
    t0 = time.perf_counter()
    if args.workers < 1:
        raise InputError(f"--workers must be >= 1, got {args.workers}")
    if not 0 < args.alpha < 1:
        raise InputError(f"--alpha must be in (0, 1), got {args.alpha}")
    if args.heartbeat < 1:
        raise InputError(f"--heartbeat must be a whole number of seconds >= 1, got "
                         f"{args.heartbeat}")
    preset = PRESETS[args.preset]
    settings, variants, optimizers = _settings(args)
    budget = args.budget or preset.budget
    seeds = args.seeds or preset.seeds
    test_seeds = args.test_seeds or preset.test_seeds
    studies = args.studies or preset.studies
    out = Path(args.out)
    url = args.storage or f"sqlite:///{(out / 'study.db').resolve()}"
    children = []
    worker = args.worker_only
    tune_bar = ProgressBar(budget * studies * len(optimizers) * len(settings), "tuning",
                           unit=" trials", enabled=not worker, eta=True)
    n_var = sum(len(v) for v in variants.values())
    test_bar = ProgressBar(count_test_runs(len(settings), n_var, len(optimizers), test_seeds,
                                          seeds),
                           "testing", unit=" runs", enabled=not worker, eta=True)
    count = [0, 0]

    def tick(i: int, bar: ProgressBar):
        def f(n: int) -> None:
            if n == 0:  # the phase starts now (testing: tuning has ended)
                if i == 1:
                    tune_bar.close()
                bar.start = time.perf_counter()
            count[i] += n
            bar.update(count[i])
        return f

    def spawn() -> None:
        if args.workers > 1:
            argv = _worker_argv(args, url)
            children.extend(subprocess.Popen([sys.executable, "-m", "descentlab", *argv])
                            for _ in range(args.workers - 1))

    try:
        out.mkdir(parents=True, exist_ok=True)
        result = benchmark(settings, optimizers, budget=budget, seeds=seeds,
                           test_seeds=test_seeds, out=out, variants=variants, seed=args.seed,
                           studies=studies,
                           storage=url, study=args.study, heartbeat=args.heartbeat,
                           chunk=args.chunk if args.chunk else (1 if args.workers > 1
                                                                or args.storage else None),
                           tuning_progress=tick(0, tune_bar), test_progress=tick(1, test_bar),
                           worker_only=worker, max_trials=args.max_trials,
                           prepared=spawn)
    finally:
        for c in children:
            c.wait()
    if result is None:
        return 0
    test_bar.close()
    from ..lab.testbed import report
    from ..lab.testbed.summary import summarise

    summary = summarise(result, alpha=args.alpha, seed=args.seed)
    machine = manifest.versions()
    wall = time.perf_counter() - t0
    written = report.write(result, summary, out, title=report.title(args.preset),
                           machine=machine, wall_seconds=wall)
    recorded = argparse.Namespace(**{**vars(args),
                                     "storage": args.storage and redact(args.storage)})
    doc = {"workloads": [o.describe() for o in result.objectives],
           "variants": result.variants, "optimizers": result.labels,
           "spaces": [s.as_dict() for s in result.spaces], "budget": result.budget,
           "studies": result.studies, "study_best": {
               f"{w}/{o}": v for (w, o), v in result.study_best.items()},
           "chosen_study": {f"{w}/{o}": k for (w, o), k in result.chosen.items()},
           "tuning_seeds": result.tuning_seeds, "test_seeds": result.test_seeds,
           "targets": result.targets, "alpha": args.alpha, "tau_max": stats.TAU_MAX,
           "wall_seconds": wall, "storage": redact(url),
           "score": dict(zip(result.labels, summary.score.tolist()))}
    written.append(manifest.write_manifest(out, recorded, doc, written, seed=args.seed))
    print(f"benchmark done in {wall:.0f} s; wrote {', '.join(p.name for p in written)} "
          f"to {out}/")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "benchmark", help="the optimizer testbed: workloads, time to target, verdicts",
        description="Tune every optimizer with the same budget of random-search trials on "
        "each workload, set each workload's validation target from the tuned optimizers, "
        "re-run the best configuration and the defaults on fresh test seeds and report steps "
        "to target with bootstrap intervals, pairwise verdicts (sign-flip test, Holm), "
        "performance profiles, AlgoPerf's integrated score and held-out variants.",
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=PRESET_NAMES, default="smoke",
                   help="smoke (minutes) or standard (hours); default smoke")
    p.add_argument("--workloads", nargs="+", metavar="NAME",
                   help=f"a subset of the preset's workloads ({', '.join(WORKLOAD_NAMES)})")
    p.add_argument("--optimizers", nargs="+", metavar="SPEC",
                   help="optimizers or search spaces NAME[:key=value|LOW..HIGH] (default: "
                   "the preset's)")
    _common.add_plugin_argument(p)
    p.add_argument("--budget", type=int, default=None,
                   help="trials per optimizer and tuning study")
    p.add_argument("--studies", type=int, default=None,
                   help="independent tuning studies per optimizer; the median study's best "
                   "configuration is tested (AlgoPerf: 5; smoke 1, standard 5)")
    p.add_argument("--seeds", type=int, default=None, help="tuning seeds per trial")
    p.add_argument("--test-seeds", type=int, default=None, help="fresh test seeds (>= 10 "
                   "for the preset's claims)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="multiply every workload's steps and training-set size (1)")
    p.add_argument("--no-variants", action="store_true", help="skip the held-out variants")
    p.add_argument("--alpha", type=float, default=ALPHA,
                   help=f"level of the pairwise tests ({ALPHA})")
    p.add_argument("--seed", type=int, default=0, help="seed of the plans and seeds (0)")
    p.add_argument("--data-dir", default=None, help="folder of the MNIST IDX files")
    p.add_argument("--storage", default=None, metavar="URL",
                   help="an Optuna storage URL (default sqlite:///OUT/study.db)")
    p.add_argument("--study", default="benchmark", metavar="NAME",
                   help="the study's name in the storage (default benchmark)")
    p.add_argument("--workers", type=int, default=1, help="local worker processes (1)")
    p.add_argument("--worker-only", action="store_true",
                   help="run tuning trials and test runs only, no report (helper machines)")
    p.add_argument("--chunk", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--heartbeat", type=int, default=HEARTBEAT, metavar="SECONDS",
                   help=f"heartbeat interval ({HEARTBEAT})")
    p.add_argument("--max-trials", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--report-only", default=None, metavar="DIR",
                   help="draw report.md and the figures of the finished run in DIR again "
                   "from its CSVs and manifest.json (nothing is re-run)")
    p.add_argument("--out", default="out/benchmark", metavar="DIR",
                   help="output folder (default out/benchmark)")
    p.set_defaults(run=run)
