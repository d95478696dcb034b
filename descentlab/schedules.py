"""Learning-rate schedules: callables of the update count that return a learning rate.

A schedule ``s`` is called as ``s(n)`` where ``n`` is the number of updates already made: 0 for
the first update, ``n`` for update ``n + 1``. This is the count PyTorch's schedulers hold in
``last_epoch`` when ``scheduler.step()`` is called once after every ``optimizer.step()``, the
``step`` Keras passes (``optimizer.iterations``) and optax's ``count``. Any optimizer takes a
schedule as its rate and records the rate it used in ``opt.current_lr``:

>>> from descentlab import optim
>>> from descentlab.schedules import ExponentialDecay
>>> opt = optim.SGD(lr=ExponentialDecay(0.1, gamma=0.5))
>>> params = {"x": 1.0}
>>> for _ in range(3):
...     opt.update(params, {"x": 1.0})
...     print(opt.current_lr)
0.1
0.05
0.025

Schedules are plain objects: picklable (except :class:`Lambda` of an unpicklable function),
with a readable ``repr``. :class:`ReduceOnPlateau` holds state (it is fed a metric through
:meth:`ReduceOnPlateau.report`) and has ``state_dict()`` / ``load_state_dict()``; the
optimizer's checkpoint stores that state (JSON) and restores it.

Changing the rate by hand mid-run (see docs/schedules.md):

* ``opt.lr = 0.01`` *replaces* the schedule by a constant from the next update on;
* ``opt.lr = opt.lr * 0.5`` *scales* it: a schedule times a number is a :class:`Scaled`
  schedule that keeps its shape (and its state), a number times a number is a number;
* ``opt.lr = ExponentialDecay(0.01, 0.95).starting_at(opt.step)`` starts a new schedule
  from its own beginning at the current step (:class:`Shifted`).

Conventions (0- or 1-based counts, which side of a boundary takes the new value) are tabled in
docs/schedules.md. Reference values are tested against ``torch.optim.lr_scheduler`` and
against Keras's documented formulas.
"""

from __future__ import annotations

import copy
import inspect
import math
import numbers
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .errors import InputError, InputTypeError, MissingKeyError
from .optim.hyperparams import ANY, NONNEGATIVE, POSITIVE, Check, check_value, choice, flag

UNIT_OPEN = Check(0.0, 1.0, True, True)  # (0, 1)
UNIT_HALF_OPEN = Check(0.0, 1.0, True, False)  # (0, 1]
UNIT_CLOSED_OPEN = Check(0.0, 1.0, False, True)  # [0, 1)
AT_LEAST_ONE = Check(1.0, None, False, False)

__all__ = [
    "Schedule", "Constant", "InverseTimeDecay", "ExponentialDecay", "InverseSqrtDecay",
    "StepDecay", "MultiStepDecay", "PiecewiseConstant", "Polynomial", "Linear", "LinearWarmup",
    "CosineDecay", "CosineRestarts", "OneCycle", "OneCycleMomentum", "ReduceOnPlateau",
    "PlateauScale",
    "Lambda", "Join", "Scaled", "Shifted",
]


# --------------------------------------------------------------------------- argument checks
def _number(name: str, value: Any, check: Check = NONNEGATIVE) -> float:
    """A finite Python float in ``check``'s range; the error names the argument and value."""
    if isinstance(value, np.ndarray) and value.ndim > 0:
        raise InputTypeError(f"{name} must be a number, not an array of shape {value.shape}")
    return float(check_value(name, value, check))


def _integer(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputTypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise InputError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _steps(name: str, value: Any) -> int | float:
    """A positive step count: an int, or a positive float (Keras accepts float decay_steps)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return _integer(name, value, 1)
    return _number(name, value, POSITIVE)


def _boundaries(name: str, value: Any) -> list[int]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise InputTypeError(f"{name} must be a list of integers, got {value!r}")
    if len(value) == 0:
        raise InputError(f"{name} must not be empty, got {list(value)!r}")
    out = [_integer(f"{name}[{i}]", b, 0) for i, b in enumerate(value)]
    for i in range(1, len(out)):
        if out[i] <= out[i - 1]:
            raise InputError(
                f"{name} must be strictly increasing, got {out} "
                f"({name}[{i}] = {out[i]} <= {name}[{i - 1}] = {out[i - 1]})")
    return out


def _count(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise InputTypeError(f"a schedule is called with the update count, an integer; got {n!r}")
    if n < 0:
        raise InputError(f"the update count must be >= 0, got {n}")
    return int(n)


def _epochs(n: int, steps_per_epoch: int | float, staircase: bool) -> float:
    """n measured in epochs: n / steps_per_epoch, floored when ``staircase``."""
    if staircase:
        return float(n // steps_per_epoch)
    return n / steps_per_epoch


def _schedule(name: str, value: Any) -> Callable[[int], Any]:
    if not callable(value) or isinstance(value, np.ndarray):
        raise InputTypeError(f"{name} must be a schedule (a callable of the update count), "
                        f"got {value!r}")
    return value


def _state_mapping(d: Any) -> None:
    if not isinstance(d, dict):
        raise InputTypeError(f"a schedule state is a dict, not a {type(d).__name__}")


def _state_entries(schedule: Any, d: Any, keys: tuple[str, ...]) -> None:
    """Refuse a saved state that is not a dict of exactly ``keys`` for this schedule's type."""
    _state_mapping(d)
    if d.get("type") != type(schedule).__name__:
        raise InputError(f"the state is for a {d.get('type')!r} schedule, "
                         f"not a {type(schedule).__name__}")
    for key in keys:
        if key not in d:
            raise MissingKeyError(f"the schedule state has no {key!r} entry")
    extra = sorted(set(d) - set(keys), key=str)
    if extra:
        raise MissingKeyError(f"the schedule state has an unknown entry {extra[0]!r}")


def _float_to_json(x: float) -> float | str:
    return x if math.isfinite(x) else repr(x)  # 'inf', '-inf', 'nan': JSON has no such numbers


# --------------------------------------------------------------------------- the base class
class Schedule:
    """Base class: a callable ``n ↦ learning rate`` for ``n = 0, 1, 2, …`` updates made.

    Subclasses implement :meth:`value` for a validated integer ``n >= 0``. The ``repr`` lists
    the constructor's arguments (those left at their defaults are omitted); it is built from
    attributes named like the arguments.
    """

    def __call__(self, n: int) -> float:
        return self.value(_count(n))

    def value(self, n: int) -> float:
        """The rate for the update after ``n`` updates (``n`` already validated)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        parts = []
        for p in list(inspect.signature(type(self).__init__).parameters.values())[1:]:
            v = getattr(self, p.name)
            if p.default is inspect.Parameter.empty or not _same(v, p.default):
                parts.append(f"{p.name}={_show(v)}")
        return f"{type(self).__name__}({', '.join(parts)})"

    #: NumPy defers to us, so ``array * schedule`` is a :class:`Scaled` schedule too.
    __array_ufunc__ = None

    def __mul__(self, factor: float | np.ndarray) -> Scaled:
        if not _is_factor(factor):
            return NotImplemented
        return Scaled(self, factor)

    __rmul__ = __mul__

    def starting_at(self, step: int) -> Shifted:
        """This schedule started afresh at update count ``step`` (see :class:`Shifted`)."""
        return Shifted(self, step)


def _is_factor(x: Any) -> bool:
    return isinstance(x, np.ndarray) or (isinstance(x, numbers.Real) and not isinstance(x, bool))


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and isinstance(a, (bool, int, float, str)) and a == b


def _show(v: Any) -> str:
    if callable(v) and not isinstance(v, Schedule):
        module = getattr(v, "__module__", None)
        name = getattr(v, "__qualname__", None) or type(v).__name__
        return f"{module}.{name}" if module not in (None, "builtins") else name
    return repr(v)


# --------------------------------------------------------------------------- the schedules
class Constant(Schedule):
    """α(n) = ``lr`` for every n.

    >>> Constant(0.1)(500)
    0.1
    """

    def __init__(self, lr: float) -> None:
        self.lr = _number("lr", lr)

    def value(self, n: int) -> float:
        return self.lr


class InverseTimeDecay(Schedule):
    """Inverse time decay: α(n) = lr / (1 + rate·e), e = n / steps_per_epoch.

    With ``staircase=True`` e is floored (the rate drops once per epoch). ``steps_per_epoch``
    lets e count epochs while the optimizer counts iterations. e = 0 during the first epoch,
    so the first rate is ``lr``. Keras ``InverseTimeDecay(lr, decay_steps, decay_rate,
    staircase)`` is ``InverseTimeDecay(lr, decay_rate, steps_per_epoch=decay_steps,
    staircase=staircase)``.

    >>> s = InverseTimeDecay(1.0, rate=1.0, steps_per_epoch=2, staircase=True)
    >>> [s(n) for n in range(5)]
    [1.0, 1.0, 0.5, 0.5, 0.3333333333333333]
    """

    def __init__(self, lr: float, rate: float, steps_per_epoch: int | float = 1,
                 staircase: bool = False) -> None:
        self.lr = _number("lr", lr)
        self.rate = _number("rate", rate)
        self.steps_per_epoch = _steps("steps_per_epoch", steps_per_epoch)
        self.staircase = flag("staircase", staircase)

    def value(self, n: int) -> float:
        return self.lr / (1 + self.rate * _epochs(n, self.steps_per_epoch, self.staircase))


class ExponentialDecay(Schedule):
    """Exponential decay: α(n) = lr·gamma^e, e = n / steps_per_epoch (floored if staircase).

    ``gamma`` in (0, 1] (0.95 in the teaching material). PyTorch ``ExponentialLR(gamma)`` is
    ``ExponentialDecay(lr, gamma)``; Keras ``ExponentialDecay(lr, decay_steps, decay_rate,
    staircase)`` is ``ExponentialDecay(lr, decay_rate, steps_per_epoch=decay_steps,
    staircase=staircase)``.

    >>> [ExponentialDecay(1.0, 0.5)(n) for n in range(4)]
    [1.0, 0.5, 0.25, 0.125]
    """

    def __init__(self, lr: float, gamma: float, steps_per_epoch: int | float = 1,
                 staircase: bool = False) -> None:
        self.lr = _number("lr", lr)
        self.gamma = _number("gamma", gamma, UNIT_HALF_OPEN)
        self.steps_per_epoch = _steps("steps_per_epoch", steps_per_epoch)
        self.staircase = flag("staircase", staircase)

    def value(self, n: int) -> float:
        return self.lr * self.gamma ** _epochs(n, self.steps_per_epoch, self.staircase)


class InverseSqrtDecay(Schedule):
    """Inverse square-root decay: α(n) = k·lr / √(e + 1), e = n / steps_per_epoch.

    The teaching material writes α = k/√t·α₀ with t the epoch number counted from 1; here
    t = e + 1, so n = 0 is well defined and the first rate is k·lr (lr itself for k = 1).
    ``staircase=True`` floors e.

    >>> s = InverseSqrtDecay(1.0, k=1.0)
    >>> [s(n) for n in (0, 3, 8)]
    [1.0, 0.5, 0.3333333333333333]
    """

    def __init__(self, lr: float, k: float = 1.0, steps_per_epoch: int | float = 1,
                 staircase: bool = False) -> None:
        self.lr = _number("lr", lr)
        self.k = _number("k", k)
        self.steps_per_epoch = _steps("steps_per_epoch", steps_per_epoch)
        self.staircase = flag("staircase", staircase)

    def value(self, n: int) -> float:
        return self.k * self.lr / math.sqrt(_epochs(n, self.steps_per_epoch, self.staircase) + 1)


class StepDecay(ExponentialDecay):
    """Step decay: α(n) = lr·gamma^⌊n / step_size⌋ (PyTorch ``StepLR``; default gamma 0.1).

    The same as ``ExponentialDecay(lr, gamma, steps_per_epoch=step_size, staircase=True)``.

    >>> [StepDecay(1.0, step_size=2, gamma=0.5)(n) for n in range(5)]
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    def __init__(self, lr: float, step_size: int, gamma: float = 0.1) -> None:
        super().__init__(lr, gamma, _integer("step_size", step_size, 1), staircase=True)
        self.step_size = self.steps_per_epoch


_AT_BOUNDARY = ("new", "old")


class PiecewiseConstant(Schedule):
    """α(n) = values[i] where i is the number of boundaries already reached.

    ``at_boundary`` says which value the boundary step itself takes:

    * ``"new"`` (default; PyTorch ``MultiStepLR``, optax ``join_schedules``): values[i+1]
      from n = boundaries[i] on — the update made after ``boundaries[i]`` updates uses it;
    * ``"old"`` (Keras ``PiecewiseConstantDecay``, optax ``piecewise_constant_schedule``):
      values[i] up to and including n = boundaries[i], values[i+1] from n = boundaries[i] + 1.

    >>> s = PiecewiseConstant([2], [1.0, 0.5])
    >>> [s(n) for n in range(4)], [PiecewiseConstant([2], [1.0, 0.5], "old")(n) for n in range(4)]
    ([1.0, 1.0, 0.5, 0.5], [1.0, 1.0, 1.0, 0.5])
    """

    def __init__(self, boundaries: Sequence[int], values: Sequence[float],
                 at_boundary: str = "new") -> None:
        self.boundaries = _boundaries("boundaries", boundaries)
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise InputTypeError(f"values must be a list of numbers, got {values!r}")
        if len(values) != len(self.boundaries) + 1:
            raise InputError(f"values must have one entry more than boundaries "
                             f"({len(self.boundaries) + 1}), got {len(values)}")
        self.values = [_number(f"values[{i}]", v) for i, v in enumerate(values)]
        self.at_boundary = choice("at_boundary", at_boundary, _AT_BOUNDARY)

    def _index(self, n: int) -> int:
        if self.at_boundary == "new":
            return bisect_right(self.boundaries, n)
        return bisect_left(self.boundaries, n)

    def value(self, n: int) -> float:
        return self.values[self._index(n)]


class MultiStepDecay(PiecewiseConstant):
    """α(n) = lr·gamma^i, i the number of milestones reached (PyTorch ``MultiStepLR``).

    ``at_boundary="new"`` (default, PyTorch): the rate drops at n = milestone;
    ``"old"`` (Keras convention): one update later. See :class:`PiecewiseConstant`.

    >>> [MultiStepDecay(1.0, [1, 3], gamma=0.5)(n) for n in range(5)]
    [1.0, 0.5, 0.5, 0.25, 0.25]
    """

    def __init__(self, lr: float, milestones: Sequence[int], gamma: float = 0.1,
                 at_boundary: str = "new") -> None:
        self.lr = _number("lr", lr)
        self.gamma = _number("gamma", gamma, UNIT_HALF_OPEN)
        self.milestones = _boundaries("milestones", milestones)
        values = [self.lr * self.gamma ** i for i in range(len(self.milestones) + 1)]
        super().__init__(self.milestones, values, at_boundary)


class Polynomial(Schedule):
    """Polynomial decay from ``lr`` to ``final_lr`` over ``decay_steps`` updates (Keras).

    α(n) = (lr − final_lr)·(1 − m/decay_steps)^power + final_lr with m = min(n, decay_steps);
    with ``cycle=True`` decay_steps is replaced by its first multiple ≥ n (1× at n = 0) and
    m = n. PyTorch ``PolynomialLR(total_iters, power)`` is ``Polynomial(lr, total_iters,
    power)`` (final_lr 0; Keras's default end_learning_rate is 1e-4).

    >>> [Polynomial(1.0, 4, power=2.0)(n) for n in range(6)]
    [1.0, 0.5625, 0.25, 0.0625, 0.0, 0.0]
    """

    def __init__(self, lr: float, decay_steps: int | float, power: float = 1.0,
                 final_lr: float = 0.0, cycle: bool = False) -> None:
        self.lr = _number("lr", lr)
        self.decay_steps = _steps("decay_steps", decay_steps)
        self.power = _number("power", power, POSITIVE)
        self.final_lr = _number("final_lr", final_lr)
        self.cycle = flag("cycle", cycle)

    def value(self, n: int) -> float:
        steps = self.decay_steps
        if self.cycle:
            steps = steps * (1 if n == 0 else math.ceil(n / steps))
        else:
            n = min(n, steps)
        return (self.lr - self.final_lr) * (1 - n / steps) ** self.power + self.final_lr


class Linear(Schedule):
    """A straight line from ``start_lr`` (n = 0) to ``end_lr`` (n = steps), then constant.

    α(n) = start_lr + (end_lr − start_lr)·min(n, steps)/steps. A warmup is a rising line
    (:class:`LinearWarmup`), a linear decay a falling one. PyTorch ``LinearLR(start_factor,
    end_factor, total_iters)`` with base rate r is ``Linear(r·start_factor, r·end_factor,
    total_iters)``; optax ``linear_schedule(init, end, steps)`` is ``Linear(init, end, steps)``.

    >>> [Linear(0.0, 1.0, 4)(n) for n in range(6)]
    [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    """

    def __init__(self, start_lr: float, end_lr: float, steps: int) -> None:
        self.start_lr = _number("start_lr", start_lr)
        self.end_lr = _number("end_lr", end_lr)
        self.steps = _integer("steps", steps, 1)

    def value(self, n: int) -> float:
        return self.start_lr + (self.end_lr - self.start_lr) * min(n, self.steps) / self.steps


class LinearWarmup(Linear):
    """Linear warmup: from ``start_lr`` up to ``peak_lr`` over ``warmup_steps``, then ``peak_lr``.

    To decay after the warmup, join it with a decay (:class:`Join`) or use
    ``CosineDecay(..., warmup_steps=...)``.

    >>> [LinearWarmup(1.0, 4)(n) for n in range(6)]
    [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    """

    def __init__(self, peak_lr: float, warmup_steps: int, start_lr: float = 0.0) -> None:
        super().__init__(start_lr, peak_lr, _integer("warmup_steps", warmup_steps, 1))
        self.peak_lr, self.warmup_steps = self.end_lr, self.steps


class CosineDecay(Schedule):
    """Cosine decay from ``lr`` to ``final_lr``, after an optional linear warmup.

    ``total_steps`` counts the whole schedule, warmup included (optax, Hugging Face); the
    cosine part lasts D = total_steps − warmup_steps updates. With k = n − warmup_steps:

    * n < warmup_steps: α = (lr − warmup_start_lr)·(n / warmup_steps) + warmup_start_lr;
    * otherwise α = final_lr + (lr − final_lr)·(1 + cos(π·k/D))/2, with k capped at D
      (the rate then stays at final_lr) unless ``cycle=True``, where the cosine continues
      (back up to lr at k = 2D, …) as PyTorch's ``CosineAnnealingLR`` does.

    PyTorch ``CosineAnnealingLR(T_max, eta_min)`` is ``CosineDecay(lr, T_max, final_lr=eta_min,
    cycle=True)``. Keras ``CosineDecay(init, decay_steps, alpha, warmup_target=peak,
    warmup_steps=W)`` is ``CosineDecay(peak, W + decay_steps, final_lr=alpha·peak,
    warmup_steps=W, warmup_start_lr=init)`` (without warmup: peak = init, W = 0).

    >>> s = CosineDecay(1.0, 6, warmup_steps=2)
    >>> [round(s(n), 3) for n in range(8)]
    [0.0, 0.5, 1.0, 0.854, 0.5, 0.146, 0.0, 0.0]
    """

    def __init__(self, lr: float, total_steps: int, final_lr: float = 0.0,
                 warmup_steps: int = 0, warmup_start_lr: float = 0.0,
                 cycle: bool = False) -> None:
        self.lr = _number("lr", lr)
        self.total_steps = _integer("total_steps", total_steps, 1)
        self.final_lr = _number("final_lr", final_lr)
        self.warmup_steps = _integer("warmup_steps", warmup_steps, 0)
        if self.warmup_steps >= self.total_steps:
            raise InputError(f"warmup_steps ({self.warmup_steps}) must be less than "
                             f"total_steps ({self.total_steps}), which includes the warmup")
        self.warmup_start_lr = _number("warmup_start_lr", warmup_start_lr)
        self.cycle = flag("cycle", cycle)

    def value(self, n: int) -> float:
        w = self.warmup_steps
        if n < w:
            return (self.lr - self.warmup_start_lr) * (n / w) + self.warmup_start_lr
        k, d = n - w, self.total_steps - w
        if not self.cycle:
            k = min(k, d)
        return self.final_lr + (self.lr - self.final_lr) * (1 + math.cos(math.pi * k / d)) / 2


class CosineRestarts(Schedule):
    """Cosine annealing with warm restarts (SGDR, Loshchilov & Hutter 2017).

    Period i (i = 0, 1, …) lasts T_i = period·period_mult^i updates; within it, t counts the
    updates since the restart (t = 0 at the restart) and
    α = final_lr + (lr − final_lr)·peak_mult^i·(1 + cos(π·t/T_i))/2.
    PyTorch ``CosineAnnealingWarmRestarts(T_0, T_mult, eta_min)`` is ``CosineRestarts(lr, T_0,
    T_mult, final_lr=eta_min)``. Keras ``CosineDecayRestarts(lr, first_decay_steps, t_mul,
    m_mul, alpha)`` is ``CosineRestarts(lr, first_decay_steps, t_mul, final_lr=alpha·lr,
    peak_mult=m_mul)``. Restart positions are found with exact integer arithmetic when the
    periods are integers (Keras locates them with a floating-point logarithm).

    >>> s = CosineRestarts(1.0, period=2, period_mult=2)
    >>> [round(s(n), 4) for n in range(7)]  # restarts at n = 2 and n = 6
    [1.0, 0.5, 1.0, 0.8536, 0.5, 0.1464, 1.0]
    """

    def __init__(self, lr: float, period: int, period_mult: float = 1, final_lr: float = 0.0,
                 peak_mult: float = 1.0) -> None:
        self.lr = _number("lr", lr)
        self.period = _integer("period", period, 1)
        if isinstance(period_mult, numbers.Integral) and not isinstance(period_mult, bool):
            self.period_mult: int | float = _integer("period_mult", period_mult, 1)
        else:
            self.period_mult = _number("period_mult", period_mult, AT_LEAST_ONE)
        self.final_lr = _number("final_lr", final_lr)
        self.peak_mult = _number("peak_mult", peak_mult)

    def locate(self, n: int) -> tuple[int, int | float, int | float]:
        """(i, t, T_i): the period n falls in, the updates since its restart, its length."""
        if self.period_mult == 1:
            return n // self.period, n % self.period, self.period
        i, start, length = 0, 0, self.period
        while n >= start + length:
            i, start, length = i + 1, start + length, length * self.period_mult
        return i, n - start, length

    def value(self, n: int) -> float:
        i, t, length = self.locate(n)
        amplitude = (self.lr - self.final_lr) * self.peak_mult ** i
        return self.final_lr + amplitude * (1 + math.cos(math.pi * t / length)) / 2


class _Phased(Schedule):
    """Piecewise annealing between values at phase ends (the machinery of 1cycle)."""

    total_steps: int
    pct_start: float
    anneal: str
    three_phase: bool

    def _set_phases(self, values: list[float]) -> None:
        """Phase ends as PyTorch's ``OneCycleLR``; ``values`` at the phase boundaries."""
        warm = float(self.pct_start * self.total_steps) - 1
        last = self.total_steps - 1
        if self.three_phase:
            ends = [warm, float(2 * self.pct_start * self.total_steps) - 2, last]
        else:
            ends = [warm, last]
        starts = [0.0, *ends[:-1]]
        if warm <= 0 or any(e <= s for s, e in zip(starts, ends)):
            raise InputError(
                f"pct_start={self.pct_start} with total_steps={self.total_steps} leaves a phase "
                "of the cycle with no updates (the warmup must be longer than one update and "
                "shorter than the schedule)")
        self._phases = list(zip(starts, ends, values[:-1], values[1:]))

    def _interpolate(self, start: float, end: float, pct: float) -> float:
        if self.anneal == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def value(self, n: int) -> float:
        n = min(n, self.total_steps - 1)
        phase = next(p for p in self._phases if n <= p[1])  # the last one ends at n's cap
        start, end, lo, hi = phase
        return self._interpolate(lo, hi, (n - start) / (end - start))


class OneCycle(_Phased):
    """The 1cycle policy (Smith & Topin 2019), exactly as PyTorch's ``OneCycleLR``.

    The rate rises from max_lr/div_factor to max_lr over the first pct_start·total_steps
    updates, then falls to max_lr/(div_factor·final_div_factor) at n = total_steps − 1 and
    stays there. Phase ends (as in PyTorch): e₁ = pct_start·total_steps − 1, e₂ = total_steps
    − 1 (two phases) or e₂ = 2·pct_start·total_steps − 2, e₃ = total_steps − 1 (three_phase,
    the paper's form, which comes back to the initial rate before annihilating). In phase j
    from s to e: α = anneal(start, end, (n − s)/(e − s)), cosine (``anneal="cos"``) or linear.
    PyTorch refuses n > total_steps; here the final rate is held. PyTorch also cycles the
    momentum (``cycle_momentum=True``): pass :class:`OneCycleMomentum` as ``momentum`` (or
    Adam's ``beta1``) for that.

    >>> s = OneCycle(1.0, total_steps=10, pct_start=0.5, anneal="linear", div_factor=10,
    ...              final_div_factor=1)
    >>> [round(s(n), 3) for n in range(11)]
    [0.1, 0.325, 0.55, 0.775, 1.0, 0.82, 0.64, 0.46, 0.28, 0.1, 0.1]
    """

    def __init__(self, max_lr: float, total_steps: int, pct_start: float = 0.3,
                 anneal: str = "cos", div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False) -> None:
        self.max_lr = _number("max_lr", max_lr)
        self.total_steps = _integer("total_steps", total_steps, 2)
        self.pct_start = _number("pct_start", pct_start, UNIT_OPEN)
        self.anneal = choice("anneal", anneal, ("cos", "linear"))
        self.div_factor = _number("div_factor", div_factor, POSITIVE)
        self.final_div_factor = _number("final_div_factor", final_div_factor, POSITIVE)
        self.three_phase = flag("three_phase", three_phase)
        initial = self.max_lr / self.div_factor
        final = initial / self.final_div_factor
        self._set_phases([initial, self.max_lr, initial, final] if self.three_phase
                         else [initial, self.max_lr, final])


class OneCycleMomentum(_Phased):
    """The momentum half of PyTorch's ``OneCycleLR(cycle_momentum=True)``.

    Moves opposite to :class:`OneCycle`'s rate over the same phases: max_momentum →
    base_momentum while the rate rises, back to max_momentum while it falls (three_phase:
    and stays at max_momentum in the last phase). Give it to the optimizer as ``momentum``
    (SGD with momentum) or ``beta1`` (Adam family), with the same total_steps, pct_start,
    anneal and three_phase as the rate's :class:`OneCycle`.

    >>> m = OneCycleMomentum(10, pct_start=0.5, anneal="linear")
    >>> [round(m(n), 3) for n in (0, 2, 4, 9)]
    [0.95, 0.9, 0.85, 0.95]
    """

    def __init__(self, total_steps: int, pct_start: float = 0.3, anneal: str = "cos",
                 three_phase: bool = False, base_momentum: float = 0.85,
                 max_momentum: float = 0.95) -> None:
        self.total_steps = _integer("total_steps", total_steps, 2)
        self.pct_start = _number("pct_start", pct_start, UNIT_OPEN)
        self.anneal = choice("anneal", anneal, ("cos", "linear"))
        self.three_phase = flag("three_phase", three_phase)
        self.base_momentum = _number("base_momentum", base_momentum, UNIT_CLOSED_OPEN)
        self.max_momentum = _number("max_momentum", max_momentum, UNIT_CLOSED_OPEN)
        lo, hi = self.base_momentum, self.max_momentum
        self._set_phases([hi, lo, hi, hi] if self.three_phase else [hi, lo, hi])


class ReduceOnPlateau(Schedule):
    """Reduce the rate when a metric stops improving (PyTorch ``ReduceLROnPlateau``).

    Feed it the metric with :meth:`report` (once per epoch, say); calling the schedule returns
    the current rate whatever n is. A report is an improvement when, for ``mode="min"``,
    metric < best·(1 − threshold) (``threshold_mode="rel"``) or metric < best − threshold
    (``"abs"``); for ``mode="max"``, metric > best·(1 + threshold) or > best + threshold.
    After more than ``patience`` reports without improvement the rate becomes
    max(rate·factor, min_lr) — unless that changes it by eps or less — and the next
    ``cooldown`` reports are not counted. Its state (rate, best, counters) is in
    :meth:`state_dict`, which optimizer checkpoints store.

    >>> s = ReduceOnPlateau(1.0, factor=0.5, patience=1)
    >>> [s.report(m) for m in (3.0, 2.0, 2.0, 2.0, 2.0)], s(0)
    ([False, False, False, True, False], 0.5)
    """

    def __init__(self, lr: float, factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float = 0.0, mode: str = "min", eps: float = 1e-8) -> None:
        self.lr = _number("lr", lr)
        self.factor = _number("factor", factor, UNIT_OPEN)
        self.patience = _integer("patience", patience, 0)
        self.threshold = _number("threshold", threshold)
        self.threshold_mode = choice("threshold_mode", threshold_mode, ("rel", "abs"))
        self.cooldown = _integer("cooldown", cooldown, 0)
        self.min_lr = _number("min_lr", min_lr)
        self.mode = choice("mode", mode, ("min", "max"))
        self.eps = _number("eps", eps)
        #: The rate in force now.
        self.current_lr = self.lr
        #: The best metric reported so far (±inf before any).
        self.best = math.inf if self.mode == "min" else -math.inf
        #: Reports since the last improvement (reset by a reduction and during cooldown).
        self.num_bad = 0
        #: Reports left in the current cooldown.
        self.cooldown_counter = 0
        #: Number of reports received.
        self.reports = 0

    def value(self, n: int) -> float:
        return self.current_lr

    def is_better(self, metric: float) -> bool:
        """Whether ``metric`` improves on the best so far by more than the threshold."""
        best, th = self.best, self.threshold
        if self.mode == "min":
            return metric < (best * (1.0 - th) if self.threshold_mode == "rel" else best - th)
        return metric > (best * (th + 1.0) if self.threshold_mode == "rel" else best + th)

    def report(self, metric: float) -> bool:
        """Take one value of the monitored metric; return True if the rate was reduced."""
        current = float(metric)
        self.reports += 1
        if self.is_better(current):
            self.best = current
            self.num_bad = 0
        else:
            self.num_bad += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad = 0
        if self.num_bad <= self.patience:
            return False
        self.cooldown_counter = self.cooldown
        self.num_bad = 0
        new = max(self.current_lr * self.factor, self.min_lr)
        if self.current_lr - new > self.eps:
            self.current_lr = new
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        """The state (JSON-serialisable) that :meth:`load_state_dict` restores."""
        return {"type": type(self).__name__, "lr": self.current_lr,
                "best": _float_to_json(self.best), "num_bad": self.num_bad,
                "cooldown_counter": self.cooldown_counter, "reports": self.reports}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """Restore the state from :meth:`state_dict` (configuration is not changed)."""
        _state_entries(self, d, ("type", "lr", "best", "num_bad", "cooldown_counter", "reports"))
        lr = _number("the schedule state's lr", d["lr"])
        counters = {k: _integer(f"the schedule state's {k}", d[k], 0)
                    for k in ("num_bad", "cooldown_counter", "reports")}
        best = d["best"]
        if isinstance(best, str) and best in ("inf", "-inf"):  # (JSON has no infinities)
            best = float(best)
        best = check_value("the schedule state's best", best, ANY) if not (
            isinstance(best, float) and math.isinf(best)) else best
        self.current_lr, self.best = lr, float(best)
        self.num_bad = counters["num_bad"]
        self.cooldown_counter = counters["cooldown_counter"]
        self.reports = counters["reports"]


class PlateauScale(Schedule):
    """α(n) = lr(n)·scale, the scale cut when a reported value stops improving (optax's
    ``contrib.reduce_on_plateau``, a scale on the updates).

    Feed it the monitored value with :meth:`report` before each update (optax's
    ``update(..., value=loss)``); ``lr`` is a number or a stateless schedule of n. Reports
    are averaged ``accumulation_size`` at a time: with a :math:`k`-th average ā the rules are

    * improved when ā < (1 − rtol)·best − atol (best starts at +inf), then best = ā and the
      plateau count is 0, else it grows by 1;
    * during a cooldown (cooldown count > 0): the plateau count is 0 and the cooldown count
      falls by 1;
    * otherwise, when the plateau count equals ``patience``: scale ← scale·factor, the plateau
      count is 0 and a cooldown of ``cooldown`` averages starts; in any case the scale is
      then max(scale, min_scale).

    (optax compares the count with ``==``: ``patience=0`` cuts on improvements only, as
    there.) Equal to optax 0.2.8's scale, value by value, for every option
    (tests/test_plateau_scale.py). Its state is in :meth:`state_dict`, which optimizer
    checkpoints store. :class:`ReduceOnPlateau` is PyTorch's rule.

    >>> s = PlateauScale(0.5, factor=0.5, patience=2)
    >>> [s.report(v) for v in (3.0, 2.0, 2.0, 2.0, 2.0)], s(0)
    ([False, False, False, True, False], 0.25)
    """

    def __init__(self, lr: float | Callable[[int], float] = 1.0, factor: float = 0.1,
                 patience: int = 10, rtol: float = 1e-4, atol: float = 0.0, cooldown: int = 0,
                 accumulation_size: int = 1, min_scale: float = 0.0) -> None:
        if isinstance(lr, Schedule) and hasattr(lr, "state_dict"):
            raise InputError(f"lr of a PlateauScale is a number or a stateless schedule, got "
                             f"{lr!r}, which holds state of its own")
        self.lr = lr if callable(lr) and not isinstance(lr, np.ndarray) else _number("lr", lr)
        self.factor = _number("factor", factor, UNIT_OPEN)
        self.patience = _integer("patience", patience, 0)
        self.rtol = _number("rtol", rtol, Check(0.0, 1.0, False, False))
        self.atol = _number("atol", atol)
        if self.rtol == 0 and self.atol == 0:
            raise InputError("rtol and atol are both 0: at least one must be positive (an "
                             "improvement must be measurable)")
        self.cooldown = _integer("cooldown", cooldown, 0)
        self.accumulation_size = _integer("accumulation_size", accumulation_size, 1)
        self.min_scale = _number("min_scale", min_scale)
        #: The scale in force now (1 before any cut).
        self.scale = 1.0
        #: The best average so far (+inf before any).
        self.best = math.inf
        #: Averages since the last improvement (0 after a cut and during cooldown).
        self.plateau_count = 0
        #: Averages left in the current cooldown.
        self.cooldown_count = 0
        #: Reports in the current average, and their mean so far.
        self.count = 0
        self.avg_value = 0.0

    def value(self, n: int) -> float:
        base = self.lr(n) if callable(self.lr) else self.lr
        return base * self.scale

    def report(self, value: float) -> bool:
        """Take one value of the monitored quantity; return True if the scale was cut."""
        if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating,
                                                             np.integer)):
            raise InputTypeError(f"a PlateauScale reports a number, got {value!r}")
        count = self.count
        avg = (count * self.avg_value + float(value)) / (count + 1)
        if count + 1 != self.accumulation_size:
            self.count, self.avg_value = count + 1, avg
            return False
        improved = avg < (1 - self.rtol) * self.best - self.atol
        best = avg if improved else self.best
        plateau = 0 if improved else self.plateau_count + 1
        if self.cooldown_count > 0:
            plateau, scale, cooldown = 0, self.scale, self.cooldown_count - 1
        else:
            cut = plateau == self.patience
            scale = max(self.scale * self.factor if cut else self.scale, self.min_scale)
            plateau, cooldown = (0, self.cooldown) if cut else (plateau, 0)
        reduced = scale < self.scale
        self.best, self.plateau_count, self.scale = best, plateau, scale
        self.cooldown_count, self.count, self.avg_value = cooldown, 0, 0.0
        return reduced

    _COUNTERS = ("plateau_count", "cooldown_count", "count")

    def state_dict(self) -> dict[str, Any]:
        """The state (JSON-serialisable) that :meth:`load_state_dict` restores."""
        return {"type": type(self).__name__, "scale": self.scale,
                "best": _float_to_json(self.best), "avg_value": _float_to_json(self.avg_value),
                **{k: getattr(self, k) for k in self._COUNTERS}}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """Restore the state from :meth:`state_dict` (configuration is not changed); checked
        entirely before anything changes."""
        _state_entries(self, d, ("type", "scale", "best", "avg_value", *self._COUNTERS))
        scale = _number("the schedule state's scale", d["scale"])
        floats = {}
        for key in ("best", "avg_value"):
            x = d[key]
            if isinstance(x, str) and x in ("inf", "-inf", "nan"):  # (JSON has none)
                x = float(x)
            floats[key] = x if isinstance(x, float) and not math.isfinite(x) else float(
                check_value(f"the schedule state's {key}", x, ANY))
        counters = {k: _integer(f"the schedule state's {k}", d[k], 0) for k in self._COUNTERS}
        if counters["count"] >= self.accumulation_size:
            raise InputError(f"the schedule state's count {counters['count']} is not below "
                             f"accumulation_size={self.accumulation_size}")
        self.scale, self.best, self.avg_value = scale, floats["best"], floats["avg_value"]
        for k, v in counters.items():
            setattr(self, k, v)


class Lambda(Schedule):
    """α(n) = lr·fn(n) for a function of your own (PyTorch ``LambdaLR``).

    Picklable when ``fn`` is (a module-level function, not a ``lambda``).

    >>> Lambda(lambda n: 1 / (n + 1), lr=0.5)(1)
    0.25
    """

    def __init__(self, fn: Callable[[int], float], lr: float = 1.0) -> None:
        if not callable(fn):
            raise InputTypeError(f"fn must be callable, got {fn!r}")
        self.fn = fn
        self.lr = _number("lr", lr)

    def value(self, n: int) -> float:
        return self.lr * float(self.fn(n))


class _Composite(Schedule):
    """A schedule made of others: its state is theirs (for checkpoints)."""

    def children(self) -> list[Any]:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """The state of the inner schedules that hold state (``None`` for the others)."""
        return {"type": type(self).__name__,
                "schedules": [s.state_dict() if hasattr(s, "state_dict") else None
                              for s in self.children()]}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """Restore the inner schedules' state from :meth:`state_dict`."""
        kids = self.children()
        _state_mapping(d)
        saved = d.get("schedules", ())
        if d.get("type") != type(self).__name__ or not isinstance(saved, (list, tuple)) or len(
                saved) != len(kids) or set(d) != {"type", "schedules"}:
            raise InputError(f"the state is not that of this {type(self).__name__} "
                             f"({len(kids)} schedules)")
        for i, (s, sd) in enumerate(zip(kids, saved)):
            if (sd is None) != (not hasattr(s, "load_state_dict")):
                raise InputError(f"schedule {i} of this {type(self).__name__} "
                                 f"({s!r}) does not match the saved state")
        for s, sd in zip(kids, saved):  # every part checked on a copy first: a state that
            if sd is not None:          # fails half-way must change nothing
                copy.deepcopy(s).load_state_dict(sd)
        for s, sd in zip(kids, saved):
            if sd is not None:
                s.load_state_dict(sd)


class Join(_Composite):
    """Schedules one after another (optax ``join_schedules``, PyTorch ``SequentialLR``).

    ``schedules[0]`` runs for n < boundaries[0]; ``schedules[i]`` runs from n = boundaries[i−1]
    and is called with n − boundaries[i−1], i.e. it starts from its own beginning. A number
    in ``schedules`` stands for a :class:`Constant`, so ``opt.lr = Join([opt.lr, new],
    [opt.step + 100])`` queues a change whether ``opt.lr`` holds a number or a schedule.

    >>> s = Join([LinearWarmup(1.0, 2), ExponentialDecay(1.0, 0.5)], [2])
    >>> [s(n) for n in range(5)]
    [0.0, 0.5, 1.0, 0.5, 0.25]
    """

    def __init__(self, schedules: Sequence[Callable[[int], float]],
                 boundaries: Sequence[int]) -> None:
        if isinstance(schedules, (str, bytes)) or not isinstance(schedules, Sequence):
            raise InputTypeError(f"schedules must be a list of schedules, got {schedules!r}")
        self.schedules = [
            Constant(_number(f"schedules[{i}]", s))
            if isinstance(s, numbers.Real) and not isinstance(s, bool)
            else _schedule(f"schedules[{i}]", s)
            for i, s in enumerate(schedules)]
        self.boundaries = _boundaries("boundaries", boundaries)
        if len(self.schedules) != len(self.boundaries) + 1:
            raise InputError(f"schedules must have one entry more than boundaries "
                             f"({len(self.boundaries) + 1}), got {len(self.schedules)}")

    def children(self) -> list[Any]:
        return self.schedules

    def value(self, n: int) -> float:
        i = bisect_right(self.boundaries, n)
        start = self.boundaries[i - 1] if i else 0
        return self.schedules[i](n - start)


class Scaled(_Composite):
    """α(n) = factor·schedule(n); what ``schedule * factor`` builds.

    ``factor`` may be a float64 array that broadcasts against the parameters: one schedule
    shape at K peak rates, advancing K runs in one vectorised update (a sweep).

    >>> ExponentialDecay(1.0, 0.5) * 0.1
    Scaled(schedule=ExponentialDecay(lr=1.0, gamma=0.5), factor=0.1)
    >>> (np.array([[0.1], [0.2]]) * ExponentialDecay(1.0, 0.5))(1)
    array([[0.05],
           [0.1 ]])
    """

    def __init__(self, schedule: Callable[[int], float],
                 factor: float | np.ndarray) -> None:
        self.schedule = _schedule("schedule", schedule)
        self.factor = check_value("factor", factor, NONNEGATIVE)

    def children(self) -> list[Any]:
        return [self.schedule]

    def value(self, n: int) -> float | np.ndarray:  # type: ignore[override]
        return self.factor * self.schedule(n)

    def __mul__(self, factor: float | np.ndarray) -> Scaled:
        if not _is_factor(factor):
            return NotImplemented
        return Scaled(self.schedule, self.factor * check_value("factor", factor, NONNEGATIVE))

    __rmul__ = __mul__


class Shifted(_Composite):
    """``schedule`` started afresh at update count ``start``: α(n) = schedule(max(n − start, 0)).

    ``opt.lr = ExponentialDecay(0.01, 0.95).starting_at(opt.step)`` sets a new rate by hand
    mid-run and decays it from there.

    >>> s = ExponentialDecay(1.0, 0.5).starting_at(10)
    >>> s(0), s(10), s(11)
    (1.0, 1.0, 0.5)
    """

    def __init__(self, schedule: Callable[[int], float], start: int) -> None:
        self.schedule = _schedule("schedule", schedule)
        self.start = _integer("start", start, 0)

    def children(self) -> list[Any]:
        return [self.schedule]

    def value(self, n: int) -> float:
        return self.schedule(max(n - self.start, 0))
