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

    A successful update leaves a plan of what step 1 checked and decided about this structure;
    the next update whose structure matches it (same containers and keys, same parameter
    arrays, same gradient types, shapes and dtypes, same state objects) checks only what can
    change (finiteness, schedules, aliasing) — the same errors, the same bits, a fraction of
    the per-call cost. Any assignment of a setting, or a load, drops the plan.

State dtypes: float32 and float64 parameters keep state in their own dtype (as PyTorch does);
float16 parameters are updated through float32 working copies with float32 state (float16
cannot hold ε = 1e-8 or small squared gradients); Python floats use float64.

Checkpoints: :meth:`state_dict` / :meth:`load_state_dict` (strict, by path and slot name) and
:meth:`save` / :meth:`load` (``.npz``, written atomically). Resuming is bit-identical.
"""

from __future__ import annotations

import copy
import difflib
import inspect
import json
import math
import operator
import os
import re
import struct
import warnings
import zipfile
import zlib
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np

from ..errors import (
    DescentlabError,
    FileFormatError,
    InputError,
    InputTypeError,
    MissingKeyError,
    NonFiniteError,
    suggestion,
)
from ..files import atomic_path
from . import fused as fused_path
from .blocks import blocks, elementwise_rule
from .clipping import NORM_EPS, check_clip_options, clip_arrays
from .hyperparams import NONNEGATIVE, POSITIVE, Choice, Flag, Hyper, Number, Option, check_value
from .tree import (
    ROOT,
    Leaf,
    Structure,
    flatten_grads,
    flatten_params,
    leaves_of,
    match,
    show,
    structure,
)


def _nonzero(x: float | np.ndarray) -> bool:
    return x != 0 if isinstance(x, float) else bool(np.any(x != 0))


def is_schedule(value: Any) -> bool:
    """Whether a hyperparameter value is a schedule (a callable of the update count)."""
    return callable(value) and not isinstance(value, np.ndarray)


def _root(a: np.ndarray) -> Any:
    """The object that owns an array's memory (the end of its ``.base`` chain)."""
    while a.base is not None:
        a = a.base
        if not isinstance(a, np.ndarray):
            break
    return a


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
    try:
        return bool(np.shares_memory(a, b, max_work=10**6))
    except np.exceptions.TooHardError:  # too costly to be sure: assume they do
        return True


def _check_no_overlap(leaves: list[Leaf]) -> None:
    """Two parameters that share memory are refused: both updates would land on the same
    numbers."""
    owners: dict[int, list[Leaf]] = {}
    for leaf in leaves:
        owners.setdefault(id(_root(leaf.array)), []).append(leaf)
    for group in owners.values():
        for i, a in enumerate(group):
            for b in group[i + 1:]:
                if np.may_share_memory(a.array, b.array) and _overlap(a.array, b.array):
                    raise InputError(f"{show(a.path)} and {show(b.path)} share memory (the same "
                                     "array under two keys?): each update would apply twice")


def _work_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype the rule works in: float16 parameters work in float32."""
    return np.dtype(np.float32) if dtype == np.float16 else dtype


def _owners(leaves: list[Leaf]) -> dict[int, list[np.ndarray]]:
    """The parameters' arrays by the object owning their memory (Python floats left out:
    their 0-d arrays are new each call)."""
    owners: dict[int, list[np.ndarray]] = {}
    for leaf in leaves:
        if leaf.scalar_type is None:
            owners.setdefault(id(_root(leaf.array)), []).append(leaf.array)
    return owners


def _working_grad(g: np.ndarray, work: np.dtype,
                  owners: dict[int, list[np.ndarray]]) -> np.ndarray:
    """A gradient as the rule will read it: in the parameter's working dtype, and copied
    where it shares memory with a parameter (``update(x, x)``: the rule would otherwise read
    a gradient it is overwriting)."""
    if g.dtype != work:
        with np.errstate(over="ignore"):
            return g.astype(work)
    if owners:
        mine = owners.get(id(_root(g)))
        if mine and any(np.may_share_memory(g, p) for p in mine):
            return g.copy()
    return g


def _working_grads(leaves: list[Leaf], grads: list[np.ndarray]) -> list[np.ndarray]:
    """The gradients as the rule will read them (:func:`_working_grad`, leaf by leaf)."""
    owners = _owners(leaves)
    return [_working_grad(g, _work_dtype(leaf.array.dtype), owners)
            for leaf, g in zip(leaves, grads)]


def _finite(g: np.ndarray, one_pass: bool) -> bool:
    """Whether a gradient holds no inf or nan (call it with NumPy's overflow and invalid
    warnings off). One cheap pass (a sum); only a non-finite sum (which finite values can
    also overflow to) is checked element-wise. An array the fused path will update is
    probed by a parallel kernel, to keep up with it."""
    if g.dtype.kind != "f":
        return True
    if one_pass:
        return fused_path.all_finite(g)
    return bool(np.isfinite(g.sum()) or np.isfinite(g).all())


def _first_nonfinite(leaves: list[Leaf], grads: list[np.ndarray],
                     fused: list[bool]) -> str | None:
    """The path of the first gradient holding inf or nan (:func:`_finite`)."""
    with np.errstate(over="ignore", invalid="ignore"):
        for leaf, g, one_pass in zip(leaves, grads, fused):
            if not _finite(g, one_pass):
                return leaf.path
    return None


def _tiles(flat: np.ndarray, arrays: list[np.ndarray]) -> bool:
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


_SHAPE, _STRIDES, _DTYPE = (operator.attrgetter(a) for a in ("shape", "strides", "dtype"))
_WRITEABLE = operator.attrgetter("flags.writeable")

#: The types of Python and NumPy floats a planned update accepts as gradients.
_FLOAT_TYPES = (float, np.float64, np.float32, np.float16)


#: What a full-path update returns when it skipped (a non-finite gradient, 'skip').
_SKIPPED = object()


def _no_plan() -> None:
    return None


class _Plan:
    """What a successful update checked and decided about its structure, for the next update
    with the same structure (:meth:`Optimizer.update`). A copy or a pickle of an optimizer
    starts without one (it holds the parameter arrays it was made with)."""

    __slots__ = ("pid", "state", "shapes", "params", "grads", "order", "keys", "paths",
                 "fused", "owners", "p_types", "p_index", "p_arrays", "leaves", "work",
                 "g_types", "g_index", "g_arrays", "clip", "scalars", "scalar_state",
                 "unpacked", "to_array", "array_grads", "float_grads", "direct",
                 "direct_back", "has_globals", "has_begin", "fixed", "hyper_shapes", "arrays",
                 "refs", "flat")
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
    p_types: list[type]  # each parameter's type; the arrays' identity, shape, strides, dtype
    p_index: list[int]
    p_arrays: tuple[list[np.ndarray], list[Any], list[Any], list[np.dtype]]
    leaves: list[Leaf | None]  # the Leaf of each array (floats get a new one each call)
    work: list[np.dtype]  # working dtype per parameter
    g_types: list[type]  # each gradient's type; the arrays' shapes and dtypes
    g_index: list[int]
    g_arrays: tuple[list[tuple[int, ...]], list[np.dtype]]
    clip: bool
    scalars: list[int]  # the packed Python floats, in packing order, and their state
    scalar_state: dict[str, np.ndarray] | None
    unpacked: list[int]
    to_array: list[int]  # gradients given as numbers that the rule reads as 0-d arrays
    array_grads: list[int]  # gradients the rule reads as arrays (checked by _finite)
    float_grads: list[int]  # gradients read as floats (checked by math.isfinite)
    direct: bool  # every leaf a packed float, in order
    direct_back: bool  # ... all Python floats in one dict
    has_globals: bool  # the class has rule-wide state / work before the rule
    has_begin: bool
    fixed: dict[str, Any] | None  # the hyperparameters (None: some are schedules)
    hyper_shapes: tuple[Any, ...]
    arrays: list[tuple[np.ndarray, tuple[int, ...]]]
    refs: tuple[list[str], list[dict[str, np.ndarray]], list[np.ndarray]]
    flat: tuple[Any, ...] | None  # a FlatParams's buffers, views, whole leaf, path, state

    def __reduce__(self) -> tuple[Any, ...]:
        return (_no_plan, ())


#: Argument names other libraries use, and what they are here: name → (our names it may
#: be, what to say). Used by the "did you mean" of constructors and of ``optim.create``.
FOREIGN_NAMES: dict[str, tuple[tuple[str, ...], str]] = {
    "betas": (("beta1", "beta2"), "PyTorch's betas=(b1, b2) is beta1=b1, beta2=b2"),
    "beta_1": (("beta1",), "Keras's beta_1 is beta1"),
    "beta_2": (("beta2",), "Keras's beta_2 is beta2"),
    "alpha": (("rho",), "PyTorch's RMSprop alpha is rho"),
    "decay_rate": (("rho",), "the textbook's decay_rate is rho"),
    "decay": (("rho", "lr_decay"), "decay rates are rho (RMSprop, Adadelta) or lr_decay "
              "(AdaGrad); for a decaying learning rate pass a schedule as lr"),
    "learning_rate": (("lr",), "Keras's and optax's learning_rate is lr"),
    "epsilon": (("eps",), "Keras's epsilon is eps"),
    "rho": (("rho",), "rho is the decay of RMSprop and Adadelta"),
    "momentum": (("momentum", "beta1"), "momentum belongs to Momentum, Nesterov and RMSprop; "
                 "in the Adam family beta1 plays its role"),
    "nesterov": (("nesterov",), "Nesterov momentum is optim.Nesterov or "
                 "Momentum(nesterov=True); for Adam it is Nadam"),
    "amsgrad": (("amsgrad",), "AMSGrad is Adam(amsgrad=True)"),
    "centered": (("centered",), "centered belongs to RMSprop"),
    "clipnorm": (("clip_norm",), "Keras's clipnorm is clip_norm"),
    "clipvalue": (("clip_value",), "Keras's clipvalue is clip_value"),
    "global_clipnorm": (("clip_global_norm",), "Keras's global_clipnorm is clip_global_norm"),
    "fused": (("backend",), "PyTorch's fused=True is backend='fused'"),
    "foreach": (("backend",), "PyTorch's foreach is backend='numpy' or 'fused' here"),
    "initial_accumulator_value": (("initial_accumulator_value",),
                                  "initial_accumulator_value belongs to AdaGrad"),
}


def accepted_arguments(cls: type) -> list[str]:
    """Keyword arguments a class's constructor takes (its own and the shared options)."""
    signature = inspect.signature(cls.__init__).parameters
    names = [p for p in signature if p not in ("self", "options")]
    if not any(p.kind is p.VAR_KEYWORD for p in signature.values()):
        return names  # no shared options (L-BFGS)
    shared = [p for p in inspect.signature(Optimizer.__init__).parameters
              if p not in ("self", "lr", "weight_decay")]
    return names + [p for p in shared if p not in names]


def did_you_mean(word: str, choices: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or a foreign library's name
    explained (``betas`` → beta1 and beta2), or ``""``."""
    known = FOREIGN_NAMES.get(word)
    if known is not None:
        ours = [n for n in known[0] if n in choices and n != word]
        if ours:
            return f" (did you mean {' and '.join(ours)}? {known[1]})"
        return f" ({known[1]})"
    return suggestion(word, choices)


def unknown_argument(cls: type, name: str) -> InputTypeError:
    """The error for a keyword argument ``cls`` does not take."""
    allowed = accepted_arguments(cls)
    return InputTypeError(f"{cls.__name__} has no argument {name!r}"
                          f"{did_you_mean(name, allowed)}; it takes: {', '.join(allowed)}")


_UNEXPECTED = re.compile(
    r"__init__\(\) got (?:an unexpected keyword argument|multiple values for argument) '(\w+)'")


class _Checked(type):
    """Optimizer classes are built in two phases: ``__init__`` sets every setting, then the
    combination is checked once (:meth:`Optimizer.check_settings`); from then on every
    assignment is checked as it is made. A keyword the class does not take gets "did you
    mean" (``betas`` → beta1, beta2) instead of Python's message naming the base class."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        try:
            obj = super().__call__(*args, **kwargs)
        except TypeError as e:
            found = _UNEXPECTED.search(str(e))
            if found is None or found.group(1) in accepted_arguments(cls):
                raise
            raise unknown_argument(cls, found.group(1)) from None
        obj.check_combination(obj.settings())
        obj._constructed = True
        return obj


class Optimizer(metaclass=_Checked):
    """Base class. Subclasses set ``name`` and ``slots`` and implement :meth:`rule`."""

    name: ClassVar[str] = ""
    #: Per-parameter state arrays, created as zeros of the parameter's shape (a class may make
    #: it a property of its options: the state follows at the next update).
    slots: tuple[str, ...] = ()
    #: The class's own options (:class:`Option` descriptors, saved with and checked against
    #: checkpoints), derived from its descriptors unless a class lists them itself.
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
    #: State slots that can never be negative (sums and averages of squares): a checkpoint
    #: with a negative entry is refused (√ of it would be nan, silently).
    nonnegative_slots: ClassVar[tuple[str, ...]] = ()
    #: Whether ``rule`` applies ``weight_decay`` itself, where neither form of the base fits
    #: (Adafactor's step size reads the parameter before its decay, LAMB decays the Adam
    #: direction, schedule-free AdamW the z sequence): the base then does not.
    decays_in_rule: ClassVar[bool] = False

    lr = Hyper(NONNEGATIVE, "learning rate")
    weight_decay = Hyper(NONNEGATIVE, "weight decay coefficient")
    decoupled_weight_decay = Flag("decay the parameter (p ← p(1 − lr·wd)) instead of adding "
                                  "wd·p to the gradient")
    maximize = Flag("climb: follow +g instead of −g")
    clip_value = Number(POSITIVE, "clip each gradient element to [−c, c]", optional=True)
    clip_norm = Number(POSITIVE, "clip each gradient array to this L2 norm", optional=True)
    clip_global_norm = Number(POSITIVE, "clip all gradients together to this L2 norm",
                              optional=True)
    clip_eps = Number(NONNEGATIVE, "ε of norm clipping, c/(‖g‖ + ε): 1e-6 (PyTorch) or 0 "
                      "(Keras's clipnorm/global_clipnorm); needs clip_norm or clip_global_norm")
    nonfinite = Choice(("raise", "skip", "ignore"), "what a gradient with inf/nan does")
    #: "auto" (fused kernel where it pays), "numpy" or "fused": see optim/fused/.
    backend = Choice(fused_path.BACKENDS, "the path: fused kernels where they pay, or one")
    backend.in_checkpoint = False  # the paths give the same bits

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass with its own ``rule`` loses the inherited kernel and element-wise
        promise unless it declares them itself (its rule may do anything); its option names
        come from its option descriptors unless it lists them."""
        super().__init_subclass__(**kwargs)
        if "rule" in cls.__dict__:
            if "kernel" not in cls.__dict__:
                cls.kernel = None
            if "elementwise" not in cls.__dict__:
                cls.elementwise = False
        if "option_names" not in cls.__dict__:
            cls.option_names = tuple(n for n in cls.option_descriptors()
                                     if n not in Optimizer.option_descriptors())

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
        clip_eps: float = NORM_EPS,
        nonfinite: str = "raise",
        backend: str = "auto",
    ) -> None:
        self._hyper: dict[str, Any] = {}
        self._options: dict[str, Any] = {}
        self.lr = lr
        self.weight_decay = weight_decay
        self.decoupled_weight_decay = decoupled_weight_decay
        self.maximize = maximize
        self.clip_value = clip_value
        self.clip_norm = clip_norm
        self.clip_global_norm = clip_global_norm
        self.clip_eps = clip_eps
        self.nonfinite = nonfinite
        self.backend = backend
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
        if not self.decays_in_rule and _nonzero(h.weight_decay):
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

    def slot_shapes(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        """The state slots of a parameter of this shape and their shapes (default: every
        slot of :attr:`slots`, of the parameter's shape; Adafactor's factored moments differ)."""
        return {s: shape for s in self.slots}

    def init_globals(self) -> dict[str, float | np.ndarray]:
        """Initial values of rule-wide state (optional)."""
        return {}

    def global_name_sets(self) -> list[set[str]]:
        """The sets of rule-wide state names a checkpoint may hold (default: those of
        :meth:`init_globals`; L-BFGS adds its history after the first iteration)."""
        return [set(self.init_globals())]

    def check_settings(self, values: dict[str, Any]) -> None:
        """Refuse an inconsistent combination of settings (optional; raise ``InputError``).

        ``values`` maps option and hyperparameter names to their values; a hyperparameter that
        is a schedule is absent, except at an update, where every value is this step's. Called
        after construction, after every assignment (which is undone if this raises) and at
        every update before anything changes.
        """

    # ---------------------------------------------------------------- settings
    def settings(self) -> dict[str, Any]:
        """Options and hyperparameters by name (schedules left out): what
        :meth:`check_settings` sees on assignment."""
        out = dict(self._options)
        out.update((k, v) for k, v in self._hyper.items() if not is_schedule(v))
        return out

    def settings_changed(self, name: str) -> None:
        """Called by the descriptors after an assignment; raising undoes it."""
        self.__dict__.pop("_plan_cache", None)
        if self.__dict__.get("_constructed"):
            self.check_combination(self.settings())

    def check_combination(self, values: dict[str, Any]) -> None:
        """The shared checks of a combination of settings (a ``clip_eps`` needs norm
        clipping), then the class's own :meth:`check_settings`."""
        check_clip_options(values)
        self.check_settings(values)

    def __setattr__(self, name: str, value: Any) -> None:
        # A misspelt or foreign setting (opt.learning_rate = 0.1) would be a new attribute that
        # nothing reads: refuse it once the optimizer is built.
        if (self.__dict__.get("_constructed") and not name.startswith("_")
                and name not in self.__dict__ and not hasattr(type(self), name)):
            known = [*self.hyperparameter_names(), *self.option_descriptors()]
            hint = did_you_mean(name, known)
            if name in FOREIGN_NAMES or difflib.get_close_matches(name, known, n=1, cutoff=0.8):
                raise InputError(f"{type(self).__name__} has no setting {name!r}{hint}; "
                                 "assigning it would change nothing")
        object.__setattr__(self, name, value)

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

    @classmethod
    def option_descriptors(cls) -> dict[str, Option]:
        """The class's :class:`Option` descriptors by name, its own first, then the shared
        ones (what the playground builds its controls from)."""
        cached = cls.__dict__.get("_option_descriptors")
        if cached is None:
            found: dict[str, Option] = {}
            for klass in cls.__mro__:
                for key, value in vars(klass).items():
                    if isinstance(value, Option) and key not in found:
                        found[key] = value
            own = {k: v for k, v in found.items() if k not in vars(Optimizer)}
            cached = {**own, **{k: v for k, v in found.items() if k not in own}}
            cls._option_descriptors = cached
        return cached

    def hyperparameters(self) -> dict[str, Any]:
        """The hyperparameters as set (numbers, arrays or schedules)."""
        return {name: self._hyper[name] for name in self.hyperparameter_names()}

    def options(self) -> dict[str, Any]:
        """The options that shape the results (saved with, and checked against, checkpoints)."""
        names = [*self.option_names]
        names += [n for n, d in self.option_descriptors().items()
                  if getattr(d, "in_checkpoint", True) and n not in names]
        return {name: getattr(self, name) for name in names}

    def __repr__(self) -> str:
        parts = [f"{k}={v!r}" for k, v in self.hyperparameters().items()]
        parts += [f"{k}={v!r}" for k, v in self.options().items()
                  if k in self.option_names or v not in (None, False, "raise")]
        return f"{type(self).__name__}({', '.join(parts)})"

    # ---------------------------------------------------------------- the update
    def _resolve(self, count: int) -> SimpleNamespace:
        """This step's hyperparameters (``h`` of :meth:`rule`)."""
        return self._resolve_step(count)[0]

    def _resolve_step(self, count: int) -> tuple[SimpleNamespace, bool]:
        """This step's hyperparameters, and whether any came from a schedule."""
        cls, hyper, values, scheduled = type(self), self._hyper, {}, False
        for name in self.hyperparameter_names():
            value = hyper[name]
            if callable(value) and not isinstance(value, np.ndarray):
                value, scheduled = getattr(cls, name).resolve(self, count), True
            values[name] = value
        return SimpleNamespace(t=count + 1, **values), scheduled

    def _checks(self, leaves: list[Leaf], h: SimpleNamespace) -> list[bool]:
        """The checks that depend only on the structure — paths, shapes and dtypes against
        the state, hyperparameter shapes, parameters sharing memory — and the path choice
        (fused or not) per array."""
        self._check_structure(leaves)
        self._check_broadcast(h, leaves)
        _check_no_overlap(leaves)
        return [fused_path.use_fused(self, leaf, h) for leaf in leaves]

    def _check_structure(self, leaves: list[Leaf]) -> None:
        if self._shapes is None:
            return
        paths = [leaf.path for leaf in leaves]
        for path in paths:
            if path not in self._shapes:
                raise MissingKeyError(
                    f"{show(path)} was not among the parameters this optimizer was first used "
                    "with (its state is keyed by path); use a new optimizer for new parameters"
                )
        for path in self._shapes:
            if path not in paths:
                raise MissingKeyError(f"{show(path)} is missing: the optimizer has state for it")
        for leaf in leaves:
            shape, dtype = self._shapes[leaf.path]
            if leaf.array.shape != shape:
                raise InputError(
                    f"{show(leaf.path)} has shape {leaf.array.shape}, but the optimizer's state "
                    f"for it has shape {shape}"
                )
            if dtype is not None and leaf.array.dtype != dtype:
                raise InputTypeError(
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
                    raise InputError(
                        f"{name} has shape {value.shape}, which does not broadcast to "
                        f"{show(leaf.path)} of shape {shape}"
                    )

    @staticmethod
    def _state_dtype(dtype: np.dtype) -> np.dtype:
        return np.dtype(np.float32) if dtype == np.float16 else dtype

    def update(self, params: Any, grads: Any) -> None:
        """Apply one update to ``params`` in place, given ``grads`` of the same structure.

        A successful update leaves a plan (:class:`_Plan`): what it checked and decided
        about this structure. The next update whose structure matches it — the same
        containers and keys, the same parameter arrays (shapes, strides, dtypes, writeable),
        gradients of the same types, shapes and dtypes, the same state objects — skips those
        checks and decisions and validates only what can change (values: finiteness;
        schedules; gradients sharing memory with parameters). Anything else, and any failed
        check, goes through the full path (:meth:`_checked_update`), which raises the same
        errors as before and changes nothing when it does. Any assignment of a setting and
        any load drop the plan."""
        plan = self.__dict__.get("_plan_cache")
        resolved = None
        if type(plan) is _Plan:
            resolved = self._planned_update(plan, params, grads)
            if resolved is True:
                return
        self._checked_update(params, grads, resolved)

    def _checked_update(self, params: Any, grads: Any,
                        resolved: tuple[SimpleNamespace, bool] | None = None) -> None:
        """The update with every check (``resolved``: this step's hyperparameters, when the
        planned path has already resolved them: a schedule is called once per step). A
        successful update leaves its plan; a failed or skipped one leaves the plan as it was
        (nothing changed), unless a setting was assigned meanwhile (which drops it)."""
        before = self.__dict__.get("_plan_cache")
        token = object()  # an assignment during this update drops it
        object.__setattr__(self, "_plan_cache", token)
        outcome: Any = _SKIPPED
        try:
            outcome = self._checked_steps(params, grads, resolved)
        finally:
            if self.__dict__.get("_plan_cache") is token:
                object.__setattr__(self, "_plan_cache",
                                   before if outcome is _SKIPPED else outcome)

    def _checked_steps(self, params: Any, grads: Any,
                       resolved: tuple[SimpleNamespace, bool] | None) -> Any:
        """:meth:`_checked_update`'s work: the new plan (or ``None``), or ``_SKIPPED``."""
        leaves = flatten_params(params)
        gs = flatten_grads(grads, leaves)
        count = self.step
        h, scheduled = self._resolve_step(count) if resolved is None else resolved
        if scheduled:  # fixed settings were checked when they were assigned
            self.check_settings({**self._options, **vars(h)})
        hyper = {name: getattr(h, name) for name in self.hyperparameter_names()}
        fused = self._checks(leaves, h)
        gs = _working_grads(leaves, gs)
        bad = None if self.nonfinite == "ignore" else _first_nonfinite(leaves, gs, fused)
        if bad is not None:
            message = f"the gradient of {show(bad)} is not finite at step {count + 1}"
            if self.nonfinite == "raise":
                raise NonFiniteError(
                    message + " (pass nonfinite='skip' to skip such updates instead)")
            self.skipped_steps += 1
            warnings.warn(message + "; update skipped", RuntimeWarning, stacklevel=4)
            return _SKIPPED
        # Every check has passed: from here on the update cannot fail half-way.
        if self._shapes is None or any(d is None for _, d in self._shapes.values()):
            self._shapes = {leaf.path: (leaf.array.shape, leaf.array.dtype) for leaf in leaves}
        for leaf in leaves:
            self.state[leaf.path] = self._synced(self.state.get(leaf.path), leaf.array)
        if not self.globals:
            self.globals = self.init_globals()
        gs = self._clipped(gs)
        scalars: dict[int, int] = {}
        with np.errstate(over="ignore", invalid="ignore", under="ignore", divide="ignore"):
            self.begin_step(h)
            flat = self._update_flat(params, grads, leaves, gs, h)
            if not flat:
                scalars = self._scalar_pack(leaves, h)
                for i, (leaf, g, one_pass) in enumerate(zip(leaves, gs, fused)):
                    if i not in scalars:
                        self._update_leaf(leaf, g, h, one_pass)
                if scalars:
                    self._update_scalars(leaves, gs, h, scalars)
        self.step = count + 1
        self.current_lr = h.lr
        return self._make_plan(params, grads, leaves, fused, flat, scalars, h, hyper,
                               scheduled)

    def _clipped(self, gs: list[np.ndarray]) -> list[np.ndarray]:
        """The gradients clipped (copies) by the clipping options, or as they are."""
        if self.clip_value is not None or self.clip_norm is not None or (
                self.clip_global_norm is not None):
            return clip_arrays(gs, self.clip_value, self.clip_norm, self.clip_global_norm,
                               eps=self.clip_eps)
        return gs

    def _make_plan(self, params: Any, grads: Any, leaves: list[Leaf], fused: list[bool],
                   flat: bool, scalars: dict[int, int], h: SimpleNamespace,
                   hyper: dict[str, Any], scheduled: bool) -> _Plan | None:
        """What this (successful) update checked and decided, for the next one with the same
        structure; ``None`` where the structure cannot be verified cheaply (the next update
        then takes the full path again)."""
        p_shape, g_shape = structure(params), structure(grads)
        if p_shape is None or g_shape is None:
            return None
        g_items = leaves_of(grads)
        paths = [leaf.path for leaf in leaves]
        where = {path: j for j, (path, _) in enumerate(g_items)}
        if len(where) != len(g_items) or len(where) != len(paths):
            return None  # two gradients under one path: the full path sorts that out
        order = [where[path] for path in paths]
        g_values = [g_items[j][1] for j in order]
        if not all(isinstance(g, np.ndarray) or type(g) in _FLOAT_TYPES for g in g_values):
            return None  # integers, booleans...: the full path checks them every time
        plan = _Plan()
        plan.pid, plan.state, plan.shapes = os.getpid(), self.state, self._shapes
        plan.params, plan.grads = p_shape, g_shape
        plan.order = None if order == list(range(len(order))) else order
        plan.keys = [key for _, key in p_shape[1]]
        plan.paths, plan.fused, plan.owners = paths, fused, _owners(leaves)
        plan.p_types = [type(leaf.array) if leaf.scalar_type is None else leaf.scalar_type
                        for leaf in leaves]
        plan.p_index = [i for i, leaf in enumerate(leaves) if leaf.scalar_type is None]
        arrays = [leaves[i].array for i in plan.p_index]
        plan.p_arrays = (arrays, [a.shape for a in arrays], [a.strides for a in arrays],
                         [a.dtype for a in arrays])
        plan.leaves = [leaf if leaf.scalar_type is None else None for leaf in leaves]
        plan.work = [_work_dtype(leaf.array.dtype) for leaf in leaves]
        plan.g_types = [type(g) for g in g_values]
        plan.g_index = [i for i, g in enumerate(g_values) if isinstance(g, np.ndarray)]
        plan.g_arrays = ([g_values[i].shape for i in plan.g_index],
                         [g_values[i].dtype for i in plan.g_index])
        plan.clip = (self.clip_value is not None or self.clip_norm is not None
                     or self.clip_global_norm is not None)
        plan.scalars = sorted(scalars, key=scalars.get)
        plan.scalar_state = self.__dict__["_scalar_state"][2] if scalars else None
        plan.unpacked = [i for i in range(len(leaves)) if i not in scalars]
        # Gradients the rule reads as arrays (Python numbers become 0-d arrays unless packed
        # unclipped); the packed floats are checked as floats.
        plan.to_array = [i for i, g in enumerate(g_values) if not isinstance(g, np.ndarray)
                         and (plan.clip or i not in scalars)]
        plan.array_grads = sorted(plan.g_index + plan.to_array)
        plan.float_grads = [] if plan.clip else plan.scalars
        plan.direct = plan.scalars == list(range(len(leaves)))
        plan.direct_back = plan.direct and len(p_shape[0]) == 1 and (
            p_shape[0][0][2] is dict) and all(t is float for t in plan.p_types)
        plan.has_globals = type(self).init_globals is not Optimizer.init_globals
        plan.has_begin = type(self).begin_step is not Optimizer.begin_step
        # (``hyper``: the values as resolved, before begin_step could write onto h)
        plan.fixed = None if scheduled else hyper
        plan.hyper_shapes = tuple(v.shape if isinstance(v, np.ndarray) else None
                                  for v in hyper.values())
        plan.arrays = [(v, v.shape) for v in hyper.values() if isinstance(v, np.ndarray)]
        slots = [self.state[path] for path in paths]
        plan.refs = (paths, slots, [a for d in slots for a in d.values()])
        plan.flat = None
        if flat:
            flat_p, flat_g = params.flat, grads.flat
            whole = Leaf(ROOT, flat_p)
            plan.flat = (flat_p, flat_g, [dict.__getitem__(grads, path) for path in paths],
                         whole, fused_path.use_fused(self, whole, h),
                         self.__dict__["_flat_state"][2])
        return plan

    def _planned_update(self, plan: _Plan, params: Any,
                        grads: Any) -> tuple[SimpleNamespace, bool] | bool | None:
        """The update along ``plan``: True when done; ``None`` (nothing resolved, nothing
        changed) when the structure does not match it; this step's resolved hyperparameters
        when a check of what can change needs the full path (nothing changed either)."""
        if plan.pid != os.getpid() or plan.state is not self.state or (
                plan.shapes is not self._shapes):
            return None
        found = match(plan.params, params)
        if found is None:
            return None
        p_values, holders = found
        if list(map(type, p_values)) != plan.p_types:
            return None
        if plan.p_index:  # the same arrays, unchanged (their shape, strides, dtype and
            # writeable flag can be reassigned in place)
            arrays = p_values if len(plan.p_index) == len(p_values) else [
                p_values[i] for i in plan.p_index]
            same, shapes, strides, dtypes = plan.p_arrays
            if not all(map(operator.is_, arrays, same)) or list(map(_SHAPE, arrays)) != (
                    shapes) or list(map(_STRIDES, arrays)) != strides or list(
                    map(_DTYPE, arrays)) != dtypes or not all(map(_WRITEABLE, arrays)):
                return None
        found = match(plan.grads, grads)
        if found is None:
            return None
        g_values = found[0] if plan.order is None else [found[0][j] for j in plan.order]
        if list(map(type, g_values)) != plan.g_types:
            return None
        if plan.g_index:
            arrays = g_values if len(plan.g_index) == len(g_values) else [
                g_values[i] for i in plan.g_index]
            if list(map(_SHAPE, arrays)) != plan.g_arrays[0] or list(
                    map(_DTYPE, arrays)) != plan.g_arrays[1]:
                return None
        flat = plan.flat
        if flat is not None and (getattr(params, "flat", None) is not flat[0] or getattr(
                grads, "flat", None) is not flat[1] or not flat[0].flags.writeable or not all(
                map(operator.is_, g_values, flat[2]))):
            return None
        # The structure is the plan's: what the full path checks and decides about it holds.
        # Now what can change: schedules, values, the state objects.
        count = self.step
        if plan.fixed is None:
            h, scheduled = self._resolve_step(count)
            self.check_settings({**self._options, **vars(h)})
            if tuple(getattr(h, name).shape if isinstance(getattr(h, name), np.ndarray)
                     else None for name in self.hyperparameter_names()) != plan.hyper_shapes:
                return h, scheduled
        else:
            h, scheduled = SimpleNamespace(t=count + 1, **plan.fixed), False
            for value, shape in plan.arrays:  # (an array's shape can be reassigned)
                if value.shape != shape:
                    return h, scheduled
        check = self.nonfinite != "ignore"
        gs = g_values
        if flat is not None:
            if check:
                with np.errstate(over="ignore", invalid="ignore"):
                    if not _finite(flat[1], flat[4]):
                        return h, scheduled
        else:
            if plan.array_grads:
                gs = list(g_values)
                for i in plan.g_index:
                    gs[i] = _working_grad(gs[i], plan.work[i], plan.owners)
                for i in plan.to_array:
                    gs[i] = np.asarray(gs[i], dtype=np.float64)
                if check:
                    with np.errstate(over="ignore", invalid="ignore"):
                        for i in plan.array_grads:
                            if not _finite(gs[i], plan.fused[i]):
                                return h, scheduled
            if check and plan.float_grads and not all(map(math.isfinite, (
                    gs if plan.direct else [gs[i] for i in plan.float_grads]))):
                return h, scheduled
        if not self._state_unchanged(plan):
            return h, scheduled
        # Every check has passed: from here on the update cannot fail half-way.
        if plan.has_globals and not self.globals:
            self.globals = self.init_globals()
        with np.errstate(over="ignore", invalid="ignore", under="ignore", divide="ignore"):
            if plan.has_begin:
                self.begin_step(h)
            if flat is not None:
                self._update_leaf(flat[3], flat[1], h, flat[4], flat[5])
            else:
                if plan.clip:
                    gs = self._clipped(gs)
                for i in plan.unpacked:
                    leaf = plan.leaves[i]
                    if leaf is None:  # a Python float on its own: a 0-d array, written back
                        v = p_values[i]
                        leaf = Leaf(plan.paths[i], np.array(v, dtype=np.float64), holders[i],
                                    plan.keys[i], type(v))
                    self._update_leaf(leaf, gs[i], h, plan.fused[i])
                if plan.scalars:
                    self._planned_scalars(plan, p_values, gs, holders, h)
        object.__setattr__(self, "step", count + 1)  # (known attributes: no typo check)
        object.__setattr__(self, "current_lr", h.lr)
        return True

    def _planned_scalars(self, plan: _Plan, p_values: list[Any], gs: list[Any],
                         holders: list[Any], h: SimpleNamespace) -> None:
        """The packed Python floats of a planned update (as :meth:`_update_scalars`)."""
        order = plan.scalars
        if plan.direct:  # every leaf a packed float, in order
            p = np.array(p_values, dtype=np.float64)
            g = np.array(gs, dtype=np.float64)
        else:
            p = np.array([p_values[i] for i in order], dtype=np.float64)
            g = np.array([gs[i] for i in order], dtype=np.float64)
        self.apply_rule(p, g, plan.scalar_state, h)
        values = p.tolist()  # the same doubles, as Python floats
        if plan.direct_back:  # floats in one dict
            holders[0].update(zip(plan.keys, values))
        else:
            for i, value in zip(order, values):
                holders[i][plan.keys[i]] = plan.p_types[i](value)

    def _state_unchanged(self, plan: _Plan) -> bool:
        """Whether every parameter's state is the plan's (the same slot arrays)."""
        paths, slots, arrays = plan.refs
        now = list(map(self.state.get, paths))
        if not all(map(operator.is_, now, slots)):
            return False
        current = [a for d in now for a in d.values()]
        return len(current) == len(arrays) and all(map(operator.is_, current, arrays))

    def _synced(self, slots: dict[str, np.ndarray] | None,
                p: np.ndarray) -> dict[str, np.ndarray]:
        """A parameter's state as the rule needs it now: the slots of :attr:`slots` (one the
        options have just added starts at its initial value; one they dropped goes), in the
        state dtype (a checkpoint of another dtype is converted)."""
        dtype = self._state_dtype(p.dtype)
        shapes = self.slot_shapes(p.shape)
        if slots is None:
            slots = {}
        elif tuple(slots) == tuple(shapes) and all(a.dtype == dtype for a in slots.values()):
            return slots
        return {s: slots[s].astype(dtype, copy=False) if s in slots
                else np.full(shape, self.initial_value(s), dtype) for s, shape in shapes.items()}

    def _update_leaf(self, leaf: Leaf, g: np.ndarray, h: SimpleNamespace,
                     fused: bool = False, state: dict[str, np.ndarray] | None = None) -> None:
        p = leaf.array
        state = self.state[leaf.path] if state is None else state
        work = p.astype(np.float32) if p.dtype == np.float16 else p
        if g.dtype != work.dtype:
            g = g.astype(work.dtype)
        if fused:  # the same three steps in one pass over memory (optim/fused/)
            fused_path.run(self, work, g, state, h)
        else:  # the readable rule; big arrays in cache-sized blocks (optim/blocks.py)
            for p_block, g_block, state_block in blocks(self, work, g, state, h):
                self.apply_rule(p_block, g_block, state_block, h)
        if work is not p:
            p[...] = work
        leaf.write_back()

    def _update_flat(self, params: Any, grads: Any, leaves: list[Leaf],
                     gs: list[np.ndarray], h: SimpleNamespace) -> bool:
        """A :class:`~descentlab.optim.flat.FlatParams` with a gradient FlatParams of the same
        layout, updated by name, is updated as its one flat buffer: one rule run (or kernel
        call) instead of one per array. The state stays keyed by name — ``state[name][slot]``
        are views of flat state buffers in the same layout — and each element sees the same
        arithmetic, so the bits are those of the per-array update. Returns False (nothing
        done) where it does not apply: other containers, clipped, cast or copied gradients, a
        rule of its own, array hyperparameters."""
        flat_p, flat_g = getattr(params, "flat", None), getattr(grads, "flat", None)
        if (not isinstance(params, dict) or not isinstance(grads, dict)
                or not isinstance(flat_p, np.ndarray) or not isinstance(flat_g, np.ndarray)
                or not flat_p.flags.writeable
                or getattr(params, "shapes", None) != getattr(grads, "shapes", None)
                or flat_p.dtype != flat_g.dtype or len(leaves) != len(params)
                or not elementwise_rule(self) or any(
                    isinstance(getattr(h, n), np.ndarray) for n in self.hyperparameter_names())):
            return False
        for leaf, g in zip(leaves, gs):
            if leaf.array is not dict.__getitem__(params, leaf.path) or (
                    g is not dict.__getitem__(grads, leaf.path)):
                return False
        if not (_tiles(flat_p, [leaf.array for leaf in leaves]) and _tiles(flat_g, gs)):
            return False  # names rebound behind FlatParams's back: not its flat buffer
        paths = tuple(leaf.path for leaf in leaves)
        views = [self.state[path] for path in paths]
        packed = self.__dict__.get("_flat_state")
        if packed is None or packed[0] != paths or packed[3] != flat_p.size or any(
                tuple(new) != tuple(old) or any(a is not b for a, b in
                                                zip(new.values(), old.values()))
                for new, old in zip(views, packed[1])):
            dtype = self._state_dtype(flat_p.dtype)
            buffers = {s: np.concatenate([v[s].reshape(-1) for v in views]).astype(dtype)
                       for s in self.slots}
            start = 0
            for leaf in leaves:
                n = leaf.array.size
                self.state[leaf.path] = {s: buffers[s][start:start + n].reshape(
                    leaf.array.shape) for s in self.slots}
                start += n
            packed = (paths, [dict(self.state[p]) for p in paths], buffers, flat_p.size)
            object.__setattr__(self, "_flat_state", packed)
        whole = Leaf(ROOT, flat_p)
        one_pass = fused_path.use_fused(self, whole, h)
        self._update_leaf(whole, flat_g, h, one_pass, packed[2])
        return True

    def _scalar_pack(self, leaves: list[Leaf], h: SimpleNamespace) -> dict[int, int]:
        """Python-float leaves (``{'x': 1.0, 'y': 2.0}``) updated together: leaf index →
        position in one packed 1-D array, so that an element-wise rule runs once instead of
        once per float (each run on a 0-d array costs ~15 µs). Their state arrays become 0-d
        views of packed state buffers (``opt.state[path][slot]`` stays an array per path);
        the arithmetic per element is unchanged, so are the bits. Empty when it does not
        apply (fewer than two floats, a rule of its own, array hyperparameters)."""
        index = [i for i, leaf in enumerate(leaves) if leaf.scalar_type is not None]
        if len(index) < 2 or not elementwise_rule(self) or any(
                isinstance(getattr(h, n), np.ndarray) for n in self.hyperparameter_names()):
            return {}
        paths = tuple(leaves[i].path for i in index)
        views = [self.state[path] for path in paths]
        packed = self.__dict__.get("_scalar_state")
        if packed is None or packed[0] != paths or any(
                a is not b for new, old in zip(views, packed[1]) for a, b in
                zip(new.values(), old.values())) or any(
                tuple(new) != tuple(old) for new, old in zip(views, packed[1])):
            buffers = {s: np.array([v[s][()] for v in views], dtype=np.float64)
                       for s in self.slots}
            for k, path in enumerate(paths):
                self.state[path] = {s: buffers[s][k:k + 1].reshape(()) for s in self.slots}
            packed = (paths, [dict(self.state[p]) for p in paths], buffers)
            object.__setattr__(self, "_scalar_state", packed)
        return {i: k for k, i in enumerate(index)}

    def _update_scalars(self, leaves: list[Leaf], gs: list[np.ndarray], h: SimpleNamespace,
                        scalars: dict[int, int]) -> None:
        order = sorted(scalars, key=scalars.get)
        p = np.array([leaves[i].array[()] for i in order])
        g = np.array([gs[i][()] for i in order])
        self.apply_rule(p, g, self.__dict__["_scalar_state"][2], h)
        for k, i in enumerate(order):
            leaves[i].array[()] = p[k]
            leaves[i].write_back()

    # ---------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """A plain dict of NumPy arrays and numbers: everything needed to resume exactly."""
        hyper, schedules = {}, {}
        for name, value in self.hyperparameters().items():
            if is_schedule(value):
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
        """Restore from :meth:`state_dict`. Strict: everything is checked — names, types,
        dtypes and shapes of the state, counters, globals, options, hyperparameters, schedule
        state — before anything changes; an error names the entry, and leaves the optimizer
        exactly as it was."""
        apply = self._checked_checkpoint(d)
        apply()

    def _checked_checkpoint(self, d: Any) -> Any:
        """Check a state dict; return the function that applies it (which cannot fail)."""
        if not isinstance(d, Mapping):
            raise InputTypeError(f"a state dict is a dict, not a {type(d).__name__}")
        for key in ("optimizer", "step", "options", "hyperparameters", "state"):
            if key not in d:
                raise MissingKeyError(f"state dict has no {key!r} entry")
        extra = sorted(set(d) - set(_CHECKPOINT_KEYS), key=str)
        if extra:
            raise MissingKeyError(f"state dict has an unknown entry {extra[0]!r}")
        if d["optimizer"] != self.name:
            raise InputError(
                f"the checkpoint is for optimizer {d['optimizer']!r}, this is {self.name!r}")
        _mapping("state", d["state"])
        step = _counter("step", d["step"])
        skipped = _counter("skipped_steps", d.get("skipped_steps", 0))
        self._check_options(_mapping("options", d["options"]))
        hyper, schedules = self._checked_hyper(d)
        shapes = self._checked_shapes(d)
        for k, v in hyper.items():
            for path, shape in shapes.items():
                if isinstance(v, np.ndarray) and not _broadcasts(v.shape, shape):
                    raise InputError(f"the checkpoint's {k} has shape {v.shape}, which does not "
                                     f"broadcast to {show(path)} of shape {shape}")
        probe = copy.copy(self)  # this optimizer with the checkpoint's hyperparameters
        object.__setattr__(probe, "_hyper", {**self._hyper, **hyper})
        self.check_settings(probe.settings())
        state = self._checked_state(_mapping("state", d["state"]), shapes, probe)
        globals_ = self._checked_globals(d.get("globals", {}), step)

        def apply() -> None:
            self._hyper.update(hyper)
            for k, sd in schedules.items():
                self._hyper[k].load_state_dict(sd)
            self.step = step
            self.skipped_steps = skipped
            self.globals = globals_
            self.state = state
            self._shapes = {p: (shape, None) for p, shape in shapes.items()} if shapes else None
            self.settings_changed("state")
        return apply

    def _check_options(self, options: Mapping[str, Any]) -> None:
        mine = self.options()
        described = self.option_descriptors()
        for k, v in options.items():
            if k not in mine:
                raise MissingKeyError(f"the checkpoint has an unknown option {k!r}")
            if k in described:
                try:
                    v = described[k].validate(v)
                except DescentlabError as e:
                    raise type(e)(f"the checkpoint's option: {e}") from None
            elif isinstance(v, np.ndarray):
                raise InputTypeError(f"the checkpoint's option {k} is an array")
            if mine[k] != v:
                raise InputError(
                    f"the checkpoint was written with {k}={v!r}, this optimizer has "
                    f"{k}={mine[k]!r}")
        for k in mine:
            if k not in options:
                raise MissingKeyError(f"the checkpoint has no value for option {k!r}")

    def _checked_hyper(self, d: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        cls = type(self)
        hyper: dict[str, Any] = {}
        for k, v in _mapping("hyperparameters", d["hyperparameters"]).items():
            if k not in self._hyper:
                raise MissingKeyError(f"the checkpoint has an unknown hyperparameter {k!r}")
            hyper[k] = check_value(k, v, getattr(cls, k).check, " (in the checkpoint)")
        schedules = dict(_mapping("schedules", d.get("schedules", {})))
        for k in self.hyperparameter_names():
            if k not in hyper and not is_schedule(self._hyper[k]):
                raise MissingKeyError(f"the checkpoint has no value for hyperparameter {k!r}")
        for k, sd in schedules.items():
            if k not in self._hyper:
                raise MissingKeyError(f"the checkpoint has schedule state for {k!r}, which is "
                                      "not a hyperparameter")
            if k in hyper or not hasattr(self._hyper[k], "load_state_dict"):
                raise InputError(f"the checkpoint holds schedule state for {k!r}, but {k} is "
                                 "not a schedule with load_state_dict here")
            try:  # on a copy: a schedule that refuses half-way must not change the real one
                copy.deepcopy(self._hyper[k]).load_state_dict(sd)
            except (TypeError, ValueError, KeyError, AttributeError, IndexError) as e:
                raise InputError(f"the checkpoint's schedule state for {k} is not valid: "
                                 f"{e}") from None
        return hyper, schedules

    def _checked_shapes(self, d: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {}
        for p, shape in _mapping("shapes", d.get("shapes", {})).items():
            if not isinstance(p, str):
                raise InputTypeError(f"the checkpoint's shapes have a key {p!r} that is not a "
                                     "path (a string)")
            if not isinstance(shape, (list, tuple)) or not all(
                    _is_count(n) for n in shape):
                raise InputError(f"the checkpoint's shape for {show(p)} is {shape!r}, not a "
                                 "list of non-negative integers")
            shapes[p] = tuple(int(n) for n in shape)
        state = d["state"]
        if set(shapes) != set(state):
            extra = sorted(set(state) ^ set(shapes), key=str)[0]
            raise MissingKeyError(f"the checkpoint's shapes and state disagree about "
                                  f"{show(extra)}")
        if self._shapes is not None:
            for path in self._shapes:
                if path not in shapes:
                    raise MissingKeyError(f"the checkpoint has no state for {show(path)}")
            for path, shape in shapes.items():
                if path not in self._shapes:
                    raise MissingKeyError(f"the checkpoint has state for {show(path)}, which "
                                          "this optimizer's parameters do not have")
                if self._shapes[path][0] != shape:
                    raise InputError(
                        f"the checkpoint's state for {show(path)} has shape {shape}, "
                        f"the parameter has shape {self._shapes[path][0]}")
        return shapes

    def _checked_state(
        self, state: Mapping[str, Any], shapes: dict[str, tuple[int, ...]],
        probe: Optimizer,
    ) -> dict[str, dict[str, np.ndarray]]:
        out: dict[str, dict[str, np.ndarray]] = {}
        for path, entry in state.items():
            expected = probe.slot_shapes(shapes[path])
            _same_names(f"the checkpoint's state for {show(path)} has",
                        set(_mapping(f"state for {show(path)}", entry)), set(expected))
            arrays = {}
            for s, a in entry.items():
                where = f"the checkpoint's {s!r} for {show(path)}"
                arrays[s] = _float_array(where, a)
                if arrays[s].shape != expected[s]:
                    raise InputError(f"{where} has shape {arrays[s].shape}, expected "
                                     f"{expected[s]} for the parameter of shape {shapes[path]}")
                if self.nonfinite != "ignore" and not np.isfinite(arrays[s]).all():
                    raise InputError(f"{where} is not finite (a run that diverged; an "
                                     "optimizer with nonfinite='ignore' may load it)")
                if s in self.nonnegative_slots and np.any(arrays[s] < 0):
                    raise InputError(f"{where} has negative entries, which it cannot hold "
                                     "(a sum or average of squares)")
            out[path] = arrays
        return out

    def _checked_globals(self, globals_: Any, step: int) -> dict[str, float | np.ndarray]:
        globals_ = _mapping("globals", globals_)
        forms = self.global_name_sets()
        names = set(globals_)
        if (globals_ or step > 0) and names not in forms:  # a fresh optimizer's are made later
            _same_names("the checkpoint's globals have", names, forms[-1])
        out: dict[str, float | np.ndarray] = {}
        for k, v in globals_.items():
            if np.ndim(v) == 0 and np.asarray(v).dtype.kind in "iu" and int(v) >= 0:
                out[k] = int(v)  # a counter (L-BFGS's n_iter, func_evals)
                continue
            a = _float_array(f"the checkpoint's global {k!r}", v)
            if not np.all(np.isfinite(a)):
                raise InputError(f"the checkpoint's global {k!r} is not finite")
            out[k] = a if a.ndim else float(a)
        return out

    def save(self, path: str | os.PathLike) -> None:
        """Write the state to an ``.npz`` file atomically (a temp file, then a rename).

        An existing file keeps its permission bits. Saving through a symbolic link writes
        the file the link points to (the link stays a link). Parameter paths that a zip
        member name cannot hold (a NUL character, text that is not valid Unicode) are
        refused here, before anything is written, rather than at load.
        """
        d = self.state_dict()
        for p in d["state"]:
            _check_storable(p)
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
        arrays["meta"] = np.array(json.dumps(meta, allow_nan=True))
        for p, slots in d["state"].items():
            for s, a in slots.items():
                arrays[f"state/{p}/{s}"] = a
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())

    def load(self, path: str | os.PathLike) -> None:
        """Restore from a file written by :meth:`save` (strict, like :meth:`load_state_dict`).

        A damaged file (truncated, empty, not a zip, a ``.npy`` or JSON file, a changed byte,
        a member declaring more data than the file holds) is one ``FileFormatError`` naming
        the file and what is wrong; nothing is read beyond what the file holds.
        """
        name = os.fspath(path)
        d = read_checkpoint(name)
        try:
            apply = self._checked_checkpoint(d)
        except DescentlabError as e:
            raise type(e)(f"{name}: {e}") from None
        apply()


_CHECKPOINT_KEYS = ("optimizer", "step", "skipped_steps", "options", "hyperparameters",
                    "schedules", "globals", "shapes", "state")


def _mapping(what: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InputTypeError(f"the checkpoint's {what} is a {type(value).__name__}, not a dict")
    return value


def _same_names(what: str, names: set[Any], expected: set[Any]) -> None:
    if names != expected:
        missing = sorted(expected - names, key=str)
        which = f"no {missing[0]!r}" if missing else \
            f"an unknown entry {sorted(names - expected, key=str)[0]!r}"
        raise MissingKeyError(f"{what} {which}")


def _is_count(n: Any) -> bool:
    return isinstance(n, (int, np.integer)) and not isinstance(n, (bool, np.bool_)) and n >= 0


def _counter(name: str, value: Any) -> int:
    if not _is_count(value) and not (isinstance(value, np.ndarray) and value.shape == ()
                                     and _is_count(value[()])):
        raise InputError(f"the checkpoint's {name} must be a non-negative integer, "
                         f"got {value!r}")
    return int(value)


def _broadcasts(shape: tuple[int, ...], to: tuple[int, ...]) -> bool:
    try:
        return np.broadcast_shapes(shape, to) == to
    except ValueError:
        return False


def _float_array(where: str, value: Any) -> np.ndarray:
    """A copy of a checkpoint's number or array, refusing anything but real floats."""
    if isinstance(value, (float, np.floating)) and not isinstance(value, np.ndarray):
        return np.array(value, dtype=np.float64)
    if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
        kind = value.dtype if isinstance(value, np.ndarray) else type(value).__name__
        raise InputTypeError(f"{where} must be a floating-point array, not {kind}")
    return np.array(value, copy=True)


def _check_storable(path: str) -> None:
    if "\0" in path:
        raise InputError(f"{show(path)} contains a NUL character, which a checkpoint member "
                         "name cannot hold; rename the key")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{show(path)} is not valid Unicode text (a lone surrogate?); a "
                         "checkpoint cannot store it; rename the key") from None


#: What zipfile and numpy raise on damaged bytes (a flipped bit can reach any of them).
_ZIP_DAMAGE = (zipfile.BadZipFile, EOFError, ValueError, OSError, zlib.error, struct.error,
               NotImplementedError, KeyError, OverflowError)


def read_arrays(name: str) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` checkpoint (any layout: groups and wrappers read theirs
    with it too), read within what the file holds — a member declaring more data than the
    file is refused before anything is allocated; every damage is one
    :class:`FileFormatError` naming the file."""
    def damaged(why: str) -> FileFormatError:
        return FileFormatError(f"{name} is not a readable descentlab optimizer checkpoint: "
                               f"{why}")

    size = os.path.getsize(name)
    if size == 0:
        raise damaged("the file is empty")
    try:
        archive = zipfile.ZipFile(name)
    except _ZIP_DAMAGE:
        with open(name, "rb") as f:
            head = f.read(8)
        if head.startswith(b"\x93NUMPY"):
            raise damaged("it is a single .npy array, not an .npz checkpoint") from None
        if head.lstrip()[:1] in (b"{", b"["):
            raise damaged("it is JSON text, not an .npz checkpoint") from None
        raise damaged("not a zip archive (truncated or not an .npz file)") from None
    arrays: dict[str, np.ndarray] = {}
    with archive:
        try:
            for info in archive.infolist():
                arrays[_member_key(info, damaged)] = _read_member(archive, info, size, damaged)
        except _ZIP_DAMAGE as e:
            raise damaged(f"{e}") from None
    return arrays


def read_checkpoint(name: str) -> dict[str, Any]:
    """The state dict stored in a checkpoint file, checked as a file: every damage is one
    :class:`FileFormatError` naming the file (the content is checked by the optimizer)."""
    def damaged(why: str) -> FileFormatError:
        return FileFormatError(f"{name} is not a readable descentlab optimizer checkpoint: "
                               f"{why}")

    arrays = read_arrays(name)
    if "meta" not in arrays:
        raise damaged("it has no 'meta' member")
    try:
        d = json.loads(str(arrays.pop("meta")[()]))
    except (ValueError, TypeError) as e:
        raise damaged(f"its 'meta' member is not valid JSON ({e})") from None
    if not isinstance(d, dict):
        raise damaged("its 'meta' member is not a JSON object")
    for key in ("shapes", "hyperparameters", "globals"):
        if not isinstance(d.setdefault(key, {}), dict):
            raise damaged(f"its meta {key!r} is not a JSON object")
    state: dict[str, dict[str, np.ndarray]] = {p: {} for p in d["shapes"]}
    for key, a in arrays.items():
        section, _, rest = key.partition("/")
        if section == "hyper":
            d["hyperparameters"][rest] = a
        elif section == "global":
            d["globals"][rest] = a
        elif section == "state" and "/" in rest:
            p, s = rest.rsplit("/", 1)
            state.setdefault(p, {})[s] = a
        else:
            raise damaged(f"it has an unexpected member {key!r}")
    d["state"] = state
    return d


def _member_key(info: zipfile.ZipInfo, damaged: Any) -> str:
    if not info.filename.endswith(".npy"):
        raise damaged(f"member {info.filename!r} is not an array (.npy)")
    return info.filename[:-4]


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, size: int,
                 damaged: Any) -> np.ndarray:
    """One member, after checking that its header declares no more data than it holds."""
    if info.compress_type != zipfile.ZIP_STORED:
        raise damaged(f"member {info.filename!r} is compressed (checkpoints are stored)")
    if info.file_size > size:
        raise damaged(f"member {info.filename!r} declares {info.file_size} bytes, more than "
                      f"the file's {size}")
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise damaged(f"member {info.filename!r} is a .npy of version {version}")
        if dtype.hasobject:
            raise damaged(f"member {info.filename!r} holds Python objects")
        need = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if need > info.file_size - f.tell():
            raise damaged(f"member {info.filename!r} declares shape {shape} of {dtype} "
                          f"({need} bytes), more than its {info.file_size} bytes hold")
        data = f.read(need)
        if len(data) != need:
            raise damaged(f"member {info.filename!r} is truncated")
        if f.read(1):  # (reading to the end also makes zipfile check the CRC)
            raise damaged(f"member {info.filename!r} has bytes after its array")
    order = "F" if fortran else "C"
    return np.frombuffer(data, dtype=dtype).reshape(shape, order=order).copy(order="K")


__all__ = ["Optimizer", "Hyper", "NONNEGATIVE", "POSITIVE", "ROOT"]
