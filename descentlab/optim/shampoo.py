"""Shampoo: one preconditioner matrix per axis, the inverse 2d-th root of its gradient sums."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from .base import Optimizer
from .hyperparams import NONNEGATIVE, UNIT, Count, Flag, Hyper
from .kronecker import axis_statistic, mode_product
from .lineage import Lineage
from .moments import lerp
from .references import Reference
from .registry import register


def inverse_root(stat: np.ndarray, power: int) -> np.ndarray:
    """L^(−1/power) of a positive definite statistic by its SVD, U·diag(s^(−1/power))·Vᵀ
    (pytorch-optimizer's ``compute_power_svd``).

    >>> inverse_root(np.diag([16.0, 1.0]), 4).tolist()
    [[0.5, 0.0], [0.0, 1.0]]
    """
    u, s, vh = np.linalg.svd(stat, full_matrices=False)
    return (u * s[np.newaxis, :] ** (-1.0 / power)) @ vh


@register
class Shampoo(Optimizer):
    r"""Shampoo (Gupta, Koren & Singer, "Shampoo: Preconditioned Stochastic Tensor
    Optimization", ICML 2018; arXiv:1802.09568), pytorch-optimizer's ``Shampoo`` — the
    paper's simple form (Algorithm 2: every axis preconditioned, no blocking, no grafting;
    not its ``ScalableShampoo``).

    For a parameter of order k (its number of axes), per axis i a statistic :math:`L_i`
    (:math:`\epsilon I` at the start) and the gradient's mode products:

    .. math::
        \tilde g_t = \mu\, B_{t-1} + (1 - \mu)\, g_t \ (\mu > 0;\ B_0 = g_1), \qquad
        \tilde g_t \mathrel{+}= \lambda p_{t-1} \ \text{(coupled decay)} \\
        L_i \leftarrow L_i + \tilde G_{(i)} \tilde G_{(i)}^\top, \qquad
        R_i = L_i^{-1/(2k)} \ \text{(every } s \text{ updates, by SVD)} \\
        B_t = \tilde g_t \times_1 R_1 \times_2 \cdots \times_k R_k, \qquad
        p_t = p_{t-1} - \eta\, B_t

    (the last axis's product is with :math:`R_k^\top`, which is :math:`R_k` up to rounding,
    as the reference's). The momentum buffer B is the *preconditioned* direction, as the
    reference keeps it; with ``maximize`` its first value is the gradient as given
    (the reference fills it before negating). ``decoupled_weight_decay=True`` (the
    reference's ``weight_decouple``) decays :math:`p \leftarrow p(1 - \eta\lambda)` instead,
    ``fixed_decay=True`` by :math:`(1 - \lambda)` (alone it is refused; the reference
    ignores it). ``preconditioning_compute_steps`` s > 1
    recomputes the roots every s updates; until the first, :math:`R_i = 0` and the
    parameter does not move (the reference's). A scalar parameter takes plain steps.

    Defaults: ``lr=0.001, momentum=0.0, weight_decay=0.0, matrix_eps=1e-6,
    preconditioning_compute_steps=1`` — pytorch-optimizer's. Equals
    ``pytorch_optimizer.Shampoo(params, lr, momentum, weight_decay, weight_decouple,
    fixed_decay, preconditioning_compute_steps, matrix_eps)``. Its 2-D use on a surface:
    the K runs' points as (1, 2) matrices, one optimizer each.

    >>> w = np.zeros(2)
    >>> opt = Shampoo(lr=1.0)
    >>> opt.update(w, np.array([3.0, 4.0]))   # L = εI + g·gᵀ: L^(−1/2)·g ≈ g/‖g‖
    >>> np.round(w, 6).tolist()
    [-0.6, -0.8]
    """

    name = "shampoo"
    references = (
        Reference("pytorch_optimizer.Shampoo"),
        Reference("pytorch_optimizer.Shampoo", {"lr": 0.01, "momentum": 0.5,
                                                "preconditioning_compute_steps": 3},
                  {"lr": 0.01, "momentum": 0.5, "preconditioning_compute_steps": 3}),
    )
    lineage = Lineage(("adagrad_full",), "one factor per axis, L^(−1/2k)", 2018,
                      "Gupta et al. 2018")
    decays_in_rule = True
    equations: ClassVar[tuple[str, ...]] = (
        "g̃ = μ·B + (1 − μ)·g   (μ > 0; B₀ = g),   + λ·p (coupled decay)",
        "Lᵢ ← Lᵢ + G̃₍ᵢ₎G̃₍ᵢ₎ᵀ per axis (L₀ = ε·I),   Rᵢ = Lᵢ^(−1/2k) (SVD, every s updates)",
        "B = g̃ ×₁ R₁ ⋯ ×ₖ Rₖ,   p ← p − η·B",
    )

    lr = Optimizer.lr.replace(search=(1e-4, 1.0))
    momentum = Hyper(UNIT, "momentum μ (mixing the preconditioned direction of the last "
                     "update)", search=(0.0, 0.99))
    matrix_eps = Hyper(NONNEGATIVE, "ε, the start εI of every statistic", tunable=False)
    fixed_decay = Flag("decoupled decay by (1 − λ) instead of (1 − ηλ)")
    preconditioning_compute_steps = Count(1, "updates between computations of the roots")

    def __init__(self, lr: Any = 1e-3, momentum: Any = 0.0, weight_decay: Any = 0.0, *,
                 decoupled_weight_decay: bool = False, fixed_decay: bool = False,
                 preconditioning_compute_steps: int = 1, matrix_eps: Any = 1e-6,
                 maximize: bool = False, **options: Any) -> None:
        super().__init__(lr, weight_decay, decoupled_weight_decay=decoupled_weight_decay,
                         maximize=maximize, **options)
        self.momentum = momentum
        self.matrix_eps = matrix_eps
        self.fixed_decay = fixed_decay
        self.preconditioning_compute_steps = preconditioning_compute_steps

    def check_settings(self, values: dict[str, Any]) -> None:
        if values.get("fixed_decay") and not values.get("decoupled_weight_decay"):
            raise InputError("fixed_decay chooses the form of the decoupled decay: it needs "
                             "decoupled_weight_decay=True (pytorch-optimizer ignores it "
                             "without its weight_decouple)")

    def slot_shapes(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        """``buffer`` of the parameter's shape; ``L{i}`` and its root ``R{i}`` (n_i × n_i)
        for every axis i."""
        out = {"buffer": shape}
        for i, n in enumerate(shape):
            out[f"L{i}"] = out[f"R{i}"] = (n, n)
        return out

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        buffer, order = state["buffer"], p.ndim
        if h.t == 1:
            for i, n in enumerate(p.shape):
                state[f"L{i}"][...] = h.matrix_eps * np.eye(n, dtype=p.dtype)
            if h.momentum > 0:  # the gradient as given (before maximize negates it)
                buffer[...] = -g if self.maximize else g
        if h.momentum > 0:
            g = lerp(g.copy(), buffer, h.momentum)  # g̃ = g + μ·(B − g)
        if h.weight_decay != 0:
            if self.decoupled_weight_decay:
                p *= 1 - h.weight_decay * (1.0 if self.fixed_decay else h.lr)
            else:
                g = g + h.weight_decay * p
        direction = g
        for i in range(order):
            state[f"L{i}"] += axis_statistic(g, i)  # Lᵢ = Lᵢ + G₍ᵢ₎G₍ᵢ₎ᵀ
            if h.t % self.preconditioning_compute_steps == 0:
                state[f"R{i}"][...] = inverse_root(state[f"L{i}"], 2 * order)
            root = state[f"R{i}"]
            direction = mode_product(direction, root.T if i == order - 1 else root, i)
        buffer[...] = direction
        p -= h.lr * direction
