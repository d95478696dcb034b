"""The optimizers: one small module per family, shared mechanics in :mod:`.base`.

>>> from descentlab import optim
>>> print(*optim.available())
adadelta adagrad adam adamax adamw amsgrad momentum nadam nesterov rmsprop sgd
>>> opt = optim.create("Adam", lr=0.3)
>>> opt.lr, opt.beta2
(0.3, 0.999)
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any

from .adadelta import Adadelta
from .adagrad import AdaGrad
from .adam import Adam, AdamW
from .adamax import Adamax
from .base import Optimizer
from .clipping import clip_grad_norm, clip_grad_norm_each, clip_grad_value, global_norm
from .describe import describe
from .flat import FlatParams
from .nadam import Nadam
from .rmsprop import RMSprop
from .sgd import SGD, Momentum, Nesterov

#: Name → class, in the order of the classic lineage.
OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.name: cls
    for cls in (SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adadelta, Adam, AdamW, Nadam, Adamax)
}
#: Extra names: name → (class, preset keyword arguments).
ALIASES: dict[str, tuple[type[Optimizer], dict[str, Any]]] = {
    "amsgrad": (Adam, {"amsgrad": True}),
}


def available() -> list[str]:
    """The names :func:`create` accepts, sorted."""
    return sorted([*OPTIMIZERS, *ALIASES])


def accepted_arguments(cls: type[Optimizer]) -> list[str]:
    """Keyword arguments a class's constructor takes (its own and the shared options)."""
    names = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "options")]
    shared = [p for p in inspect.signature(Optimizer.__init__).parameters
              if p not in ("self", "lr", "weight_decay")]
    return names + [p for p in shared if p not in names]


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def create(name: str, **kwargs: Any) -> Optimizer:
    """Build an optimizer by case-insensitive name: ``create("adam", lr=0.3)``."""
    key = name.strip().lower()
    if key in OPTIMIZERS:
        cls, preset = OPTIMIZERS[key], {}
    elif key in ALIASES:
        cls, preset = ALIASES[key]
    else:
        raise ValueError(f"unknown optimizer {name!r}{_did_you_mean(key, available())}; "
                         f"available: {', '.join(available())}")
    allowed = accepted_arguments(cls)
    for k in kwargs:
        if k not in allowed:
            raise TypeError(f"{cls.__name__} has no argument {k!r}{_did_you_mean(k, allowed)}; "
                            f"it takes: {', '.join(allowed)}")
    return cls(**{**preset, **kwargs})


__all__ = [
    "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adadelta", "Adam", "AdamW", "Nadam",
    "Adamax", "Optimizer", "OPTIMIZERS", "available", "create", "accepted_arguments",
    "clip_grad_norm", "clip_grad_norm_each", "clip_grad_value", "global_norm", "FlatParams",
    "describe",
]
