"""Base rules: the element-wise rules other rules run inside them (Mechanize, GaLore).

A base is a registered rule whose every output element depends only on the same element of
its gradient and state (``elementwise``), with no rule-wide state or work (no
``begin_step``, ``init_globals`` or ``prepass``) and no closure: it can run on any array —
the gradient itself (Mechanize), or its low-rank projection (GaLore) — one array at a time.

>>> describe_refusal("muon")
"'muon' is not element-wise"
>>> base_rule("sgd").slot_shapes((2, 3))
{}
"""

from __future__ import annotations

from functools import cache
from typing import Any

from ..errors import InputError, InputTypeError, suggestion
from .base import Optimizer
from .hyperparams import Choice, Option
from .registry import available, create, entry, name_of

#: The base rules: element-wise rules without rule-wide state (each at its defaults unless
#: the rule running it says otherwise).
BASES = ("adam", "adamw", "amsgrad", "sgd", "momentum", "nesterov", "rmsprop", "adagrad",
         "lion", "adabelief", "yogi", "sign_sgd", "signum")

#: The settings every optimizer shares (its rate and decay aside): a base's are its host's.
SHARED = ("decoupled_weight_decay", "maximize", "clip_value", "clip_norm",
          "clip_global_norm", "clip_eps", "nonfinite", "backend")


@cache
def base_rule(name: str, settings: tuple[tuple[str, Any], ...] = ()) -> Optimizer:
    """One instance of the base rule at its defaults but ``settings`` (its ``rule`` and
    declarations are read, never its state); a setting it does not take is refused, named."""
    for key, _ in settings:
        if key in ("lr", "weight_decay", *SHARED):
            raise InputError(f"base_settings: {key} is the host's, not the base's")
    try:
        return create(name, **dict(settings))
    except (InputError, InputTypeError) as e:
        raise type(e)(f"base_settings of {name!r}: {e}") from None


def describe_refusal(name: str) -> str:
    """Why a registered rule cannot be a base (an unknown name: the registry's error)."""
    cls = entry(name).cls
    if getattr(cls, "needs_closure", False):
        return f"{name!r} needs a closure (the loss), and a base is given gradients only"
    if not cls.elementwise:
        return f"{name!r} is not element-wise"
    if any(cls.overrides(h) for h in ("begin_step", "init_globals", "prepass")):
        return f"{name!r} keeps rule-wide state"
    return f"{name!r} is not one of the base rules"


class BaseChoice(Choice):
    """The ``base`` option: a name of :data:`BASES` (or of ``allowed``); any other name is
    refused saying why (unknown, not element-wise, needs a closure, rule-wide state, or the
    host's own ``reasons`` for a base it leaves out)."""

    def __init__(self, allowed: tuple[str, ...], doc: str = "", *,
                 reasons: dict[str, str] | None = None, fixed_once_started: bool = False
                 ) -> None:
        super().__init__(allowed, doc, fixed_once_started=fixed_once_started)
        self.reasons = dict(reasons or {})

    def validate(self, value: Any) -> str | None:
        if isinstance(value, str) and value.strip().lower() in self.allowed:
            return value.strip().lower()
        if not isinstance(value, str):
            return super().validate(value)
        allowed = ", ".join(map(repr, self.allowed))
        if value.strip().lower() not in available():
            raise InputError(f"{self.name}: unknown rule {value.strip()!r}"
                             f"{suggestion(value.strip().lower(), self.allowed)}; the base "
                             f"rules: {allowed}")
        why = self.reasons.get(value.strip().lower()) or describe_refusal(value)
        raise InputError(f"{self.name} must be an element-wise rule without rule-wide state, "
                         f"one of {allowed}: {why}")


class BaseSettings(Option):
    """The ``base_settings`` option: the base's own hyperparameters and options away from
    its defaults, ``{name: value}`` (single numbers, flags or names), checked against the
    base when the combination is (:func:`base_rule`)."""

    kind = "settings"

    def validate(self, value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise InputError(f"{self.name} must be a dict of the base's settings by name, got "
                             f"{value!r}")
        for k, v in value.items():
            if not isinstance(v, (bool, int, float, str, type(None))):
                raise InputError(f"{self.name}: {k}={v!r} is not a single number, flag or name")
        return dict(value)


def base_settings(host: str, opt: Optimizer) -> tuple[str, dict[str, Any]]:
    """``(name, settings)`` of an optimizer object given as a base: its registered name and
    the hyperparameters and options of its own that differ from that name's defaults
    (numbers, flags, strings). Its rate and decay are the host's and not read; any shared
    setting (maximize, clipping, ...) away from its default is refused, naming it.

    >>> from descentlab import optim
    >>> base_settings("galore", optim.Lion(beta2=0.98, lr=0.5))
    ('lion', {'beta2': 0.98})
    """
    name = name_of(opt)
    default = create(name)
    for key in SHARED:
        if getattr(opt, key) != getattr(default, key):
            raise InputError(f"{host}'s base {name!r} has {key}={getattr(opt, key)!r}: the "
                             f"base runs inside {host}, which applies {key} itself; give it "
                             f"to {host}")
    settings: dict[str, Any] = {}
    own = [k for k in opt.hyperparameter_names() if k not in ("lr", "weight_decay")]
    for key in [*own, *type(opt).option_names]:
        value = getattr(opt, key)
        if callable(value) or not isinstance(value, (bool, int, float, str, type(None))):
            raise InputError(f"{host}'s base {name!r} has {key}={value!r}: a base's settings "
                             "are single numbers, flags or names (no schedules or arrays)")
        if value != getattr(default, key):
            settings[key] = value
    return name, settings


__all__ = ["BASES", "SHARED", "BaseChoice", "BaseSettings", "base_rule", "base_settings",
           "describe_refusal"]
