"""A race: several optimizers on one surface, every one from the same start.

An optimizer that needs the loss as well as the gradient (``needs_closure``: L-BFGS, Polyak
SGD, MoMo, SAM, Sophia) gets a closure from the engine computing f and its gradient at the
current point (Sophia: and the surface's exact Hessian-vector products); one of its updates
is one ``update`` call (L-BFGS: up to ``max_iter`` iterations, each with its own
evaluations; SAM: ``sync_period`` evaluations).

>>> from descentlab import problems
>>> r = race(problems.get("bowl"), ["sgd:lr=0.95", "adam:lr=0.3"], start=(-7, 2), steps=30)
>>> [e.label for e in r.entries]
['sgd', 'adam']
>>> r.entries[0].path.shape      # the start and 30 updates, (x, y) each
(31, 2)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import optim
from ..errors import InputError
from ..files import csv_text
from .engine import DEFAULT_MARGIN, bounds, default_tol, draw_starts, run_batch
from .spec import build_optimizer, parse_optimizer_spec


@dataclass
class Entry:
    """One optimizer's run in a race."""

    label: str  #: what the tables and legends call it (its name, or its spec if repeated)
    name: str  #: the optimizer's name (the palette key)
    spec: str  #: the spec text, e.g. ``adam:lr=0.3``
    optimizer: optim.Optimizer
    #: (n + 1, dim) points: the start and every update up to the end or divergence.
    path: np.ndarray
    f: np.ndarray  #: (n + 1,) f at those points
    diverged_at: int | None  #: the step at which it diverged, or None
    #: it diverged by leaving the window (bounds): the point was finite but outside them
    left_window: bool
    #: steps to tol: the first step from which the path stays within ``tol`` of the minimum
    #: it ends at (None if it does not end within tol of a known minimum)
    reached_at: int | None
    nearest: int | None  #: index of the minimum nearest the final point
    distance: float  #: distance from the final point to it (nan if unknown)
    outcome: str  #: global / local / moving / diverged (see :mod:`.engine`)
    bounced: bool
    #: with several seeds: (S, n + 1) f per seed and step (nan after a seed diverged); the
    #: fields above describe the first seed
    seed_f: np.ndarray | None = None
    #: the optimizer's state overflowed to inf/nan while the point stayed finite (a stall)
    overflowed: bool = False

    @property
    def ended(self) -> str:
        """How the run ended early, in words: ``"left the window at step 7"``, ``"diverged at
        step 3"`` (not finite, or f undefined there), ``"state overflowed (inf/nan): stalled"``
        (see :mod:`.engine`), or ``""`` when it ran every step."""
        if self.diverged_at is None:
            return "state overflowed (inf/nan): stalled" if self.overflowed else ""
        how = "left the window" if self.left_window else "diverged"
        return f"{how} at step {self.diverged_at}"


@dataclass
class RaceResult:
    problem: Any
    start: tuple[float, ...]
    steps: int
    tol: float
    entries: list[Entry] = field(default_factory=list)
    seeds: list[int] | None = None  #: the seeds of the starts and gradient noise, if any
    noise: float = 0.0
    spread: float = 0.0

    @property
    def drawn_start(self) -> tuple[float, ...]:
        """Where the drawn paths start: ``start``, or with seeds the first seed's start
        (drawn around ``start`` when there is a spread)."""
        if not self.entries:
            return self.start
        return tuple(float(c) for c in self.entries[0].path[0])

    def start_words(self) -> str:
        """The start of the drawn paths in words, for titles and the table: ``start (-7,
        2)``, or with seeds which seed is drawn and where it starts: ``seed 0 of 20 drawn:
        start (-6.22, 2.11), spread 1 around (-7, 2)``."""
        def point(p: Sequence[float]) -> str:
            return "(" + ", ".join(f"{c:.3g}" for c in p) + ")"

        if not self.seeds:
            return f"start {point(self.start)}"
        words = f"seed {self.seeds[0]}"
        words += f" of {len(self.seeds)} drawn" if len(self.seeds) > 1 else ""
        words += f": start {point(self.drawn_start)}"
        if self.spread:
            words += f", spread {self.spread:g} around {point(self.start)}"
        return words + (f", noise σ = {self.noise:g}" if self.noise else "")

    def describe_minimum(self, index: int | None) -> str:
        if index is None or index < 0:
            return "-"
        m = self.problem.minima[index]
        point = ", ".join(f"{c:.4g}" for c in np.atleast_1d(m.point))
        return f"{m.kind} ({point})"

    def summary_rows(self) -> list[dict[str, Any]]:
        """One dict per optimizer: final point and f, nearest minimum, distance, steps to tol,
        diverged-at-step."""
        rows = []
        for e in self.entries:
            rows.append({
                "optimizer": e.label,
                "final": [float(c) for c in e.path[-1]],
                "final_f": float(e.f[-1]),
                "nearest_minimum": self.describe_minimum(e.nearest),
                "distance": float(e.distance),
                "steps_to_tol": e.reached_at,
                "diverged_at": e.diverged_at,
                "left_window": e.left_window,
                "state_overflowed": e.overflowed,
                "outcome": e.outcome,
            })
        return rows

    def table(self) -> str:
        """The summary as a fixed-width text table: each column as wide as its widest cell
        (at least its usual width), so long labels such as ``adam:lr=0.1,beta1=0.5`` keep
        every column aligned."""
        rows = []
        for e in self.entries:
            rows.append([e.label, "(" + ", ".join(f"{c:.4g}" for c in e.path[-1]) + ")",
                         f"{e.f[-1]:.4g}", self.describe_minimum(e.nearest),
                         "-" if np.isnan(e.distance) else f"{e.distance:.3g}",
                         "-" if e.reached_at is None else str(e.reached_at), e.ended or "-"])
        lines = fixed_width(_COLUMNS, rows)
        if self.seeds:
            lines.append(f"(each row: {self.start_words()}"
                         + ("; every seed's f is in seeds.csv and spread.png)"
                            if len(self.seeds) > 1 else ")"))
        lines.append(f"(tol = {self.tol:g}: 'steps to tol' is the first step from which the "
                     "path stays within tol of the minimum it ends at)")
        return "\n".join(lines)

    def csv(self) -> str:
        """``trajectories.csv``: columns optimizer, step, x, y, f (no y in 1-D); exact
        round-trip floats, so equal runs give byte-identical files; written by the csv
        module, so a label with commas (a repeated optimizer's full spec) is quoted."""
        names = ["x", "y"][: self.problem.dim]
        return csv_text(["optimizer", "step", *names, "f"], (
            [e.label, k, *(repr(float(c)) for c in point), repr(float(fk))]
            for e in self.entries for k, (point, fk) in enumerate(zip(e.path, e.f))))

    def seeds_csv(self) -> str:
        """``seeds.csv`` (races with seeds): optimizer, seed, step, f — every seed's f."""
        return csv_text(["optimizer", "seed", "step", "f"], (
            [e.label, seed, k, "" if np.isnan(fk) else repr(float(fk))]
            for e in self.entries for seed, row in zip(self.seeds or [], e.seed_f)
            for k, fk in enumerate(row)))


#: The race table's columns: (header, alignment, least width).
_COLUMNS = (("optimizer", "<", 22), ("final point", ">", 24), ("final f", ">", 11),
            ("nearest minimum", ">", 22), ("distance", ">", 9), ("steps to tol", ">", 12),
            ("ended early", "<", 0))


def fixed_width(columns: Sequence[tuple[str, str, int]], rows: Sequence[Sequence[str]]
                ) -> list[str]:
    """Lines of a text table: a header, a rule, one line per row; each column as wide as
    its widest cell or header (and at least its least width), aligned ``<`` or ``>``,
    columns one space apart (two before a last left-aligned column); no trailing spaces.

    >>> print("\\n".join(fixed_width([("name", "<", 0), ("f", ">", 3)],
    ...                              [["adam:lr=0.1,beta1=0.5", "1.5"], ["sgd", "10"]])))
    name                    f
    -------------------------
    adam:lr=0.1,beta1=0.5 1.5
    sgd                    10
    """
    widths = [max([least, len(head), *(len(r[i]) for r in rows)])
              for i, (head, _, least) in enumerate(columns)]

    def line(cells: Sequence[str]) -> str:
        parts = []
        for i, (cell, (_, align, _), width) in enumerate(zip(cells, columns, widths)):
            last_left = i == len(columns) - 1 and align == "<" and i > 0
            parts.append((" " if last_left else "") + (f"{cell:<{width}}" if align == "<"
                                                         else f"{cell:>{width}}"))
        return " ".join(parts).rstrip()

    head = line([c[0] for c in columns])
    return [head, "-" * max(len(head), *(len(line(r)) for r in rows)) if rows else
            "-" * len(head), *(line(r) for r in rows)]


def _as_entries(optimizers: Sequence[str] | Mapping[str, optim.Optimizer]
                ) -> list[tuple[str, str, optim.Optimizer]]:
    """(name, spec, optimizer) for every racer."""
    out = []
    if isinstance(optimizers, Mapping):
        for spec, opt in optimizers.items():
            out.append((optim.name_of(opt), spec, opt))
        return out
    for item in optimizers:
        if isinstance(item, optim.Optimizer):
            name = optim.name_of(item)
            out.append((name, name, item))
        else:
            name, _ = parse_optimizer_spec(item)
            out.append((name, item, build_optimizer(item)))
    return out


def race(
    problem: Any,
    optimizers: Sequence[str | optim.Optimizer] | Mapping[str, optim.Optimizer],
    start: Sequence[float] | None = None,
    steps: int = 30,
    *,
    tol: float | None = None,
    margin: float = DEFAULT_MARGIN,
    progress: Callable[[int], None] | None = None,
    seeds: Sequence[int] | None = None,
    noise: float = 0.0,
    spread: float = 0.0,
    start_shape: str = "box",
) -> RaceResult:
    """Run every optimizer from ``start`` (default: the problem's) for ``steps`` updates.

    With ``seeds`` (or ``noise``/``spread``, then seed 0), every optimizer runs once per
    seed, all seeds as one batch: the start drawn ``spread`` around ``start`` and the
    gradient noise σ = ``noise`` from the seed (see :mod:`.engine`); the entry's path is the
    first seed's, ``seed_f`` holds f for every seed.

    ``optimizers``: spec strings (``"adam:lr=0.3"``), optimizer objects, or a mapping
    label → optimizer. Each runs on its own (1, dim) array through :func:`.engine.run_batch`,
    so divergence (non-finite, out of bounds) is reported, never raised. ``progress(n)`` is
    called after each update of each racer with the number of updates done in total.
    """
    start = tuple(float(c) for c in (problem.start if start is None else start))
    if len(start) != problem.dim:
        raise InputError(f"start has {len(start)} coordinates, problem {problem.name!r} is "
                         f"{problem.dim}-D")
    tol = default_tol(problem) if tol is None else float(tol)
    racers = _as_entries(optimizers)
    if not racers:
        raise InputError("a race needs at least one optimizer")
    names = [n for n, _, _ in racers]
    lo, hi = bounds(problem, margin)
    if seeds is None and (noise or spread):
        seeds = [0]
    result = RaceResult(problem=problem, start=start, steps=steps, tol=tol,
                        seeds=None if seeds is None else [int(s) for s in seeds],
                        noise=float(noise), spread=float(spread))
    starts = np.array([start]) if seeds is None else \
        draw_starts(problem, start, spread, seeds, shape=start_shape, margin=margin)
    for i, (name, spec, opt) in enumerate(racers):
        label = name if names.count(name) == 1 else spec
        tick = None if progress is None else (lambda k, i=i: progress(i * steps + k))
        b = run_batch(problem, opt, starts, steps, tol=tol, margin=margin,
                      progress=tick, noise=noise, seeds=seeds)
        d = int(b.diverged_at[0])
        n = steps if d < 0 else d
        path = b.path[: n + 1, 0, :]
        with np.errstate(all="ignore"):
            f = np.asarray(problem.f(path), dtype=float)
        nearest = None if b.nearest[0] < 0 else int(b.nearest[0])
        result.entries.append(Entry(
            label=label, name=name, spec=spec, optimizer=opt, path=path, f=f,
            diverged_at=None if d < 0 else d,
            left_window=d >= 0 and bool(np.isfinite(path[-1]).all()
                                        and ((path[-1] < lo) | (path[-1] > hi)).any()),
            reached_at=_settled_at(problem, path, nearest, tol) if d < 0 else None,
            nearest=nearest,
            distance=float(b.distance[0]), outcome=str(b.outcome[0]),
            bounced=bool(b.bounced[0]), seed_f=None if seeds is None else _seed_f(problem, b),
            overflowed=bool(b.overflowed[0])))
    return result


def _seed_f(problem: Any, b: Any) -> np.ndarray:
    """(S, steps + 1) f along every seed's path (nan after divergence)."""
    T, S, dim = b.path.shape
    with np.errstate(all="ignore"):
        f = np.asarray(problem.f(b.path.reshape(-1, dim)), dtype=float)
    return f.reshape(T, S).T


def _settled_at(problem: Any, path: np.ndarray, nearest: int | None, tol: float) -> int | None:
    """The first step from which ``path`` stays within ``tol`` of minimum ``nearest``."""
    if nearest is None:
        return None
    point = np.asarray(problem.minima[nearest].point, dtype=float)
    inside = np.linalg.norm(path - point, axis=1) <= tol
    if not inside[-1]:
        return None
    outside = np.nonzero(~inside)[0]
    return 0 if outside.size == 0 else int(outside[-1]) + 1
