"""The shared API: trees, hyperparameters, errors, dtypes, checkpoints, properties."""

from __future__ import annotations

import copy
import math
import os

import numpy as np
import pytest
from helpers import assert_same
from hypothesis import given, settings
from hypothesis import strategies as st

from descentlab import optim

#: The optimizers that take update(params, grads) for parameters of any shape (Muon takes
#: matrices only, L-BFGS a closure: tests/test_optim_torch_more.py covers them; the other
#: rules that need a closure: tests/test_optim_closure.py).
NAMES = sorted(n for n in optim.OPTIMIZERS if n not in ("muon", "lbfgs")
               and not getattr(optim.OPTIMIZERS[n], "needs_closure", False))


def random_grads(params, rng):
    return {k: rng.standard_normal(np.shape(v)) for k, v in params.items()}


def snapshot(opt, params):
    return copy.deepcopy(params), copy.deepcopy(opt.state_dict())


# ------------------------------------------------------------------ trees
def test_dict_of_floats_values_replaced():
    params = {"x": 1.0, "y": 2.0}
    optim.SGD(0.5).update(params, {"x": 2.0, "y": 1.0})
    assert params == {"x": 0.0, "y": 1.5}
    assert type(params["x"]) is float


def test_list_tuple_array_and_nested_trees():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(3), rng.standard_normal((2, 2))
    tree = {"layer": [a, {"w": b}], "s": [1.0]}
    grads = {"layer": [np.ones(3), {"w": np.ones((2, 2))}], "s": [1.0]}
    opt = optim.Adam(0.1)
    a0 = a.copy()
    opt.update(tree, grads)
    assert tree["layer"][0] is a and not np.allclose(a, a0)
    assert set(opt.state) == {"layer/0", "layer/1/w", "s/0"}
    single = np.zeros(4)
    optim.SGD(1.0).update(single, np.ones(4))
    np.testing.assert_array_equal(single, -np.ones(4))
    tup = (np.zeros(2), np.zeros(2))
    optim.SGD(1.0).update(tup, (np.ones(2), np.ones(2)))
    np.testing.assert_array_equal(tup[1], -np.ones(2))


def test_state_is_keyed_by_name_not_position():
    """Reordering the dict does not mix up state (the classic bug of positional state)."""
    opt = optim.Adam(0.1)
    params = {"a": np.zeros(2), "b": np.zeros(3)}
    opt.update(params, {"a": np.ones(2), "b": -np.ones(3)})
    reordered = {"b": params["b"], "a": params["a"]}
    opt.update(reordered, {"b": -np.ones(3), "a": np.ones(2)})
    np.testing.assert_allclose(opt.state["a"]["m"], 0.19 * np.ones(2))
    np.testing.assert_allclose(opt.state["b"]["m"], -0.19 * np.ones(3))


# ------------------------------------------------------------------ errors at construction
@pytest.mark.parametrize(
    "make,fragment",
    [
        (lambda: optim.SGD(lr=-0.1), "lr must be >= 0, got -0.1"),
        (lambda: optim.Adam(beta1=1.0), "beta1 must be in [0, 1), got 1.0"),
        (lambda: optim.Adam(beta2=-0.5), "beta2 must be in [0, 1), got -0.5"),
        (lambda: optim.Adam(eps=0.0), "eps must be > 0, got 0.0"),
        (lambda: optim.RMSprop(eps=-1e-8), "eps must be > 0"),
        (lambda: optim.Momentum(momentum=-0.9), "momentum must be >= 0, got -0.9"),
        (lambda: optim.Momentum(nesterov=True, dampening=0.1), "nesterov needs"),
        (lambda: optim.Momentum(nesterov=True, momentum=0.0), "nesterov needs"),
        (lambda: optim.Adadelta(rho=1.5), "rho must be in [0, 1], got 1.5"),
        (lambda: optim.AdaGrad(lr_decay=-1), "lr_decay must be >= 0"),
        (lambda: optim.AdaGrad(initial_accumulator_value=-1), "initial_accumulator_value"),
        (lambda: optim.Adam(weight_decay=-0.1), "weight_decay must be >= 0"),
        (lambda: optim.Adam(lr=float("nan")), "lr must be finite and >= 0, got nan"),
        (lambda: optim.SGD(lr=float("inf")), "lr must be finite and >= 0, got inf"),
        # (a hyperparameter of any sign is told "finite" once, not "finite and finite")
        (lambda: optim.Momo(lower_bound=-math.inf), "lower_bound must be finite, got -inf"),
        (lambda: optim.Momo(lower_bound=10**400), "lower_bound must be finite, got 1000"),
        (lambda: optim.Adam(lr=np.array([[0.1], [-2.0]])), "lr must be >= 0, got -2.0"),
        (lambda: optim.Adam(eps_mode="sideways"), "eps_mode must be one of"),
        (lambda: optim.Adam(lr="fast"), "lr must be a number"),
        (lambda: optim.Adam(nonfinite="sometimes"), "nonfinite must be one of"),
        (lambda: optim.SGD(clip_global_norm=0), "clip_global_norm must be > 0"),
        (lambda: optim.create("adamm"), "unknown optimizer 'adamm' (did you mean 'adam'?); "
                                        "available: acprop, adabelief, adadelta"),
        (lambda: optim.create("adam", bta1=0.3), "no argument 'bta1' (did you mean 'beta1'?)"),
        (lambda: optim.create("sgd", momentum=0.9), "SGD has no argument 'momentum'"),
    ],
)
def test_invalid_hyperparameters_are_named(make, fragment):
    with pytest.raises((ValueError, TypeError)) as info:
        make()
    assert fragment in str(info.value)


def test_setting_a_bad_value_mid_run_is_refused_and_keeps_the_old():
    opt = optim.Adam(0.1)
    with pytest.raises(ValueError, match="beta1"):
        opt.beta1 = 1.2
    assert opt.beta1 == 0.9


# ------------------------------------------------------------------ errors at update
BAD_UPDATES = [
    ({"x": np.ones(3)}, "grads has no entry for parameter 'y'", KeyError),
    ({"x": np.ones(3), "y": np.ones(2), "z": 1.0}, "entry 'z' that matches no parameter",
     KeyError),
    ({"x": np.ones(4), "y": np.ones(2)}, "gradient of parameter 'x' has shape (4,)", ValueError),
    ({"x": np.ones(3), "y": np.array([1.0, np.nan])}, "parameter 'y' is not finite at step 2",
     FloatingPointError),
    ({"x": np.ones(3), "y": "one"}, "gradient of parameter 'y' is a str", TypeError),
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("grads,fragment,exc", BAD_UPDATES)
def test_failed_update_names_the_parameter_and_changes_nothing(name, grads, fragment, exc):
    params = {"x": np.linspace(-1, 1, 3), "y": np.array([0.5, -0.5])}
    opt = optim.create(name)
    opt.update(params, {"x": np.ones(3), "y": np.ones(2)})
    before_params, before_state = snapshot(opt, params)
    with pytest.raises(exc) as info:
        opt.update(params, grads)
    assert fragment in str(info.value)
    after_params, after_state = snapshot(opt, params)
    assert_same(before_params, after_params)
    assert_same(before_state, after_state)


def test_parameter_type_errors():
    with pytest.raises(TypeError, match="parameter 'n' is an integer"):
        optim.SGD().update({"n": 3}, {"n": 1.0})
    with pytest.raises(TypeError, match="parameter 'a' has dtype int64"):
        optim.SGD().update({"a": np.arange(3)}, {"a": np.ones(3)})
    with pytest.raises(TypeError, match="parameter 's' is a str"):
        optim.SGD().update({"s": "x"}, {"s": 1.0})
    with pytest.raises(TypeError, match="Python float at the root"):
        optim.SGD().update(1.0, 1.0)
    with pytest.raises(TypeError, match="inside a tuple"):
        optim.SGD().update((1.0,), (1.0,))
    frozen = np.zeros(2)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        optim.SGD().update({"w": frozen}, {"w": np.ones(2)})


def test_structure_change_is_named():
    opt = optim.Adam()
    opt.update({"a": np.zeros(2)}, {"a": np.ones(2)})
    with pytest.raises(KeyError, match="parameter 'b' was not among"):
        opt.update({"a": np.zeros(2), "b": np.zeros(1)}, {"a": np.ones(2), "b": np.ones(1)})
    with pytest.raises(ValueError, match=r"parameter 'a' has shape \(3,\)"):
        opt.update({"a": np.zeros(3)}, {"a": np.ones(3)})
    with pytest.raises(KeyError, match="parameter 'c' was not among"):
        opt.update({"c": np.zeros(2)}, {"c": np.ones(2)})
    two = optim.Adam()
    two.update({"a": np.zeros(2), "b": 1.0}, {"a": np.ones(2), "b": 1.0})
    with pytest.raises(KeyError, match="parameter 'b' is missing"):
        two.update({"a": np.zeros(2)}, {"a": np.ones(2)})


def test_hyperparameter_that_does_not_broadcast_is_named():
    opt = optim.SGD(lr=np.full((3, 1), 0.1))
    with pytest.raises(ValueError, match=r"lr has shape \(3, 1\).*parameter 'x' of shape \(2,\)"):
        opt.update({"x": np.zeros(2)}, {"x": np.ones(2)})


def test_nonfinite_skip_counts_and_warns():
    params = {"x": np.ones(2)}
    opt = optim.Adam(0.1, nonfinite="skip")
    with pytest.warns(RuntimeWarning, match="parameter 'x' is not finite at step 1"):
        opt.update(params, {"x": np.array([np.inf, 0.0])})
    assert opt.skipped_steps == 1 and opt.step == 0
    np.testing.assert_array_equal(params["x"], np.ones(2))
    opt.update(params, {"x": np.ones(2)})
    assert opt.step == 1


def test_large_but_finite_gradients_are_not_flagged():
    """The finiteness check sums first; an overflowing sum of finite values is re-checked."""
    g = np.full(4, 3e38, dtype=np.float32)
    params = {"x": np.zeros(4, np.float32)}
    optim.SGD(1e-40).update(params, {"x": g})


# ------------------------------------------------------------------ dtypes
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype,state_dtype", [(np.float16, np.float32),
                                               (np.float32, np.float32),
                                               (np.float64, np.float64)])
def test_dtype_is_kept(name, dtype, state_dtype):
    params = {"w": np.linspace(-1, 1, 5).astype(dtype)}
    opt = optim.create(name)
    for _ in range(3):
        opt.update(params, {"w": np.linspace(1, 2, 5).astype(dtype)})
    assert params["w"].dtype == dtype
    for a in opt.state["w"].values():
        assert a.dtype == state_dtype


def test_float16_update_is_the_float32_update_rounded():
    p16 = {"w": np.linspace(-1, 1, 5).astype(np.float16)}
    p32 = {"w": p16["w"].astype(np.float32)}
    o16, o32 = optim.Adam(0.01), optim.Adam(0.01)
    g = np.linspace(1, 2, 5).astype(np.float32)
    o16.update(p16, {"w": g.astype(np.float16)})
    o32.update(p32, {"w": g.astype(np.float16).astype(np.float32)})
    np.testing.assert_array_equal(p16["w"], p32["w"].astype(np.float16))


# ------------------------------------------------------------------ mid-run changes
def test_lr_change_takes_effect_at_next_update():
    params = {"x": 0.0}
    opt = optim.SGD(0.1)
    opt.update(params, {"x": 1.0})
    opt.lr = 0.5
    opt.update(params, {"x": 1.0})
    assert params["x"] == pytest.approx(-0.6)
    assert opt.current_lr == 0.5 and opt.step == 2


def test_callable_lr_is_called_with_update_count():
    seen = []

    def schedule(n):
        seen.append(n)
        return 0.1 / (n + 1)

    params = {"x": 0.0}
    opt = optim.SGD(schedule)
    for _ in range(3):
        opt.update(params, {"x": 1.0})
    assert seen == [0, 1, 2]
    assert params["x"] == pytest.approx(-(0.1 + 0.05 + 0.1 / 3))
    opt2 = optim.SGD(lambda n: -1.0)
    message = r"lr must be >= 0, got -1.0 \(from its schedule at step 1"
    with pytest.raises(ValueError, match=message):
        opt2.update({"x": 0.0}, {"x": 1.0})


# ------------------------------------------------------------------ checkpoints
def _trajectory(opt, params, grads):
    for g in grads:
        opt.update(params, g)
    return params


@pytest.mark.parametrize("name", [*NAMES, "amsgrad"])
@pytest.mark.parametrize("via_file", [False, True])
def test_resume_is_bit_identical(name, via_file, tmp_path):
    rng = np.random.default_rng(3)
    params = {"w": rng.standard_normal((3, 2)).astype(np.float32), "b": 0.5}
    grads = [{"w": rng.standard_normal((3, 2)).astype(np.float32), "b": float(rng.normal())}
             for _ in range(10)]
    straight = _trajectory(optim.create(name, lr=0.01), copy.deepcopy(params), grads)
    first = optim.create(name, lr=0.01)
    half = _trajectory(first, copy.deepcopy(params), grads[:5])
    second = optim.create(name, lr=0.01)
    if via_file:
        first.save(tmp_path / "opt.npz")
        second.load(tmp_path / "opt.npz")
    else:
        second.load_state_dict(first.state_dict())
    resumed = _trajectory(second, half, grads[5:])
    np.testing.assert_array_equal(resumed["w"], straight["w"])
    assert resumed["b"] == straight["b"]
    assert second.step == 10


def test_checkpoint_restores_hyperparameters_and_array_hyperparameters(tmp_path):
    opt = optim.Adam(lr=np.array([[0.1], [0.2]]), beta2=0.5)
    opt.update({"x": np.zeros((2, 2))}, {"x": np.ones((2, 2))})
    opt.save(tmp_path / "a.npz")
    fresh = optim.Adam()
    fresh.load(tmp_path / "a.npz")
    np.testing.assert_array_equal(fresh.lr, [[0.1], [0.2]])
    assert fresh.beta2 == 0.5 and isinstance(fresh.beta2, float)


def test_load_state_dict_is_strict_and_names_entries():
    opt = optim.Adam()
    opt.update({"a": np.zeros(2), "b": np.zeros(3)}, {"a": np.ones(2), "b": np.ones(3)})
    good = opt.state_dict()

    def broken(edit):
        d = copy.deepcopy(good)
        edit(d)
        return d

    cases = [
        (lambda d: d["state"].pop("b"), "disagree about parameter 'b'"),
        (lambda d: (d["state"].pop("b"), d["shapes"].pop("b")), "no state for parameter 'b'"),
        (lambda d: (d["state"].__setitem__("c", {}), d["shapes"].__setitem__("c", (1,))),
         "state for parameter 'c', which"),
        (lambda d: d["state"]["a"].pop("v"), "state for parameter 'a' has no 'v'"),
        (lambda d: d["state"]["a"].__setitem__("extra", np.zeros(2)), "unknown entry 'extra'"),
        (lambda d: d["state"]["a"].__setitem__("m", np.zeros(5)), "'m' for parameter 'a' has "
                                                                   "shape (5,)"),
        (lambda d: d.__setitem__("optimizer", "sgd"), "checkpoint is for optimizer 'sgd'"),
        (lambda d: d["options"].__setitem__("amsgrad", True), "written with amsgrad=True"),
        (lambda d: d["hyperparameters"].__setitem__("beta1", 2.0), "beta1 must be in [0, 1)"),
        (lambda d: d["hyperparameters"].pop("eps"), "no value for hyperparameter 'eps'"),
    ]
    for edit, fragment in cases:
        before = copy.deepcopy(opt.state_dict())
        with pytest.raises((KeyError, ValueError)) as info:
            opt.load_state_dict(broken(edit))
        assert fragment in str(info.value), (fragment, str(info.value))
        assert_same(before, opt.state_dict())


def test_loaded_checkpoint_checks_parameters_at_next_update():
    opt = optim.Adam()
    opt.update({"a": np.zeros(2)}, {"a": np.ones(2)})
    fresh = optim.Adam()
    fresh.load_state_dict(opt.state_dict())
    with pytest.raises(ValueError, match=r"parameter 'a' has shape \(3,\)"):
        fresh.update({"a": np.zeros(3)}, {"a": np.ones(3)})


def test_save_is_atomic(tmp_path, monkeypatch):
    opt = optim.Adam()
    opt.update({"a": np.zeros(2)}, {"a": np.ones(2)})
    target = tmp_path / "ckpt.npz"
    opt.save(target)
    original = target.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        opt.save(target)
    assert target.read_bytes() == original
    assert sorted(os.listdir(tmp_path)) == ["ckpt.npz"]


# ------------------------------------------------------------------ properties
finite = st.floats(-10, 10, allow_nan=False)


@settings(max_examples=40, deadline=None)
# rprop: its lr is only Δ₀, clamped ≥ Δmin; madgrad: x ← (1 − μ)·z + μ·x rounds by an ulp
# even when z = x (its dual-averaging point does not move at η = 0, its mix does)
@given(name=st.sampled_from([n for n in NAMES if n not in ("rprop", "madgrad")]),
       seed=st.integers(0, 2**32 - 1), wd=st.sampled_from([0, 0.1]))
def test_zero_learning_rate_changes_nothing(name, seed, wd):
    rng = np.random.default_rng(seed)
    params = {"w": rng.standard_normal(4), "s": float(rng.normal())}
    before = copy.deepcopy(params)
    opt = optim.create(name, lr=0.0, weight_decay=wd)
    for _ in range(3):
        opt.update(params, random_grads(params, rng))
    np.testing.assert_array_equal(params["w"], before["w"])
    assert params["s"] == before["s"]


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from([n for n in NAMES if optim.OPTIMIZERS[n].elementwise]),
       seed=st.integers(0, 2**32 - 1), k=st.integers(1, 5))
def test_broadcast_runs_equal_separate_runs(name, seed, k):
    """K runs with their own lr (shape (K, 1)) against x of shape (K, 2) == K separate runs.
    (Element-wise rules only: LAMB's and LARS's norms couple the rows of one array; the lab
    engine runs such rules one copy per run.)"""
    rng = np.random.default_rng(seed)
    lrs = rng.uniform(0.001, 0.5, size=(k, 1))
    x0 = rng.standard_normal((k, 2))
    grads = [rng.standard_normal((k, 2)) for _ in range(5)]
    together = {"x": x0.copy()}
    opt = optim.create(name, lr=lrs)
    for g in grads:
        opt.update(together, {"x": g})
    for i in range(k):
        alone = {"x": x0[i].copy()}
        opt_i = optim.create(name, lr=float(lrs[i, 0]))
        for g in grads:
            opt_i.update(alone, {"x": g[i]})
        np.testing.assert_allclose(together["x"][i], alone["x"], rtol=1e-12, atol=1e-15)


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(NAMES), seed=st.integers(0, 2**32 - 1), steps=st.integers(0, 4))
def test_state_dict_round_trip(name, seed, steps):
    rng = np.random.default_rng(seed)
    params = {"w": rng.standard_normal(3)}
    opt = optim.create(name)
    for _ in range(steps):
        opt.update(params, random_grads(params, rng))
    other = optim.create(name)
    other.load_state_dict(opt.state_dict())
    assert_same(opt.state_dict(), other.state_dict())


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(NAMES), seed=st.integers(0, 2**32 - 1),
       which=st.sampled_from(["missing", "shape", "nan", "extra"]))
def test_failed_update_changes_nothing_property(name, seed, which):
    rng = np.random.default_rng(seed)
    params = {"w": rng.standard_normal(3), "v": rng.standard_normal((2, 2))}
    opt = optim.create(name)
    opt.update(params, random_grads(params, rng))
    grads = random_grads(params, rng)
    if which == "missing":
        del grads["v"]
    elif which == "shape":
        grads["v"] = np.ones(4)
    elif which == "nan":
        grads["v"][1, 1] = np.nan
    else:
        grads["u"] = np.ones(1)
    before = snapshot(opt, params)
    with pytest.raises((KeyError, ValueError, FloatingPointError)):
        opt.update(params, grads)
    after = snapshot(opt, params)
    assert_same(before[0], after[0])
    assert_same(before[1], after[1])
