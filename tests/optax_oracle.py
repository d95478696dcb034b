"""Real optax as a test oracle: run a transformation on a gradient sequence, in float64.

``optax_trajectory(make, params, grads, hyper=..., static=...)`` builds
``make(**hyper, **static)`` inside one jitted ``lax.scan`` over the steps and returns the
parameters after every step. Hyperparameters passed in ``hyper`` are traced arguments, so one
compilation serves every value of them (and every seed with the same shapes); options that
change the program (booleans, integer step counts) go in ``static``. JAX runs in 64-bit mode
only inside these calls (``jax.enable_x64``), so nothing else in a test process is affected.

>>> import numpy as np, optax
>>> out = optax_trajectory(optax.sgd, {"w": np.ones(2)}, [{"w": np.ones(2)}] * 3,
...                        hyper={"learning_rate": 0.5})
>>> out[-1]["w"].tolist()
[-0.5, -0.5]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

jax.config.update("jax_platforms", "cpu")

Tree = dict[str, np.ndarray]


def _program(make: Callable[..., Any], static: tuple, evaluate: Callable | None,
             compiled: bool) -> Callable:
    def run(hyper, params, grads):
        tx = make(**hyper, **dict(static))
        state = tx.init(params)

        def body(carry, g):
            p, s = carry
            updates, s = tx.update(g, s, p)
            p = optax.apply_updates(p, updates)
            seen = evaluate(s, p) if evaluate is not None else p
            return (p, s), (p, seen)

        if compiled:
            return jax.lax.scan(body, (params, state), grads)[1]
        carry, out = (params, state), []
        for i in range(len(next(iter(grads.values())))):
            carry, seen = body(carry, {k: v[i] for k, v in grads.items()})
            out.append(seen)
        return jax.tree.map(lambda *xs: jnp.stack(xs), *out)

    return jax.jit(run) if compiled else run


_compiled = cache(_program)


def optax_trajectory(
    make: Callable[..., Any],
    params: Tree,
    grads: Sequence[Tree],
    *,
    hyper: dict[str, float] | None = None,
    static: dict[str, Any] | None = None,
    evaluate: Callable[[Any, Any], Any] | None = None,
    compiled: bool = True,
) -> list[Tree] | tuple[list[Tree], list[Tree]]:
    """Parameters after each of ``len(grads)`` steps of ``make(**hyper, **static)``.

    ``evaluate(state, params)`` (e.g. ``optax.contrib.schedule_free_eval_params``) adds a
    second list: its value after every step. ``compiled=False`` runs optax op by op, without
    ``jit``: XLA's compiled code can round float32 intermediates (optax's schedules compute
    in float32) differently from the same operations run one by one.
    """
    static_items = tuple(sorted((static or {}).items()))
    fn = _compiled(make, static_items, evaluate, compiled)
    with jax.enable_x64(True):
        h = {k: jnp.asarray(v, jnp.float64) for k, v in (hyper or {}).items()}
        p = {k: jnp.asarray(v, jnp.float64) for k, v in params.items()}
        g = {k: jnp.asarray(np.stack([step[k] for step in grads]), jnp.float64)
             for k in params}
        ps, seen = jax.device_get(fn(h, p, g))
    steps = len(grads)
    trajectory = [{k: np.asarray(ps[k][i]) for k in params} for i in range(steps)]
    if evaluate is None:
        return trajectory
    return trajectory, [{k: np.asarray(seen[k][i]) for k in params} for i in range(steps)]
