"""The library's own exceptions: a mistake in what the user asked for, as opposed to a bug.

Every check of user input — hyperparameters, parameter trees, optimizer specs, formulas,
checkpoints and data files, command-line flags, manifests, request bodies — raises one of
these. Each also subclasses the built-in exception a Python user expects (``ValueError``,
``TypeError``, ``KeyError``, ``FloatingPointError``), so ``except ValueError`` keeps working.
The command line turns exactly these into one-line messages (exit status 2); any other
exception is a bug and shows its traceback.

>>> from descentlab.errors import InputError, DescentlabError
>>> issubclass(InputError, ValueError) and issubclass(InputError, DescentlabError)
True
"""

from __future__ import annotations


class DescentlabError(Exception):
    """Base class: a mistake in the user's input. The message names the culprit (the
    parameter, key, flag, file or step) and what was wrong with it."""


class InputError(DescentlabError, ValueError):
    """A value out of range, malformed text, an unknown name, an inconsistent combination."""


class InputTypeError(DescentlabError, TypeError):
    """A value of the wrong type (a string where a boolean belongs, ``None`` for a number)."""


class MissingKeyError(DescentlabError, KeyError):
    """A required key or path is missing (or an unexpected one is present)."""

    def __str__(self) -> str:  # KeyError's str() quotes its message; this one reads plainly
        return str(self.args[0]) if self.args else ""


class FileFormatError(InputError):
    """A file that is damaged or not what it should be; the message names the file."""


class LimitError(InputError):
    """Work beyond a documented limit; the message names the limit and the flag or argument
    that raises it."""


class NonFiniteError(DescentlabError, FloatingPointError):
    """A gradient (or value) that is not finite where the rule needs it to be."""


__all__ = ["DescentlabError", "InputError", "InputTypeError", "MissingKeyError",
           "FileFormatError", "LimitError", "NonFiniteError"]
