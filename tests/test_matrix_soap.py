"""SOAP against pytorch-optimizer 4.1's ``SOAP`` (float64): random 0-D to 4-D shapes,
hyperparameters and 100 steps of random gradients, every option (one random case each), a
scheduled rate; with the reference's decompositions swapped for NumPy's
(tests/numpy_lapack.py) within 1e-12, and the plain reference (MKL, its float32 QR) within
1e-6 (array norms); checkpoint resume bit-identical; bad input refused with nothing changed;
a race on a 2-D surface."""

from __future__ import annotations

import contextlib
import copy
import functools

import numpy as np
import pytest
import pytorch_optimizer
from helpers import assert_resume_is_bit_identical, case_rng, random_steps
from numpy_lapack import numpy_lapack, one_torch_thread
from torch_trajectory import documented_worst, run_ours, torch_trajectory

from descentlab import optim
from descentlab.errors import InputError, NonFiniteError
from descentlab.optim.soap import SOAP

OPTIONS = [
    {}, {"precondition_1d": True}, {"correct_bias": False}, {"normalize_gradient": True},
    {"maximize": True}, {"max_precondition_dim": 3}, {"shampoo_beta": True},
    {"schedule": True},
]


def shapes(rng):
    """Four random shapes: a scalar, a vector, a matrix and a 3-D or 4-D array, each axis no
    longer than 1 + the product of the others (the first update's statistic then has a null
    space of dimension ≤ 1, so its eigenbasis is unique up to signs, which SOAP does not see;
    a larger null space has no unique basis, and two LAPACKs pick different ones)."""
    def fits(s):
        return all(n <= 1 + np.prod(s) // n for n in s)
    out = [(), (int(rng.integers(1, 7)),)]
    for ndim in (2, int(rng.integers(3, 5))):
        s = tuple(int(n) for n in rng.integers(1, 6, size=ndim))
        while not fits(s):
            s = tuple(int(n) for n in rng.integers(1, 6, size=ndim))
        out.append(s)
    return out


@pytest.fixture(autouse=True)
def _one_thread():
    with one_torch_thread():
        yield


def case(options, seed, steps=100):
    rng = case_rng(options, seed)
    params, grads = random_steps(rng, shapes(rng), steps)
    lr, b1, b2 = float(rng.uniform(1e-3, 0.05)), float(rng.uniform(0.5, 0.99)), \
        float(rng.uniform(0.8, 0.999))
    kwargs = {"eps": 10 ** float(rng.uniform(-12, -6)), "weight_decay": float(rng.uniform(0, 0.3)),
              "precondition_frequency": int(rng.integers(1, 12))}
    kwargs.update((k, v) for k, v in options.items() if k not in ("schedule", "shampoo_beta"))
    if options.get("shampoo_beta"):
        kwargs["shampoo_beta"] = float(rng.uniform(0.5, 0.99))
    lr_at = functools.partial(wavy, lr) if options.get("schedule") else None
    return params, grads, lr, b1, b2, kwargs, lr_at


def wavy(lr, k):
    return lr * (1 + 0.5 * np.sin(k))


def reference(params, grads, lr, b1, b2, kwargs, lr_at):
    make = functools.partial(pytorch_optimizer.SOAP, lr=lr, betas=(b1, b2), **kwargs)
    return torch_trajectory(make, params, grads, lr_at=lr_at)


def worst_difference(options, seed, *, swap=True, rtol=1e-12):
    params, grads, lr, b1, b2, kwargs, lr_at = case(options, seed)
    with numpy_lapack() if swap else contextlib.nullcontext():
        expected = reference(params, grads, lr, b1, b2, kwargs, lr_at)
    ours = SOAP(lr_at or lr, b1, b2, **kwargs)
    return run_ours(ours, params, grads, expected, f"soap {options} seed {seed}", rtol=rtol)


def test_float64_matches_pytorch_optimizer_and_the_docs_quote_the_worst_difference():
    worst = max(worst_difference(options, 0) for options in OPTIONS)
    assert worst <= documented_worst("soap") <= 10 * max(worst, 1e-16)


def test_the_plain_reference_agrees_to_its_float32_qr():
    """Unpatched, pytorch-optimizer decomposes with MKL and rounds each refreshed basis to
    float32 (its QR runs in float32): within 1e-6 of ours, not more. (Vectors unrotated:
    with ``precondition_1d`` a vector's first statistic g·gᵀ has rank 1, and MKL's basis of
    its null space is not OpenBLAS's.)"""
    worst = max(worst_difference(options, 5, swap=False, rtol=1e-4)
                for options in ({}, {"normalize_gradient": True}))
    assert 1e-12 < worst < 1e-6  # array-wise ‖ours − theirs‖/‖theirs‖ (elements: 1e-4)


@pytest.mark.parametrize("kwargs", [{}, {"precondition_1d": True, "precondition_frequency": 2,
                                         "normalize_gradient": True}])
def test_resume_is_bit_identical(kwargs, tmp_path):
    lr = lambda k: 0.01 / (1 + k)  # noqa: E731
    assert_resume_is_bit_identical(lambda: SOAP(lr, **kwargs), tmp_path / "opt.npz", 3)
    if kwargs:  # a checkpoint written with other state shapes is refused, naming the option
        with pytest.raises(ValueError, match="precondition_1d"):
            SOAP(lr, **{**kwargs, "precondition_1d": False}).load(tmp_path / "opt.npz")


def test_bad_input_is_refused_naming_it_and_nothing_changes():
    opt = SOAP(0.01)
    params = {"w": np.array([[1.0, 2.0], [3.0, 4.0]])}
    for _ in range(2):
        opt.update(params, {"w": np.array([[0.1, 0.2], [0.3, -0.1]])})
    before, state = params["w"].copy(), copy.deepcopy(opt.state)
    with pytest.raises(InputError, match="beta1"):
        opt.beta1 = 1.5
    with pytest.raises((InputError, TypeError), match="precondition_frequency"):
        opt.precondition_frequency = 0
    with pytest.raises(InputError, match="max_precondition_dim"):
        opt.max_precondition_dim = 1  # the state's shapes depend on it
    with pytest.raises(InputError, match="decoupled_weight_decay"):
        SOAP(decoupled_weight_decay=True)
    with pytest.raises(NonFiniteError, match="parameter .w. is not finite at step 3"):
        opt.update(params, {"w": np.array([[np.nan, 0.0], [0.0, 0.0]])})
    np.testing.assert_array_equal(params["w"], before)
    for k in state["w"]:
        np.testing.assert_array_equal(opt.state["w"][k], state["w"][k])
    assert opt.step == 2 and opt.beta1 == 0.95 and opt.precondition_frequency == 10


def test_races_on_a_surface():
    """The K runs of a 2-D surface race as (1, 2) matrices, one optimizer each (not
    element-wise): each run equals that run alone."""
    from descentlab.lab.engine import run_batch
    from descentlab.problems import get as get_problem

    problem = get_problem("rosenbrock")
    starts = np.array([[-1.0, 1.5], [0.5, -0.5], [1.5, 2.0]])
    both = run_batch(problem, optim.create("soap", lr=0.05), starts, 30)
    for i in range(3):
        alone = run_batch(problem, optim.create("soap", lr=0.05), starts[i:i + 1], 30)
        np.testing.assert_array_equal(both.path[:, i], alone.path[:, 0])
    assert np.all(np.isfinite(both.path)) and not np.array_equal(both.path[-1], starts)


#: merge_dims at max_precondition_dim 6: a scalar (merged to (1,)), a vector longer than 6
#: (never merged, unrotated), (2, 7, 1, 3) → (2, 7, 3) with the 7 unrotated (channels-last:
#: (2, 3, 7, 1) → (6, 7, 1)), (2, 3, 2, 3) → (6, 6) (channels-last: its (2, 3, 3, 2) → (6, 6))
#: and (3, 2, 5) → (6, 5): every merged statistic's null space of dimension ≤ 1.
MERGE_SHAPES = [(), (8,), (2, 7, 1, 3), (2, 3, 2, 3), (3, 2, 5)]


@pytest.mark.parametrize("data_format", ["channels_first", "channels_last"])
def test_merge_dims_matches_pytorch_optimizer(data_format):
    """Random hyperparameters and 100 steps, merge_dims in each data_format, within 1e-12
    of the reference (its decompositions NumPy's); and merging changes the run."""
    options = {"merge_dims": True, "data_format": data_format}
    rng = case_rng(options, 0)
    params, grads = random_steps(rng, MERGE_SHAPES, 100)
    lr, b1, b2 = float(rng.uniform(1e-3, 0.05)), float(rng.uniform(0.5, 0.99)), \
        float(rng.uniform(0.8, 0.999))
    kwargs = {"eps": 10 ** float(rng.uniform(-12, -6)), "weight_decay": float(rng.uniform(0, 0.3)),
              "precondition_frequency": int(rng.integers(1, 12)), "max_precondition_dim": 6,
              "normalize_gradient": data_format == "channels_last", **options}
    with numpy_lapack():
        expected = reference(params, grads, lr, b1, b2, kwargs, None)
    run_ours(SOAP(lr, b1, b2, **kwargs), params, grads, expected, f"soap {options}")
    unmerged = SOAP(lr, b1, b2, **{**kwargs, "merge_dims": False})
    with pytest.raises(AssertionError):
        run_ours(unmerged, params, grads, expected, "soap without merge_dims")


def test_merge_dims_state_and_refusals():
    """The bases are of the merged axes; arrays the reference cannot merge (one merged axis of
    more than one element: it fails to reshape) are refused by name, nothing changed; the
    layout cannot change once there is state."""
    opt = SOAP(merge_dims=True, max_precondition_dim=6, data_format="channels_last")
    params = {"c": np.ones((2, 3, 7, 3)), "s": np.ones(())}
    opt.update(params, {"c": np.ones((2, 3, 7, 3)), "s": np.ones(())})
    assert {k: v.shape for k, v in opt.state["c"].items() if k[0] in "LQ"} == {
        "L0": (6, 6), "Q0": (6, 6), "L1": (3, 3), "Q1": (3, 3)}  # (2, 3, 3, 7) → (6, 3, 7)
    with pytest.raises(InputError, match="data_format cannot change once"):
        opt.data_format = "channels_first"
    for shape in ((3,), (2, 3)):
        opt, x = SOAP(merge_dims=True, max_precondition_dim=6), {"w": np.ones(shape)}
        with pytest.raises(InputError, match=r"merges all of parameter 'w' \(shape"):
            opt.update(x, {"w": np.ones(shape)})
        assert opt.step == 0 and not opt.state and np.all(x["w"] == 1)
    with pytest.raises(InputError, match="data_format must be one of 'channels_first'"):
        SOAP(data_format="NHWC")
