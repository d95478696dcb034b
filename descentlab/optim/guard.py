"""Settings guarded once the object is built: one metaclass and one ``__setattr__`` for the
optimizers, groups and wrappers.

An object is built in two phases: its constructor sets every setting, then
:meth:`Guarded.constructed` checks the combination once; from then on an assignment to a
name the object does not have (``opt.learning_rate = 0.1``: a new attribute nothing would
read) goes to :meth:`Guarded.unknown_setting`, which refuses it by default.

>>> class Box(Guarded):
...     def __init__(self):
...         self.size = 1
>>> box = Box(); box.size = 2
>>> box.colour = "red"
Traceback (most recent call last):
...
descentlab.errors.InputError: Box has no setting 'colour'; assigning it would change nothing
"""

from __future__ import annotations

from typing import Any

from ..errors import InputError


class Built(type):
    """Runs the constructor, then :meth:`Guarded.constructed`, then marks the object built.
    A ``TypeError`` of the constructor may be explained by the class
    (:meth:`Guarded.constructor_error`: "did you mean" for a misspelt keyword)."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        try:
            obj = super().__call__(*args, **kwargs)
        except TypeError as e:
            better = cls.constructor_error(e)
            if better is None:
                raise
            raise better from None
        obj.constructed()
        object.__setattr__(obj, "_constructed", True)
        return obj


class Guarded(metaclass=Built):
    """Refuses assignments to unknown public names once built (:meth:`unknown_setting`)."""

    @classmethod
    def constructor_error(cls, error: TypeError) -> Exception | None:
        """A clearer error for a constructor's ``TypeError``, or ``None`` (optional)."""
        return None

    def constructed(self) -> None:
        """Checks once the constructor has set everything (optional)."""

    def unknown_setting(self, name: str) -> None:
        """Called for an assignment to a public name the built object does not have:
        raise to refuse it (the default), return to allow it."""
        raise InputError(f"{type(self).__name__} has no setting {name!r}; assigning it would "
                         "change nothing")

    def __setattr__(self, name: str, value: Any) -> None:
        if (self.__dict__.get("_constructed") and not name.startswith("_")
                and name not in self.__dict__ and not hasattr(type(self), name)):
            self.unknown_setting(name)
        object.__setattr__(self, name, value)


__all__ = ["Built", "Guarded"]
