"""SAM: sharpness-aware minimisation — the step from the gradient at a nearby worse point."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from .closure import ClosureRule, Oracle, global_sum
from .hyperparams import NONNEGATIVE, UNIT, Count, Flag, Hyper
from .lineage import Lineage
from .references import Reference
from .registry import register

#: How the reference cells build optax's SAM from its parts (tests/optax_oracle.py sam_of).
_CELL_NOTE = "outer sgd(learning_rate, momentum, nesterov), inner normalize + sgd(rho)"


@register
class SAM(ClosureRule):
    r"""SAM, sharpness-aware minimisation (Foret, Kleiner, Mobahi & Neyshabur,
    "Sharpness-Aware Minimization for Efficiently Improving Generalization", ICLR 2021;
    arXiv:2010.01412): optax's ``optax.contrib.sam`` with its drop-in form of the paper. It
    needs gradients at another point: ``update(params, closure=closure)``.

    One update takes ``sync_period − 1`` adversarial steps of normalised gradient ascent of
    length ρ from p, then the outer step from p with the gradient found there:

    .. math::
        x_0 = p, \quad x_{i} = x_{i-1} + \rho\, \frac{\nabla f(x_{i-1})}
        {\lVert \nabla f(x_{i-1})\rVert} \ (i < S), \quad g = \nabla f(x_{S-1}) \\
        b = \mu b + g, \qquad p \leftarrow p - \eta\,(g + \mu b \text{ if Nesterov else } b)

    (the norm over all parameters; with μ = 0, p ← p − ηg). The closure is called
    ``sync_period`` times; the parameters are put back after each adversarial evaluation,
    and ``update`` returns the loss at p.

    How optax's structure maps here: optax's ``sam(optimizer, adv_optimizer, sync_period,
    reset_state, opaque_mode)`` wraps any outer and inner optimizer. Here the inner
    (adversarial) optimizer is the paper's, ``chain(normalize(), sgd(ρ))`` — stateless, so
    ``reset_state`` changes nothing — and the outer one is ``optax.sgd(η, μ, nesterov)`` (μ = 0:
    ``momentum=None``), with weight decay as every rule here has it. One call is
    ``opaque_mode=True``'s one call; with ``opaque_mode=False`` optax spreads the same
    computation over ``sync_period`` calls, showing the adversarial points in between —
    every ``sync_period`` calls its parameters are these.

    Defaults: ``lr=0.01, rho=0.05, momentum=0.0, nesterov=False, sync_period=2`` (optax
    has no default rate or ρ: η = 0.01 is its docstring's example, ρ = 0.05 the paper's
    CIFAR setting; ``sync_period=2`` is optax's). Equals
    ``optax.contrib.sam(optax.sgd(lr, momentum or None, nesterov),
    optax.chain(optax.contrib.normalize(), optax.sgd(rho)), sync_period, opaque_mode=True)``.

    >>> x = {"w": np.array([3.0, 4.0])}          # f = ½‖w‖²: ∇f = w
    >>> opt = SAM(lr=0.1, rho=0.5)
    >>> opt.update(x, closure=lambda: (0.5 * float(x["w"] @ x["w"]), {"w": x["w"].copy()}))
    12.5
    >>> x["w"]                                   # g at w + ½·w/5 = 1.1w: w − 0.11w
    array([2.67, 3.56])
    """

    name = "sam"
    references = (
        Reference("optax.contrib.sam", {}, {"learning_rate": 0.01, "rho": 0.05, "sync_period": 2},
                  note=_CELL_NOTE),
        Reference("optax.contrib.sam", {"momentum": 0.5, "nesterov": True, "sync_period": 3},
                  {"learning_rate": 0.01, "rho": 0.05, "sync_period": 3, "momentum": 0.5,
                   "nesterov": True}, note=_CELL_NOTE),
    )
    lineage = Lineage(("sgd",), "gradient at the worst nearby point", 2021,
                      "Foret et al. 2021")
    needs = ("loss", "grad_at")
    slots = ("momentum_buffer",)
    refused: ClassVar[dict[str, Any]] = {"maximize": False}
    equations: ClassVar[tuple[str, ...]] = (
        "x ← x + ρ·∇f(x)/‖∇f(x)‖   (sync_period − 1 times from x = p; norm over all)",
        "g = ∇f(x),   b ← μb + g",
        "p ← p − η·(Nesterov: g + μb; else b)",
    )

    lr = ClosureRule.lr.replace(search=(1e-4, 1.0))
    rho = Hyper(NONNEGATIVE, "radius ρ of the adversarial step", search=(0.01, 1.0))
    momentum = Hyper(UNIT, "momentum μ of the outer SGD", search=(0.0, 0.99))
    nesterov = Flag("Nesterov's form of the outer momentum")
    sync_period = Count(1, "calls of the closure per update (adversarial steps + 1)",
                        maximum=1000)

    def __init__(self, lr: Any = 0.01, rho: Any = 0.05, momentum: Any = 0.0,
                 nesterov: bool = False, sync_period: int = 2, weight_decay: Any = 0.0, *,
                 nonfinite: str = "raise", **options: Any) -> None:
        super().__init__(lr, weight_decay, nonfinite=nonfinite, **options)
        self.rho = rho
        self.momentum = momentum
        self.nesterov = nesterov
        self.sync_period = sync_period

    def check_settings(self, values: dict[str, Any]) -> None:
        super().check_settings(values)
        momentum = values.get("momentum", 1.0)  # (a schedule: checked at each update)
        if values.get("nesterov") and not np.any(np.asarray(momentum) != 0):
            raise InputError("SAM's nesterov needs momentum > 0 (with momentum 0 it would "
                             "change nothing)")

    def evaluate(self, oracle: Oracle, h: Any) -> Any:
        value, tree, gs = oracle.value_and_grad()
        points = [leaf.array.astype(g.dtype) for leaf, g in zip(oracle.leaves, gs)]
        for _ in range(self.sync_period - 1):
            norm = np.sqrt(global_sum([np.square(g) for g in gs]))
            with np.errstate(all="ignore"):
                points = [x + (g / norm) * h.rho for x, g in zip(points, gs)]
            _, tree, gs = oracle.at(points)
        return tree

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        b = state["momentum_buffer"]
        b[...] = g + h.momentum * b  # optax's trace
        step = g + h.momentum * b if self.nesterov else b
        p += step * -h.lr
