"""D-Adaptation AdamW: Adam whose step size d is a lower bound on the distance to a solution."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from . import sums
from .adam import AdamFamily
from .base import Optimizer
from .hyperparams import POSITIVE, Flag, Hyper, Number
from .lineage import Lineage
from .prodigy import d_step_factor, idle_step, shared_lr
from .references import Reference
from .registry import register
from .sums import GroupPart


@register
class DAdaptAdamW(Optimizer):
    r"""D-Adaptation Adam (Defazio & Mishchenko, "Learning-Rate-Free Learning by
    D-Adaptation", ICML 2023; arXiv:2301.07733): the authors' ``dadaptation`` 3.2
    ``DAdaptAdam`` and optax's ``optax.contrib.dadapt_adamw``.

    With :math:`\hat\eta_t = d_t\,\eta_t\,c_t` (:math:`c_t = \sqrt{1-\beta_2^t}/(1-\beta_1^t)`
    with ``use_bias_correction``, else 1), β = √β2, and sums over ALL parameters:

    .. math::
        r_t = \beta r_{t-1} + (1-\beta)\,\hat\eta_t
              \Bigl\langle g_t, \frac{s_{t-1}}{\sqrt{v_{t-1}} + \epsilon}\Bigr\rangle, \quad
        s_t = \beta s_{t-1} + (1-\beta)\,\hat\eta_t\, g_t \\
        m_t = \beta_1 m_{t-1} + (1-\beta_1)\,\hat\eta_t\, g_t, \quad
        v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2 \\
        d_{t+1} = \max\Bigl(d_t,\ \frac{r_t}{(1-\beta)\lVert s_t\rVert_1}\Bigr), \quad
        x_{t+1} = x_t - \frac{m_t}{\sqrt{v_t} + \epsilon} - \lambda\hat\eta_t\, x_t

    In a :class:`~.groups.Groups` the groups share d, as the authors' param groups do (one
    pre-pass over them all, :meth:`prepass_groups`; ``share=False``: a d per group);
    ``layer_scale`` ℓ (the authors' per-group setting, 1 by default) multiplies a group's
    terms of r and of ‖s‖₁ and its m (m ← β1·m + (1 − β1)·ℓ·η̂·g): their way to give a
    group a smaller step under the one d (its lr can only be the others' or 0).
    The authors' ``growth_rate`` bounds d's growth per step. Weight decay is decoupled
    (λ·η̂·x: AdamW, optax's and the authors' ``decouple=True``); ``decoupled_weight_decay=
    False`` is the authors' default ``decouple=False`` (L2 in the gradient). A step whose
    ‖s‖₁ is 0 (only zero gradients so far, or η = 0: a warm-up's first step) changes nothing
    and is not counted in t (the globals' ``idle``), as the authors' code returns before any
    change (optax's would update v, or make d nan). A group at η = 0 beside others
    (:class:`~.groups.Groups`) keeps its moments.

    Defaults: ``lr=1.0, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0, d0=1e-6,
    growth_rate=None, use_bias_correction=False, layer_scale=1``, decoupled decay. optax's form is
    ``use_bias_correction=True``: ``optax.contrib.dadapt_adamw(lr, (beta1, beta2), eps,
    estim_lr0=d0, weight_decay)``; the authors' ``DAdaptAdam(lr, betas, eps, weight_decay,
    decouple=True, use_bias_correction, d0, growth_rate)`` is this class with the same
    settings. Bias correction is off by default as in the authors' reference implementation
    (optax's port always applies it); the decay is decoupled by default as the name (and
    optax) says.

    >>> params = {"x": np.array([1.0, -1.0])}
    >>> opt = DAdaptAdamW()
    >>> opt.update(params, {"x": np.array([1.0, -1.0])})   # m = d₀(1 − β1)g: a tiny step
    >>> params["x"].round(9), opt.globals["d"]
    (array([ 1., -1.]), 1e-06)
    """

    name = "dadapt_adamw"
    references = (
        Reference("dadaptation.DAdaptAdam"),
        Reference("dadaptation.DAdaptAdam", {"weight_decay": 0.01},
                  {"weight_decay": 0.01, "decouple": True}),
        Reference("optax.contrib.dadapt_adamw", {"use_bias_correction": True}),
    )
    lineage = Lineage(("adamw",), "d: lower bound on the distance to a solution", 2023,
                      "Defazio & Mishchenko 2023")
    shared_globals = "d"
    shared_settings = ("beta1", "beta2", "d0", "growth_rate", "use_bias_correction",
                       "decoupled_weight_decay", "nonfinite")
    slots = ("m", "v", "s")
    nonnegative_slots = ("v",)
    equations: ClassVar[tuple[str, ...]] = (
        "η̂ = d·η·c   (c = √(1 − β2ᵗ)/(1 − β1ᵗ) with use_bias_correction, else 1),  β = √β2",
        "r ← β·r + (1 − β)·η̂·⟨g, s/(√v + ε)⟩   (over all parameters)",
        "s ← β·s + (1 − β)·η̂·g,   m ← β1·m + (1 − β1)·η̂·g,   v ← β2·v + (1 − β2)·g²",
        "d ← max(d, r/((1 − β)·‖s‖₁))",
        "x ← x − m/(√v + ε) − λ·η̂·x",
    )

    lr = Optimizer.lr.replace(doc="factor η on the adapted step d (1: no rate to tune)",
                              search=(0.1, 10.0))
    beta1 = AdamFamily.beta1.replace()
    beta2 = AdamFamily.beta2.replace()
    eps = AdamFamily.eps.replace()
    d0 = Number(POSITIVE, "the first estimate d₀ (small)", fixed_once_started=True)
    growth_rate = Number(POSITIVE, "bound on d's growth per step (None: ∞)", optional=True)
    use_bias_correction = Flag("Adam's bias correction in the step (optax's form)")
    layer_scale = Hyper(POSITIVE, "factor ℓ on this group's terms of the sums and its m (the "
                        "authors' per-group layer_scale)", tunable=False)

    def __init__(self, lr: Any = 1.0, beta1: Any = 0.9, beta2: Any = 0.999, eps: Any = 1e-8,
                 weight_decay: Any = 0.0, *, d0: float = 1e-6, growth_rate: float | None = None,
                 use_bias_correction: bool = False, layer_scale: Any = 1.0,
                 maximize: bool = False, **options: Any) -> None:
        options.setdefault("decoupled_weight_decay", True)
        super().__init__(lr, weight_decay, maximize=maximize, **options)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.d0, self.growth_rate = d0, growth_rate
        self.use_bias_correction = use_bias_correction
        self.layer_scale = layer_scale

    @property
    def decays_in_rule(self) -> bool:  # type: ignore[override]
        """Decoupled decay is λ·η̂·x (the rule's); L2 is the base's, in the gradient."""
        return bool(self.decoupled_weight_decay)

    def init_globals(self) -> dict[str, Any]:
        return {"d": self.d0, "numerator": 0.0, "idle": 0}

    def global_name_sets(self) -> list[set[str]]:
        """Its globals (checkpoints written before ``idle`` was counted: without it)."""
        names = set(self.init_globals())
        return [names - {"idle"}, names]

    def prepass(self, leaves: list[tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]],
                globals_: dict[str, Any], h: Any) -> dict[str, Any]:
        return self.prepass_groups([GroupPart(self, leaves, h, "")], globals_)

    def prepass_groups(self, parts: list[GroupPart], globals_: dict[str, Any]
                       ) -> dict[str, Any]:
        """dadaptation's sums over every param group: one d, with the shared settings
        (:attr:`shared_settings`) and the step count of the first group and η the groups'
        shared rate (:func:`.prodigy.shared_lr`); each group's own ε and weight decay."""
        first = parts[0].h
        d = globals_["d"]
        idle = int(globals_.get("idle", 0))
        root = math.sqrt(first.beta2)
        dlr = d * shared_lr(parts) * d_step_factor(self.use_bias_correction, first,
                                                   first.t - idle)
        accumulated, s_l1 = 0.0, 0.0
        for _, leaves, h, _ in parts:
            h.dlr, h.root = dlr, root
            if h.frozen:
                continue
            accumulated += h.layer_scale * sums.vdot(
                (g for _, g, _ in leaves), (s["s"] / (np.sqrt(s["v"]) + h.eps)
                                            for _, _, s in leaves))
            s_l1 += h.layer_scale * sums.l1(root * s["s"] + (1 - root) * dlr * g
                                            for _, g, s in leaves)
        unchanged = idle_step(parts, globals_, s_l1 == 0)
        if unchanged:
            return unchanged
        numerator = root * globals_["numerator"] + (1 - root) * dlr * accumulated
        d_hat = numerator / ((1 - root) * s_l1)
        d_new = max(d, d_hat if self.growth_rate is None else min(d_hat, d * self.growth_rate))
        return {"d": d_new, "numerator": numerator, "idle": idle}

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        if h.idle:  # (nothing to sum yet: the authors' code changes nothing)
            return
        m, v, s = state["m"], state["v"], state["s"]
        if not h.frozen:  # (a group at lr 0 beside others keeps its moments)
            m *= h.beta1
            m += (1 - h.beta1) * (h.layer_scale * h.dlr) * g
            v *= h.beta2
            v += (1 - h.beta2) * g * g
            s *= h.root
            s += (1 - h.root) * h.dlr * g
        if self.decoupled_weight_decay:
            p -= (h.weight_decay * h.dlr) * p
        p -= m / (np.sqrt(v) + h.eps)
