"""NAdam: Adam with Nesterov momentum."""

from __future__ import annotations

from typing import Any

import numpy as np

from .adam import AdamFamily
from .hyperparams import NONNEGATIVE, Hyper
from .lineage import Lineage
from .moments import bias_correction, ema, ema_square
from .references import Reference
from .registry import register


@register
class Nadam(AdamFamily):
    r"""NAdam (Dozat, ICLR workshop 2016), PyTorch's form.

    .. math::
        \mu_t = \beta_1\bigl(1 - \tfrac12\, 0.96^{t\psi}\bigr), \qquad
        \Pi_t = \textstyle\prod_{i \le t} \mu_i \\
        m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2, \qquad
        \hat v_t = v_t / (1 - \beta_2^t) \\
        p_t = p_{t-1} - \eta\left(\frac{1 - \mu_t}{1 - \Pi_t}\, g_t
              + \frac{\mu_{t+1}}{1 - \Pi_t\,\mu_{t+1}}\, m_t\right) \Big/
              \bigl(\sqrt{\hat v_t} + \epsilon\bigr)

    ψ is ``momentum_decay``. Keras's schedule :math:`0.96^t` is ``momentum_decay=1.0``
    (with Keras's defaults ``lr=0.001, eps=1e-7``).

    Π is held in float64. (PyTorch holds it in its default dtype, float32 unless
    ``torch.set_default_dtype(torch.float64)``: a relative difference of ~1e-9 after 100 steps.)

    Defaults: ``lr=0.002, beta1=0.9, beta2=0.999, eps=1e-8, momentum_decay=0.004`` —
    ``torch.optim.NAdam``; ``decoupled_weight_decay=True`` is PyTorch's NAdamW form.
    """

    name = "nadam"
    lineage = Lineage(("adam", "nesterov"), "Nesterov in Adam", 2016, "Dozat 2016")
    references = (
        Reference("torch.optim.NAdam"),
        Reference("torch.optim.NAdam", {"weight_decay": 0.01, "decoupled_weight_decay": True},
                  {"weight_decay": 0.01, "decoupled_weight_decay": True}),
        Reference("keras.optimizers.Nadam", {"lr": 0.001, "eps": 1e-7, "momentum_decay": 1.0}),
    )
    colour = "#7f7f7f"  # in every lab figure (viz.style.PALETTE)
    slots = ("m", "v")
    nonnegative_slots = ("v",)
    equations = ("μₜ = β1·(1 − ½·0.96^(t·ψ)),   Πₜ = μ₁···μₜ,   m, v, v̂ as Adam",
                 "p ← p − η·[(1 − μₜ)·g / (1 − Πₜ) + μₜ₊₁·m / (1 − Πₜ·μₜ₊₁)] / (√v̂ + ε)")
    elementwise = True
    kernel = "nadam"

    momentum_decay = Hyper(NONNEGATIVE, "ψ of the momentum schedule", tunable=False)

    def __init__(self, lr: Any = 0.002, beta1: Any = 0.9, beta2: Any = 0.999, eps: Any = 1e-8,
                 momentum_decay: Any = 0.004, weight_decay: Any = 0.0, *,
                 decoupled_weight_decay: bool = False, maximize: bool = False,
                 **options: Any) -> None:
        super().__init__(lr, beta1, beta2, eps, weight_decay,
                         decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
                         **options)
        self.momentum_decay = momentum_decay

    def init_globals(self) -> dict[str, Any]:
        return {"mu_product": 1.0}

    def begin_step(self, h: Any) -> None:
        h.mu = h.beta1 * (1 - 0.5 * 0.96 ** (h.t * h.momentum_decay))
        h.mu_next = h.beta1 * (1 - 0.5 * 0.96 ** ((h.t + 1) * h.momentum_decay))
        self.globals["mu_product"] = self.globals["mu_product"] * h.mu  # Π_t
        h.mu_product = self.globals["mu_product"]

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        m = ema(state["m"], g, h.beta1)  # m = β1·m + (1 − β1)·g
        v = ema_square(state["v"], g, h.beta2)  # v = β2·v + (1 − β2)·g²
        denom = np.sqrt(v / bias_correction(h.beta2, h.t)) + h.eps  # √v̂ + ε
        p -= (h.lr * (1 - h.mu) / (1 - h.mu_product)) * (g / denom)
        p -= (h.lr * h.mu_next / (1 - h.mu_product * h.mu_next)) * (m / denom)
