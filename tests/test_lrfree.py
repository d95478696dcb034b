"""The learning-rate-free rules (DoG/LDoG, DoWG, Prodigy, D-Adapt AdamW, Mechanize) and the
rule-wide pre-pass they stand on (``Optimizer.prepass``).

Against the authors' packages in float64 (``prodigyopt`` 1.1.2, ``dadaptation`` 3.2,
``dog-optimizer`` 1.0.3): random shapes, hyperparameters and 100 steps of gradients with a
drift (so that the distance estimates d actually grow), every option those packages have
that we have; optax's forms are in tests/test_optim_optax.py. Then the hook itself: what the
pre-pass sees, nothing changed when it raises, the paths that pack parameters, K runs of the
lab, checkpoints and resume, bad input.
"""

from __future__ import annotations

import copy
import functools

import dadaptation
import dog as dog_authors
import numpy as np
import prodigyopt
import pytest
from helpers import assert_resume_is_bit_identical, assert_same
from torch_trajectory import documented_worst, problem, run_ours, torch_trajectory

from descentlab import optim, problems
from descentlab.errors import InputError, NonFiniteError
from descentlab.lab.engine import run_batch
from descentlab.optim.flat import FlatParams


def _u(rng, lo, hi):
    return float(rng.uniform(lo, hi))


def drifting(name, seed):
    """torch_trajectory's random problem, each gradient plus a fixed drift of its array (a
    direction to travel: the distance estimates grow)."""
    rng, params, grads = problem(name, seed)
    drift = {k: 0.5 * rng.standard_normal(np.shape(v)) for k, v in params.items()}
    return rng, params, [{k: g[k] + drift[k] for k in g} for g in grads]


def wavy(lr, k):
    return lr * (1 + 0.5 * np.sin(k))


def warm_up(lr, k):
    """A rate from 0 (the first step: nothing moves in the authors' code) up to lr."""
    return lr * min(k / 4, 1.0)


def idle_start(options, grads, lr):
    """With option ``idle``: zero gradients for the first 3 steps and a warm-up from 0 (steps
    that change nothing, and count no step, in the authors' code); else the rate of option
    ``schedule`` (or none)."""
    if options.get("idle"):
        return [{k: np.zeros_like(v) for k, v in g.items()} for g in grads[:3]] + grads[3:], \
            functools.partial(warm_up, lr)
    return grads, functools.partial(wavy, lr) if options.get("schedule") else None


# ------------------------------------------------------------------ the authors' packages
def prodigy_case(options, seed):
    rng, params, grads = drifting(f"prodigy{sorted(options)}", seed)
    lr, b1, b2 = _u(rng, 0.5, 1.5), _u(rng, 0.5, 0.95), _u(rng, 0.9, 0.999)
    b1 = 0.0 if options.get("beta1=0") else b1
    b3 = _u(rng, 0.5, 0.99) if options.get("beta3") else None
    eps, d0, coef = 10 ** _u(rng, -8, -4), 10 ** _u(rng, -6, -3), _u(rng, 0.5, 2.0)
    wd = _u(rng, 0.0, 0.01) if options.get("decay") else 0.0
    growth = _u(rng, 1.01, 1.1) if options.get("growth_rate") else None
    decoupled = not options.get("l2")
    flags = {k: bool(options.get(k)) for k in ("use_bias_correction", "safeguard_warmup")}
    flags["slice_p"] = options.get("slice_p", 1)
    grads, lr_at = idle_start(options, grads, lr)
    make = functools.partial(prodigyopt.Prodigy, lr=lr, betas=(b1, b2), beta3=b3, eps=eps,
                             weight_decay=wd, decouple=decoupled, d0=d0, d_coef=coef,
                             growth_rate=growth or float("inf"), **flags)
    expected = torch_trajectory(make, params, grads, lr_at=lr_at)
    ours = optim.Prodigy(lr_at or lr, b1, b2, b3, eps, wd, d0=d0, d_coef=coef,
                         growth_rate=growth, decoupled_weight_decay=decoupled, **flags)
    return ours, params, grads, expected


def dadapt_case(options, seed):
    rng, params, grads = drifting(f"dadapt{sorted(options)}", seed)
    lr, b1, b2 = _u(rng, 0.5, 1.5), _u(rng, 0.5, 0.95), _u(rng, 0.9, 0.999)
    eps, d0 = 10 ** _u(rng, -8, -4), 10 ** _u(rng, -6, -3)
    wd = _u(rng, 0.0, 0.01) if options.get("decay") else 0.0
    growth = _u(rng, 1.01, 1.1) if options.get("growth_rate") else None
    decoupled = not options.get("l2")
    bc = bool(options.get("use_bias_correction"))
    grads, lr_at = idle_start(options, grads, lr)
    make = functools.partial(dadaptation.DAdaptAdam, lr=lr, betas=(b1, b2), eps=eps,
                             weight_decay=wd, decouple=decoupled, use_bias_correction=bc,
                             d0=d0, growth_rate=growth or float("inf"))
    expected = torch_trajectory(make, params, grads, lr_at=lr_at)
    ours = optim.DAdaptAdamW(lr_at or lr, b1, b2, eps, wd, d0=d0, growth_rate=growth,
                             use_bias_correction=bc, decoupled_weight_decay=decoupled)
    return ours, params, grads, expected


def dog_case(options, seed):
    rng, params, grads = drifting(f"dog{sorted(options)}", seed)
    lr, eps = _u(rng, 0.5, 1.5), 10 ** _u(rng, -10, -6)
    wd = _u(rng, 0.0, 0.01) if options.get("decay") else 0.0
    layerwise = bool(options.get("layerwise"))
    cls = dog_authors.LDoG if layerwise else dog_authors.DoG
    if options.get("init_eta"):  # the authors' first step η₁, without their γ = lr
        eta = 10 ** _u(rng, -4, -2)
        make = functools.partial(cls, lr=lr, init_eta=eta, eps=eps, weight_decay=wd)
        ours = optim.DoG(lr, "learning_rate", eta / lr, eps, wd, layerwise=layerwise)
    else:
        reps = 10 ** _u(rng, -6, -3)
        make = functools.partial(cls, lr=lr, reps_rel=reps, eps=eps, weight_decay=wd)
        ours = optim.DoG(lr, "heuristic", reps, eps, wd, layerwise=layerwise)
    return ours, params, grads, torch_trajectory(make, params, grads)


AUTHORS = {
    "prodigy": [(prodigy_case, o) for o in (
        {}, {"decay": True}, {"decay": True, "l2": True}, {"beta1=0": True},
        {"use_bias_correction": True, "beta3": True}, {"safeguard_warmup": True},
        {"growth_rate": True, "decay": True}, {"schedule": True},
        {"idle": True, "decay": True, "use_bias_correction": True},
        # prodigyopt's slice_p: s and x0 over every slice_p-th element
        {"slice_p": 2}, {"slice_p": 11, "decay": True, "use_bias_correction": True},
        {"slice_p": 2, "decay": True, "l2": True},
        {"slice_p": 11, "beta1=0": True, "beta3": True},
        {"slice_p": 11, "safeguard_warmup": True, "schedule": True},
        {"slice_p": 2, "growth_rate": True, "decay": True},
        {"slice_p": 2, "idle": True, "decay": True})],
    "dadapt_adamw": [(dadapt_case, o) for o in (
        {}, {"decay": True}, {"decay": True, "l2": True}, {"use_bias_correction": True},
        {"growth_rate": True}, {"schedule": True},
        {"idle": True, "decay": True, "use_bias_correction": True})],
    "dog": [(dog_case, o) for o in (
        {}, {"decay": True}, {"init_eta": True}, {"layerwise": True},
        {"layerwise": True, "init_eta": True, "decay": True})],
}


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("name", list(AUTHORS))
def test_float64_matches_the_authors_package_and_the_docs_quote_the_worst_difference(name):
    worst, grown = 0.0, 0
    for case, options in AUTHORS[name]:
        for seed in range(2):
            ours, params, grads, expected = case(options, seed)
            worst = max(worst, run_ours(ours, params, grads, expected,
                                        f"{name} {options} seed {seed}"))
            if name != "dog":  # the estimate was exercised, not stuck at d₀
                grown += ours.globals["d"] > 10 * ours.d0
    assert name == "dog" or grown == 2 * len(AUTHORS[name])  # every run: d > 10·d₀
    assert worst <= documented_worst(name) <= 10 * max(worst, 1e-16)


def test_optax_and_the_authors_differ_only_where_the_options_say():
    """The authors' Prodigy with bias correction and optax's arithmetic (form="optax", which
    differs from theirs at β1 = 0 and in the rounding of the decay) agree to 1e-12 without
    decay at β1 = 0.9: one rule, two roundings."""
    _, params, grads = drifting("both", 0)
    make = functools.partial(prodigyopt.Prodigy, lr=1.0, use_bias_correction=True, d0=1e-4)
    expected = torch_trajectory(make, params, grads)
    run_ours(optim.Prodigy(use_bias_correction=True, form="optax", d0=1e-4),
             params, grads, expected, "prodigy, optax's form")


@pytest.mark.parametrize("base", ["adam", "sgd"])
def test_mechanize_learns_a_scale_and_matches_optax_while_it_does(base):
    """On gradients with a steady direction Mechanic's S grows by orders of magnitude (on the
    random gradients of tests/test_optim_optax.py it stays near s₀): optax to 1e-12 all the
    way."""
    from optax_oracle import mechanize_with, optax_trajectory

    rng, params, grads = problem(f"mechanize-{base}", 0)
    drift = {k: rng.standard_normal(np.shape(v)) for k, v in params.items()}
    # A steady direction; 60 steps, as S then grows exponentially and with it the effect of
    # a rounding (after 88 steps with sgd, 1.4e-12 relative).
    grads = [{k: 0.3 * g[k] + drift[k] for k in g} for g in grads[:60]]
    hyper = dict(learning_rate=0.01, weight_decay=0.01, eps=1e-8, s_init=1e-6)
    expected = optax_trajectory(mechanize_with, params, grads, hyper=hyper,
                                static={"base": base, "num_betas": 6})
    ours = optim.Mechanize(base, 0.01, 0.01, 1e-8, s_init=1e-6)
    run_ours(ours, params, grads, expected, f"mechanize({base})")
    assert float(np.sum(ours.globals["s"])) > 1e3 * 1e-6


# ------------------------------------------------------------------ the pre-pass hook
class Recorder(optim.DoG):
    """DoG that keeps what its pre-pass was shown."""

    seen: list = []

    def prepass(self, leaves, globals_, h):
        type(self).seen.append([(p.copy(), g.copy(), {k: v.copy() for k, v in s.items()})
                                for p, g, s in leaves])
        return super().prepass(leaves, globals_, h)


def test_the_prepass_sees_every_leaf_before_any_update_with_the_rules_gradient():
    Recorder.seen = []
    opt = Recorder(init_step="distance", init_value=0.5, weight_decay=0.25, maximize=True)
    params = {"a": np.array([1.0, 2.0]), "b": np.array([[3.0]])}
    g = {"a": np.array([0.5, -1.0]), "b": np.array([[2.0]])}
    opt.update(params, g)
    first = Recorder.seen[0]
    np.testing.assert_array_equal(first[0][0], [1.0, 2.0])  # p before the update
    np.testing.assert_array_equal(first[0][1], [-0.5 + 0.25, 1.0 + 0.5])  # −g + λp
    np.testing.assert_array_equal(first[1][1], [[-2.0 + 0.75]])
    assert set(first[0][2]) == {"x0"}
    before = {k: v.copy() for k, v in params.items()}
    opt.update(params, g)
    second = Recorder.seen[1]
    np.testing.assert_array_equal(second[0][0], before["a"])
    np.testing.assert_array_equal(second[0][2]["x0"], [1.0, 2.0])  # the state as it is


class Failing(optim.Prodigy):
    fail = False

    def prepass(self, leaves, globals_, h):
        out = super().prepass(leaves, globals_, h)
        if self.fail:
            raise RuntimeError("boom")
        return out


@pytest.mark.parametrize("steps_before", [0, 3])
def test_an_exception_in_the_prepass_changes_nothing(steps_before):
    opt = Failing(weight_decay=0.1)
    rng = np.random.default_rng(0)
    params = {"w": rng.standard_normal((3, 2)), "b": 0.5}
    for _ in range(steps_before):
        opt.update(params, {"w": rng.standard_normal((3, 2)), "b": 1.0})
    saved, kept = copy.deepcopy(opt.state_dict()), copy.deepcopy(params)
    opt.fail = True
    with pytest.raises(RuntimeError, match="boom"):
        opt.update(params, {"w": rng.standard_normal((3, 2)), "b": 1.0})
    assert_same(opt.state_dict(), saved)
    np.testing.assert_array_equal(params["w"], kept["w"])
    assert params["b"] == kept["b"] and opt.step == steps_before


@pytest.mark.parametrize("name", ["dog", "dowg", "prodigy", "dadapt_adamw", "mechanize"])
def test_a_nonfinite_or_misshapen_gradient_changes_nothing(name):
    opt = optim.create(name)
    params = {"w": np.ones(3), "v": np.full((2, 2), -1.0)}
    opt.update(params, {"w": np.ones(3), "v": np.ones((2, 2))})
    saved, kept = copy.deepcopy(opt.state_dict()), copy.deepcopy(params)
    with pytest.raises(NonFiniteError, match="'v'"):
        opt.update(params, {"w": np.ones(3), "v": np.array([[1.0, np.nan], [0.0, 1.0]])})
    with pytest.raises(InputError, match="'w'"):
        opt.update(params, {"w": np.ones(4), "v": np.ones((2, 2))})
    assert_same(opt.state_dict(), saved)
    assert all(np.array_equal(params[k], kept[k]) for k in params)


@pytest.mark.parametrize("name", ["dog", "prodigy", "mechanize"])
def test_no_update_plan_and_the_same_bits_on_every_container(name):
    """A class with a pre-pass takes the full path each step (no plan); a FlatParams, Python
    floats and float arrays give the same bits."""
    rng = np.random.default_rng(1)
    a0, b0 = rng.standard_normal(4), float(rng.normal())
    grads = [(rng.standard_normal(4), float(rng.normal())) for _ in range(6)]
    plain, floats, flat = optim.create(name), optim.create(name), optim.create(name)
    p1 = {"a": a0.copy(), "b": np.array(b0)}
    p2 = {"a": a0.copy(), "b": b0}
    p3 = FlatParams.from_dict({"a": a0.copy(), "b": np.array([b0])})
    for ga, gb in grads:
        plain.update(p1, {"a": ga, "b": np.array(gb)})
        floats.update(p2, {"a": ga, "b": gb})
        g3 = FlatParams.from_dict({"a": ga, "b": np.array([gb])})
        flat.update(p3, g3)
    assert plain.update_plan is None and floats.update_plan is None
    np.testing.assert_array_equal(p1["a"], p2["a"])
    np.testing.assert_array_equal(p1["a"], p3["a"])
    assert float(p1["b"]) == p2["b"] == float(p3["b"][0])


class ElementwiseDoG(optim.DoG):
    """DoG's rule reads only h.eta: it may run in blocks and on a FlatParams's buffer."""

    elementwise = True


def test_an_elementwise_rule_with_a_prepass_gives_the_same_bits_in_blocks_and_flat():
    rng = np.random.default_rng(2)
    big = rng.standard_normal(300_000)  # blocks (optim/blocks.py)
    grads = [rng.standard_normal(300_000) for _ in range(3)]
    a, b = big.copy(), big.copy()
    whole, blocked = optim.DoG(), ElementwiseDoG()
    for g in grads:
        whole.update(a, g)
        blocked.update(b, g)
    np.testing.assert_array_equal(a, b)
    p, q = FlatParams.from_dict({"x": big[:5].copy(), "y": big[5:9].copy()}), {"x": big[:5].copy(),
                                                                     "y": big[5:9].copy()}
    o1, o2 = ElementwiseDoG(), optim.DoG()
    for g in grads:
        o1.update(p, FlatParams.from_dict({"x": g[:5], "y": g[5:9]}))
        o2.update(q, {"x": g[:5], "y": g[5:9]})
    np.testing.assert_array_equal(p["x"], q["x"])
    np.testing.assert_array_equal(p["y"], q["y"])


@pytest.mark.parametrize("name", ["dog", "prodigy", "dadapt_adamw"])
def test_k_runs_of_the_lab_are_not_coupled_by_the_norms(name):
    """A sweep's K runs (rows) each get their own copy: the same as K separate runs."""
    bowl = problems.get("rosenbrock")
    rates = np.array([[0.5], [1.0], [2.0]])
    starts = np.tile(np.array(bowl.start, dtype=float), (3, 1))
    together = run_batch(bowl, optim.create(name, lr=rates), starts, 30)
    for i in range(3):
        alone = run_batch(bowl, optim.create(name, lr=float(rates[i, 0])), starts[i:i + 1], 30)
        np.testing.assert_array_equal(together.final[i], alone.final[0])


def test_groups_take_the_sums_per_group():
    """Each group is its own optimizer (the DoG authors' param groups): a group holding every
    parameter is DoG alone; two groups have two distances."""
    params = {"w": np.array([1.0, 2.0]), "bias": np.array([0.5])}
    grads = [{"w": np.array([0.3, -0.2]), "bias": np.array([1.0])}] * 3
    alone, p1 = optim.DoG(), copy.deepcopy(params)
    grouped, p2 = optim.Groups(optim.DoG(), {"nothing*": {}}), copy.deepcopy(params)
    split = optim.Groups(optim.DoG(), {"bias": {}})
    p3 = copy.deepcopy(params)
    for g in grads:
        alone.update(p1, g)
        grouped.update(p2, g)
        split.update(p3, g)
    np.testing.assert_array_equal(p1["w"], p2["w"])
    assert not np.array_equal(p1["w"], p3["w"])


# ------------------------------------------------------------------ checkpoints, bad input
@pytest.mark.parametrize("make", [
    lambda: optim.DoG(), lambda: optim.DoG(layerwise=True, init_step="distance"),
    lambda: optim.DoWG(), lambda: optim.Prodigy(weight_decay=0.1),
    lambda: optim.DAdaptAdamW(decoupled_weight_decay=False, weight_decay=0.1),
    lambda: optim.Mechanize(), lambda: optim.Mechanize("momentum", num_betas=3),
    lambda: optim.Prodigy(weight_decay=0.1, slice_p=4)],
    ids=["dog", "ldog", "dowg", "prodigy", "dadapt_l2", "mechanize", "mechanize_momentum",
         "prodigy_slice_p"])
def test_resume_is_bit_identical(make, tmp_path):
    assert_resume_is_bit_identical(make, tmp_path / "opt.npz", 5)


@pytest.mark.parametrize("build, culprit", [
    (lambda: optim.DoG(init_step="far"), "init_step"),
    (lambda: optim.DoG(init_value=0.0), "init_value"),
    (lambda: optim.DoG(decoupled_weight_decay=True), "decoupled_weight_decay"),
    (lambda: optim.DoWG(eps=0.0), "init_estim_sq_dist"),
    (lambda: optim.Prodigy(beta3=1.0), "beta3"),
    (lambda: optim.Prodigy(d0=0.0), "d0"),
    (lambda: optim.Prodigy(slice_p=0), "slice_p"), (lambda: optim.Prodigy(slice_p=-2), "slice_p"),
    (lambda: optim.Prodigy(slice_p=2.0), "slice_p"),
    (lambda: optim.Prodigy(slice_p=True), "slice_p"),
    (lambda: optim.DAdaptAdamW(growth_rate=-1.0), "growth_rate"),
    (lambda: optim.Mechanize(base="lbfgs"), "base"),
    (lambda: optim.Mechanize(num_betas=0), "num_betas"),
    (lambda: optim.Mechanize(decoupled_weight_decay=True), "decoupled_weight_decay"),
])
def test_bad_settings_are_refused_naming_them(build, culprit):
    with pytest.raises(InputError, match=culprit):
        build()


@pytest.mark.parametrize("name, option, value", [
    ("dog", "init_step", "distance"), ("dog", "layerwise", True),
    ("dowg", "init_estim_sq_dist", 1.0), ("dadapt_adamw", "d0", 1e-3),
    ("mechanize", "base", "sgd"), ("mechanize", "num_betas", 3), ("prodigy", "slice_p", 2)])
def test_first_step_settings_cannot_change_mid_run_and_nothing_changes(name, option, value):
    opt = optim.create(name)
    p = np.ones(3)
    opt.update(p, np.ones(3))
    saved = copy.deepcopy(opt.state_dict())
    with pytest.raises(InputError, match=option):
        setattr(opt, option, value)
    assert_same(opt.state_dict(), saved)


def test_prodigy_slice_p_keeps_s_and_x0_as_the_slice_on_the_numpy_rule(tmp_path):
    """slice_p: s and x0 hold every slice_p-th element of the flattened parameter (⌈n/slice_p⌉
    of them: the memory saved), m and v the whole; Prodigy has no fused kernel, so every
    backend runs this NumPy rule. A bad slice_p changes nothing; a checkpoint saved with
    another slice_p is refused naming it."""
    assert optim.Prodigy.kernel is None  # (a kernel would have to slice too)
    params = {"w": np.ones((4, 5)), "b": np.array(2.0), "e": np.zeros(0)}
    grads = {"w": np.full((4, 5), 0.5), "b": np.array(1.0), "e": np.zeros(0)}
    sliced, whole = optim.Prodigy(slice_p=3), optim.Prodigy()
    sliced.update(params, grads)
    whole.update({k: v.copy() for k, v in params.items()}, grads)
    assert {k: {s: a.shape for s, a in st.items()} for k, st in sliced.state.items()} == {
        "w": {"m": (4, 5), "v": (4, 5), "s": (7,), "x0": (7,)},  # 20 elements: 0, 3, ..., 18
        "b": {"m": (), "v": (), "s": (1,), "x0": (1,)}, "e": {k: (0,) for k in sliced.slots}}
    assert whole.state["w"]["s"].shape == (4, 5)  # slice_p=1: the parameter's shape, as before
    # x0 is every third element of w at the first step, s every third of s_coef·d·g/d0
    np.testing.assert_array_equal(sliced.state["w"]["x0"], np.ones(7))
    np.testing.assert_array_equal(sliced.state["w"]["s"], whole.state["w"]["s"].ravel()[::3])
    saved = copy.deepcopy(sliced.state_dict())
    with pytest.raises(InputError, match="slice_p"):
        sliced.slice_p = 0
    assert sliced.slice_p == 3
    assert_same(sliced.state_dict(), saved)
    sliced.save(tmp_path / "p.npz")
    other = optim.Prodigy(slice_p=2)
    with pytest.raises(InputError, match="slice_p"):
        other.load(tmp_path / "p.npz")
    assert other.state == {} and other.slice_p == 2
    older = copy.deepcopy(whole.state_dict())  # one written before slice_p existed
    del older["options"]["slice_p"]
    resumed = optim.Prodigy()
    resumed.load_state_dict(older)
    assert_same(resumed.state_dict(), whole.state_dict())
    with pytest.raises(InputError, match="slice_p"):  # (it held slice_p=1)
        optim.Prodigy(slice_p=3).load_state_dict(older)


def test_the_exact_trace_refuses_a_rule_wide_prepass():
    from descentlab.lab.trace import trace

    with pytest.raises(InputError, match="--exact cannot trace DoG"):
        trace(problems.get("bowl"), "dog", steps=2, exact=True)


def test_mechanize_bases_are_elementwise_rules_without_rule_wide_state():
    from descentlab.optim.mechanize import BASES

    for name in BASES:
        base = optim.create(name)
        assert not any(base.overrides(h) for h in ("begin_step", "init_globals", "prepass"))
        assert not getattr(base, "needs_closure", False)


def test_they_race_on_a_surface_and_a_comma_list_is_told_apart():
    """The learning-rate-free rules race on a surface (descend from the start, each its own
    path); race and compare split ``prodigy,dog`` into two specs, and where one spec is
    expected the error says specs are separated by spaces."""
    from descentlab.lab.race import race
    from descentlab.lab.spec import SpecError, expand_specs, parse_optimizer_spec

    bowl = problems.get("rosenbrock")
    result = race(bowl, ["prodigy", "dog", "dowg", "dadapt_adamw", "mechanize"], steps=100)
    for entry in result.entries:  # (at 160 steps D-Adapt's grown d leaves the window; at
        # 100 Prodigy's has overshot and is on its way back: f 0.08 at 200)
        assert entry.diverged_at is None and min(entry.f) < entry.f[0] / 2, entry.label
        assert len(entry.path) == 101 and np.isfinite(entry.path).all()
    assert expand_specs(["prodigy,dog", "dowg:init_estim_sq_dist=1e-4"]) == [
        "prodigy", "dog", "dowg:init_estim_sq_dist=1e-4"]
    with pytest.raises(SpecError, match="separated by spaces: prodigy dog"):
        parse_optimizer_spec("prodigy,dog")


@pytest.mark.parametrize("cls", [optim.Prodigy, optim.DAdaptAdamW])
def test_idle_steps_resume_bit_identically_and_older_checkpoints_load(cls, tmp_path):
    """Two steps of zero gradients change nothing and are counted in the globals' ``idle``;
    a checkpoint taken then resumes bit for bit; a checkpoint written before ``idle`` was
    counted (no such global, so none were idle) loads as idle = 0."""
    rng = np.random.default_rng(3)
    params = {"w": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)}
    grads = [{k: np.zeros_like(v) for k, v in params.items()}] * 2 + [
        {k: rng.standard_normal(v.shape) + 1.0 for k, v in params.items()} for _ in range(6)]
    straight, p = cls(weight_decay=0.1, use_bias_correction=True), copy.deepcopy(params)
    for k, g in enumerate(grads):
        straight.update(p, g)
        if k == 1:
            assert straight.globals["idle"] == 2 and straight.step == 2
            assert all(np.array_equal(p[n], params[n]) for n in p)
            straight.save(tmp_path / "idle.npz")
            at_two = copy.deepcopy(p)
    resumed = cls(weight_decay=0.1, use_bias_correction=True)
    resumed.load(tmp_path / "idle.npz")
    for g in grads[2:]:
        resumed.update(at_two, g)
    assert all(np.array_equal(at_two[n], p[n]) for n in p)
    fresh_run, q = cls(weight_decay=0.1, use_bias_correction=True), copy.deepcopy(params)
    for g in grads[2:5]:
        fresh_run.update(q, g)
    older = copy.deepcopy(fresh_run.state_dict())
    del older["globals"]["idle"]
    loaded = cls(weight_decay=0.1, use_bias_correction=True)
    loaded.load_state_dict(older)
    q2 = copy.deepcopy(q)
    for g in grads[5:]:
        fresh_run.update(q, g)
        loaded.update(q2, g)
    assert all(np.array_equal(q[n], q2[n]) for n in q)
