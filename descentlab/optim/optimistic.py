"""Optimistic gradient descent: a step along the gradient extrapolated from the last one."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .base import Optimizer
from .hyperparams import NONNEGATIVE, Hyper
from .lineage import Lineage
from .references import Reference
from .registry import register


@register
class OptimisticGradientDescent(Optimizer):
    r"""Optimistic gradient descent (Popov, "A modification of the Arrow–Hurwicz method for
    search of saddle points", Math. Notes 1980; Mokhtari, Ozdaglar & Pattathil, AISTATS
    2020), optax's ``optax.optimistic_gradient_descent``.

    .. math::
        p_t = p_{t-1} - \eta\,\bigl((\alpha + \beta)\, g_t - \beta\, g_{t-1}\bigr)
        \quad (g_0 = g_1)

    The previous gradient corrects the step: on a bilinear min-max game plain gradient
    descent–ascent spirals out, the optimistic step converges. At the first step the
    previous gradient is the current one (optax's), so the step is :math:`\eta\alpha g_1`.

    Defaults: ``lr=0.01, alpha=1.0, beta=1.0, weight_decay=0.0`` — optax's α and β (optax
    has no default rate). Equals ``optax.optimistic_gradient_descent(lr, alpha, beta)``.

    >>> params = {"x": 1.0}
    >>> opt = OptimisticGradientDescent(lr=0.1)
    >>> opt.update(params, {"x": 2.0})    # first step: η·α·g = 0.2
    >>> opt.update(params, {"x": 1.0})    # η·(2·1 − 2) = 0
    >>> round(params["x"], 12)
    0.8
    """

    name = "optimistic_gradient_descent"
    lineage = Lineage(("sgd",), "extrapolate from the last gradient", 1980, "Popov 1980")
    references = (
        Reference("optax.optimistic_gradient_descent", theirs={"learning_rate": 0.01}),
    )
    slots = ("previous",)
    elementwise = True
    kernel = "optimistic_gradient_descent"
    equations: ClassVar[tuple[str, ...]] = (
        "p ← p − η·((α + β)·g − β·g_prev)   (g_prev = g at t = 1)",
        "g_prev ← g",
    )

    alpha = Hyper(NONNEGATIVE, "weight α of the current gradient", tunable=False)
    beta = Hyper(NONNEGATIVE, "weight β of the optimistic correction g − g_prev",
                 search=(0.0, 2.0))

    def __init__(self, lr: Any = 0.01, alpha: Any = 1.0, beta: Any = 1.0,
                 weight_decay: Any = 0.0, *, maximize: bool = False, **options: Any) -> None:
        super().__init__(lr, weight_decay, maximize=maximize, **options)
        self.alpha = alpha
        self.beta = beta

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        previous = state["previous"]
        if h.t == 1:
            previous[...] = g
        p -= h.lr * ((h.alpha + h.beta) * g - h.beta * previous)
        previous[...] = g
