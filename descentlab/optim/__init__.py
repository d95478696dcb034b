"""The optimizers: one small module per family, shared mechanics in :mod:`.base`.

>>> from descentlab import optim
>>> print(*optim.available())
adabelief adadelta adafactor adagrad adagrad_full adam adamax adamw adan ademamix adopt amsgrad
asgd lamb lars lbfgs lion momentum muon nadam nesterov radam rmsprop rprop schedule_free_adamw
schedule_free_sgd sgd yogi
>>> opt = optim.create("Adam", lr=0.3)
>>> opt.lr, opt.beta2
(0.3, 0.999)
"""

from __future__ import annotations

from typing import Any

from ..errors import InputError, InputTypeError, suggestion
from .adabelief import AdaBelief
from .adadelta import Adadelta
from .adafactor import Adafactor
from .adagrad import AdaGrad
from .adagrad_full import AdaGradFull
from .adam import Adam, AdamW
from .adamax import Adamax
from .adan import Adan
from .ademamix import AdEMAMix
from .adopt import Adopt
from .asgd import ASGD
from .base import Optimizer, accepted_arguments, unknown_argument
from .clipping import clip_grad_norm, clip_grad_norm_each, clip_grad_value, global_norm
from .describe import describe
from .flat import FlatParams
from .groups import Groups
from .lbfgs import LBFGS
from .lion import Lion
from .muon import Muon
from .nadam import Nadam
from .radam import RAdam
from .rmsprop import RMSprop
from .rprop import Rprop
from .schedule_free import ScheduleFree, ScheduleFreeAdamW, ScheduleFreeSGD
from .sgd import SGD, Momentum, Nesterov
from .trust_ratio import Lamb, Lars
from .wrappers import EMA, Accumulate, Lookahead
from .yogi import Yogi

#: Name → class: the classic lineage in its order, then torch.optim's later additions, then
#: the modern rules optax has (its form by default).
OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.name: cls
    for cls in (SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adadelta, Adam, AdamW, Nadam, Adamax,
                RAdam, Rprop, ASGD, Adafactor, Muon, LBFGS, AdaGradFull,
                Lion, Lars, Lamb, AdaBelief, Yogi, Adan, Adopt, AdEMAMix, ScheduleFreeSGD,
                ScheduleFreeAdamW)
}
#: Extra names: name → (class, preset keyword arguments).
ALIASES: dict[str, tuple[type[Optimizer], dict[str, Any]]] = {
    "amsgrad": (Adam, {"amsgrad": True}),
}


def available() -> list[str]:
    """The names :func:`create` accepts, sorted."""
    return sorted([*OPTIMIZERS, *ALIASES])


def unknown_optimizer(name: str) -> InputError:
    """The error for a name that is not registered, with the closest registered name
    (:func:`descentlab.errors.closest`) and the list — the same words from the Python API,
    specs, search spaces and the command line.

    >>> str(unknown_optimizer("adma")).split(";")[0]
    "unknown optimizer 'adma' (did you mean 'adam'?)"
    """
    key = str(name).strip()
    return InputError(f"unknown optimizer {key!r}{suggestion(key.lower(), available())}; "
                      f"available: {', '.join(available())}")


def create(name: str, **kwargs: Any) -> Optimizer:
    """Build an optimizer by case-insensitive name: ``create("adam", lr=0.3)``."""
    if not isinstance(name, str):
        raise InputTypeError(f"the optimizer name must be a string, not {name!r}")
    key = name.strip().lower()
    if key in OPTIMIZERS:
        cls, preset = OPTIMIZERS[key], {}
    elif key in ALIASES:
        cls, preset = ALIASES[key]
    else:
        raise unknown_optimizer(name)
    allowed = accepted_arguments(cls)
    for k in kwargs:
        if k not in allowed:
            raise unknown_argument(cls, k)
    return cls(**{**preset, **kwargs})


__all__ = [
    "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adadelta", "Adam", "AdamW", "Nadam",
    "Adamax", "RAdam", "Rprop", "ASGD", "Adafactor", "Muon", "LBFGS", "AdaGradFull",
    "Lion", "Lars", "Lamb", "AdaBelief", "Yogi", "Adan", "Adopt", "AdEMAMix",
    "ScheduleFree", "ScheduleFreeSGD", "ScheduleFreeAdamW", "Optimizer", "OPTIMIZERS",
    "available", "create", "accepted_arguments", "unknown_optimizer",
    "clip_grad_norm", "clip_grad_norm_each", "clip_grad_value", "global_norm", "FlatParams",
    "Groups", "Lookahead", "EMA", "Accumulate",
    "describe",
]
