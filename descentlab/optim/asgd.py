"""ASGD: SGD with a decaying rate and a running (Polyak–Ruppert) average of the iterates."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Optimizer
from .hyperparams import ANY, NONNEGATIVE, Hyper
from .lineage import Lineage
from .references import Reference
from .registry import register


@register
class ASGD(Optimizer):
    r"""Averaged SGD (Polyak & Juditsky, SIAM J. Control Optim. 1992), PyTorch's form.

    .. math::
        p_t = p_{t-1}\,(1 - \lambda\,\eta_t) - \eta_t\, g_t \\
        a_t = \begin{cases} p_t & \mu_t = 1 \\ a_{t-1} + \mu_t\,(p_t - a_{t-1}) & \text{else}
              \end{cases} \\
        \eta_{t+1} = \frac{\eta}{(1 + \lambda\,\eta\, t)^{\alpha}}, \qquad
        \mu_{t+1} = \frac{1}{\max(1,\ t - t_0)}, \qquad \eta_1 = \eta,\ \mu_1 = 1

    (η of the formula for η_{t+1} is the learning rate of update t: a schedule enters with one
    update's delay, as in PyTorch.) The average :math:`a` starts after ``t0`` updates; read it
    with :meth:`averages` (or ``opt.state[path]["ax"]``) — it is the point to evaluate, the
    parameters keep the SGD iterate. The latest η_t and μ_t are ``opt.globals["eta"]`` and
    ``["mu"]``,
    held in float64 (PyTorch holds them in its default dtype, float32 unless
    ``torch.set_default_dtype(torch.float64)``).

    Defaults: ``lr=0.01, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0`` —
    ``torch.optim.ASGD``.

    >>> params = {"x": 1.0}
    >>> opt = ASGD(lr=0.1, lambd=0.0, t0=0.0)
    >>> for _ in range(3):
    ...     opt.update(params, {"x": 1.0})
    >>> round(params["x"], 12), round(opt.averages()["x"], 12)   # a = mean of 0.8 and 0.7
    (0.7, 0.75)
    """

    name = "asgd"
    lineage = Lineage(("sgd",), "iterate averaging", 1992, "Polyak & Juditsky 1992")
    references = (
        Reference("torch.optim.ASGD"),
        Reference("torch.optim.ASGD", {"weight_decay": 0.05}, {"weight_decay": 0.05}),
    )
    slots = ("ax",)
    equations = ("p ← p·(1 − λ·ηₜ) − ηₜ·g",
                 "a ← p if μₜ = 1,   else a ← a + μₜ·(p − a)",
                 "ηₜ₊₁ = η / (1 + λ·η·t)^α,   μₜ₊₁ = 1 / max(1, t − t0)")
    elementwise = True
    kernel = "asgd"

    lambd = Hyper(NONNEGATIVE, "decay term λ", tunable=False)
    alpha = Hyper(ANY, "power α of the rate's decay", search=(0.5, 1.0))  # Polyak–Juditsky
    t0 = Hyper(ANY, "update count after which averaging starts", tunable=False)

    def __init__(self, lr: Any = 0.01, lambd: Any = 1e-4, alpha: Any = 0.75, t0: Any = 1e6,
                 weight_decay: Any = 0.0, *, maximize: bool = False, **options: Any) -> None:
        super().__init__(lr, weight_decay, maximize=maximize, **options)
        self.lambd = lambd
        self.alpha = alpha
        self.t0 = t0

    def init_globals(self) -> dict[str, Any]:
        return {"eta": 0.0, "mu": 1.0, "last_lr": 0.0}

    def begin_step(self, h: Any) -> None:
        """η_t and μ_t from the previous update's rate and count (PyTorch computes them at
        the end of that update; the same expressions, so the same numbers)."""
        if h.t == 1:
            eta, mu = h.lr, 1.0
        else:
            lr, done = self.globals["last_lr"], h.t - 1
            eta = lr / (1 + h.lambd * lr * done) ** h.alpha
            gap = done - h.t0
            mu = 1 / (np.maximum(1, gap) if isinstance(gap, np.ndarray) else max(1, gap))
        self.globals.update(eta=eta, mu=mu, last_lr=h.lr)
        h.eta, h.mu = eta, mu

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        p *= 1 - h.lambd * h.eta
        p -= h.eta * g
        ax = state["ax"]
        if np.ndim(h.mu) == 0:
            if h.mu == 1:
                ax[...] = p
            else:
                ax += (p - ax) * h.mu
        else:
            ax[...] = np.where(h.mu == 1, p, ax + (p - ax) * h.mu)

    def averages(self) -> dict[str, Any]:
        """The averaged parameters by path (copies; Python floats for scalar parameters)."""
        return {path: (float(s["ax"]) if s["ax"].ndim == 0 else s["ax"].copy())
                for path, s in self.state.items()}
