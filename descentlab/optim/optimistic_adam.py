"""Optimistic Adam: the optimistic correction applied to Adam's direction."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .adam import AdamFamily
from .hyperparams import NONNEGATIVE, Flag, Hyper
from .lineage import Lineage
from .moments import bias_correction, ema, ema_square
from .references import Reference
from .registry import register


@register
class OptimisticAdam(AdamFamily):
    r"""Optimistic Adam (Daskalakis, Ilyas, Syrgkanis & Zeng, "Training GANs with Optimism",
    ICLR 2018; arXiv:1711.00141), optax's ``optax.optimistic_adam_v2``.

    With Adam's direction :math:`d_t` (optax's: Nesterov's :math:`\hat m_t` by default, ε̄
    inside the root):

    .. math::
        m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2 \\
        \hat m_t = \frac{\beta_1 m_t}{1 - \beta_1^{t+1}} + \frac{(1 - \beta_1)\, g_t}
        {1 - \beta_1^t} \quad (\text{``nesterov=False``: } \frac{m_t}{1 - \beta_1^t}),
        \qquad d_t = \frac{\hat m_t}{\sqrt{v_t/(1 - \beta_2^t) + \bar\epsilon} + \epsilon} \\
        p_t = p_{t-1} - \eta\,\bigl((\alpha + \beta)\, d_t - \beta\, d_{t-1}\bigr)
        \quad (d_0 = d_1)

    optax's deprecated ``optax.optimistic_adam(lr, optimism)`` is this rule with
    ``lr=1, alpha=lr, beta=optimism``.

    Defaults: ``lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, eps_root=0.0, alpha=1.0,
    beta=1.0, nesterov=True`` — optax's (optax has no default rate). Equals
    ``optax.optimistic_adam_v2(lr, alpha=..., beta=..., b1=..., b2=..., eps=...,
    eps_root=..., nesterov=...)``.

    >>> params = {"x": 1.0}
    >>> opt = OptimisticAdam(lr=0.1, eps=1e-300, nesterov=False)
    >>> opt.update(params, {"x": 2.0})    # d = 1: the first step is η·α·d
    >>> round(params["x"], 12)
    0.9
    """

    name = "optimistic_adam"
    lineage = Lineage(("adam", "optimistic_gradient_descent"), "optimism on Adam's step", 2018,
                      "Daskalakis et al. 2018")
    references = (
        Reference("optax.optimistic_adam_v2", theirs={"learning_rate": 0.001}),
        Reference("optax.optimistic_adam_v2", {"nesterov": False},
                  {"learning_rate": 0.001, "nesterov": False}),
        Reference("optax.optimistic_adam", {"lr": 1.0, "alpha": 0.001, "beta": 0.5},
                  {"learning_rate": 0.001, "optimism": 0.5}, note="deprecated in optax"),
    )
    slots = ("m", "v", "previous")
    nonnegative_slots = ("v",)
    elementwise = True
    kernel = "optimistic_adam"
    nesterov = Flag("Nesterov's m̂ (optax's default)")
    equations: ClassVar[tuple[str, ...]] = (
        "m ← β1·m + (1 − β1)·g,   v ← β2·v + (1 − β2)·g²",
        "d = m̂ / (√(v / (1 − β2ᵗ) + ε_root) + ε),   m̂ Nesterov's or m / (1 − β1ᵗ)",
        "p ← p − η·((α + β)·d − β·d_prev)   (d_prev = d at t = 1),   d_prev ← d",
    )

    eps_root = Hyper(NONNEGATIVE, "ε inside the square root", tunable=False)
    alpha = Hyper(NONNEGATIVE, "weight α of the current direction", tunable=False)
    beta = Hyper(NONNEGATIVE, "weight β of the optimistic correction d − d_prev",
                 search=(0.0, 2.0))

    def __init__(self, lr: Any = 0.001, beta1: Any = 0.9, beta2: Any = 0.999, eps: Any = 1e-8,
                 eps_root: Any = 0.0, alpha: Any = 1.0, beta: Any = 1.0,
                 weight_decay: Any = 0.0, *, nesterov: bool = True, maximize: bool = False,
                 **options: Any) -> None:
        super().__init__(lr, beta1, beta2, eps, weight_decay, maximize=maximize, **options)
        self.eps_root = eps_root
        self.alpha = alpha
        self.beta = beta
        self.nesterov = nesterov

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        m = ema(state["m"], g, h.beta1)  # m = β1·m + (1 − β1)·g
        v = ema_square(state["v"], g, h.beta2)  # v = β2·v + (1 − β2)·g²
        bc1 = bias_correction(h.beta1, h.t)
        if self.nesterov:
            m_hat = (h.beta1 / bias_correction(h.beta1, h.t + 1)) * m + ((1 - h.beta1) / bc1) * g
        else:
            m_hat = m / bc1
        d = m_hat / (np.sqrt(v / bias_correction(h.beta2, h.t) + h.eps_root) + h.eps)
        previous = state["previous"]
        if h.t == 1:
            previous[...] = d
        p -= h.lr * ((h.alpha + h.beta) * d - h.beta * previous)
        previous[...] = d
