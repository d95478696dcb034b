"""The optax optimizers, every option optax has for them, against real optax (float64).

Random shapes (drawn once per case, so one JAX compilation serves its seeds), random
hyperparameters and 100 steps of random gradients; the parameters after *every* step agree to
1e-12 relative. Forms that optax does not have (a paper's variant) are checked against optax's
own pieces where it has them, or against the paper's equations written out here.
"""

from __future__ import annotations

import copy

import jax
import numpy as np
import optax
import pytest
from helpers import named_problem
from optax import contrib
from optax_oracle import mechanize_with, optax_trajectory

from descentlab import optim

STEPS = 100


def _u(rng, lo, hi):
    return float(rng.uniform(lo, hi))


# ------------------------------------------------------------------ optax pieces for options
def lion_with_mode(learning_rate, b1, b2, weight_decay, smooth_beta, mode):
    return optax.chain(optax.scale_by_lion(b1, b2, mode=mode, smooth_beta=smooth_beta),
                       optax.add_decayed_weights(weight_decay),
                       optax.scale_by_learning_rate(learning_rate))


def yogi_full(learning_rate, b1, b2, eps, eps_root, initial_accumulator_value):
    return optax.chain(optax.scale_by_yogi(b1, b2, eps, eps_root, initial_accumulator_value),
                       optax.scale_by_learning_rate(learning_rate))


def adan_proximal(learning_rate, b1, b2, b3, eps, eps_root, weight_decay):
    """optax's Adan direction with the paper's proximal decay p ← (p − ηu)/(1 + λη)."""
    def update(updates, state, params):
        new = jax.tree.map(lambda p, u: (p + u) / (1 + learning_rate * weight_decay),
                             params, updates)
        return optax.tree.sub(new, params), state

    return optax.chain(optax.scale_by_adan(b1, b2, b3, eps, eps_root),
                       optax.scale_by_learning_rate(learning_rate),
                       optax.GradientTransformation(lambda p: optax.EmptyState(), update))


def root_clip(x):
    return x**0.5


def alpha_warmup(count):  # a rational warm-up that runs on ints and on JAX tracers alike
    return 5.0 * count / (count + 20.0)


def beta3_warmup(count):
    return 0.9 + 0.0999 * count / (count + 10.0)


# ------------------------------------------------------------------ cases
# Each case: rng -> (our optimizer, optax constructor, traced hyper, static options[, eval]).
def case_lion(mode):
    def case(rng):
        lr, b1, b2, wd = _u(rng, 1e-3, 0.05), _u(rng, 0.5, 0.95), _u(rng, 0.9, 0.999), \
            _u(rng, 0.0, 0.5)
        sb = _u(rng, 0.5, 3.0)
        ours = optim.Lion(lr, b1, b2, wd, mode=mode, smooth_beta=sb)
        hyper = dict(learning_rate=lr, b1=b1, b2=b2, weight_decay=wd)
        if mode == "hard":
            return ours, optax.lion, hyper, {}
        return ours, lion_with_mode, {**hyper, "smooth_beta": sb}, {"mode": mode}
    return case


def case_lars(nesterov):
    def case(rng):
        lr, wd, tc = _u(rng, 0.01, 0.5), _u(rng, 0.0, 0.1), _u(rng, 0.01, 1.0)
        eps, mu = _u(rng, 0.0, 0.1), _u(rng, 0.0, 0.95)
        ours = optim.Lars(lr, wd, tc, eps, mu, nesterov)
        return ours, optax.lars, dict(learning_rate=lr, weight_decay=wd, trust_coefficient=tc,
                                      eps=eps, momentum=mu), {"nesterov": nesterov}
    return case


def case_lamb(rng):
    lr, b1, b2 = _u(rng, 0.001, 0.05), _u(rng, 0.5, 0.95), _u(rng, 0.9, 0.9999)
    eps, eps_root, wd = 10 ** _u(rng, -8, -4), _u(rng, 0.0, 1e-3), _u(rng, 0.0, 0.1)
    ours = optim.Lamb(lr, b1, b2, eps, eps_root, wd)
    return ours, optax.lamb, dict(learning_rate=lr, b1=b1, b2=b2, eps=eps, eps_root=eps_root,
                                  weight_decay=wd), {}


def case_adabelief(nesterov):
    def case(rng):
        lr, b1, b2 = _u(rng, 0.001, 0.05), _u(rng, 0.5, 0.95), _u(rng, 0.9, 0.9999)
        eps, eps_root = 10 ** _u(rng, -16, -6), 10 ** _u(rng, -16, -6)
        ours = optim.AdaBelief(lr, b1, b2, eps, eps_root, nesterov=nesterov)
        return ours, optax.adabelief, dict(learning_rate=lr, b1=b1, b2=b2, eps=eps,
                                           eps_root=eps_root), {"nesterov": nesterov}
    return case


def case_yogi(rng):
    lr, b1, b2, eps = _u(rng, 0.001, 0.05), _u(rng, 0.5, 0.95), _u(rng, 0.9, 0.9999), \
        10 ** _u(rng, -6, -2)
    return optim.Yogi(lr, b1, b2, eps), optax.yogi, dict(learning_rate=lr, b1=b1, b2=b2,
                                                         eps=eps), {}


def case_yogi_full(rng):
    lr, b1, b2, eps = _u(rng, 0.001, 0.05), _u(rng, 0.5, 0.95), _u(rng, 0.9, 0.9999), \
        10 ** _u(rng, -6, -2)
    eps_root, init = _u(rng, 0.0, 1e-3), _u(rng, 0.0, 0.5)
    ours = optim.Yogi(lr, b1, b2, eps, eps_root=eps_root, initial_accumulator_value=init)
    return ours, yogi_full, dict(learning_rate=lr, b1=b1, b2=b2, eps=eps, eps_root=eps_root,
                                 initial_accumulator_value=init), {}


def case_adan(proximal):
    def case(rng):
        lr, b1, b2, b3 = _u(rng, 0.001, 0.05), _u(rng, 0.8, 0.99), _u(rng, 0.8, 0.99), \
            _u(rng, 0.9, 0.999)
        eps, eps_root, wd = 10 ** _u(rng, -10, -6), 10 ** _u(rng, -10, -6), _u(rng, 0.0, 0.5)
        ours = optim.Adan(lr, b1, b2, b3, eps, eps_root, wd, proximal_decay=proximal)
        hyper = dict(learning_rate=lr, b1=b1, b2=b2, b3=b3, eps=eps, eps_root=eps_root,
                     weight_decay=wd)
        return ours, adan_proximal if proximal else optax.adan, hyper, {}
    return case


def case_adopt(nesterov, use_clipping, clip_exponent=0.25):
    def case(rng):
        lr, b1, b2, eps = _u(rng, 0.001, 0.05), _u(rng, 0.5, 0.95), _u(rng, 0.9, 0.9999), \
            10 ** _u(rng, -8, -4)
        ours = optim.Adopt(lr, b1, b2, eps, nesterov=nesterov, use_clipping=use_clipping,
                           clip_exponent=clip_exponent)
        static = {"nesterov": nesterov, "use_clipping": use_clipping}
        if clip_exponent != 0.25:
            static["clip_value_fn"] = root_clip
        return ours, contrib.adopt, dict(learning_rate=lr, b1=b1, b2=b2, eps=eps), static
    return case


def case_ademamix(schedules):
    def case(rng):
        lr, b1, b2 = _u(rng, 0.001, 0.05), _u(rng, 0.5, 0.95), _u(rng, 0.9, 0.9999)
        b3, alpha = _u(rng, 0.99, 0.9999), _u(rng, 0.0, 8.0)
        eps, eps_root, wd = 10 ** _u(rng, -10, -6), _u(rng, 0.0, 1e-6), _u(rng, 0.0, 0.5)
        hyper = dict(learning_rate=lr, b1=b1, b2=b2, eps=eps, eps_root=eps_root,
                     weight_decay=wd)
        if schedules:
            ours = optim.AdEMAMix(lr, b1, b2, beta3_warmup, alpha_warmup, eps, wd,
                                  eps_root=eps_root)
            return ours, contrib.ademamix, hyper, {"b3": beta3_warmup, "alpha": alpha_warmup}
        ours = optim.AdEMAMix(lr, b1, b2, b3, alpha, eps, wd, eps_root=eps_root)
        return ours, contrib.ademamix, {**hyper, "b3": b3, "alpha": alpha}, {}
    return case


def _lr_where_optax_takes_it(lr, warmup):
    """With a warm-up, optax's schedule computes in float32 when the rate is a Python float
    (what a user passes): then the rate is a static argument, not a float64 array."""
    if warmup is None:
        return {"learning_rate": lr}, {"warmup_steps": None}
    return {}, {"warmup_steps": warmup, "learning_rate": lr, "compiled": False}


def case_sf_sgd(warmup):
    def case(rng):
        lr, b1, wd, k = _u(rng, 0.01, 0.5), _u(rng, 0.5, 0.99), _u(rng, 0.0, 0.1), \
            _u(rng, 0.0, 3.0)
        ours = optim.ScheduleFreeSGD(lr, warmup, b1, wd, k)
        hyper, static = _lr_where_optax_takes_it(lr, warmup)
        return ours, contrib.schedule_free_sgd, dict(
            b1=b1, weight_decay=wd, weight_lr_power=k, **hyper), static, \
            contrib.schedule_free_eval_params
    return case


def case_sf_adamw(warmup):
    def case(rng):
        lr, b1, b2 = _u(rng, 0.001, 0.05), _u(rng, 0.5, 0.99), _u(rng, 0.9, 0.9999)
        eps, wd, k = 10 ** _u(rng, -10, -6), _u(rng, 0.0, 0.1), _u(rng, 0.0, 3.0)
        ours = optim.ScheduleFreeAdamW(lr, warmup, b1, b2, eps, wd, k)
        hyper, static = _lr_where_optax_takes_it(lr, warmup)
        return ours, contrib.schedule_free_adamw, dict(
            b1=b1, b2=b2, eps=eps, weight_decay=wd, weight_lr_power=k, **hyper), static, \
            contrib.schedule_free_eval_params
    return case


def case_sign_sgd(rng):
    lr = _u(rng, 1e-3, 0.05)
    return optim.SignSGD(lr), optax.sign_sgd, dict(learning_rate=lr), {}


def case_signum(rng):
    lr, beta = _u(rng, 1e-3, 0.05), _u(rng, 0.0, 0.99)
    return optim.Signum(lr, beta), optax.signum, dict(learning_rate=lr, beta=beta), {}


def case_adamaxw(rng):
    lr, b1, b2 = _u(rng, 0.001, 0.05), _u(rng, 0.5, 0.95), _u(rng, 0.9, 0.9999)
    eps, wd = 10 ** _u(rng, -10, -6), _u(rng, 0.0, 0.5)
    ours = optim.create("adamaxw", lr=lr, beta1=b1, beta2=b2, eps=eps, weight_decay=wd)
    return ours, optax.adamaxw, dict(learning_rate=lr, b1=b1, b2=b2, eps=eps,
                                     weight_decay=wd), {}


def case_novograd(rng):
    lr, b1, b2 = _u(rng, 0.001, 0.05), _u(rng, 0.5, 0.95), _u(rng, 0.1, 0.999)
    eps, eps_root, wd = 10 ** _u(rng, -8, -3), _u(rng, 0.0, 1e-3), _u(rng, 0.0, 0.5)
    ours = optim.NovoGrad(lr, b1, b2, eps, eps_root, wd)
    return ours, optax.novograd, dict(learning_rate=lr, b1=b1, b2=b2, eps=eps,
                                      eps_root=eps_root, weight_decay=wd), {}


def case_optimistic(rng):
    lr, alpha, beta = _u(rng, 0.001, 0.05), _u(rng, 0.1, 2.0), _u(rng, 0.0, 2.0)
    ours = optim.OptimisticGradientDescent(lr, alpha, beta)
    return ours, optax.optimistic_gradient_descent, dict(learning_rate=lr, alpha=alpha,
                                                         beta=beta), {}


def case_optimistic_adam(nesterov, deprecated=False):
    def case(rng):
        lr, b1, b2 = _u(rng, 0.001, 0.05), _u(rng, 0.5, 0.95), _u(rng, 0.9, 0.9999)
        eps, eps_root = 10 ** _u(rng, -10, -6), 10 ** _u(rng, -10, -3)
        alpha, beta = _u(rng, 0.1, 2.0), _u(rng, 0.0, 2.0)
        if deprecated:  # optax.optimistic_adam(lr, optimism): alpha = lr, beta = optimism, η = 1
            ours = optim.OptimisticAdam(1.0, b1, b2, eps, eps_root, lr, beta, nesterov=nesterov)
            return ours, optax.optimistic_adam, dict(learning_rate=lr, optimism=beta, b1=b1,
                                                     b2=b2, eps=eps, eps_root=eps_root), \
                {"nesterov": nesterov}
        ours = optim.OptimisticAdam(lr, b1, b2, eps, eps_root, alpha, beta, nesterov=nesterov)
        return ours, optax.optimistic_adam_v2, dict(
            learning_rate=lr, alpha=alpha, beta=beta, b1=b1, b2=b2, eps=eps,
            eps_root=eps_root), {"nesterov": nesterov}
    return case


def case_acprop(rng):
    lr, b1, b2 = _u(rng, 0.001, 0.05), _u(rng, 0.5, 0.95), _u(rng, 0.9, 0.9999)
    eps, eps_root, wd = 10 ** _u(rng, -16, -6), 10 ** _u(rng, -16, -6), _u(rng, 0.0, 0.5)
    ours = optim.ACProp(lr, b1, b2, eps, eps_root, wd)
    return ours, contrib.acprop, dict(learning_rate=lr, b1=b1, b2=b2, eps=eps,
                                      eps_root=eps_root, weight_decay=wd), {}


def case_cocob(rng):
    lr, alpha, eps, wd = _u(rng, 0.1, 2.0), 10 ** _u(rng, 0, 3), 10 ** _u(rng, -8, -2), \
        _u(rng, 0.0, 0.5)
    return optim.COCOB(lr, alpha, eps, wd), contrib.cocob, dict(
        learning_rate=lr, alpha=alpha, eps=eps, weight_decay=wd), {}


def case_fromage(rng):
    lr, min_norm = _u(rng, 0.001, 0.3), 10 ** _u(rng, -8, 0)
    return optim.Fromage(lr, min_norm), optax.fromage, dict(learning_rate=lr,
                                                            min_norm=min_norm), {}


# ------------------------------------------------------------------ learning-rate-free rules
def dog_with(learning_rate, init_value, eps, weight_decay, init_step):
    """optax's dog with its init_step pair spelt as two arguments (the value traced)."""
    return contrib.dog(learning_rate, (init_step, init_value), eps, weight_decay)


def case_dog(init_step):
    def case(rng):
        lr, eps, wd = _u(rng, 0.5, 2.0), 10 ** _u(rng, -10, -4), _u(rng, 0.0, 0.1)
        value = {"heuristic": 10 ** _u(rng, -6, -3), "distance": _u(rng, 0.01, 0.5),
                 "learning_rate": _u(rng, 1e-3, 0.1)}[init_step]
        return optim.DoG(lr, init_step, value, eps, wd), dog_with, dict(
            learning_rate=lr, init_value=value, eps=eps, weight_decay=wd), {
            "init_step": init_step}
    return case


def case_dowg(initial):
    def case(rng):
        lr, eps, wd = _u(rng, 0.5, 2.0), 10 ** _u(rng, -6, -2), _u(rng, 0.0, 0.1)
        init = _u(rng, 0.01, 1.0) if initial else None
        hyper = dict(learning_rate=lr, eps=eps, weight_decay=wd)
        if initial:
            hyper["init_estim_sq_dist"] = init
        return optim.DoWG(lr, init, eps, wd), contrib.dowg, hyper, {}
    return case


def case_prodigy(safeguard=False, beta3=False, beta1_zero=False):
    def case(rng):
        lr, b1, b2 = _u(rng, 0.5, 2.0), _u(rng, 0.5, 0.95), _u(rng, 0.9, 0.999)
        b1 = 0.0 if beta1_zero else b1
        b3 = _u(rng, 0.5, 0.99) if beta3 else None
        eps, d0, coef, wd = 10 ** _u(rng, -8, -4), 10 ** _u(rng, -6, -2), _u(rng, 0.5, 2.0), \
            _u(rng, 0.0, 0.1)
        ours = optim.Prodigy(lr, b1, b2, b3, eps, wd, d0=d0, d_coef=coef,
                             safeguard_warmup=safeguard, use_bias_correction=True,
                             form="optax")
        hyper = dict(learning_rate=lr, betas=(b1, b2), eps=eps, estim_lr0=d0,
                     estim_lr_coef=coef, weight_decay=wd)
        if beta3:
            hyper["beta3"] = b3
        return ours, contrib.prodigy, hyper, {"safeguard_warmup": safeguard}
    return case


def case_dadapt_adamw(rng):
    lr, b1, b2 = _u(rng, 0.5, 2.0), _u(rng, 0.5, 0.95), _u(rng, 0.9, 0.999)
    eps, d0, wd = 10 ** _u(rng, -8, -4), 10 ** _u(rng, -6, -2), _u(rng, 0.0, 0.1)
    ours = optim.DAdaptAdamW(lr, b1, b2, eps, wd, d0=d0, use_bias_correction=True)
    return ours, contrib.dadapt_adamw, dict(learning_rate=lr, betas=(b1, b2), eps=eps,
                                            estim_lr0=d0, weight_decay=wd), {}


def case_mechanize(base):
    def case(rng):
        lr, wd, eps = _u(rng, 0.01, 1.0), _u(rng, 0.0, 0.1), 10 ** _u(rng, -10, -6)
        s_init, n = 10 ** _u(rng, -8, -4), int(rng.integers(1, 8))
        ours = optim.Mechanize(base, lr, wd, eps, s_init=s_init, num_betas=n)
        return ours, mechanize_with, dict(learning_rate=lr, weight_decay=wd, eps=eps,
                                          s_init=s_init), {"base": base, "num_betas": n}
    return case


CASES = {
    "sign_sgd": case_sign_sgd,
    "signum": case_signum,
    "adamaxw": case_adamaxw,
    "novograd": case_novograd,
    "optimistic_gradient_descent": case_optimistic,
    "fromage": case_fromage,
    "acprop": case_acprop,
    "cocob": case_cocob,
    "optimistic_adam": case_optimistic_adam(True),
    "optimistic_adam(nesterov=False)": case_optimistic_adam(False),
    "optimistic_adam(lr=1: optax's deprecated optimistic_adam)": case_optimistic_adam(True, True),
    "lion": case_lion("hard"),
    "lion(mode=smooth)": case_lion("smooth"),
    "lion(mode=refined)": case_lion("refined"),
    "lars": case_lars(False),
    "lars(nesterov)": case_lars(True),
    "lamb": case_lamb,
    "adabelief": case_adabelief(False),
    "adabelief(nesterov)": case_adabelief(True),
    "yogi": case_yogi,
    "yogi(eps_root, initial_accumulator_value)": case_yogi_full,
    "adan": case_adan(False),
    "adan(proximal_decay)": case_adan(True),
    "adopt": case_adopt(False, True),
    "adopt(nesterov)": case_adopt(True, True),
    "adopt(use_clipping=False)": case_adopt(False, False),
    "adopt(clip_exponent=0.5)": case_adopt(False, True, 0.5),
    "ademamix": case_ademamix(False),
    "ademamix(schedules)": case_ademamix(True),
    "schedule_free_sgd": case_sf_sgd(None),
    "schedule_free_sgd(warmup_steps)": case_sf_sgd(7),
    "schedule_free_adamw": case_sf_adamw(None),
    "schedule_free_adamw(warmup_steps)": case_sf_adamw(7),
    "dog": case_dog("heuristic"),
    "dog(init_step=distance)": case_dog("distance"),
    "dog(init_step=learning_rate)": case_dog("learning_rate"),
    "dowg": case_dowg(False),
    "dowg(init_estim_sq_dist)": case_dowg(True),
    "prodigy(use_bias_correction)": case_prodigy(),
    "prodigy(use_bias_correction, safeguard_warmup)": case_prodigy(safeguard=True),
    "prodigy(use_bias_correction, beta3)": case_prodigy(beta3=True),
    "prodigy(use_bias_correction, beta1=0)": case_prodigy(beta1_zero=True),
    "dadapt_adamw(use_bias_correction)": case_dadapt_adamw,
    "mechanize(base=adam)": case_mechanize("adam"),
    "mechanize(base=sgd)": case_mechanize("sgd"),
    "mechanize(base=lion)": case_mechanize("lion"),
    "mechanize(base=momentum)": case_mechanize("momentum"),
}


def problem(name, seed):
    """Shapes fixed per case (one compilation), parameters and gradients per seed."""
    return named_problem(name, seed, STEPS)


def assert_close(ours, theirs, what):
    for k in ours:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-12, atol=1e-13,
                                   err_msg=what)


@pytest.mark.parametrize("name", list(CASES))
def test_float64_matches_optax(name):
    for seed in range(2):
        rng, params, grads = problem(name, seed)
        opt, make, hyper, static, *evaluate = CASES[name](rng)
        compiled = static.pop("compiled", True)
        expected = optax_trajectory(make, params, grads, hyper=hyper, static=static,
                                    compiled=compiled,
                                    evaluate=evaluate[0] if evaluate else None)
        expected, expected_eval = expected if evaluate else (expected, None)
        ours = copy.deepcopy(params)
        moved = False
        for step, g in enumerate(grads):
            opt.update(ours, g)
            assert_close(ours, expected[step], f"{name} seed {seed} step {step + 1}")
            if expected_eval is not None:
                assert_close(opt.eval_params(ours), expected_eval[step],
                             f"{name} eval_params, seed {seed} step {step + 1}")
            moved = moved or any(not np.array_equal(ours[k], params[k]) for k in ours)
        assert moved


def test_cases_cover_every_optax_optimizer():
    """Every optimizer whose declared references include optax and not torch.optim (the
    classes' ``references``; torch's are deep-tested in test_optim_torch*.py) has a case here
    or its own test."""
    from descentlab.optim.references import cells

    declared = {name for name, ref in cells() if ref.column == "optax"} - \
        {name for name, ref in cells() if ref.column == "torch.optim"}
    assert {"lion", "sm3", "madgrad", "schedule_free_adamw"} <= declared
    own_tests = {"sm3",  # below: its own shapes
                 "madgrad", "simplified_ademamix",  # tests/test_catalogue2_*.py
                 "galore",  # tests/test_matrix_galore.py: its SVD run by NumPy
                 "noisy_sgd",  # tests/test_noisy_sgd.py: given optax's draws
                 # they need a closure: tests/test_optim_closure.py
                 "polyak_sgd", "momo", "momo_adam", "sam", "sophia", "sgd_backtracking",
                 "sgd_zoom", "lbfgs_optax", "lbfgs_backtracking"}
    assert {case.split("(")[0] for case in CASES} | own_tests == declared


# ------------------------------------------------------------------ SM3's shapes
@pytest.mark.parametrize("seed", range(2))
def test_sm3_matches_optax_on_1d_2d_and_3d_parameters(seed):
    """optax's SM3 keeps one accumulator per axis and refuses 0-d parameters: its own shapes
    (1-d: AdaGrad's accumulator; 2-d and 3-d: the minimum over the axes' accumulators)."""
    rng = np.random.default_rng(seed)
    shapes = {"v": (5,), "m": (3, 4), "t": (2, 3, 4), "one": (1, 6)}
    params = {k: rng.standard_normal(s) for k, s in shapes.items()}
    grads = [{k: 10.0 ** rng.uniform(-1, 0.5) * rng.standard_normal(s)
              for k, s in shapes.items()} for _ in range(STEPS)]
    for g in grads[10:20]:
        g["m"][0] = 0.0  # a row of zeros: a = 0 there while its accumulators are 0
    lr, momentum = _u(rng, 0.001, 0.1), _u(rng, 0.0, 0.99)
    expected = optax_trajectory(optax.sm3, params, grads,
                                hyper=dict(learning_rate=lr, momentum=momentum))
    opt, ours = optim.SM3(lr, momentum), copy.deepcopy(params)
    for step, g in enumerate(grads):
        opt.update(ours, g)
        assert_close(ours, expected[step], f"sm3 seed {seed} step {step + 1}")
    assert opt.state["t"]["acc"].shape == (9,)  # 2 + 3 + 4 numbers, not 24


def test_sm3_on_a_scalar_is_adagrads_accumulator():
    """optax refuses 0-d parameters; here a scalar is a vector of one entry (written out)."""
    opt, x, acc, m = optim.SM3(0.1, 0.5), {"s": 2.0}, 0.0, 0.0
    p = 2.0
    for g in (1.0, -3.0, 0.5):
        acc += g * g
        m = 0.5 * g / (acc + 1e-8) ** 0.5 + 0.5 * m
        p -= 0.1 * m
        opt.update(x, {"s": g})
    assert x["s"] == pytest.approx(p, rel=1e-14)
