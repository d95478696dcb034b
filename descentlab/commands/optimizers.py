"""``descentlab optimizers``: the table of optimizers, their defaults and update equations;
``--tree`` draws their lineage (:mod:`descentlab.optim.lineage`) as a figure."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import optim
from ..errors import InputError
from ..optim import lineage
from . import _common

EXAMPLE = """example:
  descentlab optimizers
  descentlab optimizers adam     (one optimizer, with its full docstring)
  descentlab optimizers --tree --out out/lineage --format png svg pdf

--tree writes lineage.png (and .svg / .pdf as --format asks): every optimizer, the idea it
adds and an arrow from each parent (lineage-2.png, ... when it takes more than one page to
stay legible on a full-screen slide); lineage.csv (the table: name, parents, idea, year,
paper, group) and manifest.json (`descentlab rerun` reproduces the files byte for byte)."""

#: What --format accepts (matplotlib writes each without extra packages).
FORMATS = ("png", "svg", "pdf")


def _defaults(name: str) -> str:
    opt = optim.create(name)
    return ", ".join(f"{k}={v:g}" for k, v in opt.hyperparameters().items()
                     if not (k == "weight_decay" and v == 0) and not callable(v))


def tree(args: argparse.Namespace) -> int:
    """``--tree``: the lineage figure, its table as CSV, and the manifest."""
    import matplotlib

    from ..files import csv_text, write_text
    from ..lab import manifest
    from ..viz import style
    from ..viz.lineage import lineage_figures

    lineage.check()  # a built-in optimizer without its lineage is a defect: say which
    out = Path(args.out or "out/lineage")
    formats = list(dict.fromkeys(args.format or ["png"]))  # the order given, each once
    rows = lineage.rows()
    figs = lineage_figures(rows)  # everything computed before the first file is written
    written = [write_text(out / "lineage.csv", csv_text(
        ["name", "parents", "idea", "year", "paper", "group"],
        ([r.name, " ".join(r.parents), r.idea, r.year or "", r.paper, r.group]
         for r in rows)))]
    # A fixed SVG hash salt and no dates (style.save): a rerun writes the same bytes.
    with matplotlib.rc_context({"svg.hashsalt": "descentlab-lineage"}):
        for k, fig in enumerate(figs, 1):  # lineage.png, then lineage-2.png, ... if paged
            written += style.save(fig, out / ("lineage" if k == 1 else f"lineage-{k}"),
                                  formats)
    depth = lineage.depths(rows)
    for r in sorted(rows, key=lambda r: (depth[r.name], r.year or 0)):
        origin = " + ".join(r.parents) if r.parents else (
            "(yours)" if r.group == "yours" else "(the root)")
        print(f"{r.name:<20} ← {origin:<28} {r.idea} ({r.paper or 'no paper'})")
    settings = {"optimizers": len(rows), "generations": 1 + max(depth.values()),
                "pages": len(figs), "formats": formats}
    written.append(manifest.write_manifest(out, args, settings, written))
    print(f"wrote {', '.join(p.name for p in written)} to {out}/")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.tree:
        if args.name:
            raise InputError(f"--tree draws every optimizer; give no name (got {args.name!r})")
        return tree(args)
    given = [flag for flag, on in (("--out", args.out is not None),
                                   ("--format", args.format is not None)) if on]
    if given:
        raise InputError(f"{' and '.join(given)} only apply with --tree (the figure)")
    names = [r.name for r in lineage.rows()]  # by year, the lineage's order
    if args.name:
        key = args.name.strip().lower()
        if key not in optim.available():
            raise InputError(f"unknown optimizer {args.name!r}; available: "
                             f"{', '.join(optim.available())}")
        names = [key]
    for name in names:
        print(f"{name:<10} {_defaults(name)}")
        # The equations live on the class (p parameter, g gradient, η lr, t the 1-based step);
        # the full statement with the Keras/textbook variants is its docstring.
        for line in optim.get_class(name).equations or ("(see its docstring)",):
            print(f"{'':<12}{line}")
        print()
    if args.name:
        print((optim.get_class(names[0]).__doc__ or "").strip())
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("optimizers", help="list the optimizers, their defaults and equations",
                       description="The optimizers, their default hyperparameters (PyTorch's) "
                       "and their update equations.", epilog=EXAMPLE,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", nargs="?", help="show one optimizer, with its docstring")
    p.add_argument("--tree", action="store_true",
                   help="draw the lineage: each optimizer, the idea it adds, its parent(s)")
    p.add_argument("--out", type=_common.out_dir, default=None, metavar="DIR",
                   help="with --tree: output folder (default out/lineage)")
    p.add_argument("--format", nargs="+", choices=FORMATS, default=None, metavar="FMT",
                   help="with --tree: figure formats, any of png svg pdf (default png)")
    _common.add_plugin_argument(p)
    p.set_defaults(run=run)
