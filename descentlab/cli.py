"""The ``descentlab`` command line.

Each subcommand lives in its own module under :mod:`descentlab.commands` and defines
``register(subparsers)``, which adds its parser and sets ``run=function(args) -> int``.
Modules are discovered automatically, so adding a command touches no shared file.

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="descentlab",
        description="Gradient-descent optimizers that read like their equations, and a lab "
        "that races them.",
    )
    parser.add_argument("--version", action="version", version=f"descentlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 0
    try:
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
