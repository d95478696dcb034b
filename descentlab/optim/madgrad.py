"""MADGRAD: dual averaging with a cube-root AdaGrad scale and momentum by averaging."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .base import Optimizer
from .hyperparams import POSITIVE, UNIT, Choice, Hyper
from .lineage import Lineage
from .registry import register


@register
class MADGRAD(Optimizer):
    r"""MADGRAD, momentumized adaptive dual averaged gradient (Defazio & Jelassi,
    "Adaptivity without Compromise: A Momentumized, Adaptive, Dual Averaged Gradient Method
    for Stochastic Optimization", JMLR 2022; arXiv:2101.11075), optax's
    ``optax.contrib.madgrad``.

    With :math:`x_0` the parameters before the first update and
    :math:`\lambda_t = (\eta + \epsilon)\sqrt{t}`:

    .. math::
        G_t = G_{t-1} + \lambda_t\, g_t^2, \qquad s_t = s_{t-1} + \lambda_t\, g_t, \qquad
        z_t = x_0 - \frac{s_t}{G_t^{1/3} + \epsilon} \\
        p_t = (1 - \mu)\, z_t + \mu\, p_{t-1}

    Weight decay is L2 (added to the gradient), as in optax and the authors' package. The
    rate is η + ε, so with η = 0 the parameters still move (by about ε^(2/3)).
    ``sqrt_t="float32"`` is optax's arithmetic: it takes :math:`\sqrt{t}` of its int32
    count, which JAX computes in float32 (a relative difference of up to 3e-8 in λ);
    the default ``"float64"`` is the authors' ``math.sqrt``.

    Defaults: ``lr=0.01, momentum=0.9, weight_decay=0.0, eps=1e-6`` — the authors'
    (``madgrad.MADGRAD``); optax's ``momentum`` and ``eps`` (optax has no default rate).
    With ``sqrt_t="float32"`` equals ``optax.contrib.madgrad(lr, momentum, weight_decay,
    eps)``.

    >>> params = {"x": 1.0}
    >>> opt = MADGRAD(lr=1.0, momentum=0.0, eps=1e-300)
    >>> opt.update(params, {"x": 8.0})   # G = 64, s = 8: z = 1 − 8/4
    >>> params["x"]
    -1.0
    """

    name = "madgrad"
    lineage = Lineage(("adagrad",), "dual averaging, cube root, averaging momentum", 2022,
                      "Defazio & Jelassi 2022")
    slots = ("grad_sum_sq", "s", "x0")
    nonnegative_slots = ("grad_sum_sq",)
    elementwise = True
    equations: ClassVar[tuple[str, ...]] = (
        "λ = (η + ε)·√t,   G ← G + λ·g²,   s ← s + λ·g",
        "z = x0 − s / (∛G + ε)",
        "p ← (1 − μ)·z + μ·p",
    )

    sqrt_t = Choice(("float64", "float32"), "√t in float64 (the authors') or float32 (optax's)")

    momentum = Hyper(UNIT, "weight μ of the previous point in the average", search=(0.0, 0.99))
    eps = Hyper(POSITIVE, "ε added to the rate and to ∛G", tunable=False)

    def __init__(self, lr: Any = 0.01, momentum: Any = 0.9, weight_decay: Any = 0.0,
                 eps: Any = 1e-6, *, sqrt_t: str = "float64", maximize: bool = False,
                 **options: Any) -> None:
        super().__init__(lr, weight_decay, maximize=maximize, **options)
        self.momentum = momentum
        self.eps = eps
        self.sqrt_t = sqrt_t

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        grad_sum_sq, s, x0 = state["grad_sum_sq"], state["s"], state["x0"]
        if h.t == 1:
            x0[...] = p
        root_t = np.sqrt(np.float32(h.t)) if self.sqrt_t == "float32" else np.sqrt(float(h.t))
        lam = (h.lr + h.eps) * float(root_t)
        grad_sum_sq += lam * (g * g)  # G = G + λ·g²
        s += lam * g  # s = s + λ·g
        z = x0 - s / (np.cbrt(grad_sum_sq) + h.eps)
        p[...] = (1 - h.momentum) * z + h.momentum * p
