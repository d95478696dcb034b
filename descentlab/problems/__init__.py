"""Loss surfaces for the lab: a catalogue of 1-D and 2-D problems with analytic gradients,
known minima, a suggested start and a view window, plus user expressions parsed safely.

>>> from descentlab import problems
>>> print(*problems.names()[:9])
quartic bowl rotated_bowl xy x2_plus_xy saddle plateau valley two_basin
>>> print(*problems.names()[9:])
rosenbrock beale booth himmelblau rastrigin ackley
>>> p = problems.get("Bowl")
>>> p.formula, p.start, p.window
('x**2/20 + y**2', (-7.0, 2.0), ((-10.0, 10.0), (-5.0, 5.0)))
>>> [(m.point, m.value, m.kind) for m in problems.get("quartic").minima]  # doctest: +ELLIPSIS
[((6.335112...,), -3.64..., 'global'), ((-4.344625...,), 2.39..., 'local')]

See :class:`Problem` for the interface (``f``, ``grad``, ``minima``, ``nearest_minimum`` ...)
and :func:`from_expression` for user formulas such as ``"x**2/20 + y**2"``.
"""

from __future__ import annotations

from ..errors import InputError, suggestion
from .base import Minimum, Problem
from .catalogue import BUILDERS
from .expression import from_expression, parse

__all__ = ["Minimum", "Problem", "catalogue", "from_expression", "get", "names", "parse"]

_CATALOGUE: dict[str, Problem] | None = None


def catalogue() -> dict[str, Problem]:
    """Name → :class:`Problem` for every catalogue surface, in a stable order (1-D first,
    then the lab's teaching surfaces, then the classic test functions). Built once."""
    global _CATALOGUE
    if _CATALOGUE is None:
        _CATALOGUE = {p.name: p for p in (build() for build in BUILDERS)}
    return dict(_CATALOGUE)


def names() -> list[str]:
    """The catalogue's names, in catalogue order."""
    return list(catalogue())


def get(name: str) -> Problem:
    """The catalogue problem called ``name`` (case-insensitive; ``-`` and spaces count as
    ``_``). Raises ValueError listing the valid names for an unknown one."""
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    problems = catalogue()
    if key not in problems:
        raise InputError(f"unknown problem {name!r}{suggestion(key, problems)}; valid names: "
                         f"{', '.join(problems)}")
    return problems[key]
