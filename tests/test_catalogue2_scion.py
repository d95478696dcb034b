"""Scion against pytorch-optimizer 4.1's ``SCION`` (float64, its per-parameter path): every
norm (its oracle) with each of its options on arrays of the dimensions it takes, random
hyperparameters and 100 steps of random gradients, the constrained form, both weight decays,
maximize, a scheduled rate, per-layer norms as parameter groups; the bfloat16 Newton–Schulz
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
from pytorch_optimizer.optimizer import scion as reference_module
from pytorch_optimizer.optimizer.scion import LMONorm
from torch_trajectory import documented_worst, run_ours, torch_trajectory

from descentlab import optim
from descentlab.errors import InputError, NonFiniteError
from descentlab.optim.scion import Scion

ENUM = {"auto": LMONorm.AUTO, "spectral": LMONorm.SPECTRAL,
        "spectral_conv": LMONorm.SPECTRALCONV, "sign": LMONorm.SIGN, "col": LMONorm.COL,
        "row": LMONorm.ROW, "bias_rms": LMONorm.BIAS, "identity": LMONorm.NONE}

#: (norm, our options, pytorch-optimizer's norm_kwargs, shapes it takes)
CASES = [
    ("auto", {}, {}, [(), (3,), (4, 3), (2, 5), (3, 2, 2), (2, 3, 2, 2)]),
    ("spectral", {}, {}, [(4, 3), (3, 5)]),
    ("spectral", {"normalized": False, "max_scale": True, "ns_steps": 3},
     {"normalize": False, "max_scale": True, "num_steps": 3}, [(4, 3), (2, 6)]),
    ("spectral", {"max_scale": True}, {"max_scale": True}, [(2, 6), (6, 2)]),
    ("spectral_conv", {}, {}, [(4, 3, 2), (3, 2, 2, 2), (3, 4)]),
    ("sign", {}, {}, [(4, 3), (2, 3, 2)]),
    ("sign", {"normalized": False}, {"normalize": False}, [(4, 3)]),
    ("col", {"normalized": False}, {"normalized": False}, [(4, 3), (2, 5)]),
    ("col", {"normalized": True, "transpose": True}, {"normalized": True, "transpose": True},
     [(4, 3)]),
    ("row", {}, {}, [(5,), (4, 3), (2, 3, 2)]),
    ("row", {"normalized": False, "transpose": True}, {"normalized": False, "transpose": True},
     [(4, 3), (3, 5)]),
    ("bias_rms", {}, {}, [(), (4,), (3, 2)]),
    ("identity", {}, {}, [(), (3,), (2, 2)]),
]
#: The rule's own options, each on a case of its own (with the auto norm's shapes).
RULE_OPTIONS = [{"constraint": True}, {"weight_decouple": False}, {"maximize": True},
                {"schedule": True}]


def problem(shapes, seed):
    rng = np.random.default_rng(seed)
    params = {f"p{i}": rng.standard_normal(s) for i, s in enumerate(shapes)}
    scales = {k: 10 ** rng.uniform(-1, 0.5) for k in params}
    grads = [{k: scales[k] * rng.standard_normal(p.shape) for k, p in params.items()}
             for _ in range(100)]
    hyper = dict(lr=float(rng.uniform(1e-3, 0.05)), momentum=float(rng.uniform(0.05, 1.0)),
                 scale=float(rng.uniform(0.5, 3.0)), wd=float(rng.uniform(0, 0.3)))
    return params, grads, hyper


@functools.lru_cache(maxsize=1)
def _float64_iteration():
    return functools.partial(reference_module.zero_power_via_newton_schulz_5,
                             dtype=torch.float64)


def reference(params, grads, hyper, norm, norm_kwargs, lr_at=None, ns_float64=True,
              **flags):
    make = functools.partial(
        pytorch_optimizer.SCION, lr=hyper["lr"], momentum=hyper["momentum"],
        norm_type=ENUM[norm], norm_kwargs=norm_kwargs, scale=hyper["scale"],
        weight_decay=hyper["wd"], foreach=False, **flags)
    original = reference_module.zero_power_via_newton_schulz_5
    if ns_float64:  # pytorch-optimizer's own iteration, in float64 (ns_dtype="param")
        reference_module.zero_power_via_newton_schulz_5 = _float64_iteration()
    try:
        return torch_trajectory(make, params, grads, lr_at=lr_at)
    finally:
        reference_module.zero_power_via_newton_schulz_5 = original


def ours(hyper, norm, options, lr_at=None, **flags):
    flags = dict(flags)
    if "weight_decouple" in flags:
        flags["decoupled_weight_decay"] = flags.pop("weight_decouple")
    options = {"ns_dtype": "param", **options}
    return Scion(lr_at or hyper["lr"], hyper["momentum"], norm=norm, scale=hyper["scale"],
                 weight_decay=hyper["wd"], **options, **flags)


def wavy(lr, k):
    return lr * (1 + 0.5 * np.sin(k))


def worst_difference(norm, options, norm_kwargs, shapes, flags, seed):
    params, grads, hyper = problem(shapes, seed)
    flags = dict(flags)
    lr_at = functools.partial(wavy, hyper["lr"]) if flags.pop("schedule", False) else None
    expected = reference(params, grads, hyper, norm, norm_kwargs, lr_at, **flags)
    return run_ours(ours(hyper, norm, options, lr_at, **flags), params, grads, expected,
                    f"scion {norm} {options} {flags} seed {seed}")


def test_float64_matches_pytorch_optimizer_and_the_docs_quote_the_worst_difference():
    worst = max(worst_difference(norm, options, kwargs, shapes, {}, seed)
                for norm, options, kwargs, shapes in CASES for seed in range(2))
    auto = CASES[0]
    worst = max(worst, *(worst_difference(*auto, flags, seed)
                         for flags in RULE_OPTIONS for seed in range(2)))
    assert worst <= documented_worst("scion") <= 10 * max(worst, 1e-16)


def test_per_layer_norms_as_groups_equal_pytorch_optimizers_param_groups():
    params, grads, hyper = problem([(4, 3), (6, 3), (3,)], 7)
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    theirs = pytorch_optimizer.SCION(
        [{"params": [tensors["p0"]], "norm_type": LMONorm.SPECTRAL},
         {"params": [tensors["p1"]], "norm_type": LMONorm.SIGN, "scale": 50.0},
         {"params": [tensors["p2"]], "norm_type": LMONorm.BIAS}],
        lr=hyper["lr"], momentum=hyper["momentum"], foreach=False)
    mine = optim.Groups(Scion(hyper["lr"], hyper["momentum"], ns_dtype="param"),
                        {"p1": {"norm": "sign", "scale": 50.0}, "p2": {"norm": "bias_rms"}})
    got = copy.deepcopy(params)
    original = reference_module.zero_power_via_newton_schulz_5
    reference_module.zero_power_via_newton_schulz_5 = _float64_iteration()
    try:
        for g in grads[:30]:
            for k, t in tensors.items():
                t.grad = torch.tensor(g[k])
            theirs.step()
            mine.update(got, g)
            for k, t in tensors.items():
                np.testing.assert_allclose(got[k], t.detach().numpy(), rtol=1e-12, atol=1e-13)
    finally:
        reference_module.zero_power_via_newton_schulz_5 = original


def test_bfloat16_newton_schulz_follows_pytorch_optimizer_to_bfloat16_precision():
    params, grads, hyper = problem([(4, 3), (3, 2, 2)], 5)
    grads = grads[:20]
    expected = reference(params, grads, hyper, "auto", {}, ns_float64=False)
    opt = Scion(hyper["lr"], hyper["momentum"], scale=hyper["scale"], weight_decay=hyper["wd"])
    got = copy.deepcopy(params)
    for g in grads:
        opt.update(got, g)
    for k in params:
        moved = np.linalg.norm(expected[-1][k] - params[k])
        assert np.linalg.norm(got[k] - expected[-1][k]) <= 0.02 * moved, k


def test_the_sign_oracle_by_hand():
    """α = 1 (no averaging): sign(g)/B with B = 2 columns, times ρ = 2, times η = 0.1."""
    w = np.zeros((1, 2))
    Scion(lr=0.1, momentum=1.0, norm="sign", scale=2.0).update(w, np.array([[3.0, -0.5]]))
    np.testing.assert_array_equal(w, [[-0.1, 0.1]])


@pytest.mark.parametrize("kwargs", [{}, {"norm": "bias_rms", "constraint": True}])
def test_resume_is_bit_identical(kwargs, tmp_path):
    lr = lambda k: 0.01 / (1 + k)  # noqa: E731
    assert_resume_is_bit_identical(lambda: Scion(lr, **kwargs), tmp_path / "opt.npz", 3)
    if kwargs:  # a checkpoint written with other options is refused, naming the option
        with pytest.raises(ValueError, match="norm"):
            Scion(lr, **{**kwargs, "norm": "auto"}).load(tmp_path / "opt.npz")


def test_bad_input_is_refused_naming_it_and_nothing_changes():
    opt = Scion(0.01, norm="spectral")
    params = {"w": np.ones((2, 3))}
    opt.update(params, {"w": np.ones((2, 3))})
    before, state = params["w"].copy(), copy.deepcopy(opt.state)
    with pytest.raises(InputError, match="momentum"):
        opt.momentum = 0.0  # the new gradient's weight is in (0, 1]
    with pytest.raises(InputError, match="scale"):
        opt.scale = 0.0
    with pytest.raises(InputError, match="norm"):
        opt.norm = "frobenius"
    with pytest.raises(InputError, match="'spectral' norm takes arrays of 2 dim.*'b'"):
        opt.update({"w": params["w"], "b": np.ones(3)}, {"w": np.ones((2, 3)), "b": np.ones(3)})
    with pytest.raises(NonFiniteError, match="parameter .w. is not finite at step 2"):
        opt.update(params, {"w": np.full((2, 3), np.nan)})
    np.testing.assert_array_equal(params["w"], before)
    np.testing.assert_array_equal(opt.state["w"]["d"], state["w"]["d"])
    assert opt.step == 1 and opt.momentum == 0.1 and set(opt.state) == {"w"}
