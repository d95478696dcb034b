"""Plain gradient descent and momentum (heavy-ball and Nesterov)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from .base import Optimizer
from .hyperparams import ANY, NONNEGATIVE, Flag, Hyper


class SGD(Optimizer):
    r"""Stochastic gradient descent.

    .. math::  p_t = p_{t-1} - \eta\, g_t

    Defaults: ``lr=0.01`` (the classic teaching code; PyTorch has no default).
    Equals ``torch.optim.SGD(lr=lr)``. Reference: Robbins & Monro (1951), the stochastic
    approximation; Cauchy (1847), the steepest descent.

    >>> params = {"x": 1.0, "y": 2.0}
    >>> SGD(lr=0.5).update(params, {"x": 2.0, "y": 1.0})
    >>> params
    {'x': 0.0, 'y': 1.5}
    """

    name = "sgd"
    equations = ("p ← p − η·g",)
    elementwise = True
    kernel = "sgd"

    def __init__(self, lr: Any = 0.01, weight_decay: Any = 0.0, maximize: bool = False,
                 **options: Any) -> None:
        super().__init__(lr, weight_decay, maximize=maximize, **options)

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        p -= h.lr * g


class Momentum(Optimizer):
    r"""Gradient descent with momentum (heavy ball), optionally Nesterov's variant.

    PyTorch form (default), the buffer starts as the first gradient:

    .. math::
        b_t = \mu\, b_{t-1} + (1 - d)\, g_t \qquad (b_1 = g_1) \\
        p_t = p_{t-1} - \eta\, b_t \qquad\text{or, Nesterov,}\qquad
        p_t = p_{t-1} - \eta\,(g_t + \mu\, b_t)

    ``lr_in_buffer=True`` gives the textbook/Keras form, where the velocity carries the rate:

    .. math::
        v_t = \mu\, v_{t-1} - \eta\, g_t, \qquad p_t = p_{t-1} + v_t
        \qquad\text{(Nesterov: } p_t = p_{t-1} + \mu v_t - \eta g_t)

    The two agree while the rate is constant and differ once it changes.
    The course-notes form ``v = βv + (1 − β)g, p −= η v`` is ``dampening=β``.

    Defaults: ``lr=0.01, momentum=0.9, dampening=0``. Equals
    ``torch.optim.SGD(lr, momentum, dampening, nesterov=nesterov)``.
    Reference: Polyak (1964); Sutskever et al., ICML 2013 (Nesterov form).

    >>> params = {"x": 1.0}
    >>> opt = Momentum(lr=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.update(params, {"x": 1.0})
    >>> round(params["x"], 10)  # 1 - 0.1*1 - 0.1*(0.9 + 1)
    0.71
    """

    name = "momentum"
    slots = ("buffer",)
    equations = ("b ← μ·b + (1 − d)·g   (b₁ = g₁)", "p ← p − η·b")
    elementwise = True
    kernel = "momentum"

    momentum = Hyper(NONNEGATIVE, "momentum factor μ")
    dampening = Hyper(ANY, "dampening d of the gradient added to the buffer")
    nesterov = Flag("Nesterov's form: step along g + μb (needs μ > 0, d = 0)")
    lr_in_buffer = Flag("the textbook/Keras velocity v = μv − ηg, p += v (no dampening)",
                        fixed_once_started=True)

    def __init__(self, lr: Any = 0.01, momentum: Any = 0.9, dampening: Any = 0.0,
                 nesterov: bool = False, weight_decay: Any = 0.0, *,
                 lr_in_buffer: bool = False, maximize: bool = False, **options: Any) -> None:
        super().__init__(lr, weight_decay, maximize=maximize, **options)
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        self.lr_in_buffer = lr_in_buffer

    def check_settings(self, values: dict[str, Any]) -> None:
        """Nesterov needs μ > 0 and d = 0; the velocity form has no dampening (checked on
        every assignment and, for schedules, at every update)."""
        momentum, dampening = values.get("momentum"), values.get("dampening")
        if values.get("nesterov") and (
                (momentum is not None and np.any(np.asarray(momentum) <= 0))
                or (dampening is not None and np.any(np.asarray(dampening) != 0))):
            raise InputError(
                f"nesterov needs momentum > 0 and dampening = 0, got momentum={momentum!r}, "
                f"dampening={dampening!r} (to change both, set nesterov=False first)")
        if values.get("lr_in_buffer") and dampening is not None and np.any(
                np.asarray(dampening) != 0):
            raise InputError(f"lr_in_buffer=True has no dampening, got dampening={dampening!r}")

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        b, mu = state["buffer"], h.momentum
        if self.lr_in_buffer:  # v = μv − ηg;  p += v   (Nesterov: p += μv − ηg)
            b *= mu
            b -= h.lr * g
            p += mu * b - h.lr * g if self.nesterov else b
            return
        if h.t == 1:
            b[...] = g  # b₁ = g₁
        else:
            b *= mu
            b += (1 - h.dampening) * g  # b = μb + (1 − d)g
        p -= h.lr * (g + mu * b) if self.nesterov else h.lr * b


class Nesterov(Momentum):
    r"""Nesterov's accelerated gradient: :class:`Momentum` with ``nesterov=True``.

    .. math::
        b_t = \mu\, b_{t-1} + g_t, \qquad p_t = p_{t-1} - \eta\,(g_t + \mu\, b_t)

    Defaults: ``lr=0.01, momentum=0.9``. Equals ``torch.optim.SGD(lr, momentum,
    nesterov=True)``. Reference: Nesterov (1983); Sutskever et al., ICML 2013.
    """

    name = "nesterov"
    equations = ("b ← μ·b + g", "p ← p − η·(g + μ·b)")

    def __init__(self, lr: Any = 0.01, momentum: Any = 0.9, weight_decay: Any = 0.0, *,
                 lr_in_buffer: bool = False, maximize: bool = False, **options: Any) -> None:
        super().__init__(lr, momentum, 0.0, True, weight_decay, lr_in_buffer=lr_in_buffer,
                         maximize=maximize, **options)
