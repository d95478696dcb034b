"""The vectorised engine every experiment runs on: K independent runs as one array.

``run_batch(problem, optimizer, starts, steps)`` advances the parameters ``X`` of shape
(K, dim) — K runs, one row each — by ``steps`` updates of one optimizer whose
hyperparameters may be arrays of shape (K, 1) (one value per run). For element-wise rules there
is no Python loop over runs: a 200 × 200 sweep is one array of 40 000 rows. Rules that are not
element-wise (norms or matrices over a whole array) run one optimizer copy per run instead, so
runs never mix — or, for a class that ``stacks_runs`` (Muon, Scion, MARS, ...), one call on the
runs stacked as K matrices, each with the bits of its run alone.

Divergence. A run *diverges at step k* when the point after update k is not finite, leaves
the *bounds* (the problem's ``bounds``, by default its view window, widened by ``margin``
times its width on every side if ``margin`` > 0), or f or its gradient is not finite there
(undefined points give nan). From then on the run is frozen: its gradient is replaced by 0
and its point restored after every update, so it can never raise or disturb the others.
Nothing is an error; a diverged run is an outcome.

Outcomes (per run, after the last step), with ``tol`` a distance:

* ``"global"`` — within ``tol`` of a global minimum;
* ``"local"`` — within ``tol`` of a local minimum;
* ``"diverged"`` — diverged at some step;
* ``"moving"`` — none of these (still moving, or stalled away from every known minimum).

``bounced`` — the run came within ``tol`` of a global minimum at some step and later was in
another minimum's basin (its nearest known minimum was no longer a global one) or diverged.

State overflow. A run whose point stays finite can still break: Adam on
``1e200*x**2 + y**2`` squares a gradient of 1e200, v becomes inf and every later step is 0.
After the last step each run's optimizer state (every slot and rule-wide scalar) is checked;
a run with inf or nan there is flagged ``overflowed`` (the race reports it as it reports
divergence).

Randomness (stochastic-gradient behaviour on a surface). Every run may carry a *seed* (a
non-negative integer); two streams are drawn from it, each with its own
``numpy.random.default_rng([seed, stream])``, so a run's randomness depends on its seed only —
never on how many other runs share the batch or where it sits in it:

* the start (:func:`draw_starts`): ``start + spread·u``, u uniform on [-1, 1]^dim (``"box"``)
  or standard normal (``"gaussian"``), clipped into the bounds;
* the gradient noise (:func:`gradient_noise`): the optimizer sees g̃ₖ = ∇f(xₖ) + σ·ξₖ with
  ξₖ ~ N(0, I) independent over steps and coordinates (additive Gaussian noise, as a
  mini-batch gradient's error is modelled). Divergence and outcomes are judged on the true
  f and ∇f.

Runs with the same seed see the same noise (common random numbers), which is what makes two
configurations comparable on one seed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError, NonFiniteError

OUTCOMES = ("global", "local", "moving", "diverged")

#: Default margin: 0, the bounds are the problem's own.
DEFAULT_MARGIN = 0.0

#: The random streams drawn from a run's seed (see the module docstring).
START_STREAM, NOISE_STREAM = 1, 2
#: Shapes of the start distribution.
START_SHAPES = ("box", "gaussian")


def default_tol(problem: Any) -> float:
    """The default distance tolerance: 1 % of the window's largest side."""
    return 0.01 * max(hi - lo for lo, hi in problem.window)


def bounds(problem: Any, margin: float = DEFAULT_MARGIN) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds (each of shape (dim,)) a run must stay inside: the problem's
    ``bounds`` (its view window unless the problem says otherwise, e.g. the quartic's wider
    [-20, 20], which holds Adam's bounces), widened by ``margin``."""
    region = getattr(problem, "bounds", problem.window)
    lo = np.array([w[0] for w in region], dtype=float)
    hi = np.array([w[1] for w in region], dtype=float)
    width = hi - lo
    return lo - margin * width, hi + margin * width


@dataclass
class Batch:
    """The result of :func:`run_batch` for K runs."""

    #: (steps + 1, K, dim) points, row 0 the starts; nan after a run diverged (the point
    #: that diverged is kept). ``None`` when the path was not kept.
    path: np.ndarray | None
    #: (K, dim) the last point of each run (for a diverged run, the point that diverged).
    final: np.ndarray
    #: (K,) the step at which each run diverged, -1 if it did not.
    diverged_at: np.ndarray
    #: (K,) the first step at which each run was within ``tol`` of a known minimum, -1 if never.
    reached_at: np.ndarray
    #: (K,) the first step within ``tol`` of a global minimum, -1 if never.
    reached_global_at: np.ndarray
    #: (K,) reached a global minimum and later left its basin (see the module docstring).
    bounced: np.ndarray
    #: (K,) outcome names, one of :data:`OUTCOMES`.
    outcome: np.ndarray
    #: (K,) index into ``problem.minima`` of the minimum nearest the final point (-1: none).
    nearest: np.ndarray
    #: (K,) distance from the final point to that minimum (nan if unknown).
    distance: np.ndarray
    tol: float
    #: (K,) the optimizer's state for the run holds inf or nan after the last step: it
    #: overflowed (Adam's v = g² past 1.8e308 makes every later step 0: a stall, not a
    #: convergence), though the point itself stayed finite. None: not checked.
    overflowed: np.ndarray | None = None


def _seed_list(seeds: Any) -> np.ndarray:
    arr = np.asarray(seeds)
    if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer) \
            or (arr < 0).any():
        raise InputError(f"seeds must be a non-empty 1-D list of integers >= 0, got {seeds!r}")
    return arr.astype(np.int64)


def draw_starts(problem: Any, start: Any, spread: float, seeds: Any, *, shape: str = "box",
                margin: float = DEFAULT_MARGIN) -> np.ndarray:
    """One start per seed, shape (len(seeds), dim): ``start + spread·u`` clipped into the
    bounds, u uniform on [-1, 1]^dim (``shape="box"``) or N(0, I) (``"gaussian"``), drawn from
    ``default_rng([seed, START_STREAM])``. ``spread = 0`` gives ``start`` for every seed.

    >>> class P: dim, window = 2, ((-10.0, 10.0), (-5.0, 5.0))
    >>> draw_starts(P(), (-7, 2), 0.0, [0, 1]).tolist()
    [[-7.0, 2.0], [-7.0, 2.0]]
    >>> bool((abs(draw_starts(P(), (-7, 2), 0.5, [0, 1]) - [-7, 2]) <= 0.5).all())
    True
    """
    seeds = _seed_list(seeds)
    if shape not in START_SHAPES:
        raise InputError(f"start distribution {shape!r}: expected one of {START_SHAPES}")
    spread = float(spread)
    if not (np.isfinite(spread) and spread >= 0):
        raise InputError(f"start spread must be a finite number >= 0, got {spread}")
    X = np.tile(np.asarray(start, dtype=np.float64), (seeds.size, 1))
    if spread == 0:
        return X
    for i, s in enumerate(seeds):
        rng = np.random.default_rng([int(s), START_STREAM])
        u = rng.uniform(-1.0, 1.0, problem.dim) if shape == "box" \
            else rng.standard_normal(problem.dim)
        X[i] += spread * u
    lo, hi = bounds(problem, margin)
    return np.clip(X, lo, hi)


def gradient_noise(sigma: float, seeds: Any, steps: int, dim: int) -> np.ndarray:
    """σ·ξ for every run and update: shape (steps, len(seeds), dim); row k is added to the
    gradient used by update k + 1. Drawn per distinct seed from
    ``default_rng([seed, NOISE_STREAM]).standard_normal((steps, dim))``.

    >>> a, b = gradient_noise(0.5, [3, 7], 2, 1), gradient_noise(0.5, [3], 2, 1)
    >>> a.shape, bool((a[:, :1] == b).all())
    ((2, 2, 1), True)
    """
    seeds = _seed_list(seeds)
    sigma = float(sigma)
    if not (np.isfinite(sigma) and sigma >= 0):
        raise InputError(f"gradient noise sigma must be a finite number >= 0, got {sigma}")
    unique, inverse = np.unique(seeds, return_inverse=True)
    draws = np.stack([np.random.default_rng([int(s), NOISE_STREAM]).standard_normal((steps, dim))
                      for s in unique], axis=1)  # (steps, n_unique, dim)
    return sigma * draws[:, inverse, :]


def _nearest(problem: Any, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not problem.minima:
        n = X.shape[0]
        return np.full(n, -1), np.full(n, np.inf)
    with np.errstate(invalid="ignore", over="ignore"):
        idx, dist = problem.nearest_minimum(X)
    idx = np.asarray(idx).astype(int)
    dist = np.where(np.isfinite(dist), np.asarray(dist, dtype=float), np.inf)
    return idx, dist


def value_and_grad(problem: Any, X: np.ndarray) -> tuple[float, np.ndarray]:
    """A closure's answer at the current point X (one point, or runs in rows): (f summed over
    the runs, the gradient) — what L-BFGS's ``closure`` returns in the lab."""
    with np.errstate(all="ignore"):
        return (float(np.sum(problem.f(X))),
                np.asarray(problem.grad(X), dtype=np.float64))


def closure_arguments(problem: Any, opt: Any, X: np.ndarray) -> dict[str, Any]:
    """What the lab gives an optimizer that needs a closure, for the point ``X`` (updated in
    place): ``closure`` (:func:`value_and_grad` there) and, to a rule that asks for
    Hessian-vector products (Sophia) on a problem with an exact Hessian (every catalogue
    surface and user expression: ``problem.has_hessian``), ``hvp`` — the exact H·v
    (``problem.hvp``), row by row for runs in rows. Without it the rule takes its own central
    difference of the gradient."""
    kwargs: dict[str, Any] = {"closure": lambda: value_and_grad(problem, X)}
    if "hvp" in getattr(opt, "needs", ()) and getattr(problem, "has_hessian", False):
        kwargs["hvp"] = lambda V: np.asarray(problem.hvp(X, V), dtype=np.float64)
    return kwargs


def _state_overflowed(opt: Any, K: int) -> np.ndarray:
    """(K,) bool: which of the K rows an optimizer updates has inf or nan in its state (a
    slot array with K rows counts per row; any other slot or rule-wide scalar, for all)."""
    out = np.zeros(K, dtype=bool)
    arrays = [np.asarray(v) for slots in opt.state.values() for v in slots.values()]
    arrays += [np.asarray(v) for v in getattr(opt, "globals", {}).values()
               if isinstance(v, int | float | np.ndarray | np.generic)]
    for a in arrays:
        if a.dtype.kind not in "fc":
            continue
        with np.errstate(all="ignore"):
            if a.ndim >= 1 and a.shape[0] == K and K > 1:
                out |= ~np.isfinite(a.reshape(K, -1)).all(axis=1)
            elif not np.isfinite(a).all():
                out[:] = True
    return out


def batching(optimizer: Any) -> str:
    """How a batch advances its runs with ``optimizer``: ``"rows"`` (an element-wise rule: all
    runs as the rows of one array, one call), ``"stack"`` (a rule that ``stacks_runs``: one
    call on the runs stacked as matrices; a batch of one runs as rows) or ``"copies"`` (one
    optimizer copy per run, a Python loop).

    >>> from descentlab import optim
    >>> [batching(optim.create(n)) for n in ("adam", "muon", "lamb")]
    ['rows', 'stack', 'copies']
    >>> batching(optim.create("muon", form="optax"))   # sends non-matrices to AdamW
    'copies'
    """
    if getattr(type(optimizer), "elementwise", False):
        return "rows"
    return "stack" if getattr(optimizer, "stacks_runs", False) else "copies"


def _one_update(optimizer: Any, K: int,
                problem: Any) -> tuple[Callable[[np.ndarray, np.ndarray], None],
                                      Callable[[], np.ndarray]]:
    """How one update advances all K runs (rows of X).

    An element-wise rule (``elementwise = True``: SGD, Adam, ...) updates the (K, dim) array in
    one call — each run only ever sees its own row. Any other rule (LAMB's trust ratio over the
    whole array, Muon's orthogonalisation, full-matrix AdaGrad, L-BFGS) would mix the runs
    through the norms or matrices it takes. A class that ``stacks_runs`` (Muon, Scion, MARS:
    batched matrix products) takes the runs as a stack of K (1, dim) matrices instead, in one
    call, each run bit for bit as alone; every other one gives each run its own copy of the
    optimizer, with its own row of every (K, ...) array hyperparameter: slower (a Python loop
    over runs), never coupled. An optimizer that needs the loss (``needs_closure``: L-BFGS, and
    the rules of :mod:`descentlab.optim.closure` — Polyak, MoMo, SAM, Sophia) is given a
    closure computing f and its gradient at its run's current point instead of G (Sophia's
    Hessian-vector products: the problem's exact ones, :func:`closure_arguments`).
    Returns the update and a function telling which runs' state has overflowed."""
    if getattr(optimizer, "needs_closure", False):
        def step(opt: Any, X: np.ndarray, G: np.ndarray) -> None:
            if not np.isfinite(X).all():  # a run that has diverged (frozen): nothing to do
                return
            try:
                with np.errstate(all="ignore"):
                    opt.update(X, **closure_arguments(problem, opt, X))
            except NonFiniteError:  # (nonfinite="raise"): the run met inf/nan, it diverged
                X[...] = np.nan
    else:
        def step(opt: Any, X: np.ndarray, G: np.ndarray) -> None:
            opt.update(X, G)
    rows = {name: value for name, value in optimizer.hyperparameters().items()
            if isinstance(value, np.ndarray) and value.ndim == 2 and value.shape[0] == K}
    how = batching(optimizer)
    stacks = how == "stack"  # Muon: its PyTorch form only
    if how == "rows" or (K == 1 and (stacks or not rows)):
        return (lambda X, G: step(optimizer, X, G)), lambda: _state_overflowed(optimizer, K)
    if stacks:  # (K, 1, dim): K matrices, one call
        stacked = copy.deepcopy(optimizer)
        stacked.leading_runs = True
        for name, value in rows.items():
            setattr(stacked, name, value.reshape(K, 1, value.shape[1]))

        def update_stacked(X: np.ndarray, G: np.ndarray) -> None:
            step(stacked, X.reshape(K, 1, -1), G.reshape(K, 1, -1))

        return update_stacked, lambda: _state_overflowed(stacked, K)
    clones = []  # (also one run whose hyperparameters are (1, ...) arrays: numbers here)
    for i in range(K):
        clone = copy.deepcopy(optimizer)
        for name, value in rows.items():
            row = value[i:i + 1]
            setattr(clone, name, float(row[0, 0]) if row.shape[1] == 1 else row)
        clones.append(clone)

    def update(X: np.ndarray, G: np.ndarray) -> None:
        for i, clone in enumerate(clones):
            step(clone, X[i:i + 1], G[i:i + 1])

    def overflowed() -> np.ndarray:
        return np.array([bool(_state_overflowed(c, 1)[0]) for c in clones])

    return update, overflowed


def run_batch(
    problem: Any,
    optimizer: Any,
    starts: np.ndarray,
    steps: int,
    *,
    tol: float | None = None,
    margin: float = DEFAULT_MARGIN,
    keep_path: bool = True,
    progress: Callable[[int], None] | None = None,
    noise: float = 0.0,
    seeds: Any = None,
) -> Batch:
    """Run ``optimizer`` from every row of ``starts`` (shape (K, dim)) for ``steps`` updates.

    The optimizer must be fresh (no updates yet); its array hyperparameters, if any, must
    broadcast against (K, dim). ``progress(k)`` is called after every update. ``noise`` σ > 0
    adds seeded Gaussian noise to every gradient the optimizer sees, drawn from ``seeds``
    (K integers, one per run; see the module docstring).

    >>> from descentlab import optim
    >>> class Line:  # f(x) = x²/2 on [-1, 1], minimum at 0
    ...     dim, window, minima = 1, ((-1.0, 1.0),), []
    ...     def f(self, X): return X[:, 0] ** 2 / 2
    ...     def grad(self, X): return X
    >>> b = run_batch(Line(), optim.SGD(lr=np.array([[0.5], [4.5]])), np.ones((2, 1)), 3)
    >>> b.path[:, :, 0].tolist()
    [[1.0, 1.0], [0.5, -3.5], [0.25, nan], [0.125, nan]]
    >>> b.diverged_at.tolist(), b.outcome.tolist()
    ([-1, 1], ['moving', 'diverged'])
    """
    X = np.array(starts, dtype=np.float64, copy=True)
    if X.ndim != 2 or X.shape[1] != problem.dim:
        raise InputError(f"starts must have shape (K, {problem.dim}), got {X.shape}")
    if steps < 0:
        raise InputError(f"steps must be >= 0, got {steps}")
    K = X.shape[0]
    xi = None
    if noise:
        if getattr(optimizer, "needs_closure", False):
            raise InputError(f"gradient noise (σ = {noise}) is for rules that take a gradient: "
                             f"{type(optimizer).__name__} evaluates its closure (f and ∇f "
                             "where it asks) instead; run it with noise 0")
        if seeds is None or np.size(seeds) != K:
            raise InputError(f"gradient noise needs one seed per run ({K}), got "
                             f"{None if seeds is None else np.size(seeds)}")
        xi = gradient_noise(noise, seeds, steps, problem.dim)
    tol = default_tol(problem) if tol is None else float(tol)
    lo, hi = bounds(problem, margin)
    is_global = np.array([m.kind == "global" for m in problem.minima] + [False])  # [-1]: none

    path = np.full((steps + 1, K, problem.dim), np.nan) if keep_path else None
    diverged_at = np.full(K, -1)
    reached_at = np.full(K, -1)
    reached_global_at = np.full(K, -1)
    bounced = np.zeros(K, dtype=bool)
    alive = np.ones(K, dtype=bool)

    def observe(k: int, G: np.ndarray) -> None:
        """Book-keeping for the points X after k updates, whose gradient is G."""
        with np.errstate(all="ignore"):
            F = np.asarray(problem.f(X), dtype=np.float64)
            bad = alive & ~(np.isfinite(X).all(axis=1) & np.isfinite(G).all(axis=1)
                            & np.isfinite(F)
                            & (X >= lo).all(axis=1) & (X <= hi).all(axis=1))
        if path is not None:
            path[k, alive] = X[alive]
        diverged_at[bad] = k
        bounced[bad & (reached_global_at >= 0)] = True
        alive[bad] = False
        idx, dist = _nearest(problem, X)
        near = alive & (dist <= tol)
        reached_at[near & (reached_at < 0)] = k
        at_global = near & is_global[idx]
        bounced[alive & (reached_global_at >= 0) & ~is_global[idx]] = True
        reached_global_at[at_global & (reached_global_at < 0)] = k

    with np.errstate(all="ignore"):
        G = np.asarray(problem.grad(X), dtype=np.float64)
    observe(0, G)
    update, overflowed = _one_update(optimizer, K, problem)
    for k in range(1, steps + 1):
        frozen = ~alive
        if xi is not None:
            G = G + xi[k - 1]
        if frozen.any():
            G[frozen] = 0.0
            before = X[frozen]
        update(X, G)
        if frozen.any():
            X[frozen] = before
        with np.errstate(all="ignore"):
            G = np.asarray(problem.grad(X), dtype=np.float64)
        observe(k, G)
        if progress is not None:
            progress(k)

    nearest, distance = _nearest(problem, X)
    outcome = np.full(K, "moving", dtype=object)
    close = distance <= tol
    outcome[close & is_global[nearest]] = "global"
    outcome[close & ~is_global[nearest]] = "local"
    outcome[diverged_at >= 0] = "diverged"
    distance = np.where(np.isfinite(distance), distance, np.nan)
    return Batch(path=path, final=X, diverged_at=diverged_at, reached_at=reached_at,
                 reached_global_at=reached_global_at, bounced=bounced,
                 outcome=outcome.astype(str), nearest=nearest, distance=distance, tol=tol,
                 overflowed=overflowed() & (diverged_at < 0))
