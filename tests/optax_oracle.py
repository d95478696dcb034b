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

import contextlib
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from optax import contrib

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


def _closure_program(make: Callable[..., Any], static: tuple, loss: Callable,
                     extra: str) -> Callable:
    """The jitted scan of :func:`optax_closure_trajectory` (cached per case)."""

    def run(hyper, params, data, probes):
        tx = make(**hyper, **dict(static))
        state = tx.init(params)

        def body(carry, inputs):
            p, s = carry
            d, u = inputs
            value, g = jax.value_and_grad(loss)(p, d)
            kwargs: dict[str, Any] = {}
            if extra == "value":
                kwargs["value"] = value
            elif extra == "obj_fn":
                kwargs.update(obj_fn=lambda q: loss(q, d), probe=u)
            elif extra == "grad_fn":
                kwargs["grad_fn"] = lambda q, i: jax.grad(loss)(q, d)
            elif extra == "value_fn":
                kwargs.update(value=value, grad=g, value_fn=lambda q: loss(q, d))
            updates, s = tx.update(g, s, p, **kwargs)
            p = optax.apply_updates(p, updates)
            return (p, s), p

        return jax.lax.scan(body, (params, state), (data, probes))[1]

    return jax.jit(run)


_closure_compiled = cache(_closure_program)


def injected_hutchinson() -> Any:
    """optax's Hutchinson estimator of the Hessian's diagonal (``u ⊙ Hu`` by ``jax.jvp`` of
    ``jax.grad(obj_fn)``) with the Rademacher vector ``u`` passed in as ``probe=`` instead of
    drawn from a JAX key: the same random probe vectors for optax and descentlab."""

    def update(updates, state, params=None, obj_fn=None, probe=None, **extra):
        del updates, extra
        hvp = jax.jvp(jax.grad(obj_fn), (params,), (probe,))[1]
        return jax.tree.map(lambda h, r: h * r, hvp, probe), state

    return optax.GradientTransformationExtraArgs(lambda params: optax.EmptyState(), update)


def optax_closure_trajectory(
    make: Callable[..., Any],
    params: Tree,
    loss: Callable[[Any, Any], Any],
    data: Sequence[Any],
    *,
    extra: str,
    hyper: dict[str, float] | None = None,
    static: dict[str, Any] | None = None,
    probes: Sequence[Tree] | None = None,
) -> list[Tree]:
    """Parameters after each step of ``make(**hyper, **static)`` on the loss ``loss(params,
    data[t])`` (a JAX function of a dict of arrays and one step's data, a dict of arrays):
    the gradient of step t is ``jax.grad(loss)`` at the current parameters, and the update
    is given what the rule needs besides — ``extra="value"``: the loss (``value=``, Polyak,
    MoMo); ``"value_fn"``: the loss, the gradient and the loss as a function of the
    parameters (the backtracking line search); ``"grad_fn"``: the gradient function (SAM's
    ``opaque_mode``); ``"obj_fn"``: the loss as a function of the parameters and
    ``probes[t]`` (Sophia with :func:`injected_hutchinson`)."""
    static_items = tuple(sorted((static or {}).items()))
    fn = _closure_compiled(make, static_items, loss, extra)
    steps = len(data)
    if probes is None:
        probes = [{k: np.zeros_like(v) for k, v in params.items()}] * steps
    with jax.enable_x64(True):
        h = {k: jnp.asarray(v, jnp.float64) for k, v in (hyper or {}).items()}
        p = {k: jnp.asarray(v, jnp.float64) for k, v in params.items()}
        d = {k: jnp.asarray(np.stack([step[k] for step in data]), jnp.float64)
             for k in data[0]}
        u = {k: jnp.asarray(np.stack([step[k] for step in probes]), jnp.float64)
             for k in params}
        ps = jax.device_get(fn(h, p, d, u))
    return [{k: np.asarray(ps[k][i]) for k in params} for i in range(steps)]


@contextlib.contextmanager
def numpy_svd() -> Iterator[None]:
    """``jnp.linalg.svd`` is NumPy's inside the block (through a host callback): optax's
    GaLore decomposes in float32, LAPACK's single-precision routine; NumPy computes in float64
    and rounds, as ours does."""
    saved = jnp.linalg.svd

    def svd(a, full_matrices=True, **_):
        k = min(a.shape)
        shapes = (jax.ShapeDtypeStruct((a.shape[0], k), a.dtype),
                  jax.ShapeDtypeStruct((k,), a.dtype),
                  jax.ShapeDtypeStruct((k, a.shape[1]), a.dtype))
        assert not full_matrices
        return jax.pure_callback(lambda x: tuple(np.linalg.svd(x, full_matrices=False)),
                                 shapes, a)

    jnp.linalg.svd = svd
    try:
        yield
    finally:
        jnp.linalg.svd = saved


# ------------------------------------------------------------------ optax's noise, for ours
def optax_noise(key: int, params: Tree, steps: int) -> list[Tree]:
    """The draws optax.noisy_sgd(key=key) adds at each of ``steps`` updates (float64)."""
    with jax.enable_x64(True):
        rng = jax.random.key(key)
        like = {k: jnp.zeros(np.shape(v), jnp.float64) for k, v in params.items()}
        out = []
        for _ in range(steps):
            rng, sample = jax.random.split(rng)
            noise = optax.tree.random_like(sample, target_tree=like, sampler=jax.random.normal)
            out.append({k: np.asarray(v) for k, v in noise.items()})
    return out


def fed(draws: Sequence[Tree]) -> Callable[[int, str, tuple], np.ndarray]:
    """A noise source giving ``draws[t − 1][path]`` for the parameter at ``path``, update t."""
    return lambda t, path, shape: draws[t - 1][path]


# ------------------------------------------------------------------ optax's rules built as ours are
def sam_of(learning_rate: Any, rho: Any = None, sync_period: int = 2, momentum: Any = None,
           nesterov: bool = False, *, optimizer: str = "sgd", adv_optimizer: str = "normalize",
           adv_learning_rate: Any = None, adv_momentum: Any = None, b1: Any = 0.9,
           b2: Any = 0.999, eps: Any = 1e-8, reset_state: bool = True,
           opaque_mode: bool = True) -> Any:
    """optax's SAM from its parts: the outer ``optimizer`` ``"sgd"`` (optax.sgd(learning_rate,
    momentum, nesterov)) or ``"adam"`` (optax.adam(learning_rate, b1, b2, eps)); the inner
    ``adv_optimizer`` ``"normalize"`` (the paper's chain(normalize(), sgd(rho))), ``"sgd"``
    (optax.sgd(adv_learning_rate, adv_momentum)) or ``"adam"`` (optax.adam(adv_learning_rate)
    at its defaults)."""
    outer = {"sgd": lambda: optax.sgd(learning_rate, momentum, nesterov),
             "adam": lambda: optax.adam(learning_rate, b1, b2, eps)}[optimizer]()
    inner = {"normalize": lambda: optax.chain(contrib.normalize(), optax.sgd(rho)),
             "sgd": lambda: optax.sgd(adv_learning_rate, adv_momentum),
             "adam": lambda: optax.adam(adv_learning_rate)}[adv_optimizer]()
    return contrib.sam(outer, inner, sync_period=sync_period, reset_state=reset_state,
                       opaque_mode=opaque_mode)


def sgd_backtracking_of(learning_rate: Any, max_backtracking_steps: int = 15,
                        **options: Any) -> Any:
    """optax's SGD followed by its backtracking line search (its defaults otherwise;
    ``store_grad`` passes through)."""
    return optax.chain(optax.sgd(learning_rate),
                       optax.scale_by_backtracking_linesearch(max_backtracking_steps,
                                                              **options))


def sgd_zoom_of(learning_rate: Any, max_linesearch_steps: int = 15, **options: Any) -> Any:
    """optax's SGD followed by its zoom line search (its defaults otherwise)."""
    return optax.chain(optax.sgd(learning_rate),
                       optax.scale_by_zoom_linesearch(max_linesearch_steps, **options))


def lbfgs_of(learning_rate: Any = None, memory_size: int = 10, scale_init_precond: bool = True,
             linesearch: str | None = "zoom", **search: Any) -> Any:
    """optax.lbfgs with the line search ``linesearch`` names built from ``search``:
    ``"zoom"``, its zoom search (``max_linesearch_steps=20, initial_guess_strategy="one"``
    unless given: optax.lbfgs's default search); ``"backtracking"``, its backtracking search
    (``max_backtracking_steps`` required, ``store_grad`` passes through); None, none."""
    if linesearch == "zoom":
        search = {"max_linesearch_steps": 20, "initial_guess_strategy": "one", **search}
        line = optax.scale_by_zoom_linesearch(**search)
    elif linesearch == "backtracking":
        line = optax.scale_by_backtracking_linesearch(**search)
    else:
        assert linesearch is None and not search, (linesearch, search)
        line = None
    return optax.lbfgs(learning_rate, memory_size, scale_init_precond, linesearch=line)


def sophia_of(learning_rate: Any, **options: Any) -> Any:
    """optax's Sophia (its defaults otherwise) estimating the Hessian's diagonal with the
    probes passed in (:func:`injected_hutchinson`)."""
    return contrib.sophia(learning_rate, hessian_diagonal_fn=injected_hutchinson(), **options)


def mechanize_with(learning_rate: Any, base: str, weight_decay: Any = 0.01, eps: Any = 1e-8,
                   s_init: Any = 1e-6, num_betas: int = 6) -> Any:
    """optax's mechanize (its defaults otherwise) around optax's ``base`` at rate
    ``learning_rate`` (our "momentum" at its default μ = 0.9 is optax's sgd with
    momentum=0.9)."""
    inner = optax.sgd(learning_rate, momentum=0.9) if base == "momentum" else getattr(
        optax, base)(learning_rate)
    return contrib.mechanize(inner, weight_decay, eps, s_init, num_betas)


#: optax's transformations matching descentlab's GaLore bases, by our name: (builder of
#: optax's arguments, our base setting → its optax argument). Adam is ``scale_by_adam``;
#: AMSGrad ours with ``amsgrad_on="v_hat"``, AdaGrad ours with ``eps_mode="inside"`` and no
#: initial accumulator (optax's ``scale_by_rss(0.0, eps)``).
GALORE_BASES: dict[str, tuple[Callable[..., Any], dict[str, str]]] = {
    "adam": (optax.scale_by_adam, {"beta1": "b1", "beta2": "b2", "eps": "eps",
                                   "eps_root": "eps_root"}),
    "amsgrad": (optax.scale_by_amsgrad, {"beta1": "b1", "beta2": "b2", "eps": "eps",
                                         "eps_root": "eps_root"}),
    "sgd": (optax.identity, {}),
    "momentum": (lambda decay=0.9: optax.trace(decay), {"momentum": "decay"}),
    "nesterov": (lambda decay=0.9: optax.trace(decay, nesterov=True), {"momentum": "decay"}),
    "rmsprop": (lambda decay=0.99, eps=1e-8: optax.scale_by_rms(decay, eps, eps_in_sqrt=False),
                {"rho": "decay", "eps": "eps"}),
    "adagrad": (lambda eps=1e-10: optax.scale_by_rss(0.0, eps), {"eps": "eps"}),
    "lion": (optax.scale_by_lion, {"beta1": "b1", "beta2": "b2"}),
    "adabelief": (optax.scale_by_belief, {"beta1": "b1", "beta2": "b2", "eps": "eps",
                                          "eps_root": "eps_root"}),
    "yogi": (optax.scale_by_yogi, {"beta1": "b1", "beta2": "b2", "eps": "eps",
                                   "eps_root": "eps_root",
                                   "initial_accumulator_value": "initial_accumulator_value"}),
    "sign_sgd": (optax.scale_by_sign, {}),
    "signum": (lambda decay=0.9: optax.chain(optax.ema(decay, debias=False),
                                             optax.scale_by_sign()), {"beta": "decay"}),
}


def galore_with(learning_rate: Any, base: str = "adam", rank: int = 128,
                update_proj_gap: int = 200, scale: Any = 1.0, weight_decay: Any = 0.0,
                weight_dimension_numbers: tuple | None = None, **base_arguments: Any) -> Any:
    """optax's galore around the optax transformation of our ``base``
    (:data:`GALORE_BASES`, given its optax arguments), ``weight_dimension_numbers`` a pair
    (reduction, output) as ``GaLoreDimensionNumbers`` for every parameter of 2+ axes."""
    dims = None if weight_dimension_numbers is None else contrib.GaLoreDimensionNumbers(
        *weight_dimension_numbers)
    return contrib.galore(learning_rate, rank, update_proj_gap, scale,
                          base_optimizer=GALORE_BASES[base][0](**base_arguments),
                          weight_decay=weight_decay, weight_dimension_numbers=dims)
