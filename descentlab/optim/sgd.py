"""Plain gradient descent and momentum (heavy-ball and Nesterov)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from .base import Optimizer
from .hyperparams import ANY, NONNEGATIVE, Choice, Flag, Hyper
from .lineage import Lineage
from .references import Reference
from .registry import register


@register
class SGD(Optimizer):
    r"""Stochastic gradient descent.

    .. math::  p_t = p_{t-1} - \eta\, g_t

    Defaults: ``lr=0.001``, ``torch.optim.SGD``'s (PyTorch 2.13). The classic textbook code
    and Keras default to ``lr=0.01``: pass it. Equals ``torch.optim.SGD(lr=lr)``.
    Reference: Robbins & Monro (1951), the stochastic approximation; Cauchy (1847), the
    steepest descent.

    >>> params = {"x": 1.0, "y": 2.0}
    >>> SGD(lr=0.5).update(params, {"x": 2.0, "y": 1.0})
    >>> params
    {'x': 0.0, 'y': 1.5}
    """

    name = "sgd"
    lineage = Lineage((), "the gradient step", 1951, "Robbins & Monro 1951")
    references = (
        Reference("torch.optim.SGD"),
        Reference("torch.optim.SGD", {"weight_decay": 0.05, "maximize": True},
                  {"weight_decay": 0.05, "maximize": True}),
        Reference("optax.sgd", {"lr": 0.01}, {"learning_rate": 0.01}),
        Reference("keras.optimizers.SGD", {"lr": 0.01}),
        Reference("keras.optimizers.SGD", {"lr": 0.1, "clip_value": 0.5},
                  {"learning_rate": 0.1, "clipvalue": 0.5}),
        Reference("keras.optimizers.SGD", {"lr": 0.1, "clip_norm": 1.5, "clip_eps": 0.0},
                  {"learning_rate": 0.1, "clipnorm": 1.5}),
        Reference("keras.optimizers.SGD", {"lr": 0.1, "clip_global_norm": 1.0, "clip_eps": 0.0},
                  {"learning_rate": 0.1, "global_clipnorm": 1.0}),
    )
    colour = "#1f77b4"  # in every lab figure (viz.style.PALETTE)
    equations = ("p ← p − η·g",)
    elementwise = True
    kernel = "sgd"

    def __init__(self, lr: Any = 0.001, weight_decay: Any = 0.0, maximize: bool = False,
                 **options: Any) -> None:
        super().__init__(lr, weight_decay, maximize=maximize, **options)

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        p -= h.lr * g


@register
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

    The classic textbook code's Nesterov variant before 2021-01-18 (μ² on the updated
    velocity) is :class:`Nesterov` with ``nesterov_form="textbook"``.

    Defaults: ``lr=0.001`` (``torch.optim.SGD``'s; the textbook's and Keras's 0.01 must be
    passed), ``momentum=0.9`` (the textbook's; PyTorch's 0 would be plain SGD),
    ``dampening=0``. Equals ``torch.optim.SGD(lr, momentum, dampening, nesterov=nesterov)``.
    Reference: Polyak (1964); Sutskever et al., ICML 2013 (Nesterov form).

    >>> params = {"x": 1.0}
    >>> opt = Momentum(lr=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.update(params, {"x": 1.0})
    >>> round(params["x"], 10)  # 1 - 0.1*1 - 0.1*(0.9 + 1)
    0.71
    """

    name = "momentum"
    lineage = Lineage(("sgd",), "momentum (heavy ball)", 1964, "Polyak 1964")
    references = (
        Reference("torch.optim.SGD", theirs={"momentum": 0.9}),
        Reference("torch.optim.SGD", {"dampening": 0.9}, {"momentum": 0.9, "dampening": 0.9},
                  note="the course notes' v = βv + (1 − β)g"),
        Reference("torch.optim.SGD", {"nesterov": True}, {"momentum": 0.9, "nesterov": True}),
        Reference("optax.sgd", {"lr": 0.05, "momentum": 0.8},
                  {"learning_rate": 0.05, "momentum": 0.8}, rate="decaying"),
        Reference("keras.optimizers.SGD", {"lr": 0.05, "momentum": 0.8, "lr_in_buffer": True},
                  {"learning_rate": 0.05, "momentum": 0.8}, rate="decaying"),
    )
    colour = "#ff7f0e"  # in every lab figure (viz.style.PALETTE)
    slots = ("buffer",)
    equations = ("b ← μ·b + (1 − d)·g   (b₁ = g₁)", "p ← p − η·b")
    elementwise = True
    kernel = "momentum"

    momentum = Hyper(NONNEGATIVE, "momentum factor μ", search=(0.0, 0.99))
    dampening = Hyper(ANY, "dampening d of the gradient added to the buffer", tunable=False)
    nesterov = Flag("Nesterov's form: step along g + μb (needs μ > 0, d = 0)")
    #: Nesterov's step; :class:`Nesterov` also offers the textbook code's variant.
    nesterov_form = "standard"
    lr_in_buffer = Flag("the textbook/Keras velocity v = μv − ηg, p += v (no dampening)",
                        fixed_once_started=True)

    def __init__(self, lr: Any = 0.001, momentum: Any = 0.9, dampening: Any = 0.0,
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
        if values.get("nesterov_form") == "textbook" and not values.get("nesterov", True):
            raise InputError("nesterov_form='textbook' needs nesterov=True, being a form of "
                             "Nesterov's step")

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        b, mu = state["buffer"], h.momentum
        textbook = self.nesterov and self.nesterov_form == "textbook"
        if self.lr_in_buffer:  # v = μv − ηg;  p += v   (Nesterov: p += μv − ηg)
            b *= mu
            b -= h.lr * g
            if textbook:  # the textbook's two lines before 2021, in order: μ² on the new v
                p += mu * mu * b
                p -= (1 + mu) * h.lr * g
                return
            p += mu * b - h.lr * g if self.nesterov else b
            return
        if h.t == 1:
            b[...] = g  # b₁ = g₁
        else:
            b *= mu
            b += (1 - h.dampening) * g  # b = μb + (1 − d)g
        if textbook:  # p −= η((1 + μ)g + μ²b)
            p -= h.lr * ((1 + mu) * g + mu * mu * b)
            return
        p -= h.lr * (g + mu * b) if self.nesterov else h.lr * b


@register
class Nesterov(Momentum):
    r"""Nesterov's accelerated gradient: :class:`Momentum` with ``nesterov=True``.

    .. math::
        b_t = \mu\, b_{t-1} + g_t, \qquad p_t = p_{t-1} - \eta\,(g_t + \mu\, b_t)

    The classic textbook's repository (``common/optimizer.py``) has had two Nesterov codes.
    Since its commit "Fix Nesterov update function" of 2021-01-18 it is Nesterov's standard
    rule in velocity form, ``lr_in_buffer=True`` here (equal up to rounding). From its first
    version (2016-07-07) until then — the code printed in the early editions, which drew the
    Nesterov panel of their E3 figure (``optimizer_compare_naive.py``) — it was another step,
    ``nesterov_form="textbook"`` here. In the velocity form (``lr_in_buffer=True``, v = −ηb
    at a constant rate), Nesterov's step as Bengio, Boulanger-Lewandowski & Pascanu (2012)
    write it, as Keras and PyTorch compute it and as the textbook's code does since 2021, is

    .. math::
        v_t = \mu v_{t-1} - \eta g_t, \qquad
        p_t = p_{t-1} + \mu^2 v_{t-1} - (1 + \mu)\,\eta\, g_t = p_{t-1} + \mu v_t - \eta g_t

    with μ² on the velocity *before* this step's update. The code before 2021 puts μ² on the
    velocity *after* it:

    .. math::
        p_t = p_{t-1} + \mu^2 v_t - (1 + \mu)\,\eta\, g_t
            = p_{t-1} + \mu^3 v_{t-1} - (1 + \mu + \mu^2)\,\eta\, g_t

    so every step takes the current gradient (1 + μ + μ²)/(1 + μ) times as strongly (1.43× at
    μ = 0.9) and the history μ times as weakly. With ``lr_in_buffer=True`` the arithmetic is
    the 2016 code's operation for operation (``v *= μ; v −= η·g; p += μ·μ·v;
    p −= (1 + μ)·η·g``), so its trajectories are reproduced bit for bit
    (tests/test_textbook_nesterov.py). With the PyTorch buffer (the default,
    :math:`b_t = \mu b_{t-1} + g_t`) the same rule reads
    :math:`p_t = p_{t-1} - \eta\,((1 + \mu)\, g_t + \mu^2 b_t)`: equal to the 2016 code's up to
    rounding while the rate is constant. Both forms keep the same buffer as the standard
    step, so ``nesterov_form`` may change mid-run (it takes effect at the next update).

    >>> params = {"x": -7.0, "y": 2.0}
    >>> opt = Nesterov(lr=0.3, lr_in_buffer=True, nesterov_form="textbook")
    >>> opt.update(params, {"x": -0.7, "y": 4.0})   # v = −0.3·g; p += 0.81·v − 1.9·0.3·g
    >>> round(params["x"], 12), round(params["y"], 12)
    (-6.4309, -1.252)

    Defaults: ``lr=0.001`` (``torch.optim.SGD``'s; the textbook's and Keras's 0.01 must be
    passed), ``momentum=0.9`` (the textbook's). Equals ``torch.optim.SGD(lr, momentum,
    nesterov=True)``. References: Nesterov (1983); Sutskever et al., ICML 2013; Bengio,
    Boulanger-Lewandowski & Pascanu, "Advances in optimizing recurrent networks",
    arXiv:1212.0901 (2012), the velocity form.
    """

    name = "nesterov"
    lineage = Lineage(("momentum",), "look-ahead gradient", 1983, "Nesterov 1983")
    references = (
        Reference("torch.optim.SGD", theirs={"momentum": 0.9, "nesterov": True}),
        Reference("optax.sgd", {"lr": 0.05, "momentum": 0.8},
                  {"learning_rate": 0.05, "momentum": 0.8, "nesterov": True}, rate="decaying"),
        Reference("keras.optimizers.SGD", {"lr": 0.05, "momentum": 0.8, "lr_in_buffer": True},
                  {"learning_rate": 0.05, "momentum": 0.8, "nesterov": True}, rate="decaying"),
    )
    colour = "#2ca02c"  # in every lab figure (viz.style.PALETTE)
    nesterov_form = Choice(("standard", "textbook"),
                           "Nesterov's step, or the classic textbook code's before 2021-01-18, "
                           "which applies μ² to the updated velocity: p += μ²·v − (1 + μ)·η·g")
    equations = ("b ← μ·b + g", "p ← p − η·(g + μ·b)",
                 "nesterov_form='textbook': p ← p − η·((1 + μ)·g + μ²·b)   (μ² on the new b)")
    momentum = Momentum.momentum.replace(search=(0.01, 0.99))  # Nesterov needs μ > 0

    def __init__(self, lr: Any = 0.001, momentum: Any = 0.9, weight_decay: Any = 0.0, *,
                 lr_in_buffer: bool = False, nesterov_form: str = "standard",
                 maximize: bool = False, **options: Any) -> None:
        super().__init__(lr, momentum, 0.0, True, weight_decay, lr_in_buffer=lr_in_buffer,
                         maximize=maximize, **options)
        self.nesterov_form = nesterov_form
