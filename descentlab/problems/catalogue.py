"""The catalogue of surfaces: each with f, a hand-written analytic gradient and Hessian, its
minima, a suggested start and a view window. Every ``gradient_expression`` is itself a formula (a
tuple of one per coordinate in 2-D) that ``from_expression`` reads; the tests evaluate each
against ``grad`` and against central differences of ``f``.

Formulas are written in the syntax :func:`descentlab.problems.from_expression` accepts, so
``from_expression(p.formula)`` rebuilds every problem from its text (the tests use this to
check the hand-written gradients and Hessians against the symbolic ones; the Hessians also
against central differences of the gradients).

Minima given in closed form or by the literature are written out; the others (the quartic's,
Himmelblau's three irrational ones, the local minima of Rastrigin and Ackley, the tilted
double well's) are computed once, on first use, by Newton's method from a nearby guess
(:func:`~descentlab.problems.minima.newton_minima`) and kept only if the gradient vanishes
and the Hessian is positive definite there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from .base import Minimum, Problem
from .minima import newton_minima

# -- helpers -------------------------------------------------------------------------------


def _xy(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return X[..., 0], X[..., 1]


def _stack(*components: np.ndarray) -> np.ndarray:
    return np.stack(np.broadcast_arrays(*components), axis=-1)


def _sym(xx: np.ndarray | float, xy: np.ndarray | float,
         yy: np.ndarray | float) -> np.ndarray:
    """The symmetric 2 × 2 matrices [[xx, xy], [xy, yy]] over the leading axes."""
    xx, xy, yy = np.broadcast_arrays(xx, xy, yy)
    return np.stack([np.stack([xx, xy], axis=-1), np.stack([xy, yy], axis=-1)], axis=-2)


def _constant(matrix: list[list[float]]) -> Callable[[np.ndarray], np.ndarray]:
    """The Hessian of a quadratic: ``matrix`` at every point."""
    H = np.array(matrix, dtype=np.float64)
    return lambda X: np.broadcast_to(H, X.shape + (2,))


def _minima_from_points(
    f: Callable[[np.ndarray], np.ndarray],
    points: np.ndarray,
    exact_global: Sequence[tuple[tuple[float, ...], float]] = (),
) -> list[Minimum]:
    """Minima from exact global minima (point, value from the literature) and computed
    points (value f(point)); a computed point is global when its value equals the lowest
    value to 1e-12. Global minima come first."""
    minima = [Minimum(tuple(map(float, p)), float(v), "global") for p, v in exact_global]
    values = f(points) if len(points) else np.empty(0)
    lowest = min([v for _, v in exact_global] + list(values), default=np.inf)
    for p, v in sorted(zip(points, values), key=lambda pv: (pv[1], tuple(pv[0]))):
        kind = "global" if v <= lowest + 1e-12 else "local"
        minima.append(Minimum(tuple(float(c) for c in p), float(v), kind))
    minima.sort(key=lambda m: m.kind != "global")  # stable: global first
    return minima


def _lattice(radius: int, skip_origin: bool) -> list[tuple[float, float]]:
    return [
        (float(i), float(j))
        for i in range(-radius, radius + 1)
        for j in range(-radius, radius + 1)
        if not (skip_origin and i == 0 and j == 0)
    ]


# -- 1-D -------------------------------------------------------------------------------------


def quartic() -> Problem:
    def f(X):
        x = X[..., 0]
        return (x - 9) * x * (x + 1) * (x + 6) / 200 + 4

    def grad(X):
        x = X[..., 0]
        return ((2 * x**3 - 3 * x**2 - 57 * x - 27) / 100)[..., None]

    def hessian(X):
        x = X[..., 0]
        return ((6 * x**2 - 6 * x - 57) / 100)[..., None, None]

    # f'(x) = (2x³ − 3x² − 57x − 27)/100: its three real roots are the two minima and the
    # local maximum near −0.490; Newton polishes numpy's roots and drops the maximum.
    roots = np.sort(np.roots([2.0, -3.0, -57.0, -27.0]).real)
    points = newton_minima(grad, roots[:, None])
    return Problem(
        "quartic", 1, "(x - 9)*x*(x + 1)*(x + 6)/200 + 4", f, grad,
        minima=_minima_from_points(f, points),
        start=(-8.0,), window=((-10.0, 12.0),), bounds=((-20.0, 20.0),),
        gradient_expression="(2*x**3 - 3*x**2 - 57*x - 27)/100", hessian=hessian,
        description="E1: a 1-D non-convex quartic with a global minimum near x = 6.335, a "
        "local minimum near x = -4.345 and a local maximum near x = -0.490 between them. "
        "From x = -8, does Adam reach the global minimum, or overshoot and bounce out of it?",
    )


# -- 2-D quadratics and saddles ----------------------------------------------------------------


def bowl() -> Problem:
    def f(X):
        x, y = _xy(X)
        return x**2 / 20 + y**2

    def grad(X):
        x, y = _xy(X)
        return _stack(x / 10, 2 * y)

    return Problem(
        "bowl", 2, "x**2/20 + y**2", f, grad,
        minima=[Minimum((0.0, 0.0), 0.0, "global")],
        start=(-7.0, 2.0), window=((-10.0, 10.0), (-5.0, 5.0)),
        gradient_expression="(x/10, 2*y)", hessian=_constant([[0.1, 0.0], [0.0, 2.0]]),
        description="E3: the ill-conditioned bowl (curvatures 1/10 and 2, condition number "
        "20). SGD zig-zags across the steep y direction while crawling along x.",
    )


def rotated_bowl() -> Problem:
    def f(X):
        x, y = _xy(X)
        return (x + y) ** 2 / 40 + (y - x) ** 2 / 2

    def grad(X):
        x, y = _xy(X)
        return _stack((x + y) / 20 - (y - x), (x + y) / 20 + (y - x))

    return Problem(
        "rotated_bowl", 2, "(x + y)**2/40 + (y - x)**2/2", f, grad,
        minima=[Minimum((0.0, 0.0), 0.0, "global")],
        start=(-6.4, -3.5), window=((-10.0, 10.0), (-10.0, 10.0)),
        gradient_expression="((x + y)/20 - (y - x), (x + y)/20 + (y - x))",
        hessian=_constant([[21 / 20, -19 / 20], [-19 / 20, 21 / 20]]),
        description="E3's bowl turned by 45°: f = u²/20 + v² in u = (x + y)/√2, "
        "v = (y − x)/√2, so its valley runs along the diagonal y = x (curvatures 1/10 and 2 "
        "along the diagonals, condition number 20). Minimum f(0, 0) = 0. The start "
        "(−6.4, −3.5) is the bowl's (−7, 2) turned, to 0.1. Per-coordinate rules (AdaGrad, "
        "RMSprop, Adam) lose here what they gain on the axis-aligned bowl; full-matrix AdaGrad "
        "does not (its path is the bowl's, turned).",
    )


def xy() -> Problem:
    def f(X):
        x, y = _xy(X)
        return x * y

    def grad(X):
        x, y = _xy(X)
        return _stack(y, x)

    return Problem(
        "xy", 2, "x*y", f, grad,
        minima=[], start=(1.0, 2.0), window=((-4.0, 4.0), (-4.0, 4.0)),
        gradient_expression="(y, x)", hessian=_constant([[0.0, 1.0], [1.0, 0.0]]),
        description="E4: f = x*y, Adam by hand from (1, 2). It has NO minimum: a saddle at "
        "the origin, unbounded below along y = -x.",
    )


def x2_plus_xy() -> Problem:
    def f(X):
        x, y = _xy(X)
        return x**2 + x * y

    def grad(X):
        x, y = _xy(X)
        return _stack(2 * x + y, x)

    return Problem(
        "x2_plus_xy", 2, "x**2 + x*y", f, grad,
        minima=[], start=(1.0, 2.0), window=((-4.0, 4.0), (-4.0, 4.0)),
        gradient_expression="(2*x + y, x)", hessian=_constant([[2.0, 1.0], [1.0, 0.0]]),
        description="E4: f = x**2 + x*y. Its Hessian [[2, 1], [1, 0]] has determinant -1, so "
        "the origin is a saddle and f has NO minimum (unbounded below).",
    )


def saddle() -> Problem:
    def f(X):
        x, y = _xy(X)
        return x**2 - y**2

    def grad(X):
        x, y = _xy(X)
        return _stack(2 * x, -2 * y)

    return Problem(
        "saddle", 2, "x**2 - y**2", f, grad,
        minima=[], start=(-4.0, 0.01), window=((-5.0, 5.0), (-5.0, 5.0)),
        gradient_expression="(2*x, -2*y)", hessian=_constant([[2.0, 0.0], [0.0, -2.0]]),
        description="E9: the saddle x**2 - y**2 (NO minimum). Starting almost on the x axis, "
        "plain gradient descent slides to the saddle point and stalls there while y grows "
        "only geometrically from 0.01; RMSprop and Adam rescale the tiny y gradient and leave "
        "sooner.",
    )


# -- E9: plateau and valley --------------------------------------------------------------------


def plateau() -> Problem:
    def f(X):
        x, y = _xy(X)
        return 1 - np.exp(-(x**2 + y**2) / 4)

    def grad(X):
        x, y = _xy(X)
        e = np.exp(-(x**2 + y**2) / 4)
        return _stack(x / 2 * e, y / 2 * e)

    def hessian(X):
        x, y = _xy(X)
        e = np.exp(-(x**2 + y**2) / 4)
        return _sym(e * (0.5 - x**2 / 4), -e * x * y / 4, e * (0.5 - y**2 / 4))

    return Problem(
        "plateau", 2, "1 - exp(-(x**2 + y**2)/4)", f, grad,
        minima=[Minimum((0.0, 0.0), 0.0, "global")],
        start=(4.0, 3.0), window=((-6.0, 6.0), (-6.0, 6.0)),
        gradient_expression="(x/2*exp(-(x**2 + y**2)/4), y/2*exp(-(x**2 + y**2)/4))",
        hessian=hessian,
        description="E9: a Gaussian well in a flat plain. At the start (radius 5, f = 0.998) "
        "the gradient is only 0.0048, so plain gradient descent crawls across the plateau; "
        "Adam and RMSprop normalise the gradient and move about lr per step from the start.",
    )


def valley() -> Problem:
    def f(X):
        x, y = _xy(X)
        return np.tanh(x / 2) ** 2 + 5 * y**2

    def grad(X):
        x, y = _xy(X)
        t = np.tanh(x / 2)
        return _stack(t * (1 - t**2), 10 * y)

    def hessian(X):
        x, _ = _xy(X)
        t = np.tanh(x / 2)  # d/dx (t − t³) = (1 − 3t²)·(1 − t²)/2
        return _sym((1 - 3 * t**2) * (1 - t**2) / 2, 0.0, 10.0)

    return Problem(
        "valley", 2, "tanh(x/2)**2 + 5*y**2", f, grad,
        minima=[Minimum((0.0, 0.0), 0.0, "global")],
        start=(-7.0, 1.0), window=((-8.0, 8.0), (-2.0, 2.0)),
        gradient_expression="(tanh(x/2)*(1 - tanh(x/2)**2), 10*y)", hessian=hessian,
        description="E9: a flat-then-steep valley. Steep walls (curvature 10 across, so plain "
        "gradient descent needs lr < 0.2) around a floor tanh(x/2)**2 that is flat for "
        "|x| > 4 (slope 0.0036 at the start x = -7) and then drops steeply to the minimum. "
        "Plain GD crawls along the flat floor; Adam and RMSprop rescale each coordinate and "
        "leave it sooner.",
    )


def two_basin() -> Problem:
    def f(X):
        x, y = _xy(X)
        return (x**2 - 1) ** 2 + x / 4 + y**2

    def grad(X):
        x, y = _xy(X)
        return _stack(4 * x * (x**2 - 1) + 0.25, 2 * y)

    def hessian(X):
        x, _ = _xy(X)
        return _sym(12 * x**2 - 4, 0.0, 2.0)

    # ∂f/∂x = 4x³ − 4x + 1/4: roots near −1.030 (global), 0.063 (saddle), 0.967 (local).
    roots = np.sort(np.roots([4.0, 0.0, -4.0, 0.25]).real)
    points = newton_minima(grad, [(r, 0.0) for r in roots])
    return Problem(
        "two_basin", 2, "(x**2 - 1)**2 + x/4 + y**2", f, grad,
        minima=_minima_from_points(f, points),
        start=(1.8, 1.2), window=((-2.0, 2.0), (-1.5, 1.5)),
        gradient_expression="(4*x*(x**2 - 1) + 1/4, 2*y)", hessian=hessian,
        description="A tilted double well: the global minimum near (-1.030, 0) (f = -0.254) "
        "and a local one near (0.967, 0) (f = 0.246), separated by a saddle near (0.063, 0). "
        "The start lies in the local basin: plain gradient descent stays there, momentum "
        "and Adam with enough speed cross to the global one.",
    )


# -- classic test functions ----------------------------------------------------------------------


def rosenbrock() -> Problem:
    def f(X):
        x, y = _xy(X)
        return (1 - x) ** 2 + 100 * (y - x**2) ** 2

    def grad(X):
        x, y = _xy(X)
        return _stack(-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2))

    def hessian(X):
        x, y = _xy(X)
        return _sym(2 - 400 * (y - x**2) + 800 * x**2, -400 * x, 200.0)

    return Problem(
        "rosenbrock", 2, "(1 - x)**2 + 100*(y - x**2)**2", f, grad,
        minima=[Minimum((1.0, 1.0), 0.0, "global")],
        start=(-1.5, 2.0), window=((-2.0, 2.0), (-1.0, 3.0)),
        gradient_expression="(-2*(1 - x) - 400*x*(y - x**2), 200*(y - x**2))",
        hessian=hessian,
        description="Rosenbrock (1960): a curved, narrow banana valley; reaching the valley "
        "is easy, following it to the minimum (1, 1) is slow.",
    )


def beale() -> Problem:
    def f(X):
        x, y = _xy(X)
        return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2

    def grad(X):
        x, y = _xy(X)
        t1, t2, t3 = 1.5 - x + x * y, 2.25 - x + x * y**2, 2.625 - x + x * y**3
        return _stack(
            2 * t1 * (y - 1) + 2 * t2 * (y**2 - 1) + 2 * t3 * (y**3 - 1),
            2 * t1 * x + 4 * t2 * x * y + 6 * t3 * x * y**2,
        )

    def hessian(X):
        # f = Σ tᵢ²: ∂²f = Σ 2(∂tᵢ ∂tᵢᵀ + tᵢ ∂²tᵢ), with ∂tᵢ/∂x = yⁱ − 1, ∂tᵢ/∂y = i·x·yⁱ⁻¹
        x, y = _xy(X)
        t1, t2, t3 = 1.5 - x + x * y, 2.25 - x + x * y**2, 2.625 - x + x * y**3
        a1, a2, a3 = y - 1, y**2 - 1, y**3 - 1
        b1, b2, b3 = x, 2 * x * y, 3 * x * y**2
        xx = 2 * (a1**2 + a2**2 + a3**2)
        xy = 2 * (a1 * b1 + t1 + a2 * b2 + t2 * 2 * y + a3 * b3 + t3 * 3 * y**2)
        yy = 2 * (b1**2 + b2**2 + t2 * 2 * x + b3**2 + t3 * 6 * x * y)
        return _sym(xx, xy, yy)

    return Problem(
        "beale", 2, "(1.5 - x + x*y)**2 + (2.25 - x + x*y**2)**2 + (2.625 - x + x*y**3)**2",
        f, grad,
        minima=[Minimum((3.0, 0.5), 0.0, "global")],
        start=(1.0, 1.5), window=((-4.5, 4.5), (-4.5, 4.5)),
        gradient_expression="(2*(1.5 - x + x*y)*(y - 1) + 2*(2.25 - x + x*y**2)*(y**2 - 1)"
        " + 2*(2.625 - x + x*y**3)*(y**3 - 1), 2*(1.5 - x + x*y)*x + 4*(2.25 - x + x*y**2)*x*y"
        " + 6*(2.625 - x + x*y**3)*x*y**2)", hessian=hessian,
        description="Beale (1958): flat regions and sharp ridges; gradients span many orders "
        "of magnitude. Global minimum f(3, 0.5) = 0.",
    )


def booth() -> Problem:
    def f(X):
        x, y = _xy(X)
        return (x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2

    def grad(X):
        x, y = _xy(X)
        a, b = x + 2 * y - 7, 2 * x + y - 5
        return _stack(2 * a + 4 * b, 4 * a + 2 * b)

    return Problem(
        "booth", 2, "(x + 2*y - 7)**2 + (2*x + y - 5)**2", f, grad,
        minima=[Minimum((1.0, 3.0), 0.0, "global")],
        start=(-8.0, -6.0), window=((-10.0, 10.0), (-10.0, 10.0)),
        gradient_expression="(10*x + 8*y - 34, 8*x + 10*y - 38)",
        hessian=_constant([[10.0, 8.0], [8.0, 10.0]]),
        description="Booth: a convex quadratic with a tilted elliptic bowl (Hessian "
        "[[10, 8], [8, 10]], condition number 9). Global minimum f(1, 3) = 0.",
    )


def himmelblau() -> Problem:
    def f(X):
        x, y = _xy(X)
        return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2

    def grad(X):
        x, y = _xy(X)
        a, b = x**2 + y - 11, x + y**2 - 7
        return _stack(4 * x * a + 2 * b, 2 * a + 4 * y * b)

    def hessian(X):
        x, y = _xy(X)
        a, b = x**2 + y - 11, x + y**2 - 7
        return _sym(4 * a + 8 * x**2 + 2, 4 * x + 4 * y, 2 + 4 * b + 8 * y**2)

    # (3, 2) is exact; the other three are roots of a quartic, polished from the
    # literature's six-digit values (Himmelblau 1972).
    points = newton_minima(
        grad, [(-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)]
    )
    minima = [Minimum((3.0, 2.0), 0.0, "global")] + [
        Minimum(tuple(float(c) for c in p), 0.0, "global") for p in points
    ]
    return Problem(
        "himmelblau", 2, "(x**2 + y - 11)**2 + (x + y**2 - 7)**2", f, grad,
        minima=minima,
        start=(0.0, 0.0), window=((-5.0, 5.0), (-5.0, 5.0)),
        gradient_expression="(4*x*(x**2 + y - 11) + 2*(x + y**2 - 7), "
        "2*(x**2 + y - 11) + 4*y*(x + y**2 - 7))", hessian=hessian,
        description="Himmelblau (1972): four global minima, all with f = 0, at (3, 2), "
        "(-2.805, 3.131), (-3.779, -3.283) and (3.584, -1.848); which one a run reaches "
        "depends on the start and the optimizer.",
    )


def rastrigin() -> Problem:
    two_pi = 2 * np.pi

    def f(X):
        x, y = _xy(X)
        return 20 + x**2 + y**2 - 10 * (np.cos(two_pi * x) + np.cos(two_pi * y))

    def grad(X):
        x, y = _xy(X)
        return _stack(2 * x + 20 * np.pi * np.sin(two_pi * x),
                      2 * y + 20 * np.pi * np.sin(two_pi * y))

    def hessian(X):
        x, y = _xy(X)
        return _sym(2 + 40 * np.pi**2 * np.cos(two_pi * x), 0.0,
                    2 + 40 * np.pi**2 * np.cos(two_pi * y))

    points = newton_minima(grad, _lattice(5, skip_origin=True))
    return Problem(
        "rastrigin", 2, "20 + x**2 + y**2 - 10*(cos(2*pi*x) + cos(2*pi*y))", f, grad,
        minima=_minima_from_points(f, points, exact_global=[((0.0, 0.0), 0.0)]),
        start=(-3.3, 2.7), window=((-5.12, 5.12), (-5.12, 5.12)),
        gradient_expression="(2*x + 20*pi*sin(2*pi*x), 2*y + 20*pi*sin(2*pi*y))",
        hessian=hessian,
        description="Rastrigin (1974): a bowl covered in a lattice of local minima near "
        "every integer point (the 120 in the window are listed, computed by Newton's "
        "method). Global minimum f(0, 0) = 0.",
    )


def ackley() -> Problem:
    two_pi = 2 * np.pi

    def f(X):
        x, y = _xy(X)
        r = np.sqrt(0.5 * (x**2 + y**2))
        return (-20 * np.exp(-0.2 * r) - np.exp(0.5 * (np.cos(two_pi * x) + np.cos(two_pi * y)))
                + math.e + 20)

    def grad(X):
        x, y = _xy(X)
        r = np.sqrt(0.5 * (x**2 + y**2))
        # d/dx of -20 exp(-0.2 r) = 2 x exp(-0.2 r) / r; the cone's tip r = 0 has no gradient,
        # 0 is used there (a subgradient).
        safe_r = np.where(r > 0, r, 1.0)
        cone = np.where(r > 0, 2 * np.exp(-0.2 * r) / safe_r, 0.0)
        ripple = np.pi * np.exp(0.5 * (np.cos(two_pi * x) + np.cos(two_pi * y)))
        return _stack(cone * x + ripple * np.sin(two_pi * x),
                      cone * y + ripple * np.sin(two_pi * y))

    def hessian(X):
        x, y = _xy(X)
        r = np.sqrt(0.5 * (x**2 + y**2))
        # the cone's gradient c(r)·(x, y), c = 2e^(−0.2r)/r: its Jacobian c·I + k·(x, y)(x, y)ᵀ
        # with k = c′(r)/(2r) = −c·(0.2 + 1/r)/(2r); at the tip r = 0 (no gradient: 0 there,
        # as grad uses) 0 too
        safe_r = np.where(r > 0, r, 1.0)
        cone = np.where(r > 0, 2 * np.exp(-0.2 * r) / safe_r, 0.0)
        k = -cone * (0.2 + 1 / safe_r) / (2 * safe_r)
        # the ripple's gradient π·E·sin(2πx), E = exp(½(cos 2πx + cos 2πy)), ∂E/∂x = −πE·sin 2πx
        E = np.exp(0.5 * (np.cos(two_pi * x) + np.cos(two_pi * y)))
        sx, sy = np.sin(two_pi * x), np.sin(two_pi * y)
        xx = cone + k * x * x + np.pi**2 * E * (2 * np.cos(two_pi * x) - sx**2)
        yy = cone + k * y * y + np.pi**2 * E * (2 * np.cos(two_pi * y) - sy**2)
        xy = k * x * y - np.pi**2 * E * sx * sy
        return _sym(xx, xy, yy)

    points = newton_minima(grad, _lattice(5, skip_origin=True))
    return Problem(
        "ackley", 2,
        "-20*exp(-0.2*sqrt(0.5*(x**2 + y**2))) - exp(0.5*(cos(2*pi*x) + cos(2*pi*y))) + e + 20",
        f, grad,
        minima=_minima_from_points(f, points, exact_global=[((0.0, 0.0), 0.0)]),
        start=(-3.3, 2.7), window=((-5.0, 5.0), (-5.0, 5.0)),
        gradient_expression="(2*x*exp(-0.2*sqrt(0.5*(x**2 + y**2)))/sqrt(0.5*(x**2 + y**2))"
        " + pi*sin(2*pi*x)*exp(0.5*(cos(2*pi*x) + cos(2*pi*y))), "
        "2*y*exp(-0.2*sqrt(0.5*(x**2 + y**2)))/sqrt(0.5*(x**2 + y**2))"
        " + pi*sin(2*pi*y)*exp(0.5*(cos(2*pi*x) + cos(2*pi*y))))", hessian=hessian,
        description="Ackley (1987): a nearly flat outer region full of local minima (the "
        "120 near the integer points of the window are listed) around a sharp central cone. "
        "Global minimum f(0, 0) = 0, where f is not differentiable (grad returns 0).",
    )


#: The builders, in catalogue order.
BUILDERS: tuple[Callable[[], Problem], ...] = (
    quartic, bowl, rotated_bowl, xy, x2_plus_xy, saddle, plateau, valley, two_basin,
    rosenbrock, beale, booth, himmelblau, rastrigin, ackley,
)
