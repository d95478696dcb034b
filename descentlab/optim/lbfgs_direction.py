"""optax's L-BFGS direction (``scale_by_lbfgs``), written once: the memory of pairs and the
two-loop recursion, for the rules that step along it by a line search of their own —
:class:`~.lbfgs_optax.LBFGSOptax` (the zoom search) and
:class:`~.lbfgs_backtracking.LBFGSBacktracking` (the backtracking search).

>>> from descentlab import optim
>>> [c.__name__ for c in optim.LBFGSBacktracking.__mro__[:4]]
['LBFGSBacktracking', 'LBFGSDirection', 'BacktrackingRule', 'ClosureRule']
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np

from .closure import ClosureRule, Oracle, global_sum
from .hyperparams import Count, Flag


def _dots(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return global_sum([np.vdot(x, y) for x, y in zip(a, b)])


class LBFGSDirection(ClosureRule):
    r"""The L-BFGS direction of optax's ``scale_by_lbfgs(memory_size, scale_init_precond)``
    followed by ``scale(−lr)``, for a rule that combines it with a line search (listed
    first among its bases: ``class LBFGSOptax(LBFGSDirection, ZoomRule)``).

    At update k with parameters w and gradient g, the pair of the previous update
    :math:`\delta w = w - w_{\text{prev}},\ \delta g = g - g_{\text{prev}}` (zero at the
    first) replaces the oldest of the last m, with :math:`\rho = 1/\langle\delta g,
    \delta w\rangle` (0 where that is 0; kept whatever its sign); :meth:`direction` returns
    :math:`u = -s\,P g`, P the two-loop recursion over the m pairs (newest first) from
    :math:`P_0 = \gamma I`, :math:`\gamma = \langle \delta g, \delta w\rangle/\lVert\delta
    g\rVert^2` (first update: :math:`\min(1, 1/\lVert g\rVert)`; 1 with
    ``scale_init_precond=False``). The subclass's ``evaluate`` finds the step η along u and
    sets ``h.step_size``; :meth:`rule` stores the new pair and moves w by η·u. State: per
    parameter the last parameters and gradient and the m pairs (``memory_size ×`` its shape
    each); ``opt.globals["rho"]``: the ρ of each pair.
    """

    #: The direction's lines of the subclasses' ``equations``.
    direction_equations: ClassVar[tuple[str, ...]] = (
        "δw = w − w_prev, δg = g − g_prev, ρ = 1/⟨δg, δw⟩   (replaces the oldest of m pairs)",
        "d = P·g   (two-loop recursion from P₀ = γI, γ = ⟨δg, δw⟩/‖δg‖²; first: min(1, 1/‖g‖))",
    )

    #: (:meth:`hyper_at` hands each parameter its own pair and step direction)
    by_path = True

    lr = ClosureRule.lr.replace(doc="scale s of the L-BFGS direction (optax's learning_rate; "
                                "None there is 1)", search=(0.1, 2.0), search_log=True)
    memory_size = Count(1, "m: pairs kept", maximum=10_000, fixed_once_started=True)
    scale_init_precond = Flag("start the two-loop recursion from γI (else I)")

    def slot_shapes(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        pairs = (self.memory_size, *shape)
        return {"params": shape, "grad": shape, "diff_params": pairs, "diff_grads": pairs}

    def init_globals(self) -> dict[str, float | np.ndarray]:
        return {**super().init_globals(), "rho": np.zeros(self.memory_size)}

    def direction(self, oracle: Oracle, h: Any) -> tuple[float, Any, list[np.ndarray],
                                                         list[np.ndarray], list[np.ndarray]]:
        """(loss, gradient tree, gradients, parameters, u = −s·P·g) at the current point,
        one per leaf; this update's ρ, pair slot and per-parameter (δw, δg, u) go on ``h``."""
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
        return value, tree, gs, here, u

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


__all__ = ["LBFGSDirection"]
