"""Wrappers around any optimizer: Lookahead, an EMA of the parameters, gradient accumulation.

Each takes an optimizer (``optim.create(...)``, a :class:`~.groups.Groups`, or another wrapper)
and is used like one: ``update(params, grads)``, checkpoints through ``state_dict()`` /
``save()`` that include the inner optimizer, bit-identical resume. Reading or setting a
hyperparameter (``opt.lr = 0.01``) goes to the inner optimizer. A failed call changes nothing.

* :class:`Lookahead` — Zhang et al. 2019; equal to optax's ``lookahead``.
* :class:`EMA` — Keras's ``use_ema`` / ``ema_momentum`` / ``ema_overwrite_frequency``, and
  optax's ``ema`` (zero start, optional debiasing) applied to the parameters.
* :class:`Accumulate` — Keras's ``gradient_accumulation_steps`` and optax's ``MultiSteps``.

They are Python objects, not names for ``create()`` or the spec syntax (a spec names one
optimizer; a wrapper needs one built first).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..errors import InputError, InputTypeError
from .base import did_you_mean
from .checkpoint import counter, require, slot_arrays
from .checks import skip_nonfinite, work_dtype
from .composite import Composite, check_optimizer, counts, restart, restartable, stepped
from .hyperparams import CLOSED_UNIT, check_value, flag
from .tree import flatten_params


def _integer(name: str, value: Any, low: int) -> int:
    """A whole-number setting ``>= low`` (never a bool or a float)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputTypeError(f"{name} must be an integer, not {value!r}")
    if value < low:
        raise InputError(f"{name} must be >= {low}, got {value}")
    return int(value)


def _fraction(name: str, value: Any) -> float:
    """A setting in [0, 1] (hyperparams' check: a number, finite, in range)."""
    number = check_value(name, value, CLOSED_UNIT)
    if isinstance(number, np.ndarray):
        raise InputTypeError(f"{name} must be a single number, not an array")
    return number


class Wrapper(Composite):
    """One inner optimizer; its hyperparameters are read and set through the wrapper."""

    #: The wrapper's own settings, saved with and checked against checkpoints.
    settings: ClassVar[tuple[str, ...]] = ()
    #: Per-parameter arrays the wrapper keeps (keyed by path, like optimizer state).
    slots: ClassVar[tuple[str, ...]] = ()
    #: Counters of the wrapper (non-negative integers) besides ``step``.
    counters: ClassVar[tuple[str, ...]] = ()

    def __init__(self, inner: Any) -> None:
        check_optimizer(type(self).__name__, inner)
        if getattr(inner, "needs_closure", False):
            raise InputTypeError(f"{type(self).__name__} cannot wrap {type(inner).__name__}: "
                                 "it needs a closure (update(params, closure=...)), and "
                                 "wrappers pass gradients")
        object.__setattr__(self, "inner", inner)
        #: Calls of :meth:`update` that changed the parameters or the wrapper's state.
        self.step = 0
        #: ``slot → {path: array}``.
        self.buffers: dict[str, dict[str, np.ndarray]] = {s: {} for s in self.slots}

    # hyperparameters live on the inner optimizer
    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        """The wrapper's own settings first (EMA's ``momentum`` is its own, not the inner
        Momentum's: ``opt.inner.momentum`` is that one), checked as the constructor checks
        them; then the inner optimizer's hyperparameters and options; any other public name
        goes to the shared guard (:meth:`unknown_setting`)."""
        inner = self.__dict__.get("inner")
        if name in self.settings:
            if self.__dict__.get("_constructed"):
                self._assign_setting(name, value)
            else:
                object.__setattr__(self, name, value)
        elif inner is not None and (name in _hyper_names(inner) or name in _option_names(inner)):
            setattr(inner, name, value)
        else:
            super().__setattr__(name, value)

    def unknown_setting(self, name: str) -> None:
        """A misspelt or unknown public name is refused once built: nothing would read it."""
        known = [*self.settings, *_hyper_names(self.inner)]
        raise InputError(f"{type(self).__name__} has no setting {name!r}"
                         f"{did_you_mean(name, known)}; assigning it would change nothing")

    def _assign_setting(self, name: str, value: Any) -> None:
        """A setting assigned after construction: checked by building a probe wrapper with
        it (the constructor's checks), then against the state so far (:meth:`check_setting`);
        a refusal changes nothing."""
        current = {k: getattr(self, k) for k in self.settings}
        probe = type(self)(self.inner, **{**current, name: value})
        new = getattr(probe, name)
        if new != current[name]:
            self.check_setting(name, new)
        object.__setattr__(self, name, new)

    def check_setting(self, name: str, value: Any) -> None:
        """Refuse a new value of a setting that the state so far cannot take (optional)."""

    def __repr__(self) -> str:
        own = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.settings)
        return f"{type(self).__name__}({self.inner!r}, {own})"

    # checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.name,
            "settings": {k: getattr(self, k) for k in self.settings},
            "step": self.step,
            "counters": {k: getattr(self, k) for k in self.counters},
            "slots": {s: {p: a.copy() for p, a in arrays.items()}
                      for s, arrays in self.buffers.items()},
            "inner": self.inner.state_dict(),
        }

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """Strict: settings, counters, slots (by path and shape) and the inner optimizer's
        state are all checked before anything changes."""
        self.check_kind(d)
        require(d, ("optimizer", "settings", "step", "counters", "slots", "inner"))
        require(d["settings"], self.settings, "checkpoint's settings")
        for k in self.settings:
            if d["settings"][k] != getattr(self, k):
                raise InputError(f"the checkpoint was written with {k}={d['settings'][k]!r}, "
                                 f"this {type(self).__name__} has {k}={getattr(self, k)!r}")
        require(d["counters"], self.counters, "checkpoint's counters")
        counters = {k: counter(k, d["counters"][k]) for k in self.counters}
        step = counter("step", d["step"])
        require(d["slots"], self.slots, "checkpoint's slots")
        shapes = _inner_shapes(d["inner"])
        finite = getattr(self.inner, "nonfinite", "raise") != "ignore"
        slots = {s: slot_arrays(d["slots"][s], shapes, s, finite=finite) for s in self.slots}
        self.check_loaded(counters, slots)
        self.inner.load_state_dict(d["inner"])  # strict; raises before changing anything
        self.step = step
        for k, v in counters.items():
            setattr(self, k, v)
        self.buffers = slots
        self.forget_structure()

    def check_loaded(self, counters: dict[str, int], slots: dict[str, Any]) -> None:
        """Consistency of a checkpoint's own entries (subclasses add their checks)."""


def _hyper_names(opt: Any) -> tuple[str, ...]:
    names = getattr(opt, "hyperparameter_names", None)
    return tuple(names()) if callable(names) else ()


def _option_names(opt: Any) -> tuple[str, ...]:
    names = getattr(opt, "option_descriptors", None)
    return tuple(names()) if callable(names) else ()


def _inner_shapes(d: Any) -> dict[str, tuple[int, ...]]:
    """The parameter shapes an inner optimizer's state dict knows (empty if none)."""
    if isinstance(d, dict) and isinstance(d.get("shapes"), dict):
        return {p: tuple(s) for p, s in d["shapes"].items()}
    if isinstance(d, dict) and isinstance(d.get("inner"), dict):
        return _inner_shapes(d["inner"])
    if isinstance(d, dict) and isinstance(d.get("groups"), list):
        out: dict[str, tuple[int, ...]] = {}
        for g in d["groups"]:
            out.update(_inner_shapes(g))
        return out
    return {}


class Lookahead(Wrapper):
    """Lookahead: k fast steps of any optimizer, then the slow weights move part of the way.

    With φ the slow weights (φ₀ = the parameters before the first update) and θ the
    parameters the inner optimizer updates::

        θ ← inner step(θ, g)                       every update
        every k-th update:  φ ← φ + α (θ − φ);  θ ← φ

    ``reset_state=True`` also resets the inner optimizer (state and step count, so bias
    corrections and schedules start again) at every synchronisation, as optax's option.

    Defaults: ``sync_period=5``, ``slow_step_size=0.5`` (the paper's k = 5, α = 0.5; optax has
    no defaults). Equal to ``optax.lookahead(inner, sync_period, slow_step_size, reset_state)``
    on the fast parameters (tested). Evaluate either ``params`` (θ, the fast weights; equal to
    φ right after a synchronisation) or :meth:`slow`.

    Reference: M. R. Zhang, J. Lucas, G. Hinton, J. Ba, "Lookahead Optimizer: k steps forward,
    1 step back", NeurIPS 2019.

    >>> from descentlab import optim
    >>> opt = Lookahead(optim.SGD(0.1), sync_period=2, slow_step_size=0.5)
    >>> p = np.array([1.0])
    >>> opt.update(p, np.array([1.0])); p
    array([0.9])
    >>> opt.update(p, np.array([1.0])); p  # fast 0.8, slow 1 + 0.5·(0.8 − 1) = 0.9
    array([0.9])
    """

    name = "lookahead"
    settings = ("sync_period", "slow_step_size", "reset_state")
    slots = ("slow",)
    counters = ("since_sync",)

    def __init__(self, inner: Any, sync_period: int = 5, slow_step_size: float = 0.5,
                 reset_state: bool = False) -> None:
        super().__init__(inner)
        self.sync_period = _integer("sync_period", sync_period, 1)
        self.slow_step_size = _fraction("slow_step_size", slow_step_size)
        self.reset_state = flag("reset_state", reset_state)
        if self.reset_state and not restartable(inner):
            raise InputError("reset_state=True resets an optimizer's own state: wrap a plain "
                             f"optimizer (holding plain ones), not a {type(inner).__name__}")
        #: Fast updates since the last synchronisation.
        self.since_sync = 0

    def slow(self) -> dict[str, np.ndarray]:
        """The slow weights φ by path (copies)."""
        return {p: a.copy() for p, a in self.buffers["slow"].items()}

    def update(self, params: Any, grads: Any) -> None:
        """One fast step; every ``sync_period``-th also synchronises."""
        first = not self.buffers["slow"]
        start = {leaf.path: leaf.array.astype(work_dtype(leaf.array.dtype))
                 for leaf in flatten_params(params)} if first else None
        before = counts(self.inner)
        self.inner.update(params, grads)  # checks everything; raises before changing anything
        if not stepped(self.inner, before):
            return
        if start is not None:
            self.buffers["slow"] = start
        self.step += 1
        self.since_sync += 1
        if self.since_sync < self.sync_period:
            return
        self.since_sync = 0
        alpha = self.slow_step_size
        for leaf in flatten_params(params):
            slow = self.buffers["slow"][leaf.path]
            work = leaf.array.astype(slow.dtype)
            slow += alpha * (work - slow)
            leaf.array[...] = slow
            leaf.write_back()
        if self.reset_state:
            restart(self.inner)

    def check_loaded(self, counters: dict[str, int], slots: dict[str, Any]) -> None:
        if counters["since_sync"] >= self.sync_period:
            raise InputError(f"the checkpoint's since_sync ({counters['since_sync']}) must be "
                             f"< sync_period ({self.sync_period})")


class EMA(Wrapper):
    """An exponential moving average of the parameters, kept beside any optimizer.

    After every inner update, with μ = ``momentum`` and n the number of updates::

        init="first" (Keras):  a₁ = θ₁;  aₙ = μ aₙ₋₁ + (1 − μ) θₙ
        init="zero"  (optax):  a₀ = 0;   aₙ = μ aₙ₋₁ + (1 − μ) θₙ;
                               reported as aₙ / (1 − μⁿ) with ``debias=True``

    ``overwrite_every=N`` copies the average into the parameters after every N-th update
    (Keras's ``ema_overwrite_frequency``); :meth:`average` returns it and :meth:`copy_to`
    writes it into a parameter tree (Keras's ``finalize_variable_values``).

    Defaults: ``momentum=0.99``, ``init="first"``, ``overwrite_every=None`` — Keras's
    ``use_ema=True, ema_momentum=0.99, ema_overwrite_frequency=None``. optax's
    ``ema(decay, debias)`` fed the parameters is ``EMA(inner, decay, init="zero",
    debias=debias)`` (tested against both).

    Reference: B. T. Polyak, A. B. Juditsky, "Acceleration of stochastic approximation by
    averaging", SIAM J. Control Optim. 1992 (averaging of the iterates).

    >>> from descentlab import optim
    >>> opt = EMA(optim.SGD(1.0), momentum=0.5)
    >>> p = {"x": 0.0}
    >>> opt.update(p, {"x": -1.0}); opt.update(p, {"x": -1.0})
    >>> p["x"], opt.average()["x"]  # θ = 1 then 2; a = 1 then 0.5·1 + 0.5·2
    (2.0, array(1.5))
    """

    name = "ema"
    settings = ("momentum", "init", "debias", "overwrite_every")
    slots = ("average",)

    def __init__(self, inner: Any, momentum: float = 0.99, *, init: str = "first",
                 debias: bool = False, overwrite_every: int | None = None) -> None:
        super().__init__(inner)
        self.momentum = _fraction("momentum", momentum)
        if init not in ("first", "zero"):
            raise InputError(f"init must be 'first' (Keras) or 'zero' (optax), got {init!r}")
        self.init = init
        self.debias = flag("debias", debias)
        if self.debias and init == "first":
            raise InputError("debias=True corrects a zero start: use it with init='zero'")
        self.overwrite_every = None if overwrite_every is None else _integer(
            "overwrite_every", overwrite_every, 1)

    def check_setting(self, name: str, value: Any) -> None:
        if name == "init" and self.step:
            raise InputError(f"init cannot change once the average has started (it decides "
                             f"what the average holds): it is {self.init!r}")

    def average(self) -> dict[str, np.ndarray]:
        """The average by path (debiased if ``debias=True``; copies)."""
        a = self.buffers["average"]
        if self.debias and self.step:
            scale = 1 - self.momentum ** self.step
            return {p: v / scale for p, v in a.items()}
        return {p: v.copy() for p, v in a.items()}

    def copy_to(self, params: Any) -> None:
        """Write the average into ``params`` (same structure as the updates used)."""
        average = self.average()
        leaves = flatten_params(params)
        missing = [leaf.path for leaf in leaves if leaf.path not in average]
        if missing or len(leaves) != len(average):
            odd = missing[0] if missing else sorted(set(average) - {x.path for x in leaves})[0]
            raise InputError(f"copy_to: the parameters and the average disagree about {odd!r}")
        for leaf in leaves:
            if leaf.array.shape != average[leaf.path].shape:
                raise InputError(f"copy_to: {leaf.path!r} has shape {leaf.array.shape}, the "
                                 f"average has {average[leaf.path].shape}")
        for leaf in leaves:
            leaf.array[...] = average[leaf.path]
            leaf.write_back()

    def update(self, params: Any, grads: Any) -> None:
        """The inner update, then the average (and, every N-th update, the overwrite)."""
        before = counts(self.inner)
        self.inner.update(params, grads)
        if not stepped(self.inner, before):
            return
        mu = self.momentum
        leaves = flatten_params(params)
        averages = self.buffers["average"]
        for leaf in leaves:
            theta = leaf.array
            if leaf.path not in averages:
                averages[leaf.path] = np.zeros(theta.shape, work_dtype(theta.dtype))
            a = averages[leaf.path]
            m = 0.0 if (self.init == "first" and self.step == 0) else mu
            a[...] = m * a + (1 - m) * theta
        self.step += 1
        if self.overwrite_every and self.step % self.overwrite_every == 0:
            average = self.average()
            for leaf in leaves:
                leaf.array[...] = average[leaf.path]
                leaf.write_back()


class Accumulate(Wrapper):
    """Gradient accumulation: one inner update every ``steps`` calls, on their average.

    Calls 1 … k−1 of each round only store the gradient; call k passes the inner optimizer
    ``average`` of the k gradients and updates the parameters. The inner optimizer's step
    count (and so its schedules and bias corrections) counts its own updates, as Keras's
    ``iterations`` and optax's inner state do::

        average="mean"          (Keras):  ĝ = (g_k + Σ_{i<k} g_i) / k
        average="running_mean"  (optax):  a_i = a_{i−1} + (g_i − a_{i−1}) / i;  ĝ = a_k
        average="sum"           (optax, use_grad_mean=False):  ĝ = Σ g_i

    Clipping and weight decay of the inner optimizer apply to ĝ (Keras clips after averaging).
    Non-finite gradients follow the inner optimizer's ``nonfinite`` on every call.

    Equal to Keras's ``gradient_accumulation_steps=k`` (``average="mean"``) and optax's
    ``MultiSteps(inner, every_k_schedule=k)`` (``"running_mean"``; tested against both).
    Keras combines accumulation with its EMA differently (it averages every micro-step);
    ``EMA(Accumulate(...))`` averages after each real update.

    Reference: the Keras and optax implementations named above.

    >>> from descentlab import optim
    >>> opt = Accumulate(optim.SGD(1.0), steps=2)
    >>> p = np.array([0.0])
    >>> opt.update(p, np.array([1.0])); p
    array([0.])
    >>> opt.update(p, np.array([3.0])); p  # the mean gradient 2
    array([-2.])
    """

    name = "accumulate"
    settings = ("steps", "average")
    slots = ("accumulated",)
    counters = ("micro_step",)

    def __init__(self, inner: Any, steps: int = 2, *, average: str = "mean") -> None:
        super().__init__(inner)
        self.steps = _integer("steps", steps, 1)
        if average not in ("mean", "running_mean", "sum"):
            raise InputError("average must be 'mean' (Keras), 'running_mean' (optax) or "
                             f"'sum', got {average!r}")
        self.average = average
        #: Gradients stored in the current round (0 … steps − 1).
        self.micro_step = 0

    def update(self, params: Any, grads: Any) -> None:
        """Store the gradient, or on the round's last call update with the average."""
        leaves, gs = self.checked_call(params, grads)
        if skip_nonfinite(getattr(self.inner, "nonfinite", "raise"), leaves, gs,
                          self.step + 1):
            self.inner.skipped_steps += 1
            return
        acc = self.buffers["accumulated"]
        i = self.micro_step  # gradients already stored this round
        new: dict[str, np.ndarray] = {}
        for leaf, g in zip(leaves, gs):
            dtype = work_dtype(leaf.array.dtype)
            g = np.asarray(g, dtype)
            a = acc.get(leaf.path)
            if a is None or i == 0:
                a = np.zeros(leaf.array.shape, dtype)
            if self.average == "running_mean":
                new[leaf.path] = a + (g - a) / (i + 1)
            else:
                new[leaf.path] = g + a
        if i + 1 < self.steps:
            self.buffers["accumulated"] = new
            self.micro_step = i + 1
            self.step += 1
            self.remember(leaves)
            return
        if self.average == "mean":
            new = {p: a / self.steps for p, a in new.items()}
        before = counts(self.inner)
        self.inner.update(params, new)  # a flat dict by path matches any tree
        if not stepped(self.inner, before):
            return
        self.buffers["accumulated"] = {p: np.zeros_like(a) for p, a in new.items()}
        self.micro_step = 0
        self.step += 1
        self.remember(leaves)

    def check_setting(self, name: str, value: Any) -> None:
        if name == "steps" and self.micro_step >= value:
            raise InputError(f"steps={value} is not more than the {self.micro_step} gradients "
                             "already stored this round; change it at the end of a round")
        if name == "average" and self.micro_step:
            raise InputError(f"average cannot change in the middle of a round (the "
                             f"{self.micro_step} stored gradients are a {self.average} "
                             "already)")

    def check_loaded(self, counters: dict[str, int], slots: dict[str, Any]) -> None:
        if counters["micro_step"] >= self.steps:
            raise InputError(f"the checkpoint's micro_step ({counters['micro_step']}) must be "
                             f"< steps ({self.steps})")


__all__ = ["Wrapper", "Lookahead", "EMA", "Accumulate"]
