"""The rule's description: what every optimizer class declares, written once.

An optimizer subclass declares its hyperparameters (:class:`Hyper` descriptors), its options
(:class:`~.hyperparams.Option` descriptors), its state slots, and one method,
:meth:`Optimizer.rule`, that updates one parameter array in place from its gradient; hooks
(:meth:`~Optimizer.begin_step`, :meth:`~Optimizer.prepass`, :meth:`~Optimizer.init_globals`,
:meth:`~Optimizer.slot_shapes`, :meth:`~Optimizer.check_settings`, ...) cover what some
rules need besides. The machinery lives beside it:

* :mod:`.pipeline` runs ``update(params, grads)``: check once (:mod:`.checks`: structure,
  settings, memory sharing, finiteness — before anything is modified, so a failed update
  leaves parameters and state exactly as they were), clip, then apply per leaf
  (:mod:`.apply`: maximize, weight decay — L2 added to the gradient (PyTorch), or decoupled
  ``p ← p·(1 − lr·wd)`` with ``decoupled_weight_decay=True`` (AdamW, Keras) — and the rule,
  block by block or as one fused kernel, with bit-identical results);
* :mod:`.plan` keeps what a successful update checked about its structure, so the next one
  with the same structure checks only what can change (any assignment or load drops it);
* :mod:`.checkpoint`: :meth:`~Optimizer.state_dict` / :meth:`~Optimizer.load_state_dict`
  (strict, by path and slot name) and ``save`` / ``load`` (one ``.npz`` format, written
  atomically). Resuming is bit-identical.

State dtypes: float32 and float64 parameters keep state in their own dtype (as PyTorch does);
float16 parameters are updated through float32 working copies with float32 state (float16
cannot hold ε = 1e-8 or small squared gradients); Python floats use float64.

>>> from descentlab import optim
>>> opt = optim.SGD(0.1)
>>> params = {"x": 1.0}
>>> opt.update(params, {"x": 2.0}); params, opt.step
({'x': 0.8}, 1)
"""

from __future__ import annotations

import difflib
import inspect
import re
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np

from ..errors import InputError, InputTypeError, suggestion
from . import checkpoint, pipeline
from . import fused as fused_path
from .checkpoint import Checkpointed
from .clipping import NORM_EPS, check_clip_options
from .guard import Guarded
from .hyperparams import NONNEGATIVE, POSITIVE, Choice, Flag, Hyper, Number, Option, is_schedule
from .plan import Plan, resolve
from .sums import GroupPart
from .tree import ROOT


def _nonzero(x: float | np.ndarray) -> bool:
    return x != 0 if isinstance(x, float) else bool(np.any(x != 0))



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



class Optimizer(Checkpointed, Guarded):
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
    #: Rule-wide state (:attr:`globals`) that the rule may legitimately hold at inf or nan
    #: (sgd_backtracking's ``decrease_error``: ∞ when no trial passed): a checkpoint may hold
    #: them non-finite; every other global must be finite (unless ``nonfinite='ignore'``).
    nonfinite_globals: ClassVar[tuple[str, ...]] = ()
    #: Whether ``rule`` applies ``weight_decay`` itself, where neither form of the base fits
    #: (Adafactor's step size reads the parameter before its decay, LAMB decays the Adam
    #: direction, schedule-free AdamW the z sequence): the base then does not.
    decays_in_rule: ClassVar[bool] = False
    #: Whether the rule's hyperparameters depend on the parameter's path (:meth:`hyper_at`).
    by_path: ClassVar[bool] = False
    #: Whether the rule, not element-wise, can take K runs stacked on a leading axis: with
    #: :attr:`leading_runs` set, a parameter of shape (K, *shape) updates as K independent
    #: arrays of ``shape``, each bit for bit as alone (Muon's batched matrix products). A
    #: sweep (:mod:`descentlab.lab.engine`) then runs K runs as one computation; other rules
    #: that are not element-wise get one optimizer copy per run.
    stacks_runs: ClassVar[bool] = False
    #: What the rule-wide state (:attr:`globals`) is, in a word, for a class whose param
    #: groups share it (Prodigy's and D-Adaptation's "d": their authors' packages take the
    #: pre-pass's sums over every group and keep one d); ``""``: each group of a
    #: :class:`~.groups.Groups` keeps its own (DoG's authors' groups). A class that sets it
    #: implements :meth:`prepass_groups`.
    shared_globals: ClassVar[str] = ""
    #: The settings that enter the shared state and so must agree across the groups sharing
    #: it (the reference reads them from its first group); the others stay per group.
    shared_settings: ClassVar[tuple[str, ...]] = ()
    #: Set (by the engine, on its own copy) on an optimizer whose class ``stacks_runs``: the
    #: first axis of every parameter is the runs'.
    leading_runs: bool = False

    lr = Hyper(NONNEGATIVE, "learning rate", search=(1e-4, 10.0))  # 6 decades, log-uniform
    weight_decay = Hyper(NONNEGATIVE, "weight decay coefficient", tunable=False)
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

    # What the pipeline keeps between updates (dropped by assignments and loads).
    _plan: Any = None
    _flat_state: Any = None
    _scalar_state: Any = None

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
        g = self.rule_gradient(p, g, h)  # (reads p before a decoupled decay changes it)
        if self.decoupled_weight_decay and not self.decays_in_rule and _nonzero(
                h.weight_decay):
            p *= 1 - h.lr * h.weight_decay
        self.rule(p, g, state, h)

    def rule_gradient(self, p: np.ndarray, g: np.ndarray, h: Any) -> np.ndarray:
        """``g`` as :meth:`rule` sees it: negated if ``maximize``, plus L2 weight decay
        ``λ·p`` (unless the decay is decoupled or the rule's own); a new array when it
        differs, else ``g`` itself."""
        if self.maximize:
            g = -g
        if not self.decoupled_weight_decay and not self.decays_in_rule and _nonzero(
                h.weight_decay):
            g = g + h.weight_decay * p
        return g

    def derived(self, state: dict[str, np.ndarray], h: Any) -> dict[str, Any]:
        """Quantities of the equations that are not state (e.g. Adam's bias-corrected
        moments), for traces: computed from the state after an update. None by default."""
        return {}

    def begin_step(self, h: Any) -> None:
        """Rule-wide work done once per update, before :meth:`rule` (optional)."""

    def prepass(self, leaves: list[tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]],
                globals_: dict[str, Any], h: Any) -> dict[str, Any]:
        """Rule-wide work over ALL parameters before any is updated (optional): norms and
        dot products that the learning-rate-free rules (DoG, Prodigy, D-Adaptation, ...)
        need before their first :meth:`rule` call.

        ``leaves``: each parameter's ``(p, g, state)`` as :meth:`rule` will see them — ``p``
        before this step (before a decoupled decay), ``g`` after clipping, ``maximize`` and
        L2 weight decay (:meth:`rule_gradient`), ``state`` the slots as the rule will find
        them (initial values at the first step). ``globals_``: the rule-wide state before
        this step (:meth:`init_globals` at the first). Returns the rule-wide state after
        this step (what ``self.globals`` becomes) and may put this step's scalars on ``h``
        for :meth:`rule`. It must modify none of its arguments but ``h``: it runs after
        every check and before anything changes, so an exception here leaves the
        parameters, the state and the globals as they were. A class with a pre-pass takes
        the full update path every step (no :mod:`.plan`) and should not declare
        ``elementwise``: the lab stacks K runs as the rows of one array for element-wise
        rules, and the pre-pass's norms would mix them (K clones instead).

        >>> from descentlab import optim
        >>> opt = optim.DoG(init_step="distance", init_value=1.0, eps=0.0)
        >>> opt.update({"a": np.zeros(1), "b": np.zeros(1)},
        ...            {"a": np.array([3.0]), "b": np.array([4.0])})
        >>> opt.globals["sum_sq"]   # ‖g‖² over both arrays, before either moved
        25.0
        """
        return globals_

    def prepass_groups(self, parts: list[GroupPart], globals_: dict[str, Any]) -> dict[str, Any]:
        """The pre-pass of a class with :attr:`shared_globals`, over several parameter groups
        at once (:func:`.pipeline.update_together`): ``parts`` one :class:`~.sums.GroupPart`
        per group (its optimizer, leaves as :meth:`prepass` sees them, and ``h``, on which
        it puts that group's scalars), ``globals_`` the shared state before this step (the
        first group's); returns the shared state after it. The same contract as
        :meth:`prepass` (modify nothing but each ``h``); :meth:`prepass` of such a class
        is this with one part, so one group is the ungrouped rule."""
        raise NotImplementedError(f"{type(self).__name__} declares no shared rule-wide state")

    def initial_value(self, slot: str) -> float:
        """The value a state slot starts at (0 unless the rule says otherwise)."""
        return 0.0

    def slot_shapes(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        """The state slots of a parameter of this shape and their shapes (default: every
        slot of :attr:`slots`, of the parameter's shape; Adafactor's factored moments differ)."""
        return {s: shape for s in self.slots}

    def slot_shapes_at(self, path: str, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        """The state slots of the parameter at ``path`` (default: :meth:`slot_shapes` of its
        shape; a rule whose blocks follow the parameters' names, Adam-mini's, overrides it)."""
        return self.slot_shapes(shape)

    def hyper_at(self, path: str, h: Any) -> Any:
        """This step's hyperparameters for the parameter at ``path`` — called per array only
        when :attr:`by_path` is set (Adam-mini takes weight decay off norms and biases by
        name); ``h`` itself by default."""
        return h

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
        self._plan = None
        if self.__dict__.get("_constructed"):
            self.check_combination(self.settings())

    def check_combination(self, values: dict[str, Any]) -> None:
        """The shared checks of a combination of settings (a ``clip_eps`` needs norm
        clipping), then the class's own :meth:`check_settings`."""
        check_clip_options(values)
        self.check_settings(values)


    def unknown_setting(self, name: str) -> None:
        """A misspelt or foreign setting (``opt.learning_rate = 0.1``) would be a new
        attribute that nothing reads: refused once the optimizer is built (other new
        attributes are the caller's own)."""
        known = [*self.hyperparameter_names(), *self.option_descriptors()]
        if name in FOREIGN_NAMES or difflib.get_close_matches(name, known, n=1, cutoff=0.8):
            raise InputError(f"{type(self).__name__} has no setting {name!r}"
                             f"{did_you_mean(name, known)}; assigning it would change nothing")

    @classmethod
    def constructor_error(cls, error: TypeError) -> Exception | None:
        """A keyword the class does not take gets "did you mean" (``betas`` → beta1, beta2)
        instead of Python's message naming the base class."""
        found = _UNEXPECTED.search(str(error))
        if found is None or found.group(1) in accepted_arguments(cls):
            return None
        return unknown_argument(cls, found.group(1))

    def constructed(self) -> None:
        """The combination of settings the constructor made, checked once."""
        self.check_combination(self.settings())

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


    @classmethod
    def overrides(cls, hook: str) -> bool:
        """Whether the class has its own ``hook`` (``"begin_step"``, ``"prepass"``, ...):
        the pipeline skips the base's empty ones."""
        return getattr(cls, hook) is not getattr(Optimizer, hook)

    # ---------------------------------------------------------------- the update
    def resolve(self, count: int) -> SimpleNamespace:
        """The hyperparameters of the update after ``count`` updates — ``h`` of :meth:`rule`,
        with ``h.t = count + 1`` — schedules called with ``count`` and checked.

        >>> from descentlab import optim
        >>> h = optim.SGD(0.5).resolve(0); (h.lr, h.t)
        (0.5, 1)
        """
        return resolve(self, count).h

    #: ``update(params, grads)``: one update of ``params`` in place, given ``grads`` of the
    #: same structure (:func:`.pipeline.update`, bound as the method itself: one call less).
    update = pipeline.update

    @property
    def update_plan(self) -> Plan | None:
        """The plan the next update may take (:mod:`.plan`), or ``None``."""
        plan = self._plan
        return plan if type(plan) is Plan else None

    def forget_plan(self) -> None:
        """Drop the update plan: the next update takes the full path, checking everything
        again (the same results; what the plan's tests compare against)."""
        self._plan = None

    # ---------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """A plain dict of NumPy arrays and numbers: everything needed to resume exactly."""
        return checkpoint.state_dict(self)

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict`. Strict: everything is checked — names, types,
        dtypes (float32 or float64) and shapes of the state, counters, globals, options,
        hyperparameters, schedule state — before anything changes; an error names the entry,
        and leaves the optimizer exactly as it was."""
        apply = self.checked_checkpoint(d)
        apply()

    def checked_checkpoint(self, d: Any) -> Any:
        """Check a state dict; return the function that applies it (which cannot fail). A
        class with more to check extends it (L-BFGS's history)."""
        return checkpoint.checked(self, d)

    def checked_globals(self, globals_: Any, step: int) -> dict[str, float | np.ndarray]:
        """A checkpoint's rule-wide state, checked (a class may add checks)."""
        return checkpoint.checked_globals(self, globals_, step)


__all__ = ["Optimizer", "Hyper", "NONNEGATIVE", "POSITIVE", "ROOT"]
