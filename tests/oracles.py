"""The real Keras 3 (JAX backend) and optax as test oracles, next to PyTorch.

Each runner feeds a library's optimizer a given gradient sequence and returns the parameters
after every step, as NumPy arrays of shape ``(steps, *shape)``. The whole sequence runs as one
``jax.lax.scan`` under ``jax.jit``: one compilation per configuration, then microseconds per
step. JAX runs in x64 mode and Keras with ``floatx = "float64"``, so parameters, optimizer
variables and the learning rate are float64 (Keras keeps its iteration counter as int64).

``KERAS_BACKEND`` must be set before Keras is first imported; this module sets it and checks.

Where the libraries fall back to float32 even so (found by these tests, handled where used):
Keras schedules compute in the dtype of their first argument, and a Python float becomes
float32 (pass ``np.float64``); Keras's cosine schedules are float32 inside regardless; optax
counts in int32, which makes its schedules' values float32 (call them with an int64 count);
optax's ``MultiSteps`` keeps its accumulator in float32 unless given ``accumulator_dtype``.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "jax"

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_platforms", "cpu")

import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

if keras.backend.backend() != "jax":  # pragma: no cover - an earlier import chose another
    raise RuntimeError(f"Keras was imported with the {keras.backend.backend()!r} backend "
                       "before tests/oracles.py could select JAX")
keras.config.set_floatx("float64")


def _as_dict(p0):
    return (p0, False) if isinstance(p0, dict) else ({"p": p0}, True)


def _stack(grads, names, single):
    if single:
        return {"p": jnp.asarray(np.stack(grads))}
    return {k: jnp.asarray(np.stack([g[k] for g in grads])) for k in names}


def keras_run(optimizer, p0, grads, *, with_variables=False):
    """Parameters after each step of a real Keras optimizer fed ``grads``.

    ``p0`` is an array or a dict name → array (one Keras variable each, in that order); ``grads``
    a list of arrays / dicts of the same structure. With ``with_variables=True`` also returns
    the optimizer's variables after each step (list in ``optimizer.variables`` order).
    """
    p0, single = _as_dict(p0)
    names = list(p0)
    variables = [keras.Variable(np.asarray(p0[k], np.float64), dtype="float64", name=k)
                 for k in names]
    optimizer.build(variables)
    g_seq = _stack(grads, names, single)

    def body(carry, g):
        tv, ov = carry
        tv, ov = optimizer.stateless_apply(ov, [g[k] for k in names], tv)
        return (tv, ov), (tv, ov)

    @jax.jit
    def scan(tv, ov, gs):
        return jax.lax.scan(body, (tv, ov), gs)[1]

    tv_hist, ov_hist = scan([v.value for v in variables],
                            [v.value for v in optimizer.variables], g_seq)
    params = {k: np.asarray(h) for k, h in zip(names, tv_hist)}
    out = params["p"] if single else params
    if with_variables:
        return out, [np.asarray(h) for h in ov_hist]
    return out


def optax_run(tx, p0, grads, *, params_of=None, init=None):
    """Parameters after each step of an optax ``GradientTransformation`` fed ``grads``.

    ``init(p0)`` builds the parameter pytree optax sees (default: ``p0`` itself, as float64
    JAX arrays) and ``params_of(pytree)`` picks what to return from it (default: itself) —
    e.g. the fast weights of ``optax.lookahead``'s ``LookaheadParams``.
    """
    p0, single = _as_dict(p0)
    names = list(p0)
    params = {k: jnp.asarray(np.asarray(v, np.float64)) for k, v in p0.items()}
    if init is not None:
        params = init(params)
    state = tx.init(params)
    g_seq = _stack(grads, names, single)
    pick = params_of or (lambda x: x)

    def body(carry, g):
        p, s = carry
        u, s = tx.update(g, s, p)
        p = optax.apply_updates(p, u)
        return (p, s), pick(p)

    @jax.jit
    def scan(p, s, gs):
        return jax.lax.scan(body, (p, s), gs)[1]

    hist = {k: np.asarray(v) for k, v in scan(params, state, g_seq).items()}
    return hist["p"] if single else hist


def history(opt, p0, grads):
    """The same for a descentlab optimizer (or wrapper): parameters after each step."""
    p, out = p0.copy(), []
    for g in grads:
        opt.update(p, g)
        out.append(p.copy())
    return np.array(out)


def assert_close(ours, theirs, rtol=1e-12):
    """Relative agreement, with an absolute floor of rtol × the largest reference value."""
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * np.max(np.abs(theirs)))


def optax_values(fn, n):
    """A schedule's values at counts 0 … n − 1 (float64)."""
    return np.asarray(jax.jit(jax.vmap(fn))(jnp.arange(n)), np.float64)


def keras_schedule_values(schedule, n):
    """A Keras ``LearningRateSchedule``'s values at steps 0 … n − 1 (float64)."""
    one = jax.jit(lambda step: schedule(step))
    return np.array([float(one(jnp.asarray(step, jnp.int64))) for step in range(n)])


__all__ = ["keras", "optax", "jnp", "keras_run", "optax_run", "history", "assert_close",
           "optax_values",
           "keras_schedule_values"]
