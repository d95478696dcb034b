"""Yogi: Adam whose second moment grows or shrinks by at most (1 − β2)·g² a step."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .adam import AdamFamily
from .hyperparams import NONNEGATIVE, Flag, Hyper
from .lineage import Lineage
from .moments import bias_correction, ema
from .references import Reference
from .registry import register


@register
class Yogi(AdamFamily):
    r"""Yogi (Zaheer et al., "Adaptive Methods for Nonconvex Optimization", NeurIPS 2018),
    optax's ``optax.yogi``.

    .. math::
        m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
        v_t = v_{t-1} - (1 - \beta_2)\,\operatorname{sign}(v_{t-1} - g_t^2)\, g_t^2 \\
        p_t = p_{t-1} - \eta\, \frac{m_t / (1 - \beta_1^t)}
              {\sqrt{v_t / (1 - \beta_2^t) + \bar\epsilon} + \epsilon}
        \qquad (m_0 = v_0 = v_{init})

    Adam's :math:`v_t - v_{t-1} = (1 - \beta_2)(g_t^2 - v_{t-1})` becomes the sign of that
    difference times :math:`(1 - \beta_2) g_t^2`: v changes additively, so a burst of large
    gradients cannot make it forget a long quiet history at once.

    ``bias_correction=False`` is the paper's Algorithm 2 (no division by
    :math:`1 - \beta^t`); optax divides (default). :math:`\bar\epsilon` is ``eps_root``
    (optax's ``scale_by_yogi``); both moments start at ``initial_accumulator_value``.

    Defaults: ``lr=0.01, beta1=0.9, beta2=0.999, eps=1e-3, eps_root=0,
    initial_accumulator_value=1e-6`` — optax's and the paper's (optax has no default rate;
    the paper uses 0.01). Equals ``optax.yogi(lr, b1, b2, eps)``.

    >>> params = {"x": 1.0}
    >>> opt = Yogi(lr=0.1, initial_accumulator_value=0.0, eps=1e-300)
    >>> opt.update(params, {"x": 2.0})   # m̂ = 2, v̂ = 4: a step of η
    >>> params["x"]
    0.9
    """

    name = "yogi"
    lineage = Lineage(("adam",), "additive, sign-controlled v", 2018, "Zaheer et al. 2018")
    references = (
        Reference("optax.yogi", theirs={"learning_rate": 0.01}),
    )
    slots = ("m", "v")
    nonnegative_slots = ("v",)
    bias_correction = Flag("divide the moments by 1 − βᵗ (optax; False: the paper's Algorithm 2)")
    elementwise = True
    kernel = "yogi"
    equations: ClassVar[tuple[str, ...]] = (
        "m ← β1·m + (1 − β1)·g,   v ← v − (1 − β2)·sign(v − g²)·g²",
        "p ← p − η·(m / (1 − β1ᵗ)) / (√(v / (1 − β2ᵗ) + ε_root) + ε)",
    )

    eps_root = Hyper(NONNEGATIVE, "ε inside the square root", tunable=False)
    initial_accumulator_value = Hyper(NONNEGATIVE, "the value m and v start at", tunable=False)

    def __init__(self, lr: Any = 0.01, beta1: Any = 0.9, beta2: Any = 0.999, eps: Any = 1e-3,
                 weight_decay: Any = 0.0, *, eps_root: Any = 0.0,
                 initial_accumulator_value: Any = 1e-6, bias_correction: bool = True,
                 maximize: bool = False, **options: Any) -> None:
        super().__init__(lr, beta1, beta2, eps, weight_decay, maximize=maximize, **options)
        self.eps_root = eps_root
        self.initial_accumulator_value = initial_accumulator_value
        self.bias_correction = bias_correction

    def initial_value(self, slot: str) -> Any:
        return self.initial_accumulator_value

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        m, v = ema(state["m"], g, h.beta1), state["v"]  # m = β1·m + (1 − β1)·g
        g2 = g * g
        v -= (1 - h.beta2) * np.sign(v - g2) * g2  # v = v − (1 − β2)·sign(v − g²)·g²
        if self.bias_correction:
            p -= h.lr * ((m / bias_correction(h.beta1, h.t))
                         / (np.sqrt(v / bias_correction(h.beta2, h.t) + h.eps_root) + h.eps))
        else:
            p -= h.lr * (m / (np.sqrt(v + h.eps_root) + h.eps))
