"""The lineage of the optimizers: which rule each one starts from and the idea it adds.

Each optimizer class declares its own row where it is defined, ``lineage = Lineage(parents=
("adam",), idea="...", year=2023, paper="Authors 2023")`` (an alias in its :class:`~.registry.
Alias`), and the table is computed from the registry: :func:`rows` (also :data:`ROWS`, and
:data:`ROW` by name) has one :class:`Row` per registered name (:func:`descentlab.optim.
available`, aliases included), by year. ``descentlab optimizers --tree`` draws it
(:mod:`descentlab.viz.lineage`).

A user's optimizer is never a defect: one without a lineage, or whose parents are not
registered, gets a row in the group ``"yours"`` (its unregistered parents kept aside in
``Row.unplaced``) and is drawn apart. :func:`problems` lists what is wrong with the package's
own declarations (a built-in class without a lineage, a built-in row whose parent is not
registered, a cycle); ``tests/test_lineage.py`` requires none.

>>> from descentlab.optim import lineage
>>> lineage.ROW["nadam"].parents, lineage.ROW["nadam"].idea
(('adam', 'nesterov'), 'Nesterov in Adam')
>>> [r.name for r in lineage.ROWS if not r.parents]
['sgd']
>>> lineage.depths()["adam"]  # sgd → momentum → (rmsprop ← adagrad) → adam: the longest chain
3
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Lineage:
    """Where an optimizer comes from, declared on its class: the registered names of its
    parent rule(s) (``()`` for the root), the idea it adds to them in a few words, and the
    year and authors of the paper its docstring cites."""

    parents: tuple[str, ...]
    idea: str
    year: int
    paper: str

    def __post_init__(self) -> None:
        if isinstance(self.parents, str):  # Lineage("adam", ...) : one parent
            object.__setattr__(self, "parents", (self.parents,))
        object.__setattr__(self, "parents", tuple(p.strip().lower() for p in self.parents))


@dataclass(frozen=True)
class Row:
    """One optimizer in the lineage."""

    name: str  #: the registered name (``create(name)``)
    parents: tuple[str, ...]  #: the registered rule(s) it starts from; () for a root
    idea: str  #: what it adds to its parents, in a few words
    year: int | None  #: the year of :attr:`paper` (None: not declared)
    paper: str  #: authors and year, as the class docstring cites them
    group: str = "builtin"  #: ``"builtin"`` (ships with descentlab) or ``"yours"``
    unplaced: tuple[str, ...] = ()  #: declared parents that are not registered


#: The idea of a row whose class declares no lineage.
NO_LINEAGE = "(no lineage declared)"


def _declared(entry: Any) -> Lineage | None:
    if entry.alias is not None:
        return entry.alias.lineage
    found = entry.cls.__dict__.get("lineage")  # (duck-typed: a Lineage, or its like)
    return found if hasattr(found, "parents") and hasattr(found, "idea") else None


def rows() -> tuple[Row, ...]:
    """The table, computed from the registry now (a name registered later is in the next
    call): one row per registered name, by year (then registration order; rows without a
    year last). An alias without a declared lineage is a child of its class."""
    from .registry import entries

    found = entries()
    registered = {e.name for e in found}
    out = []
    for e in found:
        declared = _declared(e)
        if declared is None and e.alias is not None:
            preset = ", ".join(f"{k}={v!r}" for k, v in e.preset.items())
            declared = Lineage((e.cls.name,), preset, 0, "")
        group = "builtin" if e.builtin else "yours"
        if declared is None:
            out.append(Row(e.name, (), NO_LINEAGE, None, "", group))
            continue
        parents = tuple(p for p in declared.parents if p in registered and p != e.name)
        unplaced = tuple(p for p in declared.parents if p not in parents)
        out.append(Row(e.name, parents, declared.idea, declared.year or None, declared.paper,
                       group, unplaced))
    return tuple(sorted(out, key=lambda r: (r.year is None, r.year or 0)))  # by year


def __getattr__(attr: str) -> Any:
    """:data:`ROWS` (the table) and :data:`ROW` (name → row), computed on each access."""
    if attr == "ROWS":
        return rows()
    if attr == "ROW":
        return {r.name: r for r in rows()}
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def problems(table: Sequence[Row] | None = None) -> list[str]:
    """Everything wrong with the package's own declarations in ``table`` (default
    :func:`rows`), one sentence each naming the class to fix (empty when right): a built-in
    optimizer without a lineage, a built-in row with a parent that is not registered or
    named twice, a cycle. A user's rows are never a problem (they draw in "yours").

    >>> print(problems([Row("newopt", (), NO_LINEAGE, None, "")])[0])
    built-in optimizer 'newopt' declares no lineage: add lineage =
    Lineage(parents=(...), idea=..., year=..., paper=...) to its class
    """
    table = rows() if table is None else tuple(table)
    out = []
    for r in table:
        if r.group != "builtin":
            continue
        if r.idea == NO_LINEAGE:
            out.append(f"built-in optimizer {r.name!r} declares no lineage: add lineage = "
                       "Lineage(parents=(...), idea=..., year=..., paper=...) to its class")
        for p in r.unplaced:
            out.append(f"lineage of {r.name!r}: parent {p!r} is not a registered optimizer")
        if len(set(r.parents)) != len(r.parents):
            out.append(f"lineage of {r.name!r} names a parent twice: {r.parents}")
    cycle = _cycle({r.name: r.parents for r in table})
    if cycle:
        out.append("the lineage has a cycle: " + " → ".join(cycle))
    return out


def _cycle(parents: dict[str, tuple[str, ...]]) -> list[str]:
    """One cycle of the parent relation (child → parent → ... → child), or []."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(name: str) -> list[str]:
        state[name] = 1
        path.append(name)
        for p in parents.get(name, ()):
            if state.get(p) == 1:
                return [*path[path.index(p):], p]
            if p in parents and state.get(p) is None:
                found = visit(p)
                if found:
                    return found
        path.pop()
        state[name] = 2
        return []

    for name in parents:
        if state.get(name) is None:
            found = visit(name)
            if found:
                return found
    return []


def check(table: Sequence[Row] | None = None) -> None:
    """Raise ``RuntimeError`` listing :func:`problems` (a defect of the package's own
    declarations, not a user mistake)."""
    found = problems(table)
    if found:
        raise RuntimeError("the optimizer lineage declarations are wrong:\n  " +
                           "\n  ".join(found))


def depths(table: Sequence[Row] | None = None) -> dict[str, int]:
    """Name → generation: 0 for a root, else one more than its deepest parent (the longest
    chain of ideas from plain gradient descent), over ``table`` (default :func:`rows`).
    A parent outside ``table``, or one that closes a cycle, is not counted."""
    table = rows() if table is None else table
    by_name = {r.name: r for r in table}
    out: dict[str, int] = {}
    visiting: set[str] = set()

    def depth(name: str) -> int:
        if name not in out:
            visiting.add(name)
            out[name] = 1 + max((depth(p) for p in by_name[name].parents
                                 if p in by_name and p not in visiting), default=-1)
            visiting.discard(name)
        return out[name]

    for r in table:
        depth(r.name)
    return out


def ancestors(name: str, table: Sequence[Row] | None = None) -> set[str]:
    """Every rule ``name`` descends from (not itself).

    >>> from descentlab.optim import lineage
    >>> sorted(lineage.ancestors("adam"))
    ['adagrad', 'momentum', 'rmsprop', 'sgd']
    """
    by_name = {r.name: r for r in (rows() if table is None else table)}
    out: set[str] = set()
    todo = list(by_name[name].parents)
    while todo:
        p = todo.pop()
        if p not in out:
            out.add(p)
            todo.extend(by_name[p].parents)
    return out


__all__ = ["Lineage", "Row", "rows", "problems", "check", "depths", "ancestors"]
