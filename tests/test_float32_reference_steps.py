"""LaProp, C-AdamW and MADGRAD in float32 against their references in float32 (pytorch-optimizer
4.1's ``LaProp``, timm 1.0's ``AdamWLegacy(caution=True)``, the authors' ``madgrad`` 1.3):
in torch a Python-float scalar is weak, so a float32 tensor's step is float32 throughout; ours
must keep float32 the same way (no float64 NumPy scalar promoting part of the step). 50 steps
of random gradients. Neither side is bit-identical to the other (their operations round in
different orders), so each bound is the worst relative difference measured with the
Python-float scalars, rounded up: measured 9.3e-8 (LaProp), 3.4e-8 (C-AdamW), 1.08e-7
(MADGRAD); with the former float64 NumPy scalars, 8.9e-8, 6.3e-8 and 9.3e-8."""

from __future__ import annotations

import copy
import functools

import madgrad
import numpy as np
import pytest
import pytorch_optimizer
from torch_trajectory import problem, timm_optim, torch_trajectory

from descentlab.optim.cautious import CAdamW
from descentlab.optim.laprop import LaProp
from descentlab.optim.madgrad import Madgrad

STEPS = 50


def _case(name):
    rng, params, grads = problem(f"float32-{name}", 0, steps=STEPS)
    params = {k: np.asarray(v, np.float32) for k, v in params.items()}
    grads = [{k: np.asarray(v, np.float32) for k, v in g.items()} for g in grads]
    return params, grads


def laprop():
    make = functools.partial(pytorch_optimizer.LaProp, lr=0.01, betas=(0.9, 0.99), eps=1e-8,
                             weight_decay=0.01, foreach=False)
    return make, LaProp(0.01, 0.9, 0.99, 1e-8, 0.01)


def cadamw():
    make = functools.partial(timm_optim("adamw").AdamWLegacy, lr=0.01, betas=(0.9, 0.99),
                             eps=1e-8, weight_decay=0.01, caution=True, foreach=False)
    return make, CAdamW(0.01, 0.9, 0.99, 1e-8, 0.01, mask_scale="mean")


def madgrad_():
    make = functools.partial(madgrad.MADGRAD, lr=0.01, momentum=0.9, weight_decay=0.0,
                             eps=1e-6)
    return make, Madgrad(0.01, 0.9, 1e-6, 0.0)


def worst_difference(name, build):
    """The worst relative difference ``‖ours − theirs‖/‖theirs‖`` between our float32
    parameters and the float32 reference's over ``STEPS`` steps; ours must stay float32."""
    params, grads = _case(name)
    make, ours = build()
    expected = torch_trajectory(make, params, grads, dtype=np.float32)
    mine, worst = copy.deepcopy(params), 0.0
    for step, g in enumerate(grads):
        ours.update(mine, g)
        for k in mine:
            a, b = mine[k], expected[step][k]
            assert a.dtype == np.float32, f"{name}: step {step + 1}, {k} is {a.dtype}"
            if a.size and np.any(b != 0):
                diff = np.linalg.norm(a.astype(np.float64) - b) / np.linalg.norm(b)
                worst = max(worst, float(diff))
    return worst


@pytest.mark.parametrize(("name", "build", "bound"), [
    ("laprop", laprop, 1.2e-7),
    ("cadamw", cadamw, 5e-8),
    ("madgrad", madgrad_, 1.5e-7),
])
def test_float32_step_matches_the_float32_reference(name, build, bound):
    assert worst_difference(name, build) <= bound
