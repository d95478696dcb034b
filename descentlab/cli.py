"""The ``descentlab`` command line.

Each subcommand lives in its own module under :mod:`descentlab.commands` and defines
``register(subparsers)``, which adds its parser and sets ``run=function(args) -> int``.
Modules are discovered automatically, so adding a command touches no shared file. A command
with a ``--plugin FILE`` option (every one that takes optimizers) runs with the installed
packages' optimizers and the user's plugin files registered (:mod:`descentlab.plugins`); the
files are unregistered again when it ends.

Errors a user can cause (bad names, malformed specs, invalid values, damaged files, work
beyond the limits of :mod:`descentlab.lab.limits`) are the library's own exceptions
(:mod:`descentlab.errors`); exactly those are printed as one line, ``descentlab: error: ...``,
with exit status 2. Anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import __version__, commands
from .errors import DescentlabError, InputError

#: The command line's name for a user mistake (kept for old imports).
UsageError = InputError


def _user_errors() -> tuple[type[BaseException], ...]:
    """What is printed as one line: the library's own errors, and the spec parser's (which
    wraps the optimizers' plain ValueErrors until they raise the errors.py classes)."""
    from .lab.spec import SpecError

    return (DescentlabError, SpecError)


class Parser(argparse.ArgumentParser):
    """argparse, but: no abbreviated flags (``--ou`` is not ``--out``: a manifest's argv must
    mean one thing), and an error is one line naming the flag, exit status 2."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # type: ignore[override]
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="descentlab",
        description="Gradient-descent optimizers that read like their equations, and a lab "
        "that races them.",
    )
    parser.add_argument("--version", action="version", version=f"descentlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def _check_repeats(parser: argparse.ArgumentParser, argv: list[str], command: str) -> None:
    """A flag given twice (argparse keeps the last silently): refuse it, naming the flag.
    A repeatable flag (``action="append"``: ``--plugin``) may be given again."""
    sub = next(a for a in parser._actions  # noqa: SLF001 - the parser built above
               if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
    options = sub.choices[command]._option_string_actions  # noqa: SLF001
    seen: dict[int, str] = {}
    for token in argv[argv.index(command) + 1:]:
        if token == "--":
            break
        action = options.get(token.split("=", 1)[0]) if token.startswith("-") else None
        if action is None or action.dest == "help" or isinstance(
                action, argparse._AppendAction):  # noqa: SLF001 - repeatable by design
            continue
        if id(action) in seen:
            raise InputError(f"{token.split('=', 1)[0]} is given twice (as "
                             f"{seen[id(action)]} before); give it once")
        seen[id(action)] = token.split("=", 1)[0]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "run", None):
            parser.print_help()
            return 0
        _check_repeats(parser, argv, args.command)
        args.argv = argv  # recorded in manifests; `rerun` parses it again
        if not hasattr(args, "plugin"):  # a command that takes no optimizer
            return int(args.run(args) or 0)
        from . import plugins

        plugins.load_entry_points()  # installed packages' optimizers, once per process
        with plugins.loaded(args.plugin):  # --plugin FILE: loaded for this command only
            return int(args.run(args) or 0)
    except _user_errors() as e:
        print(f"descentlab: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("descentlab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `descentlab problems | head`: the reader left; not an error
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
