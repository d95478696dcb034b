"""C-AdamW and C-Lion against their references in float64: pytorch-optimizer 4.1's
``Lion(cautious=True)`` (the paper's mask scale d/(nnz + 1)) and timm 1.0's
``AdamW(caution=True)`` and ``Lion(caution=True)`` (its scale 1/max(nnz/d, 1e-3)); random
shapes, hyperparameters and 100 steps, every option; resume bit-identical; bad input
refused with nothing changed."""

from __future__ import annotations

import copy
import functools

import numpy as np
import pytest
import pytorch_optimizer
from helpers import assert_resume_is_bit_identical
from torch_trajectory import documented_worst, problem, run_ours, timm_optim, torch_trajectory

from descentlab.errors import InputError
from descentlab.optim.cautious import CAdamW, CLion, cautious_mask


def _u(rng, lo, hi):
    return float(rng.uniform(lo, hi))


def cadamw_case(options, seed):
    rng, params, grads = problem(f"cadamw{sorted(options)}", seed)
    lr, b1, b2 = _u(rng, 1e-3, 0.05), _u(rng, 0.5, 0.99), _u(rng, 0.9, 0.9999)
    eps, wd = 10 ** _u(rng, -10, -6), _u(rng, 0.0, 0.3)
    amsgrad, maximize = options.get("amsgrad", False), options.get("maximize", False)
    make = functools.partial(timm_optim("adamw").AdamWLegacy, lr=lr, betas=(b1, b2), eps=eps,
                             weight_decay=wd, amsgrad=amsgrad, caution=True, maximize=maximize,
                             foreach=False)
    ours = CAdamW(lr, b1, b2, eps, wd, amsgrad, mask_scale="mean", maximize=maximize)
    return ours, params, grads, torch_trajectory(make, params, grads)


def clion_case(options, seed):
    rng, params, grads = problem(f"clion{sorted(options)}", seed)
    lr, b1, b2, wd = _u(rng, 1e-3, 0.05), _u(rng, 0.5, 0.99), _u(rng, 0.9, 0.999), \
        _u(rng, 0.0, 0.3)
    maximize = options.get("maximize", False)
    if options.get("timm"):
        make = functools.partial(timm_optim("lion").Lion, lr=lr, betas=(b1, b2),
                                 weight_decay=wd, caution=True, maximize=maximize,
                                 foreach=False)
        scale = "mean"
    else:
        make = functools.partial(pytorch_optimizer.Lion, lr=lr, betas=(b1, b2),
                                 weight_decay=wd, cautious=True, maximize=maximize,
                                 foreach=False)
        scale = "count"
    ours = CLion(lr, b1, b2, wd, mask_scale=scale, maximize=maximize)
    return ours, params, grads, torch_trajectory(make, params, grads)


CASES = {
    "cadamw": [(cadamw_case, {}), (cadamw_case, {"amsgrad": True}),
               (cadamw_case, {"maximize": True})],
    "clion": [(clion_case, {}), (clion_case, {"maximize": True}), (clion_case, {"timm": True}),
              (clion_case, {"timm": True, "maximize": True})],
}


@pytest.mark.parametrize("name", list(CASES))
def test_float64_matches_the_references_and_the_docs_quote_the_worst_difference(name):
    worst = 0.0
    for case, options in CASES[name]:
        for seed in range(2):
            ours, params, grads, expected = case(options, seed)
            worst = max(worst, run_ours(ours, params, grads, expected,
                                        f"{name} {options} seed {seed}"))
    assert worst <= documented_worst(name) <= 10 * max(worst, 1e-16)


def test_the_mask_written_out():
    # u = (1, −2, 3, 0), g = (1, 1, 1, 1): agree at 1 and 3 → φ = [1, 0, 1, 0]
    u, g = np.array([1.0, -2.0, 3.0, 0.0]), np.ones(4)
    assert cautious_mask(u, g).tolist() == [4 / 3, 0.0, 4 / 3, 0.0]  # d/(nnz + 1) = 4/3
    assert cautious_mask(u, g, "mean").tolist() == [2.0, 0.0, 2.0, 0.0]  # 1/(2/4)
    assert cautious_mask(-u, g, "mean").tolist() == [0.0, 4.0, 0.0, 0.0]  # 1/(1/4)
    one = np.zeros(2000)
    one[7] = 1.0  # one of 2000 agrees: timm's scale stops at 1/0.001, the paper's is 2000/2
    assert cautious_mask(one, np.ones(2000), "mean")[7] == 1000.0
    assert cautious_mask(one, np.ones(2000))[7] == 1000.0 and cautious_mask(
        one[:1000], np.ones(1000))[7] == 500.0
    assert cautious_mask(np.zeros(4), g, "mean").tolist() == [0.0] * 4  # nothing agrees


@pytest.mark.parametrize("cls,kwargs", [(CAdamW, {"amsgrad": True}),
                                        (CLion, {"mask_scale": "mean"})])
def test_resume_is_bit_identical(cls, kwargs, tmp_path):
    assert_resume_is_bit_identical(lambda: cls(0.01, **kwargs), tmp_path / "opt.npz", 5)
    key = next(iter(kwargs))
    flipped = {"amsgrad": False, "mask_scale": "count"}[key]
    with pytest.raises(ValueError, match=key):
        cls(0.01, **{key: flipped}).load(tmp_path / "opt.npz")


@pytest.mark.parametrize("cls", [CAdamW, CLion])
def test_bad_input_is_refused_naming_it_and_nothing_changes(cls):
    opt = cls(0.01)
    params = {"w": np.array([1.0, 2.0])}
    opt.update(params, {"w": np.array([0.1, -0.2])})
    before, state = params["w"].copy(), copy.deepcopy(opt.state)
    with pytest.raises(InputError, match="mask_scale"):
        opt.mask_scale = "median"
    with pytest.raises(InputError, match="beta2"):
        opt.beta2 = -0.1
    with pytest.raises(InputError, match="w"):
        opt.update(params, {"w": np.array([1.0, 2.0, 3.0])})
    np.testing.assert_array_equal(params["w"], before)
    np.testing.assert_array_equal(opt.state["w"]["m"], state["w"]["m"])
    assert opt.step == 1 and opt.mask_scale == "count"
