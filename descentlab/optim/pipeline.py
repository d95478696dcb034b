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

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..errors import InputError
from . import fused as fused_path
from .apply import (
    clipped,
    prepass,
    prepass_items,
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
from .sums import GroupPart
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


@dataclass(slots=True)
class Checked:
    """An update whose every check has passed and that has changed nothing yet
    (:func:`checked_call`): the leaves, the clipped working gradients, the path per array,
    this step's hyperparameters and their values as resolved."""

    leaves: list[Leaf]
    gs: list[np.ndarray]
    fused: list[bool]
    step: Step
    hyper: dict[str, Any]


def checked_call(opt: Any, params: Any, grads: Any, step: Step | None = None
                 ) -> Checked | None:
    """Step 1 and the clipping of step 2: every check, before anything is modified; ``None``
    when the ``nonfinite`` policy skips this update (the caller counts it)."""
    leaves = flatten_params(params)
    gs = flatten_grads(grads, leaves)
    step = resolve(opt, opt.step) if step is None else step
    h = step.h
    hyper = {name: getattr(h, name) for name in opt.hyperparameter_names()}
    fused = check_step(opt, leaves, step)
    gs = working_grads(leaves, gs)
    bad = None if opt.nonfinite == "ignore" else first_nonfinite(leaves, gs, fused)
    if bad is not None and nonfinite_policy(opt.nonfinite, f"the gradient of {show(bad)}",
                                            opt.step + 1, stacklevel=5):
        return None
    return Checked(leaves, clipped(opt, gs), fused, step, hyper)


def checked_steps(opt: Any, params: Any, grads: Any, step: Step | None,
                  before: Any) -> Any:
    """:func:`checked_update`'s work; returns the new plan (or ``None``), or ``before`` when
    the update was skipped (a non-finite gradient, ``nonfinite='skip'``)."""
    checked = checked_call(opt, params, grads, step)
    if checked is None:
        opt.skipped_steps += 1
        return before
    new_globals = None
    if opt.overrides("prepass"):  # rule-wide sums over every leaf (if it raises, nothing
        with np.errstate(over="ignore", invalid="ignore", under="ignore", divide="ignore"):
            new_globals = prepass(opt, checked.leaves, checked.gs,  # has changed yet)
                                  checked.step.h)
    return applied(opt, params, grads, checked, new_globals)


def applied(opt: Any, params: Any, grads: Any, checked: Checked,
            new_globals: dict[str, Any] | None) -> Any:
    """Steps 3 and 4 of a checked update (which cannot fail half-way): the state synced,
    the globals the pre-pass returned, the rule per leaf, the count; returns the plan."""
    leaves, gs, fused, h = checked.leaves, checked.gs, checked.fused, checked.step.h
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
    opt.step += 1
    opt.current_lr = h.lr
    return make_plan(opt, params, grads, leaves, fused, flat, scalars, checked.step,
                     checked.hyper)


def update_together(calls: list[tuple[Any, Any, Any, str]]) -> None:
    """One update of several optimizers of one class whose rule-wide state is one (a class
    that declares :attr:`~.base.Optimizer.shares_globals`: the param groups of a
    :class:`~.groups.Groups` sharing Prodigy's d), ``calls`` = ``(opt, params, grads,
    label)`` each: every optimizer's checks, the settings that must agree
    (:attr:`~.base.Optimizer.shared_settings`), then the class's pre-pass over all their
    parameters at once (:meth:`~.base.Optimizer.prepass_groups`, the globals of the first),
    then each update with the same new globals. A failure changes nothing; if the
    ``nonfinite`` policy (the same in all: a shared setting) skips one, all skip.

    >>> from descentlab import optim
    >>> a, b = optim.Prodigy(), optim.Prodigy()
    >>> update_together([(a, {"x": np.ones(2)}, {"x": np.ones(2)}, "a"),
    ...                  (b, {"y": np.ones(1)}, {"y": -np.ones(1)}, "b")])
    >>> a.globals == b.globals, a.step, b.step
    (True, 1, 1)
    """
    checked = [checked_call(opt, params, grads) for opt, params, grads, _ in calls]
    if any(one is None for one in checked):  # one step for all: skipped by all
        for opt, _, _, _ in calls:
            opt.skipped_steps += 1
        return
    parts = [GroupPart(opt, [], one.step.h, label)
             for (opt, _, _, label), one in zip(calls, checked)]
    check_shared_settings(parts)
    parts = [GroupPart(opt, prepass_items(opt, one.leaves, one.gs, one.step.h), one.step.h,
                       label) for (opt, _, _, label), one in zip(calls, checked)]
    first = parts[0].opt
    with np.errstate(over="ignore", invalid="ignore", under="ignore", divide="ignore"):
        new_globals = first.prepass_groups(parts, dict(first.globals or first.init_globals()))
    # Every check has passed: from here on the update cannot fail half-way.
    for (opt, params, grads, _), one in zip(calls, checked):
        object.__setattr__(opt, "_plan", None)
        applied(opt, params, grads, one, dict(new_globals))


def check_shared_settings(parts: list[GroupPart]) -> None:
    """Refuse groups sharing one rule-wide state whose settings in the class's
    :attr:`~.base.Optimizer.shared_settings` differ, naming the setting and the group: the
    values on each part's ``h`` (at an update: this step's, schedules called; a setting
    ``h`` lacks — a schedule when :class:`~.groups.Groups` checks at construction — is left
    to the updates)."""
    first = parts[0]
    names = set(first.opt.hyperparameter_names())
    missing = object()
    for name in type(first.opt).shared_settings:
        def value(part: GroupPart, name: str = name) -> Any:
            return getattr(part.h, name, missing) if name in names else getattr(part.opt, name)
        for part in parts[1:]:
            if type(part.opt) is not type(first.opt):
                raise InputError(f"{part.label}: {type(part.opt).__name__} cannot share the "
                                 f"rule-wide state of {type(first.opt).__name__}")
            mine, theirs = value(part), value(first)
            if mine is missing or theirs is missing or np.array_equal(mine, theirs):
                continue
            raise InputError(
                f"{part.label}: {name} = {mine!r} differs from {first.label}'s {theirs!r}; "
                f"the groups share one {type(first.opt).shared_globals} and {name} enters it, "
                "so it must be the same in every group (or no sharing: Groups(..., "
                "share=False))")


__all__ = ["update", "checked_update", "check_step", "check_broadcast", "Checked",
           "checked_call", "applied", "update_together", "check_shared_settings"]
