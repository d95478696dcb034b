"""MARS: variance-reduced (corrected) gradients in an AdamW, Lion or Shampoo/Muon step."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from .base import Optimizer
from .cautious import cautious_mask
from .hyperparams import NONNEGATIVE, POSITIVE, UNIT, Choice, Flag, Hyper
from .lineage import Lineage
from .moments import bias_correction, ema, ema_square
from .muon import NS_COEFFICIENTS, NS_STEPS, newton_schulz, to_bfloat16
from .references import Reference
from .registry import register


@register
class MARS(Optimizer):
    r"""MARS (Yuan, Liu, Wu, Zhou & Gu, "MARS: Unleashing the Power of Variance Reduction for
    Training Large Models", arXiv:2411.10438, 2024), pytorch-optimizer's ``MARS``.

    A scaled, clipped gradient correction — the stochastic recursive momentum of STORM with
    the previous step's gradient standing in for the current gradient at the previous
    parameters — feeds one of three preconditioned steps (``mars_type``):

    .. math::
        c_t = g_t + \gamma\,\frac{\beta_1}{1 - \beta_1}\,(g_t - g_{t-1}), \qquad
        \tilde c_t = c_t / \max(1, \lVert c_t \rVert_F) \\
        m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, \tilde c_t, \qquad
        u_t = \begin{cases}
          \dfrac{m_t}{1 - \beta_1^t} \Big/ \Bigl(\dfrac{\sqrt{v_t + \bar\epsilon} + \epsilon}
            {\sqrt{1 - \beta_2^t}}\Bigr),\
          v_t = \beta_2 v_{t-1} + (1 - \beta_2)\,\tilde c_t^2 & \texttt{adamw} \\
          \operatorname{sign}(m_t) & \texttt{lion} \\
          \sqrt{\max(1, A/B)}\ \mathrm{NS}_5\bigl(m_t / (1 - \beta_1)\bigr) & \texttt{shampoo}
        \end{cases} \\
        p_t = p_{t-1}\,(1 - \eta\lambda) - \eta\, u_t

    :math:`g_0 = 0`, so the first correction is :math:`(1 + \gamma\beta_1/(1 - \beta_1))\,
    g_1` (pytorch-optimizer's; the paper starts from :math:`c_1 = g_1`). The norm is over the
    whole parameter array (the rule runs per array). NS₅ is Muon's quintic Newton–Schulz
    iteration (:func:`~descentlab.optim.muon.newton_schulz`, with this ε) of the array seen as
    a matrix (A, rest) — A, B its first two dimensions; ``ns_dtype="bfloat16"`` (default)
    rounds to bfloat16 where pytorch-optimizer does (its result and the product by the scale
    too), ``"param"`` computes in the parameter's dtype (what the float64 comparison uses).
    ``mars_type="shampoo"`` steps arrays of fewer than two dimensions the ``adamw`` way.

    Arrays of fewer than two dimensions (biases, norms, scalars) take plain AdamW with their
    own rate :math:`\eta \cdot` ``lr_1d_factor``, ``beta1_1d``, ``beta2_1d`` and
    ``weight_decay_1d`` (no correction), unless
    ``optimize_1d=True``, when they are treated like the matrices. ``cautious=True`` masks the
    step where it disagrees in sign with g (:func:`~descentlab.optim.cautious.cautious_mask`,
    before the sign or the division); ``ams_bound=True`` takes the running maximum of v;
    ``fixed_decay=True`` decays by :math:`(1 - \lambda)`; ``decoupled_weight_decay=False`` is
    pytorch-optimizer's coupled form, which adds λp to the gradient *after* the step was
    computed, so it reaches the rule only through the stored :math:`g_{t-1}` of the next
    correction. :math:`\bar\epsilon` = ``eps_root`` is the 1e-15 pytorch-optimizer adds inside
    the root (not an argument there).

    The 1-D rate is relative, as pytorch-optimizer computes it: its ``lr_1d`` argument
    becomes ``lr_1d/lr`` (its ``lr_1d_factor``) at construction, and the group's current
    rate times it is the 1-D rate, so a schedule of ``lr`` (or ``lr=0``) scales both. Here
    that factor is the hyperparameter: pytorch-optimizer's ``lr_1d`` is
    ``lr_1d_factor=lr_1d/lr``.

    Defaults: ``lr=0.003, beta1=0.95, beta2=0.99, gamma=0.025, eps=1e-8, weight_decay=0,
    lr_1d_factor=1, beta1_1d=0.9, beta2_1d=0.95, weight_decay_1d=0.1, eps_root=1e-15`` —
    pytorch-optimizer's.
    Equals ``pytorch_optimizer.MARS(params, lr, betas=(beta1, beta2), gamma=gamma,
    mars_type=..., optimize_1d=..., lr_1d=lr·lr_1d_factor, betas_1d=(beta1_1d, beta2_1d),
    weight_decay=..., weight_decay_1d=..., weight_decouple=..., fixed_decay=...,
    ams_bound=..., cautious=..., eps=eps, foreach=False)``.

    >>> w = {"w": np.array([[1.0, 2.0]])}
    >>> opt = MARS(lr=0.1)
    >>> opt.update(w, {"w": np.array([[0.3, -0.4]])})  # step 1: m̂/√v̂ = sign(c), ‖c‖ < 1
    >>> np.round(w["w"], 6).tolist()
    [[0.9, 2.1]]
    """

    name = "mars"
    references = (
        Reference("pytorch_optimizer.MARS", theirs={"foreach": False}),
        Reference("pytorch_optimizer.MARS", {"mars_type": "shampoo", "ns_dtype": "param"},
                  {"mars_type": "shampoo", "foreach": False},
                  note="its Newton–Schulz iteration in float64"),
    )
    lineage = Lineage(("adamw",), "variance-reduced gradient correction", 2024,
                      "Yuan et al. 2024")
    decays_in_rule = True
    stacks_runs = True  # a sweep's runs as one stack: norms, masks and NS per run
    nonnegative_slots = ("v", "v_max")
    equations: ClassVar[tuple[str, ...]] = (
        "c = g + γ·β1/(1 − β1)·(g − g_prev),   c ← c / max(1, ‖c‖)   (per array, ≥ 2-D)",
        "m ← β1·m + (1 − β1)·c,   adamw: v ← β2·v + (1 − β2)·c²",
        "u = m̂/(√v̂ + ε) (adamw) | sign(m) (lion) | √max(1, A/B)·NS(m/(1 − β1)) (shampoo)",
        "p ← p·(1 − η·λ) − η·u;   < 2-D: AdamW with η·lr_1d_factor, β_1d, λ_1d",
    )

    mars_type = Choice(("adamw", "lion", "shampoo"), "the step the corrected momentum feeds")
    optimize_1d = Flag("treat arrays of fewer than two dimensions like the matrices")
    ams_bound = Flag("use the running maximum of v")
    cautious = Flag("mask the step where it disagrees in sign with g")
    fixed_decay = Flag("decay by (1 − λ) instead of (1 − ηλ)")
    ns_dtype = Choice(("bfloat16", "param"), "the Newton–Schulz arithmetic (shampoo): "
                      "bfloat16 as pytorch-optimizer, or the parameters' dtype")

    lr = Optimizer.lr.replace(search=(1e-4, 0.1))
    beta1 = Hyper(UNIT, "decay β1 of the momentum", search=(0.8, 0.99))
    beta2 = Hyper(UNIT, "decay β2 of the second moment", search=(0.9, 0.999))
    gamma = Hyper(NONNEGATIVE, "γ, the strength of the gradient correction",
                  search=(0.005, 0.1))
    eps = Hyper(POSITIVE, "ε of the denominator (and of the Newton–Schulz norm)",
                tunable=False)
    eps_root = Hyper(NONNEGATIVE, "ε̄ inside the square root (pytorch-optimizer's 1e-15)",
                     tunable=False)
    lr_1d_factor = Hyper(NONNEGATIVE, "the rate of the arrays of fewer than two dimensions, "
                         "as a multiple of lr", tunable=False)
    beta1_1d = Hyper(UNIT, "β1 of the arrays of fewer than two dimensions", tunable=False)
    beta2_1d = Hyper(UNIT, "β2 of the arrays of fewer than two dimensions", tunable=False)
    weight_decay_1d = Hyper(NONNEGATIVE, "weight decay of the arrays of fewer than two "
                            "dimensions", tunable=False)

    def __init__(self, lr: Any = 3e-3, beta1: Any = 0.95, beta2: Any = 0.99,
                 gamma: Any = 0.025, mars_type: str = "adamw", optimize_1d: bool = False,
                 lr_1d_factor: Any = 1.0, beta1_1d: Any = 0.9, beta2_1d: Any = 0.95,
                 weight_decay: Any = 0.0, weight_decay_1d: Any = 0.1, *,
                 fixed_decay: bool = False, ams_bound: bool = False, cautious: bool = False,
                 eps: Any = 1e-8, eps_root: Any = 1e-15, ns_dtype: str = "bfloat16",
                 maximize: bool = False,
                 **options: Any) -> None:
        options.setdefault("decoupled_weight_decay", True)  # pytorch-optimizer's default
        super().__init__(lr, weight_decay, maximize=maximize, **options)
        self.beta1 = beta1
        self.beta2 = beta2
        self.gamma = gamma
        self.eps = eps
        self.eps_root = eps_root
        self.lr_1d_factor = lr_1d_factor
        self.beta1_1d = beta1_1d
        self.beta2_1d = beta2_1d
        self.weight_decay_1d = weight_decay_1d
        self.mars_type = mars_type
        self.optimize_1d = optimize_1d
        self.fixed_decay = fixed_decay
        self.ams_bound = ams_bound
        self.cautious = cautious
        self.ns_dtype = ns_dtype

    @property
    def slots(self) -> tuple[str, ...]:  # type: ignore[override]
        """``m``, ``v``, the previous gradient ``last_grad`` and, with ams_bound, ``v_max``."""
        return ("m", "v", "last_grad") + ("v_max",) * self.ams_bound

    def adam_step(self, u: np.ndarray, x: np.ndarray, state: dict, beta1: Any, beta2: Any,
                  h: Any) -> np.ndarray:
        """``u`` divided by the bias-corrected RMS of ``x`` (which updates ``v``)."""
        v = ema_square(state["v"], x, beta2)  # v = β2·v + (1 − β2)·x²
        if self.ams_bound:
            v = np.maximum(state["v_max"], v, out=state["v_max"])
        denom = np.sqrt(v + h.eps_root) + h.eps
        denom = denom / np.sqrt(bias_correction(beta2, h.t)) * bias_correction(beta1, h.t)
        return u / denom

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        lead = int(self.leading_runs)  # 1: axis 0 holds runs (a sweep's stack)
        shape = p.shape[lead:]
        mixed = self.optimize_1d or len(shape) >= 2
        if mixed:
            lr, wd, beta1, beta2 = h.lr, h.weight_decay, h.beta1, h.beta2
            c = (g - state["last_grad"]) * (h.gamma * (beta1 / (1.0 - beta1))) + g
            # ‖c‖ of each run's array (the whole array alone)
            norm = np.sqrt(np.sum(c * c, axis=tuple(range(lead, c.ndim)), keepdims=True))
            c = np.where(norm > 1.0, c / norm, c)
        else:
            lr, wd = h.lr * h.lr_1d_factor, h.weight_decay_1d
            beta1, beta2 = h.beta1_1d, h.beta2_1d
            c = g
        m = ema(state["m"], c, beta1)  # m = β1·m + (1 − β1)·c
        u = m * cautious_mask(m, g, runs=lead) if self.cautious else m.copy()
        if mixed and self.mars_type == "lion":
            u = np.sign(u)
        elif mixed and self.mars_type == "shampoo" and len(shape) >= 2:
            u = self.orthogonalised(u, shape, beta1, h.eps)
        else:
            u = self.adam_step(u, c, state, beta1, beta2, h)
        if self.decoupled_weight_decay:
            if np.any(wd != 0):
                p *= 1 - wd * (1.0 if self.fixed_decay else lr)
            state["last_grad"][...] = g
        else:  # pytorch-optimizer's coupled form: λp joins the stored gradient only
            state["last_grad"][...] = g + wd * p if np.any(wd != 0) else g
        p -= lr * u

    def orthogonalised(self, u: np.ndarray, shape: tuple[int, ...], beta1: Any,
                       eps: Any) -> np.ndarray:
        """The shampoo step: √max(1, A/B)·NS₅(u/(1 − β1)) of ``u`` seen as (A, rest) (a
        stack of them with :attr:`leading_runs`, ``shape`` a run's)."""
        bf16 = self.ns_dtype == "bfloat16"
        scale = math.sqrt(max(1.0, shape[0] / shape[1]))
        x = u.reshape(*u.shape[:u.ndim - len(shape)], shape[0], -1) * (1.0 / (1.0 - beta1))
        o = newton_schulz(x, NS_STEPS, NS_COEFFICIENTS, eps, bfloat16=bf16) * scale
        return (to_bfloat16(o) if bf16 else o).reshape(u.shape).astype(u.dtype, copy=False)
