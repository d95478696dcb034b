"""``descentlab compare``: a fair comparison — equal tuning budgets, seeds and noise — on
Optuna, from one machine to many (see :mod:`descentlab.lab.compare`)."""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from ..files import write_text
from ..lab import limits, manifest
from ..lab.compare import (
    TEST_SEED_OFFSET,
    collect,
    evaluators,
    held_out_seeds,
    prepare,
    tuning_seeds,
)
from ..lab.compare.report import performance_profile
from ..lab.compare.study import HEARTBEAT, redact, remaining, work
from ..lab.compare.tasks import (
    MNIST_METRICS,
    SURFACE_METRICS,
    MnistTask,
    SurfaceTask,
    check_accuracy_target,
)
from ..lab.progressbar import ProgressBar
from ..lab.run_outputs import write_csv
from . import _common

if TYPE_CHECKING:
    from ..cli import Parser

EXAMPLE = """examples:
  descentlab compare --problem bowl --optimizers sgd momentum nesterov adagrad rmsprop adam \\
      --budget 50 --seeds 5 --steps 100 --noise 0.5 --start-spread 1 --out out/compare-bowl
  descentlab compare --problem bowl rosenbrock beale --optimizers sgd adam:lr=1e-3..1 \\
      momentum:momentum=0.9 --budget 30 --out out/compare-three
  descentlab compare --problem mnist --optimizers sgd momentum adam --budget 20 --seeds 3 \\
      --iterations 500 --data-dir /path/to/mnist --out out/compare-mnist

search spaces: NAME uses the default space (lr log-uniform 1e-4..10, beta1/beta2/momentum/rho
over their usual ranges); NAME:key=value fixes a value, NAME:key=LOW..HIGH[/log|/lin] tunes it
over a range. Many machines: give every one the same command with --storage
postgresql://user@host/db --study NAME (add --worker-only on all but one); --workers N
starts N local processes. Look at a study:
optuna-dashboard sqlite:///OUT/study.db  (pip install "descentlab[dashboard]").

writes to --out: study.db (the Optuna study: run the command again to resume), report.txt,
results.csv, trials.csv, expected_best[_PROBLEM].png, loss[_PROBLEM].png, profile.png (more
than one problem) and manifest.json (`descentlab rerun` reproduces every figure)."""


def _tasks(args: argparse.Namespace) -> list:
    names = args.problem or []
    if args.expression and names:
        raise InputError("give either --problem or --f, not both")
    if not names and not args.expression:
        raise InputError("say which problem: --problem NAME [NAME ...] (or mnist), or --f EXPR")
    if "mnist" in names:
        if args.noise or args.start_spread or args.start is not None:
            raise InputError("--noise, --start-spread and --start apply to surfaces; MNIST's "
                             "randomness is its seeds (initial weights, batch order)")
        if len(names) > 1:
            raise InputError("--problem mnist cannot be compared together with surfaces "
                             "(different metrics); run it on its own")
        metric = args.metric or "test_accuracy"
        if metric not in MNIST_METRICS:
            raise InputError(f"--metric {metric!r} on mnist: expected one of "
                             f"{', '.join(MNIST_METRICS)}")
        timed = metric == "iterations_to_accuracy"
        target = 0.9 if args.target_accuracy is None else args.target_accuracy
        every = min(25, args.iterations) if args.check_every is None else args.check_every
        if timed:
            check_accuracy_target(target, every, args.iterations)
        elif args.target_accuracy is not None or args.check_every is not None:
            raise InputError("--target-accuracy and --check-every apply to --metric "
                             "iterations_to_accuracy")
        hidden = tuple(_common.parse_hidden(args.hidden))
        (x, t), (xt, tt) = _common.load_mnist_data(args, progress=False)
        return [MnistTask(x, t, xt, tt, iterations=args.iterations, metric=metric,
                          batch_size=args.batch_size, hidden=hidden, target_accuracy=target,
                          check_every=every)]
    if args.target_accuracy is not None or args.check_every is not None:
        raise InputError("--target-accuracy and --check-every apply to --problem mnist "
                         "--metric iterations_to_accuracy")
    metric = args.metric or "loss"
    if metric not in SURFACE_METRICS:
        raise InputError(f"--metric {metric!r} on surfaces: expected one of "
                         f"{', '.join(SURFACE_METRICS)}")
    _common.noise_settings(args)
    tasks = []
    single = argparse.Namespace(**vars(args))
    for name in names or [None]:
        single.problem = name
        problem = _common.resolve_problem(single)
        if args.start is not None and len(names) > 1:
            raise InputError("--start applies to one problem; with several, each starts at "
                             "its own start")
        start = _common.parse_point(args.start, problem)
        _common.check_start_inside(problem, start, args.margin)
        if metric != "loss" and not any(m.kind == "global" for m in problem.minima):
            raise InputError(f"--metric {metric} needs a known global minimum; "
                             f"{problem.name!r} has none (use --metric loss)")
        tasks.append(SurfaceTask(problem, steps=args.steps, metric=metric, start=start,
                                 spread=args.start_spread, start_shape=args.start_dist,
                                 noise=args.noise, tol=args.tol, margin=args.margin))
    return tasks


def storage_url(args: argparse.Namespace) -> str:
    if args.storage:
        return args.storage
    return f"sqlite:///{(Path(args.out) / 'study.db').resolve()}"


def _worker_argv(args: argparse.Namespace, parser: Parser) -> list[str]:
    """The command line of a worker process: these arguments, one worker, no report."""
    argv = ["compare"]
    for a in parser.arguments():
        if not a.option_strings or a.dest in ("workers", "worker_only"):
            continue
        value = getattr(args, a.dest)
        if value is None or value is False or value == a.default:
            continue
        opt = a.option_strings[-1]
        if value is True:
            argv.append(opt)
        elif a.dest == "plugin":  # repeatable: --plugin=FILE per file
            argv += [f"{opt}={v}" for v in value]
        elif isinstance(value, list):
            argv += [opt, *map(str, value)]
        else:
            argv.append(f"{opt}={value}")
    return argv + ["--workers=1", "--worker-only"]


def run(args: argparse.Namespace) -> int:
    from ..lab.spec import expand_specs

    args.optimizers = expand_specs(args.optimizers)
    tasks = _tasks(args)
    url = storage_url(args)
    made = not args.storage and not Path(args.out).exists()
    if not args.storage:
        Path(args.out).mkdir(parents=True, exist_ok=True)
    try:
        store, plans, spaces = prepare(
            tasks, args.optimizers, budget=args.budget, seeds=args.seeds,
            test_seeds=args.test_seeds, seed=args.seed, sampler=args.sampler, storage=url,
            study=args.study, heartbeat=args.heartbeat, chunk=args.chunk)
    except BaseException:
        if made and not any(Path(args.out).iterdir()):  # a refused command leaves nothing
            Path(args.out).rmdir()
        raise
    tuning = tuning_seeds(args.seeds, args.seed)
    children = []
    if args.workers > 1:
        from ..cli import build_parser

        argv = _worker_argv(args, build_parser().subcommand("compare"))
        if not args.storage:
            argv.append(f"--storage={url}")
        children = [subprocess.Popen([sys.executable, "-m", "descentlab", *argv])
                    for _ in range(args.workers - 1)]
    worker = args.worker_only
    total = args.budget * len(plans)
    left = remaining(store, plans)
    if left == 0 and not worker:
        print(f"compare: the study is already complete ({args.budget} trials × {len(plans)} "
              f"optimizer-problem pairs); writing the report from it (a larger --budget "
              "extends it)")
    bar = ProgressBar(total, "compare", unit=" trials", enabled=not worker and left > 0)
    count = [total - left]
    bar.update(count[0])

    def tick(n: int) -> None:
        count[0] += n
        bar.update(count[0])

    chunk = args.chunk
    if chunk is None and args.sampler == "random" and (args.storage or args.workers > 1
                                                       or worker):
        chunk = max(1, math.ceil(args.budget / 10))  # shared: several batches per study
    with _common.blas_threads(args.blas_threads) as threads:
        work(store, plans, evaluators(tasks, spaces, tuning), sampler=args.sampler,
             seed=args.seed, chunk=chunk, heartbeat=args.heartbeat, progress=tick,
             max_trials=args.max_trials)
        bar.close()
        failed = [c.wait() for c in children]
        if any(failed):
            print(f"descentlab compare: {sum(1 for f in failed if f)} worker process(es) "
                  "failed; their trials were re-queued and run here", file=sys.stderr)
        if worker or args.max_trials is not None:
            return 0
        test = held_out_seeds(args.test_seeds or args.seeds, args.seed)
        result = collect(store, plans, tasks, spaces, budget=args.budget, tuning=tuning,
                         test=test, sampler=args.sampler)
    return write_report(result, args, url, blas=threads)


def _redacted_argv(argv: list[str] | None) -> list[str] | None:
    """The command line with any password in ``--storage`` replaced by ``***``.

    >>> _redacted_argv(["compare", "--storage", "postgresql://me:pw@db/s",
    ...                 "--storage=postgresql://me:pw@db/t"])
    ['compare', '--storage', 'postgresql://me:***@db/s', '--storage=postgresql://me:***@db/t']
    """
    if argv is None:
        return None
    out = list(argv)
    for i, token in enumerate(out):
        if token.startswith("--storage="):
            out[i] = "--storage=" + redact(token[len("--storage="):])
        elif token == "--storage" and i + 1 < len(out):
            out[i + 1] = redact(out[i + 1])
    return out


def _cell(x: float) -> float | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def write_report(result, args: argparse.Namespace, url: str, blas: int | None = None) -> int:
    from ..viz import compare as figures
    from ..viz import style

    out = Path(args.out)
    fmts = _common.formats(args)
    written: list[Path] = []
    many = len(result.tasks) > 1
    text = [result.table()]
    for t in result.tasks:
        suffix = f"_{t.name}" if many else ""
        curves = result.expected_curves(t.name)
        written += style.save(figures.expected_best(
            curves, metric=result.metric_label, log=result.direction == "minimize",
            title=f"{t.name}: expected best {result.metric_label.replace('_', ' ')} "
                  "against the tuning budget"),
            out / f"expected_best{suffix}", fmts)
        runs = {r.label: r.test.curves[0] for r in result.results if r.problem == t.name}
        kind = "iteration" if isinstance(t, MnistTask) else "step"
        written += style.save(figures.loss_bands(
            runs, title=f"{t.name}: tuned optimizers on {len(result.test_seeds)} test seeds",
            xlabel=kind, ylabel="mini-batch loss" if kind == "iteration" else "f − f*",
            start=1 if kind == "iteration" else 0, smooth=kind == "iteration"),
            out / f"loss{suffix}", fmts)
    profile_doc = None
    if many:
        costs = result.profile_costs()
        with np.errstate(invalid="ignore"):
            ratio = costs / costs.min(axis=1, keepdims=True)
        finite = ratio[np.isfinite(ratio)]
        top = max(2.0, 2 * float(finite.max())) if finite.size else 2.0
        taus = np.unique(np.concatenate([[1.0], np.geomspace(1, min(top, 1e12), 200)]))
        rho = performance_profile(costs, taus)
        written += style.save(figures.profile(taus, rho, result.labels,
                                              title="performance profile (test medians)"),
                              out / "profile", fmts)
        ranks, mean = result.rank_table()
        w = max(14, *(len(lab) + 2 for lab in result.labels))  # long specs keep apart
        head = f"{'rank':<12}" + "".join(f"{lab:>{w}}" for lab in result.labels)
        lines = [head] + [f"{t.name:<12}" + "".join(f"{x:>{w}g}" for x in row)
                          for t, row in zip(result.tasks, ranks)]
        lines.append(f"{'mean rank':<12}" + "".join(f"{x:>{w}.2f}" for x in mean))
        text.append("\n".join(lines))
        profile_doc = {"ranks": ranks, "mean_rank": mean,
                       "best_share": dict(zip(result.labels, rho[:, 0]))}
    report = "\n\n".join(text)
    print(report)
    written.append(write_text(out / "report.txt", report + "\n"))
    rows = result.rows()
    keys = sorted({k for r in rows for k in r["tuned"]})
    written.append(write_csv(
        out / "results.csv",
        ["problem", "optimizer", *keys, "test_median", "test_q25", "test_q75",
         "test_diverged", "default_median", "default_q25", "default_q75"],
        [[r["problem"], r["optimizer"], *(r["tuned"].get(k, "") for k in keys),
          *(_cell(r[c]) for c in ("test_median", "test_q25", "test_q75")), r["test_diverged"],
          *(_cell(r[c]) for c in ("default_median", "default_q25", "default_q75"))]
         for r in rows]))
    trial_rows = [[r.problem, r.label, i, _cell(float(v)),
                   *(c.get(k, "") for k in keys)]
                  for r in result.results for i, (v, c)
                  in enumerate(zip(r.trial_values, r.trial_configs))]
    written.append(write_csv(out / "trials.csv",
                             ["problem", "optimizer", "plan_index", "value", *keys],
                             trial_rows))
    settings = {"tasks": [t.describe() for t in result.tasks],
                "spaces": [r.space.as_dict() for r in result.results[:len(result.labels)]],
                "metric": result.metric, "direction": result.direction,
                "budget": result.budget, "tuning_seeds": result.tuning_seeds,
                "test_seeds": result.test_seeds, "sampler": result.sampler,
                "storage": redact(url), "blas_threads": blas, "results": rows,
                "profile": profile_doc}
    recorded = argparse.Namespace(**{**vars(args),
                                     "storage": args.storage and redact(args.storage),
                                     "argv": _redacted_argv(getattr(args, "argv", None))})
    written.append(manifest.write_manifest(out, recorded, settings, written, seed=args.seed))
    print(f"wrote {', '.join(p.name for p in written)} to {out}/")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare", help="a fair comparison: equal tuning budgets, seeds, noise (Optuna)",
        description="Tune every optimizer with the same budget of trials over its search "
        "space, each trial on several seeds; re-run the best of each on fresh test seeds; "
        "report median [IQR], the value at defaults, the expected best against the budget, "
        "loss per step with a seed band and, over several problems, a performance profile "
        "and ranks. Trials live in an Optuna study (resumable; shareable by many workers).",
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.allow_negative_values(p)
    p.add_argument("--problem", nargs="+", metavar="NAME",
                   help="catalogue surfaces (see `descentlab problems`), or mnist")
    p.add_argument("--f", dest="expression", metavar="EXPR",
                   help='your own surface, e.g. "x**2/20 + y**2"')
    p.add_argument("--start", metavar="X[,Y]", help="start point (one problem only)")
    p.add_argument("--window", metavar="X0:X1[,Y0:Y1]", help="view window for --f")
    p.add_argument("--optimizers", nargs="+", required=True, metavar="SPEC",
                   help="search spaces NAME[:key=value|LOW..HIGH[/log|/lin],...] (plain "
                   "names may be joined by commas: sgd,adam)")
    p.add_argument("--budget", type=_common.integer(1, limits.MAX_BUDGET, "trials"),
                   default=50, help="trials per optimizer (50)")
    p.add_argument("--seeds", type=_common.integer(1, limits.MAX_SEEDS, "seeds"), default=5,
                   help="tuning seeds per trial (5)")
    p.add_argument("--test-seeds", type=_common.integer(1, limits.MAX_SEEDS, "seeds"),
                   default=None,
                   help=f"fresh seeds for the re-test (default: as --seeds; seed + "
                   f"{TEST_SEED_OFFSET:,} on)")
    p.add_argument("--metric", default=None,
                   help=f"surfaces: {', '.join(SURFACE_METRICS)} (default loss = f − f*); "
                   f"mnist: {', '.join(MNIST_METRICS)} (default test_accuracy; "
                   "iterations_to_accuracy: see --target-accuracy)")
    p.add_argument("--target-accuracy", type=float, default=None, metavar="A",
                   help="mnist, metric iterations_to_accuracy: the accuracy to reach on the "
                   "held-out validation split (last 1/12 of the training images), in (0, 1] "
                   "(0.9)")
    p.add_argument("--check-every", type=_common.integer(1, limits.MAX_ITERATIONS),
                   default=None, metavar="K",
                   help="mnist, metric iterations_to_accuracy: check every K iterations (25)")
    p.add_argument("--sampler", default="random", choices=("random", "tpe"),
                   help="random search (default; reproducible) or TPE")
    p.add_argument("--steps", type=_common.steps, default=100,
                   help="updates per run on surfaces (100)")
    p.add_argument("--tol", type=float, default=None,
                   help="distance counted as 'at the minimum' (metric steps; 1%% of window)")
    p.add_argument("--margin", type=float, default=0.0,
                   help="runs leaving the window widened by MARGIN count as diverged (0)")
    _common.add_noise_arguments(p)  # --noise, --start-spread, --start-dist, --seed
    p.add_argument("--iterations", type=_common.integer(1, limits.MAX_ITERATIONS, "iterations"),
                   default=500, help="mnist: iterations (500)")
    p.add_argument("--batch-size", type=_common.integer(1, 60_000), default=128,
                   help="mnist: mini-batch size (128)")
    p.add_argument("--hidden", default="100,100,100,100", help="mnist: hidden layer sizes")
    p.add_argument("--data-dir", default=None, help="mnist: folder of the IDX files")
    _common.add_blas_threads_argument(p)
    p.add_argument("--storage", default=None, metavar="URL",
                   help="an Optuna storage URL (default sqlite:///OUT/study.db)")
    p.add_argument("--study", default="compare", metavar="NAME",
                   help="the study's name in the storage (default compare)")
    p.add_argument("--workers", type=_common.integer(1, limits.MAX_WORKERS,
                                                     "local worker processes (4 × the cores)"),
                   default=1, help=f"local worker processes (1; at most {limits.MAX_WORKERS}, "
                   "4 × this machine's cores)")
    p.add_argument("--chunk", type=_common.integer(1, limits.MAX_BUDGET), default=None,
                   metavar="N",
                   help="trials evaluated as one batch (default: all waiting trials of a "
                   "study; a tenth of the budget when the study is shared; TPE 1)")
    p.add_argument("--heartbeat", type=_common.integer(1, 3600), default=HEARTBEAT,
                   metavar="SECONDS",
                   help=f"heartbeat interval; a silent trial is re-run after 3× ({HEARTBEAT})")
    p.add_argument("--max-trials", type=_common.integer(1, limits.MAX_BUDGET), default=None,
                   help=argparse.SUPPRESS)
    p.add_argument("--worker-only", action="store_true",
                   help="run trials only, no test re-runs and no report (helper machines)")
    p.add_argument("--out", type=_common.out_dir, default="out/compare", metavar="DIR",
                   help="output folder (default out/compare)")
    p.add_argument("--svg", action="store_true", help="also write every figure as SVG")
    _common.add_plugin_argument(p)
    p.set_defaults(run=run)
