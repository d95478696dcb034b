"""Lion: the sign of an interpolated momentum, found by program search."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .base import Optimizer
from .hyperparams import POSITIVE, UNIT, Choice, Hyper
from .lineage import Lineage
from .moments import ema
from .references import Reference
from .registry import register


@register
class Lion(Optimizer):
    r"""Lion, EvoLved Sign Momentum (Chen et al., "Symbolic Discovery of Optimization
    Algorithms", NeurIPS 2023; arXiv:2302.06675), optax's ``optax.lion``.

    .. math::
        c_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
        p_t = p_{t-1} - \eta\,\bigl(\operatorname{sign}(c_t) + \lambda\, p_{t-1}\bigr) \\
        m_t = \beta_2 m_{t-1} + (1 - \beta_2)\, g_t

    Every coordinate moves by exactly η (plus the decay): the update has a larger norm than
    Adam's, so Lion wants a 3–10× smaller rate and a 3–10× larger λ. Weight decay is
    decoupled (``p·(1 − ηλ)``), as in the paper and optax.

    ``mode`` is optax's ``scale_by_lion(mode=...)``: ``"hard"`` (the sign), ``"smooth"``
    (:math:`\tanh(\beta_s c_t)`, β_s = ``smooth_beta``) or ``"refined"`` (:math:`c_t` where
    :math:`|c_t| < 1`, its sign elsewhere).

    Defaults: ``lr=1e-4, beta1=0.9, beta2=0.99, weight_decay=1e-3`` — optax's (optax has no
    default rate; 1e-4 is the paper's advice of a tenth of AdamW's 1e-3).
    Equals ``optax.lion(lr, b1=beta1, b2=beta2, weight_decay=weight_decay)``.

    >>> params = {"x": 1.0, "y": -2.0}
    >>> opt = Lion(lr=0.1, weight_decay=0.0)
    >>> opt.update(params, {"x": 3.0, "y": -0.001})   # sign(c) = (1, −1)
    >>> params
    {'x': 0.9, 'y': -1.9}
    """

    name = "lion"
    lineage = Lineage(("adamw", "rprop"), "sign of interpolated momentum", 2023, "Chen et al. 2023")
    references = (
        Reference("optax.lion", theirs={"learning_rate": 1e-4}),
        Reference("keras.optimizers.Lion", {"lr": 0.001, "weight_decay": 0.0}),
        Reference("keras.optimizers.Lion", {"lr": 0.001, "weight_decay": 0.1},
                  {"weight_decay": 0.1}),
    )
    slots = ("m",)
    mode = Choice(("hard", "smooth", "refined"),
                  "sign(c) (the paper), tanh(βc) or optax's refined form")
    elementwise = True
    kernel = "lion"
    equations: ClassVar[tuple[str, ...]] = (
        "c = β1·m + (1 − β1)·g",
        "p ← p − η·(sign(c) + λ·p)",
        "m ← β2·m + (1 − β2)·g",
    )

    lr = Optimizer.lr.replace(search=(1e-5, 1.0))  # a tenth of the others' (the paper)
    beta1 = Hyper(UNIT, "interpolation β1 between the momentum and the gradient",
                  search=(0.8, 0.99))
    beta2 = Hyper(UNIT, "decay β2 of the momentum", search=(0.9, 0.999))
    smooth_beta = Hyper(POSITIVE, "slope of tanh in mode='smooth'", tunable=False)

    def __init__(self, lr: Any = 1e-4, beta1: Any = 0.9, beta2: Any = 0.99,
                 weight_decay: Any = 1e-3, *, mode: str = "hard", smooth_beta: Any = 1.0,
                 maximize: bool = False, **options: Any) -> None:
        options.setdefault("decoupled_weight_decay", True)
        super().__init__(lr, weight_decay, maximize=maximize, **options)
        self.beta1 = beta1
        self.beta2 = beta2
        self.smooth_beta = smooth_beta
        self.mode = mode

    def direction(self, c: np.ndarray, h: Any) -> np.ndarray:
        """The step direction of the interpolation c for this ``mode``."""
        if self.mode == "hard":
            return np.sign(c)
        if self.mode == "smooth":
            return np.tanh(h.smooth_beta * c)
        return np.where(np.abs(c) < 1, c, np.sign(c))  # linear inside (−1, 1), sign outside

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        m = state["m"]
        p -= h.lr * self.direction((1 - h.beta1) * g + h.beta1 * m, h)  # c = β1·m + (1 − β1)·g
        ema(m, g, h.beta2)  # m = β2·m + (1 − β2)·g
