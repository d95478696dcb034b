"""LaProp: momentum on the RMS-normalised gradient (Adam with the two moments decoupled)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from .adam import AdamFamily
from .hyperparams import NONNEGATIVE, Count, Flag, Hyper
from .lineage import Lineage
from .moments import bias_correction, ema_square, scalar_sqrt
from .references import Reference
from .registry import register


@register
class LaProp(AdamFamily):
    r"""LaProp (Ziyin, Wang & Ueda, "LaProp: Separating Momentum and Adaptivity in Adam",
    arXiv:2002.04839, 2020), pytorch-optimizer's ``LaProp``.

    Adam divides the momentum by the RMS; LaProp takes the momentum of the gradient already
    divided by the RMS, so β1 and β2 no longer constrain each other:

    .. math::
        v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2, \qquad
        d_t = \frac{\sqrt{v_t + \bar\epsilon} + \epsilon}{\sqrt{1 - \beta_2^t}} \\
        m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, \eta_t\, \frac{g_t}{d_t}, \qquad
        \bar\eta_t = \beta_1 \bar\eta_{t-1} + (1 - \beta_1)\, \eta_t \\
        p_t = \bigl(p_{t-1} - \tfrac{\eta_t}{\bar\eta_t}\, m_t\bigr)\,(1 - \eta_t\lambda)

    :math:`\bar\eta_t` is the bias correction of a momentum that carries the rate (with a
    constant rate, :math:`\eta/\bar\eta_t = 1/(1 - \beta_1^t)`). ``centered=True`` replaces
    :math:`v_t` by :math:`v_t - \mu_t^2` (:math:`\mu_t` the β2-average of g) after the first
    ``steps_before_using_centered`` updates; ``ams_bound=True`` takes the running maximum of
    that second moment; :math:`\bar\epsilon` = ``eps_root`` is the 1e-15 pytorch-optimizer
    adds inside every root (not an argument there); ``fixed_decay=True`` decays by
    :math:`(1 - \lambda)`. The decay comes *after* the step, as pytorch-optimizer applies it
    (its coupled ``weight_decouple=False`` form adds λp to a gradient already used, so it
    does nothing there; it is not offered).

    Defaults: ``lr=0.0004, beta1=0.9, beta2=0.999, eps=1e-15, weight_decay=0.0,
    eps_root=1e-15`` —
    pytorch-optimizer's. Equals ``pytorch_optimizer.LaProp(params, lr, betas=(beta1, beta2),
    eps=eps, weight_decay=weight_decay, centered=..., ams_bound=..., fixed_decay=...,
    foreach=False)`` (its foreach path rounds the step size to float32).

    >>> params = {"x": 1.0}
    >>> opt = LaProp(lr=0.1)
    >>> opt.update(params, {"x": 2.0})   # d = 2, m = 0.1·0.1·2/2, step 0.1/0.01·m = 0.1
    >>> round(params["x"], 12)
    0.9
    """

    name = "laprop"
    lineage = Lineage(("adam",), "momentum of g/√v", 2020, "Ziyin et al. 2020")
    references = (
        Reference("pytorch_optimizer.LaProp", theirs={"foreach": False}),
        Reference("pytorch_optimizer.LaProp", {"centered": True, "ams_bound": True},
                  {"centered": True, "ams_bound": True, "foreach": False}),
    )
    centered = Flag("subtract the square of the averaged gradient from v (after a warm-up)",
                    fixed_once_started=True)
    ams_bound = Flag("use the running maximum of the second moment")
    fixed_decay = Flag("decay by (1 − λ) instead of (1 − ηλ)")
    steps_before_using_centered = Count(0, "updates before centered=True takes effect")
    decays_in_rule = True
    elementwise = True
    kernel = "laprop"
    equations: ClassVar[tuple[str, ...]] = (
        "v ← β2·v + (1 − β2)·g²,   d = (√(v + ε̄) + ε)/√(1 − β2ᵗ)",
        "m ← β1·m + (1 − β1)·η·g/d,   η̄ ← β1·η̄ + (1 − β1)·η",
        "p ← (p − (η/η̄)·m)·(1 − η·λ)",
        "centered: v − μ² (μ ← β2·μ + (1 − β2)·g); ams_bound: running max",
    )
    nonnegative_slots = ("v", "v_max")

    beta1 = AdamFamily.beta1.replace(search=(0.5, 0.999))  # β1 free of β2 (the paper)
    eps_root = Hyper(NONNEGATIVE, "ε̄ inside the square root (pytorch-optimizer's 1e-15)",
                     tunable=False)

    def __init__(self, lr: Any = 4e-4, beta1: Any = 0.9, beta2: Any = 0.999, eps: Any = 1e-15,
                 weight_decay: Any = 0.0, *, eps_root: Any = 1e-15, centered: bool = False,
                 steps_before_using_centered: int = 10, ams_bound: bool = False,
                 fixed_decay: bool = False, maximize: bool = False, **options: Any) -> None:
        super().__init__(lr, beta1, beta2, eps, weight_decay, maximize=maximize, **options)
        self.eps_root = eps_root
        self.centered = centered
        self.steps_before_using_centered = steps_before_using_centered
        self.ams_bound = ams_bound
        self.fixed_decay = fixed_decay

    def check_settings(self, values: dict[str, Any]) -> None:
        if values.get("decoupled_weight_decay"):
            raise InputError("laprop always decays after its step (decoupled, as "
                             "pytorch-optimizer's weight_decouple=True; fixed_decay chooses "
                             "1 − λ or 1 − ηλ): decoupled_weight_decay=True does not apply")

    @property
    def slots(self) -> tuple[str, ...]:  # type: ignore[override]
        """``m`` and ``v``, with ``mu`` (centered) and ``v_max`` (ams_bound)."""
        return ("m", "v") + ("mu",) * self.centered + ("v_max",) * self.ams_bound

    def init_globals(self) -> dict[str, Any]:
        return {"lr_avg": 0.0}

    def begin_step(self, h: Any) -> None:
        lr_avg = h.beta1 * self.globals["lr_avg"] + (1 - h.beta1) * h.lr  # η̄
        self.globals["lr_avg"] = lr_avg
        h.step_size = np.where(h.lr != 0, h.lr / np.where(h.lr != 0, lr_avg, 1.0), 1.0)
        if np.ndim(h.step_size) == 0:
            h.step_size = float(h.step_size)

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        m = state["m"]
        second = ema_square(state["v"], g, h.beta2)  # v = β2·v + (1 − β2)·g²
        if self.centered:
            mu = state["mu"]
            mu += (1 - h.beta2) * (g - mu)  # μ = β2·μ + (1 − β2)·g
            if h.t > self.steps_before_using_centered:
                second = second - mu * mu
        if self.ams_bound:
            second = np.maximum(state["v_max"], second, out=state["v_max"])
        d = (np.sqrt(second + h.eps_root) + h.eps) / scalar_sqrt(bias_correction(h.beta2, h.t))
        m *= h.beta1
        m += ((1 - h.beta1) * h.lr) * (g / d)  # m = β1·m + (1 − β1)·η·g/d
        p -= h.step_size * m
        if np.any(h.weight_decay != 0):
            p *= 1 - h.weight_decay * (1.0 if self.fixed_decay else h.lr)
