"""Sweeps: a whole grid of runs as ONE vectorised computation.

A sweep over learning rates × a second hyperparameter builds arrays of shape (K, 1) — one
value per run, K = n_lr × n_second — and hands them to one optimizer whose parameters have
shape (K, dim). A sweep over start points puts the K starts in the rows instead. Either way
there is no Python loop over grid points (:func:`.engine.run_batch` loops over steps only).

>>> from descentlab import problems
>>> s = sweep(problems.get("quartic"), "adam:eps=1e-10", lr=[0.5, 3.0], start=(-8,), steps=99)
>>> s.outcome.shape
(1, 2)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import optim
from .engine import DEFAULT_MARGIN, draw_starts, run_batch
from .spec import parse_optimizer_spec


def _grid_values(values: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0:
        raise ValueError(f"{what} has no values")
    return arr


@dataclass
class SweepResult:
    """Outcomes of a learning rate × second-axis grid; arrays are (n_second, n_lr)."""

    problem: Any
    optimizer: str  #: the spec the grid was built on
    lr: np.ndarray  #: (n_lr,)
    axis: str | None  #: name of the second hyperparameter (None: only rates)
    axis_values: np.ndarray  #: (n_second,) ([nan] when there is no second axis)
    start: tuple[float, ...]
    steps: int
    tol: float
    outcome: np.ndarray
    bounced: np.ndarray
    final: np.ndarray  #: (n_second, n_lr, dim)
    diverged_at: np.ndarray
    reached_global_at: np.ndarray

    def thresholds(self) -> list[dict[str, Any]]:
        """Per value of the second axis: the smallest rate whose run ever comes within
        ``tol`` of the global minimum (``first_reach``), the smallest whose run *ends* there
        (``first_global``), and the smallest whose run bounces (reaches the global minimum and
        later leaves its basin). ``None`` when no rate in the grid does."""
        out = []
        for j, value in enumerate(self.axis_values):
            reach = self.lr[self.reached_global_at[j] >= 0]
            glob = self.lr[self.outcome[j] == "global"]
            bounce = self.lr[self.bounced[j]]
            out.append({
                "axis": self.axis, "value": None if self.axis is None else float(value),
                "first_reach": float(reach.min()) if reach.size else None,
                "first_global": float(glob.min()) if glob.size else None,
                "first_bounce": float(bounce.min()) if bounce.size else None,
                "counts": {o: int((self.outcome[j] == o).sum())
                           for o in ("global", "local", "moving", "diverged")},
                "bounced": int(self.bounced[j].sum()),
            })
        return out

    def records(self) -> list[dict[str, Any]]:
        """One dict per grid point: hyperparameters, outcome, bounced, final position."""
        names = ["final_x", "final_y"][: self.problem.dim]
        out = []
        for j, value in enumerate(self.axis_values):
            for i, lr in enumerate(self.lr):
                rec: dict[str, Any] = {"lr": float(lr)}
                if self.axis is not None:
                    rec[self.axis] = float(value)
                rec["outcome"] = str(self.outcome[j, i])
                rec["bounced"] = bool(self.bounced[j, i])
                d = int(self.diverged_at[j, i])
                rec["diverged_at"] = None if d < 0 else d
                for name, c in zip(names, self.final[j, i]):
                    rec[name] = float(c) if np.isfinite(c) else None
                out.append(rec)
        return out


def sweep(
    problem: Any,
    optimizer: str,
    lr: Sequence[float] | np.ndarray,
    *,
    axis: str | None = None,
    axis_values: Sequence[float] | np.ndarray | None = None,
    start: Sequence[float] | None = None,
    steps: int = 100,
    tol: float | None = None,
    margin: float = DEFAULT_MARGIN,
    progress: Callable[[int], None] | None = None,
    noise: float = 0.0,
    spread: float = 0.0,
    seed: int = 0,
    start_shape: str = "box",
) -> SweepResult:
    """Run ``optimizer`` (a spec, e.g. ``"adam:eps=1e-10"``) for every learning rate in
    ``lr`` × every value of hyperparameter ``axis`` in ``axis_values``, all from ``start``,
    as one vectorised run. Values in the spec are the fixed settings; ``lr`` and ``axis``
    override them. Outcomes are defined in :mod:`.engine`. ``noise``/``spread``: every run
    gets the same draw of seed ``seed`` (the start moved ``spread`` around ``start``, the
    same gradient noise σ), so grid points differ by their hyperparameters only."""
    name, kwargs = parse_optimizer_spec(optimizer)
    rates = _grid_values(lr, "lr")
    if axis is None:
        values = np.array([np.nan])
    else:
        if axis == "lr":
            raise ValueError("the second axis must be another hyperparameter than lr")
        values = _grid_values(axis_values if axis_values is not None else [], axis)
    start = tuple(float(c) for c in (problem.start if start is None else start))
    if len(start) != problem.dim:
        raise ValueError(f"start has {len(start)} coordinates, problem {problem.name!r} is "
                         f"{problem.dim}-D")
    n2, n1 = values.size, rates.size
    hyper = {**kwargs, "lr": np.repeat(rates[None, :], n2, axis=0).reshape(-1, 1)}
    if axis is not None:
        hyper[axis] = np.repeat(values[:, None], n1, axis=1).reshape(-1, 1)
    opt = optim.create(name, **hyper)
    first = draw_starts(problem, start, spread, [seed], shape=start_shape, margin=margin)[0]
    starts = np.tile(first, (n2 * n1, 1))
    b = run_batch(problem, opt, starts, steps, tol=tol, margin=margin, keep_path=False,
                  progress=progress, noise=noise, seeds=np.full(n2 * n1, seed))
    shape = (n2, n1)
    return SweepResult(
        problem=problem, optimizer=optimizer, lr=rates, axis=axis, axis_values=values,
        start=start, steps=steps, tol=b.tol, outcome=b.outcome.reshape(shape),
        bounced=b.bounced.reshape(shape), final=b.final.reshape(*shape, problem.dim),
        diverged_at=b.diverged_at.reshape(shape),
        reached_global_at=b.reached_global_at.reshape(shape))


@dataclass
class StartSweepResult:
    """Outcomes over a grid of start points (rows) for each learning rate (columns)."""

    problem: Any
    optimizer: str
    lr: np.ndarray  #: (n_lr,)
    starts: np.ndarray  #: (S, dim)
    steps: int
    tol: float
    outcome: np.ndarray  #: (S, n_lr)
    bounced: np.ndarray
    final: np.ndarray  #: (S, n_lr, dim)
    diverged_at: np.ndarray

    def success_rate(self) -> np.ndarray:
        """Per learning rate, the fraction of starts whose run ends at a global minimum."""
        return (self.outcome == "global").mean(axis=0)

    def records(self) -> list[dict[str, Any]]:
        names = ["x", "y"][: self.problem.dim]
        out = []
        for s, point in enumerate(self.starts):
            for i, lr in enumerate(self.lr):
                rec: dict[str, Any] = {"lr": float(lr)}
                rec.update({f"start_{n}": float(c) for n, c in zip(names, point)})
                rec["outcome"] = str(self.outcome[s, i])
                rec["bounced"] = bool(self.bounced[s, i])
                d = int(self.diverged_at[s, i])
                rec["diverged_at"] = None if d < 0 else d
                for n, c in zip(names, self.final[s, i]):
                    rec[f"final_{n}"] = float(c) if np.isfinite(c) else None
                out.append(rec)
        return out


def start_grid(problem: Any, n: int) -> np.ndarray:
    """``n`` points per axis at the cell centres of the problem's window: (n**dim, dim).

    >>> class P: dim, window = 2, ((0.0, 2.0), (0.0, 1.0))
    >>> start_grid(P(), 2).tolist()
    [[0.5, 0.25], [1.5, 0.25], [0.5, 0.75], [1.5, 0.75]]
    """
    if n < 1:
        raise ValueError(f"--starts needs at least 1 point per axis, got {n}")
    axes = [lo + (np.arange(n) + 0.5) * (hi - lo) / n for lo, hi in problem.window]
    mesh = np.meshgrid(*axes, indexing="xy")
    return np.stack([m.ravel() for m in mesh], axis=-1)


def sweep_starts(
    problem: Any,
    optimizer: str,
    starts: np.ndarray,
    lr: Sequence[float] | np.ndarray | None = None,
    *,
    steps: int = 100,
    tol: float | None = None,
    margin: float = DEFAULT_MARGIN,
    progress: Callable[[int], None] | None = None,
    noise: float = 0.0,
    seed: int = 0,
) -> StartSweepResult:
    """Run ``optimizer`` from every start (rows of ``starts``) for every rate in ``lr``
    (default: the spec's rate) as one vectorised run; ``noise``: every run sees the gradient
    noise of seed ``seed``."""
    name, kwargs = parse_optimizer_spec(optimizer)
    starts = np.asarray(starts, dtype=float)
    if starts.ndim != 2 or starts.shape[1] != problem.dim:
        raise ValueError(f"starts must have shape (S, {problem.dim}), got {starts.shape}")
    if lr is None:
        lr = [kwargs.get("lr", optim.create(name).lr)]
    rates = _grid_values(lr, "lr")
    S, n1 = starts.shape[0], rates.size
    hyper = {**kwargs, "lr": np.tile(rates, S).reshape(-1, 1)}
    opt = optim.create(name, **hyper)
    X0 = np.repeat(starts, n1, axis=0)
    b = run_batch(problem, opt, X0, steps, tol=tol, margin=margin, keep_path=False,
                  progress=progress, noise=noise, seeds=np.full(S * n1, seed))
    return StartSweepResult(
        problem=problem, optimizer=optimizer, lr=rates, starts=starts, steps=steps,
        tol=b.tol if tol is None else float(tol), outcome=b.outcome.reshape(S, n1),
        bounced=b.bounced.reshape(S, n1), final=b.final.reshape(S, n1, problem.dim),
        diverged_at=b.diverged_at.reshape(S, n1))
