"""The optimizers: one small module per family, shared mechanics in :mod:`.base`.

Every module of the package is imported, so an optimizer class registers itself where it is
defined (``@register``, :mod:`.registry`); adding one is adding its module.

>>> from descentlab import optim
>>> names = optim.available()      # every registered name, sorted (aliases included)
>>> names[:4], "adam" in names, "amsgrad" in names
(['acprop', 'adabelief', 'adadelta', 'adafactor'], True, True)
>>> opt = optim.create("Adam", lr=0.3)
>>> opt.lr, opt.beta2
(0.3, 0.999)
"""

from __future__ import annotations

# optim.lineage is a public module (rows(), ROW), bound here by name.
from . import lineage
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
from .backtracking import SGDBacktracking
from .base import Optimizer, accepted_arguments
from .cautious import CAdamW, CLion
from .clipping import clip_grad_norm, clip_grad_norm_each, clip_grad_value, global_norm
from .closure import ClosureRule
from .cocob import COCOB
from .dadapt_adamw import DAdaptAdamW
from .describe import describe
from .dog import DoG, DoWG
from .flat import FlatParams
from .fromage import Fromage
from .galore import GaLore
from .groups import Groups
from .laprop import LaProp
from .lbfgs import LBFGS
from .lbfgs_backtracking import LBFGSBacktracking
from .lbfgs_optax import LBFGSOptax
from .lineage import Lineage
from .lion import Lion
from .madgrad import Madgrad
from .mars import MARS
from .mechanize import Mechanize
from .momo import Momo, MomoAdam
from .muon import Muon
from .nadam import Nadam
from .noisy_sgd import NoisySGD
from .novograd import NovoGrad
from .optimistic import OptimisticGradientDescent
from .optimistic_adam import OptimisticAdam
from .polyak import PolyakSGD
from .prodigy import Prodigy
from .psgd_kron import PSGDKron
from .radam import RAdam
from .references import Reference
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
from .sam import SAM
from .schedule_free import ScheduleFree, ScheduleFreeAdamW, ScheduleFreeSGD
from .scion import Scion
from .sgd import SGD, Momentum, Nesterov
from .shampoo import Shampoo
from .sign import SignSGD, Signum
from .simplified_ademamix import SimplifiedAdEMAMix
from .sm3 import SM3
from .soap import SOAP
from .sophia import Sophia
from .trust_ratio import Lamb, Lars
from .wrappers import EMA, Accumulate, Lookahead
from .yogi import Yogi
from .zoom import SGDZoom


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
    "lineage",
    "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adadelta", "Adam", "AdamW", "Nadam",
    "Adamax", "RAdam", "Rprop", "ASGD", "Adafactor", "Muon", "LBFGS", "AdaGradFull",
    "Lion", "Lars", "Lamb", "AdaBelief", "Yogi", "Adan", "Adopt", "AdEMAMix",
    "ScheduleFree", "ScheduleFreeSGD", "ScheduleFreeAdamW", "SignSGD", "Signum", "NovoGrad",
    "OptimisticGradientDescent", "OptimisticAdam", "Fromage", "SM3", "ACProp",
    "SimplifiedAdEMAMix", "Madgrad", "COCOB", "LaProp", "CAdamW", "CLion", "PolyakSGD",
    "Momo", "MomoAdam", "SAM", "Sophia", "SGDBacktracking", "SGDZoom", "LBFGSOptax",
    "LBFGSBacktracking",
    "ClosureRule", "SOAP", "Shampoo",
    "PSGDKron",
    "GaLore", "DoG", "DoWG", "Prodigy", "DAdaptAdamW", "Mechanize", "MARS", "AdamMini", "Scion",
    "Optimizer",
    "OPTIMIZERS", "ALIASES", "available", "create", "unknown_optimizer", "get_class", "register",
    "unregister", "entries", "entry",
    "search_space", "summary", "name_of", "colour",
    "Alias", "Lineage", "Reference", "accepted_arguments",
    "clip_grad_norm", "clip_grad_norm_each", "clip_grad_value", "global_norm", "FlatParams",
    "Groups", "Lookahead", "EMA", "Accumulate",
    "describe",
    "NoisySGD",
]
