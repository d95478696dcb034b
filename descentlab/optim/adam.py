"""Adam, AdamW and AMSGrad: momentum on the gradient, RMS scaling, bias correction."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Optimizer
from .hyperparams import POSITIVE, UNIT, Hyper, choice
from .moments import bias_correction, ema, ema_square


class AdamFamily(Optimizer):
    """The hyperparameters every Adam-like rule declares once: β1, β2 and ε.

    Subclasses (Adam, NAdam, Adamax, RAdam) pass them to ``__init__`` and add their own.
    """

    beta1 = Hyper(UNIT, "decay β1 of the first moment")
    beta2 = Hyper(UNIT, "decay β2 of the second moment (Adamax: of the infinity norm)")
    eps = Hyper(POSITIVE, "ε of the denominator")

    def __init__(self, lr: Any, beta1: Any, beta2: Any, eps: Any, weight_decay: Any = 0.0,
                 **options: Any) -> None:
        super().__init__(lr, weight_decay, **options)
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps


class Adam(AdamFamily):
    r"""Adam (Kingma & Ba, ICLR 2015); AMSGrad (Reddi, Kale & Kumar, ICLR 2018).

    .. math::
        m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2 \\
        \hat m_t = \frac{m_t}{1 - \beta_1^t}, \qquad \hat v_t = \frac{v_t}{1 - \beta_2^t},
        \qquad p_t = p_{t-1} - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}

    AMSGrad replaces :math:`v_t` by its running maximum :math:`v^{max}_t` (of the raw
    :math:`v_t`, PyTorch and Keras; ``amsgrad_on="v_hat"`` takes the maximum of
    :math:`\hat v_t` instead, as optax does).

    Where ε goes (``eps_mode``):

    * ``"outside"`` (default, PyTorch and optax): :math:`\sqrt{\hat v_t} + \epsilon`;
    * ``"uncorrected"`` (Keras and the classic textbook code): the bias correction moves into
      the step size, :math:`\alpha_t = \eta\sqrt{1-\beta_2^t}/(1-\beta_1^t)`,
      :math:`p_t = p_{t-1} - \alpha_t\, m_t / (\sqrt{v_t} + \epsilon)`;
    * ``"inside"`` (some course notes): :math:`\sqrt{\hat v_t + \epsilon}`.

    Defaults: ``lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8`` — ``torch.optim.Adam``.
    Keras: ``eps=1e-7, eps_mode="uncorrected"``. The first three arguments follow the classic
    code, so ``Adam(1.0, 0.5, 0.5)`` is lr = 1, β1 = β2 = 1/2.

    >>> params = {"x": 1.0, "y": 2.0}   # f(x, y) = x·y, E4 of the product brief
    >>> opt = Adam(1.0, 0.5, 0.5, eps=1e-300)
    >>> opt.update(params, {"x": params["y"], "y": params["x"]})
    >>> params
    {'x': 0.0, 'y': 1.0}
    """

    name = "adam"
    option_names = ("amsgrad", "amsgrad_on", "eps_mode")
    equations = ("m ← β1·m + (1 − β1)·g,   v ← β2·v + (1 − β2)·g²",
                 "m̂ = m / (1 − β1ᵗ),   v̂ = v / (1 − β2ᵗ)",
                 "p ← p − η·m̂ / (√v̂ + ε)",
                 "amsgrad: v replaced by v_max ← max(v_max, v)")
    elementwise = True
    kernel = "adam"

    def __init__(self, lr: Any = 0.001, beta1: Any = 0.9, beta2: Any = 0.999, eps: Any = 1e-8,
                 weight_decay: Any = 0.0, amsgrad: bool = False, *, amsgrad_on: str = "v",
                 eps_mode: str = "outside", decoupled_weight_decay: bool = False,
                 maximize: bool = False, **options: Any) -> None:
        super().__init__(lr, beta1, beta2, eps, weight_decay,
                         decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
                         **options)
        self.amsgrad = bool(amsgrad)
        self.amsgrad_on = choice("amsgrad_on", amsgrad_on, ("v", "v_hat"))
        self.eps_mode = choice("eps_mode", eps_mode, ("outside", "uncorrected", "inside"))
        self.slots = ("m", "v", "v_max") if self.amsgrad else ("m", "v")

    def derived(self, state: dict, h: Any) -> dict[str, Any]:
        v = state["v_max"] if self.amsgrad and self.amsgrad_on == "v" else state["v"]
        return {"m̂": state["m"] / (1 - h.beta1**h.t), "v̂": v / (1 - h.beta2**h.t)}

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        m = ema(state["m"], g, h.beta1)  # m = β1·m + (1 − β1)·g
        v = ema_square(state["v"], g, h.beta2)  # v = β2·v + (1 − β2)·g²
        bc1 = bias_correction(h.beta1, h.t)
        bc2 = bias_correction(h.beta2, h.t)
        if self.amsgrad and self.amsgrad_on == "v_hat":  # optax: max over v̂
            np.maximum(state["v_max"], v / bc2, out=state["v_max"])
            p -= (h.lr / bc1) * (m / (np.sqrt(state["v_max"]) + h.eps))
            return
        if self.amsgrad:  # PyTorch, Keras: max over the raw v
            v = np.maximum(state["v_max"], v, out=state["v_max"])
        if self.eps_mode == "outside":  # p −= η·m̂/(√v̂ + ε)
            p -= (h.lr / bc1) * (m / (np.sqrt(v) / bc2**0.5 + h.eps))
        elif self.eps_mode == "uncorrected":  # α = η√(1 − β2ᵗ)/(1 − β1ᵗ); p −= α·m/(√v + ε)
            p -= (h.lr * bc2**0.5 / bc1) * (m / (np.sqrt(v) + h.eps))
        else:  # p −= η·m̂/√(v̂ + ε)
            p -= (h.lr / bc1) * (m / np.sqrt(v / bc2 + h.eps))


class AdamW(Adam):
    r"""AdamW (Loshchilov & Hutter, ICLR 2019): Adam with decoupled weight decay.

    .. math:: p \leftarrow p\,(1 - \eta\lambda) \quad\text{then the Adam step of}\ :class:`Adam`

    Defaults: ``lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01`` —
    ``torch.optim.AdamW``.
    """

    name = "adamw"
    equations = ("p ← p·(1 − η·λ)", "then the Adam step")

    def __init__(self, lr: Any = 0.001, beta1: Any = 0.9, beta2: Any = 0.999, eps: Any = 1e-8,
                 weight_decay: Any = 0.01, amsgrad: bool = False, *, amsgrad_on: str = "v",
                 eps_mode: str = "outside", maximize: bool = False, **options: Any) -> None:
        options.setdefault("decoupled_weight_decay", True)
        super().__init__(lr, beta1, beta2, eps, weight_decay, amsgrad, amsgrad_on=amsgrad_on,
                         eps_mode=eps_mode, maximize=maximize, **options)
