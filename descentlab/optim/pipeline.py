"""The update pipeline: what ``Optimizer.update(params, grads)`` runs around a class's rule.

1. check once (:func:`checked_update`): flatten both trees, check the structure against the
   state (:func:`.checks.check_structure`), resolve this step's hyperparameters (schedules)
   and check they broadcast and agree, check parameters do not share memory, choose the path
   per array (:func:`.fused.use_fused`), cast the gradients to the working dtype and check
   they are finite (the ``nonfinite`` policy) — all before anything is modified;
2. clip copies of the gradients; a class with a rule-wide pre-pass
   (:meth:`~.base.Optimizer.prepass`: norms, dot products over all parameters) runs it
   here, before anything is modified;
3. apply per leaf (:mod:`.apply`): the fused kernel, or the readable rule in
   cache-sized blocks; a :class:`~.flat.FlatParams` as its one flat buffer
   Python-float leaves packed into one array;
4. count the step, and leave a plan (:mod:`.plan`) that lets the next call with the same
   structure skip step 1's structural work.

The class (:mod:`.base`) only describes the rule; these functions run it.

>>> import numpy as np
>>> from descentlab import optim
>>> opt, p = optim.SGD(0.5), np.array([1.0, 2.0])
>>> opt.update(p, np.array([2.0, 2.0])); p
array([0., 1.])
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from ..errors import InputError
from . import fused as fused_path
from .apply import (
    clipped,
    prepass,
    scalar_pack,
    synced,
    update_flat,
    update_leaf,
    update_scalars,
)
from .checks import (
    check_no_overlap,
    check_structure,
    first_nonfinite,
    nonfinite_policy,
    seen_of,
    working_grads,
)
from .plan import Plan, Step, checked_values, make_plan, match, resolve, run, step_of
from .tree import Leaf, flatten_grads, flatten_params, show


def update(opt: Any, params: Any, grads: Any) -> None:
    """One update of ``params`` in place: along the optimizer's plan when the structure is
    the plan's and the checks of what can change pass, else through :func:`checked_update`
    (every check; a failure changes nothing)."""
    plan = opt._plan
    if type(plan) is Plan:
        found = match(opt, plan, params, grads)
        if found is not None:
            p_values, holders, g_values = found
            fixed = plan.fixed
            h = step_of(opt, plan) if fixed is None else SimpleNamespace(t=opt.step + 1,
                                                                          **fixed)
            gs = checked_values(opt, plan, g_values, h)
            if gs is not None:
                run(opt, plan, p_values, holders, gs, h)
                return
            checked_update(opt, params, grads, Step(h, plan.fixed is None))
            return
    checked_update(opt, params, grads)


def checked_update(opt: Any, params: Any, grads: Any, step: Step | None = None) -> None:
    """The update with every check (``step``: this step's hyperparameters, when the planned
    path has already resolved them: a schedule is called once per step). A successful update
    leaves its plan; a failed or skipped one leaves the plan as it was (nothing changed),
    unless a setting was assigned meanwhile (which drops it)."""
    before = opt._plan
    token = object()  # an assignment during this update drops it
    object.__setattr__(opt, "_plan", token)
    outcome: Any = before
    try:
        outcome = checked_steps(opt, params, grads, step, before)
    finally:
        if opt._plan is token:
            object.__setattr__(opt, "_plan", outcome)


def check_step(opt: Any, leaves: list[Leaf], step: Step) -> list[bool]:
    """The checks that depend on the structure and this step's settings — paths, shapes and
    dtypes against the state, settings that agree, hyperparameter shapes, parameters sharing
    memory — and the path choice (fused or not) per array."""
    h = step.h
    if step.scheduled:  # fixed settings were checked when they were assigned
        opt.check_settings({**opt._options, **vars(h)})
    check_structure(opt._shapes, leaves)
    check_broadcast(opt, h, leaves)
    check_no_overlap(leaves)
    return [fused_path.use_fused(opt, leaf, h) for leaf in leaves]


def check_broadcast(opt: Any, h: SimpleNamespace, leaves: list[Leaf]) -> None:
    """Refuse a hyperparameter array that does not broadcast to every parameter."""
    for name in opt.hyperparameter_names():
        value = getattr(h, name)
        if not isinstance(value, np.ndarray):
            continue
        for leaf in leaves:
            shape = leaf.array.shape
            try:
                ok = np.broadcast_shapes(value.shape, shape) == shape
            except ValueError:
                ok = False
            if not ok:
                raise InputError(f"{name} has shape {value.shape}, which does not broadcast "
                                 f"to {show(leaf.path)} of shape {shape}")


def checked_steps(opt: Any, params: Any, grads: Any, step: Step | None,
                  before: Any) -> Any:
    """:func:`checked_update`'s work; returns the new plan (or ``None``), or ``before`` when
    the update was skipped (a non-finite gradient, ``nonfinite='skip'``)."""
    leaves = flatten_params(params)
    gs = flatten_grads(grads, leaves)
    count = opt.step
    step = resolve(opt, count) if step is None else step
    h = step.h
    hyper = {name: getattr(h, name) for name in opt.hyperparameter_names()}
    fused = check_step(opt, leaves, step)
    gs = working_grads(leaves, gs)
    bad = None if opt.nonfinite == "ignore" else first_nonfinite(leaves, gs, fused)
    if bad is not None and nonfinite_policy(opt.nonfinite, f"the gradient of {show(bad)}",
                                            count + 1, stacklevel=4):
        opt.skipped_steps += 1
        return before
    gs = clipped(opt, gs)
    new_globals = None
    if opt.overrides("prepass"):  # rule-wide sums over every leaf (if it raises, nothing
        with np.errstate(over="ignore", invalid="ignore", under="ignore", divide="ignore"):
            new_globals = prepass(opt, leaves, gs, h)  # has changed yet)
    # Every check has passed: from here on the update cannot fail half-way.
    if opt._shapes is None or any(d is None for _, d in opt._shapes.values()):
        opt._shapes = seen_of(leaves)
    for leaf in leaves:
        opt.state[leaf.path] = synced(opt, opt.state.get(leaf.path), leaf.array, leaf.path)
    if new_globals is not None:
        opt.globals = new_globals
    elif not opt.globals:
        opt.globals = opt.init_globals()
    scalars: dict[int, int] = {}
    with np.errstate(over="ignore", invalid="ignore", under="ignore", divide="ignore"):
        opt.begin_step(h)
        flat = update_flat(opt, params, grads, leaves, gs, h)
        if not flat:
            scalars = scalar_pack(opt, leaves, h)
            for i, (leaf, g, one_pass) in enumerate(zip(leaves, gs, fused)):
                if i not in scalars:
                    update_leaf(opt, leaf, g, h, one_pass)
            if scalars:
                update_scalars(opt, leaves, gs, h, scalars)
    opt.step = count + 1
    opt.current_lr = h.lr
    return make_plan(opt, params, grads, leaves, fused, flat, scalars, step, hyper)


__all__ = ["update", "checked_update", "check_step", "check_broadcast"]
