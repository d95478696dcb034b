"""The rules that need more than the gradient (Polyak SGD, MoMo, MoMo-Adam, SAM, Sophia)
against real optax 0.2.8 in float64, every option; and the closure API's guarantees.

The loss changes every step, as a mini-batch's would: with per-step data (a, b, c, s),

    f_t(p) = Σ ½a(p − c)² + Σ b·sin p + ½(Σ s·p)² + C,  C = 1 + Σ|b|,

over three parameter arrays of random shapes (the last term couples them all, so the
Hessian is not diagonal). Its gradient and Hessian-vector product are written out below for
descentlab's closure; optax differentiates the same formula with JAX. The parameters after
every one of 100 steps agree to 1e-12 relative.
"""

from __future__ import annotations

import copy
import math
import zlib

import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import assert_resume_is_bit_identical
from optax import contrib
from optax_oracle import injected_hutchinson, optax_closure_trajectory

from descentlab import optim
from descentlab.errors import InputError, InputTypeError, NonFiniteError

STEPS = 100


def _u(rng, lo, hi):
    return float(rng.uniform(lo, hi))


# ------------------------------------------------------------------ the loss, both ways
def jax_loss(p, d):
    total, coupling = 0.0, 0.0
    for k in sorted(p):
        x = p[k]
        total += jnp.sum(0.5 * d["a" + k] * (x - d["c" + k]) ** 2 + d["b" + k] * jnp.sin(x))
        coupling += jnp.sum(d["s" + k] * x)
    return total + 0.5 * coupling**2 + d["C"]


def np_loss(p, d):
    total = sum(float(np.sum(0.5 * d["a" + k] * (p[k] - d["c" + k]) ** 2
                             + d["b" + k] * np.sin(p[k]))) for k in sorted(p))
    coupling = sum(float(np.sum(d["s" + k] * p[k])) for k in sorted(p))
    return total + 0.5 * coupling**2 + float(d["C"])


def np_grad(p, d):
    coupling = sum(float(np.sum(d["s" + k] * p[k])) for k in sorted(p))
    return {k: d["a" + k] * (p[k] - d["c" + k]) + d["b" + k] * np.cos(p[k])
            + coupling * d["s" + k] for k in p}


def np_hvp(p, v, d):
    sv = sum(float(np.sum(d["s" + k] * v[k])) for k in sorted(p))
    return {k: (d["a" + k] - d["b" + k] * np.sin(p[k])) * v[k] + sv * d["s" + k] for k in p}


def problem(name, seed):
    """Shapes fixed per case (one compilation), parameters and data per seed."""
    shape_rng = np.random.default_rng(zlib.crc32(name.encode()))
    shapes = [tuple(int(n) for n in shape_rng.integers(1, 5, size=shape_rng.integers(0, 3)))
              for _ in range(3)]
    rng = np.random.default_rng(seed)
    params = {f"p{i}": rng.standard_normal(s) for i, s in enumerate(shapes)}
    data = []
    for _ in range(STEPS):
        d = {}
        for k, x in params.items():
            d["a" + k] = rng.uniform(0.5, 2.0, x.shape)
            d["b" + k] = rng.uniform(-0.5, 0.5, x.shape)
            d["c" + k] = rng.standard_normal(x.shape)
            d["s" + k] = 0.3 * rng.standard_normal(x.shape)
        d["C"] = np.array(1.0 + sum(float(np.abs(d["b" + k]).sum()) for k in params))
        data.append(d)
    return rng, params, data


def run_ours(opt, params, data, *, hvp=False, check=None):
    ours = copy.deepcopy(params)
    out = []
    for d in data:
        kwargs = {"hvp": lambda v, d=d: np_hvp(ours, v, d)} if hvp else {}
        opt.update(ours, closure=lambda d=d: (np_loss(ours, d), np_grad(ours, d)), **kwargs)
        out.append({k: v.copy() for k, v in ours.items()})
    return out


# ------------------------------------------------------------------ cases
# Each: rng -> (ours, optax constructor, traced hyper, static, extra).
def case_polyak(variant):
    def case(rng):
        s, gmax, f_min, eps = _u(rng, 0.3, 2.0), _u(rng, 0.05, 2.0), _u(rng, -1.0, 2.0), \
            _u(rng, 0.0, 1e-3)
        ours = optim.PolyakSGD(s, gmax, f_min, eps, variant)
        return ours, optax.polyak_sgd, dict(max_learning_rate=gmax, scaling=s, f_min=f_min,
                                            eps=eps), {"variant": variant}, "value"
    return case


def case_momo(adapt):
    def case(rng):
        lr, beta, lb, wd = _u(rng, 0.1, 2.0), _u(rng, 0.5, 0.99), _u(rng, 0.0, 1.0), \
            _u(rng, 0.0, 0.1)
        ours = optim.Momo(lr, beta, lb, wd, adapt)
        return ours, contrib.momo, dict(learning_rate=lr, beta=beta, lower_bound=lb,
                                        weight_decay=wd), {"adapt_lower_bound": adapt}, "value"
    return case


def case_momo_adam(adapt):
    def case(rng):
        lr, b1, b2 = _u(rng, 0.01, 1.0), _u(rng, 0.5, 0.95), _u(rng, 0.9, 0.9999)
        eps, lb, wd = 10 ** _u(rng, -10, -6), _u(rng, 0.0, 1.0), _u(rng, 0.0, 0.1)
        ours = optim.MomoAdam(lr, b1, b2, eps, lb, wd, adapt)
        return ours, contrib.momo_adam, dict(learning_rate=lr, b1=b1, b2=b2, eps=eps,
                                             lower_bound=lb, weight_decay=wd), \
            {"adapt_lower_bound": adapt}, "value"
    return case


def sam_of(learning_rate, rho, sync_period, momentum=None, nesterov=False):
    """optax's SAM with an outer optax.sgd and the paper's inner normalised ascent."""
    return contrib.sam(optax.sgd(learning_rate, momentum, nesterov),
                       optax.chain(contrib.normalize(), optax.sgd(rho)),
                       sync_period=sync_period, opaque_mode=True)


def case_sam(sync_period, momentum, nesterov=False):
    def case(rng):
        lr, rho, mu = _u(rng, 0.01, 0.3), _u(rng, 0.01, 0.5), _u(rng, 0.1, 0.9)
        ours = optim.SAM(lr, rho, mu if momentum else 0.0, nesterov, sync_period)
        hyper = dict(learning_rate=lr, rho=rho)
        if momentum:
            hyper["momentum"] = mu
        return ours, sam_of, hyper, {"sync_period": sync_period, "nesterov": nesterov}, \
            "grad_fn"
    return case


def sophia_of(learning_rate, b1, b2, eps, weight_decay, gamma, clip_threshold=None,
              update_interval=10):
    return contrib.sophia(learning_rate, b1, b2, eps, weight_decay, gamma=gamma,
                          clip_threshold=clip_threshold, update_interval=update_interval,
                          hessian_diagonal_fn=injected_hutchinson())


def case_sophia(clip, interval):
    def case(rng):
        lr, b1, b2 = _u(rng, 0.001, 0.05), _u(rng, 0.5, 0.99), _u(rng, 0.9, 0.999)
        eps, wd, gamma = 10 ** _u(rng, -10, -6), _u(rng, 0.0, 0.1), 10 ** _u(rng, -2, 0)
        c = _u(rng, 0.2, 2.0)
        if not clip:  # unclipped, a small or negative estimate makes steps of 1/ε: a floor
            eps = _u(rng, 0.1, 1.0)
        ours = optim.Sophia(lr, b1, b2, eps, wd, gamma, c if clip else None, interval,
                            seed=int(rng.integers(0, 1000)))
        hyper = dict(learning_rate=lr, b1=b1, b2=b2, eps=eps, weight_decay=wd, gamma=gamma)
        if clip:
            hyper["clip_threshold"] = c
        return ours, sophia_of, hyper, {"update_interval": interval}, "obj_fn"
    return case


CASES = {
    "polyak_sgd": case_polyak("sps"),
    "polyak_sgd(variant=sps+)": case_polyak("sps+"),
    "momo": case_momo(False),
    "momo(adapt_lower_bound)": case_momo(True),
    "momo_adam": case_momo_adam(False),
    "momo_adam(adapt_lower_bound)": case_momo_adam(True),
    "sam": case_sam(2, False),
    "sam(sync_period=3)": case_sam(3, False),
    "sam(sync_period=1)": case_sam(1, False),
    "sam(momentum)": case_sam(2, True),
    "sam(momentum, nesterov)": case_sam(2, True, True),
    "sophia": case_sophia(True, 10),
    "sophia(update_interval=3)": case_sophia(True, 3),
    "sophia(clip_threshold=None, update_interval=1)": case_sophia(False, 1),
}


def trajectories(name, seed):
    """(ours, optax's): the parameters after every step of case ``name``."""
    rng, params, data = problem(name, seed)
    opt, make, hyper, static, extra = CASES[name](rng)
    probes = None
    if extra == "obj_fn":
        shapes = [params[k].shape for k in params]
        probes = [dict(zip(params, opt.probe_vectors(t, shapes)))
                  for t in range(1, STEPS + 1)]
    expected = optax_closure_trajectory(make, params, jax_loss, data, extra=extra,
                                        hyper=hyper, static=static, probes=probes)
    return run_ours(opt, params, data, hvp=extra == "obj_fn"), expected, params


@pytest.mark.parametrize("name", list(CASES))
def test_float64_matches_optax(name):
    for seed in range(2):
        ours, expected, start = trajectories(name, seed)
        for step, (a, b) in enumerate(zip(ours, expected)):
            for k in a:
                np.testing.assert_allclose(a[k], b[k], rtol=1e-12, atol=1e-13,
                                           err_msg=f"{name} seed {seed} step {step + 1}")
        assert any(not np.allclose(ours[-1][k], start[k]) for k in start)


def test_the_cases_cover_every_rule_that_needs_a_closure():
    names = {case.split("(")[0] for case in CASES}
    assert names == {n for n in optim.available()
                     if getattr(optim.get_class(n), "needs_closure", False)} - {"lbfgs"}
