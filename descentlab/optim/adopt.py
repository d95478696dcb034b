"""ADOPT: Adam with the gradient normalised by the *previous* second moment."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .adam import AdamFamily
from .hyperparams import NONNEGATIVE, Flag, Hyper
from .lineage import Lineage
from .moments import ema, ema_square
from .references import Reference
from .registry import register


@register
class Adopt(AdamFamily):
    r"""ADOPT (Taniguchi et al., "ADOPT: Modified Adam Can Converge with Any β2 with the
    Optimal Rate", NeurIPS 2024), optax's ``optax.contrib.adopt``.

    The first update only initialises :math:`v_1 = g_1^2` (the parameters do not move).
    Then, for :math:`t \ge 2`:

    .. math::
        \tilde g_t = \operatorname{clip}\!\Bigl(\frac{g_t}{\max(\sqrt{v_{t-1}}, \epsilon)},
              \ \pm c_t\Bigr), \qquad c_t = (t - 1)^{a} \\
        m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, \tilde g_t, \qquad
        p_t = p_{t-1} - \eta\, m_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2

    Because :math:`v_{t-1}` does not contain :math:`g_t`, the step is not correlated with
    the current gradient's size: the paper proves convergence for any β2. The clip (a =
    ``clip_exponent``, optax's ``clip_value_fn = lambda x: x**0.25``) tames the first steps;
    ``use_clipping=False`` drops it. ``nesterov=True`` (optax's) steps along
    :math:`\beta_1 m_t + (1 - \beta_1)\tilde g_t`.

    Defaults: ``lr=0.001, beta1=0.9, beta2=0.9999, eps=1e-6, clip_exponent=0.25`` —
    optax's and the paper's (optax has no default rate). Equals
    ``optax.contrib.adopt(lr, b1, b2, eps, nesterov=..., use_clipping=...)``.

    >>> params = {"x": 1.0}
    >>> opt = Adopt(lr=0.1)
    >>> opt.update(params, {"x": 2.0})   # v₁ = 4; p stays
    >>> opt.update(params, {"x": 2.0})   # g̃ = clip(2/2, ±1) = 1, m = 0.1
    >>> round(params["x"], 12)
    0.99
    """

    name = "adopt"
    lineage = Lineage(("adam",), "v without the current gradient", 2024, "Taniguchi et al. 2024")
    references = (
        Reference("optax.contrib.adopt", theirs={"learning_rate": 0.001}),
        Reference("optax.contrib.adopt", {"nesterov": True},
                  {"learning_rate": 0.001, "nesterov": True}),
        Reference("optax.contrib.adopt", {"use_clipping": False},
                  {"learning_rate": 0.001, "use_clipping": False}),
    )
    slots = ("m", "v")
    nonnegative_slots = ("v",)
    nesterov = Flag("Nesterov's momentum (optax adopt(nesterov=True))")
    use_clipping = Flag("clip g/max(√v, ε) to ±(t − 1)^a (optax)")
    elementwise = True
    kernel = "adopt"
    equations: ClassVar[tuple[str, ...]] = (
        "t = 1: v ← g² (no step)",
        "g̃ = clip(g / max(√v, ε), ±(t − 1)^a),   m ← β1·m + (1 − β1)·g̃",
        "p ← p − η·m,   v ← β2·v + (1 − β2)·g²",
    )

    clip_exponent = Hyper(NONNEGATIVE, "a of the clip bound (t − 1)^a", tunable=False)

    def __init__(self, lr: Any = 0.001, beta1: Any = 0.9, beta2: Any = 0.9999,
                 eps: Any = 1e-6, weight_decay: Any = 0.0, *, clip_exponent: Any = 0.25,
                 nesterov: bool = False, use_clipping: bool = True, maximize: bool = False,
                 **options: Any) -> None:
        super().__init__(lr, beta1, beta2, eps, weight_decay, maximize=maximize, **options)
        self.clip_exponent = clip_exponent
        self.nesterov = nesterov
        self.use_clipping = use_clipping

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        m, v = state["m"], state["v"]
        if h.t == 1:  # v₁ = g₁²; m and p stay
            v[...] = g * g
            return
        g_tilde = g / np.maximum(np.sqrt(v), h.eps)  # normalised by the previous v
        if self.use_clipping:
            bound = (h.t - 1) ** h.clip_exponent
            g_tilde = np.minimum(np.maximum(g_tilde, -bound), bound)
        m = ema(m, g_tilde, h.beta1)  # m = β1·m + (1 − β1)·g̃
        ema_square(v, g, h.beta2)  # v = β2·v + (1 − β2)·g²
        if self.nesterov:
            p -= h.lr * (h.beta1 * m + (1 - h.beta1) * g_tilde)
        else:
            p -= h.lr * m
