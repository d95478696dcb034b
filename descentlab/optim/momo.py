"""MoMo and MoMo-Adam: momentum (or Adam) with a Polyak-type step from the loss."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .closure import ClosureRule, Oracle, global_sum
from .hyperparams import ANY, POSITIVE, UNIT, Flag, Hyper
from .lineage import Lineage
from .references import Reference
from .registry import register

#: optax's guard: no step where the model's curvature term is at most float64's machine ε.
TINY = float(np.finfo(np.float64).eps)


class MomoFamily(ClosureRule):
    """What MoMo and MoMo-Adam share: the loss average f̄, γ, the lower bound and its
    adaptation (rule-wide), the step τ computed over all parameters, and the decay."""

    slots: tuple[str, ...] = ("exp_avg",)
    decays_in_rule = True  # p·αλ/(1 + αλ), with the step

    lower_bound = Hyper(ANY, "lower bound f* of the loss", tunable=False)
    adapt_lower_bound = Flag("estimate the lower bound on the fly (the paper's MoMo*)")

    def init_globals(self) -> dict[str, float | np.ndarray]:
        lb = MomoFamily.lower_bound.resolve(self, self.step)  # (a schedule: its value now)
        return {"barf": 0.0, "gamma": 0.0, "lb": float(lb)}

    def begin_step(self, h: Any) -> None:
        self.globals["barf"], self.globals["gamma"] = h.barf, h.gamma
        self.globals["lb"] = h.new_lb

    def moments(self, h: Any) -> tuple[float, float]:
        """(β of the averages this step, 1 − β₁ᵗ) — MoMo starts its averages at the first
        values; MoMo-Adam bias-corrects them."""
        raise NotImplementedError

    def direction(self, exp_avg: np.ndarray, g: np.ndarray, state: dict,
                  h: Any, t: int) -> np.ndarray:
        """The array the step τ multiplies (MoMo: the average; MoMo-Adam: preconditioned),
        computed without changing ``state``."""
        raise NotImplementedError

    def evaluate(self, oracle: Oracle, h: Any) -> Any:
        value, tree, gs = oracle.value_and_grad()
        beta, bc1 = self.moments(h)
        params = [leaf.array for leaf in oracle.leaves]
        averages, directions = [], []
        for leaf, g in zip(oracle.leaves, gs):
            state = self.state.get(leaf.path) or {}
            old = state.get("exp_avg", np.zeros_like(g))
            ea = beta * old + (1 - beta) * g
            averages.append(ea)
            directions.append(self.direction(ea, g, state, h, h.t))
        g_old = self.globals or self.init_globals()
        barf = beta * float(g_old["barf"]) + (1 - beta) * value
        gamma = beta * float(g_old["gamma"]) + (1 - beta) * global_sum(
            [np.vdot(g, p) for g, p in zip(gs, params)])
        norm = global_sum([np.vdot(ea, d) for ea, d in zip(averages, directions)])
        iprod = global_sum([np.vdot(ea, p) for ea, p in zip(averages, params)])
        alpha, wd, lb = h.lr, h.weight_decay, float(g_old["lb"])
        decay = 1 + alpha * wd
        with np.errstate(all="ignore"):
            if self.adapt_lower_bound:
                cap = decay * (barf - gamma) + iprod
                if cap < decay * bc1 * lb:
                    lb = max(cap / (2 * bc1 * decay), h.lower_bound)
            t1 = max(decay * (barf - bc1 * lb - gamma) + iprod, 0.0) / np.float64(norm)
            t1 = 0.0 if norm <= TINY else float(t1)
            tau = min(alpha / bc1, t1)
            new_lb = g_old["lb"]
            if self.adapt_lower_bound:
                new_lb = max(((barf + iprod - gamma) - 0.5 * tau * norm) / bc1, h.lower_bound)
        h.beta_now, h.tau, h.barf, h.gamma, h.new_lb = beta, tau, barf, gamma, float(new_lb)
        return tree


@register
class Momo(MomoFamily):
    r"""MoMo, SGD with momentum and a Polyak-type adaptive step (Schaipp, Ohana, Eickenberg,
    Defazio & Gower, "MoMo: Momentum Models for Adaptive Learning Rates", 2023, ICML 2024;
    arXiv:2305.07583): optax's ``optax.contrib.momo``. It needs the loss:
    ``update(params, closure=closure)``.

    With β₀ = 0 (the averages start at the first values), β_t = β after, α = ``lr`` and
    λ = ``weight_decay``; f̄, γ, the averages and the sums over all parameters:

    .. math::
        \bar f = \beta \bar f + (1 - \beta) f(p), \quad d = \beta d + (1 - \beta) g,
        \quad \gamma = \beta \gamma + (1 - \beta) \langle g, p\rangle \\
        \tau = \min\Big(\alpha,\ \frac{\big((1 + \alpha\lambda)(\bar f - f_* - \gamma)
        + \langle d, p\rangle\big)_+}{\lVert d\rVert^2}\Big) \ (0 \text{ where }
        \lVert d\rVert^2 \le 2^{-52}), \qquad
        p \leftarrow p - \frac{\alpha\lambda}{1 + \alpha\lambda} p - \tau d

    ``adapt_lower_bound=True`` (MoMo*) re-estimates f_* every step, never below
    ``lower_bound``: where (1 + αλ)(f̄ − γ) + ⟨d, p⟩ falls below (1 + αλ)·f_* it is halved,
    then f_* ← max(f̄ + ⟨d, p⟩ − γ − ½τ‖d‖², ``lower_bound``). The rule-wide f̄, γ and f_*
    are in ``opt.globals`` (``barf``, ``gamma``, ``lb``). No ``maximize`` or clipping.

    Defaults: ``lr=1.0, beta=0.9, lower_bound=0.0, weight_decay=0.0,
    adapt_lower_bound=False`` — optax's. Equals ``optax.contrib.momo(lr, beta, lower_bound,
    weight_decay, adapt_lower_bound)`` given ``value=`` the closure's loss.

    >>> x = {"w": np.array([1.0, 2.0])}        # f = ‖w‖², f* = 0
    >>> opt = Momo()
    >>> opt.update(x, closure=lambda: (float(x["w"] @ x["w"]), {"w": 2 * x["w"]}))
    5.0
    >>> x["w"]                                 # d = g: τ = min(1, (5 − 10 + 10)/20) = ¼
    array([0.5, 1. ])
    """

    name = "momo"
    references = (
        Reference("optax.contrib.momo"),
        Reference("optax.contrib.momo", {"adapt_lower_bound": True}, {"adapt_lower_bound": True}),
    )
    lineage = Lineage(("momentum", "polyak_sgd"), "Polyak step on a momentum model", 2023,
                      "Schaipp et al. 2023")
    equations: ClassVar[tuple[str, ...]] = (
        "f̄ ← βf̄ + (1−β)f,   d ← βd + (1−β)g,   γ ← βγ + (1−β)⟨g, p⟩   (β = 0 at step 1)",
        "τ = min(α, ((1+αλ)(f̄ − f* − γ) + ⟨d, p⟩)₊ / ‖d‖²)   (over all parameters)",
        "p ← p − αλ/(1+αλ)·p − τ·d",
    )

    lr = ClosureRule.lr.replace(doc="largest step α", search=(0.01, 10.0))
    beta = Hyper(UNIT, "decay β of the averages", search=(0.5, 0.99))

    def __init__(self, lr: Any = 1.0, beta: Any = 0.9, lower_bound: Any = 0.0,
                 weight_decay: Any = 0.0, adapt_lower_bound: bool = False, *,
                 nonfinite: str = "raise", **options: Any) -> None:
        super().__init__(lr, weight_decay, nonfinite=nonfinite, **options)
        self.beta = beta
        self.lower_bound = lower_bound
        self.adapt_lower_bound = adapt_lower_bound

    def moments(self, h: Any) -> tuple[float, float]:
        return (0.0 if h.t == 1 else h.beta), 1.0

    def direction(self, exp_avg: np.ndarray, g: np.ndarray, state: dict, h: Any,
                  t: int) -> np.ndarray:
        return exp_avg

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        ea = state["exp_avg"]
        ea[...] = h.beta_now * ea + (1 - h.beta_now) * g
        shrink = h.lr * h.weight_decay
        p += -shrink / (1 + shrink) * p - h.tau * ea


@register
class MomoAdam(MomoFamily):
    r"""MoMo-Adam, Adam(W) with a Polyak-type adaptive step (Schaipp, Ohana, Eickenberg,
    Defazio & Gower, "MoMo: Momentum Models for Adaptive Learning Rates", 2023, ICML 2024;
    arXiv:2305.07583): optax's ``optax.contrib.momo_adam``. It needs the loss:
    ``update(params, closure=closure)``.

    With α = ``lr``, λ = ``weight_decay``, the bias corrections b₁ = 1 − β₁ᵗ, b₂ = 1 − β₂ᵗ and
    the sums over all parameters:

    .. math::
        \bar f = \beta_1 \bar f + (1 - \beta_1) f(p), \quad m = \beta_1 m + (1 - \beta_1) g,
        \quad v = \beta_2 v + (1 - \beta_2) g^2, \quad D = \epsilon + \sqrt{v / b_2} \\
        \gamma = \beta_1 \gamma + (1 - \beta_1)\langle g, p\rangle, \quad
        \tau = \min\Big(\frac{\alpha}{b_1},\ \frac{\big((1 + \alpha\lambda)(\bar f - b_1 f_*
        - \gamma) + \langle m, p\rangle\big)_+}{\langle m, m / D\rangle}\Big), \quad
        p \leftarrow p - \frac{\alpha\lambda}{1 + \alpha\lambda} p - \tau\, \frac{m}{D}

    (τ = 0 where ⟨m, m/D⟩ ≤ 2⁻⁵²). ``adapt_lower_bound=True`` re-estimates f_* as MoMo does,
    with the bias corrections of the paper. No ``maximize`` or clipping.

    Defaults: ``lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, lower_bound=0.0,
    weight_decay=0.0, adapt_lower_bound=False`` — optax's. Equals
    ``optax.contrib.momo_adam(lr, beta1, beta2, eps, lower_bound, weight_decay,
    adapt_lower_bound)`` given ``value=`` the closure's loss.

    >>> x = {"w": np.array([1.0, 2.0])}        # f = ‖w‖², f* = 0
    >>> opt = MomoAdam(lr=1.0)
    >>> round(opt.update(x, closure=lambda: (float(x["w"] @ x["w"]), {"w": 2 * x["w"]})), 9)
    5.0
    >>> opt.step, bool(np.all(np.abs(x["w"]) < [1.0, 2.0]))
    (1, True)
    """

    name = "momo_adam"
    references = (
        Reference("optax.contrib.momo_adam"),
        Reference("optax.contrib.momo_adam", {"adapt_lower_bound": True},
                  {"adapt_lower_bound": True}),
    )
    lineage = Lineage(("adam", "momo"), "Polyak step on an Adam model", 2023,
                      "Schaipp et al. 2023")
    slots = ("exp_avg", "exp_avg_sq")
    nonnegative_slots = ("exp_avg_sq",)
    equations: ClassVar[tuple[str, ...]] = (
        "f̄ ← β₁f̄ + (1−β₁)f,   m ← β₁m + (1−β₁)g,   v ← β₂v + (1−β₂)g²,   D = ε + √(v/b₂)",
        "γ ← β₁γ + (1−β₁)⟨g, p⟩,   τ = min(α/b₁, ((1+αλ)(f̄ − b₁f* − γ) + ⟨m, p⟩)₊ / ⟨m, m/D⟩)",
        "p ← p − αλ/(1+αλ)·p − τ·m/D",
    )

    lr = ClosureRule.lr.replace(doc="largest step α", search=(1e-3, 1.0))
    beta1 = Hyper(UNIT, "decay β₁ of the first moment and of f̄, γ", search=(0.5, 0.99))
    beta2 = Hyper(UNIT, "decay β₂ of the second moment", search=(0.9, 0.9999))
    eps = Hyper(POSITIVE, "ε added to √v̂", tunable=False)

    def __init__(self, lr: Any = 1e-2, beta1: Any = 0.9, beta2: Any = 0.999, eps: Any = 1e-8,
                 lower_bound: Any = 0.0, weight_decay: Any = 0.0,
                 adapt_lower_bound: bool = False, *, nonfinite: str = "raise",
                 **options: Any) -> None:
        super().__init__(lr, weight_decay, nonfinite=nonfinite, **options)
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.lower_bound = lower_bound
        self.adapt_lower_bound = adapt_lower_bound

    def moments(self, h: Any) -> tuple[float, float]:
        return h.beta1, 1 - h.beta1 ** h.t

    def _second(self, old: np.ndarray, g: np.ndarray, h: Any) -> np.ndarray:
        return h.beta2 * old + (1 - h.beta2) * g * g

    def _denominator(self, v: np.ndarray, h: Any) -> np.ndarray:
        return h.eps + np.sqrt(v / (1 - h.beta2 ** h.t))

    def direction(self, exp_avg: np.ndarray, g: np.ndarray, state: dict, h: Any,
                  t: int) -> np.ndarray:
        old = state.get("exp_avg_sq", np.zeros_like(g))
        return exp_avg / self._denominator(self._second(old, g, h), h)

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        ea, eas = state["exp_avg"], state["exp_avg_sq"]
        ea[...] = h.beta1 * ea + (1 - h.beta1) * g
        eas[...] = self._second(eas, g, h)
        shrink = h.lr * h.weight_decay
        p += -shrink / (1 + shrink) * p - h.tau * ea / self._denominator(eas, h)
