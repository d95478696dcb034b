"""Simplified AdEMAMix: one undamped momentum plus a share of the current gradient."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .adam import AdamFamily
from .hyperparams import NONNEGATIVE, Hyper
from .lineage import Lineage
from .moments import bias_correction, ema_square
from .references import Reference
from .registry import register


@register
class SimplifiedAdEMAMix(AdamFamily):
    r"""Simplified AdEMAMix (Morwani, Vyas, Kakade et al., "Connections between Schedule-Free
    Optimizers, AdEMAMix, and Accelerated SGD Variants", arXiv:2502.02431, 2025), optax's
    ``optax.contrib.simplified_ademamix``.

    One momentum that sums the gradients without the (1 − β1) damping, plus α times the
    current gradient, over Adam's bias-corrected RMS:

    .. math::
        m_t = \beta_1 m_{t-1} + g_t, \qquad
        \nu_t = \beta_2 \nu_{t-1} + (1 - \beta_2)\, g_t^2, \qquad
        \hat\nu_t = \frac{\nu_t}{1 - \beta_2^t} \\
        p_t = p_{t-1} - \eta\,\Bigl(\frac{m_t + \alpha\, g_t}
              {\sqrt{\hat\nu_t + \bar\epsilon} + \epsilon} + \lambda\, p_{t-1}\Bigr)

    m is about :math:`g/(1 - \beta_1)`, a hundred times Adam's at β1 = 0.99, so the rate is
    about a hundredth of Adam's. α may be a schedule (a callable of the update count), as in
    optax.

    Defaults: ``lr=1e-05, beta1=0.99, beta2=0.95, alpha=0.0, eps=1e-8, eps_root=0.0,
    weight_decay=0.0`` — optax's (optax has no default rate: 1e-5 is a hundredth of Adam's
    1e-3). Equals ``optax.contrib.simplified_ademamix(lr, b1, b2, alpha, eps, eps_root,
    weight_decay)``.

    >>> params = {"x": 1.0}
    >>> opt = SimplifiedAdEMAMix(lr=0.1, alpha=1.0, eps=1e-300)
    >>> opt.update(params, {"x": 2.0})   # m = 2, ν̂ = 4: p = 1 − 0.1·(2 + 2)/2
    >>> round(params["x"], 12)
    0.8
    """

    name = "simplified_ademamix"
    lineage = Lineage(("ademamix",), "one undamped momentum + α·g", 2025, "Morwani et al. 2025")
    references = (
        Reference("optax.contrib.simplified_ademamix", theirs={"learning_rate": 1e-5}),
        Reference("optax.contrib.simplified_ademamix", {"lr": 1e-3, "alpha": 2.0},
                  {"learning_rate": 1e-3, "alpha": 2.0}),
    )
    slots = ("m", "nu")
    nonnegative_slots = ("nu",)
    elementwise = True
    kernel = "simplified_ademamix"
    equations: ClassVar[tuple[str, ...]] = (
        "m ← β1·m + g,   ν ← β2·ν + (1 − β2)·g²",
        "p ← p − η·((m + α·g) / (√(ν/(1 − β2ᵗ) + ε_root) + ε) + λ·p)",
    )

    lr = AdamFamily.lr.replace(search=(1e-7, 0.1))  # m sums the gradients: ~1/100 of Adam's
    beta1 = AdamFamily.beta1.replace(search=(0.9, 0.9999))
    alpha = Hyper(NONNEGATIVE, "weight α of the current gradient", search=(0.0, 10.0))
    eps_root = Hyper(NONNEGATIVE, "ε inside the square root", tunable=False)

    def __init__(self, lr: Any = 1e-5, beta1: Any = 0.99, beta2: Any = 0.95,
                 alpha: Any = 0.0, eps: Any = 1e-8, weight_decay: Any = 0.0, *,
                 eps_root: Any = 0.0, maximize: bool = False, **options: Any) -> None:
        options.setdefault("decoupled_weight_decay", True)
        super().__init__(lr, beta1, beta2, eps, weight_decay, maximize=maximize, **options)
        self.alpha = alpha
        self.eps_root = eps_root

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        m = state["m"]
        m *= h.beta1
        m += g  # m = β1·m + g
        nu = ema_square(state["nu"], g, h.beta2)  # ν = β2·ν + (1 − β2)·g²
        p -= h.lr * ((m + h.alpha * g)
                     / (np.sqrt(nu / bias_correction(h.beta2, h.t) + h.eps_root) + h.eps))
