"""signSGD and Signum: steps of the sign of the gradient, or of its momentum."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .base import Optimizer
from .hyperparams import UNIT, Hyper
from .lineage import Lineage
from .moments import ema
from .references import Reference
from .registry import register


@register
class SignSGD(Optimizer):
    r"""signSGD (Bernstein, Wang, Azizzadenesheli & Anandkumar, "signSGD: Compressed
    Optimisation for Non-Convex Problems", ICML 2018; arXiv:1802.04434), optax's
    ``optax.sign_sgd``.

    .. math::
        p_t = p_{t-1} - \eta\, \operatorname{sign}(g_t)

    Every coordinate moves by exactly η (0 where the gradient is exactly 0), whatever the
    gradient's size: one bit per coordinate is all the direction holds.

    Defaults: ``lr=1e-4, weight_decay=0.0`` (optax has no default rate; a sign step
    moves every coordinate by η, so the rate is Lion's). Equals ``optax.sign_sgd(lr)``.

    >>> params = {"x": 1.0, "y": -2.0}
    >>> opt = SignSGD(lr=0.1)
    >>> opt.update(params, {"x": 3.0, "y": -0.001})
    >>> params
    {'x': 0.9, 'y': -1.9}
    """

    name = "sign_sgd"
    lineage = Lineage(("sgd",), "sign of the gradient", 2018, "Bernstein et al. 2018")
    references = (
        Reference("optax.sign_sgd", theirs={"learning_rate": 1e-4}),
    )
    elementwise = True
    kernel = "sign_sgd"
    equations: ClassVar[tuple[str, ...]] = ("p ← p − η·sign(g)",)

    lr = Optimizer.lr.replace(search=(1e-5, 1.0))  # every coordinate moves by η

    def __init__(self, lr: Any = 1e-4, weight_decay: Any = 0.0, *, maximize: bool = False,
                 **options: Any) -> None:
        super().__init__(lr, weight_decay, maximize=maximize, **options)

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        p -= h.lr * np.sign(g)


@register
class Signum(Optimizer):
    r"""Signum, signSGD with momentum (Bernstein, Wang, Azizzadenesheli & Anandkumar,
    "signSGD: Compressed Optimisation for Non-Convex Problems", ICML 2018;
    arXiv:1802.04434), optax's ``optax.signum``.

    .. math::
        m_t = \beta\, m_{t-1} + (1 - \beta)\, g_t, \qquad
        p_t = p_{t-1} - \eta\, \operatorname{sign}(m_t)

    The average is not bias-corrected (its sign does not change by the correction).

    Defaults: ``lr=1e-4, beta=0.9, weight_decay=0.0`` — optax's β (optax has no default
    rate). Equals ``optax.signum(lr, beta)``.

    >>> params = {"x": 1.0}
    >>> opt = Signum(lr=0.1, beta=0.5)
    >>> opt.update(params, {"x": 3.0})    # m = 1.5
    >>> opt.update(params, {"x": -1.0})   # m = 0.25: still +
    >>> round(params["x"], 12)
    0.8
    """

    name = "signum"
    lineage = Lineage(("sign_sgd", "momentum"), "sign of the momentum", 2018,
                      "Bernstein et al. 2018")
    references = (
        Reference("optax.signum", theirs={"learning_rate": 1e-4}),
    )
    slots = ("m",)
    elementwise = True
    kernel = "signum"
    equations: ClassVar[tuple[str, ...]] = (
        "m ← β·m + (1 − β)·g",
        "p ← p − η·sign(m)",
    )

    lr = Optimizer.lr.replace(search=(1e-5, 1.0))  # every coordinate moves by η
    beta = Hyper(UNIT, "decay β of the momentum", search=(0.5, 0.99))

    def __init__(self, lr: Any = 1e-4, beta: Any = 0.9, weight_decay: Any = 0.0, *,
                 maximize: bool = False, **options: Any) -> None:
        super().__init__(lr, weight_decay, maximize=maximize, **options)
        self.beta = beta

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        m = ema(state["m"], g, h.beta)  # m = β·m + (1 − β)·g
        p -= h.lr * np.sign(m)
