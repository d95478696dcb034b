"""Optimizer specs on the command line: ``NAME[:key=value,...]``.

One syntax across the project, e.g. ``adam``, ``adam:lr=0.001,beta2=0.99``,
``rmsprop:lr=0.01,eps_mode=inside,centered=true``, ``sgd:lr=1e-2``.

Values are read as (in this order) booleans (``true``/``false``, any case), ``none``,
integers, floats (``1e-3``, ``inf``, ``nan``), and otherwise kept as strings (``eps_mode=inside``).
Whitespace around names, keys and values is ignored. A boolean option of the optimizer (a
:class:`~descentlab.optim.hyperparams.Flag`: ``maximize``, ``amsgrad``, ``centered``, ...)
takes exactly ``true``, ``false``, ``1`` or ``0`` (any case); ``maximize=no`` is an error,
never "true because the text is not empty".

>>> parse_optimizer_spec("adam:lr=0.001,beta2=0.99,amsgrad=true")
('adam', {'lr': 0.001, 'beta2': 0.99, 'amsgrad': True})
>>> parse_optimizer_spec("SGD")
('sgd', {})
>>> build_optimizer("momentum:lr=0.1").momentum
0.9
"""

from __future__ import annotations

import re
from typing import Any

from .. import optim
from ..errors import InputError

_FLAG_TEXT = {"true": True, "1": True, "false": False, "0": False}

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_INT = re.compile(r"[+-]?\d+\Z")
#: The longest value text (a number needs far fewer; Python refuses ints of 4,300+ digits).
MAX_VALUE_LENGTH = 100


class SpecError(InputError):
    """A malformed optimizer spec; the message quotes the spec and points at the bad part."""


def _error(text: str, start: int, length: int, why: str) -> SpecError:
    pointer = " " * start + "^" * max(1, length)
    return SpecError(f"optimizer spec {text!r}: {why}\n  {text}\n  {pointer}")


def parse_value(raw: str) -> Any:
    """Read one value: bool, None, int, float, else the string itself.

    >>> [parse_value(s) for s in ("True", "none", "3", "-2", "1e-3", "0.5", "inside")]
    [True, None, 3, -2, 0.001, 0.5, 'inside']
    """
    s = raw.strip()
    if len(s) > MAX_VALUE_LENGTH:  # (Python refuses to read an int of 4,300+ digits)
        raise SpecError(f"a value of {len(s):,} characters ({s[:20]}...); at most "
                        f"{MAX_VALUE_LENGTH}")
    low = s.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "none":
        return None
    if _INT.match(s):
        return int(s)
    try:
        return float(s)
    except ValueError:
        return s


def parse_optimizer_spec(text: str) -> tuple[str, dict[str, Any]]:
    """Split ``NAME[:key=value,...]`` into ``(name, kwargs)``; the name is lower-cased.

    Only the syntax is checked here (and that the name is a known optimizer); whether the
    optimizer takes those keywords is checked by :func:`build_optimizer`.

    Raises:
        SpecError (a ``ValueError``): empty spec, unknown name, an item without ``=``, an
        empty or invalid key or value, or a key given twice — the message shows the spec
        with a caret under the offending part.
    """
    name, items = _parse(text)
    return name, {k: parse_value(raw) for k, (raw, _, _) in items.items()}


def _parse(text: str) -> tuple[str, dict[str, tuple[str, int, int]]]:
    """The name and, per key, its raw value text with the value's position (for carets)."""
    if not isinstance(text, str):
        raise SpecError(f"optimizer spec must be a string, got {type(text).__name__}")
    name_part, sep, rest = text.partition(":")
    name = name_part.strip().lower()
    if not name:
        raise _error(text, 0, len(name_part), "missing optimizer name before ':'"
                     if sep else "empty optimizer spec")
    pieces = [piece.strip() for piece in name.split(",")]
    if len(pieces) > 1 and all(piece in optim.available() for piece in pieces):
        raise _error(text, 0, len(name_part), "one spec per optimizer, separated by spaces: "
                     f"{' '.join(pieces)} (commas separate the settings after ':')")
    if name not in optim.available():
        lead = len(name_part) - len(name_part.lstrip())
        raise _error(text, lead, len(name_part.strip()),
                     str(optim.unknown_optimizer(name_part)))
    kwargs: dict[str, tuple[str, int, int]] = {}
    if not sep:
        return name, kwargs
    if not rest.strip():
        raise _error(text, len(name_part) + 1, 1, "nothing after ':' (expected key=value,...)")
    pos = len(name_part) + 1
    for item in rest.split(","):
        start = pos
        pos += len(item) + 1
        if not item.strip():
            raise _error(text, start, max(1, len(item)), "empty item (stray comma?)")
        key, eq, raw = item.partition("=")
        lead = len(item) - len(item.lstrip())
        if not eq:
            raise _error(text, start + lead, len(item.strip()),
                         f"{item.strip()!r} is not key=value")
        if not _KEY.match(key.strip()):
            raise _error(text, start + lead, max(1, len(key.strip())),
                         f"invalid key {key.strip()!r}")
        if not raw.strip():
            raise _error(text, start + len(key) + 1, max(1, len(raw)),
                         f"missing value for {key.strip()!r}")
        k = key.strip()
        if len(raw.strip()) > MAX_VALUE_LENGTH:
            raise _error(text[:start + len(key) + 1 + 20] + "...", start + len(key) + 1, 20,
                         f"the value of {k!r} is {len(raw.strip()):,} characters long; at "
                         f"most {MAX_VALUE_LENGTH}")
        if k in kwargs:
            raise _error(text, start + lead, len(k), f"{k!r} given twice")
        value_start = start + len(key) + 1 + len(raw) - len(raw.lstrip())
        kwargs[k] = (raw.strip(), value_start, len(raw.strip()))
    return name, kwargs


def build_optimizer(text: str, **defaults: Any) -> optim.Optimizer:
    """Build an optimizer from a spec; ``defaults`` are used for keys the spec leaves out.

    >>> opt = build_optimizer("adam:beta2=0.99", lr=0.001)
    >>> opt.lr, opt.beta2
    (0.001, 0.99)

    Raises:
        SpecError: as :func:`parse_optimizer_spec`, and when the optimizer rejects a keyword
        or a value (the message names the spec and the keyword).
    """
    name, items = _parse(text)
    kwargs = {k: parse_value(raw) for k, (raw, _, _) in items.items()}
    cls = optim.get_class(name)
    flags = {k for k, d in cls.option_descriptors().items() if d.kind == "bool"}
    for k in flags & set(items):
        raw, start, length = items[k]
        if raw.lower() not in _FLAG_TEXT:
            raise _error(text, start, length,
                         f"option {k!r} takes true, false, 1 or 0, not {raw!r}")
        kwargs[k] = _FLAG_TEXT[raw.lower()]
    try:
        return optim.create(name, **{**defaults, **kwargs})
    except (TypeError, ValueError) as e:  # the library's errors subclass these
        raise SpecError(f"optimizer spec {text!r}: {e}") from e


def expand_specs(specs: list[str]) -> list[str]:
    """Command-line specs with names joined by commas split apart: ``"sgd,adam"`` is
    ``"sgd" "adam"`` (a spec with ``:`` keeps its commas, which separate its key=values).

    >>> expand_specs(["polyak_sgd,momo", "adam:lr=0.3,beta2=0.5", "sam"])
    ['polyak_sgd', 'momo', 'adam:lr=0.3,beta2=0.5', 'sam']
    """
    out: list[str] = []
    for spec in specs:
        if isinstance(spec, str) and ":" not in spec and "," in spec:
            out.extend(name.strip() for name in spec.split(","))
        else:
            out.append(spec)
    return out


def check_takes_gradients(optimizer: Any, where: str) -> None:
    """An InputError naming the optimizer if it needs a closure (the loss, gradients at points
    it chooses: L-BFGS, Polyak, MoMo, SAM, Sophia), where ``where`` gives each optimizer a
    mini-batch's gradient only; the surface lab races them."""
    if getattr(optimizer, "needs_closure", False):
        raise InputError(f"{type(optimizer).__name__} needs a closure (the loss, and "
                         f"gradients at points it chooses); {where} gives each optimizer a "
                         "mini-batch's gradient only: race it on a surface (descentlab race)")


__all__ = ["SpecError", "parse_optimizer_spec", "parse_value", "build_optimizer",
           "expand_specs", "check_takes_gradients"]
