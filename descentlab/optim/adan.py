"""Adan: adaptive Nesterov momentum from moments of the gradient and its change."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .adam import AdamFamily
from .hyperparams import NONNEGATIVE, UNIT, Flag, Hyper
from .lineage import Lineage
from .moments import bias_correction, ema
from .references import Reference
from .registry import register


@register
class Adan(AdamFamily):
    r"""Adan (Xie et al., "Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing
    Deep Models", TPAMI 2024; arXiv:2208.06677), optax's ``optax.adan``.

    With :math:`\Delta_t = g_t - g_{t-1}` (:math:`\Delta_1 = 0`):

    .. math::
        m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, \Delta_t \\
        n_t = \beta_3 n_{t-1} + (1 - \beta_3)\,\bigl(g_t + (1 - \beta_2) \Delta_t\bigr)^2 \\
        u_t = \frac{m_t/(1 - \beta_1^t) + (1 - \beta_2)\, v_t/(1 - \beta_2^t)}
                   {\sqrt{n_t/(1 - \beta_3^t) + \bar\epsilon} + \epsilon}, \qquad
        p_t = p_{t-1} - \eta\,(u_t + \lambda\, p_{t-1})

    (optax's β's are the paper's 1 − β: ``beta1=0.98`` is the paper's β1 = 0.02.)
    :math:`\bar\epsilon` is ``eps_root``. The slot ``g_prev`` keeps the last gradient.

    Weight decay: optax decays decoupled, :math:`p - \eta(u + \lambda p)` (default);
    ``proximal_decay=True`` is the paper's Algorithm 1,
    :math:`p_t = (p_{t-1} - \eta u_t)/(1 + \lambda\eta)`.

    Defaults: ``lr=0.001, beta1=0.98, beta2=0.92, beta3=0.99, eps=1e-8, eps_root=1e-8,
    weight_decay=0`` — optax's (optax has no default rate; the paper's ViT runs use 1e-3
    scale). Equals ``optax.adan(lr, b1, b2, b3, eps, eps_root, weight_decay)``.

    >>> params = {"x": 1.0}
    >>> opt = Adan(lr=0.1, eps=1e-300, eps_root=0.0)
    >>> opt.update(params, {"x": 2.0})   # Δ₁ = 0: u = m̂/√n̂ = 2/2
    >>> round(params["x"], 12)
    0.9
    """

    name = "adan"
    lineage = Lineage(("adam", "nesterov"), "Nesterov by gradient differences", 2024,
                      "Xie et al. 2024")
    references = (
        Reference("optax.adan", theirs={"learning_rate": 0.001}),
    )
    slots = ("m", "v", "n", "g_prev")
    nonnegative_slots = ("n",)
    proximal_decay = Flag("the paper's proximal decay p ← (p − ηu)/(1 + λη) instead of optax's")
    elementwise = True
    kernel = "adan"
    equations: ClassVar[tuple[str, ...]] = (
        "Δ = g − g_prev (0 at t = 1)",
        "m ← β1·m + (1 − β1)·g,   v ← β2·v + (1 − β2)·Δ",
        "n ← β3·n + (1 − β3)·(g + (1 − β2)·Δ)²",
        "u = (m/(1 − β1ᵗ) + (1 − β2)·v/(1 − β2ᵗ)) / (√(n/(1 − β3ᵗ) + ε_root) + ε)",
        "p ← p − η·(u + λ·p)",
    )

    beta1 = AdamFamily.beta1.replace(search=(0.9, 0.99))  # optax's 1 − the paper's β
    beta2 = Hyper(UNIT, "decay β2 of the gradient-difference average", search=(0.8, 0.99))
    beta3 = Hyper(UNIT, "decay β3 of the squared Nesterov-gradient average",
                  search=(0.9, 0.999))
    eps_root = Hyper(NONNEGATIVE, "ε inside the square root", tunable=False)

    def __init__(self, lr: Any = 0.001, beta1: Any = 0.98, beta2: Any = 0.92,
                 beta3: Any = 0.99, eps: Any = 1e-8, eps_root: Any = 1e-8,
                 weight_decay: Any = 0.0, *, proximal_decay: bool = False,
                 maximize: bool = False, **options: Any) -> None:
        options.setdefault("decoupled_weight_decay", True)
        super().__init__(lr, beta1, beta2, eps, weight_decay, maximize=maximize, **options)
        self.beta3 = beta3
        self.eps_root = eps_root
        self.proximal_decay = proximal_decay

    @property
    def decays_in_rule(self) -> bool:  # type: ignore[override]
        """The proximal form decays inside the rule; optax's is the base's decoupled decay."""
        return bool(self.proximal_decay)

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        n, g_prev = state["n"], state["g_prev"]
        diff = g - g_prev if h.t > 1 else g * 0  # Δ₁ = 0
        m = ema(state["m"], g, h.beta1)  # m = β1·m + (1 − β1)·g
        v = ema(state["v"], diff, h.beta2)  # v = β2·v + (1 − β2)·Δ
        n *= h.beta3
        n += (1 - h.beta3) * (g + (1 - h.beta2) * diff) ** 2  # n = β3·n + (1 − β3)·(g+(1−β2)Δ)²
        g_prev[...] = g
        u = (m / bias_correction(h.beta1, h.t)
             + (1 - h.beta2) * (v / bias_correction(h.beta2, h.t))) / (
            np.sqrt(n / bias_correction(h.beta3, h.t) + h.eps_root) + h.eps)
        p -= h.lr * u
        if self.proximal_decay:  # the paper: p = (p − η·u) / (1 + λη)
            p /= 1 + h.lr * h.weight_decay
