"""``descentlab race``: several optimizers on one surface from the same start (E1, E3)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..files import removed_on_failure, write_text
from ..lab import limits, manifest
from ..lab.progressbar import ProgressBar
from ..lab.race import race
from . import _common

EXAMPLE = """examples:
  descentlab race --problem bowl --start=-7,2 --steps 30 --optimizers sgd:lr=0.95 \\
      momentum:lr=0.1 adagrad:lr=1.5 adam:lr=0.3 rmsprop:lr=0.3 nesterov:lr=0.3 --out out/e3
  descentlab race --problem quartic --start=-8 --steps 99 \\
      --optimizers adam:lr=1.5,eps=1e-10 --animate gif --out out/e1
  descentlab race --f "x**2 + 3*y**2" --start 2,1 --optimizers sgd:lr=0.1 adam:lr=0.1

writes to --out: contours.png (a grid, one panel per optimizer), overlay.png and surface.png
(3-D) for 2-D problems, curve.png for 1-D ones, progress.png (f against the step) for both,
animation.gif|mp4 with --animate (--view surface: on the 3-D surface), trajectories.csv
(optimizer, step, x, y, f) and manifest.json (rerun it with `descentlab rerun`)."""


def run(args: argparse.Namespace) -> int:
    from ..lab.spec import expand_specs

    args.optimizers = expand_specs(args.optimizers)
    problem = _common.resolve_problem(args)
    start = _common.parse_point(args.start, problem)
    _common.check_start_inside(problem, start, args.margin)
    limits.check("--optimizers", len(args.optimizers), limits.MAX_RACERS, "racers")
    limits.check_work("--steps × --optimizers", len(args.optimizers), args.steps)
    limits.check_memory("--steps", 3 * 8 * (args.steps + 1) * len(args.optimizers)
                        * (problem.dim + 1), "the racers' paths")
    if args.animate == "mp4":  # say so before any work
        from ..viz.animate import require_ffmpeg

        require_ffmpeg()
    noise = _common.noise_settings(args)
    seeds = None if args.seeds is None else list(range(args.seed, args.seed + args.seeds))
    if seeds is None and (args.noise or args.start_spread):
        seeds = [args.seed]
    bar = ProgressBar(len(args.optimizers) * args.steps, "race", unit=" updates")
    result = race(problem, args.optimizers, start, args.steps, tol=args.tol,
                  margin=args.margin, progress=bar.update, seeds=seeds, **noise,
                  start_shape=args.start_dist)
    bar.close()
    out = Path(args.out)
    with removed_on_failure([]) as written:  # interrupted: no outputs without a manifest
        written.append(write_text(out / "trajectories.csv", result.csv()))
        if seeds is not None:
            written.append(write_text(out / "seeds.csv", result.seeds_csv()))
        draw(result, out, args, written)
        written.append(manifest.write_manifest(out, args, settings(result), written))
    print(result.table())
    print(f"wrote {len(written)} files to {out}/: {', '.join(p.name for p in written)}")
    return 0


def draw(result, out: Path, args: argparse.Namespace,
         written: list[Path] | None = None) -> list[Path]:
    """Every figure (and the animation) of a race; each file is appended to ``written`` as
    soon as it is on disk (so an interruption can remove it), which is returned."""
    from ..viz import style, surfaces

    fmts = _common.formats(args)
    written = [] if written is None else written
    if result.problem.dim == 2:
        written += style.save(surfaces.contour_grid(result, look=args.look), out / "contours",
                              fmts)
        written += style.save(surfaces.overlay(result), out / "overlay", fmts)
        written += style.save(surfaces.surface3d(result), out / "surface", fmts)
    else:
        written += style.save(surfaces.curve(result), out / "curve", fmts)
    written += style.save(surfaces.progress(result), out / "progress", fmts)
    if result.seeds is not None and len(result.seeds) > 1:
        from ..viz.compare import loss_bands

        f_star = min((m.value for m in result.problem.minima if m.kind == "global"),
                     default=0.0)
        curves = {e.label: e.seed_f - f_star for e in result.entries}
        written += style.save(loss_bands(curves, title=f"{result.problem.name}: "
                                         f"{len(result.seeds)} seeds, noise σ = "
                                         f"{result.noise:g}, start spread {result.spread:g}",
                                         ylabel="f − f*" if f_star else "f"),
                              out / "spread", fmts)
    if args.animate:
        from ..viz.animate import animate

        written.append(animate(result, out / "animation", args.animate, fps=args.fps,
                               view=args.view))
    return written


def settings(result) -> dict:
    return {
        "problem": manifest.problem_settings(result.problem),
        "start": list(result.start), "steps": result.steps, "tol": result.tol,
        "seeds": result.seeds, "noise": result.noise, "spread": result.spread,
        "optimizers": [{"label": e.label, "spec": e.spec,
                        **manifest.optimizer_settings(e.optimizer)} for e in result.entries],
        "summary": result.summary_rows(),
    }


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("race", help="race optimizers on a surface from one start",
                       description="Run every optimizer from the same start on one surface; "
                       "draw the paths, write trajectories.csv and a manifest, print a summary "
                       "(final f, nearest minimum and distance, steps to tol, divergence).",
                       epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.allow_negative_values(p)
    _common.add_problem_arguments(p)
    p.add_argument("--steps", type=_common.steps,
                   default=30, help="updates per optimizer (default 30)")
    p.add_argument("--optimizers", nargs="+", required=True, metavar="SPEC",
                   help="optimizer specs NAME[:key=value,...], e.g. adam:lr=0.3,beta2=0.5 "
                   "(plain names may be joined by commas: sgd,adam)")
    p.add_argument("--animate", choices=("gif", "mp4"), help="also write an animation")
    p.add_argument("--fps", type=_common.integer(1, 100),
                   default=10, help="animation frames per second (10)")
    p.add_argument("--view", choices=("contour", "surface"), default="contour",
                   help="animate 2-D problems on the contours (default) or on the 3-D surface")
    p.add_argument("--look", choices=("palette", "classic"), default="palette",
                   help="contours.png: paths in each optimizer's colour (default) or as the "
                   "textbook's red dots (classic)")
    p.add_argument("--tol", type=_common.number(0, low_open=True), default=None,
                   help="distance counted as 'at a minimum' (default 1%% of the window)")
    p.add_argument("--margin", type=_common.number(0, 100), default=0.0,
                   help="runs leaving the window widened by MARGIN × its width on each side "
                   "count as diverged (default 0: the window itself)")
    _common.add_noise_arguments(p, seeds=True)
    _common.add_output_arguments(p, "out/race")
    _common.add_plugin_argument(p)
    p.set_defaults(run=run)
