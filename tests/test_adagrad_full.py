"""Full-matrix AdaGrad (adagrad_full) against hand computations written out here: two steps
with the 2×2 matrix square root in closed form (no eigh), the diagonal case, rotation; its
checkpoints, refusals and the lab."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from descentlab import optim, problems
from descentlab.cli import main
from descentlab.errors import InputError, LimitError, MissingKeyError, NonFiniteError
from descentlab.lab.engine import run_batch
from descentlab.lab.race import race
from descentlab.lab.trace import trace
from descentlab.optim import Groups


# ---------------------------------------------------------------- closed forms, by hand
def sqrt2x2(M):
    """√M of a symmetric positive semi-definite 2×2 matrix: (M + sI)/√(tr M + 2s), s = √det M
    (Cayley–Hamilton: X² = tr(X)·X − det(X)·I for X = √M)."""
    (a, b), (_, d) = M
    s = math.sqrt(a * d - b * b)
    t = math.sqrt(a + d + 2 * s)
    return [[(a + s) / t, b / t], [b / t, (d + s) / t]]


def solve2x2(M, v):
    """M⁻¹v by the adjugate."""
    (a, b), (c, d) = M
    det = a * d - b * c
    return [(d * v[0] - b * v[1]) / det, (a * v[1] - c * v[0]) / det]


def hand_two_steps(p0, g1, g2, lr, eps, h0, inside, lr_decay=0.0):
    """Two full-matrix AdaGrad steps from p0 with gradients g1, g2, by hand."""
    # step 1: G₁ = g₁g₁ᵀ, H₁ = G₁ + h₀I has g₁ as an eigenvector, eigenvalue ‖g₁‖² + h₀.
    lam = g1[0] ** 2 + g1[1] ** 2 + h0
    scale = 1 / math.sqrt(lam + eps) if inside else 1 / (math.sqrt(lam) + eps)
    p1 = [p0[i] - lr * scale * g1[i] for i in range(2)]
    # step 2: G₂ = g₁g₁ᵀ + g₂g₂ᵀ (full rank), the square root in closed form.
    G2 = [[g1[i] * g1[j] + g2[i] * g2[j] for j in range(2)] for i in range(2)]
    H2 = [[G2[i][j] + (h0 if i == j else 0.0) for j in range(2)] for i in range(2)]
    if inside:
        M = sqrt2x2([[H2[i][j] + (eps if i == j else 0.0) for j in range(2)] for i in range(2)])
    else:
        R = sqrt2x2(H2)
        M = [[R[i][j] + (eps if i == j else 0.0) for j in range(2)] for i in range(2)]
    lr2 = lr / (1 + lr_decay)
    d = solve2x2(M, g2)
    p2 = [p1[i] - lr2 * d[i] for i in range(2)]
    return p1, p2, G2


@pytest.mark.parametrize("inside", [False, True])
@pytest.mark.parametrize("eps, h0, lr_decay", [(1e-10, 0.0, 0.0), (0.5, 0.0, 0.0),
                                               (1e-7, 0.1, 0.0), (0.3, 0.1, 0.5)])
def test_two_steps_against_the_closed_form(inside, eps, h0, lr_decay):
    p0, g1, g2, lr = (1.0, -2.0), (3.0, 4.0), (1.0, -2.0), 0.7
    p1, p2, G2 = hand_two_steps(p0, g1, g2, lr, eps, h0, inside, lr_decay)
    opt = optim.AdaGradFull(lr=lr, eps=eps, initial_accumulator_value=h0, lr_decay=lr_decay,
                            eps_mode="inside" if inside else "outside")
    p = np.array(p0)
    opt.update(p, np.array(g1))
    np.testing.assert_allclose(p, p1, rtol=1e-14)
    opt.update(p, np.array(g2))
    np.testing.assert_allclose(p, p2, rtol=1e-13)
    np.testing.assert_array_equal(opt.state[""]["outer_sum"], G2)  # G = Σ g gᵀ, exactly
    # ε's place matters where it is large: outside and inside differ
    if eps == 0.5:
        other = hand_two_steps(p0, g1, g2, lr, eps, h0, not inside)[1]
        assert abs(other[0] - p2[0]) > 1e-3


def test_the_first_step_is_the_normalised_gradient_unlike_the_diagonals_sign():
    """G₁ = g gᵀ has rank 1: the full-matrix step is η·g/(‖g‖ + ε) (length η); the diagonal
    one is η·sign(g)·|g|/(|g| + ε) (length η√2 in 2-D). The zero eigenvalue eigh returns as
    ±1e-16·‖g‖² does not leak into the step (it would be ~1e-6 with ε = 1e-10 otherwise)."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        g = rng.standard_normal(2) * 10 ** rng.uniform(-4, 4)
        p = np.zeros(2)
        optim.AdaGradFull(lr=1.0).update(p, g)
        np.testing.assert_allclose(p, -g / (np.linalg.norm(g) + 1e-10), rtol=1e-14, atol=1e-16)
    q = np.zeros(2)
    optim.AdaGrad(lr=1.0).update(q, np.array([3.0, 4.0]))
    np.testing.assert_allclose(q, [-1.0, -1.0], rtol=1e-9)


@pytest.mark.parametrize("eps_mode, h0", [("outside", 0.0), ("inside", 0.1)])
def test_axis_aligned_gradients_give_the_diagonal_rule(eps_mode, h0):
    """Gradients each along one axis keep G diagonal: then the full matrix is the diagonal
    and adagrad_full is adagrad (to rounding)."""
    rng = np.random.default_rng(1)
    full = optim.AdaGradFull(lr=0.3, eps_mode=eps_mode, initial_accumulator_value=h0)
    diag = optim.AdaGrad(lr=0.3, eps_mode=eps_mode, initial_accumulator_value=h0)
    p, q = np.array([1.0, 2.0, -1.0]), np.array([1.0, 2.0, -1.0])
    for t in range(40):
        g = np.zeros(3)
        g[t % 3] = rng.standard_normal()
        full.update(p, g)
        diag.update(q, g.copy())
    np.testing.assert_allclose(p, q, rtol=1e-14)
    np.testing.assert_allclose(np.diag(full.state[""]["outer_sum"]) + h0, diag.state[""]["sum"],
                               rtol=1e-15)


def test_rotating_the_bowl_rotates_the_full_matrix_path_only():
    """Full-matrix AdaGrad is rotation-equivariant (G → QᵀGQ): its path on rotated_bowl from
    the turned start is the bowl's path turned. The diagonal one's is not: on the bowl it
    is at f = 7e-4 after 30 steps, on the rotated bowl at 0.15."""
    Q = np.array([[1.0, 1.0], [-1.0, 1.0]]) / math.sqrt(2)  # rotated_bowl(z) = bowl(Qz)
    bowl, turned = problems.get("bowl"), problems.get("rotated_bowl")
    z0 = Q.T @ np.array([-7.0, 2.0])
    np.testing.assert_allclose(turned.f(z0[None]), bowl.f(np.array([[-7.0, 2.0]])), rtol=1e-15)
    for name, close in (("adagrad_full", True), ("adagrad", False)):
        spec = f"{name}:lr=1.5,eps=1e-300"
        a = race(bowl, [spec], start=(-7, 2), steps=30).entries[0]
        b = race(turned, [spec], start=tuple(z0), steps=30).entries[0]
        gap = np.max(np.abs(b.path - a.path @ Q))  # rows: z = Qᵀw
        assert (gap < 1e-12) if close else (gap > 0.5), (name, gap)
    ends = {n: race(turned, [f"{n}:lr=1.5"], steps=30).entries[0].f[-1]
            for n in ("adagrad", "adagrad_full")}
    assert ends["adagrad_full"] < 1e-3 < 0.1 < ends["adagrad"]


# ---------------------------------------------------------------- all parameters as one
def test_a_dict_of_floats_is_one_vector_with_the_bits_of_one_array():
    rng = np.random.default_rng(2)
    gs = rng.standard_normal((6, 3))
    floats = {"a": 0.5, "b": -1.0, "c": 2.0}
    vector = np.array([0.5, -1.0, 2.0])
    of_floats, of_vector = optim.AdaGradFull(lr=0.1), optim.AdaGradFull(lr=0.1)
    for g in gs:
        of_floats.update(floats, {k: float(x) for k, x in zip("abc", g)})
        of_vector.update(vector, g)
    assert [floats[k] for k in "abc"] == vector.tolist()
    assert all(isinstance(floats[k], float) for k in "abc")
    np.testing.assert_array_equal(of_floats.state["[a, b, c]"]["outer_sum"],
                                  of_vector.state[""]["outer_sum"])
    assert of_floats.state["[a, b, c]"]["outer_sum"].shape == (3, 3)  # coupled, not diagonal


def test_arrays_of_several_shapes_and_dtypes_are_one_vector():
    rng = np.random.default_rng(3)
    params = {"W": rng.standard_normal((2, 3)), "b": rng.standard_normal(3).astype(np.float32)}
    flat = np.concatenate([params["W"].reshape(-1), params["b"].astype(np.float64)])
    opt, one = optim.AdaGradFull(lr=0.05), optim.AdaGradFull(lr=0.05)
    for _ in range(4):
        g = {"W": rng.standard_normal((2, 3)), "b": rng.standard_normal(3).astype(np.float32)}
        opt.update(params, g)
        one.update(flat, np.concatenate([g["W"].reshape(-1), g["b"].astype(np.float64)]))
        flat[6:] = flat[6:].astype(np.float32)  # b is stored in float32
    assert params["b"].dtype == np.float32 and params["W"].shape == (2, 3)
    np.testing.assert_array_equal(params["W"].reshape(-1), flat[:6])
    np.testing.assert_array_equal(params["b"], flat[6:].astype(np.float32))


def test_groups_make_it_block_diagonal():
    """In Groups each group is its own adagrad_full: one G per group (documented)."""
    rng = np.random.default_rng(4)
    params = {"w": rng.standard_normal(3), "bias": rng.standard_normal(2)}
    apart = copy.deepcopy(params)
    grouped = Groups(optim.AdaGradFull(lr=0.1), {"*bias": {}})
    w_opt, b_opt = optim.AdaGradFull(lr=0.1), optim.AdaGradFull(lr=0.1)
    for _ in range(3):
        g = {"w": rng.standard_normal(3), "bias": rng.standard_normal(2)}
        grouped.update(params, copy.deepcopy(g))
        w_opt.update(apart["w"], g["w"])
        b_opt.update(apart["bias"], g["bias"])
    for k in params:
        np.testing.assert_array_equal(params[k], apart[k])


# ---------------------------------------------------------------- checkpoints
@pytest.mark.parametrize("tree", ["array", "floats"])
def test_checkpoint_round_trip_resumes_bit_for_bit(tmp_path, tree):
    rng = np.random.default_rng(5)
    gs = rng.standard_normal((8, 2))

    def params():
        return np.array([1.0, -1.0]) if tree == "array" else {"x": 1.0, "y": -1.0}

    def grad(g):
        return g.copy() if tree == "array" else {"x": float(g[0]), "y": float(g[1])}

    straight, p = optim.AdaGradFull(lr=0.2, eps_mode="inside"), params()
    for g in gs:
        straight.update(p, grad(g))
    first, q = optim.AdaGradFull(lr=0.2, eps_mode="inside"), params()
    for g in gs[:4]:
        first.update(q, grad(g))
    first.save(tmp_path / "c.npz")
    resumed = optim.AdaGradFull(lr=0.2, eps_mode="inside")
    resumed.load(tmp_path / "c.npz")
    for g in gs[4:]:
        resumed.update(q, grad(g))
    if tree == "array":
        np.testing.assert_array_equal(p, q)
    else:
        assert p == q
    with pytest.raises(InputError, match="eps_mode"):  # the option is checked
        optim.AdaGradFull(lr=0.2).load(tmp_path / "c.npz")


def test_a_checkpoint_with_a_wrong_matrix_is_refused_and_changes_nothing():
    opt = optim.AdaGradFull()
    opt.update(np.ones(2), np.ones(2))
    d = opt.state_dict()
    d["state"][""]["outer_sum"] = np.zeros((2, 3))
    fresh = optim.AdaGradFull()
    with pytest.raises(InputError, match=r"outer_sum.*shape \(2, 3\), expected \(2, 2\)"):
        fresh.load_state_dict(d)
    assert fresh.state == {} and fresh.step == 0
    d = opt.state_dict()
    d["state"][""] = {"sum": np.zeros(2)}  # diagonal AdaGrad's slot
    with pytest.raises(MissingKeyError, match="outer_sum"):
        fresh.load_state_dict(d)


# ---------------------------------------------------------------- refusals
def snapshot(opt):
    return copy.deepcopy(opt.state_dict())


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], dict):
            assert_same(a[k], b[k])
        elif isinstance(a[k], np.ndarray):
            np.testing.assert_array_equal(a[k], b[k])
        else:
            assert a[k] == b[k]


def test_more_parameters_than_the_limit_are_refused_naming_the_size(monkeypatch):
    opt = optim.AdaGradFull()
    p = {"W": np.ones((20, 50)), "b": np.ones(1)}
    with pytest.raises(LimitError, match="1,001 parameters are more than its limit of 1,000"):
        opt.update(p, {"W": np.ones((20, 50)), "b": np.ones(1)})
    assert opt.state == {} and opt.step == 0 and np.all(p["W"] == 1)
    monkeypatch.setattr(optim.AdaGradFull, "max_parameters", 10)
    x = np.ones(10)  # exactly the limit is fine
    optim.AdaGradFull(lr=0.5).update(x, np.ones(10))
    np.testing.assert_allclose(x, 1 - 0.5 / (math.sqrt(10) + 1e-10), rtol=1e-14)  # g/(‖g‖ + ε)
    with pytest.raises(LimitError, match="11 parameters are more than its limit of 10"):
        optim.AdaGradFull().update(np.ones(11), np.ones(11))


@pytest.mark.parametrize("bad, grads, error, fragment", [
    ("nan", {"x": 1.0, "y": float("nan")}, NonFiniteError,
     "the gradient of parameter 'y' is not finite at step 3"),
    ("shape", {"x": 1.0, "y": np.ones(2)}, InputError, "has shape"),
    ("missing", {"x": 1.0}, MissingKeyError, "grads has no entry for parameter 'y'"),
])
def test_a_failed_update_names_the_culprit_and_changes_nothing(bad, grads, error, fragment):
    opt, p = optim.AdaGradFull(lr=0.1), {"x": 1.0, "y": 2.0}
    for _ in range(2):
        opt.update(p, {"x": 0.5, "y": -1.0})
    before, p_before = snapshot(opt), dict(p)
    with pytest.raises(error, match=fragment):
        opt.update(p, grads)
    assert_same(snapshot(opt), before)
    assert p == p_before


def test_other_refusals():
    opt = optim.AdaGradFull(eps=np.full((2, 1), 1e-8))  # a sweep's array is fine to build ...
    with pytest.raises(InputError, match="eps is added to a matrix: it must be one number"):
        opt.update(np.ones((2, 2)), np.ones((2, 2)))  # ... the lab gives each run its own
    assert opt.state == {}
    one, other = optim.AdaGradFull(eps=np.full((1, 1), 0.5)), optim.AdaGradFull(eps=0.5)
    a, b = np.ones((1, 2)), np.ones((1, 2))
    one.update(a, np.array([[1.0, 2.0]]))
    other.update(b, np.array([[1.0, 2.0]]))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(InputError, match="use clip_global_norm"):
        optim.AdaGradFull(clip_norm=1.0).update({"a": 1.0, "b": 1.0}, {"a": 1.0, "b": 1.0})
    x = np.ones(4)
    with pytest.raises(InputError, match="share memory"):
        optim.AdaGradFull().update({"a": x, "b": x[1:3]}, {"a": np.ones(4), "b": np.ones(2)})
    np.testing.assert_array_equal(x, np.ones(4))
    opt, p = optim.AdaGradFull(), {"W": np.ones((2, 3)), "b": np.ones(3)}
    opt.update(p, {"W": np.ones((2, 3)), "b": np.ones(3)})
    with pytest.raises(InputError, match=r"parameter 'W' has shape \(3, 2\)"):
        opt.update({"W": np.ones((3, 2)), "b": np.ones(3)},
                   {"W": np.ones((3, 2)), "b": np.ones(3)})
    other = optim.AdaGradFull()  # a checkpoint of another layout of the same paths is fine
    other.update({"W": np.ones((3, 2)), "b": np.ones(3)}, {"W": np.ones((3, 2)), "b": np.ones(3)})
    opt.load_state_dict(other.state_dict())
    opt.update({"W": np.ones((3, 2)), "b": np.ones(3)}, {"W": np.ones((3, 2)), "b": np.ones(3)})
    skip = optim.AdaGradFull(nonfinite="skip")
    q = {"a": 1.0, "b": 1.0}
    with pytest.warns(RuntimeWarning, match="parameter 'b' is not finite at step 1; update "
                                            "skipped"):
        skip.update(q, {"a": 1.0, "b": float("inf")})
    assert skip.skipped_steps == 1 and skip.step == 0 and q == {"a": 1.0, "b": 1.0}


def test_a_gradient_whose_outer_product_overflows_gives_nan_not_a_half_update():
    x = np.array([1.0, 1.0])
    opt = optim.AdaGradFull()
    opt.update(x, np.array([1e200, 1.0]))
    assert np.all(np.isnan(x)) and opt.step == 1


# ---------------------------------------------------------------- the lab
def test_race_command_and_sweeps_of_array_hyperparameters(tmp_path):
    assert main(["race", "--problem", "rotated_bowl", "--steps", "10", "--optimizers",
                 "adagrad:lr=1.5", "adagrad_full:lr=1.5", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "manifest.json").exists()
    # K runs with a (K, 1) rate: each run is its own optimizer (not element-wise), so each
    # row equals the run made alone.
    lrs = np.array([[0.5], [1.0], [1.5]])
    starts = np.array([[-6.4, -3.5]] * 3)
    batch = run_batch(problems.get("rotated_bowl"), optim.AdaGradFull(lr=lrs), starts, 12)
    for i, lr in enumerate(lrs[:, 0]):
        alone = run_batch(problems.get("rotated_bowl"), optim.AdaGradFull(lr=float(lr)),
                          starts[:1], 12)
        np.testing.assert_array_equal(batch.path[:, i], alone.path[:, 0])


def test_exact_trace_keeps_g_exact_and_says_why_the_step_is_not():
    t = trace(problems.get("bowl"), "adagrad_full:lr=1.5", (-7, 2), 2, exact=True)
    step = t.steps[0]
    # G₁ = g gᵀ with g = (−7/10, 4): exact rationals, row by row
    assert [str(e) for e in step.exact["outer_sum[x]"]] == ["49/100", "-14/5"]
    assert [str(e) for e in step.exact["outer_sum[y]"]] == ["-14/5", "16"]
    assert step.exact["new point"] == [None, None]
    assert "eigendecomposition, which has no exact form" in t.note
    # the float run's first step is η·g/‖g‖ (ε → 0), by hand
    g = np.array([-0.7, 4.0])
    np.testing.assert_allclose(step.values["new point"], [-7, 2] - 1.5 * g / np.linalg.norm(g),
                               rtol=1e-14)
    assert "outer_sum[x]" in t.table() and "≈" in t.table()


def test_describe_gives_the_limit_and_the_textbook_form():
    d = optim.describe("adagrad_full")
    assert d["max_parameters"] == optim.AdaGradFull.max_parameters == 1000
    assert d["equations"][0].startswith("G ← G + g·gᵀ")
    assert {o["name"]: o.get("allowed") for o in d["options"]}["eps_mode"] == ["outside",
                                                                              "inside"]
    assert optim.describe("adagrad")["max_parameters"] is None
    nesterov = {o["name"]: o for o in optim.describe("nesterov")["options"]}
    assert nesterov["nesterov_form"]["allowed"] == ["standard", "textbook"]
    assert nesterov["nesterov_form"]["default"] == "standard"
