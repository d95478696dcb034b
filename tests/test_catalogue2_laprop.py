"""LaProp against pytorch-optimizer 4.1's ``LaProp`` (float64, its per-parameter path): random
shapes, hyperparameters and 100 steps of random gradients, every option, a scheduled rate;
checkpoint resume bit-identical; bad input refused with nothing changed."""

from __future__ import annotations

import copy
import functools

import numpy as np
import pytest
import pytorch_optimizer
from helpers import assert_resume_is_bit_identical
from torch_trajectory import documented_worst, problem, run_ours, torch_trajectory

from descentlab.errors import InputError, NonFiniteError
from descentlab.optim.laprop import LaProp

OPTIONS = [
    {}, {"centered": True}, {"ams_bound": True}, {"centered": True, "ams_bound": True},
    {"fixed_decay": True}, {"maximize": True}, {"schedule": True},
]


def reference(params, grads, lr, b1, b2, eps, wd, warm, lr_at, **flags):
    make = functools.partial(pytorch_optimizer.LaProp, lr=lr, betas=(b1, b2), eps=eps,
                             weight_decay=wd, steps_before_using_centered=warm, foreach=False,
                             **flags)
    return torch_trajectory(make, params, grads, lr_at=lr_at)


def worst_difference(options, seed):
    """One random case: the worst relative difference from pytorch-optimizer over 100 steps."""
    rng, params, grads = problem(f"laprop{sorted(options)}", seed)
    lr, b1, b2 = float(rng.uniform(1e-3, 0.05)), float(rng.uniform(0.5, 0.99)), \
        float(rng.uniform(0.9, 0.9999))
    eps, wd = 10 ** float(rng.uniform(-15, -6)), float(rng.uniform(0, 0.3))
    warm = int(rng.integers(0, 20))
    flags = {k: v for k, v in options.items() if k != "schedule"}
    lr_at = functools.partial(wavy, lr) if options.get("schedule") else None
    expected = reference(params, grads, lr, b1, b2, eps, wd, warm, lr_at, **flags)
    ours = LaProp(lr_at or lr, b1, b2, eps, wd, steps_before_using_centered=warm, **flags)
    return run_ours(ours, params, grads, expected, f"laprop {options} seed {seed}")


def wavy(lr, k):
    """A rate that goes up and down (the momentum's rate average is then not 1 − β1ᵗ)."""
    return lr * (1 + 0.5 * np.sin(k))


def test_float64_matches_pytorch_optimizer_and_the_docs_quote_the_worst_difference():
    worst = max(worst_difference(options, seed) for options in OPTIONS for seed in range(2))
    assert worst <= documented_worst("laprop") <= 10 * max(worst, 1e-16)


def test_zero_rate_and_zero_gradients_match():
    params = {"w": np.array([1.0, -2.0])}
    grads = [{"w": np.zeros(2)}, {"w": np.array([0.5, 0.0])}, {"w": np.zeros(2)}]
    for lr in (0.0, 0.1):
        expected = reference(params, grads, lr, 0.9, 0.999, 1e-15, 0.1, 10, None)
        ours = copy.deepcopy(params)
        opt = LaProp(lr, weight_decay=0.1)
        for g, e in zip(grads, expected):
            opt.update(ours, g)
            np.testing.assert_allclose(ours["w"], e["w"], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kwargs", [{}, {"centered": True, "ams_bound": True,
                                         "steps_before_using_centered": 2}])
def test_resume_is_bit_identical(kwargs, tmp_path):
    lr = lambda k: 0.01 / (1 + k)  # noqa: E731 - the rate's average is in the checkpoint
    assert_resume_is_bit_identical(lambda: LaProp(lr, **kwargs), tmp_path / "opt.npz", 3)
    if kwargs:  # a checkpoint written with other options is refused, naming the option
        with pytest.raises(ValueError, match="centered"):
            LaProp(lr, **{**kwargs, "centered": False}).load(tmp_path / "opt.npz")


def test_bad_input_is_refused_naming_it_and_nothing_changes():
    opt = LaProp(0.01)
    params = {"w": np.array([1.0, 2.0])}
    opt.update(params, {"w": np.array([0.1, 0.2])})
    before, state = params["w"].copy(), copy.deepcopy(opt.state)
    with pytest.raises(InputError, match="beta1"):
        opt.beta1 = 1.5
    with pytest.raises((InputError, TypeError), match="steps_before_using_centered"):
        opt.steps_before_using_centered = -1
    with pytest.raises(NonFiniteError, match="parameter .w. is not finite at step 2"):
        opt.update(params, {"w": np.array([np.nan, 0.0])})
    np.testing.assert_array_equal(params["w"], before)
    np.testing.assert_array_equal(opt.state["w"]["m"], state["w"]["m"])
    assert opt.step == 1 and opt.beta1 == 0.9
