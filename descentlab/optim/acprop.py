"""ACProp: the gradient divided by the previous step's centred second moment."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .adam import AdamFamily
from .hyperparams import NONNEGATIVE, Hyper
from .lineage import Lineage
from .moments import bias_correction, ema
from .references import Reference
from .registry import register


@register
class ACProp(AdamFamily):
    r"""ACProp (Zhuang, Ding, Tang, Dvornek, Tatikonda & Duncan, "Momentum Centering and
    Asynchronous Update for Adaptive Gradient Methods", NeurIPS 2021; arXiv:2110.05454), as
    optax's ``optax.contrib.acprop``.

    .. math::
        \hat s_{t-1} = \frac{s_{t-1}}{1 - \beta_2^{t-1}} \quad (\hat s_0 = 1), \qquad
        p_t = p_{t-1}(1 - \eta\lambda) - \eta\, \frac{g_t}{\sqrt{\hat s_{t-1}} + \epsilon} \\
        s_t = \beta_2 s_{t-1} + (1 - \beta_2)(g_t - m_{t-1})^2 + \bar\epsilon, \qquad
        m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t

    The step divides by the *previous* centred second moment ("asynchronous": the
    denominator does not hold the current gradient). optax divides the gradient itself, not
    the momentum (the paper's Algorithm 2 divides :math:`m_t`); this is optax's form, with
    :math:`\bar\epsilon` (``eps_root``) added to s at every step. Weight decay is decoupled.

    Defaults: ``lr=0.001, beta1=0.9, beta2=0.999, eps=1e-16, eps_root=1e-16,
    weight_decay=0.0`` — optax's (optax has no default rate; 1e-3 is the paper's). Equals
    ``optax.contrib.acprop(lr, b1, b2, eps, eps_root, weight_decay)``.

    >>> params = {"x": 1.0}
    >>> opt = ACProp(lr=0.1)
    >>> opt.update(params, {"x": 2.0})    # first step: ŝ = 1, a step of η·g
    >>> round(params["x"], 12)
    0.8
    """

    name = "acprop"
    lineage = Lineage(("adabelief",), "asynchronous centred update", 2021,
                      "Zhuang et al. 2021")
    references = (
        Reference("optax.contrib.acprop", theirs={"learning_rate": 0.001}),
    )
    slots = ("m", "s")
    nonnegative_slots = ("s",)
    elementwise = True
    kernel = "acprop"
    equations: ClassVar[tuple[str, ...]] = (
        "ŝ = s / (1 − β2ᵗ⁻¹)   (1 at t = 1),   p ← p·(1 − ηλ) − η·g / (√ŝ + ε)",
        "s ← β2·s + (1 − β2)·(g − m)² + ε_root,   m ← β1·m + (1 − β1)·g",
    )

    eps_root = Hyper(NONNEGATIVE, "ε added to s at every step", tunable=False)

    def __init__(self, lr: Any = 0.001, beta1: Any = 0.9, beta2: Any = 0.999,
                 eps: Any = 1e-16, eps_root: Any = 1e-16, weight_decay: Any = 0.0, *,
                 maximize: bool = False, **options: Any) -> None:
        options.setdefault("decoupled_weight_decay", True)
        super().__init__(lr, beta1, beta2, eps, weight_decay, maximize=maximize, **options)
        self.eps_root = eps_root

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        m, s = state["m"], state["s"]
        if h.t == 1:
            p -= h.lr * (g / (1.0 + h.eps))
        else:
            p -= h.lr * (g / (np.sqrt(s / bias_correction(h.beta2, h.t - 1)) + h.eps))
        error = g - m
        s *= h.beta2
        s += (1 - h.beta2) * (error * error) + h.eps_root  # s = β2·s + (1 − β2)(g − m)² + ε̄
        ema(m, g, h.beta1)  # m = β1·m + (1 − β1)·g
