"""AdaBelief: Adam whose second moment tracks the gradient's deviation from its mean."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .adam import AdamFamily
from .hyperparams import NONNEGATIVE, Flag, Hyper
from .lineage import Lineage
from .moments import bias_correction, ema
from .references import Reference
from .registry import register


@register
class AdaBelief(AdamFamily):
    r"""AdaBelief (Zhuang et al., "AdaBelief Optimizer: Adapting Stepsizes by the Belief in
    Observed Gradients", NeurIPS 2020; arXiv:2010.07468), optax's ``optax.adabelief``.

    .. math::
        m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
        s_t = \beta_2 s_{t-1} + (1 - \beta_2)\,(g_t - m_t)^2 + \bar\epsilon \\
        \hat m_t = \frac{m_t}{1 - \beta_1^t}, \qquad \hat s_t = \frac{s_t}{1 - \beta_2^t},
        \qquad p_t = p_{t-1} - \eta\, \frac{\hat m_t}{\sqrt{\hat s_t} + \epsilon}

    :math:`\bar\epsilon` is ``eps_root``. ``nesterov=True`` (optax's) replaces
    :math:`\hat m_t` by :math:`\beta_1 m_t/(1 - \beta_1^{t+1}) + (1 - \beta_1)\, g_t/(1 -
    \beta_1^t)`.

    Defaults: ``lr=0.001, beta1=0.9, beta2=0.999, eps=1e-16, eps_root=1e-16`` — optax's
    (optax has no default rate). The paper's defaults are ``eps=1e-8, eps_root=0``.
    Equals ``optax.adabelief(lr, b1, b2, eps, eps_root, nesterov=nesterov)``.

    >>> params = {"x": 1.0}
    >>> opt = AdaBelief(lr=0.1)
    >>> opt.update(params, {"x": 2.0})   # m̂ = 2, ŝ = (2 − 0.2)²·0.001/0.001 = 3.24
    >>> round(params["x"], 12)           # 1 − 0.1·2/1.8
    0.888888888889
    """

    name = "adabelief"
    lineage = Lineage(("adam",), "belief in the gradient", 2020, "Zhuang et al. 2020")
    references = (
        Reference("optax.adabelief", theirs={"learning_rate": 0.001}),
        Reference("optax.adabelief", {"nesterov": True},
                  {"learning_rate": 0.001, "nesterov": True}),
    )
    slots = ("m", "s")
    nonnegative_slots = ("s",)
    nesterov = Flag("Nesterov's m̂ (optax adabelief(nesterov=True))")
    elementwise = True
    kernel = "adabelief"
    equations: ClassVar[tuple[str, ...]] = (
        "m ← β1·m + (1 − β1)·g,   s ← β2·s + (1 − β2)·(g − m)² + ε_root",
        "m̂ = m / (1 − β1ᵗ),   ŝ = s / (1 − β2ᵗ)",
        "p ← p − η·m̂ / (√ŝ + ε)",
    )

    eps_root = Hyper(NONNEGATIVE, "ε added to the belief moment every step", tunable=False)

    def __init__(self, lr: Any = 0.001, beta1: Any = 0.9, beta2: Any = 0.999,
                 eps: Any = 1e-16, eps_root: Any = 1e-16, weight_decay: Any = 0.0, *,
                 nesterov: bool = False, maximize: bool = False, **options: Any) -> None:
        super().__init__(lr, beta1, beta2, eps, weight_decay, maximize=maximize, **options)
        self.eps_root = eps_root
        self.nesterov = nesterov

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        m = ema(state["m"], g, h.beta1)  # m = β1·m + (1 − β1)·g
        s = state["s"]
        s *= h.beta2
        s += (1 - h.beta2) * (g - m) ** 2 + h.eps_root  # s = β2·s + (1 − β2)·(g − m)² + ε̄
        bc1 = bias_correction(h.beta1, h.t)
        if self.nesterov:
            m_hat = (h.beta1 / bias_correction(h.beta1, h.t + 1)) * m + ((1 - h.beta1) / bc1) * g
        else:
            m_hat = m / bc1
        p -= h.lr * (m_hat / (np.sqrt(s / bias_correction(h.beta2, h.t)) + h.eps))
