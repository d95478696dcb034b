"""Apply the rule per leaf, once every check has passed (:mod:`.pipeline`): the fused
kernel (maximize, weight decay and the rule in one pass, :mod:`.fused`) or the readable rule
block by block (:mod:`.blocks`); float16 parameters through float32 working copies. Two
packings keep the per-call cost down with the same bits: a :class:`~.flat.FlatParams` updated
as its one flat buffer (:func:`update_flat`) and Python-float leaves run as one packed array
(:func:`scalar_pack`); ``state[path][slot]`` are then views into the packed state
(:class:`Packed`).

>>> import numpy as np
>>> tiles(np.zeros(4), [np.zeros(4)[:2], np.zeros(4)[2:]])  # two different buffers
False
>>> flat = np.zeros(4); tiles(flat, [flat[:2], flat[2:]])
True
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from . import fused as fused_path
from .blocks import blocks, elementwise_rule
from .checks import work_dtype
from .clipping import clip_arrays
from .tree import ROOT, Leaf


@dataclass(slots=True)
class Packed:
    """State packed into one buffer per slot (a FlatParams's, or Python floats'):
    ``state[path][slot]`` are views into ``buffers[slot]``."""

    paths: tuple[str, ...]  # the packed parameters, in order
    views: list[dict[str, np.ndarray]]  # each one's state dict as packed (to notice changes)
    buffers: dict[str, np.ndarray]  # slot → the packed state
    size: int  # elements in all


def clipping(opt: Any) -> bool:
    """Whether any clipping option is set."""
    return opt.clip_value is not None or opt.clip_norm is not None or (
        opt.clip_global_norm is not None)


def clipped(opt: Any, gs: list[np.ndarray]) -> list[np.ndarray]:
    """The gradients clipped (copies) by the clipping options, or as they are."""
    if clipping(opt):
        return clip_arrays(gs, opt.clip_value, opt.clip_norm, opt.clip_global_norm,
                           eps=opt.clip_eps)
    return gs


def synced(opt: Any, slots: dict[str, np.ndarray] | None,
           p: np.ndarray, path: str = ROOT) -> dict[str, np.ndarray]:
    """A parameter's state as the rule needs it now: the slots of ``opt.slots`` (one the
    options have just added starts at its initial value; one they dropped goes), in the
    working dtype (a checkpoint of another dtype is converted)."""
    dtype = work_dtype(p.dtype)
    shapes = opt.slot_shapes_at(path, p.shape)
    if slots is None:
        slots = {}
    elif tuple(slots) == tuple(shapes) and all(a.dtype == dtype for a in slots.values()):
        return slots
    return {s: slots[s].astype(dtype, copy=False) if s in slots
            else np.full(shape, opt.initial_value(s), dtype) for s, shape in shapes.items()}


def prepass_items(opt: Any, leaves: list[Leaf], gs: list[np.ndarray],
                  h: SimpleNamespace) -> list[tuple[np.ndarray, np.ndarray, dict]]:
    """Every leaf's ``(p, g, state)`` as the rule will see them (working dtype, ``g``
    through :meth:`~.base.Optimizer.rule_gradient`, the state :func:`synced`): what the
    pre-pass (:meth:`~.base.Optimizer.prepass`) reads. Modifies nothing of the optimizer."""
    items = []
    for leaf, g in zip(leaves, gs):
        p = leaf.array
        dtype = work_dtype(p.dtype)
        work = p if dtype is p.dtype else p.astype(dtype)
        if g.dtype != dtype:
            g = g.astype(dtype)
        state = synced(opt, opt.state.get(leaf.path), p)
        items.append((work, opt.rule_gradient(work, g, h), state))
    return items


def prepass(opt: Any, leaves: list[Leaf], gs: list[np.ndarray],
            h: SimpleNamespace) -> dict[str, Any]:
    """The class's rule-wide pre-pass (:meth:`~.base.Optimizer.prepass`) over
    :func:`prepass_items`; returns the new globals. Modifies nothing of the optimizer: it
    runs before the update commits."""
    items = prepass_items(opt, leaves, gs, h)
    return opt.prepass(items, dict(opt.globals or opt.init_globals()), h)


def update_leaf(opt: Any, leaf: Leaf, g: np.ndarray, h: SimpleNamespace,
                fused: bool = False, state: dict[str, np.ndarray] | None = None) -> None:
    """One parameter array: the fused kernel, or the readable rule block by block; a float16
    parameter through a float32 working copy."""
    p = leaf.array
    state = opt.state[leaf.path] if state is None else state
    if opt.by_path:
        h = opt.hyper_at(leaf.path, h)
    dtype = work_dtype(p.dtype)
    work = p if dtype is p.dtype else p.astype(dtype)
    if g.dtype != work.dtype:
        g = g.astype(work.dtype)
    if fused:  # the same three steps in one pass over memory (optim/fused/)
        fused_path.run(opt, work, g, state, h)
    else:  # the readable rule; big arrays in cache-sized blocks (optim/blocks.py)
        for p_block, g_block, state_block in blocks(opt, work, g, state, h):
            opt.apply_rule(p_block, g_block, state_block, h)
    if work is not p:
        p[...] = work
    leaf.write_back()


def tiles(flat: np.ndarray, arrays: list[np.ndarray]) -> bool:
    """Whether ``arrays`` are consecutive C-contiguous views that exactly cover the 1-D
    ``flat`` (a FlatParams's named arrays and its buffer)."""
    if flat.ndim != 1 or not flat.flags.c_contiguous:
        return False
    address, start = flat.__array_interface__["data"][0], 0
    for a in arrays:
        if a.dtype != flat.dtype or not a.flags.c_contiguous or (
                a.__array_interface__["data"][0] != address + start * flat.itemsize):
            return False
        start += a.size
    return start == flat.size


def _array_hyper(opt: Any, h: SimpleNamespace) -> bool:
    return any(isinstance(getattr(h, n), np.ndarray) for n in opt.hyperparameter_names())


def _flat_applies(opt: Any, params: Any, grads: Any, leaves: list[Leaf],
                  gs: list[np.ndarray], h: SimpleNamespace) -> bool:
    flat_p, flat_g = getattr(params, "flat", None), getattr(grads, "flat", None)
    if (not isinstance(params, dict) or not isinstance(grads, dict)
            or not isinstance(flat_p, np.ndarray) or not isinstance(flat_g, np.ndarray)
            or not flat_p.flags.writeable
            or getattr(params, "shapes", None) != getattr(grads, "shapes", None)
            or flat_p.dtype != flat_g.dtype or len(leaves) != len(params)
            or not elementwise_rule(opt) or _array_hyper(opt, h)):
        return False
    for leaf, g in zip(leaves, gs):
        if leaf.array is not dict.__getitem__(params, leaf.path) or (
                g is not dict.__getitem__(grads, leaf.path)):
            return False
    # (names rebound behind FlatParams's back: not its flat buffer)
    return tiles(flat_p, [leaf.array for leaf in leaves]) and tiles(flat_g, gs)


def _repack(packed: Packed | None, paths: tuple[str, ...], views: list[dict[str, np.ndarray]],
            size: int) -> bool:
    """Whether the packed state no longer is the state (other paths, slots or arrays)."""
    return packed is None or packed.paths != paths or packed.size != size or any(
        tuple(new) != tuple(old) or any(a is not b for a, b in zip(new.values(), old.values()))
        for new, old in zip(views, packed.views))


def update_flat(opt: Any, params: Any, grads: Any, leaves: list[Leaf],
                gs: list[np.ndarray], h: SimpleNamespace) -> bool:
    """A :class:`~descentlab.optim.flat.FlatParams` with a gradient FlatParams of the same
    layout, updated by name, is updated as its one flat buffer: one rule run (or kernel
    call) instead of one per array. The state stays keyed by name — ``state[name][slot]``
    are views of flat state buffers in the same layout — and each element sees the same
    arithmetic, so the bits are those of the per-array update. Returns False (nothing
    done) where it does not apply: other containers, clipped, cast or copied gradients, a
    rule of its own, array hyperparameters."""
    if not _flat_applies(opt, params, grads, leaves, gs, h):
        return False
    flat_p, flat_g = params.flat, grads.flat
    paths = tuple(leaf.path for leaf in leaves)
    views = [opt.state[path] for path in paths]
    packed = opt._flat_state
    if _repack(packed, paths, views, flat_p.size):
        dtype = work_dtype(flat_p.dtype)
        buffers = {s: np.concatenate([v[s].reshape(-1) for v in views]).astype(dtype)
                   for s in opt.slots}
        start = 0
        for leaf in leaves:
            n = leaf.array.size
            opt.state[leaf.path] = {s: buffers[s][start:start + n].reshape(
                leaf.array.shape) for s in opt.slots}
            start += n
        packed = Packed(paths, [dict(opt.state[p]) for p in paths], buffers, flat_p.size)
        object.__setattr__(opt, "_flat_state", packed)
    whole = Leaf(ROOT, flat_p)
    one_pass = fused_path.use_fused(opt, whole, h)
    update_leaf(opt, whole, flat_g, h, one_pass, packed.buffers)
    return True


def scalar_pack(opt: Any, leaves: list[Leaf], h: SimpleNamespace) -> dict[int, int]:
    """Python-float leaves (``{'x': 1.0, 'y': 2.0}``) updated together: leaf index →
    position in one packed 1-D array, so that an element-wise rule runs once instead of
    once per float (each run on a 0-d array costs ~15 µs). Their state arrays become 0-d
    views of packed state buffers (``opt.state[path][slot]`` stays an array per path);
    the arithmetic per element is unchanged, so are the bits. Empty when it does not
    apply (fewer than two floats, a rule of its own, array hyperparameters)."""
    index = [i for i, leaf in enumerate(leaves) if leaf.scalar_type is not None]
    if len(index) < 2 or not elementwise_rule(opt) or _array_hyper(opt, h):
        return {}
    paths = tuple(leaves[i].path for i in index)
    views = [opt.state[path] for path in paths]
    packed = opt._scalar_state
    if _repack(packed, paths, views, len(paths)):
        buffers = {s: np.array([v[s][()] for v in views], dtype=np.float64)
                   for s in opt.slots}
        for k, path in enumerate(paths):
            opt.state[path] = {s: buffers[s][k:k + 1].reshape(()) for s in opt.slots}
        packed = Packed(paths, [dict(opt.state[p]) for p in paths], buffers, len(paths))
        object.__setattr__(opt, "_scalar_state", packed)
    return {i: k for k, i in enumerate(index)}


def update_scalars(opt: Any, leaves: list[Leaf], gs: list[np.ndarray], h: SimpleNamespace,
                   scalars: dict[int, int]) -> None:
    """The packed Python floats: one run of the rule on them all, written back."""
    order = sorted(scalars, key=scalars.get)
    p = np.array([leaves[i].array[()] for i in order])
    g = np.array([gs[i][()] for i in order])
    opt.apply_rule(p, g, opt._scalar_state.buffers, h)
    for k, i in enumerate(order):
        leaves[i].array[()] = p[k]
        leaves[i].write_back()


__all__ = ["Packed", "clipping", "clipped", "synced", "prepass_items", "prepass",
           "update_leaf", "tiles",
           "update_flat", "scalar_pack", "update_scalars"]
