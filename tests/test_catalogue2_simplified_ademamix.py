"""Simplified AdEMAMix against optax 0.2.8's ``contrib.simplified_ademamix`` (JAX x64): random
shapes, hyperparameters and 100 steps of random gradients, every argument (α constant and a
schedule, ε_root, weight decay, maximize); resume bit-identical; bad input refused with
nothing changed."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from helpers import assert_resume_is_bit_identical
from optax import contrib
from optax_oracle import optax_trajectory
from torch_trajectory import documented_worst, problem, run_ours

from descentlab.errors import InputError
from descentlab.optim.simplified_ademamix import SimplifiedAdEMAMix


def alpha_ramp(count):  # a rational ramp that runs on ints and on JAX tracers alike
    return 3.0 * count / (count + 10.0)


def _u(rng, lo, hi):
    return float(rng.uniform(lo, hi))


def case(options, seed):
    rng, params, grads = problem(f"simplified_ademamix{sorted(options)}", seed)
    lr, b1, b2 = _u(rng, 1e-4, 5e-3), _u(rng, 0.5, 0.999), _u(rng, 0.5, 0.9999)
    eps, eps_root, wd = 10 ** _u(rng, -10, -6), _u(rng, 0.0, 1e-6), _u(rng, 0.0, 0.5)
    hyper = dict(learning_rate=lr, b1=b1, b2=b2, eps=eps, eps_root=eps_root, weight_decay=wd)
    maximize = options.get("maximize", False)
    if options.get("schedule"):
        static, alpha = {"alpha": alpha_ramp}, alpha_ramp
    else:
        alpha = _u(rng, 0.0, 8.0)
        static, hyper = {}, {**hyper, "alpha": alpha}
    theirs = [{k: -v for k, v in g.items()} for g in grads] if maximize else grads
    expected = optax_trajectory(contrib.simplified_ademamix, params, theirs, hyper=hyper,
                                static=static)
    ours = SimplifiedAdEMAMix(lr, b1, b2, alpha, eps, wd, eps_root=eps_root, maximize=maximize)
    return ours, params, grads, expected


OPTIONS = [{}, {"schedule": True}, {"maximize": True}]


def test_float64_matches_optax_and_the_docs_quote_the_worst_difference():
    worst = 0.0
    for options in OPTIONS:
        for seed in range(2):
            ours, params, grads, expected = case(options, seed)
            worst = max(worst, run_ours(ours, params, grads, expected,
                                        f"simplified_ademamix {options} seed {seed}"))
    assert worst <= documented_worst("simplified_ademamix") <= 10 * max(worst, 1e-16)


def test_alpha_zero_and_beta1_as_adams_damping_is_adam_without_m_bias_correction():
    # With α = 0, m_t = Σ β1^(t−k) g_k = m_Adam/(1 − β1): the step is (η/(1 − β1))·m_Adam/…,
    # written out here for two steps of g = 2, then g = −1 (β1 = 0.5, β2 = 0.5, ε → 0).
    params = {"x": 0.0}
    opt = SimplifiedAdEMAMix(lr=1.0, beta1=0.5, beta2=0.5, alpha=0.0, eps=1e-300)
    opt.update(params, {"x": 2.0})  # m = 2, ν̂ = 4: p = −2/2 = −1
    assert params["x"] == -1.0
    opt.update(params, {"x": -1.0})  # m = 0, p stays
    assert params["x"] == -1.0


def test_resume_is_bit_identical(tmp_path):
    assert_resume_is_bit_identical(
        lambda: SimplifiedAdEMAMix(1e-3, alpha=alpha_ramp, weight_decay=0.1),
        tmp_path / "opt.npz", 4)


def test_bad_input_is_refused_naming_it_and_nothing_changes():
    opt = SimplifiedAdEMAMix(1e-3)
    params = {"w": np.array([1.0, 2.0])}
    opt.update(params, {"w": np.array([0.1, -0.2])})
    before, state = params["w"].copy(), copy.deepcopy(opt.state)
    with pytest.raises(InputError, match="alpha"):
        opt.alpha = -1.0
    with pytest.raises(InputError, match="beta1"):
        opt.beta1 = 1.0
    with pytest.raises(InputError, match="w"):
        opt.update(params, {"w": np.array([1.0, 2.0, 3.0])})
    np.testing.assert_array_equal(params["w"], before)
    np.testing.assert_array_equal(opt.state["w"]["m"], state["w"]["m"])
    assert opt.step == 1 and opt.alpha == 0.0
