"""RMSprop: divide by a running root-mean-square of the gradients."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from .base import Optimizer, is_schedule
from .hyperparams import CLOSED_UNIT, NONNEGATIVE, POSITIVE, Choice, Flag, Hyper, Number
from .lineage import Lineage
from .moments import bias_correction, ema, ema_square
from .references import Reference
from .registry import register


@register
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

    optax's options: ``initial_scale`` is the value s starts at; ``bias_correction=True``
    divides s (and ḡ) by :math:`1 - \rho^t` before the root; ``nesterov=True`` steps along
    :math:`g_t/d_t + \mu b_t` instead of :math:`b_t` (optax's ``trace(nesterov=True)``).
    ``optax.rmsprop(lr, decay, eps, initial_scale, eps_in_sqrt, centered, momentum, nesterov,
    bias_correction)`` is ``RMSprop(lr, rho=decay, eps=eps, momentum=momentum or 0,
    centered=centered, eps_mode="inside" if eps_in_sqrt else "outside", lr_in_buffer=True,
    initial_scale=..., nesterov=..., bias_correction=...)``.

    Defaults: ``lr=0.01, rho=0.99, eps=1e-8, momentum=0`` — PyTorch's
    ``torch.optim.RMSprop(alpha=rho)``. Keras: ``rho=0.9, eps=1e-7, eps_mode="inside",
    lr_in_buffer=True``; the classic textbook code: ``eps=1e-7``.
    """

    name = "rmsprop"
    lineage = Lineage(("adagrad",), "leaky average of g²", 2012, "Hinton 2012")
    references = (
        Reference("torch.optim.RMSprop"),
        Reference("torch.optim.RMSprop", {"momentum": 0.5, "centered": True},
                  {"momentum": 0.5, "centered": True}),
        Reference("optax.rmsprop", {"lr": 0.01, "rho": 0.9, "eps_mode": "inside"},
                  {"learning_rate": 0.01}, rate="decaying"),
        Reference("optax.rmsprop",
                  {"lr": 0.01, "rho": 0.9, "momentum": 0.6, "eps_mode": "inside",
                   "lr_in_buffer": True},
                  {"learning_rate": 0.01, "momentum": 0.6}, rate="decaying"),
        Reference("optax.rmsprop", {"lr": 0.01, "rho": 0.9, "centered": True, "eps_mode": "inside"},
                  {"learning_rate": 0.01, "centered": True}),
        Reference("optax.rmsprop",
                  {"lr": 0.01, "rho": 0.9, "momentum": 0.6, "eps_mode": "inside",
                   "lr_in_buffer": True, "initial_scale": 0.1, "nesterov": True,
                   "bias_correction": True},
                  {"learning_rate": 0.01, "momentum": 0.6, "initial_scale": 0.1, "nesterov": True,
                   "bias_correction": True}, rate="decaying"),
        Reference("keras.optimizers.RMSprop",
                  {"lr": 0.001, "rho": 0.9, "eps": 1e-7, "eps_mode": "inside"}),
        Reference("keras.optimizers.RMSprop",
                  {"lr": 0.01, "rho": 0.9, "eps": 1e-7, "momentum": 0.7, "centered": True,
                   "eps_mode": "inside", "lr_in_buffer": True},
                  {"learning_rate": 0.01, "momentum": 0.7, "centered": True}, rate="decaying"),
        Reference("keras.optimizers.RMSprop",
                  {"lr": 0.01, "rho": 0.9, "eps": 1e-7, "momentum": 0.5, "eps_mode": "inside",
                   "lr_in_buffer": True},
                  {"learning_rate": 0.01, "momentum": 0.5}, rate="decaying"),
    )
    colour = "#8c564b"  # in every lab figure (viz.style.PALETTE)
    centered = Flag("divide by the root of the variance s − ḡ² (Graves 2013)")
    eps_mode = Choice(("outside", "inside"), "ε outside the root (PyTorch) or inside (Keras)")
    lr_in_buffer = Flag("the rate inside the momentum buffer (Keras, optax)",
                        fixed_once_started=True)
    initial_scale = Number(NONNEGATIVE, "the value the mean square s starts at (optax)",
                           fixed_once_started=True)
    nesterov = Flag("step along g/d + μ·b (optax's trace(nesterov=True))")
    bias_correction = Flag("divide s (and ḡ) by 1 − ρᵗ before the root (optax)")
    equations = ("s ← ρ·s + (1 − ρ)·g²", "b ← μ·b + g / (√s + ε)   (μ = 0: b = g/(√s + ε))",
                 "p ← p − η·b",
                 "optax: s starts at initial_scale; bias_correction: ŝ = s/(1 − ρᵗ); "
                 "nesterov: p ← p − η·(g/(√s + ε) + μ·b)")
    elementwise = True
    kernel = "rmsprop"
    nonnegative_slots = ("square_avg",)

    rho = Hyper(CLOSED_UNIT, "decay ρ of the mean square", search=(0.9, 0.999))
    eps = Hyper(POSITIVE, "ε added to the root", tunable=False)
    momentum = Hyper(NONNEGATIVE, "momentum factor μ", tunable=False)  # 0: plain RMSprop

    def __init__(self, lr: Any = 0.01, rho: Any = 0.99, eps: Any = 1e-8, momentum: Any = 0.0,
                 centered: bool = False, weight_decay: Any = 0.0, *, eps_mode: str = "outside",
                 lr_in_buffer: bool = False, initial_scale: Any = 0.0, nesterov: bool = False,
                 bias_correction: bool = False, maximize: bool = False,
                 **options: Any) -> None:
        super().__init__(lr, weight_decay, maximize=maximize, **options)
        self.rho = rho
        self.eps = eps
        self.momentum = momentum
        self.centered = centered
        self.eps_mode = eps_mode
        self.lr_in_buffer = lr_in_buffer
        self.initial_scale = initial_scale
        self.nesterov = nesterov
        self.bias_correction = bias_correction

    def check_settings(self, values: dict[str, Any]) -> None:
        """``nesterov`` steps along g/d + μ·b: with no momentum at all (a fixed μ = 0) it
        would change nothing, so it is refused (a schedule or an array of μ is not)."""
        if not values.get("nesterov") or is_schedule(self._hyper.get("momentum")):
            return
        momentum = values.get("momentum", 0.0)
        if not np.any(np.asarray(momentum) != 0):
            raise InputError(f"nesterov needs momentum > 0: with momentum={momentum!r} it "
                             "would change nothing (to drop both, set nesterov=False first)")

    @property
    def slots(self) -> tuple[str, ...]:  # type: ignore[override]
        """``square_avg``, ``grad_avg`` if centered, ``buffer`` if there is momentum (a
        schedule counts) or the rate is in the buffer. Set ``momentum`` after construction and
        the buffer starts (at zero) at the next update; set it to 0 and the buffer goes."""
        momentum = self._hyper["momentum"]
        buffer = self.lr_in_buffer or is_schedule(momentum) or np.any(momentum != 0)
        return ("square_avg",) + (("grad_avg",) if self.centered else ()) + (
            ("buffer",) if buffer else ())

    def initial_value(self, slot: str) -> Any:
        return self.initial_scale if slot == "square_avg" else 0.0

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        s = ema_square(state["square_avg"], g, h.rho)  # s = ρs + (1 − ρ)g²
        bc = bias_correction(h.rho, h.t) if self.bias_correction else None  # optax: ŝ
        var = s if bc is None else s / bc
        if self.centered:
            gbar = ema(state["grad_avg"], g, h.rho)  # ḡ = ρḡ + (1 − ρ)g
            gbar_hat = gbar if bc is None else gbar / bc
            var = var - gbar_hat * gbar_hat
        denom = np.sqrt(var) + h.eps if self.eps_mode == "outside" else np.sqrt(var + h.eps)
        if "buffer" not in state:
            p -= h.lr * (g / denom)
        elif self.lr_in_buffer:  # b = μb + ηg/d;  p −= b   (Nesterov: p −= ηg/d + μb)
            b, step = state["buffer"], h.lr * (g / denom)
            b *= h.momentum
            b += step
            p -= step + h.momentum * b if self.nesterov else b
        else:  # b = μb + g/d;  p −= ηb   (Nesterov: p −= η(g/d + μb))
            b, step = state["buffer"], g / denom
            b *= h.momentum
            b += step
            p -= h.lr * (step + h.momentum * b) if self.nesterov else h.lr * b
