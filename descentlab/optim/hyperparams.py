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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Value = float | np.ndarray
HyperValue = float | np.ndarray | Callable[[int], Any]


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


NONNEGATIVE = Check(0.0, None, False, False)
POSITIVE = Check(0.0, None, True, False)
UNIT = Check(0.0, 1.0, False, True)  # [0, 1): betas
CLOSED_UNIT = Check(0.0, 1.0, False, False)  # [0, 1]: rho, dampening
ANY = Check(None, None, False, False)


def check_value(name: str, value: Any, check: Check, where: str = "") -> Value:
    """Validate one concrete value and normalise it (Python float or float64 array)."""
    if isinstance(value, bool) or value is None:
        raise TypeError(f"{name} must be a number or an array, not {value!r}{where}")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number or an array, not {value!r}{where}") from None
    good = check.ok(arr)
    if not np.all(good):
        bad = arr if arr.ndim == 0 else arr[~good].flat[0]
        rule = check.text() if np.isfinite(bad) else f"finite and {check.text()}"
        raise ValueError(f"{name} must be {rule}, got {_describe(bad)}{where}")
    return float(arr) if arr.ndim == 0 else arr


class Hyper:
    """Descriptor for one hyperparameter: ``opt.lr`` reads it, ``opt.lr = x`` validates it."""

    def __init__(self, check: Check, doc: str = ""):
        self.check = check
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        return obj._hyper[self.name]

    def __set__(self, obj: Any, value: HyperValue) -> None:
        if callable(value) and not isinstance(value, np.ndarray):
            obj._hyper[self.name] = value
        else:
            obj._hyper[self.name] = check_value(self.name, value, self.check)

    def resolve(self, obj: Any, count: int) -> Value:
        """The value for the update after ``count`` updates (schedules are called)."""
        value = obj._hyper[self.name]
        if callable(value) and not isinstance(value, np.ndarray):
            return check_value(
                self.name, value(count), self.check, f" (from its schedule at step {count + 1})"
            )
        return value


def choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    """Validate a string option against its allowed values."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value
