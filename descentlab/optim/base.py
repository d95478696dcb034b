"""The mechanics every optimizer shares, written once.

An optimizer subclass declares its hyperparameters (:class:`Hyper` descriptors), its state
slots, and one method, :meth:`Optimizer.rule`, that updates one parameter array in place from
its gradient. Everything else lives here:

``update(params, grads)``
    1. flatten both trees and check them (paths, shapes, dtypes, the structure seen before),
       resolve this step's hyperparameters (schedules) and check they broadcast, check the
       gradients are finite — all *before* anything is modified, so a failed update leaves
       parameters and state exactly as they were;
    2. clip a copy of the gradients (``clip_value``, ``clip_norm``, ``clip_global_norm``);
    3. per parameter: negate the gradient if ``maximize``; apply weight decay — L2 added to
       the gradient (PyTorch), or decoupled ``p ← p·(1 − lr·wd)`` with
       ``decoupled_weight_decay=True`` (AdamW, Keras); run the rule — big arrays in
       cache-sized blocks (:mod:`.blocks`), or all three in one numba kernel (:mod:`.fused`,
       ``backend=``), with bit-identical results;
    4. count the step.

State dtypes: float32 and float64 parameters keep state in their own dtype (as PyTorch does);
float16 parameters are updated through float32 working copies with float32 state (float16
cannot hold ε = 1e-8 or small squared gradients); Python floats use float64.

Checkpoints: :meth:`state_dict` / :meth:`load_state_dict` (strict, by path and slot name) and
:meth:`save` / :meth:`load` (``.npz``, written atomically). Resuming is bit-identical.
"""

from __future__ import annotations

import json
import os
import warnings
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np

from ..files import atomic_path
from . import fused as fused_path
from .blocks import blocks
from .clipping import clip_arrays
from .hyperparams import NONNEGATIVE, POSITIVE, Hyper, check_value, choice
from .tree import ROOT, Leaf, flatten_grads, flatten_params, show


def _nonzero(x: float | np.ndarray) -> bool:
    return bool(np.any(x != 0))


def _is_schedule(value: Any) -> bool:
    return callable(value) and not isinstance(value, np.ndarray)


def _first_nonfinite(leaves: list[Leaf], grads: list[np.ndarray],
                     fused: list[bool]) -> str | None:
    """The path of the first gradient holding inf or nan. One cheap pass (a sum) per array;
    only a non-finite sum (which finite values can also overflow to) is checked element-wise.
    Arrays the fused path will update are probed by a parallel kernel, to keep up with it."""
    with np.errstate(over="ignore", invalid="ignore"):
        for leaf, g, one_pass in zip(leaves, grads, fused):
            if g.dtype.kind != "f":
                continue
            if one_pass:
                if not fused_path.all_finite(g):
                    return leaf.path
            elif not np.isfinite(g.sum()) and not np.isfinite(g).all():
                return leaf.path
    return None


class Optimizer:
    """Base class. Subclasses set ``name`` and ``slots`` and implement :meth:`rule`."""

    name: ClassVar[str] = ""
    #: Per-parameter state arrays, created as zeros of the parameter's shape.
    slots: tuple[str, ...] = ()
    #: Structural options (strings, booleans) saved with and checked against checkpoints.
    option_names: ClassVar[tuple[str, ...]] = ()
    #: Whether an exact trace may take ε → 0 (ε only keeps a division finite, as in Adam).
    #: False where ε is part of the rule (Adadelta: with ε = 0 it never moves).
    eps_to_zero_in_exact_trace: ClassVar[bool] = True
    #: The update in plain text, one line each (read by ``descentlab optimizers`` and docs).
    equations: ClassVar[tuple[str, ...]] = ()
    #: Whether each output element depends only on the same element of p, g and the state
    #: (so the rule may run in blocks, :mod:`.blocks`, or as a fused kernel).
    elementwise: ClassVar[bool] = False
    #: The name of the rule's fused step (:mod:`.fused`), or ``None``.
    kernel: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass with its own ``rule`` loses the inherited kernel and element-wise
        promise unless it declares them itself (its rule may do anything)."""
        super().__init_subclass__(**kwargs)
        if "rule" in cls.__dict__:
            if "kernel" not in cls.__dict__:
                cls.kernel = None
            if "elementwise" not in cls.__dict__:
                cls.elementwise = False

    lr = Hyper(NONNEGATIVE, "learning rate")
    weight_decay = Hyper(NONNEGATIVE, "weight decay coefficient")

    def __init__(
        self,
        lr: Any,
        weight_decay: Any = 0.0,
        *,
        decoupled_weight_decay: bool = False,
        maximize: bool = False,
        clip_value: float | None = None,
        clip_norm: float | None = None,
        clip_global_norm: float | None = None,
        nonfinite: str = "raise",
        backend: str = "auto",
    ) -> None:
        self._hyper: dict[str, Any] = {}
        self.lr = lr
        self.weight_decay = weight_decay
        self.decoupled_weight_decay = bool(decoupled_weight_decay)
        self.maximize = bool(maximize)
        self.clip_value = None if clip_value is None else check_value(
            "clip_value", clip_value, POSITIVE)
        self.clip_norm = None if clip_norm is None else check_value(
            "clip_norm", clip_norm, POSITIVE)
        self.clip_global_norm = None if clip_global_norm is None else check_value(
            "clip_global_norm", clip_global_norm, POSITIVE)
        self.nonfinite = choice("nonfinite", nonfinite, ("raise", "skip", "ignore"))
        #: "auto" (fused kernel where it pays), "numpy" or "fused": see optim/fused/.
        self.backend = choice("backend", backend, fused_path.BACKENDS)
        #: Number of updates made so far (t of the equations after the update).
        self.step = 0
        #: Updates skipped because a gradient was not finite (``nonfinite='skip'``;
        #: ``'ignore'`` makes no check at all, as PyTorch: one read of g less per update).
        self.skipped_steps = 0
        #: The learning rate the latest update used (``None`` before the first).
        self.current_lr: float | np.ndarray | None = None
        #: Per-parameter state: ``state[path][slot]`` is an array of the parameter's shape.
        self.state: dict[str, dict[str, np.ndarray]] = {}
        #: Rule-wide state shared by all parameters (e.g. NAdam's product of μ).
        self.globals: dict[str, float | np.ndarray] = {}
        self._shapes: dict[str, tuple[tuple[int, ...], np.dtype]] | None = None

    # ---------------------------------------------------------------- what subclasses write
    def rule(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray], h: Any) -> None:
        """Update ``p`` and ``state`` in place from ``g`` (never modify ``g``).

        ``h`` holds this step's hyperparameters as attributes, and ``h.t`` (1 at the first
        update). ``g`` already includes maximize, clipping and L2 weight decay.
        """
        raise NotImplementedError

    def apply_rule(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray],
                   h: Any) -> None:
        """The readable path on one array (or block), in place: negate ``g`` if ``maximize``,
        weight decay (L2 into the gradient, or decoupled ``p ← p·(1 − η·λ)``), then
        :meth:`rule`. ``update`` calls it after its checks; the exact trace
        (:mod:`descentlab.lab.trace`) calls it on arrays of exact numbers."""
        if self.maximize:
            g = -g
        if _nonzero(h.weight_decay):
            if self.decoupled_weight_decay:
                p *= 1 - h.lr * h.weight_decay
            else:
                g = g + h.weight_decay * p
        self.rule(p, g, state, h)

    def derived(self, state: dict[str, np.ndarray], h: Any) -> dict[str, Any]:
        """Quantities of the equations that are not state (e.g. Adam's bias-corrected
        moments), for traces: computed from the state after an update. None by default."""
        return {}

    def begin_step(self, h: Any) -> None:
        """Rule-wide work done once per update, before :meth:`rule` (optional)."""

    def initial_value(self, slot: str) -> float:
        """The value a state slot starts at (0 unless the rule says otherwise)."""
        return 0.0

    def init_globals(self) -> dict[str, float | np.ndarray]:
        """Initial values of rule-wide state (optional)."""
        return {}

    # ---------------------------------------------------------------- introspection
    @classmethod
    def hyperparameter_names(cls) -> tuple[str, ...]:
        """The names of the class's :class:`Hyper` descriptors, base class first (cached:
        ``update`` asks several times per step)."""
        cached = cls.__dict__.get("_hyperparameter_names")
        if cached is None:
            names: list[str] = []
            for klass in reversed(cls.__mro__):
                for key, value in vars(klass).items():
                    if isinstance(value, Hyper) and key not in names:
                        names.append(key)
            cached = tuple(names)
            cls._hyperparameter_names = cached
        return cached

    def hyperparameters(self) -> dict[str, Any]:
        """The hyperparameters as set (numbers, arrays or schedules)."""
        return {name: self._hyper[name] for name in self.hyperparameter_names()}

    def options(self) -> dict[str, Any]:
        names = (*self.option_names, "decoupled_weight_decay", "maximize", "clip_value",
                 "clip_norm", "clip_global_norm", "nonfinite")
        return {name: getattr(self, name) for name in names}

    def __repr__(self) -> str:
        parts = [f"{k}={v!r}" for k, v in self.hyperparameters().items()]
        parts += [f"{k}={v!r}" for k, v in self.options().items()
                  if k in self.option_names or v not in (None, False, "raise")]
        return f"{type(self).__name__}({', '.join(parts)})"

    # ---------------------------------------------------------------- the update
    def _resolve(self, count: int) -> SimpleNamespace:
        cls = type(self)
        values = {name: getattr(cls, name).resolve(self, count)
                  for name in self.hyperparameter_names()}
        return SimpleNamespace(t=count + 1, **values)

    def _check_structure(self, leaves: list[Leaf]) -> None:
        if self._shapes is None:
            return
        paths = [leaf.path for leaf in leaves]
        for path in paths:
            if path not in self._shapes:
                raise KeyError(
                    f"{show(path)} was not among the parameters this optimizer was first used "
                    "with (its state is keyed by path); use a new optimizer for new parameters"
                )
        for path in self._shapes:
            if path not in paths:
                raise KeyError(f"{show(path)} is missing: the optimizer has state for it")
        for leaf in leaves:
            shape, dtype = self._shapes[leaf.path]
            if leaf.array.shape != shape:
                raise ValueError(
                    f"{show(leaf.path)} has shape {leaf.array.shape}, but the optimizer's state "
                    f"for it has shape {shape}"
                )
            if dtype is not None and leaf.array.dtype != dtype:
                raise TypeError(
                    f"{show(leaf.path)} has dtype {leaf.array.dtype}, but it was {dtype} when "
                    "the optimizer first saw it"
                )

    def _check_broadcast(self, h: SimpleNamespace, leaves: list[Leaf]) -> None:
        for name in self.hyperparameter_names():
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
                    raise ValueError(
                        f"{name} has shape {value.shape}, which does not broadcast to "
                        f"{show(leaf.path)} of shape {shape}"
                    )

    @staticmethod
    def _state_dtype(dtype: np.dtype) -> np.dtype:
        return np.dtype(np.float32) if dtype == np.float16 else dtype

    def update(self, params: Any, grads: Any) -> None:
        """Apply one update to ``params`` in place, given ``grads`` of the same structure."""
        leaves = flatten_params(params)
        gs = flatten_grads(grads, leaves)
        self._check_structure(leaves)
        count = self.step
        h = self._resolve(count)
        self._check_broadcast(h, leaves)
        fused = [fused_path.use_fused(self, leaf, h) for leaf in leaves]
        bad = None if self.nonfinite == "ignore" else _first_nonfinite(leaves, gs, fused)
        if bad is not None:
            message = f"the gradient of {show(bad)} is not finite at step {count + 1}"
            if self.nonfinite == "raise":
                raise FloatingPointError(
                    message + " (pass nonfinite='skip' to skip such updates instead)")
            self.skipped_steps += 1
            warnings.warn(message + "; update skipped", RuntimeWarning, stacklevel=2)
            return
        # Every check has passed: from here on the update cannot fail half-way.
        if self._shapes is None or any(d is None for _, d in self._shapes.values()):
            self._shapes = {leaf.path: (leaf.array.shape, leaf.array.dtype) for leaf in leaves}
        for leaf in leaves:
            dtype = self._state_dtype(leaf.array.dtype)
            slots = self.state.get(leaf.path)
            if slots is None:
                self.state[leaf.path] = {
                    s: np.full(leaf.array.shape, self.initial_value(s), dtype) for s in self.slots}
            elif any(a.dtype != dtype for a in slots.values()):  # a checkpoint of another dtype
                self.state[leaf.path] = {s: a.astype(dtype) for s, a in slots.items()}
        if not self.globals:
            self.globals = self.init_globals()
        if self.clip_value is not None or self.clip_norm is not None or (
                self.clip_global_norm is not None):
            gs = clip_arrays(gs, self.clip_value, self.clip_norm, self.clip_global_norm)
        with np.errstate(over="ignore", invalid="ignore", under="ignore", divide="ignore"):
            self.begin_step(h)
            for leaf, g, one_pass in zip(leaves, gs, fused):
                self._update_leaf(leaf, g, h, one_pass)
        self.step = count + 1
        self.current_lr = h.lr

    def _update_leaf(self, leaf: Leaf, g: np.ndarray, h: SimpleNamespace,
                     fused: bool = False) -> None:
        p = leaf.array
        work = p.astype(np.float32) if p.dtype == np.float16 else p
        if g.dtype != work.dtype:
            g = g.astype(work.dtype)
        if fused:  # the same three steps in one pass over memory (optim/fused/)
            fused_path.run(self, work, g, self.state[leaf.path], h)
        else:  # the readable rule; big arrays in cache-sized blocks (optim/blocks.py)
            for p_block, g_block, state_block in blocks(self, work, g, self.state[leaf.path], h):
                self.apply_rule(p_block, g_block, state_block, h)
        if work is not p:
            p[...] = work
        leaf.write_back()

    # ---------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """A plain dict of NumPy arrays and numbers: everything needed to resume exactly."""
        hyper, schedules = {}, {}
        for name, value in self.hyperparameters().items():
            if _is_schedule(value):
                if hasattr(value, "state_dict"):
                    schedules[name] = value.state_dict()
            else:
                hyper[name] = value.copy() if isinstance(value, np.ndarray) else value
        return {
            "optimizer": self.name,
            "step": self.step,
            "skipped_steps": self.skipped_steps,
            "options": self.options(),
            "hyperparameters": hyper,
            "schedules": schedules,
            "globals": {k: np.copy(v) if isinstance(v, np.ndarray) else v
                        for k, v in self.globals.items()},
            "shapes": {path: shape for path, (shape, _) in (self._shapes or {}).items()},
            "state": {path: {s: a.copy() for s, a in slots.items()}
                      for path, slots in self.state.items()},
        }

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict`. Strict: any mismatch names the entry; on error
        nothing is changed."""
        for key in ("optimizer", "step", "options", "hyperparameters", "state"):
            if key not in d:
                raise KeyError(f"state dict has no {key!r} entry")
        if d["optimizer"] != self.name:
            raise ValueError(
                f"the checkpoint is for optimizer {d['optimizer']!r}, this is {self.name!r}")
        mine = self.options()
        for k, v in d["options"].items():
            if k not in mine:
                raise KeyError(f"the checkpoint has an unknown option {k!r}")
            if mine[k] != v:
                raise ValueError(
                    f"the checkpoint was written with {k}={v!r}, this optimizer has "
                    f"{k}={mine[k]!r}")
        cls = type(self)
        hyper: dict[str, Any] = {}
        for k, v in d["hyperparameters"].items():
            if k not in self._hyper:
                raise KeyError(f"the checkpoint has an unknown hyperparameter {k!r}")
            hyper[k] = check_value(k, v, getattr(cls, k).check)
        schedules = d.get("schedules", {})
        for k in self.hyperparameter_names():
            if k not in hyper and not _is_schedule(self._hyper[k]):
                raise KeyError(f"the checkpoint has no value for hyperparameter {k!r}")
            if k in schedules and not hasattr(self._hyper[k], "load_state_dict"):
                raise ValueError(f"the checkpoint holds schedule state for {k!r}, but {k} is "
                                 "not a schedule with load_state_dict here")
        shapes = self._checked_shapes(d)
        state = self._checked_state(d["state"], shapes)
        step = int(d["step"])
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        # All checked: apply.
        for k, v in hyper.items():
            self._hyper[k] = v
        for k, sd in schedules.items():
            self._hyper[k].load_state_dict(sd)
        self.step = step
        self.skipped_steps = int(d.get("skipped_steps", 0))
        self.globals = {k: np.copy(v) if np.ndim(v) else float(v)
                        for k, v in d.get("globals", {}).items()}
        self.state = state
        self._shapes = {p: (shape, None) for p, shape in shapes.items()} if shapes else None

    def _checked_shapes(self, d: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        shapes = {p: tuple(int(n) for n in shape) for p, shape in d.get("shapes", {}).items()}
        if set(shapes) != set(d["state"]):
            extra = sorted(set(d["state"]) ^ set(shapes))[0]
            raise KeyError(f"the checkpoint's shapes and state disagree about {show(extra)}")
        if self._shapes is not None:
            for path in self._shapes:
                if path not in shapes:
                    raise KeyError(f"the checkpoint has no state for {show(path)}")
            for path, shape in shapes.items():
                if path not in self._shapes:
                    raise KeyError(f"the checkpoint has state for {show(path)}, which this "
                                   "optimizer's parameters do not have")
                if self._shapes[path][0] != shape:
                    raise ValueError(
                        f"the checkpoint's state for {show(path)} has shape {shape}, "
                        f"the parameter has shape {self._shapes[path][0]}")
        return shapes

    def _checked_state(
        self, state: dict[str, Any], shapes: dict[str, tuple[int, ...]]
    ) -> dict[str, dict[str, np.ndarray]]:
        out: dict[str, dict[str, np.ndarray]] = {}
        for path, slots in state.items():
            names = set(slots)
            if names != set(self.slots):
                missing = sorted(set(self.slots) - names)
                what = f"no {missing[0]!r}" if missing else \
                    f"an unknown entry {sorted(names - set(self.slots))[0]!r}"
                raise KeyError(f"the checkpoint's state for {show(path)} has {what}")
            arrays = {s: np.array(a) for s, a in slots.items()}
            for s, a in arrays.items():
                if a.shape != shapes[path]:
                    raise ValueError(
                        f"the checkpoint's {s!r} for {show(path)} has shape {a.shape}, "
                        f"the parameter has shape {shapes[path]}")
            out[path] = arrays
        return out

    def save(self, path: str | os.PathLike) -> None:
        """Write the state to an ``.npz`` file atomically (a temp file, then a rename)."""
        d = self.state_dict()
        arrays: dict[str, np.ndarray] = {}
        meta = {k: d[k] for k in ("optimizer", "step", "skipped_steps", "options", "schedules")}
        meta["shapes"] = {p: list(shape) for p, shape in d["shapes"].items()}
        meta["hyperparameters"] = {}
        for k, v in d["hyperparameters"].items():
            if isinstance(v, np.ndarray):
                arrays[f"hyper/{k}"] = v
            else:
                meta["hyperparameters"][k] = v
        meta["globals"] = {}
        for k, v in d["globals"].items():
            if isinstance(v, np.ndarray):
                arrays[f"global/{k}"] = v
            else:
                meta["globals"][k] = v
        arrays["meta"] = np.array(json.dumps(meta))
        for p, slots in d["state"].items():
            for s, a in slots.items():
                arrays[f"state/{p}/{s}"] = a
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())

    def load(self, path: str | os.PathLike) -> None:
        """Restore from a file written by :meth:`save` (strict, like :meth:`load_state_dict`)."""
        with np.load(os.fspath(path), allow_pickle=False) as z:
            if "meta" not in z.files:
                raise ValueError(f"{os.fspath(path)} is not a descentlab optimizer checkpoint")
            d = json.loads(str(z["meta"]))
            state: dict[str, dict[str, np.ndarray]] = {p: {} for p in d["shapes"]}
            for key in z.files:
                if key.startswith("hyper/"):
                    d["hyperparameters"][key[6:]] = z[key]
                elif key.startswith("global/"):
                    d["globals"][key[7:]] = z[key]
                elif key.startswith("state/"):
                    p, s = key[6:].rsplit("/", 1)
                    state.setdefault(p, {})[s] = z[key]
            d["state"] = state
        self.load_state_dict(d)


__all__ = ["Optimizer", "Hyper", "NONNEGATIVE", "POSITIVE", "ROOT"]
