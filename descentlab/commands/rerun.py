"""``descentlab rerun``: run a manifest again, reproducing its outputs exactly."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from ..lab.manifest import read_manifest

EXAMPLE = """example:
  descentlab race --problem bowl --optimizers adam:lr=0.3 --out out/a
  descentlab rerun out/a/manifest.json --out out/b      # out/b/trajectories.csv == out/a/..."""


def run(args: argparse.Namespace) -> int:
    from ..cli import build_parser

    doc = read_manifest(args.manifest)
    command = doc["command"]
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if command not in sub.choices or command == "rerun":
        raise InputError(f"the manifest's command {command!r} is not one this descentlab can "
                         "rerun")
    cmd_parser = sub.choices[command]
    defaults = {a.dest: a.default for a in cmd_parser._actions if a.dest != "help"}
    defaults.update(cmd_parser._defaults)
    recorded = dict(doc["arguments"])
    if recorded.get("json"):  # other files the run wrote go to the new folder too
        recorded["json"] = str(Path(args.out) / Path(recorded["json"]).name)
    unknown = sorted(set(recorded) - set(defaults) - {"command"})
    if unknown:
        raise InputError(f"the manifest has arguments {command} does not take: "
                         f"{', '.join(unknown)}")
    namespace = argparse.Namespace(**{**defaults, **recorded, "out": args.out,
                                      "command": command})
    print(f"rerunning `descentlab {command}` from {args.manifest} into {args.out}/")
    return int(namespace.run(namespace) or 0)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rerun", help="reproduce a run from its manifest.json",
                       description="Run the command recorded in a manifest.json again, with "
                       "the same settings, writing to --out.", epilog=EXAMPLE,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("manifest", help="a manifest.json (or the folder holding one)")
    p.add_argument("--out", required=True, metavar="DIR", help="where to write the outputs")
    p.set_defaults(run=run)
