"""Mechanic: a learned scale s on another rule's updates, tuned online by coin betting."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from . import sums
from .base import Optimizer
from .bases import BASES, BaseChoice, base_rule
from .hyperparams import NONNEGATIVE, POSITIVE, Count, Hyper, Number
from .lineage import Lineage
from .references import Reference
from .registry import register

#: The prefix of the base rule's state slots among Mechanic's.
PREFIX = "base_"


@register
class Mechanize(Optimizer):
    r"""Mechanic (Cutkosky, Defazio & Mehta, "Mechanic: A Learning Rate Tuner", NeurIPS 2023;
    arXiv:2306.00144), optax's ``optax.contrib.mechanize``: the ``base`` rule's updates
    :math:`u_t` scaled by a learned :math:`S_t = \sum_i s_{t,i}`.

    With :math:`x_0` the parameters before the first update, :math:`\Delta_{t-1} =
    (x_0 - x_t)/(S_{t-1} + \epsilon)`, norms and the dot product over ALL parameters, and
    :math:`\beta_i = 1 - 10^{-i}` for i = 1…n (n = ``num_betas``):

    .. math::
        \tilde g_t = g_t + \lambda S_{t-1} \frac{\lVert g_t\rVert}{\lVert x_t\rVert + \epsilon}
        x_t, \quad h_t = \langle \tilde g_t, \Delta_{t-1}\rangle \\
        m_{t,i} = \max(\beta_i m_{t-1,i}, |h_t| + \epsilon), \quad
        v_{t,i} = \beta_i^2 v_{t-1,i} + h_t^2, \quad
        r_{t,i} = \beta_i r_{t-1,i} + \operatorname{clip}(h_t, \pm m_{t-1,i})\, s_{t-1,i} \\
        s_{t,i} = \frac{\tfrac{s_0}{n} m_{t,i} + \max(r_{t,i}, 0)}{\sqrt{v_{t,i}} + \epsilon},
        \quad x_{t+1} = x_0 - S_t\,(\Delta_{t-1} - u_t)

    :math:`u_t` is the base rule's update from :math:`g_t` (its rate ``lr``, its other
    settings at their defaults); λ = ``weight_decay`` is Mechanic's own decay (of the
    direction it bets on, not the base's gradient). The scales live in ``globals`` (``s``,
    ``m``, ``v``, ``r``: n numbers each); the base's state in the slots ``base_*``.

    Defaults: ``base="adam", lr=1.0, weight_decay=1e-2, eps=1e-8, s_init=1e-6,
    num_betas=6`` — optax's (optax has no default base; Adam at rate 1 leaves the scale
    entirely to S). Equals ``optax.contrib.mechanize(base(lr), weight_decay, eps, s_init,
    num_betas)`` for ``base`` one of optax's ``adam``, ``sgd``, ... at the same settings.

    >>> params = {"x": np.array([1.0, -1.0])}
    >>> opt = Mechanize(base="sgd", lr=0.1)
    >>> opt.update(params, {"x": np.array([1.0, 1.0])})   # S₀ = 6·10⁻⁶: x = x₀ + S₁·u
    >>> params["x"].round(6), opt.globals["s"].shape
    (array([ 1., -1.]), (6,))
    """

    name = "mechanize"
    references = (
        Reference("optax.contrib.mechanize", {"lr": 0.01}, {"learning_rate": 0.01, "base": "adam"},
                  note="around optax.adam(learning_rate)"),
        Reference("optax.contrib.mechanize", {"base": "lion", "lr": 0.001},
                  {"learning_rate": 0.001, "base": "lion"},
                  note="around optax.lion(learning_rate)"),
    )
    lineage = Lineage(("cocob",), "learned scale on a base rule's steps", 2023,
                      "Cutkosky et al. 2023")
    decays_in_rule = True  # λ is Mechanic's own (in the prepass), not the base's
    equations: ClassVar[tuple[str, ...]] = (
        "Δ = (x0 − x)/(S + ε),   g̃ = g + λ·S·‖g‖/(‖x‖ + ε)·x,   h = ⟨g̃, Δ⟩   (all parameters)",
        "m ← max(β·m, |h| + ε),   v ← β²·v + h²,   r ← β·r + clip(h, ±m_old)·s   (βᵢ = 1 − 10⁻ⁱ)",
        "s ← (s0/n·m + max(r, 0))/(√v + ε),   S = Σ s",
        "x ← x0 − S·(Δ − u)   (u: the base rule's update)",
    )

    lr = Optimizer.lr.replace(doc="the base rule's rate (S scales its updates)",
                              search=(1e-3, 10.0))
    weight_decay = Hyper(NONNEGATIVE, "Mechanic's decay λ of the direction it bets on",
                         tunable=False)
    eps = Hyper(POSITIVE, "ε of the denominators", tunable=False)
    base = BaseChoice(BASES, "the rule whose updates are scaled", fixed_once_started=True)
    s_init = Number(POSITIVE, "the first scales: s₀/n each")
    num_betas = Count(1, "how many scales sᵢ (βᵢ = 1 − 10⁻ⁱ)", maximum=15,
                      fixed_once_started=True)

    def __init__(self, base: str = "adam", lr: Any = 1.0, weight_decay: Any = 1e-2,
                 eps: Any = 1e-8, *, s_init: float = 1e-6, num_betas: int = 6,
                 maximize: bool = False, **options: Any) -> None:
        super().__init__(lr, weight_decay, maximize=maximize, **options)
        self.base = base
        self.eps = eps
        self.s_init = s_init
        self.num_betas = num_betas

    @property
    def slots(self) -> tuple[str, ...]:  # type: ignore[override]
        """``x0`` and the base rule's slots, prefixed ``base_``."""
        return ("x0",) + tuple(PREFIX + s for s in base_rule(self.base).slots)

    def slot_shapes(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        inner = base_rule(self.base).slot_shapes(shape)
        return {"x0": shape, **{PREFIX + s: inner_shape for s, inner_shape in inner.items()}}

    def initial_value(self, slot: str) -> float:
        return base_rule(self.base).initial_value(slot[len(PREFIX):]) if slot.startswith(
            PREFIX) else 0.0

    def check_settings(self, values: dict[str, Any]) -> None:
        if values.get("decoupled_weight_decay"):
            raise InputError("mechanize's weight_decay is Mechanic's own (of the direction it "
                             "bets on): decoupled_weight_decay=True does not apply")

    def init_globals(self) -> dict[str, Any]:
        n = self.num_betas
        return {"r": np.zeros(n), "m": np.zeros(n), "v": np.zeros(n),
                "s": np.full(n, float(self.s_init))}

    def prepass(self, leaves: list[tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]],
                globals_: dict[str, Any], h: Any) -> dict[str, Any]:
        s_old, m_old = globals_["s"], globals_["m"]
        s_sum = float(np.sum(s_old))
        grad_norm = sums.norm(g for _, g, _ in leaves)
        param_norm = sums.norm(p for p, _, _ in leaves)
        factor = h.weight_decay * s_sum * grad_norm / (param_norm + h.eps)
        dot = sums.vdot((g + factor * p for p, g, _ in leaves),
                        ((sums.start_of(p, s, h) - p) / (s_sum + h.eps) for p, _, s in leaves))
        betas = np.array([1.0 - 0.1**i for i in range(1, len(s_old) + 1)])
        m = np.maximum(betas * m_old, abs(dot) + h.eps)
        v = betas**2 * globals_["v"] + dot**2
        r = betas * globals_["r"] + np.clip(dot, -m_old, m_old) * s_old
        s = (self.s_init / len(betas) * m + np.maximum(0.0, r)) / (np.sqrt(v) + h.eps)
        h.s_sum_old, h.s_sum = s_sum, float(np.sum(s))
        inner = base_rule(self.base)
        h.base = inner.resolve(h.t - 1)
        h.base.lr = h.lr
        return {"r": r, "m": m, "v": v, "s": s}

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        x0 = state["x0"]
        if h.t == 1:
            x0[...] = p
        inner = base_rule(self.base)
        moved = p.copy()
        inner.apply_rule(moved, g, {s: state[PREFIX + s] for s in inner.slot_shapes(p.shape)},
                         h.base)
        delta = (x0 - p) / (h.s_sum_old + h.eps) - (moved - p)
        p[...] = x0 - h.s_sum * delta


__all__ = ["Mechanize", "BASES"]
