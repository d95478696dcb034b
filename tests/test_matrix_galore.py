"""GaLore against optax 0.2.8's ``contrib.galore`` with ``scale_by_adam`` (float64, JAX's
x64): random 0-D to 3-D shapes (tall, wide and square matrices; ranks below and above their
sides), hyperparameters and 100 steps of random gradients, every option (in three random
cases), a scheduled rate; with optax's float32 SVD run by NumPy (a callback; NumPy computes a
float32 SVD in float64 and rounds, LAPACK's float32 routine does not) within 1e-12, and the
plain optax within 1e-5; checkpoint resume bit-identical; bad input refused with nothing
changed; a race on a 2-D surface."""

from __future__ import annotations

import contextlib
import copy

import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import assert_resume_is_bit_identical, case_rng, random_steps
from optax_oracle import numpy_svd, optax_trajectory
from torch_trajectory import documented_worst, run_ours

from descentlab import optim
from descentlab.errors import InputError, NonFiniteError
from descentlab.optim.galore import GaLore

OPTIONS = [{}, {"weight_decay": True, "scale": True, "eps_root": True, "maximize": True},
           {"update_proj_gap": True, "schedule": True}]  # (each case compiles: few of them)


def case(options, seed, steps=100):
    rng = case_rng(options, seed)
    tall = (int(rng.integers(3, 7)), int(rng.integers(1, 4)))
    shapes = [(), (int(rng.integers(1, 7)),), tall, tall[::-1],
              (int(rng.integers(2, 5)),) * 2, tuple(int(n) for n in rng.integers(1, 4, 3))]
    params, grads = random_steps(rng, shapes, steps)
    ours = {"lr": float(rng.uniform(1e-3, 0.05)), "beta1": float(rng.uniform(0.5, 0.99)),
            "beta2": float(rng.uniform(0.9, 0.9999)), "eps": 10 ** float(rng.uniform(-10, -6)),
            "rank": int(rng.integers(1, 4)),
            "update_proj_gap": int(rng.integers(2, 30)) if options.get("update_proj_gap")
            else 200}
    if options.get("weight_decay"):
        ours["weight_decay"] = float(rng.uniform(0.0, 0.3))
    if options.get("scale"):
        ours["scale"] = float(rng.uniform(0.25, 4.0))
    if options.get("eps_root"):
        ours["eps_root"] = 10 ** float(rng.uniform(-10, -4))
    return params, grads, ours


def reference(params, grads, ours, schedule):
    static = {"rank": ours["rank"], "update_proj_gap": ours["update_proj_gap"],
              "scale": ours.get("scale", 1.0), "schedule": schedule}
    hyper = {k: ours.get(k, 0.0) for k in ("lr", "beta1", "beta2", "eps", "eps_root",
                                           "weight_decay")}

    def make(lr, beta1, beta2, eps, eps_root, weight_decay, rank, update_proj_gap, scale,
             schedule):
        rate = (lambda n: lr * (1 + 0.5 * jnp.sin(n.astype(jnp.float64)))) if schedule else lr
        return optax.contrib.galore(
            rate, rank, update_proj_gap, scale, weight_decay=weight_decay,
            base_optimizer=optax.scale_by_adam(beta1, beta2, eps, eps_root))

    return optax_trajectory(make, params, grads, hyper=hyper, static=static)


def worst_difference(options, seed, *, swap=True, rtol=1e-12):
    params, grads, ours = case(options, seed)
    theirs = [{k: -g for k, g in gs.items()} for gs in grads] if options.get("maximize") \
        else grads
    with numpy_svd() if swap else contextlib.nullcontext():
        expected = reference(params, theirs, ours, bool(options.get("schedule")))
    kwargs = dict(ours)
    if options.get("schedule"):
        lr = kwargs["lr"]
        kwargs["lr"] = lambda k: lr * (1 + 0.5 * np.sin(k))
    opt = GaLore(**kwargs, maximize=bool(options.get("maximize")))
    return run_ours(opt, params, grads, expected, f"galore {options} seed {seed}", rtol=rtol)


def test_float64_matches_optax_and_the_docs_quote_the_worst_difference():
    worst = max(worst_difference(options, 0) for options in OPTIONS)
    assert worst <= documented_worst("galore") <= 10 * max(worst, 1e-16)


def test_the_plain_optax_agrees_to_its_float32_svd():
    """Unpatched, optax's float32 SVD (LAPACK's single-precision routine) and NumPy's
    (double precision, rounded to float32) give projectors a float32 rounding apart."""
    worst = worst_difference({"update_proj_gap": True}, 1, swap=False, rtol=1e-3)
    assert 1e-12 < worst < 1e-5


@pytest.mark.parametrize("kwargs", [{}, {"rank": 1, "update_proj_gap": 3,
                                         "weight_decay": 0.1}])
def test_resume_is_bit_identical(kwargs, tmp_path):
    lr = lambda k: 0.01 / (1 + k)  # noqa: E731
    assert_resume_is_bit_identical(lambda: GaLore(lr, **kwargs), tmp_path / "opt.npz", 3)


def test_bad_input_is_refused_naming_it_and_nothing_changes():
    opt = GaLore(0.01, rank=1)
    params = {"w": np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])}
    opt.update(params, {"w": np.array([[0.1, 0.2], [0.3, -0.1], [0.0, 1.0]])})
    before, state = params["w"].copy(), copy.deepcopy(opt.state)
    with pytest.raises(InputError, match="beta2"):
        opt.beta2 = 1.5
    with pytest.raises(InputError, match="rank"):
        opt.rank = 2  # the state's shapes depend on it
    with pytest.raises((InputError, TypeError), match="update_proj_gap"):
        opt.update_proj_gap = 0
    with pytest.raises(InputError, match="scale"):
        opt.scale = -1.0
    with pytest.raises(InputError, match="decoupled_weight_decay"):
        opt.decoupled_weight_decay = True
    with pytest.raises(NonFiniteError, match="parameter .w. is not finite at step 2"):
        opt.update(params, {"w": np.array([[np.nan, 0.0], [0.0, 0.0], [0.0, 0.0]])})
    np.testing.assert_array_equal(params["w"], before)
    for k in state["w"]:
        np.testing.assert_array_equal(opt.state["w"][k], state["w"][k])
    assert opt.step == 1 and opt.rank == 1 and opt.beta2 == 0.999


def test_races_on_a_surface():
    """The K runs of a 2-D surface race as (1, 2) matrices, one optimizer each: each run
    equals that run alone."""
    from descentlab.lab.engine import run_batch
    from descentlab.problems import get as get_problem

    problem = get_problem("rosenbrock")
    starts = np.array([[-1.0, 1.5], [0.5, -0.5], [1.5, 2.0]])
    both = run_batch(problem, optim.create("galore", lr=0.05), starts, 30)
    for i in range(3):
        alone = run_batch(problem, optim.create("galore", lr=0.05), starts[i:i + 1], 30)
        np.testing.assert_array_equal(both.path[:, i], alone.path[:, 0])
    assert np.all(np.isfinite(both.path)) and not np.array_equal(both.path[-1], starts)
