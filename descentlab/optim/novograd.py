"""NovoGrad: Adam's second moment as one number per parameter array (its squared norm)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from .base import Optimizer
from .hyperparams import NONNEGATIVE, POSITIVE, UNIT, Hyper
from .lineage import Lineage
from .references import Reference
from .registry import register


@register
class NovoGrad(Optimizer):
    r"""NovoGrad (Ginsburg et al., "Stochastic Gradient Methods with Layer-wise Adaptive
    Moments for Training of Deep Networks", 2019; arXiv:1905.11286), optax's
    ``optax.novograd``.

    For each parameter array (a layer), with :math:`\lVert g_t\rVert` its L2 norm:

    .. math::
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) \lVert g_t\rVert^2 \quad (v_1 =
        \lVert g_1\rVert^2), \qquad
        u_t = \frac{g_t}{\sqrt{v_t + \bar\epsilon} + \epsilon} + \lambda\, p_{t-1} \\
        m_t = \beta_1 m_{t-1} + u_t \quad (m_1 = u_1), \qquad
        p_t = p_{t-1} - \eta\, m_t

    :math:`v` is one number per array; :math:`\bar\epsilon` is ``eps_root``. The decay λ
    is added to the normalised gradient (the paper's), so the rule applies it itself. The
    norm is over the whole array: K runs stacked as the rows of one array (a sweep with
    (K, 1) hyperparameters) would share it, so run such sweeps as separate arrays.

    Defaults: ``lr=0.001, beta1=0.9, beta2=0.25, eps=1e-6, eps_root=0.0, weight_decay=0.0``
    — optax's (optax has no default rate). Equals ``optax.novograd(lr, b1, b2, eps,
    eps_root, weight_decay)``.

    >>> params = {"w": np.array([3.0, 4.0])}
    >>> opt = NovoGrad(lr=0.5, eps=1e-300)
    >>> opt.update(params, {"w": np.array([3.0, 4.0])})   # v = 25: m = g/5 = (0.6, 0.8)
    >>> params["w"]
    array([2.7, 3.6])
    """

    name = "novograd"
    lineage = Lineage(("adam",), "layer-wise second moment", 2019, "Ginsburg et al. 2019")
    references = (
        Reference("optax.novograd", theirs={"learning_rate": 0.001}),
    )
    slots = ("m", "v")
    nonnegative_slots = ("v",)
    decays_in_rule = True
    equations: ClassVar[tuple[str, ...]] = (
        "v ← β2·v + (1 − β2)·‖g‖²   (v = ‖g‖² at t = 1; one number per array)",
        "m ← β1·m + g/(√(v + ε_root) + ε) + λ·p   (m = that sum at t = 1)",
        "p ← p − η·m",
    )

    lr = Optimizer.lr.replace(search=(1e-5, 1.0))
    beta1 = Hyper(UNIT, "decay β1 of the momentum of normalised gradients", search=(0.5, 0.99))
    beta2 = Hyper(UNIT, "decay β2 of the squared gradient norm", search=(0.1, 0.999))
    eps = Hyper(POSITIVE, "ε added to the root of v", tunable=False)
    eps_root = Hyper(NONNEGATIVE, "ε inside the square root", tunable=False)

    def __init__(self, lr: Any = 0.001, beta1: Any = 0.9, beta2: Any = 0.25, eps: Any = 1e-6,
                 eps_root: Any = 0.0, weight_decay: Any = 0.0, *, maximize: bool = False,
                 **options: Any) -> None:
        super().__init__(lr, weight_decay, maximize=maximize, **options)
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.eps_root = eps_root

    def check_settings(self, values: dict[str, Any]) -> None:
        if values.get("decoupled_weight_decay"):
            raise InputError("novograd adds weight_decay to the normalised gradient (see its "
                             "docstring); decoupled_weight_decay=True does not apply")

    def slot_shapes(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        return {"m": shape, "v": ()}

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        m, v = state["m"], state["v"]
        norm2 = np.sum(g * g)  # ‖g‖²
        if h.t == 1:
            v[...] = norm2
        else:
            v[...] = (1 - h.beta2) * norm2 + h.beta2 * v  # v = β2·v + (1 − β2)·‖g‖²
        u = g / (np.sqrt(v + h.eps_root) + h.eps) + h.weight_decay * p
        if h.t == 1:
            m[...] = u
        else:
            m *= h.beta1
            m += u  # m = β1·m + u
        p -= h.lr * m
