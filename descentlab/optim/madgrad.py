"""MADGRAD: momentumized, adaptive, dual-averaged gradient steps."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .base import Optimizer
from .hyperparams import POSITIVE, UNIT, Choice, Hyper
from .lineage import Lineage
from .moments import cube_root, scalar_sqrt
from .references import Reference
from .registry import register


@register
class Madgrad(Optimizer):
    r"""MADGRAD (Defazio & Jelassi, "Adaptivity without Compromise: A Momentumized, Adaptive,
    Dual Averaged Gradient Method for Stochastic Optimization", arXiv:2101.11075, 2021),
    optax's ``optax.contrib.madgrad`` and the authors' ``madgrad.MADGRAD``.

    Dual averaging from the first iterate :math:`x_0` with a cube-root scaling, and the
    iterate averaged with momentum μ:

    .. math::
        \lambda_t = (\eta_t + \epsilon)\sqrt{t}, \qquad
        G_t = G_{t-1} + \lambda_t\, g_t^2, \qquad s_t = s_{t-1} + \lambda_t\, g_t \\
        z_t = x_0 - \frac{s_t}{\sqrt[3]{G_t} + \epsilon}, \qquad
        p_t = \mu\, p_{t-1} + (1 - \mu)\, z_t

    Weight decay is L2 (``g + λp``, optax's and the authors' default);
    ``decoupled_weight_decay=True`` is the authors' ``decouple_decay=True``:
    :math:`p_t \mathrel{-}= (\eta_t + \epsilon)\lambda\, p_{t-1}` after the step. With μ = 0
    the authors recover :math:`x_0 = p + s/(\sqrt[3]{G} + \epsilon)` from the current point
    each step (so a decoupled decay moves it); so does this class. At η = 0 the dual average
    z does not move (the authors' code; optax still adds ε to the rate), but the mix
    (1 − μ)·z + μ·p can round p by an ulp. optax takes the root of its int32
    count in float32: ``count_root="float32"`` does the same (a relative 1e-8 from √t).

    Defaults: ``lr=0.01, momentum=0.9, eps=1e-6, weight_decay=0.0`` — the authors' (optax
    has no default rate). Equals ``madgrad.MADGRAD(params, lr, momentum, weight_decay, eps,
    decouple_decay=...)``; with ``count_root="float32"``, ``optax.contrib.madgrad(lr,
    momentum, weight_decay, eps)``.

    >>> params = {"x": 1.0}
    >>> opt = Madgrad(lr=1.0, momentum=0.0, eps=1e-9)   # λ₁ = 1 + ε
    >>> opt.update(params, {"x": 8.0})   # G ≈ 64, s ≈ 8: z ≈ 1 − 8/4
    >>> round(params["x"], 6)
    -1.0
    """

    name = "madgrad"
    lineage = Lineage(("adagrad",), "dual averaging, cube root, momentum", 2021,
                      "Defazio & Jelassi 2021")
    references = (
        Reference("madgrad.MADGRAD"),
        Reference("optax.contrib.madgrad", {"count_root": "float32"}, {"learning_rate": 0.01},
                  note="a Python-float learning_rate: optax differs by up to 5e-9"),
    )
    slots = ("x0", "grad_sum_sq", "s")
    count_root = Choice(("float64", "float32"), "√t exact (the authors) or rounded to float32 "
                        "(optax: the root of its int32 count)")
    nonnegative_slots = ("grad_sum_sq",)
    decays_in_rule = True
    elementwise = True
    kernel = "madgrad"
    equations: ClassVar[tuple[str, ...]] = (
        "λ = (η + ε)·√t,   G ← G + λ·g²,   s ← s + λ·g",
        "z = x₀ − s/(∛G + ε),   p ← μ·p + (1 − μ)·z",
        "decoupled decay: p ← p − (η + ε)·λ_wd·p_old",
    )

    lr = Optimizer.lr.replace(search=(1e-4, 1.0))
    momentum = Hyper(UNIT, "momentum μ of the iterate average", search=(0.0, 0.99))
    eps = Hyper(POSITIVE, "ε of the rate and of the denominator", tunable=False)

    def __init__(self, lr: Any = 0.01, momentum: Any = 0.9, eps: Any = 1e-6,
                 weight_decay: Any = 0.0, *, count_root: str = "float64",
                 decoupled_weight_decay: bool = False, maximize: bool = False,
                 **options: Any) -> None:
        super().__init__(lr, weight_decay, decoupled_weight_decay=decoupled_weight_decay,
                         maximize=maximize, **options)
        self.momentum = momentum
        self.eps = eps
        self.count_root = count_root

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        x0, grad_sum_sq, s = state["x0"], state["grad_sum_sq"], state["s"]
        if h.t == 1:
            x0[...] = p  # the dual averaging's origin
        decay = np.any(h.weight_decay != 0)
        if decay and not self.decoupled_weight_decay:
            g = g + h.weight_decay * p  # L2
        lr = np.where(h.lr != 0, h.lr + h.eps, 0.0) if np.ndim(h.lr) else (
            h.lr + h.eps if h.lr != 0 else 0.0)
        if np.all(h.momentum == 0):  # the authors: x₀ from the current point
            x0[...] = p + s / (cube_root(grad_sum_sq) + h.eps)
        root = float(np.sqrt(np.float32(h.t))) if self.count_root == "float32" else (
            scalar_sqrt(h.t))
        lamb = lr * root
        grad_sum_sq += lamb * (g * g)  # G = G + λ·g²
        s += lamb * g  # s = s + λ·g
        z = x0 - s / (cube_root(grad_sum_sq) + h.eps)
        p_old = p.copy() if decay and self.decoupled_weight_decay else None
        p *= h.momentum
        p += (1 - h.momentum) * z  # p = μ·p + (1 − μ)·z
        if p_old is not None:
            p -= (lr * h.weight_decay) * p_old
