"""``descentlab sweep``: a grid of learning rates × a second hyperparameter (or of start
points), run as one vectorised computation, each run classified (E1's stability question)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import InputError
from ..files import atomic_path
from ..lab import limits, manifest
from ..lab.progressbar import ProgressBar
from ..lab.sweep import start_grid, sweep, sweep_starts
from . import _common

EXAMPLE = """examples:
  descentlab sweep --problem quartic --start=-8 --steps 99 --optimizer adam:eps=1e-10 \\
      --lr 0.1:12:0.1 --grid beta2=0.999,0.5 --json out.json
  descentlab sweep --problem two_basin --optimizer sgd --lr 0.01,0.05,0.1 --starts 40

outcomes: global (ends within --tol of a global minimum), local (of a local one), diverged
(non-finite, or left the window), moving (none of these); 'bounced' = reached the global
minimum and later left its basin. Writes stability.png (or starts.png) and manifest.json to
--out, and one JSON record per grid point with --json."""


def run(args: argparse.Namespace) -> int:
    problem = _common.resolve_problem(args)
    start = _common.parse_point(args.start, problem)
    _common.check_start_inside(problem, start, args.margin)
    rates = None if args.lr is None else _common.parse_values(args.lr, "--lr")
    noise = _common.noise_settings(args)
    axis, values = _common.parse_grid(args.grid) if args.grid else (None, None)
    n_rates = 1 if rates is None else rates.size
    if args.starts is not None:
        runs, flag = args.starts ** problem.dim * n_rates, "--starts" + (" × --lr" if rates
                                                                       is not None else "")
    else:
        runs, flag = n_rates * (1 if values is None else values.size), "--lr × --grid"
    limits.check(flag, runs, limits.MAX_RUNS, "runs")
    limits.check_work(f"{flag} × --steps", runs, args.steps)
    limits.check_memory(flag, runs * limits.SWEEP_BYTES_PER_RUN * problem.dim, "the sweep")
    out = Path(args.out)
    from ..viz import maps, style

    if args.starts is not None:
        if args.grid or args.start_spread:
            raise InputError("--starts sweeps start points; it cannot be combined with --grid "
                             "or --start-spread")
        starts = start_grid(problem, args.starts)
        runs = starts.shape[0] * (1 if rates is None else rates.size)
        bar = ProgressBar(args.steps, f"sweep {runs} runs", unit=" steps")
        result = sweep_starts(problem, args.optimizer, starts, rates, steps=args.steps,
                              tol=args.tol, margin=args.margin, progress=bar.update,
                              noise=noise["noise"], seed=args.seed)
        bar.close()
        rate = result.success_rate()
        print(f"{args.optimizer} on {problem.name}: {starts.shape[0]} starts, {args.steps} steps")
        print(f"{'lr':>10} {'reach global':>13} {'local':>7} {'moving':>7} {'diverged':>9}")
        for i, lr in enumerate(result.lr):
            col = result.outcome[:, i]
            print(f"{lr:>10g} {rate[i]:>13.1%} {(col == 'local').mean():>7.1%} "
                  f"{(col == 'moving').mean():>7.1%} {(col == 'diverged').mean():>9.1%}")
        written = style.save(maps.start_map(result), out / "starts",
                             _common.formats(args))
        summary = {"success_rate": {f"{lr:g}": float(r) for lr, r in zip(result.lr, rate)}}
    else:
        if rates is None:
            raise InputError("--lr is required: a list (0.1,0.5) or a range START:STOP:STEP")
        n = rates.size * (1 if values is None else values.size)
        bar = ProgressBar(args.steps, f"sweep {n} runs", unit=" steps")
        result = sweep(problem, args.optimizer, rates, axis=axis, axis_values=values,
                       start=start, steps=args.steps, tol=args.tol, margin=args.margin,
                       progress=bar.update, **noise, seed=args.seed,
                       start_shape=args.start_dist)
        bar.close()
        print(f"{args.optimizer} on {problem.name} from {start}, {args.steps} steps, "
              f"{n} runs (tol {result.tol:g})")
        summary = {"thresholds": result.thresholds()}
        print(f"{'':<16} {'first reach':>11} {'first global':>12} {'first bounce':>12}   "
              "counts (global/local/moving/diverged, bounced)")
        for th in result.thresholds():
            label = f"{th['axis']}={th['value']:g}" if th["axis"] else "all"
            c = th["counts"]
            print(f"{label:<16} {_fmt(th['first_reach']):>11} {_fmt(th['first_global']):>12} "
                  f"{_fmt(th['first_bounce']):>12}   {c['global']}/{c['local']}/{c['moving']}/"
                  f"{c['diverged']}, {th['bounced']}")
        written = style.save(maps.stability_map(result), out / "stability", _common.formats(args))
    if args.json:
        head = json.dumps({"optimizer": args.optimizer, "problem": problem.name,
                           "steps": args.steps, "tol": result.tol, **summary,
                           "records": []}, indent=1)
        count = write_records(args.json, head, result.iter_records())
        print(f"wrote {count} records to {args.json}")
    settings = {"problem": manifest.problem_settings(problem), "start": list(start),
                "steps": args.steps, "tol": result.tol, "optimizer": args.optimizer,
                **noise, "seed": args.seed, **summary}
    written.append(manifest.write_manifest(out, args, settings, written))
    print(f"wrote {', '.join(p.name for p in written)} to {out}/")
    return 0


def write_records(path: str, head: str, records) -> int:
    """Write ``head`` (a JSON object ending in ``"records": []``) with the records streamed
    into that list, one at a time: no list of a million dicts in memory. Atomic."""
    assert head.endswith("[]\n}") or head.endswith("[]}")
    before = head[: head.rindex("[]")]
    count = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(before + "[")
        for rec in records:
            f.write(("\n  " if count == 0 else ",\n  ") + json.dumps(rec))
            count += 1
        f.write("\n ]\n}\n" if count else "]\n}\n")
    return count


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:g}"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="a grid of rates × a hyperparameter (or of starts), "
                       "vectorised, each run classified",
                       description="Run a whole grid of learning rates × one more "
                       "hyperparameter (or of start points) as ONE vectorised computation and "
                       "classify every run; print the thresholds and draw a stability map.",
                       epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.allow_negative_values(p)
    _common.add_problem_arguments(p)
    p.add_argument("--steps", type=_common.steps, default=100, help="updates per run (default 100)")
    p.add_argument("--optimizer", required=True, metavar="SPEC",
                   help="the optimizer and its fixed settings, e.g. adam:eps=1e-10")
    p.add_argument("--lr", metavar="VALUES", help="rates: 0.1,0.5,1 or START:STOP:STEP")
    p.add_argument("--grid", metavar="NAME=VALUES",
                   help="the second axis, e.g. beta2=0.999,0.5 or momentum=0.5:0.95:0.05")
    p.add_argument("--starts", type=_common.integer(1, limits.MAX_RUNS, "runs"), metavar="N",
                   help="sweep N start points per axis over the window instead of one start")
    p.add_argument("--json", type=_common.out_file, metavar="FILE",
                   help="write one record per grid point")
    p.add_argument("--tol", type=_common.number(0, low_open=True), default=None,
                   help="distance counted as 'at a minimum' (default 1%% of the window)")
    p.add_argument("--margin", type=_common.number(0, 100), default=0.0,
                   help="runs leaving the window widened by MARGIN × its width count as "
                   "diverged (default 0)")
    _common.add_noise_arguments(p)
    _common.add_output_arguments(p, "out/sweep")
    _common.add_plugin_argument(p)
    p.set_defaults(run=run)
