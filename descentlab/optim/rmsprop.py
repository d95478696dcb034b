"""RMSprop: divide by a running root-mean-square of the gradients."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Optimizer, is_schedule
from .hyperparams import CLOSED_UNIT, NONNEGATIVE, POSITIVE, Choice, Flag, Hyper


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
    centered = Flag("divide by the root of the variance s − ḡ² (Graves 2013)")
    eps_mode = Choice(("outside", "inside"), "ε outside the root (PyTorch) or inside (Keras)")
    lr_in_buffer = Flag("the rate inside the momentum buffer (Keras, optax)",
                        fixed_once_started=True)

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
        self.centered = centered
        self.eps_mode = eps_mode
        self.lr_in_buffer = lr_in_buffer

    @property
    def slots(self) -> tuple[str, ...]:  # type: ignore[override]
        """``square_avg``, ``grad_avg`` if centered, ``buffer`` if there is momentum (a
        schedule counts) or the rate is in the buffer. Set ``momentum`` after construction and
        the buffer starts (at zero) at the next update; set it to 0 and the buffer goes."""
        momentum = self._hyper["momentum"]
        buffer = self.lr_in_buffer or is_schedule(momentum) or np.any(momentum != 0)
        return ("square_avg",) + (("grad_avg",) if self.centered else ()) + (
            ("buffer",) if buffer else ())

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        s = state["square_avg"]
        s *= h.rho
        s += (1 - h.rho) * g * g  # s = ρs + (1 − ρ)g²
        var = s
        if self.centered:
            gbar = state["grad_avg"]
            gbar += (1 - h.rho) * (g - gbar)  # ḡ = ρḡ + (1 − ρ)g
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
