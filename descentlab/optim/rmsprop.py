"""RMSprop: divide by a running root-mean-square of the gradients."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Optimizer
from .hyperparams import CLOSED_UNIT, NONNEGATIVE, POSITIVE, Hyper, choice
from .moments import ema, ema_square


class RMSprop(Optimizer):
    r"""RMSprop (Hinton, Coursera lecture 6e, 2012), centered variant (Graves, 2013).

    .. math::
        s_t = \rho\, s_{t-1} + (1 - \rho)\, g_t^2, \qquad
        \bar g_t = \rho\, \bar g_{t-1} + (1 - \rho)\, g_t \ \text{(centered)} \\
        d_t = \sqrt{s_t - \bar g_t^2} + \epsilon \quad(\bar g = 0\text{ unless centered}) \\
        b_t = \mu\, b_{t-1} + g_t / d_t, \qquad p_t = p_{t-1} - \eta\, b_t
        \qquad(\mu = 0:\ p_t = p_{t-1} - \eta\, g_t / d_t)

    ``eps_mode="inside"`` uses :math:`\sqrt{s_t - \bar g_t^2 + \epsilon}` (Keras);
    ``lr_in_buffer=True`` keeps the rate inside the momentum buffer,
    :math:`b_t = \mu b_{t-1} + \eta g_t/d_t,\ p_t = p_{t-1} - b_t` (Keras).

    Defaults: ``lr=0.01, rho=0.99, eps=1e-8, momentum=0`` — PyTorch's
    ``torch.optim.RMSprop(alpha=rho)``. Keras: ``rho=0.9, eps=1e-7, eps_mode="inside",
    lr_in_buffer=True``; the classic textbook code: ``eps=1e-7``.
    """

    name = "rmsprop"
    option_names = ("centered", "eps_mode", "lr_in_buffer")
    equations = ("s ← ρ·s + (1 − ρ)·g²", "b ← μ·b + g / (√s + ε)   (μ = 0: b = g/(√s + ε))",
                 "p ← p − η·b")
    elementwise = True
    kernel = "rmsprop"

    rho = Hyper(CLOSED_UNIT, "decay ρ of the mean square")
    eps = Hyper(POSITIVE, "ε added to the root")
    momentum = Hyper(NONNEGATIVE, "momentum factor μ")

    def __init__(self, lr: Any = 0.01, rho: Any = 0.99, eps: Any = 1e-8, momentum: Any = 0.0,
                 centered: bool = False, weight_decay: Any = 0.0, *, eps_mode: str = "outside",
                 lr_in_buffer: bool = False, maximize: bool = False, **options: Any) -> None:
        super().__init__(lr, weight_decay, maximize=maximize, **options)
        self.rho = rho
        self.eps = eps
        self.momentum = momentum
        self.centered = bool(centered)
        self.eps_mode = choice("eps_mode", eps_mode, ("outside", "inside"))
        self.lr_in_buffer = bool(lr_in_buffer)
        self.slots = ("square_avg",) + (("grad_avg",) if self.centered else ()) + (
            ("buffer",) if self.lr_in_buffer or np.any(np.asarray(momentum) != 0) else ())

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        s = var = ema_square(state["square_avg"], g, h.rho)  # s = ρs + (1 − ρ)g²
        if self.centered:
            gbar = ema(state["grad_avg"], g, h.rho)  # ḡ = ρḡ + (1 − ρ)g
            var = s - gbar * gbar
        denom = np.sqrt(var) + h.eps if self.eps_mode == "outside" else np.sqrt(var + h.eps)
        if "buffer" not in state:
            p -= h.lr * (g / denom)
        elif self.lr_in_buffer:  # b = μb + ηg/d;  p −= b
            b = state["buffer"]
            b *= h.momentum
            b += h.lr * (g / denom)
            p -= b
        else:  # b = μb + g/d;  p −= ηb
            b = state["buffer"]
            b *= h.momentum
            b += g / denom
            p -= h.lr * b
