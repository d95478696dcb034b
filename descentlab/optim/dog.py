"""DoG and DoWG: SGD whose step size is a distance travelled over a sum of gradient norms."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from . import sums
from .base import Optimizer
from .hyperparams import NONNEGATIVE, POSITIVE, Choice, Flag, Hyper, Number
from .lineage import Lineage
from .references import Reference
from .registry import register


def refuse_decoupled(name: str, values: dict[str, Any]) -> None:
    """The learning-rate-free SGD rules decay by L2 only (their references' form)."""
    if values.get("decoupled_weight_decay"):
        raise InputError(f"{name}'s weight decay is L2, added to the gradient (optax's and the "
                         "authors'): decoupled_weight_decay=True does not apply")


@register
class DoG(Optimizer):
    r"""DoG, Distance over Gradients (Ivgi, Hinder & Carmon, "DoG is SGD's Best Friend: A
    Parameter-Free Dynamic Step Size Schedule", ICML 2023; arXiv:2302.12022), optax's
    ``optax.contrib.dog`` and the authors' ``dog-optimizer`` (``DoG``, ``LDoG``).

    With :math:`x_0` the parameters before the first update, norms over ALL parameters as one
    vector:

    .. math::
        \bar r_t = \max\bigl(\bar r_{t-1}, \lVert x_t - x_0\rVert\bigr), \quad
        G_t = G_{t-1} + \lVert g_t\rVert^2, \quad
        \eta_t = \frac{\bar r_t}{\sqrt{G_t + \epsilon}}, \quad
        x_{t+1} = x_t - \gamma\,\eta_t\, g_t

    γ = ``lr`` only scales the step (1: nothing to tune). The first distance
    :math:`\bar r_0` comes from ``init_step`` and ``init_value`` α: ``"heuristic"``
    :math:`\alpha(1 + \lVert x_0\rVert)` (the paper's; α = 1e-6, 1e-4 with batch norm),
    ``"distance"`` :math:`\bar r_0 = \alpha`, or ``"learning_rate"``: :math:`\eta_1 = \alpha`
    (and :math:`\bar r_0 = 0`). ``layerwise=True`` is the authors' LDoG: :math:`\bar r`,
    :math:`G` and η per parameter array. Weight decay is L2 (added to the gradient), as in
    both references.

    Defaults: ``lr=1.0, init_step="heuristic", init_value=1e-6, eps=1e-8, weight_decay=0``
    — optax's and the authors'. Equals ``optax.contrib.dog(lr, (init_step, init_value), eps,
    weight_decay)``; the authors' ``DoG(reps_rel=α, lr, weight_decay, eps)`` (``LDoG`` with
    ``layerwise=True``); their ``init_eta=η₁`` sets the first step without γ, which is
    ``init_step="learning_rate", init_value=η₁/lr`` here.

    >>> params = {"x": np.array([3.0]), "y": np.array([4.0])}
    >>> opt = DoG(init_step="distance", init_value=0.5, eps=0.0)
    >>> opt.update(params, {"x": np.array([1.0]), "y": np.array([0.0])})   # η = 0.5/1
    >>> params["x"], round(opt.globals["max_dist"], 12)
    (array([2.5]), 0.5)
    """

    name = "dog"
    references = (
        Reference("optax.contrib.dog"),
        Reference("optax.contrib.dog", {"init_step": "distance", "init_value": 0.1},
                  {"init_step": ("distance", 0.1)}),
        Reference("dog.DoG"),
        Reference("dog.LDoG", {"layerwise": True}),
    )
    lineage = Lineage(("sgd",), "step = distance travelled / gradient norms", 2023,
                      "Ivgi et al. 2023")
    equations: ClassVar[tuple[str, ...]] = (
        "r̄ ← max(r̄, ‖x − x0‖),   G ← G + ‖g‖²   (norms over all parameters)",
        "η = r̄ / √(G + ε)",
        "x ← x − γ·η·g",
    )

    lr = Optimizer.lr.replace(doc="factor γ on the step (1: no rate to tune)",
                              search=(0.1, 10.0))
    init_value = Hyper(POSITIVE, "α of init_step: r̄₀ = α(1 + ‖x0‖), r̄₀ = α or η₁ = α",
                       search=(1e-8, 1e-2), tunable=False)
    eps = Hyper(NONNEGATIVE, "ε under the root of the gradient sum", tunable=False)
    init_step = Choice(("heuristic", "distance", "learning_rate"),
                       "the first step: r̄₀ = α(1 + ‖x0‖), r̄₀ = α, or η₁ = α",
                       fixed_once_started=True)
    layerwise = Flag("per parameter array (the authors' LDoG) instead of over all",
                     fixed_once_started=True)

    def __init__(self, lr: Any = 1.0, init_step: str = "heuristic", init_value: Any = 1e-6,
                 eps: Any = 1e-8, weight_decay: Any = 0.0, *, layerwise: bool = False,
                 maximize: bool = False, **options: Any) -> None:
        super().__init__(lr, weight_decay, maximize=maximize, **options)
        self.init_step = init_step
        self.init_value = init_value
        self.eps = eps
        self.layerwise = layerwise

    @property
    def slots(self) -> tuple[str, ...]:  # type: ignore[override]
        """``x0``, and per array ``max_dist``, ``sum_sq`` when ``layerwise``."""
        return ("x0", "max_dist", "sum_sq") if self.layerwise else ("x0",)

    nonnegative_slots = ("max_dist", "sum_sq")  # (LDoG's)

    def slot_shapes(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        return {s: shape if s == "x0" else () for s in self.slots}

    def check_settings(self, values: dict[str, Any]) -> None:
        refuse_decoupled("dog", values)

    def init_globals(self) -> dict[str, Any]:
        return {} if self.layerwise else {"max_dist": 0.0, "sum_sq": 0.0}

    def first_distance(self, x0_norm: float, h: Any) -> Any:
        """r̄₀ from ``init_step`` and α."""
        if self.init_step == "heuristic":
            return h.init_value * (1 + x0_norm)
        return h.init_value if self.init_step == "distance" else 0.0

    def step_size(self, max_dist: Any, sum_sq: Any, h: Any) -> Any:
        """η = r̄/√(G + ε), or α at the first step with ``init_step="learning_rate"``."""
        if h.t == 1 and self.init_step == "learning_rate":
            return h.init_value
        return max_dist / np.sqrt(sum_sq + h.eps)

    def prepass(self, leaves: list[tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]],
                globals_: dict[str, Any], h: Any) -> dict[str, Any]:
        if self.layerwise:
            return globals_
        if h.t == 1:
            max_dist = self.first_distance(sums.norm(p for p, _, _ in leaves), h)
        else:
            max_dist = np.maximum(globals_["max_dist"], sums.norm(
                s["x0"] - p for p, _, s in leaves))
        sum_sq = globals_["sum_sq"] + sums.sq_norm(g for _, g, _ in leaves)
        h.eta = self.step_size(max_dist, sum_sq, h)
        return {"max_dist": max_dist, "sum_sq": sum_sq}

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        x0 = state["x0"]
        if h.t == 1:
            x0[...] = p
        eta = h.eta if not self.layerwise else self.layer_step(p, g, state, h)
        p -= h.lr * (eta * g)

    def layer_step(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> Any:
        """LDoG: r̄, G and η of this array alone."""
        max_dist, sum_sq = state["max_dist"], state["sum_sq"]
        if h.t == 1:
            max_dist[...] = self.first_distance(math.sqrt(float(np.sum(p * p))), h)
        else:
            np.maximum(max_dist, np.sqrt(np.sum((state["x0"] - p) ** 2)), out=max_dist)
        sum_sq += np.sum(g * g)
        return self.step_size(max_dist, sum_sq, h)


@register
class DoWG(Optimizer):
    r"""DoWG, Distance over Weighted Gradients (Khaled, Mishchenko & Jin, "DoWG Unleashed: An
    Efficient Universal Parameter-Free Gradient Descent Method", NeurIPS 2023;
    arXiv:2305.16284), optax's ``optax.contrib.dowg``.

    With :math:`x_0` the parameters before the first update, norms over ALL parameters:

    .. math::
        \bar r_t^2 = \max\bigl(\bar r_{t-1}^2, \lVert x_t - x_0\rVert^2\bigr), \quad
        v_t = v_{t-1} + \bar r_t^2 \lVert g_t\rVert^2, \quad
        x_{t+1} = x_t - \gamma\,\frac{\bar r_t^2}{\sqrt{v_t} + \epsilon}\, g_t

    :math:`\bar r_0^2` = ``init_estim_sq_dist``, or ε when it is ``None``; γ = ``lr`` only
    scales the step. Weight decay is L2, as in optax.

    Defaults: ``lr=1.0, init_estim_sq_dist=None, eps=1e-4, weight_decay=0`` — optax's. Equals
    ``optax.contrib.dowg(lr, init_estim_sq_dist, eps, weight_decay)``.

    >>> params = {"x": np.array([1.0])}
    >>> opt = DoWG(init_estim_sq_dist=4.0, eps=0.0)
    >>> opt.update(params, {"x": np.array([2.0])})   # v = 4·4: step 4/4·2
    >>> params["x"]
    array([-1.])
    """

    name = "dowg"
    references = (
        Reference("optax.contrib.dowg"),
        Reference("optax.contrib.dowg", {"init_estim_sq_dist": 0.1}, {"init_estim_sq_dist": 0.1}),
    )
    lineage = Lineage(("dog",), "distances weight the gradient sum", 2023,
                      "Khaled et al. 2023")
    slots = ("x0",)
    equations: ClassVar[tuple[str, ...]] = (
        "r̄² ← max(r̄², ‖x − x0‖²)   (norms over all parameters)",
        "v ← v + r̄²·‖g‖²",
        "x ← x − γ·r̄²/(√v + ε)·g",
    )

    lr = Optimizer.lr.replace(doc="factor γ on the step (1: no rate to tune)",
                              search=(0.1, 10.0))
    eps = Hyper(NONNEGATIVE, "ε in the denominator (and r̄₀² when init_estim_sq_dist is None)",
                search=(1e-8, 1.0), tunable=False)
    init_estim_sq_dist = Number(POSITIVE, "first guess r̄₀² of the squared distance to a "
                                "solution (None: ε)", optional=True, fixed_once_started=True)

    def __init__(self, lr: Any = 1.0, init_estim_sq_dist: float | None = None,
                 eps: Any = 1e-4, weight_decay: Any = 0.0, *, maximize: bool = False,
                 **options: Any) -> None:
        super().__init__(lr, weight_decay, maximize=maximize, **options)
        self.init_estim_sq_dist = init_estim_sq_dist
        self.eps = eps

    def check_settings(self, values: dict[str, Any]) -> None:
        refuse_decoupled("dowg", values)
        if values.get("init_estim_sq_dist") is None and np.any(values.get("eps", 1.0) == 0):
            raise InputError("dowg with eps=0 needs init_estim_sq_dist (r̄₀² = ε = 0 would "
                             "divide 0 by 0 at the first step)")

    def init_globals(self) -> dict[str, Any]:
        return {"sq_dist": 0.0, "weighted_sum": 0.0}

    def prepass(self, leaves: list[tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]],
                globals_: dict[str, Any], h: Any) -> dict[str, Any]:
        before = globals_["sq_dist"]
        if h.t == 1:
            before = h.eps if self.init_estim_sq_dist is None else self.init_estim_sq_dist
        sq_dist = np.maximum(before, sums.sq_norm(sums.start_of(p, s, h) - p for p, _, s in leaves))
        weighted = sq_dist * sums.sq_norm(g for _, g, _ in leaves) + globals_["weighted_sum"]
        h.eta = sq_dist / (np.sqrt(weighted) + h.eps)
        return {"sq_dist": sq_dist, "weighted_sum": weighted}

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        if h.t == 1:
            state["x0"][...] = p
        p -= h.lr * (h.eta * g)
