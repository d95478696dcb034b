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

from collections.abc import Iterable


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


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The one "did you mean" of the library and the command line: the choice fewest
    keystrokes away from ``word`` (insert, delete, replace or swap two neighbours — Damerau's
    edits), at most a third of the word's length (at least 1) — ties go to the choice
    sharing most of the word's letters in order (difflib's ratio); otherwise difflib's
    closest match, or None.

    >>> closest("adma", ["adamax", "adam", "sgd"]), closest("bowel", ["bowl", "booth"])
    ('adam', 'bowl')
    >>> closest("adamm", ["adamw", "adam"]), closest("--optimizer", ["--optimizers"])
    ('adam', '--optimizers')
    >>> closest("zzz", ["adam"]) is None
    True
    """
    import difflib

    options = list(dict.fromkeys(choices))
    if not options:
        return None
    scored = [(_edits(word, c), -difflib.SequenceMatcher(None, word, c).ratio(), i, c)
              for i, c in enumerate(options)]
    distance, _, _, best = min(scored)
    if distance <= max(1, len(word) // 3):
        return best
    close = difflib.get_close_matches(word, options, n=1)
    return close[0] if close else None


def suggestion(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` from :func:`closest`, or ``""``."""
    best = closest(word, choices)
    return f" (did you mean {best!r}?)" if best is not None else ""


def _edits(a: str, b: str) -> int:
    """Optimal-string-alignment distance (Damerau–Levenshtein without repeated edits)."""
    previous, row = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            current[j] = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + cost)
            if (previous is not None and i > 1 and j > 1 and a[i - 1] == b[j - 2]
                    and a[i - 2] == b[j - 1]):
                current[j] = min(current[j], previous[j - 2] + 1)
        previous, row = row, current
    return row[-1]
