"""Optimizers made of optimizers: what :mod:`.groups` and :mod:`.wrappers` share.

A composite holds one or more ordinary optimizers and offers the same surface:
``update(params, grads)``, ``step``, ``state_dict()`` / ``load_state_dict()`` (strict: checked
before anything changes) and ``save(path)`` / ``load(path)`` (the optimizers' one ``.npz``
format, :mod:`.checkpoint`). Its state dict nests the inner optimizers' own state dicts, so
any inner optimizer — or another composite — round-trips. The checks are the optimizers'
(:mod:`.checks`: the structure first seen, the ``nonfinite`` policy), and so is the guard
against assigning a setting it does not have (:mod:`.guard`).

>>> from descentlab import optim
>>> from descentlab.optim.wrappers import Lookahead
>>> opt = Lookahead(optim.SGD(0.1), sync_period=2)
>>> p = {"x": 1.0}
>>> for _ in range(2):
...     opt.update(p, {"x": 1.0})
>>> round(p["x"], 12)  # two fast steps to 0.8, then halfway back towards the start
0.9
"""

from __future__ import annotations

import copy
import inspect
from typing import Any, ClassVar

import numpy as np

from ..errors import InputTypeError
from .base import Optimizer
from .checkpoint import Checkpointed, check_kind
from .checks import Seen, check_structure, seen_of
from .guard import Guarded
from .tree import Leaf, flatten_grads, flatten_params


class Composite(Checkpointed, Guarded):
    """Base of groups and wrappers: checkpoints, structure checks and the settings guard
    written once."""

    name: ClassVar[str] = ""
    #: What it is, in a cross-load's message ("a Groups", "a wrapper").
    kind: ClassVar[str] = "a wrapper"
    #: The parameters first seen (paths, shapes, dtypes), checked on every call it handles
    #: without an inner update (an inner optimizer checks its own).
    _seen: Seen | None = None

    def checked_call(self, params: Any, grads: Any) -> tuple[list[Leaf], list[np.ndarray]]:
        """The call's leaves and gradients, checked against the structure first seen."""
        leaves = flatten_params(params)
        gs = flatten_grads(grads, leaves)
        check_structure(self._seen, leaves)
        return leaves, gs

    def remember(self, leaves: list[Leaf]) -> None:
        """Record the structure of the first successful call."""
        if self._seen is None:
            self._seen = seen_of(leaves)

    def forget_structure(self) -> None:
        """After a load: the next call's structure is the one to check against."""
        self._seen = None

    def check_kind(self, d: Any) -> None:
        """A state dict written by this kind of object (one line saying which wrote it)."""
        check_kind(d, self.name, self.kind)


def check_optimizer(owner: str, obj: Any, role: str = "wraps") -> None:
    """Refuse what is not an optimizer object: a class (``Lookahead(optim.Adam)``), a name,
    anything without ``update`` and ``state_dict``."""
    if isinstance(obj, type):
        raise InputTypeError(f"{owner} {role} an optimizer object, not the class "
                             f"{obj.__name__}: pass {obj.__name__}(...) (an instance)")
    if not (hasattr(obj, "update") and hasattr(obj, "state_dict")):
        raise InputTypeError(f"{owner} {role} an optimizer, not {type(obj).__name__}")


def counts(inner: Any) -> tuple[int, int]:
    """An inner optimizer's (step, skipped steps), before a call: :func:`stepped` after."""
    return inner.step, getattr(inner, "skipped_steps", 0)


def stepped(inner: Any, before: tuple[int, int]) -> bool:
    """Did the inner update that returned change anything — not skipped by
    ``nonfinite='skip'``? (Its step count may stay: a transparent SAM's adversarial call
    moves the parameters, and its ``step`` counts outer steps.)"""
    return getattr(inner, "skipped_steps", 0) == before[1]


def _shared(opt: Any) -> dict[int, Any]:
    """Objects a snapshot must not copy: hyperparameter values (schedules the caller holds),
    down the chain of wrapped optimizers."""
    keep: dict[int, Any] = {}
    while opt is not None:
        hyper = getattr(opt, "hyperparameters", None)
        if callable(hyper):
            for v in hyper().values():
                keep[id(v)] = v
        opt = vars(opt).get("inner")
    return keep


def snapshot(opt: Any) -> dict[str, Any]:
    """Everything an update or a load of an inner optimizer may change, copied (schedules
    shared, not copied): what :func:`restore` puts back when a composite's call fails after
    an inner optimizer has moved on."""
    return copy.deepcopy(vars(opt), _shared(opt))


def restore(opt: Any, saved: dict[str, Any]) -> None:
    """Put back what :func:`snapshot` saved."""
    vars(opt).clear()
    vars(opt).update(saved)


def held_optimizers(opt: Any) -> dict[str, Any]:
    """The optimizers ``opt`` holds under its constructor arguments' names (SAM's ``opt``
    and ``adv_opt``), by name."""
    names = set(inspect.signature(type(opt).__init__).parameters) - {"self", "options"}
    return {k: v for k in sorted(names)
            if hasattr(v := getattr(opt, k, None), "update") and hasattr(v, "state_dict")}


def restartable(opt: Any) -> bool:
    """Whether :func:`restart` can reset ``opt``: a plain optimizer holding only plain
    optimizers (a Groups or a wrapper keeps state of its own)."""
    return isinstance(opt, Optimizer) and all(map(restartable, held_optimizers(opt).values()))


def restart(opt: Any) -> None:
    """Forget a plain optimizer's state — slots, rule-wide state and step count (so bias
    corrections and schedules start again), and that of the optimizers it holds — as
    optax's ``init`` does for the inner optimizer of ``lookahead`` and ``sam`` with
    ``reset_state=True`` (:func:`restartable` says whether it can)."""
    opt.state, opt.globals, opt.step = {}, {}, 0
    for inner in held_optimizers(opt).values():
        restart(inner)


__all__ = ["Composite", "check_optimizer", "counts", "stepped", "snapshot", "restore",
           "held_optimizers", "restartable", "restart"]
