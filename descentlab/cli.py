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
from typing import Any

from . import __version__, commands
from .errors import DescentlabError, InputError, closest

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
        print(f"{self.prog}: error: {message}{_flag_hint(self, message)}", file=sys.stderr)
        raise SystemExit(2)

    # argparse keeps what follows in private attributes: they are read here, once, so the
    # commands (rerun, compare's workers, the playground's export) use a public way.
    def subcommand(self, name: str) -> Parser | None:
        """The parser of the subcommand ``name``, or ``None`` if there is none."""
        for action in self._actions:  # noqa: SLF001 - argparse's list of arguments
            if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
                return action.choices.get(name)
        return None

    def arguments(self) -> list[argparse.Action]:
        """The arguments this parser takes, ``--help`` left out."""
        return [a for a in self._actions if a.dest != "help"]  # noqa: SLF001

    def option(self, flag: str) -> argparse.Action | None:
        """The argument that ``flag`` (``--out``) sets, or ``None``."""
        return self._option_string_actions.get(flag)  # noqa: SLF001

    def defaults(self) -> dict[str, Any]:
        """What parsing no arguments gives: every argument's default, then the values of
        ``set_defaults`` (such as ``run``)."""
        out = {a.dest: a.default for a in self.arguments()}
        out.update(self._defaults)  # noqa: SLF001
        return out

    @staticmethod
    def is_repeatable(action: argparse.Action) -> bool:
        """Whether an argument may be given again (``action="append"``: ``--plugin``)."""
        return isinstance(action, argparse._AppendAction)  # noqa: SLF001

    @staticmethod
    def is_switch(action: argparse.Action) -> bool:
        """Whether an argument is a flag without a value (``store_true``)."""
        return isinstance(action, argparse._StoreTrueAction)  # noqa: SLF001


#: The command line being parsed (for the flag hints of :func:`_flag_hint`).
_argv: list[str] = []


def _flag_hint(parser: argparse.ArgumentParser, message: str) -> str:
    """A flag that argparse does not know, near one it does (``race --optimizer`` for
    ``--optimizers``, ``--stpes`` for ``--steps``): say so after its message."""
    if parser.prog == "descentlab":  # unrecognized arguments: the subcommand's flags
        sub = next((a for a in parser._actions  # noqa: SLF001 - the parser built here
                    if isinstance(a, argparse._SubParsersAction)), None)  # noqa: SLF001
        command = next((t for t in _argv if sub is not None and t in sub.choices), None)
        if command is None:
            return ""
        parser = sub.choices[command]
    flags = list(parser._option_string_actions)  # noqa: SLF001
    given = [t.split("=", 1)[0] for t in _argv if t.startswith("--")]
    unknown = [t for t in given if t not in flags]
    if message.startswith("the following arguments are required: "):
        wanted = message.split(": ", 1)[1].split(", ")
        pairs = [(t, w) for t in unknown for w in wanted if closest(t, [w]) == w]
    else:
        pairs = [(t, closest(t, flags)) for t in unknown]
    hints = [f"{t} is not a flag of {parser.prog}: did you mean {w}?" for t, w in pairs if w]
    return f" ({'; '.join(hints)})" if hints else ""


def build_parser() -> Parser:
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


def _check_repeats(parser: Parser, argv: list[str], command: str) -> None:
    """A flag given twice (argparse keeps the last silently): refuse it, naming the flag.
    A repeatable flag (``action="append"``: ``--plugin``) may be given again."""
    options = parser.subcommand(command)
    seen: dict[int, str] = {}
    for token in argv[argv.index(command) + 1:]:
        if token == "--":
            break
        action = options.option(token.split("=", 1)[0]) if token.startswith("-") else None
        if action is None or action.dest == "help" or Parser.is_repeatable(action):
            continue
        if id(action) in seen:
            raise InputError(f"{token.split('=', 1)[0]} is given twice (as "
                             f"{seen[id(action)]} before); give it once")
        seen[id(action)] = token.split("=", 1)[0]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    _argv[:] = argv
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
