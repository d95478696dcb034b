"""PSGD Kron against pytorch-optimizer 4.1's ``Kron`` (float64: its ``precondition_dtype``
float64), given the same random draws (tests/probe_draws.py): random 0-D to 4-D shapes,
hyperparameters and random gradients (100 steps; 40 for each option's case), every option, a
scheduled rate; with its float32 triangular solve replaced by a float64 one and ours
``solve_dtype="param"`` within 1e-12, and unpatched (``solve_dtype="float32"``, our default)
within 1e-6; the default refit schedule, and a quicker one over 150 updates; checkpoint
resume bit-identical; bad input refused with nothing changed; a race on a 2-D surface."""

from __future__ import annotations

import contextlib
import copy
import functools

import numpy as np
import pytest
import pytorch_optimizer
import pytorch_optimizer.optimizer.psgd as reference_psgd
import torch
from helpers import any_shapes, assert_resume_is_bit_identical, case_rng, random_steps
from numpy_lapack import one_torch_thread
from probe_draws import same_draws, solve_float64
from torch_trajectory import documented_worst, run_ours, torch_trajectory

from descentlab import optim
from descentlab.errors import InputError, NonFiniteError
from descentlab.optim import psgd_kron
from descentlab.optim.psgd_kron import PSGDKron, update_probability

schedule_maker = reference_psgd.precondition_update_prob_schedule

OPTIONS = [
    {}, {"weight_decay": True}, {"weight_decay": True, "decoupled_weight_decay": False},
    {"maximize": True}, {"balance_prob": 0.5}, {"update_probability": True},
    {"memory_save_mode": "one_diag"}, {"memory_save_mode": "smart_one_diag"},
    {"memory_save_mode": "all_diag"}, {"momentum_into_precondition_update": False},
    {"max_size_triangular": 3}, {"min_ndim_triangular": 1}, {"precondition_lr": True},
    {"precondition_init_scale": True}, {"schedule": True},
]
RENAMES = {"decoupled_weight_decay": "weight_decouple",
           "update_probability": "pre_conditioner_update_probability"}
GROUP_ONLY = ("precondition_lr", "precondition_init_scale")  # no constructor argument there


@pytest.fixture(autouse=True)
def _one_thread():
    with one_torch_thread():
        yield


def case(options, seed, steps=100):
    rng = case_rng(options, seed)
    params, grads = random_steps(rng, any_shapes(rng), steps)
    lr = float(rng.uniform(1e-3, 0.05))
    ours = {"momentum": float(rng.uniform(0.0, 0.95))}
    for key, value in options.items():
        if key == "weight_decay":
            ours[key] = float(rng.uniform(0.0, 0.3))
        elif key == "update_probability":
            ours[key] = float(rng.uniform(0.1, 1.0))
        elif key == "precondition_lr":
            ours[key] = float(rng.uniform(0.01, 0.5))
        elif key == "precondition_init_scale":
            ours[key] = float(rng.uniform(0.5, 3.0))
        elif key != "schedule":
            ours[key] = value
    lr_at = functools.partial(wavy, lr) if options.get("schedule") else None
    return params, grads, lr, ours, lr_at, int(rng.integers(0, 1000))


def wavy(lr, k):
    return lr * (1 + 0.5 * np.sin(k))


def reference(params, grads, lr, ours, lr_at, seed, *, float64_solve):
    theirs = {RENAMES.get(k, k): v for k, v in ours.items() if k not in GROUP_ONLY}

    def make(tensors):
        opt = pytorch_optimizer.Kron(tensors, lr=lr, precondition_dtype=torch.float64, **theirs)
        opt.param_groups[0].update({k: v for k, v in ours.items() if k in GROUP_ONLY})
        return opt

    patch = contextlib.nullcontext()
    if float64_solve:
        patch = pytest.MonkeyPatch.context()
    with patch as mp, same_draws(seed):
        if float64_solve:
            mp.setattr(reference_psgd, "solve_triangular_right", solve_float64)
        return torch_trajectory(make, params, grads, lr_at=lr_at)


def worst_difference(options, seed, *, float64_solve=True, rtol=1e-12, steps=100):
    params, grads, lr, ours, lr_at, draws = case(options, seed, steps)
    expected = reference(params, grads, lr, ours, lr_at, draws, float64_solve=float64_solve)
    opt = PSGDKron(lr_at or lr, seed=draws, solve_dtype="param" if float64_solve else "float32",
                   **ours)
    return run_ours(opt, params, grads, expected, f"psgd_kron {options} seed {seed}", rtol=rtol)


def test_float64_matches_pytorch_optimizer_and_the_docs_quote_the_worst_difference():
    worst = max(worst_difference(options, 0, steps=40 if options else 100)
                for options in OPTIONS)
    assert worst <= documented_worst("psgd_kron") <= 10 * max(worst, 1e-16)


def test_the_plain_reference_agrees_to_its_float32_solve():
    """Unpatched, the reference solves B = Q⁻ᵀv in float32 (MKL); ours by default too, column
    by column: within 1e-6 of each other (array norms; elements 1e-4), not more."""
    worst = max(worst_difference(options, 1, float64_solve=False, rtol=1e-4)
                for options in ({}, {"balance_prob": 0.5}))
    assert 1e-12 < worst < 1e-6


def test_the_default_refit_schedule_is_the_references():
    """The probability: the reference's float32 schedule to one float32 ulp (torch's float32
    exp is not always correctly rounded) and the same refit decisions (counter ≥ 1/p in
    float32, for every counter that can occur) at each of the first 20,000 update counts;
    refits thinning out after update 500: 700 updates of one matrix match."""
    schedule = schedule_maker()
    counters = np.arange(1, 40, dtype=np.float32)
    off_by_an_ulp = 0
    for n in range(20000):
        ours, theirs = np.float32(update_probability(n)), schedule(n).numpy()
        assert abs(int(ours.view(np.int32)) - int(theirs.view(np.int32))) <= 1, n
        off_by_an_ulp += bool(ours != theirs)
        assert np.array_equal(counters >= np.float32(1) / ours,
                              counters >= np.float32(1) / theirs), n
    assert off_by_an_ulp == 32  # the count update_probability's docstring quotes
    # The refits thinning out, sooner (the same schedule with decay 0.02 after 10 updates on
    # both sides): 150 updates of one matrix match.
    quick = (1.0, 0.03, 0.02, 10)
    rng = np.random.default_rng(11)
    params = {"w": rng.standard_normal((2, 3))}
    grads = [{"w": rng.standard_normal((2, 3))} for _ in range(150)]
    with pytest.MonkeyPatch.context() as mp, same_draws(5):
        mp.setattr(reference_psgd, "solve_triangular_right", solve_float64)
        mp.setattr(reference_psgd, "precondition_update_prob_schedule", functools.partial(
            schedule_maker, max_prob=quick[0], min_prob=quick[1], decay=quick[2],
            flat_start=quick[3]))
        expected = torch_trajectory(lambda ts: pytorch_optimizer.Kron(
            ts, lr=0.01, precondition_dtype=torch.float64), params, grads)
        mp.setattr(psgd_kron, "SCHEDULE", quick)
        opt = PSGDKron(0.01, seed=5, solve_dtype="param")
        run_ours(opt, params, grads, expected, "psgd_kron 150 updates, quick schedule")
        refits = [update_probability(n) for n in range(150)]
    assert min(refits) < 0.1 and opt.step == 150  # refits every 10 or more updates


@pytest.mark.parametrize("kwargs", [{}, {"balance_prob": 1.0, "update_probability": 0.5,
                                         "weight_decay": 0.1}])
def test_resume_is_bit_identical(kwargs, tmp_path):
    lr = lambda k: 0.01 / (1 + k)  # noqa: E731
    assert_resume_is_bit_identical(lambda: PSGDKron(lr, **kwargs), tmp_path / "opt.npz", 3)


def test_the_seed_chooses_the_draws():
    w0 = {"w": np.ones((2, 2))}
    g = {"w": np.array([[1.0, -2.0], [0.5, 3.0]])}
    runs = []
    for seed in (0, 0, 1):
        w, opt = copy.deepcopy(w0), PSGDKron(0.1, seed=seed)
        for _ in range(3):
            opt.update(w, g)
        runs.append(w["w"])
    assert np.array_equal(runs[0], runs[1]) and not np.array_equal(runs[0], runs[2])


def test_bad_input_is_refused_naming_it_and_nothing_changes():
    opt = PSGDKron(0.01)
    params = {"w": np.array([[1.0, 2.0], [3.0, 4.0]])}
    opt.update(params, {"w": np.array([[0.1, 0.2], [0.3, -0.1]])})
    before, state = params["w"].copy(), copy.deepcopy(opt.state)
    counter = opt.globals["update_counter"]
    with pytest.raises(InputError, match="momentum"):
        opt.momentum = 1.5
    with pytest.raises(InputError, match="update_probability"):
        opt.update_probability = 1.5
    with pytest.raises(InputError, match="memory_save_mode"):
        opt.memory_save_mode = "all_diag"  # the factors' shapes depend on it
    with pytest.raises(InputError, match="solve_dtype"):
        opt.solve_dtype = "float16"
    with pytest.raises(NonFiniteError, match="parameter .w. is not finite at step 2"):
        opt.update(params, {"w": np.array([[np.nan, 0.0], [0.0, 0.0]])})
    np.testing.assert_array_equal(params["w"], before)
    for k in state["w"]:
        np.testing.assert_array_equal(opt.state["w"][k], state["w"][k])
    assert opt.step == 1 and opt.globals["update_counter"] == counter and opt.momentum == 0.9


def test_races_on_a_surface():
    """The K runs of a 2-D surface race as (1, 2) matrices, one optimizer each (the same
    seed): each run equals that run alone."""
    from descentlab.lab.engine import run_batch
    from descentlab.problems import get as get_problem

    problem = get_problem("rosenbrock")
    starts = np.array([[-1.0, 1.5], [0.5, -0.5], [1.5, 2.0]])
    both = run_batch(problem, optim.create("psgd_kron", lr=0.05), starts, 30)
    for i in range(3):
        alone = run_batch(problem, optim.create("psgd_kron", lr=0.05), starts[i:i + 1], 30)
        np.testing.assert_array_equal(both.path[:, i], alone.path[:, 0])
    assert np.all(np.isfinite(both.path)) and not np.array_equal(both.path[-1], starts)
