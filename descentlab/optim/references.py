"""Which options of ours reproduce which reference implementation, declared on each class.

An optimizer class lists the reference implementations it reproduces, one line per cell::

    references = (
        Reference("torch.optim.Adam"),                                 # the defaults
        Reference("torch.optim.Adam", theirs={"amsgrad": True}, name="amsgrad"),  # an alias
        Reference("keras.optimizers.Adam", {"eps": 1e-7, "eps_mode": "uncorrected"}),
    )

A cell pairs *our* keyword arguments (``ours``, given to ``optim.create(name, ...)``) with the
reference's (``theirs``, given to the dotted ``target`` after its parameter list): both run
the same random gradients and agree to ``rtol`` after every step. ``rate="decaying"`` runs
both at the rate η·0.95ⁿ (η: ``lr`` here, the reference's ``lr``/``learning_rate``), each in
its own schedule vocabulary — for the forms that differ only when the rate changes.
``name`` is the registered name the cell is for when it is an alias (``"amsgrad"``);
by default the class's own name.

The declaration is read from the class's own ``__dict__``: a subclass does not inherit its
parent's cells (AdamW is not ``torch.optim.Adam``). :func:`cells` collects every built-in
class's cells from the registry; ``docs/optimizers.md``'s table of every optimizer × reference
is generated from them (:mod:`descentlab.optim.docs`) and ``tests/test_reference_cells.py``
runs each one against its library. The libraries are test extras: nothing here imports them.

>>> from descentlab.optim import references
>>> [(name, ref.column, ref.options()) for name, ref in references.cells()
...  if name == "amsgrad"][:2]
[('amsgrad', 'torch.optim', 'defaults'), ('amsgrad', 'optax', 'lr=0.01, amsgrad_on="v_hat"')]
>>> Reference("optax.adam", theirs={"learning_rate": 0.02}, rate="decaying").call()
'adam(learning_rate=0.02)'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..errors import InputError

#: The table's columns: a reference's column is the first that its target starts with.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("torch.optim", "torch.optim."),
    ("optax", "optax."),
    ("Keras", "keras.optimizers."),
    ("authors' or other packages", ""),
)

RATES = ("constant", "decaying")

_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")


def _text(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        return "(" + ", ".join(_text(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


def _arguments(kwargs: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_text(v)}" for k, v in kwargs.items())


@dataclass(frozen=True, eq=False)
class Reference:
    """One cell: ``target(**theirs)`` equals ``create(name, **ours)`` to ``rtol``.

    ``target`` is the reference's dotted name (``"torch.optim.NAdam"``, ``"optax.adamw"``,
    ``"optax.contrib.madgrad"``, ``"keras.optimizers.RMSprop"``, ``"pytorch_optimizer.LaProp"``,
    ``"timm.optim.lion.Lion"``, ``"madgrad.MADGRAD"``); ``ours`` and ``theirs`` the keyword
    arguments on each side (empty: the defaults); ``rate`` ``"constant"`` (default) or
    ``"decaying"``; ``rtol`` the relative tolerance per step (default 1e-12, float64);
    ``name`` an alias of the class (default: the class's name); ``note`` a few words for the
    table. Bad declarations are an InputError naming the field.

    >>> Reference("torch.optim.SGD", {"lr": 0.1}, {"lr": 0.1}).options()
    'lr=0.1'
    >>> Reference("torch", rtol=0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    descentlab.errors.InputError: Reference target must be a dotted name ... got 'torch'
    """

    target: str
    ours: Mapping[str, Any] = field(default_factory=dict)
    theirs: Mapping[str, Any] = field(default_factory=dict)
    rate: str = "constant"
    rtol: float = 1e-12
    name: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.target, str) or not _DOTTED.fullmatch(self.target):
            raise InputError("Reference target must be a dotted name such as "
                             f"'torch.optim.Adam', got {self.target!r}")
        for side in ("ours", "theirs"):
            value = getattr(self, side)
            if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
                raise InputError(f"Reference {side} must be a mapping of keyword names, "
                                 f"got {value!r} ({self.target})")
            object.__setattr__(self, side, MappingProxyType(dict(value)))
        if self.rate not in RATES:
            raise InputError(f"Reference rate must be one of {RATES}, got {self.rate!r} "
                             f"({self.target})")
        if isinstance(self.rtol, bool) or not isinstance(self.rtol, (int, float)) or \
                not 0 < self.rtol < 1:
            raise InputError(f"Reference rtol must be a number in (0, 1), got {self.rtol!r} "
                             f"({self.target})")
        if self.name is not None and not isinstance(self.name, str):
            raise InputError(f"Reference name must be a registered name, got {self.name!r}")

    @property
    def column(self) -> str:
        """The table column: ``torch.optim``, ``optax``, ``Keras`` or the other packages."""
        return next(title for title, prefix in COLUMNS if self.target.startswith(prefix))

    def options(self) -> str:
        """Our side as text: ``amsgrad=True`` (``defaults`` when there is none)."""
        return _arguments(self.ours) or "defaults"

    def call(self) -> str:
        """The reference's side as text, its column's prefix left out:
        ``NAdam(decoupled_weight_decay=True)``, ``contrib.madgrad()``."""
        prefix = next(p for _, p in COLUMNS if self.target.startswith(p))
        return f"{self.target[len(prefix):]}({_arguments(self.theirs)})"


def _is_reference(x: Any) -> bool:
    """A Reference — also one of a second copy of this module (pytest's
    ``--import-mode=importlib`` imports a module again to run its doctests)."""
    return isinstance(x, Reference) or (type(x).__qualname__ == "Reference"
                                        and type(x).__module__ == __name__)


def declared(cls: type) -> tuple[Reference, ...]:
    """The cells a class declares itself (its own ``references``, never a parent's)."""
    refs = cls.__dict__.get("references", ())
    if not isinstance(refs, tuple) or not all(_is_reference(r) for r in refs):
        raise InputError(f"{cls.__name__}.references must be a tuple of Reference, "
                         f"got {refs!r}")
    return refs


def cells(builtin: bool = True) -> list[tuple[str, Reference]]:
    """(registered name, cell) of every class's declared cells, by name then declaration
    order; ``builtin=False`` includes classes a user registered. A cell's ``name`` must be
    its class's name or one of the class's aliases (an InputError names it otherwise)."""
    from .registry import entries

    chosen = [e for e in entries() if e.builtin or not builtin]
    names_of: dict[type, set[str]] = {}
    for e in chosen:
        names_of.setdefault(e.cls, set()).add(e.name)
    out = []
    for cls, names in names_of.items():
        for ref in declared(cls):
            name = ref.name or cls.name
            if name not in names:
                raise InputError(f"{cls.__name__}.references: cell {ref.call()} is for "
                                 f"{name!r}, which is not a name of {cls.__name__} "
                                 f"({sorted(names)})")
            out.append((name, ref))
    order = {e.name: i for i, e in enumerate(sorted(chosen, key=lambda e: e.name))}
    return sorted(out, key=lambda pair: order[pair[0]])


__all__ = ["Reference", "COLUMNS", "RATES", "declared", "cells"]
