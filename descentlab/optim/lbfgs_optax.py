"""optax's L-BFGS: one quasi-Newton step per update, its length found by the zoom search."""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import InputError
from .closure import Oracle
from .hyperparams import Choice
from .lbfgs_direction import LBFGSDirection
from .lineage import Lineage
from .references import Reference
from .registry import register
from .zoom import SEARCH_SETTINGS, ZoomRule

#: The line search's defaults in optax.lbfgs (its scale_by_zoom_linesearch(20, "one")).
SEARCH_DEFAULTS: dict[str, Any] = {
    "max_linesearch_steps": 20, "max_learning_rate": None, "tol": 0.0, "increase_factor": 2.0,
    "slope_rtol": 1e-4, "curv_rtol": 0.9, "approx_dec_rtol": 1e-6, "stepsize_precision": 1e-5,
    "initial_guess_strategy": "one"}
#: How the reference cells build optax's rule (tests/optax_oracle.py lbfgs_of).
_CELL_NOTE = "lbfgs(learning_rate, memory_size, scale_init_precond, " \
             "linesearch=scale_by_zoom_linesearch(...)), value_fn="


@register
class LBFGSOptax(LBFGSDirection, ZoomRule):
    r"""L-BFGS (Liu & Nocedal, "On the limited memory BFGS method for large scale
    optimization", Math. Programming 45, 1989; Nocedal & Wright, *Numerical Optimization*,
    2nd ed. 2006, Algorithms 7.4–7.5 and, for the step, 3.5–3.6), optax's form:
    ``optax.lbfgs(...)`` = ``chain(scale_by_lbfgs(memory_size, scale_init_precond),
    scale(−lr), scale_by_zoom_linesearch(...))``. One quasi-Newton step per update (PyTorch's
    form, :class:`~.lbfgs.LBFGS`, iterates up to ``max_iter`` times); it needs the loss and
    gradient at trial points: ``update(params, closure=closure)``.

    At update k with parameters w and gradient g, the pair of the previous update
    :math:`\delta w = w - w_{\text{prev}},\ \delta g = g - g_{\text{prev}}` (zero at the
    first) replaces the oldest of the last m, with :math:`\rho = 1/\langle\delta g,
    \delta w\rangle` (0 where that is 0; kept whatever its sign). The direction is

    .. math::
        d = P g \ \text{(two-loop recursion over the m pairs, newest first, from }
        P_0 = \gamma I), \qquad
        \gamma = \frac{\langle \delta g, \delta w\rangle}{\lVert\delta g\rVert^2}
        \ \ (\text{first update: } \min(1, 1/\lVert g\rVert);\ 1 \text{ if }
        \texttt{scale\_init\_precond=False}),

    then :math:`u = -s\,d` (``lr`` is s) and :math:`w \leftarrow w + \eta\,u` with η from
    the zoom line search (:class:`~.zoom.SGDZoom` describes it and its settings), or
    η = 1 with ``linesearch=None``.

    Defaults: ``lr=1.0, memory_size=10, scale_init_precond=True, linesearch="zoom",
    max_linesearch_steps=20, initial_guess_strategy="one"`` and the search's other settings
    at optax's defaults (``max_learning_rate=None, tol=0, increase_factor=2,
    slope_rtol=1e-4, curv_rtol=0.9, approx_dec_rtol=1e-6, stepsize_precision=1e-5``) —
    ``optax.lbfgs()``. optax's ``learning_rate=None`` is ``lr=1`` (its ``scale(−1.0)`` is
    ``scale_by_learning_rate(1.0)`` bit for bit); a schedule for ``lr`` is optax's schedule.
    With ``linesearch=None`` the search's settings have no use and are refused by name.
    State: per parameter the last parameters and gradient and the m pairs (``memory_size ×``
    its shape each); ``opt.globals``: the ρ of each pair, the last step η, the trials made.
    No weight decay, ``maximize`` or clipping (refused).

    >>> import numpy as np
    >>> x = np.array([3.0, -1.0])                 # f = ‖x‖², ∇f = 2x
    >>> opt = LBFGSOptax()
    >>> for _ in range(2):
    ...     loss = opt.update(x, closure=lambda: (float(x @ x), 2 * x))
    >>> bool(np.abs(x).max() < 1e-12), opt.step  # the second step is Newton's
    (True, 2)
    """

    name = "lbfgs_optax"
    references = (
        Reference("optax.lbfgs", {}, {}, note=_CELL_NOTE),
        Reference("optax.lbfgs", {"lr": 0.5, "memory_size": 3, "scale_init_precond": False},
                  {"learning_rate": 0.5, "memory_size": 3, "scale_init_precond": False},
                  note=_CELL_NOTE),
        Reference("optax.lbfgs", {"linesearch": None, "lr": 0.3},
                  {"learning_rate": 0.3, "linesearch": None}, note=_CELL_NOTE),
    )
    lineage = Lineage(("lbfgs", "sgd_zoom"), "one step per update, zoom line search (optax)",
                      1989, "Liu & Nocedal 1989")
    equations: ClassVar[tuple[str, ...]] = (
        *LBFGSDirection.direction_equations,
        "u = −s·d;  η: zoom search along u (or 1 without);  w ← w + η·u",
    )

    linesearch = Choice(("zoom",), "the step's line search (None: η = 1)", optional=True)

    def __init__(self, lr: Any = 1.0, memory_size: int = 10, scale_init_precond: bool = True,
                 linesearch: str | None = "zoom", max_linesearch_steps: int = 20,
                 max_learning_rate: Any = None, tol: Any = 0.0, increase_factor: Any = 2.0,
                 slope_rtol: Any = 1e-4, curv_rtol: Any = 0.9, approx_dec_rtol: Any = 1e-6,
                 stepsize_precision: Any = 1e-5, initial_guess_strategy: str = "one", *,
                 nonfinite: str = "raise", **options: Any) -> None:
        super().__init__(lr, nonfinite=nonfinite, **options)
        self.memory_size = memory_size
        self.scale_init_precond = scale_init_precond
        self.linesearch = linesearch
        self.set_search(max_linesearch_steps, max_learning_rate, tol, increase_factor,
                        slope_rtol, curv_rtol, approx_dec_rtol, stepsize_precision,
                        initial_guess_strategy)

    def check_settings(self, values: dict[str, Any]) -> None:
        super().check_settings(values)
        if values.get("linesearch", "zoom") is None:
            for name in SEARCH_SETTINGS:
                if name in values and values[name] != SEARCH_DEFAULTS[name]:
                    raise InputError(f"{name} is a setting of the line search, and "
                                     f"linesearch=None has none; {name}={values[name]!r} is "
                                     "refused (set linesearch='zoom')")

    def evaluate(self, oracle: Oracle, h: Any) -> Any:
        value, tree, gs, here, u = self.direction(oracle, h)
        if self.linesearch is None:
            h.step_size, h.searched, h.search_errors = 1.0, 0, (0.0, 0.0)
        else:
            self.line_search(oracle, h, here, value, gs, u)
        return tree


__all__ = ["LBFGSOptax", "SEARCH_DEFAULTS"]
