"""LARS and LAMB: each parameter array's step rescaled by the trust ratio ‖p‖ / ‖step‖.

The norms are over a whole parameter array (one per leaf, as optax's ``tree.map``): K runs
stacked as the rows of one array (a sweep with (K, 1) hyperparameters) would share them, so
run such sweeps as separate arrays.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from .adam import AdamFamily
from .base import Optimizer
from .hyperparams import NONNEGATIVE, POSITIVE, Flag, Hyper
from .lineage import Lineage
from .moments import bias_correction, ema, ema_square
from .references import Reference
from .registry import register


def trust_ratio(p: np.ndarray, u: np.ndarray, coefficient: Any = 1.0,
                eps: Any = 0.0) -> Any:
    r""":math:`c\,\lVert p\rVert / (\lVert u\rVert + \epsilon)`, or 1 where either norm is 0
    (a zero parameter or a zero step would otherwise never move or divide by zero).

    >>> float(trust_ratio(np.array([3.0, 4.0]), np.array([0.0, 0.5])))
    10.0
    >>> float(trust_ratio(np.zeros(2), np.ones(2)))
    1.0
    """
    p_norm = np.sqrt(np.sum(p * p))
    u_norm = np.sqrt(np.sum(u * u))
    if p_norm == 0 or u_norm == 0:
        return 1.0
    return coefficient * p_norm / (u_norm + eps)


class _OwnDecay:
    """LARS and LAMB apply weight_decay inside their trust ratio: the decoupled form is refused
    (at construction and on assignment)."""

    name: str

    def check_settings(self, values: dict[str, Any]) -> None:
        if values.get("decoupled_weight_decay"):
            raise InputError(f"{self.name} applies weight_decay in its own way (see its "
                             "docstring); decoupled_weight_decay=True does not apply")


@register
class Lars(_OwnDecay, Optimizer):
    r"""LARS, layer-wise adaptive rate scaling (You, Gitman & Ginsburg, "Large Batch
    Training of Convolutional Networks", 2017; arXiv:1708.03888), optax's ``optax.lars``.

    .. math::
        u_t = g_t + \lambda\, p_{t-1}, \qquad
        r_t = \frac{c\, \lVert p_{t-1} \rVert}{\lVert u_t \rVert + \epsilon} \\
        b_t = \eta\, r_t\, u_t + \mu\, b_{t-1}, \qquad
        p_t = p_{t-1} - b_t \quad\text{(Nesterov: } p_t = p_{t-1} - (\eta\, r_t u_t +
        \mu\, b_t))

    :math:`r_t = 1` where either norm is 0; c is ``trust_coefficient``. The rate is inside
    the momentum buffer (optax's chain ends with ``trace``). Weight decay is L2, added to the
    gradient before the trust ratio.

    Defaults: ``lr=0.1, weight_decay=0, trust_coefficient=0.001, eps=0, momentum=0.9`` —
    optax's (optax has no default rate). Equals ``optax.lars(lr, weight_decay,
    trust_coefficient=..., eps=..., momentum=..., nesterov=...)``.

    >>> params = {"w": np.array([3.0, 4.0])}
    >>> opt = Lars(lr=1.0, trust_coefficient=1.0)
    >>> opt.update(params, {"w": np.array([0.0, 10.0])})   # r = 5/10: a step of norm 5
    >>> params["w"]
    array([ 3., -1.])
    """

    name = "lars"
    lineage = Lineage(("momentum",), "layer-wise trust ratio", 2017, "You et al. 2017")
    references = (
        Reference("optax.lars", theirs={"learning_rate": 0.1}),
        Reference("optax.lars", {"nesterov": True}, {"learning_rate": 0.1, "nesterov": True}),
    )
    slots = ("buffer",)
    elementwise: ClassVar[bool] = False  # the norms couple the whole array
    nesterov = Flag("Nesterov momentum (optax lars(nesterov=True))")
    equations: ClassVar[tuple[str, ...]] = (
        "u = g + λ·p,   r = c·‖p‖ / (‖u‖ + ε)   (1 if a norm is 0)",
        "b ← η·r·u + μ·b",
        "p ← p − b",
    )

    trust_coefficient = Hyper(POSITIVE, "multiplier c of the trust ratio", search=(1e-4, 1e-2))
    eps = Hyper(NONNEGATIVE, "ε added to the step norm", tunable=False)
    momentum = Hyper(NONNEGATIVE, "momentum factor μ", search=(0.0, 0.99))

    def __init__(self, lr: Any = 0.1, weight_decay: Any = 0.0, trust_coefficient: Any = 0.001,
                 eps: Any = 0.0, momentum: Any = 0.9, nesterov: bool = False, *,
                 maximize: bool = False, **options: Any) -> None:
        super().__init__(lr, weight_decay, maximize=maximize, **options)
        self.trust_coefficient = trust_coefficient
        self.eps = eps
        self.momentum = momentum
        self.nesterov = nesterov

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        b = state["buffer"]
        step = h.lr * (trust_ratio(p, g, h.trust_coefficient, h.eps) * g)
        b *= h.momentum
        b += step  # b = η·r·u + μ·b
        p -= step + h.momentum * b if self.nesterov else b


@register
class Lamb(_OwnDecay, AdamFamily):
    r"""LAMB, layer-wise adaptive moments (You et al., "Large Batch Optimization for Deep
    Learning: Training BERT in 76 minutes", ICLR 2020; arXiv:1904.00962), optax's
    ``optax.lamb``.

    .. math::
        m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2 \\
        u_t = \frac{m_t/(1 - \beta_1^t)}{\sqrt{v_t/(1 - \beta_2^t) + \bar\epsilon} + \epsilon}
              + \lambda\, p_{t-1}, \qquad
        p_t = p_{t-1} - \eta\, \frac{\lVert p_{t-1}\rVert}{\lVert u_t\rVert}\, u_t

    (ratio 1 where either norm is 0). The decay is added to Adam's direction, before the
    trust ratio — neither L2 (into the gradient) nor AdamW's decoupled step, so the rule
    applies it itself. :math:`\bar\epsilon` is ``eps_root``.

    Defaults: ``lr=0.001, beta1=0.9, beta2=0.999, eps=1e-6, eps_root=0, weight_decay=0`` —
    optax's (optax has no default rate). Equals ``optax.lamb(lr, b1, b2, eps, eps_root,
    weight_decay)``.

    >>> params = {"w": np.array([3.0, 4.0])}
    >>> opt = Lamb(lr=0.1, eps=1e-300)
    >>> opt.update(params, {"w": np.array([1.0, -1.0])})   # u = (1, −1): step 0.1·5/√2·u
    >>> [round(float(w), 12) for w in params["w"]]
    [2.646446609407, 4.353553390593]
    """

    name = "lamb"
    lineage = Lineage(("adamw", "lars"), "trust ratio on Adam's step", 2020, "You et al. 2020")
    references = (
        Reference("optax.lamb", theirs={"learning_rate": 0.001}),
        Reference("keras.optimizers.Lamb", {"eps": 1e-7}),
    )
    slots = ("m", "v")
    nonnegative_slots = ("v",)
    elementwise: ClassVar[bool] = False  # the norms couple the whole array
    decays_in_rule = True
    equations: ClassVar[tuple[str, ...]] = (
        "m ← β1·m + (1 − β1)·g,   v ← β2·v + (1 − β2)·g²",
        "u = (m / (1 − β1ᵗ)) / (√(v / (1 − β2ᵗ) + ε_root) + ε) + λ·p",
        "p ← p − η·(‖p‖ / ‖u‖)·u   (ratio 1 if a norm is 0)",
    )

    eps_root = Hyper(NONNEGATIVE, "ε inside the square root", tunable=False)

    def __init__(self, lr: Any = 0.001, beta1: Any = 0.9, beta2: Any = 0.999, eps: Any = 1e-6,
                 eps_root: Any = 0.0, weight_decay: Any = 0.0, *, maximize: bool = False,
                 **options: Any) -> None:
        super().__init__(lr, beta1, beta2, eps, weight_decay, maximize=maximize, **options)
        self.eps_root = eps_root

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        m = ema(state["m"], g, h.beta1)  # m = β1·m + (1 − β1)·g
        v = ema_square(state["v"], g, h.beta2)  # v = β2·v + (1 − β2)·g²
        u = (m / bias_correction(h.beta1, h.t)) / (
            np.sqrt(v / bias_correction(h.beta2, h.t) + h.eps_root) + h.eps)
        u = u + h.weight_decay * p
        p -= h.lr * (trust_ratio(p, u) * u)
