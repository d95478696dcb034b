"""The backtracking (Armijo) line search, written once, and SGD with it; L-BFGS with it is
:mod:`.lbfgs_backtracking`."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from .closure import ClosureRule, NotFinite, Oracle, global_sum
from .hyperparams import NONNEGATIVE, POSITIVE, Check, Count, Hyper
from .lineage import Lineage
from .references import Reference
from .registry import register

#: (0, 1]: the factor a rejected step is multiplied by.
SHRINK = Check(0.0, 1.0, True, False)
#: >= 1: the factor the last accepted step grows by before the next search.
GROW = Check(1.0, None, False, False)


class BacktrackingRule(ClosureRule):
    """A rule stepping along a direction of its own by the backtracking line search
    (optax's ``scale_by_backtracking_linesearch``): the search's settings, declared once,
    and :meth:`line_search`. Subclasses: :class:`SGDBacktracking`,
    :class:`~.lbfgs_backtracking.LBFGSBacktracking`."""

    needs = ("loss", "grad_at")
    weight_decay_in_loss = True
    nonfinite_globals = ("decrease_error",)  # ∞ before a search and after one that failed

    max_backtracking_steps = Count(0, "K: most step reductions per update", maximum=1000)
    slope_rtol = Hyper(NONNEGATIVE, "c: the decrease asked per unit of slope",
                       search=(1e-4, 0.5))
    decrease_factor = Hyper(SHRINK, "κ₋: a rejected step's factor", search=(0.1, 0.9),
                            search_log=False)
    increase_factor = Hyper(GROW, "κ₊: growth of the last step before a search",
                            tunable=False)
    max_learning_rate = Hyper(POSITIVE, "largest step ηmax", search=(0.1, 10.0))
    atol = Hyper(NONNEGATIVE, "ε: absolute slack of the test", tunable=False)
    rtol = Hyper(NONNEGATIVE, "δ: relative slack of the test", tunable=False)

    def set_search(self, max_backtracking_steps: int, slope_rtol: Any, decrease_factor: Any,
                   increase_factor: Any, max_learning_rate: Any, atol: Any,
                   rtol: Any) -> None:
        """Assign the search's settings (from a constructor)."""
        self.max_backtracking_steps = max_backtracking_steps
        self.slope_rtol = slope_rtol
        self.decrease_factor = decrease_factor
        self.increase_factor = increase_factor
        self.max_learning_rate = max_learning_rate
        self.atol = atol
        self.rtol = rtol

    def init_globals(self) -> dict[str, float | np.ndarray]:
        return {"learning_rate": 1.0, "decrease_error": math.inf, "searched": 0}

    def begin_step(self, h: Any) -> None:
        self.globals["learning_rate"] = h.step_size
        self.globals["decrease_error"] = h.decrease_error
        self.globals["searched"] = h.searched

    def _error(self, h: Any, value: float, eta: float, slope: float, oracle: Oracle,
               points: list[np.ndarray]) -> float:
        try:
            new = oracle.at(points)[0]
        except NotFinite:
            return math.inf
        with np.errstate(all="ignore"):
            e = float(np.float64(new) - (1.0 + h.rtol) * value - eta * h.slope_rtol * slope)
        return math.inf if math.isnan(e) else max(e, 0.0)

    def line_search(self, oracle: Oracle, h: Any, here: list[np.ndarray], value: float,
                    gs: list[np.ndarray], u: list[np.ndarray]) -> None:
        """Search along ``u`` from ``here`` (loss ``value``, gradient ``gs``): from
        min(κ₊·η_prev, ηmax), the step shrunk by κ₋ until the decrease test holds or K
        reductions are made. The step goes on ``h.step_size`` (0 if the last trial's error
        is infinite), its error on ``h.decrease_error``, the number of trials on
        ``h.searched``. Each trial is one closure call at here + η·u; an inf/nan loss or
        gradient there counts as an infinite error."""
        slope = global_sum([np.vdot(d, g) for d, g in zip(u, gs)])
        last = float((self.globals or self.init_globals())["learning_rate"])
        eta = min(h.increase_factor * last, h.max_learning_rate)
        error, k = math.inf, 0
        while not error <= h.atol and k <= self.max_backtracking_steps:
            if k > 0:
                eta = h.decrease_factor * eta
            with np.errstate(all="ignore"):
                points = [x + eta * d for x, d in zip(here, u)]
            error = self._error(h, value, eta, slope, oracle, points)
            k += 1
        h.step_size = 0.0 if math.isinf(error) else float(eta)
        h.decrease_error, h.searched = error, k


#: How the reference cells build optax's rule (tests/optax_oracle.py sgd_backtracking_of).
_CELL_NOTE = "chain(sgd(learning_rate), scale_by_backtracking_linesearch(...)), value_fn="


@register
class SGDBacktracking(BacktrackingRule):
    r"""SGD with a backtracking line search for sufficient decrease (Armijo, "Minimization of
    functions having Lipschitz continuous first partial derivatives", Pacific J. Math. 16,
    1966; Nocedal & Wright, *Numerical Optimization*, 2nd ed. 2006, Algorithm 3.1): optax's
    ``optax.chain(optax.sgd(lr), optax.scale_by_backtracking_linesearch(...))``. It needs the
    loss at trial points: ``update(params, closure=closure)``.

    The base direction is plain SGD's, :math:`u = -s\,g` (``lr`` is s; a descent direction,
    as the search needs). From :math:`\eta_0 = \min(\kappa_{+}\,\eta_{\text{prev}},
    \eta_{\max})` (:math:`\eta_{\text{prev}} = 1` at the first update) the search tries
    :math:`\eta_k = \kappa_{-}^{k}\,\eta_0`, k = 0 … K, and stops at the first with

    .. math::
        e_k = \max\big(f(p + \eta_k u) - (1 + \delta) f(p) - \eta_k\, c\,
        \langle u, g\rangle,\ 0\big) \le \epsilon \qquad (e_k = \infty \text{ for a nan}),

    then :math:`p \leftarrow p + \eta\,u` with the last :math:`\eta_k` tried (0 if its
    :math:`e_k` is infinite); that η is kept for the next update. K =
    ``max_backtracking_steps``, :math:`\kappa_{-}` ``decrease_factor``, :math:`\kappa_{+}`
    ``increase_factor``, c ``slope_rtol``, δ ``rtol``, ε ``atol``. Each trial calls the
    closure once at :math:`p + \eta_k u` (its gradient is not used); a trial whose loss or
    gradient is inf/nan counts as :math:`e_k = \infty` (optax looks at the loss only).

    Defaults: ``lr=1.0, max_backtracking_steps=15, slope_rtol=1e-4, decrease_factor=0.8,
    increase_factor=1.5, max_learning_rate=1.0, atol=0.0, rtol=0.0`` — optax's (it has no
    default K: 15 is its docstring's example; ``sgd(1.0)`` likewise). optax's ``store_grad``
    only keeps the last trial's gradient in its state for ``value_and_grad_from_state`` and
    does not change the steps (the tests run optax both ways); ``verbose`` only prints. No
    weight decay, ``maximize`` or clipping (refused).

    >>> x = {"w": np.array([3.0, 4.0])}        # f = ½‖w‖², ∇f = w
    >>> opt = SGDBacktracking()
    >>> opt.update(x, closure=lambda: (0.5 * float(x["w"] @ x["w"]), {"w": x["w"].copy()}))
    12.5
    >>> x["w"]                                 # η = min(1.5·1, 1) = 1 passes: w − w
    array([0., 0.])
    >>> float(opt.globals["learning_rate"])
    1.0
    """

    name = "sgd_backtracking"
    references = (
        Reference("optax.scale_by_backtracking_linesearch", {},
                  {"learning_rate": 1.0, "max_backtracking_steps": 15}, note=_CELL_NOTE),
        Reference("optax.scale_by_backtracking_linesearch",
                  {"lr": 2.0, "decrease_factor": 0.5, "increase_factor": 2.0,
                   "max_learning_rate": 1.5},
                  {"learning_rate": 2.0, "max_backtracking_steps": 15, "decrease_factor": 0.5,
                   "increase_factor": 2.0, "max_learning_rate": 1.5}, note=_CELL_NOTE),
        Reference("optax.scale_by_backtracking_linesearch",
                  {"lr": 2.0, "max_backtracking_steps": 1},
                  {"learning_rate": 2.0, "max_backtracking_steps": 1}, note=_CELL_NOTE),
        Reference("optax.scale_by_backtracking_linesearch", {"lr": 2.0, "slope_rtol": 0.5},
                  {"learning_rate": 2.0, "max_backtracking_steps": 15, "slope_rtol": 0.5},
                  note=_CELL_NOTE),
        Reference("optax.scale_by_backtracking_linesearch", {"lr": 2.0, "rtol": 0.5},
                  {"learning_rate": 2.0, "max_backtracking_steps": 15, "rtol": 0.5},
                  note=_CELL_NOTE),
        Reference("optax.scale_by_backtracking_linesearch", {"lr": 2.0, "atol": 2.0},
                  {"learning_rate": 2.0, "max_backtracking_steps": 15, "atol": 2.0},
                  note=_CELL_NOTE),
    )
    lineage = Lineage(("sgd",), "step shrunk until the loss drops (Armijo)", 1966,
                      "Armijo 1966")
    equations: ClassVar[tuple[str, ...]] = (
        "u = −s·g   (s: lr; plain SGD's direction)",
        "η₀ = min(κ₊·η_prev, ηmax);  ηₖ = κ₋ᵏ·η₀ until "
        "f(p + ηₖu) − (1 + δ)f(p) − ηₖ·c·⟨u, g⟩ ≤ ε  (k ≤ K)",
        "p ← p + η·u   (η: the last tried; 0 if its loss was inf/nan)",
    )

    lr = ClosureRule.lr.replace(doc="scale s of the gradient (optax's sgd rate)",
                                search=(0.1, 10.0))

    def __init__(self, lr: Any = 1.0, max_backtracking_steps: int = 15,
                 slope_rtol: Any = 1e-4, decrease_factor: Any = 0.8,
                 increase_factor: Any = 1.5, max_learning_rate: Any = 1.0, atol: Any = 0.0,
                 rtol: Any = 0.0, *, nonfinite: str = "raise", **options: Any) -> None:
        super().__init__(lr, nonfinite=nonfinite, **options)
        self.set_search(max_backtracking_steps, slope_rtol, decrease_factor, increase_factor,
                        max_learning_rate, atol, rtol)

    def evaluate(self, oracle: Oracle, h: Any) -> Any:
        value, tree, gs = oracle.value_and_grad()
        here = [leaf.array.astype(g.dtype) for leaf, g in zip(oracle.leaves, gs)]
        u = [g * -h.lr for g in gs]
        self.line_search(oracle, h, here, value, gs, u)
        return tree

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        p += h.step_size * (g * -h.lr)  # p + η·(−s·g), optax's order


__all__ = ["SGDBacktracking", "BacktrackingRule"]
