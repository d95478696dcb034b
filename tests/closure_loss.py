"""The changing test loss of the rules that need more than the gradient (Polyak SGD, MoMo,
MoMo-Adam, SAM, Sophia), both ways: in JAX for optax to differentiate, in NumPy (value,
gradient, Hessian-vector product written out) for descentlab's closure.

With per-step data (a, b, c, s), as a mini-batch's loss changes every step,

    f_t(p) = Σ ½a(p − c)² + Σ b·sin p + ½(Σ s·p)² + C,  C = 1 + Σ|b|,

over every parameter array (the last term couples them all, so the Hessian is not diagonal).

>>> import numpy as np
>>> p = {"w": np.array([1.0, 2.0])}
>>> d = step_data(np.random.default_rng(0), p)
>>> bool(np.isclose(np_loss(p, d), float(jax_loss(p, d))))
True
"""

from __future__ import annotations

import copy

import jax.numpy as jnp
import numpy as np


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


def step_data(rng: np.random.Generator, params: dict) -> dict[str, np.ndarray]:
    """One step's random data (a, b, c, s per array, and C) for ``params``' shapes."""
    d = {}
    for k, x in params.items():
        d["a" + k] = rng.uniform(0.5, 2.0, np.shape(x))
        d["b" + k] = rng.uniform(-0.5, 0.5, np.shape(x))
        d["c" + k] = rng.standard_normal(np.shape(x))
        d["s" + k] = 0.3 * rng.standard_normal(np.shape(x))
    d["C"] = np.array(1.0 + sum(float(np.abs(d["b" + k]).sum()) for k in params))
    return d


def run_closure(opt, params, data, *, hvp=False):
    """The parameters after each step of ``opt`` on the loss, from a copy of ``params``: the
    closure gives the loss and gradient at the current parameters (``hvp=True``: the
    Hessian-vector product too, Sophia's)."""
    ours = copy.deepcopy(params)
    out = []
    for d in data:
        kwargs = {"hvp": lambda v, d=d: np_hvp(ours, v, d)} if hvp else {}
        opt.update(ours, closure=lambda d=d: (np_loss(ours, d), np_grad(ours, d)), **kwargs)
        out.append({k: v.copy() for k, v in ours.items()})
    return out
