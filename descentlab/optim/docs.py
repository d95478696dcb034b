"""The optimizer tables of README.md and docs/optimizers.md, generated from the registry.

``python -m descentlab.optim.docs`` (or ``make docs``) rewrites the text between the marker
comments ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->`` of each file in :data:`TABLES`;
``--check`` changes nothing and exits 1 naming each file whose committed table differs from
the generated one (``tests/test_docs.py`` runs it). Everything in a table is read from the
classes: name, class, module, defaults (the constructor's signature), the search space of
``compare`` (:func:`~descentlab.optim.search_space`), the lineage row and the one-sentence
summary, and the cells of the optimizer × reference table (each class's ``references``,
:mod:`descentlab.optim.references`). Only the package's own optimizers are listed, never one a
user registered.

>>> print(readme_table().splitlines()[2])
| `acprop` | `ACProp` | adabelief | asynchronous centred update | Zhuang et al. 2021 |
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..files import write_text
from . import lineage
from .base import accepted_arguments
from .references import COLUMNS, Reference, cells
from .registry import Entry, entries, search_space, summary

#: The repository root (README.md, docs/).
ROOT = Path(__file__).resolve().parents[2]


def _builtin() -> list[Entry]:
    return sorted((e for e in entries() if e.builtin), key=lambda e: e.name)


def _number(x: Any) -> str:
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return repr(x)
    if isinstance(x, (tuple, list)):
        return "(" + ", ".join(_number(v) for v in x) + ")"
    try:
        return f"{float(x):g}"
    except (TypeError, ValueError):
        return repr(x)


def defaults(entry: Entry) -> str:
    """The hyperparameters a default-constructed optimizer has (those the constructor takes;
    an alias's preset first), e.g. ``lr=0.001, beta1=0.9``."""
    accepted = set(accepted_arguments(entry.cls))
    parts = [f"{k}={_number(v)}" for k, v in entry.preset.items()]
    built = entry.cls(**entry.preset)
    for k, v in built.hyperparameters().items():
        if k in accepted and k not in entry.preset:
            parts.append(f"{k}={_number(v)}")
    return ", ".join(parts)


def space(name: str) -> str:
    """``compare``'s default space as text: ``lr ∈ [0.0001, 10] log, beta1 ∈ [0.5, 0.99]``."""
    return ", ".join(f"{k} ∈ [{lo:g}, {hi:g}]{' log' if log else ''}"
                     for k, (lo, hi, log) in search_space(name).items())


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def readme_table() -> str:
    """README.md's table: every built-in name, its class, parents, idea and paper."""
    rows = lineage.ROW
    out = [_row(["name", "class", "from", "adds", "paper"]), "| --- | --- | --- | --- | --- |"]
    for e in _builtin():
        r = rows[e.name]
        cls = f"`{e.cls.__name__}`" + (
            f" ({', '.join(f'{k}={v!r}' for k, v in e.preset.items())})" if e.preset else "")
        out.append(_row([f"`{e.name}`", cls, " + ".join(r.parents) or "—", r.idea, r.paper]))
    return "\n".join(out)


def catalogue_table() -> str:
    """docs/optimizers.md's catalogue: every built-in name, its class and module, defaults,
    the space ``compare`` searches by default, and its summary."""
    out = [_row(["name", "class (module)", "defaults", "searched by compare", "summary"]),
           "| --- | --- | --- | --- | --- |"]
    for e in _builtin():
        module = e.cls.__module__.rsplit(".", 1)[-1]
        out.append(_row([f"`{e.name}`", f"`{e.cls.__name__}` ({module}.py)", defaults(e),
                         space(e.name), summary(e.name)]))
    return "\n".join(out)


def _cell(ref: Reference) -> str:
    text = f"`{ref.options()}` = `{ref.call()}`"
    extras = (["rate η·0.95ⁿ"] if ref.rate == "decaying" else []) + \
        ([f"rtol {ref.rtol:g}"] if ref.rtol != 1e-12 else []) + ([ref.note] if ref.note else [])
    return text + (f" ({'; '.join(extras)})" if extras else "")


def references_table() -> str:
    """docs/optimizers.md's optimizer × reference table: for every built-in name, each cell
    its class declares (``references``), as ``our options`` = ``the reference's call``, one
    column per library (torch.optim, optax, Keras, the authors' or other packages).

    >>> print(references_table().splitlines()[4])  # doctest: +ELLIPSIS
    | `adadelta` | `defaults` = `Adadelta()` | `lr=0.5` = `adadelta(learning_rate=0.5)` | ...
    """
    titles = [title for title, _ in COLUMNS]
    by_name: dict[str, dict[str, list[str]]] = {}
    for name, ref in cells():
        by_name.setdefault(name, {}).setdefault(ref.column, []).append(_cell(ref))
    out = [_row(["name", *titles]), "| --- " * (len(titles) + 1) + "|"]
    for e in _builtin():
        row = by_name.get(e.name, {})
        out.append(_row([f"`{e.name}`", *("<br>".join(row.get(t, ["—"])) for t in titles)]))
    return "\n".join(out)


#: File (relative to the root) → [(marker name, generator)].
TABLES: dict[str, list[tuple[str, Callable[[], str]]]] = {
    "README.md": [("optimizers", readme_table)],
    "docs/optimizers.md": [("catalogue", catalogue_table), ("references", references_table)],
}


def replaced(text: str, marker: str, table: str, where: str = "") -> str:
    """``text`` with the part between ``<!-- marker:begin -->`` and ``<!-- marker:end -->``
    replaced by ``table``; missing markers are an InputError naming them.

    >>> replaced("a\\n<!-- t:begin -->\\nold\\n<!-- t:end -->\\nb", "t", "new")
    'a\\n<!-- t:begin -->\\nnew\\n<!-- t:end -->\\nb'
    """
    begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise InputError(f"{where or 'the text'} has no {begin} ... {end} markers")
    return text[:start + len(begin)] + "\n" + table + "\n" + text[stop:]


def stale(root: Path = ROOT) -> list[str]:
    """The files whose committed tables differ from the generated ones."""
    out = []
    for rel, tables in TABLES.items():
        text = (root / rel).read_text(encoding="utf-8")
        new = text
        for marker, make in tables:
            new = replaced(new, marker, make(), rel)
        if new != text:
            out.append(rel)
    return out


def write(root: Path = ROOT) -> list[Path]:
    """Regenerate every table in place (atomically); return the files changed."""
    changed = []
    for rel in stale(root):
        path = root / rel
        text = path.read_text(encoding="utf-8")
        for marker, make in TABLES[rel]:
            text = replaced(text, marker, make(), rel)
        changed.append(write_text(path, text))
    return changed


def main(argv: list[str] | None = None) -> int:
    """``python -m descentlab.optim.docs [--check]``."""
    parser = argparse.ArgumentParser(prog="python -m descentlab.optim.docs",
                                     description="Regenerate the optimizer tables of README.md "
                                     "and docs/optimizers.md from the registry.")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if a committed table is out of date")
    args = parser.parse_args(argv)
    if args.check:
        found = stale()
        for rel in found:
            print(f"{rel}: the optimizer table is out of date; run `make docs`", file=sys.stderr)
        return 1 if found else 0
    for path in write():
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
