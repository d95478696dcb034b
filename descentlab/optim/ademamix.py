"""AdEMAMix: Adam with a second, slow momentum mixed into the numerator."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .adam import AdamFamily
from .hyperparams import NONNEGATIVE, UNIT, Hyper
from .lineage import Lineage
from .moments import bias_correction, ema, ema_square
from .references import Reference
from .registry import register


@register
class AdEMAMix(AdamFamily):
    r"""AdEMAMix (Pagliardini, Ablin & Grangier, "The AdEMAMix Optimizer: Better, Faster,
    Older", ICLR 2025; arXiv:2409.03137), optax's ``optax.contrib.ademamix``.

    .. math::
        m^{(1)}_t = \beta_1 m^{(1)}_{t-1} + (1 - \beta_1)\, g_t, \qquad
        m^{(2)}_t = \beta_3 m^{(2)}_{t-1} + (1 - \beta_3)\, g_t, \qquad
        \nu_t = \beta_2 \nu_{t-1} + (1 - \beta_2)\, g_t^2 \\
        p_t = p_{t-1} - \eta\left(\frac{m^{(1)}_t/(1 - \beta_1^t) + \alpha\, m^{(2)}_t}
              {\sqrt{\nu_t/(1 - \beta_2^t) + \bar\epsilon} + \epsilon}
              + \lambda\, p_{t-1}\right)

    The fast EMA (β1 = 0.9) reacts, the slow one (β3 = 0.9999, not bias-corrected) remembers
    ~10k steps of gradients. The paper warms α and β3 up; pass schedules (callables of the
    update count, as optax calls ``alpha``/``b3`` with its count) for that. Weight decay is
    decoupled (optax's, multiplied by η). :math:`\bar\epsilon` is ``eps_root``.

    Defaults: ``lr=0.001, beta1=0.9, beta2=0.999, beta3=0.9999, alpha=5, eps=1e-8,
    eps_root=0, weight_decay=0`` — optax's ``ademamix`` (optax has no default rate).
    Equals ``optax.contrib.ademamix(lr, b1, b2, b3, alpha, eps, eps_root,
    weight_decay=...)``.

    >>> params = {"x": 1.0}
    >>> opt = AdEMAMix(lr=0.1, alpha=0.0, eps=1e-300)   # α = 0: Adam's first step
    >>> opt.update(params, {"x": 2.0})
    >>> round(params["x"], 12)
    0.9
    """

    name = "ademamix"
    lineage = Lineage(("adamw",), "a mix of a fast and a slow EMA", 2025, "Pagliardini et al. 2025")
    references = (
        Reference("optax.contrib.ademamix", theirs={"learning_rate": 0.001}),
    )
    slots = ("m1", "m2", "nu")
    nonnegative_slots = ("nu",)
    elementwise = True
    kernel = "ademamix"
    equations: ClassVar[tuple[str, ...]] = (
        "m1 ← β1·m1 + (1 − β1)·g,   m2 ← β3·m2 + (1 − β3)·g,   ν ← β2·ν + (1 − β2)·g²",
        "p ← p − η·((m1/(1 − β1ᵗ) + α·m2) / (√(ν/(1 − β2ᵗ) + ε_root) + ε) + λ·p)",
    )

    beta3 = Hyper(UNIT, "decay β3 of the slow first moment", search=(0.99, 0.9999))
    alpha = Hyper(NONNEGATIVE, "weight α of the slow moment", search=(1.0, 10.0))
    eps_root = Hyper(NONNEGATIVE, "ε inside the square root", tunable=False)

    def __init__(self, lr: Any = 0.001, beta1: Any = 0.9, beta2: Any = 0.999,
                 beta3: Any = 0.9999, alpha: Any = 5.0, eps: Any = 1e-8,
                 weight_decay: Any = 0.0, *, eps_root: Any = 0.0, maximize: bool = False,
                 **options: Any) -> None:
        options.setdefault("decoupled_weight_decay", True)
        super().__init__(lr, beta1, beta2, eps, weight_decay, maximize=maximize, **options)
        self.beta3 = beta3
        self.alpha = alpha
        self.eps_root = eps_root

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        m1 = ema(state["m1"], g, h.beta1)  # m1 = β1·m1 + (1 − β1)·g
        m2 = ema(state["m2"], g, h.beta3)  # m2 = β3·m2 + (1 − β3)·g
        nu = ema_square(state["nu"], g, h.beta2)  # ν = β2·ν + (1 − β2)·g²
        p -= h.lr * ((m1 / bias_correction(h.beta1, h.t) + h.alpha * m2)
                     / (np.sqrt(nu / bias_correction(h.beta2, h.t) + h.eps_root) + h.eps))
