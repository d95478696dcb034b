"""The :class:`Problem` every surface shares: f, its gradient, minima, start and window.

A problem is a function ``f: R^dim → R`` (dim 1 or 2) with an analytic gradient and Hessian,
evaluated **vectorised over leading axes**: ``X`` of shape ``(..., dim)`` gives ``f(X)`` of
shape ``(...)``, ``grad(X)`` of shape ``(..., dim)`` and ``hessian(X)`` of shape
``(..., dim, dim)`` (``hvp(X, V)``: the Hessian times ``V``, shape ``(..., dim)``). One call
therefore serves one point (``X.shape == (dim,)``), a path, or a whole sweep of K runs
(``X.shape == (K, dim)``).
1-D problems keep the trailing axis of size 1: ``f(np.array([[-8.0], [3.0]]))``.

Points where f is undefined (log of a negative number, division by zero, overflow) give
nan or inf — never an exception and never a warning — so a lab can report "diverged at
step k" instead of crashing.

>>> import numpy as np
>>> from descentlab import problems
>>> bowl = problems.get("bowl")
>>> bowl.f(np.array([[-7.0, 2.0], [0.0, 0.0]]))
array([6.45, 0.  ])
>>> bowl.grad(np.array([-7.0, 2.0]))
array([-0.7,  4. ])
>>> bowl.hessian(np.array([-7.0, 2.0]))
array([[0.1, 0. ],
       [0. , 2. ]])
>>> index, distance = bowl.nearest_minimum(np.array([3.0, 4.0]))
>>> int(index), float(distance)
(0, 5.0)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import InputError

ArrayFunction = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Minimum:
    """A known minimum: its ``point`` (one coordinate per dimension), ``value`` f(point),
    and ``kind`` — ``"global"`` (lowest value of the surface) or ``"local"``."""

    point: tuple[float, ...]
    value: float
    kind: Literal["global", "local"]

    def __post_init__(self) -> None:
        if self.kind not in ("global", "local"):
            raise InputError(f"Minimum kind must be 'global' or 'local', got {self.kind!r}")


def _as_points(X: object, dim: int, what: str = "X") -> np.ndarray:
    """``X`` as a float array whose last axis has length ``dim`` (float64 unless X is
    already floating point)."""
    arr = np.asarray(X)
    if arr.dtype.kind != "f":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as e:
            raise InputError(f"{what} must hold numbers, got dtype {arr.dtype}") from e
    if arr.ndim == 0 or arr.shape[-1] != dim:
        raise InputError(
            f"{what} must have shape (..., {dim}) for a {dim}-D problem, got shape {arr.shape}"
            + (" (1-D problems keep a trailing axis of size 1)" if dim == 1 else "")
        )
    return arr


def _fresh(result: object, shape: tuple[int, ...], X: np.ndarray) -> np.ndarray:
    """``result`` as a new writeable array of ``shape`` and X's dtype — copied only when it
    is not one already (a broadcast scalar, another dtype, or memory shared with X)."""
    arr = np.asarray(result)
    if (arr.shape != shape or arr.dtype != X.dtype or not arr.flags.writeable
            or np.may_share_memory(arr, X)):
        arr = np.broadcast_to(arr, shape).astype(X.dtype, copy=True)
    return arr


def _inside(X: np.ndarray, box: tuple[tuple[float, float], ...]) -> np.ndarray:
    low = np.array([lo for lo, _ in box])
    high = np.array([hi for _, hi in box])
    return np.all((X >= low) & (X <= high), axis=-1)


def _check_start(start: Sequence[float], dim: int, name: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in start)
    except (TypeError, ValueError) as e:
        raise InputError(f"{name}: start must be {dim} number(s), got {start!r}") from e
    if len(values) != dim or not all(np.isfinite(values)):
        raise InputError(f"{name}: start must be {dim} finite number(s), got {start!r}")
    return values


def check_window(
    window: Sequence[Sequence[float]], dim: int, name: str
) -> tuple[tuple[float, float], ...]:
    """``window`` as ``dim`` (low, high) float pairs with low < high, or a ValueError naming
    the problem ``name``."""
    try:
        pairs = tuple((float(lo), float(hi)) for lo, hi in window)
    except (TypeError, ValueError) as e:
        raise InputError(
            f"{name}: window must be {dim} (low, high) pair(s), got {window!r}"
        ) from e
    if len(pairs) != dim or not all(
        np.isfinite(lo) and np.isfinite(hi) and lo < hi for lo, hi in pairs
    ):
        raise InputError(
            f"{name}: window must be {dim} finite (low, high) pair(s) with low < high, "
            f"got {window!r}"
        )
    return pairs


class Problem:
    """A 1-D or 2-D surface with an analytic gradient (and Hessian, when given).

    Attributes:
        name: catalogue name (lower case), e.g. ``"bowl"``.
        dim: number of coordinates, 1 or 2.
        formula: f in Python/NumPy syntax with variables ``x`` (and ``y``), e.g.
            ``"x**2/20 + y**2"``; :func:`descentlab.problems.from_expression` accepts it.
        description: one or two sentences: what the surface shows, its source.
        minima: known minima (:class:`Minimum`), global ones first; empty when f has none
            (e.g. the saddle ``x*y``) — the description then says so.
        start: suggested start point, ``dim`` floats.
        window: per-dimension view range ``((x_lo, x_hi), (y_lo, y_hi))`` for pictures.
        bounds: the region a run must stay in — leaving it counts as diverged. Equal to
            :attr:`window` except where bounded-step optimizers legitimately swing wider than
            the view (the quartic: Adam with β2 = 0.5 and lr ≥ 5.6 bounces through
            [-14.3, 15.7], its view is [-10, 12], its bounds [-20, 20]).
        gradient_expression: the gradient as text, e.g. ``"(x/10, 2*y)"``.
        has_hessian: whether ``hessian``/``hvp`` are exact (the ``hessian=`` function was
            given: every catalogue surface and every :func:`from_expression` problem).

    ``f``, ``grad`` and ``hessian`` take ``X`` of shape ``(..., dim)``; see the module
    docstring.
    """

    def __init__(
        self,
        name: str,
        dim: int,
        formula: str,
        f: ArrayFunction,
        grad: ArrayFunction,
        *,
        minima: Sequence[Minimum] = (),
        start: Sequence[float],
        window: Sequence[Sequence[float]],
        bounds: Sequence[Sequence[float]] | None = None,
        description: str = "",
        gradient_expression: str = "",
        hessian: ArrayFunction | None = None,
    ) -> None:
        if dim not in (1, 2):
            raise InputError(f"{name}: dim must be 1 or 2, got {dim!r}")
        self.name = name
        self.dim = dim
        self.formula = formula
        self.description = description
        self.gradient_expression = gradient_expression
        self.start = _check_start(start, dim, name)
        self.window = check_window(window, dim, name)
        self.bounds = self.window if bounds is None else check_window(bounds, dim, name)
        if any(blo > wlo or bhi < whi for (blo, bhi), (wlo, whi) in zip(self.bounds,
                                                                        self.window)):
            raise InputError(f"{name}: bounds {self.bounds} must contain the window "
                             f"{self.window}")
        self.minima = list(minima)
        for m in self.minima:
            if len(m.point) != dim:
                raise InputError(f"{name}: minimum {m.point} does not have {dim} coordinate(s)")
        self._f = f
        self._grad = grad
        self._hessian = hessian
        self.has_hessian = hessian is not None
        self._minimum_points = np.array([m.point for m in self.minima], dtype=np.float64)

    # -- evaluation -------------------------------------------------------------------------
    def f(self, X: np.ndarray) -> np.ndarray:
        """f at every point of ``X`` (shape ``(..., dim)``) → shape ``(...)``; nan/inf where
        f is undefined or overflows (no warning)."""
        X = _as_points(X, self.dim)
        with np.errstate(all="ignore"):
            return _fresh(self._f(X), X.shape[:-1], X)

    def grad(self, X: np.ndarray) -> np.ndarray:
        """∇f at every point of ``X`` (shape ``(..., dim)``) → shape ``(..., dim)``;
        nan/inf where undefined."""
        X = _as_points(X, self.dim)
        with np.errstate(all="ignore"):
            return _fresh(self._grad(X), X.shape, X)

    def hessian(self, X: np.ndarray) -> np.ndarray:
        """The Hessian ∇²f at every point of ``X`` (shape ``(..., dim)``) → shape
        ``(..., dim, dim)``; nan/inf where undefined. An InputError for a problem built
        without one (:attr:`has_hessian`)."""
        if self._hessian is None:
            raise InputError(f"{self.name}: this problem has no Hessian (it was built "
                             "without hessian=)")
        X = _as_points(X, self.dim)
        with np.errstate(all="ignore"):
            return _fresh(self._hessian(X), X.shape + (self.dim,), X)

    def hvp(self, X: np.ndarray, V: np.ndarray) -> np.ndarray:
        """The Hessian at every point of ``X`` times the vector ``V`` beside it (both of shape
        ``(..., dim)``) → shape ``(..., dim)``: exact Hessian-vector products (Sophia's)."""
        H = self.hessian(X)
        V = _as_points(V, self.dim, "V")
        with np.errstate(all="ignore"):
            return np.einsum("...ij,...j->...i", H, V)

    # -- geometry ---------------------------------------------------------------------------
    def nearest_minimum(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For every point of ``X`` (shape ``(..., dim)``): the index into :attr:`minima`
        of the nearest listed minimum (Euclidean distance) and that distance, both of shape
        ``(...)``. Index −1 and distance inf when the problem lists no minima; index −1 and
        distance nan at non-finite points."""
        X = _as_points(X, self.dim)
        shape = X.shape[:-1]
        if not self.minima:
            return np.full(shape, -1, dtype=np.intp), np.full(shape, np.inf)
        with np.errstate(all="ignore"):
            diff = X[..., None, :].astype(np.float64) - self._minimum_points
            distances = np.sqrt(np.einsum("...ij,...ij->...i", diff, diff))
        finite = np.isfinite(X).all(axis=-1)
        safe = np.where(finite[..., None], distances, 0.0)
        index = np.where(finite, np.argmin(safe, axis=-1), -1).astype(np.intp)
        distance = np.where(finite, np.min(safe, axis=-1), np.nan)
        return index, distance

    def in_window(self, X: np.ndarray) -> np.ndarray:
        """True where every coordinate of ``X`` (shape ``(..., dim)``) is finite and inside
        :attr:`window` (edges included) → bool array of shape ``(...)``."""
        return _inside(_as_points(X, self.dim), self.window)

    def in_bounds(self, X: np.ndarray) -> np.ndarray:
        """True where every coordinate of ``X`` is finite and inside :attr:`bounds` (edges
        included): False means the run diverged."""
        return _inside(_as_points(X, self.dim), self.bounds)

    @property
    def global_minima(self) -> list[Minimum]:
        """The minima of kind ``"global"``."""
        return [m for m in self.minima if m.kind == "global"]

    def __repr__(self) -> str:
        return f"Problem({self.name!r}, dim={self.dim}, f={self.formula!r})"
