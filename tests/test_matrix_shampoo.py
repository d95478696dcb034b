"""Shampoo against pytorch-optimizer 4.1's ``Shampoo`` (float64, its own MKL SVD): random 0-D
to 4-D shapes, hyperparameters and 100 steps of random gradients, every option (one random
case each), a scheduled rate; checkpoint resume bit-identical; bad input refused with nothing
changed; a race on a 2-D surface."""

from __future__ import annotations

import copy
import functools

import numpy as np
import pytest
import pytorch_optimizer
from helpers import any_shapes, assert_resume_is_bit_identical, case_rng, random_steps
from numpy_lapack import one_torch_thread
from torch_trajectory import documented_worst, run_ours, torch_trajectory

from descentlab import optim
from descentlab.errors import InputError, NonFiniteError
from descentlab.optim.shampoo import Shampoo

OPTIONS = [
    {}, {"momentum": True}, {"weight_decay": True},
    {"weight_decay": True, "decoupled_weight_decay": True},
    {"weight_decay": True, "decoupled_weight_decay": True, "fixed_decay": True},
    {"maximize": True, "momentum": True}, {"preconditioning_compute_steps": True},
    {"schedule": True, "momentum": True},
]


@pytest.fixture(autouse=True)
def _one_thread():
    with one_torch_thread():
        yield


def case(options, seed, steps=100):
    """Random shapes (a scalar, a vector, a matrix, a 3-D or 4-D array: SVD's inverse root is
    unique, so any shape), parameters, gradients and hyperparameters."""
    rng = case_rng(options, seed)
    params, grads = random_steps(rng, any_shapes(rng), steps)
    lr = float(rng.uniform(1e-3, 0.1))
    ours = {"matrix_eps": 10 ** float(rng.uniform(-6, -2))}
    if options.get("momentum"):
        ours["momentum"] = float(rng.uniform(0.1, 0.95))
    if options.get("weight_decay"):
        ours["weight_decay"] = float(rng.uniform(0.0, 0.3))
    if options.get("preconditioning_compute_steps"):
        ours["preconditioning_compute_steps"] = int(rng.integers(2, 6))
    for flag in ("decoupled_weight_decay", "fixed_decay", "maximize"):
        if options.get(flag):
            ours[flag] = True
    theirs = {("weight_decouple" if k == "decoupled_weight_decay" else k): v
              for k, v in ours.items()}
    lr_at = functools.partial(wavy, lr) if options.get("schedule") else None
    return params, grads, lr, ours, theirs, lr_at


def wavy(lr, k):
    return lr * (1 + 0.5 * np.sin(k))


def worst_difference(options, seed):
    params, grads, lr, ours, theirs, lr_at = case(options, seed)
    make = functools.partial(pytorch_optimizer.Shampoo, lr=lr, **theirs)
    expected = torch_trajectory(make, params, grads, lr_at=lr_at)
    return run_ours(Shampoo(lr_at or lr, **ours), params, grads, expected,
                    f"shampoo {options} seed {seed}")


def test_float64_matches_pytorch_optimizer_and_the_docs_quote_the_worst_difference():
    worst = max(worst_difference(options, 0) for options in OPTIONS)
    assert worst <= documented_worst("shampoo") <= 10 * max(worst, 1e-16)


def test_the_root_is_the_inverse_2k_th_root():
    """By hand: a 2-D parameter (k = 2) with g = diag(3, 4) and ε = 0 has L₁ = L₂ =
    diag(9, 16), R = diag(9^(−1/4), 16^(−1/4)) = diag(1/√3, 1/2), and
    R₁·g·R₂ = diag(3/3, 4/4) = I."""
    w = np.zeros((2, 2))
    Shampoo(lr=1.0, matrix_eps=0.0).update(w, np.diag([3.0, 4.0]))
    np.testing.assert_allclose(w, -np.eye(2), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("kwargs", [{}, {"momentum": 0.5, "weight_decay": 0.1,
                                         "preconditioning_compute_steps": 3}])
def test_resume_is_bit_identical(kwargs, tmp_path):
    lr = lambda k: 0.01 / (1 + k)  # noqa: E731
    assert_resume_is_bit_identical(lambda: Shampoo(lr, **kwargs), tmp_path / "opt.npz", 3)


def test_bad_input_is_refused_naming_it_and_nothing_changes():
    opt = Shampoo(0.01, momentum=0.5)
    params = {"w": np.array([[1.0, 2.0], [3.0, 4.0]])}
    opt.update(params, {"w": np.array([[0.1, 0.2], [0.3, -0.1]])})
    before, state = params["w"].copy(), copy.deepcopy(opt.state)
    with pytest.raises(InputError, match="momentum"):
        opt.momentum = 1.5
    with pytest.raises(InputError, match="matrix_eps"):
        opt.matrix_eps = -1.0
    with pytest.raises(InputError, match="fixed_decay .*decoupled_weight_decay=True"):
        opt.fixed_decay = True
    with pytest.raises((InputError, TypeError), match="preconditioning_compute_steps"):
        opt.preconditioning_compute_steps = 0
    with pytest.raises(NonFiniteError, match="parameter .w. is not finite at step 2"):
        opt.update(params, {"w": np.array([[np.inf, 0.0], [0.0, 0.0]])})
    np.testing.assert_array_equal(params["w"], before)
    for k in state["w"]:
        np.testing.assert_array_equal(opt.state["w"][k], state["w"][k])
    assert opt.step == 1 and opt.momentum == 0.5 and opt.matrix_eps == 1e-6


def test_races_on_a_surface():
    """The K runs of a 2-D surface race as (1, 2) matrices, one optimizer each: each run
    equals that run alone."""
    from descentlab.lab.engine import run_batch
    from descentlab.problems import get as get_problem

    problem = get_problem("rosenbrock")
    starts = np.array([[-1.0, 1.5], [0.5, -0.5], [1.5, 2.0]])
    both = run_batch(problem, optim.create("shampoo", lr=0.05), starts, 30)
    for i in range(3):
        alone = run_batch(problem, optim.create("shampoo", lr=0.05), starts[i:i + 1], 30)
        np.testing.assert_array_equal(both.path[:, i], alone.path[:, 0])
    assert np.all(np.isfinite(both.path)) and not np.array_equal(both.path[-1], starts)
