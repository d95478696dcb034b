"""optax's L-BFGS with its backtracking line search: one quasi-Newton step per update, its
length shrunk until the loss drops enough."""

from __future__ import annotations

from typing import Any, ClassVar

from .backtracking import BacktrackingRule
from .closure import Oracle
from .lbfgs_direction import LBFGSDirection
from .lineage import Lineage
from .references import Reference
from .registry import register

#: How the reference cells build optax's rule (tests/optax_oracle.py lbfgs_of).
_CELL_NOTE = "lbfgs(learning_rate, memory_size, scale_init_precond, " \
             "linesearch=scale_by_backtracking_linesearch(...)), value_fn="


@register
class LBFGSBacktracking(LBFGSDirection, BacktrackingRule):
    r"""L-BFGS (Liu & Nocedal, "On the limited memory BFGS method for large scale
    optimization", Math. Programming 45, 1989; Nocedal & Wright, *Numerical Optimization*,
    2nd ed. 2006, Algorithms 7.4–7.5) with the backtracking line search for sufficient
    decrease (Armijo, Pacific J. Math. 16, 1966; Nocedal & Wright Algorithm 3.1), optax's
    form: ``optax.lbfgs(..., linesearch=optax.scale_by_backtracking_linesearch(...))`` =
    ``chain(scale_by_lbfgs(memory_size, scale_init_precond), scale(−lr),
    scale_by_backtracking_linesearch(...))``. One quasi-Newton step per update; it needs
    the loss at trial points: ``update(params, closure=closure)``.

    The direction is :class:`~.lbfgs_optax.LBFGSOptax`'s (written once,
    :class:`~.lbfgs_direction.LBFGSDirection`): with the last m pairs
    :math:`(\delta w, \delta g)` of parameter and gradient differences,

    .. math::
        u = -s\,P g, \qquad P \text{ the two-loop recursion from } P_0 = \gamma I,\ \
        \gamma = \frac{\langle \delta g, \delta w\rangle}{\lVert\delta g\rVert^2}
        \ (\text{first update: } \min(1, 1/\lVert g\rVert)),

    (``lr`` is s; γ = 1 with ``scale_init_precond=False``). The step is
    :class:`~.backtracking.SGDBacktracking`'s search along u: from
    :math:`\eta_0 = \min(\kappa_{+}\,\eta_{\text{prev}}, \eta_{\max})`
    (:math:`\eta_{\text{prev}} = 1` at the first update) it tries
    :math:`\eta_k = \kappa_{-}^{k}\,\eta_0`, k = 0 … K, until

    .. math::
        \max\big(f(w + \eta_k u) - (1 + \delta) f(w) - \eta_k\, c\,
        \langle u, g\rangle,\ 0\big) \le \epsilon,

    then :math:`w \leftarrow w + \eta\,u` with the last :math:`\eta_k` tried (0 if its loss
    or gradient was inf/nan); that η is kept for the next update. K
    ``max_backtracking_steps``, κ₋ ``decrease_factor``, κ₊ ``increase_factor``, c
    ``slope_rtol``, δ ``rtol``, ε ``atol``.

    Defaults: ``lr=1.0, memory_size=10, scale_init_precond=True,
    max_backtracking_steps=20, slope_rtol=1e-4, decrease_factor=0.8, increase_factor=1.5,
    max_learning_rate=1.0, atol=0.0, rtol=0.0`` — ``optax.lbfgs()``'s and
    ``scale_by_backtracking_linesearch``'s (it has no default K: 20 is what optax's own
    L-BFGS tests pass, and the zoom search's K in ``optax.lbfgs``). optax's
    ``learning_rate=None`` is ``lr=1``; a schedule for ``lr`` is optax's schedule. optax's
    ``store_grad`` only keeps the last trial's gradient for ``value_and_grad_from_state`` and
    does not change the steps (the tests run optax both ways); ``verbose`` only prints.
    State: :class:`~.lbfgs_direction.LBFGSDirection`'s pairs; ``opt.globals``: the ρ of each
    pair, the last step η, its decrease error and the trials made. No weight decay,
    ``maximize`` or clipping (refused).

    Why a name of its own and not ``lbfgs_optax(linesearch="backtracking")``: the two
    searches share the names ``max_learning_rate``, ``slope_rtol`` and ``increase_factor``
    with different defaults (None, 1e-4, 2 for the zoom; 1, 1e-4, 1.5 here) and meanings (κ
    grows the zoom's trial until an interval is found, here the last step before a search),
    and each has settings the other lacks; one class would need defaults that depend on
    another option and settings refused by value. Two names keep each rule's defaults,
    search space, checkpoints and reference cells its own, as optax keeps the two searches
    two transformations.

    >>> import numpy as np
    >>> x = np.array([3.0, -1.0])                 # f = ‖x‖², ∇f = 2x
    >>> opt = LBFGSBacktracking()
    >>> for _ in range(2):
    ...     loss = opt.update(x, closure=lambda: (float(x @ x), 2 * x))
    >>> bool(np.abs(x).max() < 1e-12), opt.step  # the second step is Newton's
    (True, 2)
    >>> float(opt.globals["learning_rate"])      # η = min(1.5·1, 1) passed both times
    1.0
    """

    name = "lbfgs_backtracking"
    references = (
        Reference("optax.lbfgs", {},
                  {"linesearch": "backtracking", "max_backtracking_steps": 20},
                  note=_CELL_NOTE),
        Reference("optax.lbfgs",
                  {"lr": 2.0, "memory_size": 3, "scale_init_precond": False,
                   "decrease_factor": 0.5},
                  {"learning_rate": 2.0, "memory_size": 3, "scale_init_precond": False,
                   "linesearch": "backtracking", "max_backtracking_steps": 20,
                   "decrease_factor": 0.5}, note=_CELL_NOTE),
        Reference("optax.lbfgs",
                  {"lr": 2.0, "max_backtracking_steps": 3, "slope_rtol": 0.3,
                   "increase_factor": 2.0, "max_learning_rate": 1.5},
                  {"learning_rate": 2.0, "linesearch": "backtracking",
                   "max_backtracking_steps": 3, "slope_rtol": 0.3, "increase_factor": 2.0,
                   "max_learning_rate": 1.5}, note=_CELL_NOTE),
        Reference("optax.lbfgs", {"lr": 2.0, "rtol": 0.01, "atol": 0.05},
                  {"learning_rate": 2.0, "linesearch": "backtracking",
                   "max_backtracking_steps": 20, "rtol": 0.01, "atol": 0.05},
                  note=_CELL_NOTE),
    )
    lineage = Lineage(("lbfgs", "sgd_backtracking"),
                      "one step per update, backtracking line search (optax)", 1989,
                      "Liu & Nocedal 1989")
    equations: ClassVar[tuple[str, ...]] = (
        *LBFGSDirection.direction_equations,
        "u = −s·d;  η₀ = min(κ₊·η_prev, ηmax);  ηₖ = κ₋ᵏ·η₀ until "
        "f(w + ηₖu) − (1 + δ)f(w) − ηₖ·c·⟨u, g⟩ ≤ ε  (k ≤ K);  w ← w + η·u",
    )

    def __init__(self, lr: Any = 1.0, memory_size: int = 10, scale_init_precond: bool = True,
                 max_backtracking_steps: int = 20, slope_rtol: Any = 1e-4,
                 decrease_factor: Any = 0.8, increase_factor: Any = 1.5,
                 max_learning_rate: Any = 1.0, atol: Any = 0.0, rtol: Any = 0.0, *,
                 nonfinite: str = "raise", **options: Any) -> None:
        super().__init__(lr, nonfinite=nonfinite, **options)
        self.memory_size = memory_size
        self.scale_init_precond = scale_init_precond
        self.set_search(max_backtracking_steps, slope_rtol, decrease_factor, increase_factor,
                        max_learning_rate, atol, rtol)

    def evaluate(self, oracle: Oracle, h: Any) -> Any:
        value, tree, gs, here, u = self.direction(oracle, h)
        self.line_search(oracle, h, here, value, gs, u)
        return tree


__all__ = ["LBFGSBacktracking"]
