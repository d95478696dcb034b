"""descentlab.problems: the catalogue's gradients and minima, the Problem interface, and the
safe expression parser (symbolic derivatives, hostile input)."""

from __future__ import annotations

import builtins
import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from descentlab import cli, problems
from descentlab.problems import Minimum, Problem, from_expression
from descentlab.problems.expression import parse, to_text

CATALOGUE = problems.catalogue()
NAMES = list(CATALOGUE)


def random_points(p: Problem, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    low = np.array([lo for lo, _ in p.window])
    high = np.array([hi for _, hi in p.window])
    return low + (high - low) * rng.random((n, p.dim))


def central_differences(f, X: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """∂f/∂x_i ≈ (f(X + h e_i) − f(X − h e_i)) / 2h, one column per coordinate."""
    columns = []
    for i in range(X.shape[-1]):
        e = np.zeros(X.shape[-1])
        e[i] = h
        columns.append((f(X + e) - f(X - e)) / (2 * h))
    return np.stack(columns, axis=-1)


def bisect(func, lo: float, hi: float) -> float:
    """A root of func in [lo, hi] (sign change), by plain bisection — independent of the
    library's Newton polishing."""
    f_lo = func(lo)
    for _ in range(200):
        mid = (lo + hi) / 2
        if (func(mid) > 0) == (f_lo > 0):
            lo, f_lo = mid, func(mid)
        else:
            hi = mid
    return (lo + hi) / 2


# -- the catalogue -----------------------------------------------------------------------------


def test_catalogue_names_and_order():
    required = {"quartic", "bowl", "rotated_bowl", "xy", "x2_plus_xy", "saddle", "plateau",
                "valley", "rosenbrock", "beale", "booth", "himmelblau", "rastrigin", "ackley",
                "two_basin"}
    assert set(NAMES) == required
    assert NAMES == list(problems.catalogue())  # stable
    assert NAMES[:2] == ["quartic", "bowl"]
    assert problems.get("BOWL") is CATALOGUE["bowl"]
    assert problems.get("Two-Basin") is CATALOGUE["two_basin"]


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown problem 'bowel'.*bowl.*himmelblau"):
        problems.get("bowel")


@pytest.mark.parametrize("name", NAMES)
def test_gradient_matches_central_differences(name):
    p = CATALOGUE[name]
    X = random_points(p, 200, seed=1)
    fd = central_differences(p.f, X)
    scale = 1 + np.abs(p.f(X))[:, None]  # rounding error of f over 2h grows with |f|
    np.testing.assert_allclose(p.grad(X), fd, rtol=1e-5, atol=1e-7 * scale.max())


@pytest.mark.parametrize("name", NAMES)
def test_formula_text_rebuilds_the_problem(name):
    """The formula is parseable, and the symbolic gradient of the text agrees with the
    hand-written one (two independent derivations)."""
    p = CATALOGUE[name]
    q = from_expression(p.formula)
    assert q.dim == p.dim and q.formula == p.formula
    X = random_points(p, 200, seed=2)
    np.testing.assert_allclose(q.f(X), p.f(X), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(q.grad(X), p.grad(X), rtol=1e-9, atol=1e-9)


def gradient_components(text: str, dim: int) -> list[str]:
    """The coordinates of a gradient text: ``"(a, b)"`` → ["a", "b"] in 2-D, the text in 1-D
    (split by Python's own parser, so a comma inside a call stays where it is)."""
    if dim == 1:
        return [text]
    import ast

    tree = ast.parse(text, mode="eval").body
    assert isinstance(tree, ast.Tuple) and len(tree.elts) == dim, text
    return [ast.get_source_segment(text, e) for e in tree.elts]


@pytest.mark.parametrize("name", NAMES)
def test_gradient_expression_is_a_formula_equal_to_the_gradient(name):
    """Every catalogue gradient text is an expression (one per coordinate) whose value is
    the problem's gradient and the central differences of f."""
    p = CATALOGUE[name]
    X = random_points(p, 200, seed=4)
    fd = central_differences(p.f, X)
    for i, text in enumerate(gradient_components(p.gradient_expression, p.dim)):
        component = from_expression(text, dim=p.dim, find_minima=False)
        np.testing.assert_allclose(component.f(X), p.grad(X)[:, i], rtol=1e-9, atol=1e-9,
                                   err_msg=f"{name}: d/d{'xy'[i]} = {text}")
        scale = 1 + np.abs(p.f(X)).max()
        np.testing.assert_allclose(component.f(X), fd[:, i], rtol=1e-5, atol=1e-7 * scale)


def test_products_of_named_constants_differentiate():
    """pi*sin(2*pi*x) once sent the simplifier round in circles (RecursionError)."""
    p = from_expression("pi*sin(2*pi*x)")
    X = np.array([[0.1], [0.3]])
    np.testing.assert_allclose(p.grad(X)[:, 0], 2 * math.pi**2 * np.cos(2 * math.pi * X[:, 0]))


def test_gradient_expression_check_catches_a_wrong_text():
    wrong = from_expression("x/20", dim=2, find_minima=False)  # d/dx of x**2/20 is x/10
    X = random_points(CATALOGUE["bowl"], 20)
    assert not np.allclose(wrong.f(X), CATALOGUE["bowl"].grad(X)[:, 0])


@pytest.mark.parametrize("name", NAMES)
def test_vectorised_over_leading_axes(name):
    p = CATALOGUE[name]
    X = random_points(p, 12, seed=3).reshape(3, 4, p.dim)
    F, G = p.f(X), p.grad(X)
    assert F.shape == (3, 4) and G.shape == (3, 4, p.dim)
    for i, j in np.ndindex(3, 4):
        assert p.f(X[i, j]) == F[i, j]
        np.testing.assert_array_equal(p.grad(X[i, j]), G[i, j])
    assert p.f(np.asarray(p.start)).shape == ()
    assert p.f(X.astype(np.float32)).dtype == np.float32


def test_results_never_alias_the_input():
    for p in (from_expression("x + 0*y"), from_expression("y", dim=2), CATALOGUE["xy"]):
        X = np.ones((3, 2))
        p.f(X)[:] = 5.0
        p.grad(X)[:] = 5.0
        assert (X == 1).all()


def test_wrong_trailing_axis_is_a_clear_error():
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 1\).*trailing axis"):
        CATALOGUE["quartic"].f(np.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        CATALOGUE["bowl"].grad(np.zeros((5, 3)))


# Literature / closed-form global minima: (point, value). Himmelblau's irrational minima to
# the six decimals usually quoted (Himmelblau 1972).
LITERATURE_GLOBAL = {
    "bowl": [((0, 0), 0.0)],
    "rotated_bowl": [((0, 0), 0.0)],
    "plateau": [((0, 0), 0.0)],
    "valley": [((0, 0), 0.0)],
    "rosenbrock": [((1, 1), 0.0)],
    "beale": [((3, 0.5), 0.0)],
    "booth": [((1, 3), 0.0)],
    "himmelblau": [((3, 2), 0.0), ((-2.805118, 3.131312), 0.0),
                   ((-3.779310, -3.283186), 0.0), ((3.584428, -1.848126), 0.0)],
    "rastrigin": [((0, 0), 0.0)],
    "ackley": [((0, 0), 0.0)],
}


def quartic_reference() -> list[tuple[tuple[float, ...], float, str]]:
    """E1 by hand: f'(x) = (2x³ − 3x² − 57x − 27)/100 changes sign in [6, 7] and [−5, −4]."""
    def df(x):
        return 2 * x**3 - 3 * x**2 - 57 * x - 27

    def f(x):
        return (x - 9) * x * (x + 1) * (x + 6) / 200 + 4

    x_global, x_local = bisect(df, 6, 7), bisect(df, -5, -4)
    assert abs(x_global - 6.335) < 1e-3 and abs(x_local + 4.345) < 1e-3  # the brief's values
    return [((x_global,), f(x_global), "global"), ((x_local,), f(x_local), "local")]


def two_basin_reference() -> list[tuple[tuple[float, ...], float, str]]:
    """∂f/∂x = 4x³ − 4x + 1/4 changes sign in [−2, −0.5] and [0.5, 2]."""
    def f(x):
        return (x**2 - 1) ** 2 + x / 4

    left, right = bisect(lambda x: 4 * x**3 - 4 * x + 0.25, -2, -0.5), bisect(
        lambda x: 4 * x**3 - 4 * x + 0.25, 0.5, 2)
    return [((left, 0.0), f(left), "global"), ((right, 0.0), f(right), "local")]


def test_quartic_and_two_basin_minima_match_a_hand_computation():
    for name, reference in [("quartic", quartic_reference()),
                            ("two_basin", two_basin_reference())]:
        got = CATALOGUE[name].minima
        assert len(got) == len(reference)
        for m, (point, value, kind) in zip(got, reference):
            assert m.kind == kind
            np.testing.assert_allclose(m.point, point, rtol=0, atol=1e-12)
            assert m.value == pytest.approx(value, abs=1e-12)


@pytest.mark.parametrize("name", list(LITERATURE_GLOBAL))
def test_global_minima_match_the_literature(name):
    globals_ = CATALOGUE[name].global_minima
    expected = LITERATURE_GLOBAL[name]
    assert len(globals_) == len(expected)
    for m, (point, value) in zip(globals_, expected):
        np.testing.assert_allclose(m.point, point, atol=5e-7)
        assert m.value == value


def test_problems_without_minima_say_so():
    for name in ("xy", "x2_plus_xy", "saddle"):
        p = CATALOGUE[name]
        assert p.minima == []
        assert "NO minimum" in p.description
        index, distance = p.nearest_minimum(np.zeros((3, 2)))
        assert (index == -1).all() and np.isinf(distance).all()


@pytest.mark.parametrize("name", [n for n in NAMES if CATALOGUE[n].minima])
def test_listed_minima_are_minima_with_their_stated_value(name):
    p = CATALOGUE[name]
    points = np.array([m.point for m in p.minima])
    values = np.array([m.value for m in p.minima])
    np.testing.assert_allclose(p.f(points), values, rtol=0, atol=1e-12)
    smooth = ~((name == "ackley") & np.all(points == 0, axis=1))  # Ackley's cone tip
    assert np.abs(p.grad(points[smooth])).max() < 1e-8
    # positive-definite Hessian (central differences of the analytic gradient)
    hessian = central_differences(p.grad, points[smooth], h=1e-5)
    hessian = (hessian + np.swapaxes(hessian, -1, -2)) / 2
    assert (np.linalg.eigvalsh(hessian)[:, 0] > 0).all()
    # the cone tip is a strict minimum: f rises in every direction
    if not smooth.all():
        angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        ring = 1e-3 * np.stack([np.cos(angles), np.sin(angles)], axis=-1)
        assert (p.f(ring) > p.f(np.zeros(2))).all()
        np.testing.assert_array_equal(p.grad(np.zeros(2)), [0.0, 0.0])


@pytest.mark.parametrize("name", [n for n in NAMES if CATALOGUE[n].minima])
def test_global_minima_are_lowest(name):
    p = CATALOGUE[name]
    kinds = [m.kind for m in p.minima]
    assert "global" in kinds and kinds == sorted(kinds, key=lambda k: k != "global")
    lowest = min(m.value for m in p.global_minima)
    assert all(m.value == pytest.approx(lowest, abs=1e-12) for m in p.global_minima)
    assert all(m.value > lowest + 1e-6 for m in p.minima if m.kind == "local")
    X = random_points(p, 20_000, seed=4)
    assert p.f(X).min() >= lowest - 1e-12
    for m in p.minima:
        assert p.in_window(np.array(m.point))


def test_himmelblau_has_four_global_minima_and_lattices_are_complete():
    assert len(CATALOGUE["himmelblau"].global_minima) == 4
    for name in ("rastrigin", "ackley"):
        minima = CATALOGUE[name].minima
        assert len(minima) == 121
        nearest_integer = np.round([m.point for m in minima])
        assert len({tuple(p) for p in nearest_integer}) == 121


def test_nearest_minimum_against_a_loop():
    p = CATALOGUE["rastrigin"]
    X = random_points(p, 300, seed=5).reshape(10, 30, 2)
    index, distance = p.nearest_minimum(X)
    assert index.shape == distance.shape == (10, 30)
    for i, j in np.ndindex(10, 30):
        d = [math.dist(X[i, j], m.point) for m in p.minima]
        assert index[i, j] == int(np.argmin(d))
        assert distance[i, j] == pytest.approx(min(d), rel=1e-12)
    index, distance = p.nearest_minimum(np.array([[np.nan, 0.0], [0.0, np.inf], [0.1, 0.0]]))
    assert list(index) == [-1, -1, 0]
    assert np.isnan(distance[:2]).all() and distance[2] == pytest.approx(0.1)


def test_in_window():
    p = CATALOGUE["bowl"]
    X = np.array([[0, 0], [-10, 5], [10.01, 0], [0, -5.5], [np.nan, 0], [np.inf, 0]])
    assert p.in_window(X).tolist() == [True, True, False, False, False, False]


def test_bounds_contain_the_window_and_hold_the_e1_adam_runs():
    for p in CATALOGUE.values():
        assert all(blo <= wlo < whi <= bhi
                   for (blo, bhi), (wlo, whi) in zip(p.bounds, p.window))
    p = CATALOGUE["quartic"]
    assert p.in_bounds(np.array([[15.0], [25.0], [np.nan]])).tolist() == [True, False, False]
    # E1's sweep (Adam, eps=1e-10, lr 0.1..12, β2 0.999 and 0.5, 99 steps from -8): a plain
    # loop of the textbook rule (PyTorch form) — no run swings outside the bounds.
    for beta2 in (0.999, 0.5):
        for lr in np.arange(1, 121) / 10:
            x, m, v = -8.0, 0.0, 0.0
            for t in range(1, 100):
                g = (2 * x**3 - 3 * x**2 - 57 * x - 27) / 100
                m, v = 0.9 * m + 0.1 * g, beta2 * v + (1 - beta2) * g * g
                x -= lr * (m / (1 - 0.9**t)) / (math.sqrt(v / (1 - beta2**t)) + 1e-10)
                assert p.in_bounds(np.array([x])), (beta2, lr, t, x)
    with pytest.raises(ValueError, match="must contain the window"):
        Problem("p", 1, "x", lambda X: X[..., 0], lambda X: X, start=(0,), window=((-1, 1),),
                bounds=((0, 2),))


def test_overflow_and_undefined_points_give_nan_or_inf_silently():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isinf(CATALOGUE["bowl"].f(np.array([1e200, 0.0])))
        assert np.isnan(CATALOGUE["rosenbrock"].grad(np.array([np.inf, np.inf]))).any()
        log = from_expression("log(x)")
        assert np.isnan(log.f(np.array([-1.0])))
        assert np.isinf(log.grad(np.array([0.0]))).all()
        q = from_expression("1/(x - y) + sqrt(y)")
        values = q.f(np.array([[1.0, 1.0], [1.0, -1.0], [2.0, 1.0]]))
        assert np.isinf(values[0]) and np.isnan(values[1]) and values[2] == 2.0


def test_e4_gradient_of_xy_matches_the_hand_computation():
    # E4: g at (1, 2) is (2, 1); at x1 = (0, 1) it is (1, 0).
    np.testing.assert_array_equal(CATALOGUE["xy"].grad(np.array([[1.0, 2.0], [0.0, 1.0]])),
                                  [[2.0, 1.0], [1.0, 0.0]])


def test_minimum_kind_is_checked():
    with pytest.raises(ValueError, match="kind"):
        Minimum((0.0,), 0.0, "best")  # type: ignore[arg-type]


# -- user expressions --------------------------------------------------------------------------


def test_bowl_expression_matches_the_catalogue_bowl():
    q, bowl = from_expression("x**2/20 + y**2"), CATALOGUE["bowl"]
    assert q.formula == bowl.formula and q.dim == 2
    X = random_points(bowl, 500, seed=6)
    np.testing.assert_array_equal(q.f(X), bowl.f(X))
    np.testing.assert_allclose(q.grad(X), bowl.grad(X), rtol=1e-15, atol=0)
    assert from_expression("x^2/20 + y^2").formula == bowl.formula


# Expressions and a box where each is defined and smooth.
DERIVATIVE_CASES = [
    ("sin(x)*cos(y)", (-3, 3)),
    ("exp(-x^2)", (-2, 2)),
    ("log(1+x**2)", (-3, 3)),
    ("x**x", (0.5, 2)),
    ("2**x + x**2.5 + pi**y", (0.5, 2)),
    ("sqrt(x**2 + y**2)", (0.5, 2)),
    ("x*y/(1 + x**2)", (-2, 2)),
    ("tan(x/2) + tanh(y) - sinh(x)*cosh(y)", (-1, 1)),
    ("atan(x*y) + arctan(y) + asin(x/3) + arccos(y/3)", (-2, 2)),
    ("abs(x - 3)*y + sign(y - 5)", (-2, 2)),
    ("min(x, y**2) + max(x*y, 1)", (0.1, 0.9)),
    ("ln(x) - log(y)/e + e**(x*y)", (0.5, 2)),
    ("-(x - y)**3 / (2 + cos(x))", (-2, 2)),
    ("1/x - 1/(x*y) + x**-2", (0.5, 2)),
    ("(x**2 - 1)**2 + x/4 + y^2", (-2, 2)),
    ("exp(sin(x*y))**2 / sqrt(1 + y^4)", (-2, 2)),
    ("x", (-1, 1)),
    ("3", (-1, 1)),
    ("(sin(x)^2 + cos(x)^2) * y", (-1, 1)),
]


@pytest.mark.parametrize(("expr", "box"), DERIVATIVE_CASES)
def test_symbolic_derivative_matches_central_differences(expr, box):
    p = from_expression(expr, dim=2)
    rng = np.random.default_rng(7)
    X = box[0] + (box[1] - box[0]) * rng.random((100, 2))
    fd = central_differences(p.f, X)
    assert np.isfinite(fd).all()
    np.testing.assert_allclose(p.grad(X), fd, rtol=1e-6, atol=1e-6)


def test_expression_dimension_defaults_and_options():
    p = from_expression("x**3 - x")
    assert p.dim == 1 and p.start == (-3.0,) and p.window == ((-5.0, 5.0),)
    assert p.gradient_expression == "3*x**2 - 1"
    # one local minimum at 1/√3 (f' = 3x² − 1 = 0); not global: f(−5) = −120 is lower
    [m] = p.minima
    assert m.kind == "local" and m.point[0] == pytest.approx(1 / math.sqrt(3), abs=1e-12)
    assert m.value == pytest.approx(-2 / (3 * math.sqrt(3)), abs=1e-12)
    assert from_expression("x**3 - x", find_minima=False).minima == []
    np.testing.assert_allclose(p.grad(np.array([[2.0]])), [[11.0]])
    q = from_expression("sin(x)*cos(y)", start=(1, 2), window=((0, 4), (-1, 3)), name="wave")
    assert (q.name, q.dim, q.start, q.window) == ("wave", 2, (1.0, 2.0), ((0, 4), (-1, 3)))
    assert from_expression("x", window=((0, 10), (0, 1)), dim=2).start == (2.0, 0.7)
    with pytest.raises(ValueError, match="uses y, so it needs dim=2"):
        from_expression("x*y", dim=1)
    with pytest.raises(ValueError, match="start must be 2 finite"):
        from_expression("x*y", start=(1, 2, 3))
    with pytest.raises(ValueError, match="window must be 1 finite"):
        from_expression("x", window=((1, 0),))


@pytest.mark.parametrize("name", NAMES)
def test_minima_search_agrees_with_the_catalogue(name):
    """Newton from a grid over the window finds exactly the catalogue's minima (all of them
    for the surfaces with a few; a subset of Rastrigin's and Ackley's lattices)."""
    p = CATALOGUE[name]
    found = from_expression(p.formula, window=p.window).minima
    listed = {tuple(np.round(m.point, 6)): m for m in p.minima}
    for m in found:
        twin = listed.get(tuple(np.round(m.point, 6)))
        assert twin is not None, f"{name}: minimum {m} not in the catalogue"
        assert twin.kind == m.kind and twin.value == pytest.approx(m.value, abs=1e-9)
    if len(p.minima) <= 4:
        assert len(found) == len(p.minima)


def test_minima_search_on_formulas():
    waves = from_expression("sin(x)*cos(y)").minima  # f = −1 at (±π/2 + 2kπ, ...) patterns
    assert len(waves) == 6 and all(m.kind == "global" and m.value == -1 for m in waves)
    assert all(abs(np.sin(m.point[0]) * np.cos(m.point[1]) + 1) < 1e-12 for m in waves)
    for unbounded in ("x*y", "x**2 - y**2", "exp(-x^2)", "log(x)", "1/x"):
        assert from_expression(unbounded).minima == []


def test_large_derivatives_share_subtrees_and_are_not_printed_when_huge():
    # d/dx of 40 nested max(·, -x/2) doubles its printed size per level, not its node count
    text = "max(" * 40 + "x" + ", -x/2)" * 40
    p = from_expression(text, find_minima=False)
    assert p.gradient_expression.startswith("(longer than")
    X = np.array([[0.7], [-1.3]])
    np.testing.assert_allclose(p.grad(X), central_differences(p.f, X), rtol=1e-8)
    product = from_expression("*".join(["sin(x + y)"] * 40), find_minima=False)
    X = np.array([[0.3, 0.4], [1.0, 0.2]])
    np.testing.assert_allclose(product.grad(X), central_differences(product.f, X),
                               rtol=1e-6, atol=1e-12)


def test_constant_expression_broadcasts():
    p = from_expression("2*pi", dim=2)
    X = np.zeros((4, 3, 2))
    assert p.f(X).shape == (4, 3) and np.all(p.f(X) == 2 * np.pi)
    assert p.grad(X).shape == (4, 3, 2) and not p.grad(X).any()


REJECTED = {
    "__import__('os')": "unknown function '__import__'",
    "__import__('os').system('ls')": "only the listed functions may be called",
    "os.system('ls')": "only the listed functions may be called",
    "().__class__.__bases__[0].__subclasses__()": "only the listed functions",
    "x.__class__": "attribute access",
    "x[0]": "subscripting",
    "lambda: 1": "lambda",
    "[x for x in range(3)]": "comprehension",
    "(x for x in y)": "generator",
    "'abc'": "only numbers",
    "b'abc'": "only numbers",
    "f'{x}'": "f-string",
    "sin(x=1)": "keyword arguments",
    "sin(*x)": "unpacking",
    "sin(x, y)": "takes 1 argument",
    "max(x)": "takes 2 argument",
    "9**9**9": "exponent '9\\*\\*9' is too large",
    "x**1e6": "exponent '1e6' is too large",
    "10**400": "not finite",
    "1/0": "not finite",
    "log(0)": "not finite",
    "exp(pi*1000)": "not finite",
    "1e999": "not finite",
    "9" * 400: "too large",
    "x if y else 1": "if ... else",
    "x < y": "comparison",
    "x and y": "'and'/'or'",
    "(x := 3)": "':='",
    "x % 2": "operator",
    "x // 2": "operator",
    "x @ y": "operator",
    "~x": "operator",
    "not x": "operator",
    "True": "only numbers",
    "None": "only numbers",
    "1j": "only numbers",
    "...": "only numbers",
    "z": "unknown name 'z'",
    "exec": "unknown name 'exec'",
    "sin": "'sin' is a function",
    "(x, y)": "tuple",
    "{x: 1}": "dict",
    "x; y": "syntax error",
    "import os": "syntax error",
    "x = 1": "syntax error",
    "": "empty",
    "   ": "empty",
    "x" + "+x" * 300: "longer than 500",
    "-" * 100 + "x": "nested too deeply",
    "(" * 210 + "x" + ")" * 210: "syntax error",
    "sin(" * 70 + "x" + ")" * 70: "nested too deeply",
    "x\x00": "null|syntax error",
    "x²": "syntax error",
}


@pytest.mark.parametrize("text", list(REJECTED))
def test_hostile_and_malformed_input_is_rejected_with_a_clear_message(text):
    with pytest.raises(ValueError, match=REJECTED[text]):
        from_expression(text)


@pytest.mark.parametrize(("text", "column"), [
    ("sin(x) + foo*y", 10),
    ("x^2 + y^2 + foo", 13),
    ("  \n x^2 + é", 11),
    ("x^2 +* y", 6),
    ("x**2/20 + y**", 14),  # ends too early: the column after the last character
    ("x**2/20 + y**   ", 14),
    ("x^2 + y^", 9),
    ("1 + )", 5),
])
def test_rejection_points_at_the_culprit(text, column):
    with pytest.raises(ValueError, match=f" at column {column}\\b"):
        from_expression(text)


def test_attack_strings_execute_nothing(tmp_path, monkeypatch):
    """Even the parsing step never runs code: eval/exec are booby-trapped, compile may only
    build syntax trees, and a canary file must not appear."""
    canary = tmp_path / "pwned"
    attacks = [
        f"__import__('os').system('touch {canary}')",
        f"open('{canary}', 'w')",
        f"[__import__('pathlib').Path('{canary}').touch() for _ in [1]]",
        f"(lambda: __import__('os').system('touch {canary}'))()",
        "eval('1')",
        "exec('x = 1')",
        "getattr(x, 'y')",
        "globals()",
    ]
    real_compile = builtins.compile
    import ast as ast_module

    def only_ast(source, filename, mode, flags=0, *args, **kwargs):
        assert flags & ast_module.PyCF_ONLY_AST, "compile() called for code, not a syntax tree"
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    def trap(*args, **kwargs):
        raise AssertionError("eval/exec called")

    monkeypatch.setattr(builtins, "compile", only_ast)
    monkeypatch.setattr(builtins, "eval", trap)
    monkeypatch.setattr(builtins, "exec", trap)
    for attack in attacks:
        with pytest.raises(ValueError, match="invalid expression"):
            from_expression(attack)
    assert from_expression("x*y").formula == "x*y"
    assert not canary.exists()


def check_only_problem_or_value_error(text: str) -> None:
    """The fuzzing contract: a Problem whose f and grad evaluate silently, or ValueError."""
    try:
        p = from_expression(text, find_minima=False)
    except ValueError:
        return
    assert isinstance(p, Problem)
    X = random_points(p, 5, seed=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert p.f(X).shape == (5,) and p.grad(X).shape == (5, p.dim)


TOKENS = [
    "x", "y", "pi", "e", "1", "2", "0", "9", "0.5", "1e308", "1e-320", "-", "+", "*", "/",
    "**", "^", "(", ")", ",", ".", "[", "]", "{", "}", ":", "=", "==", "<", "%", "//", "@",
    "~", "!", "'", '"', "\\", "\n", "\t", " ", "#", "\x00", "sin", "cos", "tan", "exp",
    "log", "ln", "sqrt", "abs", "sign", "tanh", "sinh", "cosh", "atan", "arctan", "asin",
    "acos", "min", "max", "__import__", "os", "system", "lambda", "for", "in", "if", "else",
    "not", "and", "or", "yield", "await", ":=", "...", "1j", "0x1f", "True", "None", "f'",
    "__class__", "__builtins__", "eval", "exec", "open", "_", "é", "²",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=25).map("".join))
def test_fuzz_token_soup(text):
    check_only_problem_or_value_error(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_fuzz_random_text(text):
    check_only_problem_or_value_error(text)


def expressions(max_leaves: int = 12, smooth: bool = False) -> st.SearchStrategy[str]:
    """Well-formed formulas from the grammar (they may still be rejected for a non-finite
    constant such as log(0)). ``smooth`` leaves out abs, sign, min and max, whose kinks make
    a symbolic derivative a mere subgradient at ties (as in every autodiff)."""
    leaves = st.sampled_from(["x", "y", "pi", "e", "0", "1", "2", "0.5", "3.25", "10"])
    kinked = [] if smooth else ["abs", "sign"]
    unary = st.sampled_from(["sin", "cos", "tan", "exp", "log", "sqrt", "tanh", "sinh",
                             "cosh", "atan", "asin", "acos", *kinked])

    def grow(children):
        options = [
            st.tuples(children, st.sampled_from(["+", "-", "*", "/", "**", "^"]), children)
            .map(lambda t: f"({t[0]}){t[1]}({t[2]})"),
            st.tuples(unary, children).map(lambda t: f"{t[0]}({t[1]})"),
            children.map(lambda c: f"-({c})"),
        ]
        if not smooth:
            options.append(st.tuples(st.sampled_from(["min", "max"]), children, children)
                           .map(lambda t: f"{t[0]}({t[1]}, {t[2]})"))
        return st.one_of(*options)

    return st.recursive(leaves, grow, max_leaves=max_leaves)


@settings(max_examples=300, deadline=None)
@given(expressions())
def test_fuzz_well_formed_expressions(text):
    check_only_problem_or_value_error(text)


@settings(max_examples=100, deadline=None)
@given(expressions(max_leaves=8))
def test_fuzz_minima_search(text):
    """The numerical search never raises, and whatever it lists is a minimum in the window."""
    try:
        p = from_expression(text)
    except ValueError:
        return
    for m in p.minima:
        assert p.in_window(np.array(m.point))
        assert p.f(np.array(m.point)) == pytest.approx(m.value, rel=1e-12, abs=1e-300)
    best = [m.value for m in p.global_minima]
    if best:  # global = the lowest found, and nothing sampled in the window is lower
        assert max(best) - min(best) <= 1e-9 * (1 + abs(min(best)))
        assert all(m.value > max(best) for m in p.minima if m.kind == "local")
        sampled = p.f(random_points(p, 2000, seed=9))
        sampled = sampled[np.isfinite(sampled)]  # ±inf, like nan, marks an undefined point
        if sampled.size:
            assert sampled.min() >= min(best) - 1e-9


@settings(max_examples=200, deadline=None)
@given(expressions())
def test_printed_formula_reads_back_to_the_same_tree(text):
    try:
        tree = parse(text)
    except ValueError:
        return
    assert parse(to_text(tree)) == tree


@settings(max_examples=150, deadline=None)
@given(expressions(max_leaves=8, smooth=True), st.floats(0.2, 1.5), st.floats(0.2, 1.5))
def test_fuzz_symbolic_derivative_matches_central_differences(text, x0, y0):
    try:
        p = from_expression(text, dim=2)
    except ValueError:
        return
    X = np.array([x0, y0])
    h = 1e-6
    grid = X + h * np.array([[a, b] for a in (-2, -1, 0, 1, 2) for b in (-2, -1, 0, 1, 2)])
    values = p.f(grid)
    # only where f is finite, moderate and smooth near X (no kink of abs/sign/min/max)
    if not np.isfinite(values).all() or np.abs(values).max() > 1e6:
        return
    fd = central_differences(p.f, X, h=h)
    fd_coarse = central_differences(p.f, X, h=2 * h)
    g = p.grad(X)
    if not np.allclose(fd, fd_coarse, rtol=1e-4, atol=1e-4) or not np.isfinite(g).all():
        return
    np.testing.assert_allclose(g, fd, rtol=1e-4, atol=1e-4 * (1 + np.abs(values).max()))


# -- the command ------------------------------------------------------------------------------


def test_cli_lists_the_catalogue(capsys):
    assert cli.main(["problems"]) == 0
    out = capsys.readouterr().out
    for name in NAMES:
        assert f"\n{name} " in out
    assert "x**2/20 + y**2" in out and "(-7, 2)" in out


def test_cli_shows_one_problem_and_an_expression(capsys):
    assert cli.main(["problems", "Himmelblau"]) == 0
    out = capsys.readouterr().out
    assert out.count("global at") == 4 and "(3, 2)" in out
    assert cli.main(["problems", "--f", "x*y"]) == 0
    assert "(y, x)" in capsys.readouterr().out


def test_cli_errors_are_one_line(capsys):
    assert cli.main(["problems", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "valid names: quartic, bowl" in err
    assert cli.main(["problems", "--f", "__import__('os')"]) == 2
    assert "unknown function '__import__'" in capsys.readouterr().err
