"""The lineage of the optimizers: which rule each one starts from and the idea it adds.

One row per registered name (:func:`descentlab.optim.available`, aliases included): its
parent(s), the idea it adds to them, the year and the paper (the publication its class's
docstring cites). ``descentlab optimizers --tree`` draws it (:mod:`descentlab.viz.lineage`);
``tests/test_lineage.py`` checks that every registered optimizer has exactly one row, that
every row names a registered optimizer, that every parent has a row, and that no optimizer
is its own ancestor. A new optimizer therefore needs one row here: the test names it.

>>> ROW["nadam"].parents, ROW["nadam"].idea
(('adam', 'nesterov'), 'Nesterov in Adam')
>>> [r.name for r in ROWS if not r.parents]
['sgd']
>>> depths()["adam"]         # sgd → momentum → (rmsprop ← adagrad) → adam: the longest chain
3
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One optimizer in the lineage."""

    name: str  #: the registered name (``create(name)``)
    parents: tuple[str, ...]  #: the rule(s) it starts from; () for the root
    idea: str  #: what it adds to its parents, in a few words
    year: int  #: the year of :attr:`paper`
    paper: str  #: authors and year, as the class docstring cites them


#: The table, in the registry's order (the classic lineage, torch.optim's later additions,
#: the optax family).
ROWS: tuple[Row, ...] = (
    Row("sgd", (), "the gradient step", 1951, "Robbins & Monro 1951"),
    Row("momentum", ("sgd",), "momentum (heavy ball)", 1964, "Polyak 1964"),
    Row("nesterov", ("momentum",), "look-ahead gradient", 1983, "Nesterov 1983"),
    Row("adagrad", ("sgd",), "per-coordinate scaling 1/√Σg²", 2011, "Duchi et al. 2011"),
    Row("adagrad_full", ("adagrad",), "the full matrix G^(−1/2)", 2011, "Duchi et al. 2011"),
    Row("rmsprop", ("adagrad",), "leaky average of g²", 2012, "Hinton 2012"),
    Row("adadelta", ("rmsprop",), "unit correction (RMS of the steps)", 2012, "Zeiler 2012"),
    Row("adam", ("momentum", "rmsprop"), "bias correction", 2015, "Kingma & Ba 2015"),
    Row("amsgrad", ("adam",), "running max of v", 2018, "Reddi et al. 2018"),
    Row("adamw", ("adam",), "decoupled weight decay", 2019, "Loshchilov & Hutter 2019"),
    Row("nadam", ("adam", "nesterov"), "Nesterov in Adam", 2016, "Dozat 2016"),
    Row("adamax", ("adam",), "infinity norm", 2015, "Kingma & Ba 2015"),
    Row("radam", ("adam",), "rectification of the variance", 2020, "Liu et al. 2020"),
    Row("rprop", ("sgd",), "sign, per-weight step sizes", 1993, "Riedmiller & Braun 1993"),
    Row("asgd", ("sgd",), "iterate averaging", 1992, "Polyak & Juditsky 1992"),
    Row("adafactor", ("adam",), "factored second moments", 2018, "Shazeer & Stern 2018"),
    Row("muon", ("nesterov",), "orthogonalisation (Newton–Schulz)", 2024, "Jordan et al. 2024"),
    Row("lbfgs", ("sgd",), "curvature from past steps", 1989, "Liu & Nocedal 1989"),
    Row("lion", ("adamw", "rprop"), "sign of interpolated momentum", 2023, "Chen et al. 2023"),
    Row("lars", ("momentum",), "layer-wise trust ratio", 2017, "You et al. 2017"),
    Row("lamb", ("adamw", "lars"), "trust ratio on Adam's step", 2020, "You et al. 2020"),
    Row("adabelief", ("adam",), "belief in the gradient", 2020, "Zhuang et al. 2020"),
    Row("yogi", ("adam",), "additive, sign-controlled v", 2018, "Zaheer et al. 2018"),
    Row("adan", ("adam", "nesterov"), "Nesterov by gradient differences", 2024,
        "Xie et al. 2024"),
    Row("adopt", ("adam",), "v without the current gradient", 2024, "Taniguchi et al. 2024"),
    Row("ademamix", ("adamw",), "a mix of a fast and a slow EMA", 2025,
        "Pagliardini et al. 2025"),
    Row("schedule_free_sgd", ("momentum", "asgd"), "schedule-free averaging", 2024,
        "Defazio et al. 2024"),
    Row("schedule_free_adamw", ("schedule_free_sgd", "adamw"), "schedule-free AdamW", 2024,
        "Defazio et al. 2024"),
)

#: Name → row.
ROW: dict[str, Row] = {r.name: r for r in ROWS}


def problems(registered: Iterable[str]) -> list[str]:
    """Everything wrong with :data:`ROWS` against the ``registered`` names, one sentence
    each (empty when the table is right): a registered name with no row or two rows, a row
    for no registered name, a parent with no row, an optimizer that is its own ancestor.

    >>> print(problems(["sgd", "momentum", "newopt"])[0])  # doctest: +NORMALIZE_WHITESPACE
    optimizer 'newopt' is registered but has no row in descentlab/optim/lineage.py ROWS:
    add Row('newopt', (PARENTS,), IDEA, YEAR, PAPER)
    """
    registered = list(registered)
    out = []
    counts: dict[str, int] = {}
    for r in ROWS:
        counts[r.name] = counts.get(r.name, 0) + 1
    for name in registered:
        if name not in counts:
            out.append(f"optimizer {name!r} is registered but has no row in "
                       f"descentlab/optim/lineage.py ROWS: add Row({name!r}, (PARENTS,), "
                       "IDEA, YEAR, PAPER)")
    for name, n in counts.items():
        if n > 1:
            out.append(f"optimizer {name!r} has {n} rows in descentlab/optim/lineage.py ROWS; "
                       "keep one")
        if name not in registered:
            out.append(f"lineage row {name!r} names no registered optimizer (registered: "
                       f"{', '.join(sorted(registered))})")
    for r in ROWS:
        for p in r.parents:
            if p not in counts:
                out.append(f"lineage row {r.name!r}: parent {p!r} has no row")
        if len(set(r.parents)) != len(r.parents):
            out.append(f"lineage row {r.name!r} names a parent twice: {r.parents}")
    cycle = _cycle({r.name: r.parents for r in ROWS})
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


def check(registered: Iterable[str] | None = None) -> None:
    """Raise ``RuntimeError`` listing :func:`problems` (a defect of the table, not a user
    mistake); ``registered`` defaults to :func:`descentlab.optim.available`."""
    if registered is None:
        from . import available

        registered = available()
    found = problems(registered)
    if found:
        raise RuntimeError("the optimizer lineage table is out of date:\n  " +
                           "\n  ".join(found))


def depths(rows: Sequence[Row] | None = None) -> dict[str, int]:
    """Name → generation: 0 for the root, else one more than its deepest parent (the
    longest chain of ideas from plain gradient descent), over ``rows`` (default the table)."""
    rows = ROWS if rows is None else rows
    by_name = {r.name: r for r in rows}
    out: dict[str, int] = {}

    def depth(name: str) -> int:
        if name not in out:
            out[name] = 1 + max((depth(p) for p in by_name[name].parents), default=-1)
        return out[name]

    for r in rows:
        depth(r.name)
    return out


def ancestors(name: str) -> set[str]:
    """Every rule ``name`` descends from (not itself).

    >>> sorted(ancestors("adam"))
    ['adagrad', 'momentum', 'rmsprop', 'sgd']
    """
    out: set[str] = set()
    todo = list(ROW[name].parents)
    while todo:
        p = todo.pop()
        if p not in out:
            out.add(p)
            todo.extend(ROW[p].parents)
    return out
