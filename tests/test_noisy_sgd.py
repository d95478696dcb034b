"""Noisy SGD against optax 0.2.8's ``noisy_sgd`` in float64.

optax's noise comes from JAX's threefry PRNG, which descentlab does not reproduce. The test
draws optax's own noise the way ``optax.noisy_sgd`` does (its key split once per update, a
normal draw per leaf through ``optax.tree.random_like``), gives those draws to ours as its
noise source, and compares the parameters after every one of 100 steps with optax's run of
its own (1e-12 relative): the schedule σₜ = √(η/tᵞ), the order of the operations and the draws'
use all have to agree. The default NumPy noise is tested for what it promises instead:
seeded, reproducible, resumable, N(0, 1).
"""

from __future__ import annotations

import copy

import numpy as np
import optax
import pytest
from helpers import assert_resume_is_bit_identical
from optax_oracle import fed, optax_noise, optax_trajectory
from test_optim_optax import assert_close, problem

from descentlab import optim
from descentlab.errors import InputError

STEPS = 100


def run_case(name, seed):
    """(ours fed optax's draws, params, grads, optax's parameters after each step) for the
    case ``noisy_sgd(key=K)`` (also benchmarks/optax_agreement.py --cases test_noisy_sgd)."""
    key = CASES[name]
    rng, params, grads = problem("noisy_sgd", seed)
    lr, eta, gamma = float(rng.uniform(0.001, 0.1)), float(rng.uniform(0.001, 1.0)), \
        float(rng.uniform(0.0, 1.5))
    expected = optax_trajectory(optax.noisy_sgd, params, grads,
                                hyper=dict(learning_rate=lr, eta=eta, gamma=gamma),
                                static={"key": key})
    opt = optim.NoisySGD(lr, eta, gamma, noise=fed(optax_noise(key, params, STEPS)))
    return opt, params, grads, expected


CASES = {"noisy_sgd(key=0)": 0, "noisy_sgd(key=7)": 7}


@pytest.mark.parametrize("name", list(CASES))
def test_float64_matches_optax_given_optax_draws(name):
    for seed in range(2):
        opt, params, grads, expected = run_case(name, seed)
        ours = copy.deepcopy(params)
        for step, g in enumerate(grads):
            opt.update(ours, g)
            assert_close(ours, expected[step], f"{name} seed {seed} step {step + 1}")


def test_sigma_is_optaxs_schedule():
    """With g = 0, p = 0 and η = 1 the step is −σₜ·z: σₜ = √(η_n/tᵞ) written out, and equal to
    optax's (its update divided by its own draw)."""
    eta, gamma, steps = 0.3, 0.55, 20
    params = {"w": np.zeros(3)}
    draws = optax_noise(3, params, steps)
    expected = optax_trajectory(optax.noisy_sgd, params, [{"w": np.zeros(3)}] * steps,
                                hyper=dict(learning_rate=1.0, eta=eta, gamma=gamma),
                                static={"key": 3})
    opt, x = optim.NoisySGD(1.0, eta, gamma, noise=fed(draws)), {"w": np.zeros(3)}
    for t in range(1, steps + 1):
        before = x["w"].copy()
        opt.update(x, {"w": np.zeros(3)})
        sigma = (eta / t**gamma) ** 0.5
        np.testing.assert_allclose(before - x["w"], sigma * draws[t - 1]["w"], rtol=1e-14)
        theirs = expected[t - 2]["w"] - expected[t - 1]["w"] if t > 1 else -expected[0]["w"]
        np.testing.assert_allclose(theirs / draws[t - 1]["w"], sigma, rtol=1e-14)


def test_default_noise_is_seeded_standard_normal_and_resumes(tmp_path):
    shape = (400, 250)

    def run(seed):
        opt, p = optim.NoisySGD(1.0, eta=1.0, gamma=0.0, seed=seed), np.zeros(shape)
        opt.update(p, np.zeros(shape))
        return -p  # σ = 1, g = 0: the draw itself

    z = run(5)
    assert np.array_equal(z, run(5)) and not np.array_equal(z, run(6))
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01  # 100,000 draws: 5σ bounds
    assert_resume_is_bit_identical(lambda: optim.NoisySGD(0.1, eta=0.5, seed=3),
                                   tmp_path / "ckpt.npz", seed=2)


def test_bad_noise_is_refused_before_anything_changes():
    p = {"a": np.ones(2), "b": np.ones(3)}
    bad_shape = optim.NoisySGD(noise=lambda t, path, shape: np.zeros(2))
    with pytest.raises(InputError, match=r"noise source gave shape \(2,\) for parameter 'b'"):
        bad_shape.update(p, {"a": np.ones(2), "b": np.ones(3)})
    not_finite = optim.NoisySGD(noise=lambda t, path, shape: np.full(shape, np.nan))
    with pytest.raises(InputError, match="non-finite draw for parameter 'a' at update 1"):
        not_finite.update(p, {"a": np.ones(2), "b": np.ones(3)})
    assert p["a"].tolist() == [1.0, 1.0] and p["b"].tolist() == [1.0, 1.0, 1.0]
    assert bad_shape.step == 0 and not bad_shape.state
    with pytest.raises(InputError, match="noise must be a callable"):
        optim.NoisySGD(noise=3)
    with pytest.raises(ValueError, match="eta"):
        optim.NoisySGD(eta=-1.0)
