"""Exact Hessians of the surfaces (hand-written for the catalogue, symbolic for expressions)
and the lab giving them to Sophia as exact Hessian-vector products."""

from __future__ import annotations

import math

import numpy as np
import pytest

from descentlab import optim, problems
from descentlab.errors import InputError
from descentlab.lab.engine import closure_arguments, run_batch
from descentlab.optim.tree import ROOT
from descentlab.problems import Problem, from_expression

CATALOGUE = problems.catalogue()
NAMES = list(CATALOGUE)
EPS = np.finfo(np.float64).eps


def random_points(p: Problem, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    low = np.array([lo for lo, _ in p.window])
    high = np.array([hi for _, hi in p.window])
    return low + (high - low) * rng.random((n, p.dim))


def difference_of_gradient(p: Problem, X: np.ndarray, h: float) -> np.ndarray:
    """(∇f(X + h eⱼ) − ∇f(X − h eⱼ)) / 2h as column j: shape (n, dim, dim)."""
    columns = [(p.grad(X + h * e) - p.grad(X - h * e)) / (2 * h) for e in np.eye(p.dim)]
    return np.stack(columns, axis=-1)


@pytest.mark.parametrize("name", NAMES)
def test_hessian_is_the_central_difference_of_the_exact_gradient(name):
    """float64, 200 random points of the window. The central difference D_h has truncation
    error c·h² + O(h⁴) and rounding error about ε·|∇f|/h; D_h − D_2h = −3c·h² + O(h⁴)
    measures the first, so the tolerance per entry is 4·|D_h − D_2h|/3 + 8ε·max|∇f|/h.
    The same tolerance refuses the Hessian with ∂²f/∂x² off by 10⁻⁶ of its largest entry."""
    p = CATALOGUE[name]
    X = random_points(p, 200, seed=5)
    if name == "ackley":  # not differentiable at its tip: points away from it
        X = X[np.linalg.norm(X, axis=1) > 0.1]
    h = 1e-4
    d_h, d_2h = difference_of_gradient(p, X, h), difference_of_gradient(p, X, 2 * h)
    scale = 1 + np.abs(p.grad(X)).max(axis=-1)[:, None, None]
    tol = 4 * np.abs(d_h - d_2h) / 3 + 8 * EPS * scale / h
    H = p.hessian(X)
    assert H.shape == (len(X), p.dim, p.dim) and H.dtype == np.float64
    assert np.all(np.abs(H - d_h) <= tol), np.max(np.abs(H - d_h) - tol)
    np.testing.assert_array_equal(H, np.swapaxes(H, -1, -2))
    off = H.copy()
    off[:, 0, 0] += 1e-6 * np.abs(H).max(axis=(1, 2))  # ∂²f/∂x² off by 1e-6 of the largest
    assert not np.all(np.abs(off - d_h) <= tol)  # (the tolerance can fail)


@pytest.mark.parametrize("name", NAMES)
def test_hand_written_and_symbolic_hessians_agree(name):
    """Two independent derivations: the catalogue's hand-written Hessian and the symbolic
    second derivative of its formula's text (from_expression)."""
    p = CATALOGUE[name]
    q = from_expression(p.formula, dim=p.dim, find_minima=False)
    assert q.has_hessian and p.has_hessian
    X = random_points(p, 200, seed=6)
    np.testing.assert_allclose(q.hessian(X), p.hessian(X), rtol=1e-9, atol=1e-9)


def test_hessians_by_hand():
    """Written out: Rosenbrock at its minimum (1, 1): [[1200x² − 400y + 2, −400x], [−400x,
    200]] = [[802, −400], [−400, 200]]; Himmelblau at (3, 2), where a = x² + y − 11 and
    b = x + y² − 7 vanish: [[4a + 8x² + 2, 4x + 4y], [4x + 4y, 4b + 8y² + 2]] = [[74, 20],
    [20, 34]]; the quartic at 0: f'' = (6x² − 6x − 57)/100 = −0.57; Ackley at its tip
    (0, 0), the cone's part 0 as its gradient there: the ripple's π²·e^(½(1 + 1))·2 = 2eπ²
    on the diagonal."""
    np.testing.assert_array_equal(CATALOGUE["rosenbrock"].hessian(np.array([1.0, 1.0])),
                                  [[802.0, -400.0], [-400.0, 200.0]])
    np.testing.assert_array_equal(CATALOGUE["himmelblau"].hessian(np.array([3.0, 2.0])),
                                  [[74.0, 20.0], [20.0, 34.0]])
    np.testing.assert_allclose(CATALOGUE["quartic"].hessian(np.array([0.0])), [[-0.57]],
                               rtol=1e-15)
    np.testing.assert_allclose(CATALOGUE["ackley"].hessian(np.zeros(2)),
                               2 * math.e * math.pi**2 * np.eye(2), rtol=1e-15)
    x, y = 1.5, -0.5  # an expression: x³y: [[6xy, 3x²], [3x², 0]]
    np.testing.assert_allclose(from_expression("x**3*y").hessian(np.array([x, y])),
                               [[6 * x * y, 3 * x**2], [3 * x**2, 0.0]], rtol=1e-15)
    np.testing.assert_allclose(from_expression("exp(2*x)").hessian(np.array([[0.5]])),
                               [[[4 * math.e]]], rtol=1e-15)


@pytest.mark.parametrize("name", ["quartic", "beale", "ackley"])
def test_hessian_and_hvp_are_vectorised_over_leading_axes(name):
    p = CATALOGUE[name]
    X = random_points(p, 12, seed=7).reshape(3, 4, p.dim)
    V = np.random.default_rng(8).standard_normal(X.shape)
    H, HV = p.hessian(X), p.hvp(X, V)
    assert H.shape == (3, 4, p.dim, p.dim) and HV.shape == X.shape
    for i, j in np.ndindex(3, 4):
        np.testing.assert_array_equal(p.hessian(X[i, j]), H[i, j])
        np.testing.assert_allclose(HV[i, j], H[i, j] @ V[i, j], rtol=1e-14, atol=1e-14)


def test_a_problem_built_without_a_hessian_says_so_and_the_lab_falls_back():
    p = Problem("line", 1, "x**2/2", lambda X: X[..., 0] ** 2 / 2, lambda X: X,
                start=(1.0,), window=((-2.0, 2.0),))
    assert not p.has_hessian
    with pytest.raises(InputError, match="line: this problem has no Hessian"):
        p.hessian(np.ones(1))
    assert "hvp" not in closure_arguments(p, optim.Sophia(), np.ones((1, 1)))
    assert "hvp" in closure_arguments(CATALOGUE["bowl"], optim.Sophia(), np.ones((1, 2)))
    assert "hvp" not in closure_arguments(CATALOGUE["bowl"], optim.SAM(), np.ones((1, 2)))


def rosenbrock_hvp(X, V):
    """Rosenbrock's H·V written out here, [[1200x² − 400y + 2, −400x], [−400x, 200]]."""
    x, y = X[..., 0], X[..., 1]
    return np.stack([(1200 * x**2 - 400 * y + 2) * V[..., 0] - 400 * x * V[..., 1],
                     -400 * x * V[..., 0] + 200 * V[..., 1]], axis=-1)


def rastrigin_hvp(X, V):
    """Rastrigin's H·V written out here, diag(2 + 40π² cos 2πx, 2 + 40π² cos 2πy)·V."""
    return (2 + 40 * np.pi**2 * np.cos(2 * np.pi * X)) * V


def by_hand(p, opt, start, steps, hvp=None):
    """``steps`` updates of ``opt`` from ``start`` with the closure f, ∇f (and ``hvp``)."""
    x, out = np.array([start], dtype=np.float64), []
    for _ in range(steps):
        kwargs = {} if hvp is None else {"hvp": lambda v, x=x: hvp(x, v)}
        opt.update(x, closure=lambda x=x: (float(p.f(x).sum()), p.grad(x)), **kwargs)
        out.append(x[0].copy())
    return np.array(out)


def sophia(lr=0.01):
    return optim.Sophia(lr, gamma=1.0, update_interval=2, weight_decay=0.0)


@pytest.mark.parametrize("start", [(-3.3, 2.7), (0.4, -0.3), (1.2, 1.6)])
def test_sophia_on_a_surface_uses_the_exact_hessian(start):
    """run_batch (race, sweep, compare) gives Sophia the surface's H·v: after 9 updates its
    Hessian estimate (from update 9's probes) is the one Sophia makes given the product
    written out above, and not the central difference's (which is 2.5e-10 to 2.4e-9
    relative away on Rastrigin from these starts)."""
    p = CATALOGUE["rastrigin"]
    lab, exact, difference = sophia(), sophia(), sophia()
    run_batch(p, lab, np.array([start]), 9)
    path = by_hand(p, exact, start, 9, rastrigin_hvp)
    by_hand(p, difference, start, 9)
    ours, want, cd = (o.state[ROOT]["estimate"] for o in (lab, exact, difference))
    np.testing.assert_allclose(ours, want, rtol=1e-14)
    assert np.max(np.abs(cd - want) / np.abs(want)) > 5e-11
    assert np.max(np.abs(path[-1] - start)) > 0.05  # it moved


def test_sophia_in_a_sweep_uses_it_run_by_run():
    """Three runs with their own rates (one optimizer each): each path is Sophia's given
    Rosenbrock's H·v written out above (to rounding: the formulas differ)."""
    p = CATALOGUE["rosenbrock"]
    starts = np.array([[-1.5, 2.0], [0.5, -0.5], [1.2, 1.6]])
    rates = [0.002, 0.005, 0.01]
    batch = run_batch(p, sophia(np.array(rates)[:, None]), starts, 40)
    for i, (start, lr) in enumerate(zip(starts, rates)):
        np.testing.assert_allclose(batch.path[1:, i], by_hand(p, sophia(lr), start, 40,
                                                               rosenbrock_hvp),
                                   rtol=1e-12, atol=1e-12)
        assert np.max(np.abs(batch.path[-1, i] - start)) > 0.01  # it moved


def test_a_race_and_a_trace_of_sophia_use_it(tmp_path):
    from descentlab.lab.race import race
    from descentlab.lab.trace import trace

    p = CATALOGUE["rosenbrock"]
    spec = "sophia:lr=0.005,gamma=1.0,update_interval=2,weight_decay=0.0"
    expected = by_hand(p, sophia(0.005), p.start, 20, rosenbrock_hvp)
    entry = race(p, [spec], start=p.start, steps=20).entries[0]
    np.testing.assert_allclose(entry.path[1:], expected, rtol=1e-12, atol=1e-12)
    steps = trace(p, spec, steps=20).steps
    got = np.array([s.values["new point"] for s in steps])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
