"""COCOB-Backprop: learning-rate-free steps by betting on each coordinate (coin betting)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .base import Optimizer
from .hyperparams import POSITIVE, Hyper
from .lineage import Lineage
from .references import Reference
from .registry import register


@register
class COCOB(Optimizer):
    r"""COCOB-Backprop, continuous coin betting (Orabona & Tommasi, "Training Deep Networks
    without Learning Rates Through Coin Betting", NIPS 2017; arXiv:1705.07795), optax's
    ``optax.contrib.cocob``.

    With :math:`x_0` the parameters before the first update, :math:`c_t = \eta g_t` and
    :math:`L_0 = \epsilon`:

    .. math::
        L_t = \max(L_{t-1}, |c_t|), \quad G_t = G_{t-1} + |c_t|, \quad
        R_t = \max(R_{t-1} - c_t (p_{t-1} - x_0),\ 0), \quad C_t = C_{t-1} - c_t \\
        p_t = x_0 + \frac{C_t}{L_t \max(G_t + L_t,\ \alpha L_t)}\, (L_t + R_t)

    The rate only scales the gradients (1 by default: no rate to tune); α bounds the first
    bets. Weight decay is L2 (added to the gradient), as in optax.

    Defaults: ``lr=1.0, alpha=100.0, eps=1e-8, weight_decay=0.0`` — optax's. Equals
    ``optax.contrib.cocob(lr, alpha, eps, weight_decay)``.

    >>> params = {"x": 0.0}
    >>> opt = COCOB(alpha=1.0, eps=1.0)
    >>> opt.update(params, {"x": 1.0})   # L = 1, G = 1, C = −1: x = −1/(1·2)·1
    >>> params["x"]
    -0.5
    """

    name = "cocob"
    lineage = Lineage(("adagrad",), "coin betting, no learning rate", 2017,
                      "Orabona & Tommasi 2017")
    references = (
        Reference("optax.contrib.cocob"),
    )
    slots = ("x0", "cumulative", "scale", "abs_sum", "reward")
    nonnegative_slots = ("scale", "abs_sum", "reward")
    elementwise = True
    kernel = "cocob"
    equations: ClassVar[tuple[str, ...]] = (
        "c = η·g,   L ← max(L, |c|),   G ← G + |c|",
        "R ← max(R − c·(p − x0), 0),   C ← C − c",
        "p ← x0 + C / (L·max(G + L, α·L)) · (L + R)",
    )

    lr = Optimizer.lr.replace(search=(0.01, 10.0))
    alpha = Hyper(POSITIVE, "bound α on the first bets", search=(1.0, 1000.0))
    eps = Hyper(POSITIVE, "initial scale L₀ = ε", tunable=False)

    def __init__(self, lr: Any = 1.0, alpha: Any = 100.0, eps: Any = 1e-8,
                 weight_decay: Any = 0.0, *, maximize: bool = False, **options: Any) -> None:
        super().__init__(lr, weight_decay, maximize=maximize, **options)
        self.alpha = alpha
        self.eps = eps

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        x0, cumulative, scale = state["x0"], state["cumulative"], state["scale"]
        abs_sum, reward = state["abs_sum"], state["reward"]
        if h.t == 1:
            x0[...] = p
            scale[...] = h.eps
        c = h.lr * g
        np.maximum(scale, np.abs(c), out=scale)  # L = max(L, |c|)
        abs_sum += np.abs(c)  # G = G + |c|
        np.maximum(reward - c * (p - x0), 0, out=reward)  # R = max(R − c·(p − x0), 0)
        cumulative -= c  # C = C − c
        p[...] = x0 + cumulative / (scale * np.maximum(abs_sum + scale, h.alpha * scale)) * (
            scale + reward)
