"""Adamax: Adam with the infinity norm."""

from __future__ import annotations

from typing import Any

import numpy as np

from .adam import AdamFamily
from .hyperparams import Choice
from .lineage import Lineage
from .moments import bias_correction, ema
from .references import Reference
from .registry import Alias, register

#: optax's AdamaxW is Adamax with decoupled weight decay (optax's default λ = 1e-4).
ADAMAXW = Alias({"decoupled_weight_decay": True, "weight_decay": 1e-4},
                lineage=Lineage(("adamax", "adamw"), "decoupled weight decay", 2019,
                                "Loshchilov & Hutter 2019"),
                summary="AdamaxW (optax's adamaxw): Adamax with decoupled weight decay, "
                        "p ← p(1 − ηλ) − η·m̂/u.")


@register(aliases={"adamaxw": ADAMAXW})
class Adamax(AdamFamily):
    r"""Adamax (Kingma & Ba, ICLR 2015, section 7.1).

    .. math::
        m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
        u_t = \max(\beta_2\, u_{t-1},\ |g_t| + \epsilon) \\
        p_t = p_{t-1} - \frac{\eta}{1 - \beta_1^t}\,\frac{m_t}{u_t}

    ``eps_mode="outside"`` is Keras's placement: :math:`u_t = \max(\beta_2 u_{t-1}, |g_t|)`,
    :math:`p_t = p_{t-1} - \frac{\eta}{1-\beta_1^t} \frac{m_t}{u_t + \epsilon}`.

    ``adamaxw`` (an alias: ``decoupled_weight_decay=True, weight_decay=1e-4``; the
    decoupled decay of Loshchilov & Hutter, ICLR 2019) is optax's
    ``optax.adamaxw(lr, b1, b2, eps, weight_decay)``: :math:`p_t = p_{t-1}(1 - \eta\lambda)
    - \frac{\eta}{1-\beta_1^t} \frac{m_t}{u_t}`.

    Defaults: ``lr=0.002, beta1=0.9, beta2=0.999, eps=1e-8`` — ``torch.optim.Adamax``
    (``eps_mode="inside"``: ε inside the max). Keras: ``lr=0.001, eps=1e-7, eps_mode="outside"``.
    """

    name = "adamax"
    lineage = Lineage(("adam",), "infinity norm", 2015, "Kingma & Ba 2015")
    references = (
        Reference("torch.optim.Adamax"),
        Reference("optax.adamax", {"lr": 0.01}, {"learning_rate": 0.01}),
        Reference("optax.adamaxw", theirs={"learning_rate": 0.002}, name="adamaxw"),
        Reference("keras.optimizers.Adamax", {"lr": 0.001, "eps": 1e-7, "eps_mode": "outside"}),
    )
    colour = "#393b79"  # in every lab figure (viz.style.PALETTE)
    slots = ("m", "u")
    nonnegative_slots = ("u",)
    eps_mode = Choice(("inside", "outside"), "ε inside the max (PyTorch) or added after (Keras)")
    equations = ("m ← β1·m + (1 − β1)·g,   u ← max(β2·u, |g| + ε)",
                 "p ← p − η/(1 − β1ᵗ) · m / u")
    elementwise = True
    kernel = "adamax"

    beta2 = AdamFamily.beta2.replace(doc="decay β2 of the infinity norm u")

    def __init__(self, lr: Any = 0.002, beta1: Any = 0.9, beta2: Any = 0.999, eps: Any = 1e-8,
                 weight_decay: Any = 0.0, *, eps_mode: str = "inside", maximize: bool = False,
                 **options: Any) -> None:
        super().__init__(lr, beta1, beta2, eps, weight_decay, maximize=maximize, **options)
        self.eps_mode = eps_mode

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        m, u = ema(state["m"], g, h.beta1), state["u"]  # m = β1·m + (1 − β1)·g
        u *= h.beta2
        step = h.lr / bias_correction(h.beta1, h.t)
        if self.eps_mode == "inside":  # u = max(β2·u, |g| + ε);  p −= η̂·m/u
            np.maximum(u, np.abs(g) + h.eps, out=u)
            p -= step * (m / u)
        else:  # u = max(β2·u, |g|);  p −= η̂·m/(u + ε)
            np.maximum(u, np.abs(g), out=u)
            p -= step * (m / (u + h.eps))
