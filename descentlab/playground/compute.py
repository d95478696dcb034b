"""What the playground computes, without any web code: plain data in, JSON-able dicts out.

Every number comes from the library and the lab — surfaces from :mod:`descentlab.problems`
(formulas parsed, never executed), paths from :func:`descentlab.lab.race.race` and
:func:`descentlab.lab.engine.run_batch`, internals from :func:`descentlab.lab.trace.trace`,
maps from :mod:`descentlab.lab.sweep`, exports from the ``race`` command itself (so its
``manifest.json`` is one that ``descentlab rerun`` replays). Nothing here re-implements a
rule. Every request is bounded (:data:`LIMITS`), its work included: :func:`estimate` counts
the optimizer updates it will make before anything runs (an optimizer that is not
element-wise runs one copy per start, so each start costs a whole update, unless it stacks its
runs into one call); a request beyond a
bound, or with a bad value, raises :class:`~descentlab.errors.LimitError` /
:class:`~descentlab.errors.InputError` naming the field.

>>> s = Surface(problem="bowl")
>>> r = race_paths(s, [Racer("sgd", {"lr": 0.95})], start=(-7.0, 2.0), steps=30)
>>> r["racers"][0]["path"][1]          # one SGD step on x²/20 + y²: (-7 + 0.665, 2 - 3.8)
[-6.335, -1.7999999999999998]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as _dt
import functools
import hashlib
import io
import json
import math
import re
import shutil
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import optim, plugins, problems
from ..errors import DescentlabError, InputError, LimitError
from ..lab import engine
from ..lab.race import race
from ..lab.sweep import start_grid, sweep, sweep_starts
from ..lab.trace import trace

#: The bounds every request is checked against (see docs/playground.md).
LIMITS: dict[str, int] = {
    "racers": 8,             # racers in one race
    "steps": 1000,           # updates per racer
    "surface_cells": 40_000,  # grid points of one surface picture (200 × 200)
    "map_cells": 4_096,      # cells of one stability or start map (64 × 64)
    "map_work": 1_000_000,   # cells × steps of one map
    "field_work": 200_000,   # starts × steps per racer of one drag field
    "trace_steps": 200,      # steps of one trace
    "exact_steps": 30,       # steps of one exact trace
    "formula_length": problems.expression.MAX_LENGTH,
    "coordinate": 1_000_000,  # |window ends| and |start coordinates|
    "work": 15_000,          # estimated optimizer updates of one request (see estimate)
    "body_bytes": 65_536,    # bytes of one request body
    "export_frames": 301,    # frames of an exported animation (start + steps; 1.7 MB each)
}
#: The cost model of :func:`estimate`, in updates of one run: an element-wise optimizer
#: advances this many runs (rows) for the price of one more update (measured on the bowl with
#: 961 rows: 420 for Nesterov, 800 for Adam, 1,100 for SGD) ...
ROWS_PER_UPDATE = 400
#: ... one that runs a copy per start (not element-wise) pays this much per start and step
#: (LAMB, LARS, Muon, Adafactor, full-matrix AdaGrad, L-BFGS: 1.0–1.8 × a one-run update,
#: measured on the bowl) ...
COPY_COST = 2.0
#: ... one that stacks its runs (``stacks_runs``: Muon, Scion, MARS, C-AdamW, C-Lion; one call
#: on the runs as a stack of matrices) pays COPY_COST times an element-wise rule's price
#: (benchmarks/playground_estimate.py prints the work measured next to the work charged) ...
#: ... and a step of an exact trace costs this many (it runs the float trace as well).
EXACT_STEP_COST = 5.0
_OPTION_TEXT = re.compile(r"[A-Za-z0-9_.+-]{1,40}\Z")


def limits() -> dict[str, int]:
    """A copy of :data:`LIMITS` (what ``GET /api/limits`` returns)."""
    return dict(LIMITS)


@contextlib.contextmanager
def _as_input_error(what: str) -> Iterator[None]:
    """Errors about a user's value, prefixed by ``what`` (the request field): the library's
    own errors keep their class, plain ValueError/TypeError become InputError."""
    try:
        yield
    except DescentlabError as e:
        if str(e).startswith(f"{what}:"):
            raise
        raise type(e)(f"{what}: {e}") from None
    except (ValueError, TypeError) as e:
        raise InputError(f"{what}: {e}") from None


def _bounded(what: str, value: int, limit: str, low: int = 1) -> int:
    if value < low:
        raise InputError(f"{what} must be >= {low}, got {value}")
    if value > LIMITS[limit]:
        raise LimitError(f"{what} = {value} is more than the playground allows "
                         f"({LIMITS[limit]:,}, limit {limit!r})")
    return value


# ---------------------------------------------------------------------- work
@dataclass(frozen=True)
class Estimate:
    """A request's estimated work in updates of one run (:data:`ROWS_PER_UPDATE`,
    :data:`COPY_COST`, :data:`EXACT_STEP_COST`), and the request field to lower when it is
    too much."""

    work: float
    field: str

    def check(self, what: str) -> Estimate:
        """Refuse work beyond ``LIMITS["work"]`` (a LimitError naming the field)."""
        if self.work > LIMITS["work"]:
            e = LimitError(f"{self.field}: {what} is about {self.work:,.0f} optimizer "
                           f"updates, more than the playground allows ({LIMITS['work']:,}, "
                           f"limit 'work'); lower {self.field}")
            e.field = self.field
            raise e
        return self


def _batching(racer: Racer) -> str:
    """How the lab advances the racer's runs (:func:`~descentlab.lab.engine.batching`):
    "rows", "stack" or "copies", read from the optimizer built with the racer's settings (an
    option can decide it: Muon's optax form runs a copy per run). A racer that does not build
    counts as "copies" here; its request is refused later, naming the field."""
    cls = optim.OPTIMIZERS.get(str(racer.name).strip().lower())
    if cls is None or getattr(cls, "elementwise", False):
        return "rows"
    try:
        return engine.batching(racer.build())
    except (DescentlabError, ValueError, TypeError):
        return "copies"


def _per_step(how: str, runs: int) -> float:
    """Updates of one step of ``runs`` runs batched ``how`` (:func:`_batching`): "rows"
    1 + runs/ROWS_PER_UPDATE; "stack" COPY_COST times that; "copies" COPY_COST · runs.

    >>> _per_step("rows", 400), _per_step("stack", 400), _per_step("copies", 400)
    (2.0, 4.0, 800.0)
    """
    rows = 1 + runs / ROWS_PER_UPDATE
    if how == "rows":
        return rows
    return COPY_COST * (rows if how == "stack" else runs)


def _dimension(surface: Surface) -> int:
    """1 or 2, read without building the surface (no minima search)."""
    if surface.problem is not None:
        with _as_input_error("surface.problem"):
            return problems.get(surface.problem).dim
    from ..problems.expression import variables

    with _as_input_error("formula"):
        return 2 if "y" in variables(problems.parse(str(surface.formula))) else 1


def estimate(kind: str, surface: Surface, racers: Sequence[Racer], steps: int,
             runs: int = 1, exact: bool = False) -> Estimate:
    """The work of one request, before any of it runs: ``kind`` "race", "field", "trace",
    "map", "starts" or "export"; ``runs`` the cells of a map, the cells per axis of a start
    map. Cheap (no surface is built).

    A drag field of Adam and LAMB (a copy per start), 200 steps: LAMB's half of the budget,
    15,000 / 2 / (200 × 2.0), allows 18 starts, a 4 × 4 lattice; Adam's 200 steps cost
    200 × (1 + 16/400), LAMB's 200 × 16 × 2.0:

    >>> estimate("field", Surface("bowl"), [Racer("adam"), Racer("lamb")], 200).work
    6608.0
    >>> estimate("map", Surface("bowl"), [Racer("adagrad_full")], 244, runs=4096).work
    1998848.0
    """
    hows = [_batching(r) for r in racers]
    if kind == "field":
        starts = _lattice_size(_dimension(surface), steps, hows) ** _dimension(surface)
        return Estimate(sum(steps * _per_step(how, starts) for how in hows), "steps")
    if kind == "trace":
        return Estimate(steps * (1 + (EXACT_STEP_COST if exact else 0)), "steps")
    if kind == "starts":
        runs = runs ** _dimension(surface)
    if kind in ("map", "starts"):
        return Estimate(steps * _per_step(hows[0], runs), "steps")
    return Estimate(sum(steps * _per_step(how, 1) for how in hows), "steps")


# ---------------------------------------------------------------------- surfaces
@dataclass(frozen=True)
class Surface:
    """A catalogue ``problem`` by name, or a ``formula`` in x (and y) with its ``window``."""

    problem: str | None = None
    formula: str | None = None
    window: tuple[tuple[float, float], ...] | None = None

    def build(self) -> problems.Problem:
        return _build_surface(self.problem, self.formula, self.window)

    def cli_arguments(self) -> dict[str, Any]:
        """The ``race`` command's arguments that give the same surface."""
        if self.formula is None:
            return {"problem": self.problem, "expression": None, "window": None}
        window = self.build().window
        text = ",".join(f"{lo!r}:{hi!r}" for lo, hi in window)
        return {"problem": None, "expression": self.formula, "window": text}


@functools.lru_cache(maxsize=64)
def _build_surface(name: str | None, formula: str | None,
                   window: tuple[tuple[float, float], ...] | None) -> problems.Problem:
    if (name is None) == (formula is None):
        raise InputError("surface: give either 'problem' (a catalogue name) or 'formula'")
    if name is not None:
        if window is not None:
            raise InputError("surface.window applies to formulas; catalogue problems have "
                             "their own")
        with _as_input_error("surface.problem"):
            return problems.get(name)
    if len(formula) > LIMITS["formula_length"]:
        raise LimitError(f"formula: longer than {LIMITS['formula_length']} characters")
    if window is not None:
        for lo, hi in window:
            if not (math.isfinite(lo) and math.isfinite(hi)) or max(abs(lo), abs(hi)) > \
                    LIMITS["coordinate"]:
                raise LimitError(f"surface.window {window}: ends must be finite and within "
                                 f"±{LIMITS['coordinate']:,}")
    with _as_input_error("formula"):
        # Exactly what `descentlab race --f FORMULA --window ...` builds (see cli_arguments).
        return problems.from_expression(formula, window=window)


def check_formula(formula: str) -> dict[str, Any]:
    """Whether ``formula`` parses (the page asks while you type): ``{"ok": True, "dim": …}``
    or ``{"ok": False, "error": the parser's message}`` — an answer, not a failure."""
    from ..problems.expression import variables

    try:
        if len(formula) > LIMITS["formula_length"]:
            raise LimitError(f"formula: longer than {LIMITS['formula_length']} characters")
        tree = problems.parse(formula)
    except ValueError as e:
        return {"ok": False, "error": str(e)}
    return {"ok": True, "dim": 2 if "y" in variables(tree) else 1}


def problem_summary(p: problems.Problem) -> dict[str, Any]:
    return {"name": p.name, "dim": p.dim, "formula": p.formula, "description": p.description,
            "start": list(p.start), "window": [list(w) for w in p.window],
            "minima": [{"point": list(m.point), "value": _finite(m.value), "kind": m.kind}
                       for m in p.minima]}


def catalogue() -> list[dict[str, Any]]:
    """Every catalogue surface, summarised."""
    return [problem_summary(p) for p in problems.catalogue().values()]


def _finite(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _floats(a: np.ndarray) -> list:
    """An array as nested lists, non-finite values as None (JSON has no nan); a 0-d value
    (one number per array, as NovoGrad's v) as a list of one."""
    arr = np.atleast_1d(np.asarray(a, dtype=float))
    if arr.ndim > 1:
        return [_floats(row) for row in arr]
    return [v if math.isfinite(v) else None for v in arr.tolist()]


def surface_grid(surface: Surface, resolution: int = 120) -> dict[str, Any]:
    """The surface's summary and f on a grid over its window: ``resolution`` points per axis
    (``values[j][i]`` = f(x_i, y_j) in 2-D; ``values[i]`` in 1-D)."""
    p = surface.build()
    n = _bounded("resolution", resolution, "surface_cells", low=2) if p.dim == 1 else \
        int(math.isqrt(_bounded("resolution²", resolution * resolution, "surface_cells",
                                low=4)))
    axes = [np.linspace(lo, hi, n) for lo, hi in p.window]
    if p.dim == 1:
        values = p.f(axes[0][:, None])
    else:
        X, Y = np.meshgrid(*axes, indexing="xy")
        values = p.f(np.stack([X, Y], axis=-1))
    out = problem_summary(p)
    out.update(axes=[_floats(a) for a in axes], values=_floats(values),
               gradient=p.gradient_expression)
    return out


# ---------------------------------------------------------------------- racers
@dataclass
class Racer:
    """One optimizer with its settings: a registry ``name``, ``hyper`` (name → number) and
    ``options`` (name → bool, string, number or None)."""

    name: str
    hyper: dict[str, float] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    def spec(self) -> str:
        """The ``NAME[:key=value,...]`` spec of these settings (round-trip float text)."""
        parts = []
        for key, value in {**self.hyper, **self.options}.items():
            if not re.fullmatch(r"[A-Za-z_]\w{0,40}", key):
                raise InputError(f"racer {self.name!r}: invalid setting name {key!r}")
            parts.append(f"{key}={_spec_value(self.name, key, value)}")
        return self.name + (":" + ",".join(parts) if parts else "")

    def build(self) -> optim.Optimizer:
        from ..lab.spec import build_optimizer

        return build_optimizer(self.checked_spec())

    def checked_spec(self) -> str:
        key = str(self.name).strip().lower()
        if key not in optim.available():
            raise InputError(f"unknown optimizer {self.name!r}; available: "
                             f"{', '.join(optim.available())}")
        clash = set(self.hyper) & set(self.options)
        if clash:
            raise InputError(f"racer {self.name!r}: {sorted(clash)[0]!r} given as both a "
                             "hyperparameter and an option")
        spec = self.spec()
        from ..lab.spec import build_optimizer

        with _as_input_error("racer"):
            build_optimizer(spec)
        return spec


def _spec_value(name: str, key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, int):  # a count stays whole: max_iter=1, not 1.0
        return str(value)
    if isinstance(value, float):
        v = float(value)
        if not math.isfinite(v):
            raise InputError(f"racer {name!r}: {key} must be finite, got {value!r}")
        return repr(v)
    if isinstance(value, str) and _OPTION_TEXT.match(value):
        from ..lab.spec import parse_value

        if not isinstance(parse_value(value), str):
            raise InputError(f"racer {name!r}: {key}={value!r} reads as a number or a "
                             "boolean; send it as one")
        return value
    raise InputError(f"racer {name!r}: {key} must be a number, a boolean, null or a short "
                     f"word, got {value!r}")


@dataclass(frozen=True)
class Noise:
    """Seeded stochastic behaviour, where the lab has it: gradient noise σ (``sigma``), a
    start drawn ``spread`` around the start, from ``seed``."""

    sigma: float = 0.0
    spread: float = 0.0
    seed: int = 0

    def active(self) -> bool:
        return self.sigma > 0 or self.spread > 0

    def race_keywords(self) -> dict[str, Any]:
        """The keywords of :func:`descentlab.lab.race.race` (nothing when inactive)."""
        if not self.active():
            return {}
        if not lab_has_noise():
            raise InputError("noise: this descentlab's lab has no gradient noise or start "
                             "spread; leave sigma and spread at 0")
        for what, v in (("noise.sigma", self.sigma), ("noise.spread", self.spread)):
            if not (math.isfinite(v) and 0 <= v <= LIMITS["coordinate"]):
                raise InputError(f"{what} must be a finite number in [0, "
                                 f"{LIMITS['coordinate']:,}], got {v!r}")
        if not 0 <= self.seed < 2**32:
            raise InputError(f"noise.seed must be in [0, 2**32), got {self.seed}")
        return {"seeds": [self.seed], "noise": self.sigma, "spread": self.spread}


def lab_has_noise() -> bool:
    """Whether the lab's race and engine take seeded gradient noise and start spread."""
    import inspect

    return ("noise" in inspect.signature(race).parameters
            and "seeds" in inspect.signature(engine.run_batch).parameters)


def features() -> dict[str, bool]:
    """What this lab offers beyond the basics (the page shows controls for them)."""
    return {"noise": lab_has_noise()}


def _checked_racers(racers: Sequence[Racer]) -> list[str]:
    _bounded("number of racers", len(racers), "racers")
    return [r.checked_spec() for r in racers]


def _checked_start(p: problems.Problem, start: Sequence[float] | None) -> tuple[float, ...]:
    if start is None:
        return tuple(p.start)
    point = tuple(float(c) for c in start)
    if len(point) != p.dim:
        raise InputError(f"start: {p.name!r} is {p.dim}-D, got {len(point)} coordinate(s)")
    lo, hi = engine.bounds(p)
    if not all(math.isfinite(c) for c in point) or np.any(np.asarray(point) < lo) \
            or np.any(np.asarray(point) > hi):
        window = ", ".join(f"[{a:g}, {b:g}]" for a, b in p.bounds)
        raise InputError(f"start {point} is outside the bounds of {p.name!r}, {window}")
    return point


def _colours(names: list[str]) -> list[str]:
    from ..viz.style import colours_for  # the palette of the static figures

    return colours_for(names)


@functools.lru_cache(maxsize=256)
def _race_one(surface: Surface, spec: str, start: tuple[float, ...], steps: int,
              noise: Noise) -> Any:
    """One racer's run (a race's racers are independent, so a changed slider reruns only
    its own racer)."""
    return race(surface.build(), [spec], start, steps, **noise.race_keywords()).entries[0]


def race_paths(surface: Surface, racers: Sequence[Racer], start: Sequence[float] | None,
               steps: int, noise: Noise = Noise()) -> dict[str, Any]:
    """Race ``racers`` from ``start``: each racer's label, colour, path, f along it,
    divergence step and outcome — :func:`descentlab.lab.race.race`, as ``descentlab race``
    runs it (labels as it gives them: the name, or the spec when a name repeats)."""
    from dataclasses import replace

    from ..lab.race import RaceResult

    specs = _checked_racers(racers)
    _bounded("steps", steps, "steps")
    estimate("race", surface, racers, steps).check("this race")
    p = surface.build()
    point = _checked_start(p, start)
    noise.race_keywords()  # checked before any work
    entries = [_race_one(surface, spec, point, steps, noise) for spec in specs]
    names = [e.name for e in entries]
    entries = [replace(e, label=e.name if names.count(e.name) == 1 else e.spec)
               for e in entries]
    result = RaceResult(problem=p, start=point, steps=steps, tol=engine.default_tol(p),
                        entries=entries)
    colours = _colours(names)
    out = []
    for e, colour, row in zip(entries, colours, result.summary_rows()):
        out.append({"label": e.label, "name": e.name, "spec": e.spec, "colour": colour,
                    "path": [_floats(pt) for pt in e.path], "f": _floats(e.f),
                    "diverged_at": e.diverged_at, "outcome": e.outcome,
                    "bounced": e.bounced, "nearest_minimum": row["nearest_minimum"],
                    "steps_to_tol": e.reached_at})
    return {"start": list(point), "steps": steps, "tol": result.tol, "racers": out,
            "table": result.table()}


@functools.lru_cache(maxsize=24)
def _field_one(surface: Surface, spec: str, steps: int, noise: Noise, n: int) -> str:
    from ..lab.spec import build_optimizer

    p = surface.build()
    starts = _lattice(p, n)[1]
    extra = {}
    if noise.sigma > 0:  # a run's noise depends on its seed only: every start gets the race's
        extra = {"noise": noise.sigma, "seeds": [noise.seed] * len(starts)}
    b = engine.run_batch(p, build_optimizer(spec), starts, steps, **extra)
    data = np.ascontiguousarray(b.path.transpose(1, 0, 2), dtype="<f4")
    return base64.b64encode(data.tobytes()).decode("ascii")


def clear_caches() -> None:
    """Forget the cached runs (races per racer, drag fields, surfaces)."""
    for cached in (_race_one, _field_one, _build_surface):
        cached.cache_clear()


def _lattice_size(dim: int, steps: int, hows: Sequence[str]) -> int:
    """Lattice points per axis of a drag field: ``field_work`` starts × steps per racer, and
    with racers that are not element-wise, few enough starts that they take at most half of
    ``LIMITS["work"]`` (``hows``: each racer's :func:`_batching`; :func:`_per_step`: stacked
    runs cost little per start, a copy per start a lot)."""
    budget = LIMITS["field_work"] // steps
    n = max(2, min(401, budget) if dim == 1 else min(41, math.isqrt(budget)))
    heavy = [how for how in hows if how != "rows"]
    while n > 2 and sum(steps * _per_step(how, n ** dim) for how in heavy) > LIMITS["work"] / 2:
        n -= 1
    return n


def _lattice(p: problems.Problem, n: int) -> tuple[list[np.ndarray], np.ndarray]:
    axes = [np.linspace(lo, hi, n) for lo, hi in p.window]
    if p.dim == 1:
        return axes, axes[0][:, None]
    X, Y = np.meshgrid(*axes, indexing="xy")
    return axes, np.stack([X.ravel(), Y.ravel()], axis=-1)


def drag_field(surface: Surface, racers: Sequence[Racer], steps: int,
               noise: Noise = Noise()) -> dict[str, Any]:
    """Paths from a lattice of starts over the window, per racer in ONE vectorised
    :func:`~descentlab.lab.engine.run_batch` call (the lattice in the rows): while the start
    is dragged, the page draws the paths of the nearest lattice start without asking again.

    ``paths`` per racer: base64 of little-endian float32, shape (starts, steps + 1, dim),
    nan after divergence; ``axes`` the lattice coordinates (starts in row-major order,
    x fastest)."""
    specs = _checked_racers(racers)
    _bounded("steps", steps, "steps")
    estimate("field", surface, racers, steps).check("this drag field")
    p = surface.build()
    noise.race_keywords()
    if noise.spread > 0:
        raise InputError("drag field: not with a start spread (each start would be drawn "
                         "around the lattice point); the page asks for races instead")
    n = _lattice_size(p.dim, steps, [_batching(r) for r in racers])
    axes, _ = _lattice(p, n)
    return {"axes": [_floats(a) for a in axes], "steps": steps, "dim": p.dim,
            "paths": [_field_one(surface, spec, steps, noise, n) for spec in specs]}


# ---------------------------------------------------------------------- internals
def _quantities(step: Any) -> dict[str, Any]:
    values = {k: _floats(v) for k, v in step.values.items()}
    exact = None
    if step.exact is not None:
        exact = {k: [None if e is None else str(e) for e in v] for k, v in step.exact.items()}
    return {"t": step.t, "values": values, "exact": exact}


def trace_steps(surface: Surface, racer: Racer, start: Sequence[float] | None, steps: int,
                exact: bool = False) -> dict[str, Any]:
    """Every internal quantity per step (what ``descentlab trace`` prints): g, the state
    slots, m̂/v̂ for Adam, the step and the new point; exact values too when ``exact``."""
    spec = racer.checked_spec()
    _bounded("steps", steps, "exact_steps" if exact else "trace_steps")
    estimate("trace", surface, [racer], steps, exact=exact).check("this trace")
    p = surface.build()
    point = _checked_start(p, start)
    with _as_input_error("trace"):
        t = trace(p, spec, point, steps, exact=exact)
    return {"spec": spec, "exact": exact, "note": t.note,
            "steps": [_quantities(s) for s in t.steps]}


# ---------------------------------------------------------------------- maps
def _axis_values(what: str, lo: float, hi: float, n: int, log: bool) -> np.ndarray:
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
        raise InputError(f"{what}: need finite lo <= hi, got {lo!r}, {hi!r}")
    if log:
        if lo <= 0:
            raise InputError(f"{what}: a log axis needs lo > 0, got {lo!r}")
        return np.geomspace(lo, hi, n)
    return np.linspace(lo, hi, n)


def stability_map(surface: Surface, racer: Racer, start: Sequence[float] | None, steps: int,
                  lr: tuple[float, float, int, bool], axis: str | None = None,
                  axis_range: tuple[float, float, int, bool] | None = None) -> dict[str, Any]:
    """Outcomes over learning rate × ``axis`` (another hyperparameter) — one vectorised
    :func:`descentlab.lab.sweep.sweep`. ``lr``/``axis_range``: (lo, hi, n, log)."""
    p = surface.build()
    spec = racer.checked_spec()
    _bounded("steps", steps, "steps")
    point = _checked_start(p, start)
    n_lr = _bounded("lr cells", lr[2], "map_cells")
    rates = _axis_values("lr", lr[0], lr[1], n_lr, lr[3])
    values = None
    if axis is not None:
        hypers = optim.describe(racer.name)["hyperparameters"]
        if axis == "lr" or axis not in [h["name"] for h in hypers]:
            raise InputError(f"axis {axis!r} is not another hyperparameter of "
                             f"{racer.name!r}")
        if axis_range is None:
            raise InputError("axis needs axis_range (lo, hi, n, log)")
        values = _axis_values(f"axis_range ({axis})", axis_range[0], axis_range[1],
                              _bounded(f"axis_range ({axis}) cells", axis_range[2],
                                       "map_cells"), axis_range[3])
    cells = rates.size * (1 if values is None else values.size)
    _bounded("map cells", cells, "map_cells")
    _bounded("map cells × steps", cells * steps, "map_work")
    estimate("map", surface, [racer], steps, cells).check("this map")
    swept = {"lr", axis}  # the sweep sets these itself (a spec value would be dropped)
    hyper = {k: v for k, v in racer.hyper.items() if k not in swept}
    options = {k: v for k, v in racer.options.items() if k not in swept}
    spec = Racer(racer.name, hyper, options).checked_spec()
    for what, key, axis_values in (("lr", "lr", rates), ("axis_range", axis, values)):
        for value in () if axis_values is None else (axis_values[0], axis_values[-1]):
            with _as_input_error(what):  # the range's ends, checked as the optimizer checks
                Racer(racer.name, {**hyper, key: float(value)}, options).checked_spec()
    with _as_input_error("map"):
        s = sweep(p, spec, rates, axis=axis, axis_values=values, start=point, steps=steps)
    return {"lr": _floats(s.lr), "axis": axis,
            "axis_values": None if axis is None else _floats(s.axis_values),
            "outcome": s.outcome.tolist(), "bounced": s.bounced.tolist(),
            "thresholds": s.thresholds()}


def start_map(surface: Surface, racer: Racer, steps: int, n: int) -> dict[str, Any]:
    """Outcome by start point over an ``n`` per axis grid of the window (the racer's own
    rate) — one vectorised :func:`descentlab.lab.sweep.sweep_starts`."""
    p = surface.build()
    spec = racer.checked_spec()
    _bounded("steps", steps, "steps")
    cells = n ** p.dim
    _bounded("start cells", cells, "map_cells")
    _bounded("start cells × steps", cells * steps, "map_work")
    estimate("starts", surface, [racer], steps, n).check("this start map")
    starts = start_grid(p, n)
    with _as_input_error("start map"):
        s = sweep_starts(p, spec, starts, steps=steps)
    return {"n": n, "starts": [_floats(pt) for pt in starts],
            "outcome": s.outcome[:, 0].tolist(), "bounced": s.bounced[:, 0].tolist(),
            "success_rate": float(s.success_rate()[0])}


# ---------------------------------------------------------------------- export
_EXPORT_LOCK = threading.Lock()  # the server answers in threads; pyplot is not thread-safe
_EXPORT_NAME = re.compile(r"playground-\d{8}-\d{6}-[0-9a-f]{8}\Z")
_EXPORT_FILE = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")


def race_namespace(surface: Surface, specs: list[str], start: Sequence[float], steps: int,
                   out: Path, animate: bool, noise: Noise = Noise()) -> argparse.Namespace:
    """The arguments ``descentlab race`` would parse for these settings."""
    from ..cli import build_parser

    args = build_parser().subcommand("race").defaults()
    args.update(surface.cli_arguments())
    args.update(command="race", start=",".join(repr(float(c)) for c in start), steps=steps,
                optimizers=list(specs), animate="gif" if animate else None, out=str(out))
    if noise.active():  # the race command's --seed, --noise, --start-spread
        args.update(seed=noise.seed, noise=noise.sigma, start_spread=noise.spread)
    return argparse.Namespace(**args)


def export(surface: Surface, racers: Sequence[Racer], start: Sequence[float] | None,
           steps: int, folder: Path, animate: bool = True,
           noise: Noise = Noise()) -> dict[str, Any]:
    """Write the current race with the ``race`` command itself into a new folder under
    ``folder`` (the export folder; nothing else is written): its figures (PNG, GIF),
    ``trajectories.csv`` and the ``manifest.json`` that ``descentlab rerun`` replays."""
    from ..commands import race as race_command

    specs = _checked_racers(racers)
    _bounded("steps", steps, "steps")
    estimate("export", surface, racers, steps).check("this export")
    if animate and steps + 1 > LIMITS["export_frames"]:
        e = LimitError(f"steps: an animated export draws a frame per step and the start, "
                       f"{steps + 1:,} frames; the playground allows "
                       f"{LIMITS['export_frames']:,} (limit 'export_frames'): lower steps or "
                       "export without the animation")
        e.field = "steps"
        raise e
    p = surface.build()
    point = _checked_start(p, start)
    noise.race_keywords()
    request = [surface.cli_arguments(), specs, point, steps, animate,
               [noise.sigma, noise.spread, noise.seed]]  # every field of the request
    with _EXPORT_LOCK, contextlib.redirect_stdout(io.StringIO()) as printed, \
            contextlib.redirect_stderr(io.StringIO()):  # the table and the progress bar
        out = _new_export_folder(Path(folder), request)
        args = race_namespace(surface, specs, point, steps, out, animate, noise)
        try:
            race_command.run(args)
        except BaseException:  # a failed export leaves no folder behind
            shutil.rmtree(out, ignore_errors=True)
            raise
    files = sorted(f.name for f in out.iterdir())
    given = "".join(f" --plugin {p.path}" for p in plugins.active())  # serve --plugin FILE
    return {"folder": out.name, "path": str(out.resolve()), "files": files,
            "command": "descentlab rerun " + str(out / "manifest.json") + given,
            "printed": printed.getvalue()}


def _new_export_folder(folder: Path, request: list) -> Path:
    """A new folder ``playground-DATE-TIME-HASH`` (the time taken now, the hash of every
    request field), created here: ``mkdir`` fails for a name another export (another process)
    took, and the next attempt's hash differs."""
    folder.mkdir(parents=True, exist_ok=True)
    for attempt in range(100):
        stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S")
        text = json.dumps([request, attempt] if attempt else request)
        out = folder / f"playground-{stamp}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
        try:
            out.mkdir()
        except FileExistsError:
            continue
        return out
    raise InputError(f"export: no free folder name under {folder}")  # pragma: no cover


def export_file(folder: Path, name: str, file: str) -> Path:
    """The path of one exported file, only inside the export folder (names are checked;
    no other file can be named)."""
    from ..errors import MissingKeyError

    if not _EXPORT_NAME.match(name) or not _EXPORT_FILE.match(file) or file.startswith("."):
        raise MissingKeyError(f"no export {name}/{file}")
    root = Path(folder).resolve()
    path = (root / name / file).resolve()
    if root not in path.parents or not path.is_file():
        raise MissingKeyError(f"no export {name}/{file}")
    return path


__all__ = ["LIMITS", "Surface", "Racer", "Noise", "features", "lab_has_noise", "catalogue",
           "surface_grid", "race_paths",
           "drag_field", "trace_steps", "stability_map", "start_map", "export", "export_file",
           "limits", "race_namespace", "clear_caches"]
