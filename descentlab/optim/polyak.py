"""SGD with Polyak's step size: the step from the loss's distance to its known minimum."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from .closure import ClosureRule, Oracle, global_sum
from .hyperparams import ANY, NONNEGATIVE, Choice, Hyper
from .lineage import Lineage
from .references import Reference
from .registry import register

#: optax's guard: no step where ‖g‖² + ε is at most float64's machine ε.
TINY = float(np.finfo(np.float64).eps)


@register
class PolyakSGD(ClosureRule):
    r"""SGD with the stochastic Polyak step size, SPS (Loizou, Vaswani, Laradji &
    Lacoste-Julien, "Stochastic Polyak Step-size for SGD", AISTATS 2021; arXiv:2002.10542),
    and SPS\ :sub:`+` (Garrigos, Gower & Schaipp 2023, arXiv:2307.14528): optax's
    ``optax.polyak_sgd``. It needs the loss: ``update(params, closure=closure)``.

    With :math:`u = s\,g` (``lr`` is optax's ``scaling`` s, a number or a schedule), over all
    parameters at once:

    .. math::
        \gamma = \min\Big(\frac{f(p) - f^\star}{\lVert u\rVert^2 + \epsilon},\
        \gamma_{\max}\Big) \ (0 \text{ where } \lVert u\rVert^2 + \epsilon \le
        2^{-52}), \qquad p \leftarrow p - \gamma\, u

    ``variant="sps+"`` takes :math:`\max(f(p) - f^\star, 0)` (with ``"sps"`` a loss below
    ``f_min`` steps uphill, as in optax). No weight decay, ``maximize`` or clipping (optax's
    has none; they are refused).

    Defaults: ``lr=1.0, max_learning_rate=1.0, f_min=0.0, eps=0.0, variant="sps"`` —
    optax's. Equals ``optax.polyak_sgd(max_learning_rate, scaling=lr, f_min, eps, variant)``
    given ``value=`` the closure's loss, in both variants (the ``sps+`` cell with f* = 20,
    above the test loss at some steps, so the clamp acts).

    >>> x = {"w": np.array([1.0, 2.0])}        # f = ‖w‖², ∇f = 2w, f* = 0
    >>> opt = PolyakSGD()
    >>> opt.update(x, closure=lambda: (float(x["w"] @ x["w"]), {"w": 2 * x["w"]}))
    5.0
    >>> x["w"]                                 # γ = 5/20: w − ¼·2w = w/2
    array([0.5, 1. ])
    """

    name = "polyak_sgd"
    references = (
        Reference("optax.polyak_sgd"),
        Reference("optax.polyak_sgd", {"variant": "sps+", "f_min": 20.0},
                  {"variant": "sps+", "f_min": 20.0},
                  note="f* = 20 lies above the loss at 7 of the 20 steps: the clamp acts"),
    )
    lineage = Lineage(("sgd",), "step from the loss gap f − f*", 2021, "Loizou et al. 2021")
    equations: ClassVar[tuple[str, ...]] = (
        "u = s·g   (s: lr, optax's scaling)",
        "γ = min((f − f*)/(‖u‖² + ε), γmax)   (over all parameters; sps+: (f − f*)₊)",
        "p ← p − γ·u",
    )

    lr = ClosureRule.lr.replace(doc="scaling s of the gradient (optax's scaling)",
                                search=(0.1, 10.0))
    max_learning_rate = Hyper(NONNEGATIVE, "largest step γmax", search=(0.01, 100.0))
    f_min = Hyper(ANY, "f*: a lower bound of the loss", tunable=False)
    eps = Hyper(NONNEGATIVE, "ε added to ‖u‖²", tunable=False)
    variant = Choice(("sps", "sps+"), "sps: the gap f − f*; sps+: its positive part")

    def __init__(self, lr: Any = 1.0, max_learning_rate: Any = 1.0, f_min: Any = 0.0,
                 eps: Any = 0.0, variant: str = "sps", *, nonfinite: str = "raise",
                 **options: Any) -> None:
        super().__init__(lr, nonfinite=nonfinite, **options)
        self.max_learning_rate = max_learning_rate
        self.f_min = f_min
        self.eps = eps
        self.variant = variant

    def check_settings(self, values: dict[str, Any]) -> None:
        super().check_settings(values)
        decay = values.get("weight_decay", 0.0)
        if np.any(np.asarray(decay) != 0):
            raise InputError(f"PolyakSGD has no weight_decay (add it to the closure's loss); "
                             f"weight_decay={decay!r} is refused")

    def evaluate(self, oracle: Oracle, h: Any) -> Any:
        value, tree, gs = oracle.value_and_grad()
        squared = global_sum([np.square(g * -h.lr) for g in gs])  # ‖u‖², optax's order
        gap = value - h.f_min
        if self.variant == "sps+":
            gap = max(gap, 0.0)
        with np.errstate(all="ignore"):
            h.polyak_step = 0.0 if squared + h.eps <= TINY else float(
                np.minimum(np.float64(gap) / (squared + h.eps), h.max_learning_rate))
        return tree

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        p += h.polyak_step * (g * -h.lr)  # p + γ·(−s·g), optax's order
