"""Simplified AdEMAMix: one momentum, a sum rather than an average, plus α times the gradient."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .base import Optimizer
from .hyperparams import NONNEGATIVE, POSITIVE, UNIT, Hyper
from .lineage import Lineage
from .moments import bias_correction, ema_square
from .registry import register


@register
class SimplifiedAdEMAMix(Optimizer):
    r"""Simplified AdEMAMix (Morwani, Vyas, Ha, Kakade & Shah, "Connections between
    Schedule-Free Optimizers, AdEMAMix, and Accelerated SGD Variants", 2025;
    arXiv:2502.02431), optax's ``optax.contrib.simplified_ademamix``.

    .. math::
        m_t = \beta_1 m_{t-1} + g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2 \\
        p_t = p_{t-1}(1 - \eta\lambda) - \eta\,
        \frac{m_t + \alpha\, g_t}{\sqrt{v_t/(1 - \beta_2^t) + \bar\epsilon} + \epsilon}

    :math:`m` sums the gradients (no 1 − β₁ factor), so its size is about
    :math:`g/(1 - \beta_1)`: with β₁ = 0.99 the rate is about a hundredth of Adam's. α may be
    a schedule (of the update count, from 0), as in optax. The weight decay is decoupled.

    Defaults: ``lr=1e-5, beta1=0.99, beta2=0.95, alpha=0.0, eps=1e-8, eps_root=0.0,
    weight_decay=0.0`` — optax's (optax has no default rate; 1e-5 is a hundredth of Adam's
    1e-3). Equals ``optax.contrib.simplified_ademamix(lr, b1, b2, alpha, eps, eps_root,
    weight_decay)``.

    >>> params = {"x": 1.0}
    >>> opt = SimplifiedAdEMAMix(lr=0.1, alpha=1.0, eps=1e-300)
    >>> opt.update(params, {"x": -2.0})   # (m + α·g)/√v̂ = −4/2
    >>> round(params["x"], 12)
    1.2
    """

    name = "simplified_ademamix"
    lineage = Lineage(("ademamix",), "one momentum, summed", 2025, "Morwani et al. 2025")
    slots = ("m", "v")
    nonnegative_slots = ("v",)
    elementwise = True
    equations: ClassVar[tuple[str, ...]] = (
        "m ← β1·m + g,   v ← β2·v + (1 − β2)·g²",
        "p ← p·(1 − ηλ) − η·(m + α·g) / (√(v / (1 − β2ᵗ) + ε_root) + ε)",
    )

    lr = Optimizer.lr.replace(search=(1e-7, 0.1))  # m sums: a hundredth of Adam's
    beta1 = Hyper(UNIT, "decay β1 of the summed momentum", search=(0.9, 0.999))
    beta2 = Hyper(UNIT, "decay β2 of the second moment", search=(0.9, 0.9999))
    alpha = Hyper(NONNEGATIVE, "weight α of the current gradient", search=(0.0, 100.0))
    eps = Hyper(POSITIVE, "ε of the denominator", tunable=False)
    eps_root = Hyper(NONNEGATIVE, "ε inside the square root", tunable=False)

    def __init__(self, lr: Any = 1e-5, beta1: Any = 0.99, beta2: Any = 0.95, alpha: Any = 0.0,
                 eps: Any = 1e-8, eps_root: Any = 0.0, weight_decay: Any = 0.0, *,
                 maximize: bool = False, **options: Any) -> None:
        options.setdefault("decoupled_weight_decay", True)
        super().__init__(lr, weight_decay, maximize=maximize, **options)
        self.beta1 = beta1
        self.beta2 = beta2
        self.alpha = alpha
        self.eps = eps
        self.eps_root = eps_root

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        m = state["m"]
        m *= h.beta1
        m += g  # m = β1·m + g
        v = ema_square(state["v"], g, h.beta2)  # v = β2·v + (1 − β2)·g²
        root = np.sqrt(v / bias_correction(h.beta2, h.t) + h.eps_root) + h.eps
        p -= h.lr * ((m + h.alpha * g) / root)
