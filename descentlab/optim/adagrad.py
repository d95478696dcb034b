"""AdaGrad: per-coordinate rates from the sum of squared gradients."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Optimizer
from .hyperparams import NONNEGATIVE, POSITIVE, Choice, Hyper, Number
from .lineage import Lineage
from .references import Reference
from .registry import register


@register
class AdaGrad(Optimizer):
    r"""AdaGrad (Duchi, Hazan & Singer, JMLR 2011).

    .. math::
        h_t = h_{t-1} + g_t^2, \qquad
        \eta_t = \frac{\eta}{1 + (t - 1)\,\text{lr\_decay}}, \qquad
        p_t = p_{t-1} - \eta_t \frac{g_t}{\sqrt{h_t} + \epsilon}

    ``h_0 = initial_accumulator_value``. ``eps_mode="inside"`` uses
    :math:`\sqrt{h_t + \epsilon}` (Keras and optax, who also start ``h`` at 0.1).

    Defaults: ``lr=0.01, eps=1e-10, initial_accumulator_value=0, lr_decay=0`` — PyTorch's
    ``torch.optim.Adagrad``. The classic textbook code is ``eps=1e-7``.
    """

    name = "adagrad"
    lineage = Lineage(("sgd",), "per-coordinate scaling 1/√Σg²", 2011, "Duchi et al. 2011")
    references = (
        Reference("torch.optim.Adagrad"),
        Reference("optax.adagrad",
                  {"lr": 0.1, "eps": 1e-7, "initial_accumulator_value": 0.1, "eps_mode": "inside"},
                  {"learning_rate": 0.1}),
        Reference("keras.optimizers.Adagrad",
                  {"lr": 0.001, "eps": 1e-7, "initial_accumulator_value": 0.1,
                   "eps_mode": "inside"}),
    )
    colour = "#9467bd"  # in every lab figure (viz.style.PALETTE)
    slots = ("sum",)
    nonnegative_slots = ("sum",)
    equations = ("h ← h + g²", "p ← p − η·g / (√h + ε)")
    elementwise = True
    kernel = "adagrad"
    eps_mode = Choice(("outside", "inside"), "ε outside the root (PyTorch) or inside (Keras)")
    initial_accumulator_value = Number(NONNEGATIVE, "the value the sum h starts at",
                                       fixed_once_started=True)

    eps = Hyper(POSITIVE, "ε added to the root", tunable=False)
    lr_decay = Hyper(NONNEGATIVE, "learning-rate decay per step", tunable=False)

    def __init__(self, lr: Any = 0.01, eps: Any = 1e-10, initial_accumulator_value: float = 0.0,
                 lr_decay: Any = 0.0, weight_decay: Any = 0.0, *, eps_mode: str = "outside",
                 maximize: bool = False, **options: Any) -> None:
        super().__init__(lr, weight_decay, maximize=maximize, **options)
        self.eps = eps
        self.lr_decay = lr_decay
        self.initial_accumulator_value = initial_accumulator_value
        self.eps_mode = eps_mode

    def initial_value(self, slot: str) -> float:
        return self.initial_accumulator_value

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        s = state["sum"]
        s += g * g  # h = h + g²
        lr_t = h.lr / (1 + (h.t - 1) * h.lr_decay)
        if self.eps_mode == "outside":
            p -= lr_t * (g / (np.sqrt(s) + h.eps))
        else:
            p -= lr_t * (g / np.sqrt(s + h.eps))
