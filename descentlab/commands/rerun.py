"""``descentlab rerun``: run a manifest again, reproducing its outputs exactly.

The manifest's ``argv`` is parsed again by the same parser as a typed command line (with
``--out`` and ``--json`` moved into the new folder), so a replay gets every check and limit a
command line gets. A manifest from before ``argv`` was recorded is turned back into a
command line from its parsed ``arguments`` first. A run that loaded plugin files replays only
with the same files given again (``--plugin FILE``, the SHA-256 the manifest recorded); the
manifest's own plugin paths are never loaded.

A manifest is untrusted input (a file someone sent): it is read bounded
(:func:`~descentlab.lab.manifest.read_manifest`), every output path it names lands in the
``--out`` folder the user chose, and a place outside it — a storage URL (``--storage``), a
data folder (``--data-dir``) — is never taken from the manifest: the rerun refuses, saying
which flag to pass to ``rerun`` to give one. Only commands that write into ``--out`` can be
rerun.
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
  descentlab rerun out/a/manifest.json --out out/b      # out/b/trajectories.csv == out/a/...
  descentlab rerun out/m/manifest.json --out out/m2 --data-dir ../shared/data/mnist

A manifest's --storage and --data-dir are never used: give them again to rerun."""

#: Flags whose value is a path the run writes: moved into the new --out folder; and the
#: recorded plugin files, never loaded from a manifest (the user's --plugin files replace them).
MOVED = ("--out", "--json", "--plugin")
#: Flags naming a place outside --out (read or written there): never taken from a manifest;
#: ``rerun`` has the same flags to give one.
EXTERNAL = {"--storage": "a storage URL", "--data-dir": "a data folder"}
#: Flags of modes that write no manifest, so no run's manifest has them: a manifest that does
#: is refused (it would act on a place outside --out).
NOT_RERUN = {"--report-only": "redraws a finished run's folder in place and writes no "
                              "manifest"}


def replay_argv(doc: dict[str, Any], out: str, source: str,
                given: dict[str, str] | None = None,
                plugin_files: list[str] | None = None) -> list[str]:
    """The command line to run: the recorded one, ``--out`` replaced, ``--json`` moved into
    ``out``, each :data:`EXTERNAL` flag's value the one in ``given`` (the rerun's own
    command line) — a recorded value not given again is refused, naming the flag to pass —
    and the recorded ``--plugin`` files replaced by ``plugin_files`` (checked by the caller
    against the manifest's hashes, :func:`descentlab.plugins.match_records`)."""
    from ..cli import build_parser

    given = {k: v for k, v in (given or {}).items() if v is not None}
    command = doc["command"]
    parser = build_parser().subcommand(command) if isinstance(command, str) else None
    if parser is None or command == "rerun":
        raise FileFormatError(f"{source}: key 'command' is {command!r}, not a command this "
                              "descentlab can rerun")
    if parser.option("--out") is None:
        raise FileFormatError(f"{source}: key 'command' is {command!r}: `descentlab "
                              f"{command}` writes no outputs into --out, so there is nothing "
                              "to rerun")
    argv = doc.get("argv")
    if argv is None:
        argv = _from_arguments(parser, command, doc["arguments"], source)
    if not argv or argv[0] != command:
        raise FileFormatError(f"{source}: key 'argv' must start with the command "
                              f"{command!r}, got {argv[:1]}")
    new, i = [command], 1
    while i < len(argv):
        token = argv[i]
        flag, eq, value = token.partition("=")
        if flag in NOT_RERUN:
            raise FileFormatError(f"{source}: key 'argv' has {flag}, which {NOT_RERUN[flag]}: "
                                  "not a run to rerun")
        if flag in MOVED or flag in EXTERNAL:
            if not eq:
                i += 1
                value = argv[i] if i < len(argv) else ""
            if flag == "--json":
                name = Path(value).name
                if name in ("", ".", ".."):
                    raise FileFormatError(f"{source}: key 'argv' has --json {value!r}, not a "
                                          "file name")
                new += ["--json", str(Path(out) / name)]
            elif flag in EXTERNAL and flag not in given:
                raise FileFormatError(
                    f"{source}: the recorded command reads or writes {EXTERNAL[flag]} outside "
                    f"--out ({flag} {value!r}); a manifest's {flag} is not used unless given "
                    f"again: pass {flag} to rerun (e.g. `descentlab rerun {source} --out "
                    f"{out} {flag} VALUE`)")
        else:
            new.append(token)
        i += 1
    for flag, value in given.items():
        if parser.option(flag) is None:
            raise FileFormatError(f"rerun {flag}: `descentlab {command}` takes no {flag}")
        new.append(f"{flag}={value}")
    return [*new, *(f"--plugin={f}" for f in plugin_files or ()), "--out", out]


def _from_arguments(parser: Any, command: str, arguments: dict, source: str) -> list[str]:
    """An old manifest's parsed arguments back into a command line (``parser``: the
    command's :class:`descentlab.cli.Parser`)."""
    by_dest = {a.dest: a for a in parser.arguments()}
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
        elif parser.is_switch(action):
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
    argv = replay_argv(doc, args.out, str(args.manifest),
                       {"--storage": args.storage, "--data-dir": args.data_dir}, files)
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
    p.add_argument("--storage", default=None, metavar="URL",
                   help="compare: the storage to use (a manifest's own is never used)")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="mnist, init, compare: the data folder (a manifest's own is "
                   "never used)")
    p.set_defaults(run=run)
