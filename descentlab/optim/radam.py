"""RAdam: Adam with its variance rectified while the second moment is young."""

from __future__ import annotations

from typing import Any

import numpy as np

from .adam import AdamFamily
from .lineage import Lineage
from .moments import bias_correction, ema, ema_square
from .references import Reference
from .registry import register


@register
class RAdam(AdamFamily):
    r"""RAdam (Liu et al., "On the Variance of the Adaptive Learning Rate and Beyond", ICLR
    2020), PyTorch's form.

    .. math::
        m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2, \qquad
        \hat m_t = m_t / (1 - \beta_1^t) \\
        \rho_\infty = \frac{2}{1 - \beta_2} - 1, \qquad
        \rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1 - \beta_2^t} \\
        \rho_t > 5:\quad r_t = \sqrt{\frac{(\rho_t - 4)(\rho_t - 2)\rho_\infty}
                                          {(\rho_\infty - 4)(\rho_\infty - 2)\rho_t}},
        \qquad p_t = p_{t-1} - \eta\, \hat m_t\, \frac{\sqrt{1 - \beta_2^t}}{\sqrt{v_t} + \epsilon}
                     \, r_t \\
        \text{otherwise:}\quad p_t = p_{t-1} - \eta\, \hat m_t \quad\text{(momentum SGD)}

    ``decoupled_weight_decay=True`` shrinks ``p ← p(1 − ηλ)`` before the step instead of adding
    λp to the gradient (PyTorch's ``RAdam(decoupled_weight_decay=True)``, "RAdamW").

    Defaults: ``lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0`` —
    ``torch.optim.RAdam``; equal to it with every option (tests/test_optim_torch_new.py).

    >>> params = {"x": 1.0}
    >>> opt = RAdam(lr=0.1)
    >>> opt.update(params, {"x": 2.0})   # ρ₁ ≤ 5: a plain momentum step, η·m̂ = 0.1·2
    >>> round(params["x"], 12)
    0.8
    """

    name = "radam"
    lineage = Lineage(("adam",), "rectification of the variance", 2020, "Liu et al. 2020")
    references = (
        Reference("torch.optim.RAdam"),
        Reference("torch.optim.RAdam", {"weight_decay": 0.01, "decoupled_weight_decay": True},
                  {"weight_decay": 0.01, "decoupled_weight_decay": True}),
    )
    slots = ("m", "v")
    nonnegative_slots = ("v",)
    equations = ("m ← β1·m + (1 − β1)·g,   v ← β2·v + (1 − β2)·g²,   m̂ = m / (1 − β1ᵗ)",
                 "ρ∞ = 2/(1 − β2) − 1,   ρₜ = ρ∞ − 2t·β2ᵗ/(1 − β2ᵗ)",
                 "ρₜ > 5: r = √((ρₜ − 4)(ρₜ − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρₜ)),",
                 "        p ← p − η·m̂·√(1 − β2ᵗ)/(√v + ε)·r",
                 "else:   p ← p − η·m̂")
    elementwise = True
    kernel = "radam"

    def __init__(self, lr: Any = 0.001, beta1: Any = 0.9, beta2: Any = 0.999, eps: Any = 1e-8,
                 weight_decay: Any = 0.0, decoupled_weight_decay: bool = False, *,
                 maximize: bool = False, **options: Any) -> None:
        super().__init__(lr, beta1, beta2, eps, weight_decay,
                         decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
                         **options)

    @staticmethod
    def rectification(beta2: Any, t: int) -> tuple[Any, Any]:
        """(ρₜ, rₜ): the length of the approximated moving average and the rectification
        factor (meaningful where ρₜ > 5; ``None`` for a scalar ρₜ ≤ 5)."""
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * beta2**t / bias_correction(beta2, t)
        if np.ndim(rho_t) == 0 and not rho_t > 5:
            return rho_t, None
        r = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
        return rho_t, r

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        m = ema(state["m"], g, h.beta1)  # m = β1·m + (1 − β1)·g
        v = ema_square(state["v"], g, h.beta2)  # v = β2·v + (1 − β2)·g²
        step = m / bias_correction(h.beta1, h.t) * h.lr  # η·m̂
        rho_t, r = self.rectification(h.beta2, h.t)
        if r is None:  # ρₜ ≤ 5: the variance is not yet tractable
            p -= step
            return
        rectified = step * (bias_correction(h.beta2, h.t) ** 0.5 / (np.sqrt(v) + h.eps)) * r
        p -= rectified if np.ndim(rho_t) == 0 else np.where(rho_t > 5, rectified, step)
