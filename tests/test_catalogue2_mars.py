"""MARS against pytorch-optimizer 4.1's ``MARS`` (float64, its per-parameter path): random
shapes (scalars, vectors, matrices and a 3-D array), hyperparameters and 100 steps of random
gradients, every option and each ``mars_type``, a scheduled rate; its bfloat16 Newton–Schulz
to bfloat16 precision; checkpoint resume bit-identical; bad input refused with nothing
changed."""

from __future__ import annotations

import copy
import functools

import numpy as np
import pytest
import pytorch_optimizer
import torch
from helpers import assert_resume_is_bit_identical
from pytorch_optimizer.optimizer import mars as reference_module
from torch_trajectory import documented_worst, problem, run_ours, torch_trajectory

from descentlab.errors import InputError, NonFiniteError
from descentlab.optim.mars import MARS

OPTIONS = [
    {}, {"mars_type": "lion"}, {"mars_type": "shampoo"}, {"optimize_1d": True},
    {"mars_type": "lion", "optimize_1d": True}, {"mars_type": "shampoo", "optimize_1d": True},
    {"ams_bound": True}, {"cautious": True}, {"mars_type": "shampoo", "cautious": True},
    {"fixed_decay": True}, {"weight_decouple": False}, {"maximize": True},
    {"schedule": True},
]


def case(options, seed):
    """Parameters of 0 to 3 dimensions, gradients, hyperparameters and the flags."""
    rng, params, grads = problem(f"mars{sorted(options)}", seed)
    params["m"] = rng.standard_normal((4, 3))
    params["t"] = rng.standard_normal((2, 3, 2))
    for g in grads:
        g["m"] = rng.uniform(0.1, 3) * rng.standard_normal((4, 3))
        g["t"] = rng.uniform(0.1, 3) * rng.standard_normal((2, 3, 2))
    hyper = dict(lr=float(rng.uniform(1e-3, 0.05)), b1=float(rng.uniform(0.5, 0.99)),
                 b2=float(rng.uniform(0.9, 0.999)), gamma=float(rng.uniform(0, 0.2)),
                 lr_1d=float(rng.uniform(1e-3, 0.05)), b1_1d=float(rng.uniform(0.5, 0.99)),
                 b2_1d=float(rng.uniform(0.9, 0.999)), wd=float(rng.uniform(0, 0.3)),
                 wd_1d=float(rng.uniform(0, 0.3)), eps=10 ** float(rng.uniform(-10, -6)))
    return params, grads, hyper


def reference(params, grads, hyper, lr_at=None, ns_float64=True, **flags):
    make = functools.partial(
        pytorch_optimizer.MARS, lr=hyper["lr"], betas=(hyper["b1"], hyper["b2"]),
        gamma=hyper["gamma"], lr_1d=hyper["lr_1d"], betas_1d=(hyper["b1_1d"], hyper["b2_1d"]),
        weight_decay=hyper["wd"], weight_decay_1d=hyper["wd_1d"], eps=hyper["eps"],
        foreach=False, **flags)
    if not ns_float64:
        return torch_trajectory(make, params, grads, lr_at=lr_at)
    original = reference_module.zero_power_via_newton_schulz_5
    # pytorch-optimizer's own iteration, in float64 instead of bfloat16 (ns_dtype="param")
    reference_module.zero_power_via_newton_schulz_5 = functools.partial(original,
                                                                        dtype=torch.float64)
    try:
        return torch_trajectory(make, params, grads, lr_at=lr_at)
    finally:
        reference_module.zero_power_via_newton_schulz_5 = original


def ours(hyper, lr_at=None, **flags):
    flags = dict(flags)
    if "weight_decouple" in flags:
        flags["decoupled_weight_decay"] = flags.pop("weight_decouple")
    flags.setdefault("ns_dtype", "param")  # (the 1-D rate: lr times lr_1d/lr, theirs too)
    return MARS(lr_at or hyper["lr"], hyper["b1"], hyper["b2"], hyper["gamma"],
                lr_1d_factor=hyper["lr_1d"] / hyper["lr"],
                beta1_1d=hyper["b1_1d"], beta2_1d=hyper["b2_1d"], weight_decay=hyper["wd"],
                weight_decay_1d=hyper["wd_1d"], eps=hyper["eps"], **flags)


def wavy(lr, k):
    return lr * (1 + 0.5 * np.sin(k))


def worst_difference(options, seed):
    """One random case: the worst relative difference from pytorch-optimizer over 100 steps."""
    params, grads, hyper = case(options, seed)
    flags = {k: v for k, v in options.items() if k != "schedule"}
    lr_at = functools.partial(wavy, hyper["lr"]) if options.get("schedule") else None
    expected = reference(params, grads, hyper, lr_at, **flags)
    return run_ours(ours(hyper, lr_at, **flags), params, grads, expected,
                    f"mars {options} seed {seed}")


def test_float64_matches_pytorch_optimizer_and_the_docs_quote_the_worst_difference():
    worst = max(worst_difference(options, seed) for options in OPTIONS for seed in range(2))
    assert worst <= documented_worst("mars") <= 10 * max(worst, 1e-16)


def test_the_correction_is_clipped_to_unit_norm_and_uses_the_previous_gradient():
    """Written out by hand: β1 = 0.5, γ = 1 makes c = g + (g − g_prev); at step 1 (g_prev =
    0) c = 2g = (6, 8), clipped to (0.6, 0.8); lion steps by sign(m) = (1, 1)·η."""
    w = {"w": np.zeros((1, 2))}
    opt = MARS(lr=0.1, beta1=0.5, gamma=1.0, mars_type="lion")
    opt.update(w, {"w": np.array([[3.0, 4.0]])})
    np.testing.assert_array_equal(opt.state["w"]["m"], [[0.3, 0.4]])  # (1 − β1)·(0.6, 0.8)
    np.testing.assert_array_equal(opt.state["w"]["last_grad"], [[3.0, 4.0]])
    np.testing.assert_array_equal(w["w"], [[-0.1, -0.1]])
    # step 2: g = (0.1, −0.1): c = 2g − g_prev = (−2.8, −4.2), ‖c‖ > 1: c/‖c‖
    opt.update(w, {"w": np.array([[0.1, -0.1]])})
    c = np.array([-2.8, -4.2]) / np.hypot(2.8, 4.2)
    np.testing.assert_allclose(opt.state["w"]["m"][0], 0.5 * np.array([0.3, 0.4]) + 0.5 * c,
                               rtol=1e-15)


def test_a_zero_rate_stops_the_vectors_too():
    """lr = 0 stops every array, the 1-D ones (whose rate is lr·lr_1d_factor) included."""
    params = {"w": np.ones((2, 2)), "b": np.array([1.0, -1.0])}
    opt = MARS(lr=0.0, lr_1d_factor=3.0, weight_decay_1d=0.5)
    opt.update(params, {"w": np.ones((2, 2)), "b": np.array([0.5, 0.5])})
    np.testing.assert_array_equal(params["b"], [1.0, -1.0])


def test_bfloat16_newton_schulz_follows_pytorch_optimizer_to_bfloat16_precision():
    params, grads, hyper = case({"mars_type": "shampoo"}, 5)
    grads = grads[:20]
    expected = reference(params, grads, hyper, ns_float64=False, mars_type="shampoo")
    opt = ours(hyper, mars_type="shampoo", ns_dtype="bfloat16")
    got = copy.deepcopy(params)
    for g in grads:
        opt.update(got, g)
    for k in ("m", "t"):
        moved = np.linalg.norm(expected[-1][k] - params[k])
        assert np.linalg.norm(got[k] - expected[-1][k]) <= 0.02 * moved, k


@pytest.mark.parametrize("kwargs", [{}, {"mars_type": "shampoo", "ams_bound": True,
                                         "cautious": True}])
def test_resume_is_bit_identical(kwargs, tmp_path):
    lr = lambda k: 0.01 / (1 + k)  # noqa: E731
    assert_resume_is_bit_identical(lambda: MARS(lr, **kwargs), tmp_path / "opt.npz", 3)
    if kwargs:  # a checkpoint written with other options is refused, naming the option
        with pytest.raises(ValueError, match="ams_bound"):
            MARS(lr, **{**kwargs, "ams_bound": False}).load(tmp_path / "opt.npz")


def test_bad_input_is_refused_naming_it_and_nothing_changes():
    opt = MARS(0.01)
    params = {"w": np.array([[1.0, 2.0]]), "b": np.array([0.5])}
    opt.update(params, {"w": np.array([[0.1, 0.2]]), "b": np.array([0.3])})
    before, state = copy.deepcopy(params), copy.deepcopy(opt.state)
    with pytest.raises(InputError, match="gamma"):
        opt.gamma = -1.0
    with pytest.raises(InputError, match="beta1_1d"):
        opt.beta1_1d = 1.0
    with pytest.raises(InputError, match="mars_type"):
        opt.mars_type = "sgd"
    with pytest.raises(NonFiniteError, match="parameter .w. is not finite at step 2"):
        opt.update(params, {"w": np.array([[np.nan, 0.0]]), "b": np.array([0.3])})
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])
        for slot in state[k]:
            np.testing.assert_array_equal(opt.state[k][slot], state[k][slot])
    assert opt.step == 1 and opt.gamma == 0.025 and opt.mars_type == "adamw"
