"""optax's L-BFGS: one quasi-Newton step per update, its length found by the zoom search."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from .closure import Oracle, global_sum
from .hyperparams import Choice, Count, Flag
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


def _dots(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return global_sum([np.vdot(x, y) for x, y in zip(a, b)])


@register
class LBFGSOptax(ZoomRule):
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
        "δw = w − w_prev, δg = g − g_prev, ρ = 1/⟨δg, δw⟩   (replaces the oldest of m pairs)",
        "d = P·g   (two-loop recursion from P₀ = γI, γ = ⟨δg, δw⟩/‖δg‖²; first: min(1, 1/‖g‖))",
        "u = −s·d;  η: zoom search along u (or 1 without);  w ← w + η·u",
    )

    #: (:meth:`hyper_at` hands each parameter its own pair and direction)
    by_path = True

    lr = ZoomRule.lr.replace(doc="scale s of the L-BFGS direction (optax's learning_rate; "
                             "None there is 1)", search=(0.1, 2.0), search_log=True)
    memory_size = Count(1, "m: pairs kept", maximum=10_000, fixed_once_started=True)
    scale_init_precond = Flag("start the two-loop recursion from γI (else I)")
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

    def slot_shapes(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        pairs = (self.memory_size, *shape)
        return {"params": shape, "grad": shape, "diff_params": pairs, "diff_grads": pairs}

    def init_globals(self) -> dict[str, float | np.ndarray]:
        return {**super().init_globals(), "rho": np.zeros(self.memory_size)}

    def evaluate(self, oracle: Oracle, h: Any) -> Any:
        value, tree, gs = oracle.value_and_grad()
        here = [leaf.array.astype(g.dtype) for leaf, g in zip(oracle.leaves, gs)]
        count, m = self.step, self.memory_size
        olds = [self.state.get(leaf.path) for leaf in oracle.leaves]
        with np.errstate(all="ignore"):
            if count > 0:
                dw = [x - old["params"] for x, old in zip(here, olds)]
                dg = [g - old["grad"] for g, old in zip(gs, olds)]
            else:
                dw = [np.zeros_like(x) for x in here]
                dg = [np.zeros_like(g) for g in gs]
            curvature = _dots(dg, dw)
            rho = np.array(self.globals.get("rho", np.zeros(m)), dtype=np.float64)
            slot = (count - 1) % m
            rho[slot] = 0.0 if count == 0 or curvature == 0.0 else 1.0 / curvature
            if not self.scale_init_precond:
                gamma = 1.0
            elif count > 0:
                size = _dots(dg, dg)
                gamma = curvature / size if size > 0.0 else 1.0
            else:
                gamma = float(np.minimum(1.0, 1.0 / np.sqrt(np.float64(_dots(gs, gs)))))

            def pair(i: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
                if i == slot:
                    return dw, dg
                return ([old["diff_params"][i] for old in olds],
                        [old["diff_grads"][i] for old in olds])

            order = [(count + j) % m for j in range(m)]
            q = list(gs)
            alphas = {}
            for i in reversed(order):  # newest pair first
                if i != slot and olds[0] is None:
                    alphas[i] = 0.0  # (a pair not made yet: zeros, ρ = 0)
                    continue
                w_i, g_i = pair(i)
                alphas[i] = float(rho[i]) * _dots(w_i, q)
                q = [x + -alphas[i] * y for x, y in zip(q, g_i)]
            q = [gamma * x for x in q]
            for i in order:
                if i != slot and olds[0] is None:
                    continue
                w_i, g_i = pair(i)
                beta = float(rho[i]) * _dots(g_i, q)
                q = [x + (alphas[i] - beta) * y for x, y in zip(q, w_i)]
            u = [d * -h.lr for d in q]
        h.rho, h.slot = rho, slot
        h.pairs = {leaf.path: (w, g, d) for leaf, w, g, d in zip(oracle.leaves, dw, dg, u)}
        if self.linesearch is None:
            h.step_size, h.searched, h.search_errors = 1.0, 0, (0.0, 0.0)
        else:
            self.line_search(oracle, h, here, value, gs, u)
        return tree

    def begin_step(self, h: Any) -> None:
        super().begin_step(h)
        self.globals["rho"] = h.rho

    def hyper_at(self, path: str, h: Any) -> Any:
        """``h`` with this parameter's new pair and step direction (``h.pair``)."""
        return SimpleNamespace(**vars(h), pair=h.pairs[path])

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        w, dg, u = h.pair
        state["diff_params"][h.slot] = w
        state["diff_grads"][h.slot] = dg
        state["params"][...] = p
        state["grad"][...] = g
        p += h.step_size * u  # (1·u is u: no line search is optax's identity)


__all__ = ["LBFGSOptax", "SEARCH_DEFAULTS"]
