"""MADGRAD against optax 0.2.8's ``contrib.madgrad`` (JAX x64) and the authors' ``madgrad``
1.3 package (PyTorch, float64): random shapes, hyperparameters and 100 steps of random
gradients, every option (L2 and decoupled decay, μ = 0, a scheduled rate); resume
bit-identical; bad input refused with nothing changed."""

from __future__ import annotations

import copy
import functools

import madgrad
import numpy as np
import pytest
from helpers import assert_resume_is_bit_identical
from optax import contrib
from optax_oracle import optax_trajectory
from torch_trajectory import documented_worst, problem, run_ours, torch_trajectory

from descentlab.errors import InputError
from descentlab.optim.madgrad import Madgrad


def _u(rng, lo, hi):
    return float(rng.uniform(lo, hi))


def _draw(rng, options):
    lr, eps = _u(rng, 1e-3, 0.1), 10 ** _u(rng, -8, -5)
    momentum = 0.0 if options.get("momentum0") else _u(rng, 0.5, 0.99)
    wd = _u(rng, 0.0, 0.1) if options.get("decay") else 0.0
    return lr, momentum, eps, wd


def optax_case(options, seed):
    rng, params, grads = problem(f"madgrad-optax{sorted(options)}", seed)
    lr, momentum, eps, wd = _draw(rng, options)
    expected = optax_trajectory(contrib.madgrad, params, grads, hyper=dict(
        learning_rate=lr, momentum=momentum, weight_decay=wd, eps=eps))
    return Madgrad(lr, momentum, eps, wd, count_root="float32"), params, grads, expected


def wavy(lr, k):
    return lr * (1 + 0.5 * np.sin(k))


def authors_case(options, seed):
    rng, params, grads = problem(f"madgrad-authors{sorted(options)}", seed)
    lr, momentum, eps, wd = _draw(rng, options)
    decoupled = bool(options.get("decoupled"))
    lr_at = functools.partial(wavy, lr) if options.get("schedule") else None
    make = functools.partial(madgrad.MADGRAD, lr=lr, momentum=momentum, weight_decay=wd,
                             eps=eps, decouple_decay=decoupled)
    expected = torch_trajectory(make, params, grads, lr_at=lr_at)
    ours = Madgrad(lr_at or lr, momentum, eps, wd, decoupled_weight_decay=decoupled)
    return ours, params, grads, expected


CASES = [
    (optax_case, {}), (optax_case, {"decay": True}), (optax_case, {"momentum0": True}),
    (authors_case, {}), (authors_case, {"decay": True}),
    (authors_case, {"decay": True, "decoupled": True}),
    (authors_case, {"decay": True, "decoupled": True, "momentum0": True}),
    (authors_case, {"schedule": True}),
]


def test_float64_matches_optax_and_the_authors_and_the_docs_quote_the_worst_difference():
    worst = 0.0
    for case, options in CASES:
        for seed in range(2):
            ours, params, grads, expected = case(options, seed)
            worst = max(worst, run_ours(ours, params, grads, expected,
                                        f"{case.__name__} {options} seed {seed}"))
    assert worst <= documented_worst("madgrad") <= 10 * max(worst, 1e-16)


def test_a_zero_rate_does_not_move_as_in_the_authors_code():
    params = {"w": np.array([1.0, -2.0])}
    grads = [{"w": np.array([0.5, 3.0])}] * 3
    expected = torch_trajectory(functools.partial(madgrad.MADGRAD, lr=0.0), params, grads)
    ours = copy.deepcopy(params)
    opt = Madgrad(0.0)
    for g, e in zip(grads, expected):
        opt.update(ours, g)
        np.testing.assert_array_equal(ours["w"], e["w"])
        np.testing.assert_array_equal(ours["w"], params["w"])


@pytest.mark.parametrize("kwargs", [{}, {"weight_decay": 0.1, "decoupled_weight_decay": True}])
def test_resume_is_bit_identical(kwargs, tmp_path):
    assert_resume_is_bit_identical(lambda: Madgrad(0.05, **kwargs), tmp_path / "opt.npz", 9)


def test_bad_input_is_refused_naming_it_and_nothing_changes():
    opt = Madgrad(0.01)
    params = {"w": np.array([1.0, 2.0])}
    opt.update(params, {"w": np.array([0.1, -0.2])})
    before, state = params["w"].copy(), copy.deepcopy(opt.state)
    with pytest.raises(InputError, match="momentum"):
        opt.momentum = 1.5
    with pytest.raises(InputError, match="eps"):
        opt.eps = 0.0
    with pytest.raises(InputError, match="w"):
        opt.update(params, {"w": np.array([1.0, 2.0, 3.0])})
    np.testing.assert_array_equal(params["w"], before)
    for slot in ("x0", "grad_sum_sq", "s"):
        np.testing.assert_array_equal(opt.state["w"][slot], state["w"][slot])
    assert opt.step == 1 and opt.momentum == 0.9
