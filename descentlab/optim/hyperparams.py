"""Hyperparameters: validated on assignment, readable and changeable mid-run.

A hyperparameter value is one of

* a Python float (NumPy scalars are converted, so float32 parameters stay float32),
* a float64 NumPy array that broadcasts against every parameter — ``lr`` of shape (K, 1)
  with parameters of shape (K, 2) advances K independent runs at once (a sweep),
* a callable of the update count (a schedule, :mod:`descentlab.schedules`): it is called with
  the number of updates already made (0 before the first) and its value is checked each step.

``opt.lr = 0.01`` replaces whatever was there (a number or a schedule) from the next update on;
``opt.lr = opt.lr * 0.5`` scales it instead (a schedule times a number is a
``descentlab.schedules.Scaled`` schedule, same shape and state; see docs/schedules.md).

Options — the structural settings that are not numbers — are descriptors too, declared per
class and validated on assignment: :class:`Flag` (a boolean: ``True``/``False`` or NumPy's
``bool_``, nothing else) and :class:`Choice` (one of a few strings). A class lists them with
``Optimizer.option_descriptors()`` (what a UI builds its controls from):

>>> from descentlab import optim
>>> opt = optim.Adam()
>>> opt.amsgrad = "no"
Traceback (most recent call last):
...
descentlab.errors.InputTypeError: amsgrad must be True or False, not 'no' (a str)
>>> {k: d.kind for k, d in optim.Adam.option_descriptors().items()}["eps_mode"]
'choice'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..errors import InputError, InputTypeError

Value = float | np.ndarray
HyperValue = float | np.ndarray | Callable[[int], Any]


def is_schedule(value: Any) -> bool:
    """Whether a hyperparameter value is a schedule (a callable of the update count)."""
    return callable(value) and not isinstance(value, np.ndarray)


def _describe(bad: Any) -> str:
    return repr(float(bad)) if np.ndim(bad) == 0 else repr(bad)


class Check:
    """A named range check: ``Check(">= 0")`` etc. Error messages name the argument and value."""

    def __init__(self, lo: float | None, hi: float | None, lo_open: bool, hi_open: bool):
        self.lo, self.hi, self.lo_open, self.hi_open = lo, hi, lo_open, hi_open

    def ok(self, x: np.ndarray) -> np.ndarray:
        good = np.isfinite(x)
        if self.lo is not None:
            good &= (x > self.lo) if self.lo_open else (x >= self.lo)
        if self.hi is not None:
            good &= (x < self.hi) if self.hi_open else (x <= self.hi)
        return good

    def text(self) -> str:
        if self.lo is not None and self.hi is not None:
            left = "(" if self.lo_open else "["
            right = ")" if self.hi_open else "]"
            return f"in {left}{self.lo:g}, {self.hi:g}{right}"
        if self.lo is not None:
            return f"{'>' if self.lo_open else '>='} {self.lo:g}"
        if self.hi is not None:
            return f"{'<' if self.hi_open else '<='} {self.hi:g}"
        return "finite"

    def finite_text(self) -> str:
        """What a non-finite value is told: "finite and >= 0", or just "finite"."""
        return "finite" if self.text() == "finite" else f"finite and {self.text()}"


NONNEGATIVE = Check(0.0, None, False, False)
POSITIVE = Check(0.0, None, True, False)
UNIT = Check(0.0, 1.0, False, True)  # [0, 1): betas
CLOSED_UNIT = Check(0.0, 1.0, False, False)  # [0, 1]: rho, dampening
ANY = Check(None, None, False, False)


def check_value(name: str, value: Any, check: Check, where: str = "") -> Value:
    """Validate one concrete value and normalise it (Python float or float64 array)."""
    if isinstance(value, (bool, np.bool_, str, bytes)) or value is None:
        raise InputTypeError(f"{name} must be a number or an array, not {value!r}{where}")
    try:
        raw = np.asarray(value)
        if raw.dtype.kind not in "fiuO" or (raw.dtype.kind == "O" and any(
                isinstance(x, (bool, np.bool_, str, bytes)) or x is None for x in raw.flat)):
            raise TypeError  # strings, booleans, None or complex numbers inside an array
        arr = raw.astype(np.float64)
    except OverflowError:
        raise InputError(f"{name} must be {check.finite_text()}, got {_short(value)} "
                         f"(too large for a float){where}") from None
    except (TypeError, ValueError):
        raise InputTypeError(
            f"{name} must be a number or an array, not {_short(value)}{where}") from None
    good = check.ok(arr)
    if not np.all(good):
        bad = arr if arr.ndim == 0 else arr[~good].flat[0]
        rule = check.text() if np.isfinite(bad) else check.finite_text()
        raise InputError(f"{name} must be {rule}, got {_describe(bad)}{where}")
    return float(arr) if arr.ndim == 0 else arr


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:18]}...{text[-18:]} ({len(text)} characters)"


class Hyper:
    """Descriptor for one hyperparameter: ``opt.lr`` reads it, ``opt.lr = x`` validates it.

    Where it is declared it also says how ``compare`` tunes it: ``search=(low, high)`` the
    default search range, on a log scale when ``search_log`` says so or, by default, when
    0 < low and the range spans two decades or more (high/low >= 100); ``tunable=False`` for
    one that is not tuned by default (weight decay, ε, stopping tolerances). A subclass
    changes an inherited declaration with :meth:`replace`.

    >>> lr = Hyper(NONNEGATIVE, "learning rate", search=(1e-4, 10.0))
    >>> lr.search, lr.log, Hyper(UNIT, "β", search=(0.9, 0.999)).log
    ((0.0001, 10.0), True, False)
    >>> Hyper(UNIT, "β", search=(0.5, 1.5)).search
    Traceback (most recent call last):
    ...
    descentlab.errors.InputError: search range (0.5, 1.5) of β: its ends must be in [0, 1)
    """

    def __init__(self, check: Check, doc: str = "", *,
                 search: tuple[float, float] | None = None, search_log: bool | None = None,
                 tunable: bool = True) -> None:
        self.check = check
        self.__doc__ = doc
        self.search = None if search is None else _search_range(search, check, doc)
        if search_log and self.search is not None and self.search[0] <= 0:
            raise InputError(f"search range {search!r} of {doc}: a log scale needs low > 0")
        self.search_log = search_log
        self.tunable = bool(tunable)

    @property
    def log(self) -> bool | None:
        """Whether the search range is on a log scale (``None``: no range, no scale)."""
        if self.search_log is not None:
            return self.search_log
        return None if self.search is None else default_log(*self.search)

    def replace(self, *, doc: str | None = None, **changes: Any) -> Hyper:
        """A copy with some of ``check``, ``doc``, ``search``, ``search_log``, ``tunable``
        changed (a subclass narrowing an inherited range, or saying what it means there)."""
        now = {"check": self.check, "search": self.search, "search_log": self.search_log,
               "tunable": self.tunable}
        unknown = set(changes) - set(now)
        if unknown:
            raise InputTypeError(f"Hyper.replace takes {', '.join(now)} and doc, not "
                                 f"{', '.join(sorted(unknown))}")
        now.update(changes)
        check = now.pop("check")
        return Hyper(check, self.__doc__ if doc is None else doc, **now)

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        return obj._hyper[self.name]

    def __set__(self, obj: Any, value: HyperValue) -> None:
        if not (callable(value) and not isinstance(value, np.ndarray)):
            value = check_value(self.name, value, self.check)
        _assign(obj, obj._hyper, self.name, value)

    def resolve(self, obj: Any, count: int) -> Value:
        """The value for the update after ``count`` updates (schedules are called)."""
        value = obj._hyper[self.name]
        if callable(value) and not isinstance(value, np.ndarray):
            return check_value(
                self.name, value(count), self.check, f" (from its schedule at step {count + 1})"
            )
        return value


def default_log(low: float, high: float) -> bool:
    """The default scale of a search range: log when 0 < low and high/low >= 100 (two
    decades or more), linear otherwise."""
    return low > 0 and high / low >= 100


def _search_range(search: Any, check: Check, doc: str) -> tuple[float, float]:
    try:
        low, high = (float(x) for x in search)
    except (TypeError, ValueError):
        raise InputTypeError(f"search range of {doc} must be (low, high), not "
                             f"{search!r}") from None
    if not low < high:
        raise InputError(f"search range {search!r} of {doc}: need low < high")
    if not all(check.ok(np.array([low, high]))):
        raise InputError(f"search range {search!r} of {doc}: its ends must be {check.text()}")
    return low, high


_UNSET = object()


def _assign(obj: Any, store: dict[str, Any], name: str, value: Any) -> None:
    """Store a validated setting, then let the object check the combination (``settings
    _changed``); if that refuses, the old value is put back and the error raised."""
    old = store.get(name, _UNSET)
    store[name] = value
    changed = getattr(obj, "settings_changed", None)
    if changed is None:
        return
    try:
        changed(name)
    except BaseException:
        if old is _UNSET:
            del store[name]
        else:
            store[name] = old
        raise


def choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    """Validate a string option against its allowed values."""
    if not isinstance(value, str) or value not in allowed:
        raise InputError(
            f"{name} must be one of {', '.join(map(repr, allowed))}, got {_short(value)}")
    return value


def flag(name: str, value: Any) -> bool:
    """Validate a boolean option: ``True``/``False`` or NumPy's ``bool_``, never a string,
    a number or ``None`` (``maximize="no"`` would be true).

    >>> flag("maximize", np.bool_(True))
    True
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise InputTypeError(
        f"{name} must be True or False, not {_short(value)} (a {type(value).__name__})")


class Option:
    """Descriptor for one option (a structural setting saved with checkpoints).

    ``opt.x`` reads it; ``opt.x = value`` validates the value, then asks the optimizer
    whether the combination of settings is consistent; a refused assignment changes nothing.
    ``fixed_once_started=True``: the option decides what the state means, so it cannot
    change once the optimizer has state (after the first update or a load).
    """

    kind = "option"
    #: Whether checkpoints record it (``backend`` is not: every path gives the same bits).
    in_checkpoint = True

    def __init__(self, doc: str = "", *, fixed_once_started: bool = False) -> None:
        self.__doc__ = doc
        self.doc = doc
        self.fixed_once_started = fixed_once_started

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        try:
            return obj._options[self.name]
        except KeyError:
            raise AttributeError(f"option {self.name!r} has not been set yet") from None

    def __set__(self, obj: Any, value: Any) -> None:
        value = self.validate(value)
        store = obj._options
        if (self.fixed_once_started and getattr(obj, "state", None)
                and store.get(self.name, value) != value):
            raise InputError(
                f"{self.name} cannot change once the optimizer has state (it decides what the "
                f"state holds): it is {store[self.name]!r}; make a new optimizer instead")
        _assign(obj, store, self.name, value)

    def validate(self, value: Any) -> Any:
        return value

    def describe(self) -> dict[str, Any]:
        """A JSON-able description (for UIs)."""
        return {"kind": self.kind, "doc": self.doc}


class Flag(Option):
    """A boolean option: ``Flag("negate the gradient")``."""

    kind = "bool"

    def validate(self, value: Any) -> bool:
        return flag(self.name, value)


class Choice(Option):
    """An option taking one of a few strings: ``Choice(("outside", "inside"), "where ε goes")``;
    ``optional=True`` also takes ``None`` (off, as L-BFGS's ``line_search_fn``)."""

    kind = "choice"

    def __init__(self, allowed: tuple[str, ...], doc: str = "", *, optional: bool = False,
                 fixed_once_started: bool = False) -> None:
        super().__init__(doc, fixed_once_started=fixed_once_started)
        self.allowed = tuple(allowed)
        self.optional = optional

    def validate(self, value: Any) -> str | None:
        if value is None and self.optional:
            return None
        return choice(self.name, value, self.allowed)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "allowed": list(self.allowed), "optional": self.optional}


#: Where PyTorch's and optax's forms of a rule differ (RAdam, Rprop, Adafactor, Muon), one
#: option picks the reference: ``form="torch"`` (the default) or ``form="optax"``.
FORMS = ("torch", "optax")


def form_option(doc: str, *, fixed_once_started: bool = False) -> Choice:
    """The ``form`` option of a class with a PyTorch and an optax form (:data:`FORMS`)."""
    return Choice(FORMS, doc, fixed_once_started=fixed_once_started)


class Number(Option):
    """A single number that is an option, not a hyperparameter (no arrays, no schedules):
    ``Number(NONNEGATIVE, "start of the accumulator")``; ``optional=True`` also takes ``None``
    (off), as clipping thresholds do."""

    kind = "number"

    def __init__(self, check: Check, doc: str = "", *, optional: bool = False,
                 fixed_once_started: bool = False) -> None:
        super().__init__(doc, fixed_once_started=fixed_once_started)
        self.check, self.optional = check, optional

    def validate(self, value: Any) -> float | None:
        if value is None and self.optional:
            return None
        number = check_value(self.name, value, self.check)
        if isinstance(number, np.ndarray):
            raise InputTypeError(f"{self.name} must be a single number, not an array of shape "
                                 f"{number.shape}")
        return number

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "range": self.check.text(), "optional": self.optional}


#: The largest whole number a :class:`Count` takes unless it names its own maximum.
LARGEST_COUNT = 2**53


class Count(Option):
    """A whole number that is an option: ``Count(1, "iterations per update")`` takes integers
    (Python's or NumPy's, never a bool or a float) ``>= minimum`` and ``<= maximum``. Without
    a ``maximum`` the bound is 2**53 (:data:`LARGEST_COUNT`): a count takes part in float
    arithmetic (warm-up fractions, averaging weights), and above 2**53 it no longer has an
    exact float, or overflows one.

    >>> class A:
    ...     n = Count(1)
    ...     _options: dict = {}
    >>> a = A(); a.n = 2.0
    Traceback (most recent call last):
    ...
    descentlab.errors.InputError: n must be a whole number in [1, 2**53], got 2.0
    """

    kind = "count"

    def __init__(self, minimum: int, doc: str = "", *, maximum: int | None = None,
                 optional: bool = False, fixed_once_started: bool = False) -> None:
        super().__init__(doc, fixed_once_started=fixed_once_started)
        self.minimum, self.optional = minimum, optional
        self.maximum = LARGEST_COUNT if maximum is None else maximum

    def text(self) -> str:
        if self.maximum == LARGEST_COUNT:
            return f"in [{self.minimum}, 2**53]"
        return f"in [{self.minimum}, {self.maximum}]"

    def validate(self, value: Any) -> int | None:
        if value is None and self.optional:
            return None
        if (isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer))
                or value < self.minimum or value > self.maximum):
            raise InputError(f"{self.name} must be a whole number {self.text()}"
                             f"{' or None' if self.optional else ''}, got {_short(value)}")
        return int(value)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "range": self.text(), "optional": self.optional}


class Numbers(Option):
    """A fixed number of finite numbers that is an option (stored as a list, as checkpoints
    save options as JSON): ``Numbers(3, "Newton–Schulz coefficients (a, b, c)")``;
    ``rows=True`` also takes one or more rows of that many (a list of lists: optax's
    per-iteration coefficients).

    >>> class A:
    ...     abc = Numbers(3)
    ...     _options: dict = {}
    >>> a = A(); a.abc = (1, 2)
    Traceback (most recent call last):
    ...
    descentlab.errors.InputError: abc must be 3 finite numbers, got (1, 2)
    """

    kind = "numbers"

    def __init__(self, count: int, doc: str = "", *, rows: bool = False,
                 fixed_once_started: bool = False) -> None:
        super().__init__(doc, fixed_once_started=fixed_once_started)
        self.count, self.rows = count, rows

    def validate(self, value: Any) -> list[float] | list[list[float]]:
        if self.rows and np.ndim(value) == 2 and not isinstance(value, (str, bytes, Mapping)):
            if len(value) == 0:
                raise InputError(f"{self.name} must be {self.count} finite numbers or rows of "
                                 f"them, got no rows")
            return [self._row(row, value) for row in value]
        return self._row(value, value)

    def _row(self, value: Any, whole: Any) -> list[float]:
        rows = f" (or rows of {self.count})" if self.rows else ""
        bad = InputError(f"{self.name} must be {self.count} finite numbers{rows}, got "
                         f"{_short(whole)}")
        if isinstance(value, (str, bytes, Mapping)) or np.ndim(value) != 1:
            raise bad
        if any(isinstance(x, (bool, np.bool_, str, bytes)) or x is None for x in value):
            raise bad
        try:
            numbers = [float(x) for x in value]
        except (TypeError, ValueError, OverflowError):
            raise bad from None
        if len(numbers) != self.count or not all(np.isfinite(numbers)):
            raise bad
        return numbers

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "count": self.count}
