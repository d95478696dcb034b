"""RAdam: Adam with its variance rectified while the second moment is young."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from .adam import AdamFamily
from .hyperparams import ANY, NONNEGATIVE, Flag, Hyper, form_option
from .lineage import Lineage
from .moments import bias_correction, ema, ema_square, power
from .references import Reference
from .registry import register


@register
class RAdam(AdamFamily):
    r"""RAdam (Liu et al., "On the Variance of the Adaptive Learning Rate and Beyond", ICLR
    2020), PyTorch's form; optax's with ``form="optax"``.

    .. math::
        m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2, \qquad
        \hat m_t = m_t / (1 - \beta_1^t) \\
        \rho_\infty = \frac{2}{1 - \beta_2} - 1, \qquad
        \rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1 - \beta_2^t} \\
        \rho_t > 5:\quad r_t = \sqrt{\frac{(\rho_t - 4)(\rho_t - 2)\rho_\infty}
                                          {(\rho_\infty - 4)(\rho_\infty - 2)\rho_t}},
        \qquad p_t = p_{t-1} - \eta\, \hat m_t\, \frac{\sqrt{1 - \beta_2^t}}{\sqrt{v_t} + \epsilon}
                     \, r_t \\
        \text{otherwise:}\quad p_t = p_{t-1} - \eta\, \hat m_t \quad\text{(momentum SGD)}

    ``decoupled_weight_decay=True`` shrinks ``p ← p(1 − ηλ)`` before the step instead of adding
    λp to the gradient (PyTorch's ``RAdam(decoupled_weight_decay=True)``, "RAdamW").

    ``form="optax"`` is ``optax.radam``: ε on the bias-corrected root and the switch at
    ρₜ ≥ τ (``threshold``, 5) instead of ρₜ > 5, with optax's ``eps_root`` ε̄ inside the root
    and its ``nesterov`` m̂:

    .. math::
        \hat v_t = \frac{v_t}{1 - \beta_2^t}, \qquad
        \rho_t \ge \tau:\quad p_t = p_{t-1} - \eta\, r_t\,
        \frac{\hat m_t}{\sqrt{\hat v_t + \bar\epsilon} + \epsilon}, \qquad
        \text{otherwise}\quad p_t = p_{t-1} - \eta\, \hat m_t \\
        \text{nesterov:}\quad \hat m_t = \frac{\beta_1 m_t}{1 - \beta_1^{t+1}}
                            + \frac{(1 - \beta_1) g_t}{1 - \beta_1^t}

    optax's RAdam has no weight decay; ``weight_decay`` works as for every optimizer. In the
    torch form ``threshold`` is the bound ρₜ must exceed (PyTorch's 5); ``eps_root`` and
    ``nesterov`` belong to the optax form. ``form`` is chosen before the first update (as for
    every class with two forms).

    Defaults: ``lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0, threshold=5,
    eps_root=0, nesterov=False, form="torch"`` — ``torch.optim.RAdam``, equal to it with every
    option (tests/test_optim_torch_more.py); ``form="optax"``: ``optax.radam`` 0.2.8 with every
    option, within 1e-12 relative over 100 steps in float64 (tests/test_optax_forms.py).

    >>> params = {"x": 1.0}
    >>> opt = RAdam(lr=0.1)
    >>> opt.update(params, {"x": 2.0})   # ρ₁ ≤ 5: a plain momentum step, η·m̂ = 0.1·2
    >>> round(params["x"], 12)
    0.8
    >>> opt = RAdam(lr=0.1, form="optax", nesterov=True)   # m̂ = 0.9·0.2/0.19 + 0.1·2/0.1
    >>> params = {"x": 1.0}; opt.update(params, {"x": 2.0}); round(params["x"], 12)
    0.705263157895
    """

    name = "radam"
    lineage = Lineage(("adam",), "rectification of the variance", 2020, "Liu et al. 2020")
    references = (
        Reference("torch.optim.RAdam"),
        Reference("torch.optim.RAdam", {"weight_decay": 0.01, "decoupled_weight_decay": True},
                  {"weight_decay": 0.01, "decoupled_weight_decay": True}),
        Reference("optax.radam", {"lr": 0.01, "form": "optax"}, {"learning_rate": 0.01}),
        Reference("optax.radam", {"lr": 0.01, "nesterov": True, "form": "optax"},
                  {"learning_rate": 0.01, "nesterov": True}),
    )
    slots = ("m", "v")
    nonnegative_slots = ("v",)
    equations = ("m ← β1·m + (1 − β1)·g,   v ← β2·v + (1 − β2)·g²,   m̂ = m / (1 − β1ᵗ)",
                 "ρ∞ = 2/(1 − β2) − 1,   ρₜ = ρ∞ − 2t·β2ᵗ/(1 − β2ᵗ)",
                 "ρₜ > 5: r = √((ρₜ − 4)(ρₜ − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρₜ)),",
                 "        p ← p − η·m̂·√(1 − β2ᵗ)/(√v + ε)·r",
                 "else:   p ← p − η·m̂")
    elementwise = True
    kernel = "radam"

    form = form_option("torch.optim.RAdam's rule, or optax.radam's (ε on √v̂, ρₜ ≥ τ)",
                       fixed_once_started=True)
    nesterov = Flag("Nesterov's m̂ (optax's radam(nesterov=True); form='optax')")
    threshold = Hyper(ANY, "τ: rectify once ρₜ > τ (torch) or ρₜ ≥ τ (optax)", tunable=False)
    eps_root = Hyper(NONNEGATIVE, "ε̄ inside the square root (optax)", tunable=False)

    def __init__(self, lr: Any = 0.001, beta1: Any = 0.9, beta2: Any = 0.999, eps: Any = 1e-8,
                 weight_decay: Any = 0.0, decoupled_weight_decay: bool = False, *,
                 threshold: Any = 5.0, eps_root: Any = 0.0, nesterov: bool = False,
                 form: str = "torch", maximize: bool = False, **options: Any) -> None:
        super().__init__(lr, beta1, beta2, eps, weight_decay,
                         decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
                         **options)
        self.threshold = threshold
        self.eps_root = eps_root
        self.nesterov = nesterov
        self.form = form

    def check_settings(self, values: dict[str, Any]) -> None:
        """optax's ``eps_root`` and ``nesterov`` go with ``form="optax"``."""
        if values.get("form") == "torch":
            eps_root = values.get("eps_root")
            if eps_root is not None and np.any(np.asarray(eps_root) != 0):
                raise InputError("eps_root (optax's) needs form='optax'")
            if values.get("nesterov"):
                raise InputError("nesterov=True (optax's radam) needs form='optax'")

    @staticmethod
    def rectification(beta2: Any, t: int, threshold: Any = 5.0) -> tuple[Any, Any]:
        """(ρₜ, rₜ): the length of the approximated moving average and the rectification
        factor (meaningful where ρₜ > τ; ``None`` for a scalar ρₜ ≤ τ)."""
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * beta2**t / bias_correction(beta2, t)
        if np.ndim(rho_t) == 0 and np.ndim(threshold) == 0 and not rho_t > threshold:
            return rho_t, None
        r = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
        return rho_t, r

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        if self.form == "optax":
            self.optax_rule(p, g, state, h)
            return
        m = ema(state["m"], g, h.beta1)  # m = β1·m + (1 − β1)·g
        v = ema_square(state["v"], g, h.beta2)  # v = β2·v + (1 − β2)·g²
        step = m / bias_correction(h.beta1, h.t) * h.lr  # η·m̂
        rho_t, r = self.rectification(h.beta2, h.t, h.threshold)
        if r is None:  # ρₜ ≤ τ: the variance is not yet tractable
            p -= step
            return
        rectified = step * (bias_correction(h.beta2, h.t) ** 0.5 / (np.sqrt(v) + h.eps)) * r
        p -= rectified if np.ndim(rho_t) == 0 and np.ndim(h.threshold) == 0 else np.where(
            rho_t > h.threshold, rectified, step)

    @staticmethod
    def optax_rectification(beta2: Any, t: int, threshold: Any) -> tuple[Any, Any]:
        """(on, rₜ) of optax's form: whether ρₜ ≥ τ, and the factor (a Python float for
        scalars; nan where 2 < ρₜ < 4, which only a threshold below 4 takes)."""
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * power(beta2, t) / bias_correction(beta2, t)
        with np.errstate(invalid="ignore"):
            r = np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                        / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
        on = rho_t >= threshold
        return (bool(on), float(r)) if np.ndim(on) == 0 and np.ndim(r) == 0 else (on, r)

    def optax_rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        """optax.radam: m̂ (Nesterov's with ``nesterov``), then r·m̂/(√(v̂ + ε̄) + ε) where
        ρₜ ≥ τ, m̂ elsewhere, times η."""
        m = ema(state["m"], g, h.beta1)
        v = ema_square(state["v"], g, h.beta2)
        bc1 = bias_correction(h.beta1, h.t)
        if self.nesterov:  # (coefficients first: one division per element, not three)
            m_hat = (h.beta1 / bias_correction(h.beta1, h.t + 1)) * m + ((1 - h.beta1) / bc1) * g
        else:
            m_hat = (1 / bc1) * m
        on, r = self.optax_rectification(h.beta2, h.t, h.threshold)
        if np.ndim(on) == 0 and not on:
            p -= h.lr * m_hat
            return
        v_hat = (1 / bias_correction(h.beta2, h.t)) * v
        rectified = r * m_hat / (np.sqrt(v_hat + h.eps_root) + h.eps)
        p -= h.lr * (rectified if np.ndim(on) == 0 else np.where(on, rectified, m_hat))
