"""Locating minima numerically: Newton's method on ∇f = 0, vectorised over many guesses.

Used twice: to polish the catalogue's minima that have no closed form (from a nearby guess),
and to search a user formula's window for its minima (from a grid of guesses).

The Hessian is taken by central differences of the analytic gradient, and Newton's step is
solved in closed form for 1×1 and 2×2 systems, so a singular or undefined Hessian simply
turns that guess into nan (dropped) instead of raising.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .base import Minimum

ArrayFunction = Callable[[np.ndarray], np.ndarray]


def hessian(grad: ArrayFunction, P: np.ndarray) -> np.ndarray:
    """Symmetrised central-difference Hessian of f from its gradient, shape (n, dim, dim)."""
    h = 1e-5 * (1 + np.abs(P))
    columns = []
    for i in range(P.shape[-1]):
        e = np.zeros_like(P)
        e[:, i] = h[:, i]
        columns.append((grad(P + e) - grad(P - e)) / (2 * h[:, i : i + 1]))
    H = np.stack(columns, axis=-1)
    return (H + np.swapaxes(H, -1, -2)) / 2


def _newton_step(H: np.ndarray, g: np.ndarray) -> np.ndarray:
    if g.shape[-1] == 1:
        return g / H[:, :, 0]
    a, b, d = H[:, 0, 0], H[:, 0, 1], H[:, 1, 1]
    det = a * d - b * b
    return np.stack([(d * g[:, 0] - b * g[:, 1]) / det, (a * g[:, 1] - b * g[:, 0]) / det], -1)


def _positive_definite(H: np.ndarray) -> np.ndarray:
    if H.shape[-1] == 1:
        return H[:, 0, 0] > 0
    return (H[:, 0, 0] > 0) & (H[:, 0, 0] * H[:, 1, 1] - H[:, 0, 1] ** 2 > 0)


def newton_minima(
    grad: ArrayFunction,
    guesses: Sequence[Sequence[float]] | np.ndarray,
    *,
    iterations: int = 60,
    tol: float = 1e-9,
) -> np.ndarray:
    """Newton's method on ∇f = 0 from each guess (rows of shape (dim,)). Returns the points
    it converged to that are non-degenerate minima — finite, |∇f| ≤ tol·(1 + |point|) and a
    positive-definite Hessian — in the order of their guesses (not deduplicated)."""
    P = np.array(guesses, dtype=np.float64)
    with np.errstate(all="ignore"):
        for _ in range(iterations):
            step = _newton_step(hessian(grad, P), grad(P))
            P = P - step
            moving = np.abs(step) > 1e-14 * (1 + np.abs(P))
            if not np.any(moving & np.isfinite(step)):
                break
        g = grad(P)
        ok = np.isfinite(P).all(axis=-1) & np.isfinite(g).all(axis=-1)
        ok &= np.max(np.abs(g), axis=-1) <= tol * (1 + np.max(np.abs(P), axis=-1))
        ok &= _positive_definite(hessian(grad, P))
    return P[ok]


def search_minima(
    f: ArrayFunction,
    grad: ArrayFunction,
    window: Sequence[tuple[float, float]],
    *,
    guesses_per_axis: int | None = None,
    samples_per_axis: int | None = None,
) -> list[Minimum]:
    """The non-degenerate minima Newton finds from a grid of guesses over ``window`` (41
    guesses in 1-D, 15 × 15 in 2-D), deduplicated, inside the window. A minimum is
    ``"global"`` when its value is the lowest found and no point of a dense sample of the
    window (401 or 101 × 101 points) lies lower — i.e. global *within the window*; the others
    are ``"local"``. Global minima first, then by value."""
    dim = len(window)
    n_guess = guesses_per_axis or (41 if dim == 1 else 15)
    n_sample = samples_per_axis or (401 if dim == 1 else 101)

    def grid(n: int, inset: float) -> np.ndarray:
        axes = [np.linspace(lo + inset * (hi - lo), hi - inset * (hi - lo), n)
                for lo, hi in window]
        return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, dim)

    points = newton_minima(grad, grid(n_guess, 0.5 / n_guess))
    low = np.array([lo for lo, _ in window])
    high = np.array([hi for _, hi in window])
    points = points[np.all((points >= low) & (points <= high), axis=-1)]
    with np.errstate(all="ignore"):
        values = f(points)
        sampled = f(grid(n_sample, 0.0))
    keep = np.isfinite(values)
    points, values = points[keep], values[keep]
    if not len(points):
        return []
    order = np.lexsort((*points.T[::-1], values))
    points, values = points[order], values[order]
    same = 1e-6 * float(np.max(high - low))
    unique: list[int] = []
    for i in range(len(points)):
        if not unique or np.all(np.max(np.abs(points[i] - points[unique]), axis=-1) > same):
            unique.append(i)
    points, values = points[unique], values[unique]
    lowest = values[0]
    tolerance = 1e-9 * (1 + abs(lowest))
    finite_samples = sampled[np.isfinite(sampled)]
    has_global = not len(finite_samples) or lowest <= finite_samples.min() + tolerance
    return [
        Minimum(tuple(float(c) for c in p), float(v),
                "global" if has_global and v <= lowest + tolerance else "local")
        for p, v in zip(points, values)
    ]
