"""Prodigy: Adam whose step size d grows to an estimate of the distance to a solution."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from . import sums
from .adam import AdamFamily
from .base import Optimizer
from .hyperparams import POSITIVE, UNIT, Choice, Count, Flag, Hyper, Number
from .lineage import Lineage
from .moments import bias_correction
from .references import Reference
from .registry import register
from .sums import GroupPart


def d_step_factor(use_bias_correction: bool, h: Any, t: int) -> Any:
    """``√(1 − β2ᵗ)/(1 − β1ᵗ)`` with ``use_bias_correction`` (Adam's), else 1: the factor of
    d·η in the D-adapted rules' step ``dlr`` (Prodigy, D-Adapt AdamW); t counts the steps
    that moved (:func:`idle_step`)."""
    if not use_bias_correction:
        return 1.0
    return math.sqrt(bias_correction(h.beta2, t)) / bias_correction(h.beta1, t)


def shared_lr(parts: list[GroupPart], authors: bool = True) -> Any:
    """The η of the step d·η of the groups sharing d (:meth:`.base.Optimizer.prepass_groups`):
    the largest of the groups' rates, each of which must be it or 0 (as in prodigyopt and
    dadaptation, which refuse other rates). In the authors' arithmetic a group at 0 adds
    nothing to the sums and keeps its moments (``h.frozen``; all at 0: the step changes
    nothing, :func:`idle_step`); in optax's (which has no groups) only beside a positive one.
    One group: its own rate, whatever it is."""
    if len(parts) == 1:
        lr = parts[0].h.lr
        parts[0].h.frozen = authors and np.ndim(lr) == 0 and lr == 0
        return lr
    for part in parts:
        if np.ndim(part.h.lr) != 0:
            raise InputError(f"{part.label}: lr must be a number when groups share d, not an "
                             f"array of shape {np.shape(part.h.lr)}")
    lr = max(float(part.h.lr) for part in parts)
    for part in parts:
        if part.h.lr not in (lr, 0.0):
            raise InputError(f"{part.label}: lr = {part.h.lr!r}, but groups that share d take "
                             f"the same lr ({lr!r}, the largest) or 0, as the authors' packages "
                             "do (a smaller step for a group: D-Adapt AdamW's layer_scale; or "
                             "Groups(..., share=False): a d per group)")
        part.h.frozen = part.h.lr == 0 and (authors or lr > 0)
    return lr


def sliced(a: np.ndarray, slice_p: int) -> np.ndarray:
    """Every ``slice_p``-th element of ``a`` flattened (C order, from the first), as
    prodigyopt's ``a.flatten()[::slice_p]``; ``a`` itself when ``slice_p`` is 1.

    >>> sliced(np.arange(6.0).reshape(2, 3), 4)
    array([0., 4.])
    """
    return a if slice_p == 1 else np.reshape(a, -1)[::slice_p]


def idle_step(parts: list[GroupPart], globals_: dict[str, Any], idle: bool) -> dict[str, Any]:
    """The step count ``h.k`` of the D-adapted rules' bias correction and start x₀ — steps
    that moved, ``t`` less the ``idle`` ones counted in the globals — and, when ``idle`` (no
    sum yet: ‖s‖₁ = 0, only zero gradients or rates at 0 so far), a step that changes
    nothing but that count (``h.idle``): the authors' code returns before it changes
    anything, and counts no step. Returns the globals after an idle step (``{}`` if not)."""
    before = int(globals_.get("idle", 0))
    for part in parts:
        part.h.idle = idle
    return {**globals_, "idle": before + 1} if idle else {}


@register
class Prodigy(Optimizer):
    r"""Prodigy (Mishchenko & Defazio, "Prodigy: An Expeditiously Adaptive Parameter-Free
    Learner", ICML 2024; arXiv:2306.06101): the authors' ``prodigyopt`` 1.1.2 ``Prodigy`` and
    optax's ``optax.contrib.prodigy``.

    With :math:`x_0` the parameters before the first update, :math:`d_0` = ``d0``, sums and
    dot products over ALL parameters, and :math:`\hat\eta_t = d_t\,\eta_t\,c_t`
    (:math:`c_t = \sqrt{1-\beta_2^t}/(1-\beta_1^t)` with ``use_bias_correction``, else 1):

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1)\, d_t g_t, \quad
        v_t = \beta_2 v_{t-1} + (1-\beta_2)\, d_t^2 g_t^2 \\
        s_t = \beta_3 s_{t-1} + \tfrac{d_t}{d_0} \hat\eta_t\, g_t, \quad
        r_t = \beta_3 r_{t-1} + \tfrac{d_t}{d_0} \hat\eta_t\, \langle g_t, x_0 - x_t\rangle \\
        d_{t+1} = \max\Bigl(d_t,\ \kappa\, \frac{r_t}{\lVert s_t\rVert_1}\Bigr), \quad
        x_{t+1} = x_t - \hat\eta_t \Bigl(\frac{m_t}{\sqrt{v_t} + d_{t+1}\epsilon}
        + \lambda x_t\Bigr)

    κ = ``d_coef``; β3 = √β2 unless given; the estimate is the running maximum (the authors'
    ``growth_rate`` bounds its growth per step: :math:`d_{t+1} \le` growth · :math:`d_t`).
    In a :class:`~.groups.Groups` the groups share d, as the authors' param groups do (one
    pre-pass over them all, :meth:`prepass_groups`; ``share=False``: a d per group).
    ``safeguard_warmup`` puts :math:`d_t` in place of :math:`\hat\eta_t` in :math:`s`.
    Weight decay is decoupled (λ·η̂·x, both references' default); ``decoupled_weight_decay=
    False`` is the authors' ``decouple=False`` (L2 in the gradient). A step whose ‖s‖₁ is 0
    (only zero gradients so far, or η = 0: a warm-up's first step) changes nothing and is not
    counted in t (the globals' ``idle``), as the authors' code returns before any change;
    ``form="optax"`` keeps d and steps on (optax's d would be nan). A group at η = 0 beside
    others (:class:`~.groups.Groups`) keeps its moments.
    ``form`` chooses whose arithmetic where the two references differ: with β1 = 0 the
    authors' code (``"prodigyopt"``) steps along :math:`\hat\eta_t d_{t+1} g_t` (the new d),
    optax's (``"optax"``) along :math:`m_t = d_t g_t`; and the authors decay the parameter
    and then step, optax sums the two first (a rounding apart, which these rules amplify).

    Defaults: ``lr=1.0, beta1=0.9, beta2=0.999, beta3=None, eps=1e-8, weight_decay=0, d0=1e-6,
    d_coef=1.0, growth_rate=None, use_bias_correction=False, safeguard_warmup=False,
    form="prodigyopt"`` — the authors'. optax's is ``use_bias_correction=True, form="optax"``:
    ``optax.contrib.prodigy(lr, (beta1, beta2), beta3, eps, estim_lr0=d0,
    estim_lr_coef=d_coef, weight_decay, safeguard_warmup)``. The default is the authors'
    because theirs is the reference implementation (optax's is a port that always corrects
    the bias).

    ``slice_p`` (default 1: every element) is the authors' memory saving: s and x₀ — and so
    the sums r and ‖s‖₁ — are kept over every ``slice_p``-th element of each flattened
    parameter only (elements 0, slice_p, 2·slice_p, ... in C order: ⌈n/slice_p⌉ of them),
    as prodigyopt's ``slice_p``; m and v stay whole. It is fixed once the optimizer has state
    and is per group in a :class:`~.groups.Groups` (as the authors' param groups). Prodigy has
    no fused kernel: every backend runs this NumPy rule.

    >>> params = {"x": np.array([1.0, -1.0])}
    >>> opt = Prodigy()
    >>> opt.update(params, {"x": np.array([1.0, -1.0])})   # first step: d₀·η·sign(g)
    >>> params["x"].round(9), opt.globals["d"]
    (array([ 1., -1.]), 1e-06)
    >>> sparse = Prodigy(slice_p=4)
    >>> sparse.update({"w": np.ones((3, 3))}, {"w": np.ones((3, 3))})
    >>> sparse.state["w"]["s"].shape, sparse.state["w"]["m"].shape   # elements 0, 4, 8
    ((3,), (3, 3))
    """

    name = "prodigy"
    references = (
        Reference("prodigyopt.Prodigy"),
        Reference("prodigyopt.Prodigy", {"lr": 2.0, "d0": 0.01, "safeguard_warmup": True},
                  {"lr": 2.0, "d0": 0.01, "safeguard_warmup": True}),
        Reference("optax.contrib.prodigy", {"lr": 2.0, "beta1": 0.0, "d0": 0.01,
                                            "use_bias_correction": True, "form": "optax"},
                  {"learning_rate": 2.0, "betas": (0.0, 0.999), "estim_lr0": 0.01}),
    )
    lineage = Lineage(("adam", "dog"), "d: estimated distance to a solution", 2024,
                      "Mishchenko & Defazio 2024")
    shared_globals = "d"
    shared_settings = ("beta1", "beta2", "beta3", "d0", "d_coef", "growth_rate",
                       "use_bias_correction", "decoupled_weight_decay", "form", "nonfinite")
    slots = ("m", "v", "s", "x0")
    nonnegative_slots = ("v",)
    equations: ClassVar[tuple[str, ...]] = (
        "η̂ = d·η·c   (c = √(1 − β2ᵗ)/(1 − β1ᵗ) with use_bias_correction, else 1)",
        "m ← β1·m + (1 − β1)·d·g,   v ← β2·v + (1 − β2)·d²·g²",
        "s ← β3·s + (d/d0)·η̂·g,   r ← β3·r + (d/d0)·η̂·⟨g, x0 − x⟩   (over all parameters)",
        "d ← max(d, κ·r/‖s‖₁)",
        "x ← x − η̂·(m/(√v + d·ε) + λ·x)",
    )

    lr = Optimizer.lr.replace(doc="factor η on the adapted step d (1: no rate to tune)",
                              search=(0.1, 10.0))
    beta1 = AdamFamily.beta1.replace()
    beta2 = AdamFamily.beta2.replace()
    eps = AdamFamily.eps.replace(doc="ε of the denominator (times d)")
    beta3 = Number(UNIT, "decay β3 of s and r (None: √β2)", optional=True)
    d0 = Number(POSITIVE, "the first estimate d₀ (small)")
    d_coef = Hyper(POSITIVE, "factor κ on the estimate (optax's estim_lr_coef)",
                   search=(0.1, 10.0), tunable=False)
    growth_rate = Number(POSITIVE, "bound on d's growth per step (None: ∞)", optional=True)
    use_bias_correction = Flag("Adam's bias correction in the step (optax's form)")
    safeguard_warmup = Flag("d instead of η̂ in s (the authors' advice with warm-up)")
    form = Choice(("prodigyopt", "optax"), "whose arithmetic: the authors' or optax's (β1 = 0 "
                  "and the order of the decay)")
    slice_p = Count(1, "s and x0 (the estimate's sums) over every slice_p-th element only "
                    "(prodigyopt's; less memory)", fixed_once_started=True)

    def __init__(self, lr: Any = 1.0, beta1: Any = 0.9, beta2: Any = 0.999,
                 beta3: float | None = None, eps: Any = 1e-8, weight_decay: Any = 0.0, *,
                 d0: float = 1e-6, d_coef: Any = 1.0, growth_rate: float | None = None,
                 use_bias_correction: bool = False, safeguard_warmup: bool = False,
                 form: str = "prodigyopt", slice_p: int = 1, maximize: bool = False,
                 **options: Any) -> None:
        options.setdefault("decoupled_weight_decay", True)
        super().__init__(lr, weight_decay, maximize=maximize, **options)
        self.beta1, self.beta2, self.beta3, self.eps = beta1, beta2, beta3, eps
        self.d0, self.d_coef, self.growth_rate = d0, d_coef, growth_rate
        self.use_bias_correction = use_bias_correction
        self.safeguard_warmup = safeguard_warmup
        self.form = form
        self.slice_p = slice_p

    def slot_shapes(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        """m and v of the parameter's shape; s and x0 too, or with ``slice_p`` > 1 a vector
        of every slice_p-th element (:func:`sliced`)."""
        shapes = super().slot_shapes(shape)
        if self.slice_p > 1:
            n = -(-math.prod(shape) // self.slice_p)
            shapes["s"] = shapes["x0"] = (n,)
        return shapes

    @property
    def decays_in_rule(self) -> bool:  # type: ignore[override]
        """Decoupled decay is λ·η̂·x (the rule's); L2 is the base's, in the gradient."""
        return bool(self.decoupled_weight_decay)

    def init_globals(self) -> dict[str, Any]:
        return {"d": self.d0, "d_max": self.d0, "numerator": 0.0, "idle": 0}

    def checked_checkpoint(self, d: Any) -> Any:
        """The base's checks, of a checkpoint written before ``slice_p`` existed taken as one
        with slice_p=1 (what it held)."""
        if isinstance(d, Mapping) and isinstance(d.get("options"), Mapping):
            d = {**d, "options": {"slice_p": 1, **d["options"]}}
        return super().checked_checkpoint(d)

    def global_name_sets(self) -> list[set[str]]:
        """Its globals (checkpoints written before ``idle`` was counted: without it)."""
        names = set(self.init_globals())
        return [names - {"idle"}, names]

    def prepass(self, leaves: list[tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]],
                globals_: dict[str, Any], h: Any) -> dict[str, Any]:
        return self.prepass_groups([GroupPart(self, leaves, h, "")], globals_)

    def prepass_groups(self, parts: list[GroupPart], globals_: dict[str, Any]
                       ) -> dict[str, Any]:
        """prodigyopt's sums over every param group: one d, with the shared settings
        (:attr:`shared_settings`) and the step count of the first group and η the groups'
        shared rate (:func:`shared_lr`); each group's own ``safeguard_warmup``, ε and weight
        decay."""
        first, authors = parts[0].h, self.form == "prodigyopt"
        d, d_max, d0 = globals_["d"], globals_["d_max"], self.d0
        idle = int(globals_.get("idle", 0))
        k = first.t - idle  # the steps that moved, this one included
        beta3 = math.sqrt(first.beta2) if self.beta3 is None else self.beta3
        dlr = d * shared_lr(parts, authors) * d_step_factor(self.use_bias_correction, first, k)
        numerator, s_l1 = beta3 * globals_["numerator"], 0.0
        for opt, leaves, h, _ in parts:
            s_coef = d if opt.safeguard_warmup else dlr
            h.k, h.d, h.dlr, h.s_coef, h.beta3 = k, d, dlr, s_coef, beta3
            if h.frozen:
                continue
            cut = opt.slice_p
            numerator += (d / d0) * dlr * sums.vdot(
                (sliced(g, cut) for _, g, _ in leaves),
                ((sliced(p, cut) if k == 1 else s["x0"]) - sliced(p, cut) for p, _, s in leaves))
            s_l1 += sums.l1(beta3 * s["s"] + s_coef * (d * sliced(g, cut)) / d0
                            for _, g, s in leaves)
        unchanged = idle_step(parts, globals_, authors and s_l1 == 0)
        if unchanged:
            return unchanged
        d_new = d
        if s_l1 > 0:
            d_hat = first.d_coef * numerator / s_l1
            start = max(d, d_hat) if d == d0 else d
            d_max = max(d_max, d_hat)
            d_new = d_max if self.growth_rate is None else min(d_max, start * self.growth_rate)
        for part in parts:
            part.h.d_new = d_new
        return {"d": d_new, "d_max": d_max, "numerator": numerator, "idle": idle}

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        if h.idle:  # (nothing to sum yet: the authors' code changes nothing)
            return
        m, v, s = state["m"], state["v"], state["s"]
        if h.k == 1:
            state["x0"][...] = sliced(p, self.slice_p)
        if not h.frozen:  # (a group at lr 0 beside others keeps its moments)
            dg = h.d * g
            m *= h.beta1
            m += (1 - h.beta1) * dg
            v *= h.beta2
            v += (1 - h.beta2) * dg * dg
            s *= h.beta3
            s += h.s_coef * sliced(dg, self.slice_p) / self.d0
        denominator = np.sqrt(v) + h.d_new * h.eps
        authors = self.form == "prodigyopt"
        if authors and np.all(h.beta1 == 0):  # the authors' code keeps no m then
            step = (h.dlr * h.d_new) * g / denominator
        else:
            step = h.dlr * m / denominator
        if self.decoupled_weight_decay and authors:  # decay, then step (two roundings)
            p -= (h.weight_decay * h.dlr) * p
        elif self.decoupled_weight_decay:  # optax: decay and step summed, then applied
            step = h.weight_decay * h.dlr * p + step
        p -= step
