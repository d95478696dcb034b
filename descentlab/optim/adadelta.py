"""Adadelta: rates from the ratio of running RMS of updates and of gradients."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Optimizer
from .hyperparams import CLOSED_UNIT, POSITIVE, Hyper
from .lineage import Lineage
from .moments import ema_square
from .references import Reference
from .registry import register


@register
class Adadelta(Optimizer):
    r"""Adadelta (Zeiler, arXiv:1212.5701, 2012).

    .. math::
        s_t = \rho\, s_{t-1} + (1 - \rho)\, g_t^2 \\
        \Delta_t = \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{s_t + \epsilon}}\, g_t \\
        u_t = \rho\, u_{t-1} + (1 - \rho)\, \Delta_t^2, \qquad
        p_t = p_{t-1} - \eta\, \Delta_t

    The rule is the same in PyTorch, Keras and optax; only defaults differ. Defaults:
    ``lr=1.0, rho=0.9, eps=1e-6`` — PyTorch's ``torch.optim.Adadelta`` (Keras: ``lr=0.001,
    rho=0.95, eps=1e-7``).
    """

    name = "adadelta"
    lineage = Lineage(("rmsprop",), "unit correction (RMS of the steps)", 2012, "Zeiler 2012")
    references = (
        Reference("torch.optim.Adadelta"),
        Reference("optax.adadelta", {"lr": 0.5}, {"learning_rate": 0.5}),
        Reference("keras.optimizers.Adadelta", {"lr": 0.001, "rho": 0.95, "eps": 1e-7}),
    )
    colour = "#e377c2"  # in every lab figure (viz.style.PALETTE)
    slots = ("square_avg", "acc_delta")
    nonnegative_slots = ("square_avg", "acc_delta")
    equations = ("s ← ρ·s + (1 − ρ)·g²", "Δ ← √(u + ε) / √(s + ε) · g",
                 "u ← ρ·u + (1 − ρ)·Δ²", "p ← p − η·Δ")
    elementwise = True
    kernel = "adadelta"

    eps_to_zero_in_exact_trace = False  # ε is part of the step: √(u + ε)/√(s + ε)

    lr = Optimizer.lr.replace(search=(1e-2, 100.0))  # the unit-corrected step: lr = 1 is Zeiler's
    rho = Hyper(CLOSED_UNIT, "decay ρ of both running averages", search=(0.8, 0.99))
    eps = Hyper(POSITIVE, "ε inside both roots", tunable=False)

    def __init__(self, lr: Any = 1.0, rho: Any = 0.9, eps: Any = 1e-6, weight_decay: Any = 0.0,
                 *, maximize: bool = False, **options: Any) -> None:
        super().__init__(lr, weight_decay, maximize=maximize, **options)
        self.rho = rho
        self.eps = eps

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        s = ema_square(state["square_avg"], g, h.rho)  # s = ρs + (1 − ρ)g²
        u = state["acc_delta"]
        delta = np.sqrt(u + h.eps) / np.sqrt(s + h.eps) * g  # Δ = √(u + ε)/√(s + ε)·g
        ema_square(u, delta, h.rho)  # u = ρu + (1 − ρ)Δ²
        p -= h.lr * delta
