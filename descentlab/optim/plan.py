"""The update plan: what a successful update checked and decided about its structure, kept
by the optimizer so that the next update with the same structure only checks what can change.

The structure is the same when the containers and keys, the parameter arrays (identity,
shapes, strides, dtypes, writeable), the gradients' types, shapes and dtypes, and the state
objects are those the plan recorded (:func:`match`). Such an update checks only what can
change — schedules (:func:`step_of`), finiteness, gradients sharing memory with parameters,
the state objects (:func:`checked_values`) — and runs the recorded path choice
(:func:`run`); anything else goes through the full path (:mod:`.pipeline`), which raises the
same errors and changes nothing when it does. Any assignment of a setting or load drops the
plan; a copy or a pickle of an optimizer starts without one.

>>> import numpy as np
>>> from descentlab import optim
>>> opt, p = optim.SGD(0.1), np.ones(2)
>>> opt.update_plan is None
True
>>> opt.update(p, np.ones(2)); type(opt.update_plan).__name__
'Plan'
"""

from __future__ import annotations

import math
import operator
import os
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from . import fused as fused_path
from .apply import clipped, clipping, update_leaf
from .checks import finite, owners, work_dtype, working_grad
from .tree import ROOT, Leaf, Structure, leaves_of, structure
from .tree import match as match_tree

_SHAPE, _STRIDES, _DTYPE = (operator.attrgetter(a) for a in ("shape", "strides", "dtype"))
_WRITEABLE = operator.attrgetter("flags.writeable")

#: The types of Python and NumPy floats a planned update accepts as gradients.
FLOAT_TYPES = (float, np.float64, np.float32, np.float16)


@dataclass(slots=True)
class Step:
    """One step's hyperparameters (``h`` of the rule, ``h.t`` the step number) and whether
    any came from a schedule."""

    h: SimpleNamespace
    scheduled: bool


def resolve(opt: Any, count: int) -> Step:
    """The hyperparameters of the update after ``count`` updates (schedules called)."""
    values, scheduled = _values(opt, count)
    return Step(SimpleNamespace(t=count + 1, **values), scheduled)


def _values(opt: Any, count: int) -> tuple[dict[str, Any], bool]:
    """The hyperparameters' values after ``count`` updates, and whether any is scheduled."""
    cls, hyper, values, scheduled = type(opt), opt._hyper, {}, False
    for name in opt.hyperparameter_names():
        value = hyper[name]
        if callable(value) and not isinstance(value, np.ndarray):
            value, scheduled = getattr(cls, name).resolve(opt, count), True
        values[name] = value
    return values, scheduled


@dataclass(slots=True)
class FlatPlan:
    """A FlatParams updated as its one buffer (:func:`.apply.update_flat`)."""

    params: np.ndarray  # the parameters' and the gradients' flat buffers
    grads: np.ndarray
    grad_arrays: list[np.ndarray]  # the gradient FlatParams's named arrays
    whole: Leaf  # the flat buffer as one leaf
    fused: bool  # its path choice
    state: dict[str, np.ndarray]  # the packed state buffers


@dataclass(slots=True, init=False, eq=False)
class Plan:
    """What a successful update checked and decided (fields set by :func:`make_plan`)."""

    pid: int
    state: dict[str, dict[str, np.ndarray]]  # the state, the shapes seen: the same objects
    shapes: Any
    params: Structure  # the containers of the parameters and of the gradients
    grads: Structure
    order: list[int] | None  # gradient leaf of each parameter (None: the same order)
    keys: list[Any]  # each parameter's key in its container
    paths: list[str]
    fused: list[bool]  # the path choice per array
    owners: dict[int, list[np.ndarray]]  # the parameters by memory owner (aliasing)
    p_types: list[type]  # each parameter's type
    p_index: list[int]  # the parameters that are arrays: identity, shape, strides, dtype
    p_same: list[np.ndarray]
    p_shapes: list[tuple[int, ...]]
    p_strides: list[tuple[int, ...]]
    p_dtypes: list[np.dtype]
    leaves: list[Leaf | None]  # the Leaf of each array (floats get a new one each call)
    work: list[np.dtype]  # working dtype per parameter
    g_types: list[type]  # each gradient's type
    g_index: list[int]  # the gradients that are arrays: shapes and dtypes
    g_shapes: list[tuple[int, ...]]
    g_dtypes: list[np.dtype]
    clip: bool
    scalars: list[int]  # the packed Python floats, in packing order, and their state
    scalar_state: dict[str, np.ndarray] | None
    unpacked: list[int]
    to_array: list[int]  # gradients given as numbers that the rule reads as 0-d arrays
    array_grads: list[int]  # gradients the rule reads as arrays (checked by finite())
    float_grads: list[int]  # gradients read as floats (checked by math.isfinite)
    direct: bool  # every leaf a packed float, in order
    direct_back: bool  # ... all Python floats in one dict
    has_globals: bool  # the class has rule-wide state / work before the rule
    has_begin: bool
    fixed: dict[str, Any] | None  # the hyperparameters (None: some are schedules)
    hyper_shapes: tuple[Any, ...]
    arrays: list[tuple[np.ndarray, tuple[int, ...]]]  # array hyperparameters, their shapes
    slot_dicts: list[dict[str, np.ndarray]]  # each parameter's state dict and all its arrays
    slot_arrays: list[np.ndarray]
    flat: FlatPlan | None

    def __reduce__(self) -> tuple[Any, ...]:
        return (_no_plan, ())


def _no_plan() -> None:
    return None


#: A call whose structure is the plan's (:func:`match`): its parameter values, their
#: containers, and the gradients in the parameters' order.
Found = tuple[list[Any], list[Any], list[Any]]


def make_plan(opt: Any, params: Any, grads: Any, leaves: list[Leaf], fused: list[bool],
              flat: bool, scalars: dict[int, int], step: Step,
              hyper: dict[str, Any]) -> Plan | None:
    """What a successful update checked and decided, for the next one with the same
    structure; ``None`` where the structure cannot be verified cheaply (the next update then
    takes the full path again). ``hyper``: the values as resolved, before ``begin_step``
    could write onto ``h``."""
    p_shape, g_shape = structure(params), structure(grads)
    if p_shape is None or g_shape is None or opt.overrides("prepass"):
        return None  # (a rule-wide pre-pass runs on the full path, every step)
    g_items = leaves_of(grads)
    paths = [leaf.path for leaf in leaves]
    where = {path: j for j, (path, _) in enumerate(g_items)}
    if len(where) != len(g_items) or len(where) != len(paths):
        return None  # two gradients under one path: the full path sorts that out
    order = [where[path] for path in paths]
    g_values = [g_items[j][1] for j in order]
    if not all(isinstance(g, np.ndarray) or type(g) in FLOAT_TYPES for g in g_values):
        return None  # integers, booleans...: the full path checks them every time
    plan = Plan()
    plan.pid, plan.state, plan.shapes = os.getpid(), opt.state, opt._shapes
    plan.params, plan.grads = p_shape, g_shape
    plan.order = None if order == list(range(len(order))) else order
    plan.keys = [key for _, key in p_shape[1]]
    plan.paths, plan.fused, plan.owners = paths, fused, owners(leaves)
    _record_params(plan, leaves)
    plan.g_types = [type(g) for g in g_values]
    plan.g_index = [i for i, g in enumerate(g_values) if isinstance(g, np.ndarray)]
    plan.g_shapes = [g_values[i].shape for i in plan.g_index]
    plan.g_dtypes = [g_values[i].dtype for i in plan.g_index]
    plan.clip = clipping(opt)
    _record_scalars(plan, opt, scalars, g_values, p_shape)
    plan.has_globals = opt.overrides("init_globals")
    plan.has_begin = opt.overrides("begin_step")
    plan.fixed = None if step.scheduled else hyper
    plan.hyper_shapes = tuple(v.shape if isinstance(v, np.ndarray) else None
                              for v in hyper.values())
    plan.arrays = [(v, v.shape) for v in hyper.values() if isinstance(v, np.ndarray)]
    plan.slot_dicts = [opt.state[path] for path in paths]
    plan.slot_arrays = [a for d in plan.slot_dicts for a in d.values()]
    plan.flat = None
    if flat:
        whole = Leaf(ROOT, params.flat)
        plan.flat = FlatPlan(params.flat, grads.flat,
                             [dict.__getitem__(grads, path) for path in paths], whole,
                             fused_path.use_fused(opt, whole, step.h), opt._flat_state.buffers)
    return plan


def _record_params(plan: Plan, leaves: list[Leaf]) -> None:
    plan.p_types = [type(leaf.array) if leaf.scalar_type is None else leaf.scalar_type
                    for leaf in leaves]
    plan.p_index = [i for i, leaf in enumerate(leaves) if leaf.scalar_type is None]
    arrays = [leaves[i].array for i in plan.p_index]
    plan.p_same = arrays
    plan.p_shapes = [a.shape for a in arrays]
    plan.p_strides = [a.strides for a in arrays]
    plan.p_dtypes = [a.dtype for a in arrays]
    plan.leaves = [leaf if leaf.scalar_type is None else None for leaf in leaves]
    plan.work = [work_dtype(leaf.array.dtype) for leaf in leaves]


def _record_scalars(plan: Plan, opt: Any, scalars: dict[int, int], g_values: list[Any],
                    p_shape: Any) -> None:
    n = len(plan.paths)
    plan.scalars = sorted(scalars, key=scalars.get)
    plan.scalar_state = opt._scalar_state.buffers if scalars else None
    plan.unpacked = [i for i in range(n) if i not in scalars]
    # Gradients the rule reads as arrays (Python numbers become 0-d arrays unless packed
    # unclipped); the packed floats are checked as floats.
    plan.to_array = [i for i, g in enumerate(g_values) if not isinstance(g, np.ndarray)
                     and (plan.clip or i not in scalars)]
    plan.array_grads = sorted(plan.g_index + plan.to_array)
    plan.float_grads = [] if plan.clip else plan.scalars
    plan.direct = plan.scalars == list(range(n))
    plan.direct_back = plan.direct and len(p_shape[0]) == 1 and (
        p_shape[0][0][2] is dict) and all(t is float for t in plan.p_types)


def match(opt: Any, plan: Plan, params: Any, grads: Any) -> Found | None:
    """The call's values when its structure is the plan's (nothing checked yet about what
    can change), else ``None``."""
    if plan.pid != os.getpid() or plan.state is not opt.state or (
            plan.shapes is not opt._shapes):
        return None
    found = match_tree(plan.params, params)
    if found is None:
        return None
    p_values, holders = found
    if list(map(type, p_values)) != plan.p_types:
        return None
    if plan.p_index:  # the same arrays, unchanged (their shape, strides, dtype and
        # writeable flag can be reassigned in place)
        arrays = p_values if len(plan.p_index) == len(p_values) else [
            p_values[i] for i in plan.p_index]
        if not all(map(operator.is_, arrays, plan.p_same)) or list(map(_SHAPE, arrays)) != (
                plan.p_shapes) or list(map(_STRIDES, arrays)) != plan.p_strides or list(
                map(_DTYPE, arrays)) != plan.p_dtypes or not all(map(_WRITEABLE, arrays)):
            return None
    found = match_tree(plan.grads, grads)
    if found is None:
        return None
    g_values = found[0] if plan.order is None else [found[0][j] for j in plan.order]
    if list(map(type, g_values)) != plan.g_types:
        return None
    if plan.g_index:
        arrays = g_values if len(plan.g_index) == len(g_values) else [
            g_values[i] for i in plan.g_index]
        if list(map(_SHAPE, arrays)) != plan.g_shapes or list(
                map(_DTYPE, arrays)) != plan.g_dtypes:
            return None
    flat = plan.flat
    if flat is not None and (getattr(params, "flat", None) is not flat.params or getattr(
            grads, "flat", None) is not flat.grads or not flat.params.flags.writeable or not all(
            map(operator.is_, g_values, flat.grad_arrays))):
        return None
    return p_values, holders, g_values


def step_of(opt: Any, plan: Plan) -> SimpleNamespace:
    """This step's hyperparameters (``h``): the plan's, or resolved from the schedules (and
    the combination checked, as the full path does; ``plan.fixed is None``)."""
    count = opt.step
    if plan.fixed is None:
        h = SimpleNamespace(t=count + 1, **_values(opt, count)[0])
        opt.check_settings({**opt._options, **vars(h)})
        return h
    return SimpleNamespace(t=count + 1, **plan.fixed)


def checked_values(opt: Any, plan: Plan, g_values: list[Any],
                   h: SimpleNamespace) -> list[Any] | None:
    """The gradients as the rule reads them, when what can change still holds — the
    hyperparameters' shapes, finite gradients, the same state objects; else ``None`` (the
    full path then decides)."""
    if plan.fixed is None:
        if tuple(getattr(h, name).shape if isinstance(getattr(h, name), np.ndarray)
                 else None for name in opt.hyperparameter_names()) != plan.hyper_shapes:
            return None
    else:
        for value, shape in plan.arrays:  # (an array's shape can be reassigned)
            if value.shape != shape:
                return None
    check = opt.nonfinite != "ignore"
    gs = g_values
    if plan.flat is not None:
        if check:
            with np.errstate(over="ignore", invalid="ignore"):
                if not finite(plan.flat.grads, plan.flat.fused):
                    return None
    else:
        if plan.array_grads:
            gs = list(gs)
            for i in plan.g_index:
                gs[i] = working_grad(gs[i], plan.work[i], plan.owners)
            for i in plan.to_array:
                gs[i] = np.asarray(gs[i], dtype=np.float64)
            if check:
                with np.errstate(over="ignore", invalid="ignore"):
                    for i in plan.array_grads:
                        if not finite(gs[i], plan.fused[i]):
                            return None
        if check and plan.float_grads and not all(map(math.isfinite, (
                gs if plan.direct else [gs[i] for i in plan.float_grads]))):
            return None
    # every parameter's state is the plan's (the same slot arrays)
    now = list(map(opt.state.get, plan.paths))
    if not all(map(operator.is_, now, plan.slot_dicts)):
        return None
    current = [a for d in now for a in d.values()]
    arrays = plan.slot_arrays
    if len(current) != len(arrays) or not all(map(operator.is_, current, arrays)):
        return None
    return gs


def run(opt: Any, plan: Plan, p_values: list[Any], holders: list[Any], gs: list[Any],
        h: SimpleNamespace) -> None:
    """The update along the plan, once :func:`checked_values` passed (it cannot fail)."""
    if plan.has_globals and not opt.globals:
        opt.globals = opt.init_globals()
    with np.errstate(over="ignore", invalid="ignore", under="ignore", divide="ignore"):
        if plan.has_begin:
            opt.begin_step(h)
        flat = plan.flat
        if flat is not None:
            update_leaf(opt, flat.whole, flat.grads, h, flat.fused, flat.state)
        else:
            if plan.clip:
                gs = clipped(opt, gs)
            for i in plan.unpacked:
                leaf = plan.leaves[i]
                if leaf is None:  # a Python float on its own: a 0-d array, written back
                    v = p_values[i]
                    leaf = Leaf(plan.paths[i], np.array(v, dtype=np.float64), holders[i],
                                plan.keys[i], type(v))
                update_leaf(opt, leaf, gs[i], h, plan.fused[i])
            if plan.scalars:
                _run_scalars(opt, plan, p_values, gs, holders, h)
    object.__setattr__(opt, "step", h.t)  # (known attributes: no typo check)
    object.__setattr__(opt, "current_lr", h.lr)


def _run_scalars(opt: Any, plan: Plan, p_values: list[Any], gs: list[Any],
                 holders: list[Any], h: SimpleNamespace) -> None:
    """The packed Python floats of a planned update (as :func:`.apply.update_scalars`)."""
    order = plan.scalars
    if plan.direct:  # every leaf a packed float, in order
        p = np.array(p_values, dtype=np.float64)
        g = np.array(gs, dtype=np.float64)
    else:
        p = np.array([p_values[i] for i in order], dtype=np.float64)
        g = np.array([gs[i] for i in order], dtype=np.float64)
    opt.apply_rule(p, g, plan.scalar_state, h)
    values = p.tolist()  # the same doubles, as Python floats
    if plan.direct_back:  # floats in one dict
        holders[0].update(zip(plan.keys, values))
    else:
        for i, value in zip(order, values):
            holders[i][plan.keys[i]] = plan.p_types[i](value)


__all__ = ["Step", "resolve", "Plan", "FlatPlan", "make_plan", "match", "step_of",
           "checked_values", "run", "FLOAT_TYPES"]
