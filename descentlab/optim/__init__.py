"""The optimizers: one small module per family, shared mechanics in :mod:`.base`.

Every module of the package is imported, so an optimizer class registers itself where it is
defined (``@register``, :mod:`.registry`); adding one is adding its module.

>>> from descentlab import optim
>>> print(*optim.available())
acprop adabelief adadelta adafactor adagrad adagrad_full adam adam_mini adamax adamaxw adamw
adan ademamix adopt amsgrad asgd cadamw clion cocob fromage lamb laprop lars lbfgs lion madgrad
mars momentum muon nadam nesterov novograd optimistic_adam optimistic_gradient_descent radam
rmsprop rprop schedule_free_adamw schedule_free_sgd scion sgd sign_sgd signum simplified_ademamix
sm3 yogi
>>> opt = optim.create("Adam", lr=0.3)
>>> opt.lr, opt.beta2
(0.3, 0.999)
"""

from __future__ import annotations

from .acprop import ACProp
from .adabelief import AdaBelief
from .adadelta import Adadelta
from .adafactor import Adafactor
from .adagrad import AdaGrad
from .adagrad_full import AdaGradFull
from .adam import Adam, AdamW
from .adam_mini import AdamMini
from .adamax import Adamax
from .adan import Adan
from .ademamix import AdEMAMix
from .adopt import Adopt
from .asgd import ASGD
from .base import Optimizer, accepted_arguments
from .cautious import CAdamW, CLion
from .clipping import clip_grad_norm, clip_grad_norm_each, clip_grad_value, global_norm
from .cocob import COCOB
from .describe import describe
from .flat import FlatParams
from .fromage import Fromage
from .groups import Groups
from .laprop import LaProp
from .lbfgs import LBFGS
from .lineage import Lineage
from .lion import Lion
from .madgrad import Madgrad
from .mars import MARS
from .muon import Muon
from .nadam import Nadam
from .novograd import NovoGrad
from .optimistic import OptimisticGradientDescent
from .optimistic_adam import OptimisticAdam
from .radam import RAdam
from .registry import (
    ALIASES,
    OPTIMIZERS,
    Alias,
    available,
    colour,
    create,
    entries,
    entry,
    get_class,
    name_of,
    register,
    search_space,
    summary,
    unknown_optimizer,
    unregister,
)
from .rmsprop import RMSprop
from .rprop import Rprop
from .schedule_free import ScheduleFree, ScheduleFreeAdamW, ScheduleFreeSGD
from .scion import Scion
from .sgd import SGD, Momentum, Nesterov
from .sign import SignSGD, Signum
from .simplified_ademamix import SimplifiedAdEMAMix
from .sm3 import SM3
from .trust_ratio import Lamb, Lars
from .wrappers import EMA, Accumulate, Lookahead
from .yogi import Yogi


def _import_every_module() -> None:
    """Import every module of the package: a new optimizer module registers itself (its
    ``@register``) with no edit here; the names above are the ones re-exported."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        if info.name != "docs":  # the table generator, run as a script
            importlib.import_module(f"{__name__}.{info.name}")


_import_every_module()

__all__ = [
    "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adadelta", "Adam", "AdamW", "Nadam",
    "Adamax", "RAdam", "Rprop", "ASGD", "Adafactor", "Muon", "LBFGS", "AdaGradFull",
    "Lion", "Lars", "Lamb", "AdaBelief", "Yogi", "Adan", "Adopt", "AdEMAMix",
    "ScheduleFree", "ScheduleFreeSGD", "ScheduleFreeAdamW", "SignSGD", "Signum", "NovoGrad",
    "OptimisticGradientDescent", "OptimisticAdam", "Fromage", "SM3", "ACProp",
    "SimplifiedAdEMAMix", "Madgrad", "COCOB", "LaProp", "CAdamW", "CLion", "MARS", "AdamMini",
    "Scion", "Optimizer",
    "OPTIMIZERS", "ALIASES", "available", "create", "unknown_optimizer", "get_class", "register",
    "unregister", "entries", "entry",
    "search_space", "summary", "name_of", "colour",
    "Alias", "Lineage", "accepted_arguments",
    "clip_grad_norm", "clip_grad_norm_each", "clip_grad_value", "global_norm", "FlatParams",
    "Groups", "Lookahead", "EMA", "Accumulate",
    "describe",
]
