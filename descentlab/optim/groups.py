"""Per-parameter settings by path: torch's parameter groups, optax's masks and multi_transform.

``Groups(base, {pattern: settings, ...})`` sends each parameter to the first pattern its path
matches (``fnmatch`` rules, ``*`` also crosses ``/``; or a callable ``path -> bool``) and the
rest to ``base``. ``settings`` is either a dict of hyperparameters/options that override the
base's (a copy of the base optimizer with them: torch's param group dict), or an optimizer of
its own (optax's ``multi_transform``)::

    opt = Groups(optim.AdamW(lr=1e-3, weight_decay=0.01),
                 {"*bias": {"weight_decay": 0.0},        # no decay on biases
                  "*norm*": {"weight_decay": 0.0},
                  "embed/*": {"lr": 1e-4}})              # a smaller rate for one layer

Each group is an ordinary optimizer whose state is keyed by the full paths of its parameters,
so ``opt.state_for(path)`` and checkpoints (``state_dict``/``save``/``load``, strict: the
patterns, the assignment of paths to groups and every group's state are checked before anything
changes) cover them. A failed ``update`` changes nothing: gradients are checked for finiteness
across all groups first (the base's ``nonfinite`` policy; ``"skip"`` skips the whole step), and
if a later group still fails (a schedule's bad value, a hyperparameter array that does not
broadcast), the groups already updated are rolled back — at the price of one copy of their
parameters and state per update (all groups but the last).

A base whose class shares its rule-wide state across param groups (``shared_globals``:
Prodigy's and D-Adaptation's d, as prodigyopt and dadaptation keep one d for all groups) gets
one pre-pass over the parameters of the base and every group built from settings, and one d
(:attr:`Groups.shared`); ``share=False`` gives each group its own, as groups given as
optimizers of their own always have (optax's ``multi_transform``).

Equal to torch.optim with parameter groups, to ``optax.adamw(..., mask=...)`` / ``optax.masked``
and to ``optax.multi_transform``, and for Prodigy and D-Adapt AdamW to their authors' packages'
param groups (tested).

>>> from descentlab import optim
>>> opt = Groups(optim.SGD(0.1, weight_decay=0.5), {"b": {"weight_decay": 0.0}})
>>> params = {"w": 1.0, "b": 1.0}
>>> opt.update(params, {"w": 0.0, "b": 0.0})
>>> params  # only w decays: 1 − 0.1·0.5·1
{'w': 0.95, 'b': 1.0}
>>> opt.group_of("b"), opt.group_of("w")
(0, 1)
"""

from __future__ import annotations

import copy
import fnmatch
import inspect
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..errors import InputError, InputTypeError, MissingKeyError
from .base import Optimizer, did_you_mean
from .checkpoint import counter, require
from .checks import skip_nonfinite
from .composite import Composite, check_optimizer, held_optimizers, restore, snapshot
from .pipeline import check_shared_settings, update_together
from .sums import GroupPart
from .tree import show

Pattern = str | Callable[[str], bool]


def matches(path: str, pattern: Pattern) -> bool:
    """Whether a parameter's path matches a pattern: ``fnmatch``'s rules, case-sensitive, ``*``
    also crossing ``/``; or a callable ``path -> bool`` called on it.

    >>> matches("layers/0/bias", "*bias"), matches("w", lambda path: path == "b")
    (True, False)
    """
    return fnmatch.fnmatchcase(path, pattern) if isinstance(pattern, str) \
        else bool(pattern(path))


def _describe(pattern: Pattern) -> str:
    return pattern if isinstance(pattern, str) else getattr(pattern, "__name__", repr(pattern))


def _settings_of(opt: Optimizer) -> dict[str, Any]:
    """The constructor arguments that rebuild ``opt`` as it is (fresh state): its
    hyperparameters and options that its class's constructor (or the base's) takes, and a
    copy of each optimizer it holds under a constructor argument's name (SAM's ``opt`` and
    ``adv_opt``: fresh, as Groups takes only fresh optimizers)."""
    accepted = {*inspect.signature(type(opt).__init__).parameters,
                *inspect.signature(Optimizer.__init__).parameters}
    values = {**opt.hyperparameters(), **opt.options(), "backend": opt.backend}
    held = {k: copy.deepcopy(v) for k, v in held_optimizers(opt).items() if k not in values}
    return {**{k: v for k, v in values.items() if k in accepted}, **held}


def _rebuilt(base: Optimizer, settings: dict[str, Any]) -> Optimizer:
    """``type(base)(**settings)``; a setting the class fixes itself (Adafactor's decoupled
    decay, passed by its constructor) is left out while it keeps the value the class gives."""
    fixed = {}
    try:
        fixed = type(base)().options()
    except (TypeError, ValueError):  # no defaults to learn from
        pass
    own = set(inspect.signature(type(base).__init__).parameters)
    kwargs = {k: v for k, v in settings.items()
              if k in own or k not in fixed or v != fixed[k]}
    return type(base)(**kwargs)


class Groups(Composite):
    """Different hyperparameters, options or optimizers for parameters chosen by path."""

    name = "groups"
    kind = "a Groups"

    def __init__(self, base: Optimizer,
                 rules: Mapping[Pattern, Mapping[str, Any] | Optimizer], *,
                 share: bool = True) -> None:
        check_optimizer("Groups", base, "needs as its base")
        if not isinstance(base, Optimizer):
            raise InputTypeError(f"Groups needs an optimizer as its base, not "
                                 f"{type(base).__name__}")
        if getattr(base, "needs_closure", False):
            raise InputTypeError(f"Groups cannot use {type(base).__name__} as its base: it "
                                 "needs a closure (update(params, closure=...)); Groups "
                                 "passes gradients")
        if not isinstance(rules, Mapping):
            raise InputTypeError("Groups' rules must be a mapping pattern → settings, not "
                                 f"{type(rules).__name__}")
        if not isinstance(share, bool):
            raise InputTypeError(f"Groups' share must be True or False, not {share!r}")
        optimizers: list[Any] = []
        patterns: list[Pattern] = []
        copies: list[int] = []  # the groups built from settings (copies of the base)
        settings = _settings_of(base)
        for pattern, how in rules.items():
            if not (isinstance(pattern, str) or callable(pattern)):
                raise InputTypeError(f"a group's pattern must be a string or a callable, not "
                                     f"{pattern!r}")
            if isinstance(how, Mapping):
                for k in how:
                    if k not in settings:
                        raise InputError(
                            f"group {_describe(pattern)!r}: {type(base).__name__} has no "
                            f"setting {k!r}{did_you_mean(str(k), list(settings))}")
                copies.append(len(optimizers))
                try:
                    # (settings anew per group: each its own copies of held optimizers)
                    optimizers.append(_rebuilt(base, {**_settings_of(base), **how}))
                except (TypeError, ValueError) as e:
                    raise InputError(f"group {_describe(pattern)!r}: {e}") from None
            elif isinstance(how, type) or (hasattr(how, "update")
                                            and hasattr(how, "state_dict")):
                check_optimizer(f"group {_describe(pattern)!r}", how, "needs")
                if getattr(how, "needs_closure", False):
                    raise InputTypeError(f"group {_describe(pattern)!r}: {type(how).__name__} "
                                         "needs a closure (update(params, closure=...)); "
                                         "Groups passes gradients")
                if any(how is o for o in optimizers) or how is base:
                    raise InputError(f"group {_describe(pattern)!r}: the same optimizer object "
                                     "is used by two groups")
                optimizers.append(how)
            else:
                raise InputTypeError(f"group {_describe(pattern)!r}: settings must be a dict of "
                                     f"hyperparameters or an optimizer, not {type(how).__name__}")
            patterns.append(pattern)
        for opt in (*optimizers, base):
            if opt.step or getattr(opt, "state", None):
                raise InputError("Groups needs fresh optimizers (no updates made yet); load a "
                                 "checkpoint into the Groups instead")
        self._optimizers: tuple[Any, ...] = (*optimizers, base)
        together = (*copies, len(optimizers))
        self._shared: tuple[int, ...] = together if (
            share and type(base).shared_globals and len(together) > 1) else ()
        self._patterns: tuple[Pattern, ...] = tuple(patterns)
        if self._shared:  # settings that enter the shared state: the base's (schedules: later)
            check_shared_settings([GroupPart(self._optimizers[i], [],
                                             SimpleNamespace(**self._optimizers[i].settings()),
                                             self._label(i))
                                   for i in (self._shared[-1], *self._shared[:-1])])
        self.step = 0
        self.skipped_steps = 0
        self._assignment: dict[str, int] = {}

    @property
    def optimizers(self) -> tuple[Any, ...]:
        """The optimizers, one per pattern in order, then the base (the last group); fixed
        at construction (set their settings: ``opt.optimizers[i].lr = 0.1``)."""
        return self._optimizers

    @property
    def patterns(self) -> tuple[Pattern, ...]:
        """The patterns, in order: fixed at construction (a tuple), since the groups' state
        and checkpoints follow them."""
        return self._patterns

    @property
    def shared(self) -> tuple[int, ...]:
        """The groups that share one rule-wide state (indices into :attr:`optimizers`):
        with a base whose class declares ``shared_globals`` (Prodigy's and D-Adaptation's d),
        the base and the groups built from settings, as the authors' param groups do —
        unless ``share=False``; ``()`` otherwise. Groups given as optimizers of their own
        (optax's ``multi_transform``) keep their own."""
        return self._shared

    @optimizers.setter
    def optimizers(self, value: Any) -> None:
        raise InputError("Groups' optimizers are fixed at construction (their state follows "
                         "them): build a new Groups")

    @patterns.setter
    def patterns(self, value: Any) -> None:
        raise InputError("Groups' patterns are fixed at construction (the groups' state and "
                         "checkpoints follow them): build a new Groups")

    def unknown_setting(self, name: str) -> None:
        """Settings belong to the groups: ``opt.lr = 0.1`` on a Groups would be a new
        attribute nothing reads, so it is refused once built (set ``opt.optimizers[i].lr``,
        or ``opt.optimizer_for(path).lr``)."""
        raise InputError(f"Groups has no setting {name!r}: settings belong to the groups "
                         f"(set opt.optimizers[i].{name} or opt.optimizer_for(path)."
                         f"{name}); assigning it here would change nothing")

    # ---------------------------------------------------------------- which group
    def group_of(self, path: str) -> int:
        """Index of the group a path belongs to (the first matching pattern; else the base,
        ``len(patterns)``)."""
        cached = self._assignment.get(path)
        if cached is not None:
            return cached
        for i, pattern in enumerate(self.patterns):
            if matches(path, pattern):
                return i
        return len(self.patterns)

    def optimizer_for(self, path: str) -> Any:
        """The optimizer that updates ``path``."""
        return self.optimizers[self.group_of(path)]

    def state_for(self, path: str) -> dict[str, np.ndarray]:
        """The optimizer state of one parameter (``{slot: array}``)."""
        return self.optimizer_for(path).state[path]

    @property
    def current_lr(self) -> Any:
        """The base group's latest learning rate."""
        return self.optimizers[-1].current_lr

    # ---------------------------------------------------------------- the update
    def update(self, params: Any, grads: Any) -> None:
        """One update of every group; all or nothing."""
        leaves, gs = self.checked_call(params, grads)
        if skip_nonfinite(self.optimizers[-1].nonfinite, leaves, gs, self.step + 1,
                          hint=" to the base optimizer"):
            self.skipped_steps += 1
            return
        members: list[list[int]] = [[] for _ in self.optimizers]
        for j, leaf in enumerate(leaves):
            members[self.group_of(leaf.path)].append(j)
        used = [i for i, m in enumerate(members) if m]
        joint = [i for i in used if i in self._shared]  # (updated as one, in place of the
        units: list[list[int]] = []                        # first of them)
        for i in used:
            if i not in joint:
                units.append([i])
            elif i == joint[0]:
                units.append(joint)
        backups: list[tuple[int, list[np.ndarray], dict[str, Any]]] = []
        try:
            for unit in units:
                calls = []
                for i in unit:
                    sub_p = {leaves[j].path: leaves[j].array for j in members[i]}
                    sub_g = {leaves[j].path: gs[j] for j in members[i]}
                    if unit is not units[-1]:  # the last unit's checks leave it unchanged
                        backups.append((i, [a.copy() for a in sub_p.values()],
                                        snapshot(self.optimizers[i])))
                    calls.append((self.optimizers[i], sub_p, sub_g, self._label(i)))
                if len(calls) == 1:
                    calls[0][0].update(calls[0][1], calls[0][2])
                else:  # one pre-pass over the groups sharing d
                    update_together(calls)
        except Exception:
            for i, arrays, saved_vars in backups:
                for j, saved in zip(members[i], arrays):
                    leaves[j].array[...] = saved
                restore(self.optimizers[i], saved_vars)
            raise
        for leaf in leaves:
            leaf.write_back()
        if not self._assignment:
            self._assignment = {leaf.path: self.group_of(leaf.path) for leaf in leaves}
        self.remember(leaves)
        self.step += 1

    def _label(self, i: int) -> str:
        """A group's name in errors: its pattern, or "the base group"."""
        if i == len(self.patterns):
            return "the base group"
        return f"group {_describe(self.patterns[i])!r}"

    # ---------------------------------------------------------------- checkpoints
    def _pattern_names(self) -> list[str]:
        return [_describe(p) for p in self.patterns]

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.name,
            "patterns": self._pattern_names(),
            "step": self.step,
            "skipped_steps": self.skipped_steps,
            "assignment": dict(self._assignment),
            "shared": list(self._shared),
            "groups": [opt.state_dict() for opt in self.optimizers],
        }

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """Strict: the same patterns, the same paths in the same groups, every group's state
        valid — or nothing changes."""
        self.check_kind(d)
        require(d, ("optimizer", "patterns", "step", "skipped_steps", "assignment", "groups",
                    *(("shared",) if "shared" in d else ())))  # (older files: none shared)
        if list(d["patterns"]) != self._pattern_names():
            raise InputError(f"the checkpoint's group patterns {list(d['patterns'])} differ from "
                             f"this Groups' {self._pattern_names()}")
        groups = d["groups"]
        if not isinstance(groups, list) or len(groups) != len(self.optimizers):
            raise InputError(f"the checkpoint must hold {len(self.optimizers)} groups")
        assignment = d["assignment"]
        if not isinstance(assignment, dict):
            raise InputError("the checkpoint's 'assignment' must be a dict path → group")
        for path, i in assignment.items():
            if i != self.group_of(path):
                raise InputError(f"the checkpoint puts {show(path)} in group {i}, these "
                                 f"patterns put it in group {self.group_of(path)}")
            state = groups[i].get("state", {}) if isinstance(groups[i], dict) else {}
            if isinstance(state, dict) and state and path not in state:
                raise MissingKeyError(f"the checkpoint has no state for {show(path)} in its "
                                      f"group {i}")
        if self._assignment and set(assignment) != set(self._assignment):
            odd = sorted(set(assignment) ^ set(self._assignment))[0]
            raise MissingKeyError(f"the checkpoint and these parameters disagree about "
                                  f"{show(odd)}")
        self._check_shared(d.get("shared", []), groups, assignment)
        step, skipped = counter("step", d["step"]), counter("skipped_steps", d["skipped_steps"])
        saved = [snapshot(opt) for opt in self.optimizers]
        try:
            for opt, sd in zip(self.optimizers, groups):
                opt.load_state_dict(sd)
        except Exception:
            for opt, saved_vars in zip(self.optimizers, saved):
                restore(opt, saved_vars)
            raise
        self.step, self.skipped_steps = step, skipped
        self._assignment = dict(assignment)
        self.forget_structure()

    def _check_shared(self, shared: Any, groups: list[Any], assignment: dict[str, Any]) -> None:
        """A checkpoint's groups share their rule-wide state as these do (a file without
        ``shared``, older, shares none), and the groups sharing it that hold parameters hold
        the same."""
        if not isinstance(shared, list) or shared != list(self._shared):
            raise InputError(f"the checkpoint's groups sharing one rule-wide state are "
                             f"{shared!r}, this Groups' {list(self._shared)} (share=True/False "
                             "as when it was saved)")
        holding = sorted({i for i in assignment.values() if i in self._shared})
        if not holding:
            return
        first = groups[holding[0]].get("globals") if isinstance(groups[holding[0]], dict) \
            else None
        for i in holding[1:]:
            other = groups[i].get("globals") if isinstance(groups[i], dict) else None
            same = (isinstance(first, dict) and isinstance(other, dict)
                    and set(first) == set(other)
                    and all(np.array_equal(first[k], other[k], equal_nan=True) for k in first))
            if not same:
                raise InputError(f"the checkpoint's {self._label(i)} holds other globals than "
                                 f"{self._label(holding[0])}, but these groups share one "
                                 f"{type(self.optimizers[i]).shared_globals}")


__all__ = ["Groups", "Pattern", "matches"]
