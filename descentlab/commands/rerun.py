"""``descentlab rerun``: run a manifest again, reproducing its outputs exactly.

The manifest's ``argv`` is parsed again by the same parser as a typed command line (with
``--out`` and ``--json`` moved into the new folder), so a replay gets every check and limit a
command line gets. A manifest from before ``argv`` was recorded is turned back into a
command line from its parsed ``arguments`` first. A run that loaded plugin files replays only
with the same files given again (``--plugin FILE``, the SHA-256 the manifest recorded); the
manifest's own plugin paths are never loaded.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import FileFormatError
from ..lab.manifest import read_manifest
from . import _common

EXAMPLE = """example:
  descentlab race --problem bowl --optimizers adam:lr=0.3 --out out/a
  descentlab rerun out/a/manifest.json --out out/b      # out/b/trajectories.csv == out/a/..."""

#: Flags whose value is a path the run writes: moved into the new --out folder; and the
#: recorded plugin files, never loaded from a manifest (the user's --plugin files replace them).
_MOVED = ("--out", "--json", "--plugin")


def replay_argv(doc: dict[str, Any], out: str, source: str,
                plugin_files: list[str] | None = None) -> list[str]:
    """The command line to run: the recorded one, ``--out`` replaced, ``--json`` moved, the
    recorded ``--plugin`` files replaced by ``plugin_files`` (checked by the caller against
    the manifest's hashes, :func:`descentlab.plugins.match_records`)."""
    from ..cli import build_parser

    command = doc["command"]
    parser = build_parser()
    sub = next(a for a in parser._actions  # noqa: SLF001 - our own parser
               if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
    if command not in sub.choices or command == "rerun":
        raise FileFormatError(f"{source}: key 'command' is {command!r}, not a command this "
                              "descentlab can rerun")
    argv = doc.get("argv")
    if argv is None:
        argv = _from_arguments(sub.choices[command], command, doc["arguments"], source)
    if not argv or argv[0] != command:
        raise FileFormatError(f"{source}: key 'argv' must start with the command "
                              f"{command!r}, got {argv[:1]}")
    new, i = [command], 1
    while i < len(argv):
        token = argv[i]
        flag, eq, value = token.partition("=")
        if flag in _MOVED:
            if not eq:
                i += 1
                value = argv[i] if i < len(argv) else ""
            if flag == "--json":
                new += ["--json", str(Path(out) / Path(value).name)]
        else:
            new.append(token)
        i += 1
    return [*new, *(f"--plugin={f}" for f in plugin_files or ()), "--out", out]


def _from_arguments(parser: argparse.ArgumentParser, command: str, arguments: dict,
                    source: str) -> list[str]:
    """An old manifest's parsed arguments back into a command line."""
    by_dest = {a.dest: a for a in parser._actions if a.dest != "help"}  # noqa: SLF001
    unknown = sorted(set(arguments) - set(by_dest))
    if unknown:
        raise FileFormatError(f"{source}: key 'arguments.{unknown[0]}' is not an argument of "
                              f"`descentlab {command}`")
    argv = [command]
    for dest, value in arguments.items():
        action = by_dest[dest]
        if value is None or value == action.default or dest in ("out", "plugin"):
            continue
        if not action.option_strings:
            argv.append(str(value))
        elif isinstance(action, argparse._StoreTrueAction):  # noqa: SLF001
            if value is True:
                argv.append(action.option_strings[0])
        elif isinstance(value, list):
            argv += [action.option_strings[0], *map(str, value)]
        else:
            argv.append(f"{action.option_strings[-1]}={value}")
    return argv


def run(args: argparse.Namespace) -> int:
    from .. import plugins
    from ..cli import main

    doc = read_manifest(args.manifest)
    files = plugins.match_records(doc.get("plugins") or [], args.plugin_files or [],
                                  str(args.manifest))
    argv = replay_argv(doc, args.out, str(args.manifest), files)
    print(f"rerunning `descentlab {' '.join(argv)}` from {args.manifest}")
    return main(argv)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rerun", help="reproduce a run from its manifest.json",
                       description="Run the command recorded in a manifest.json again, with "
                       "the same settings, writing to --out.", epilog=EXAMPLE,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("manifest", help="a manifest.json (or the folder holding one)")
    p.add_argument("--out", type=_common.out_dir, required=True, metavar="DIR",
                   help="where to write the outputs")
    p.add_argument("--plugin", dest="plugin_files", action="append", default=None,
                   metavar="FILE", help="a plugin file the run used, given again (the "
                   "manifest records its SHA-256; a manifest never loads code by itself)")
    p.set_defaults(run=run)
