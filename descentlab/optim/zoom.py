"""The zoom line search (strong Wolfe, with Hager & Zhang's approximate decrease), written
once, and SGD with it; L-BFGS with it is :mod:`.lbfgs_optax`."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .closure import ClosureRule, Oracle, global_sum
from .hyperparams import NONNEGATIVE, POSITIVE, Check, Choice, Count, Hyper, Number
from .lineage import Lineage
from .references import Reference
from .registry import register

#: >= 1: the factor the trial step grows by while no interval is found.
GROW = Check(1.0, None, False, False)
#: The line search's settings (each a declaration of :class:`ZoomRule`).
SEARCH_SETTINGS = ("max_linesearch_steps", "max_learning_rate", "tol", "increase_factor",
                   "slope_rtol", "curv_rtol", "approx_dec_rtol", "stepsize_precision",
                   "initial_guess_strategy")

Trial = Callable[[float], tuple[float, float]]


@dataclass
class Search:
    """Where the zoom search ended: the step ``stepsize`` taken, the number of trials
    ``count``, and the last trial's errors (0: the condition holds)."""

    stepsize: float
    count: int
    decrease_error: float
    curvature_error: float


def _f(x: Any) -> np.float64:
    return np.float64(x)


def cubic_minimum(a: float, fa: float, fpa: float, b: float, fb: float, c: float,
                  fc: float) -> np.float64:
    """The critical point of the cubic through (a, fa) with slope fpa at a, (b, fb) and
    (c, fc) — nan when it has none (then the caller does not use it)."""
    a, fa, fpa, b, fb, c, fc = (_f(v) for v in (a, fa, fpa, b, fb, c, fc))
    db, dc = b - a, c - a
    t = db * dc
    denom = t * t * (db - dc)
    rb, rc = fb - fa - fpa * db, fc - fa - fpa * dc
    big_a = (dc * dc * rb + -(db * db) * rc) / denom
    big_b = (-(dc * dc * dc) * rb + db * db * db * rc) / denom
    radical = big_b * big_b - 3.0 * big_a * fpa
    return a + (-big_b + np.sqrt(radical)) / (3.0 * big_a)


def quadratic_minimum(a: float, fa: float, fpa: float, b: float, fb: float) -> np.float64:
    """The critical point of the parabola through (a, fa) with slope fpa at a and (b, fb)."""
    a, fa, fpa, b, fb = (_f(v) for v in (a, fa, fpa, b, fb))
    db = b - a
    curvature = (fb - fa - fpa * db) / (db * db)
    return a - fpa / (2.0 * curvature)


@dataclass
class ZoomSettings:
    """The search's numbers for one update (see :class:`ZoomRule`)."""

    max_steps: int
    max_stepsize: float | None
    tol: float
    increase_factor: float
    slope_rtol: float
    curv_rtol: float
    approx_dec_rtol: float | None
    interval_threshold: float

    def decrease_error(self, stepsize: Any, value: Any, slope: Any, value0: Any,
                       slope0: Any) -> np.float64:
        """How far (value, slope) at ``stepsize`` is from sufficient decrease (Armijo, or
        the approximate form near the minimum); inf for nan."""
        error = value - value0 - self.slope_rtol * stepsize * slope0
        if self.approx_dec_rtol is not None:
            approx = slope - (2 * self.slope_rtol - 1.0) * slope0
            rise = value - value0 - self.approx_dec_rtol * np.abs(value0)
            error = np.minimum(np.maximum(approx, rise), error)
        error = np.maximum(error, 0.0)
        return np.float64(np.inf) if np.isnan(error) else error

    def curvature_error(self, slope: Any, slope0: Any) -> np.float64:
        """How far the slope is from the curvature condition; inf for nan."""
        error = np.maximum(np.abs(slope) - self.curv_rtol * np.abs(slope0), 0.0)
        return np.float64(np.inf) if np.isnan(error) else error


def zoom_search(trial: Trial, value0: float, slope0: float, guess: float,
                s: ZoomSettings) -> Search:
    """A step η along the direction with sufficient decrease and small curvature:
    Nocedal & Wright's interval search (Algorithm 3.5, from ``guess`` growing by
    ``increase_factor``) then zoom (Algorithm 3.6: cubic, else quadratic, else bisection
    inside the interval), optax's variant step for step. ``trial(η)`` returns (f, f') at
    the start plus η times the direction (nan for a point outside the domain)."""
    v0, s0 = _f(value0), _f(slope0)
    count, stepsize, value, slope = 0, _f(0.0), v0, s0
    dec = curv = np.float64(np.inf)
    found = done = failed = False
    low = high = ref = _f(0.0)
    v_low = v_high = v_ref = v0
    s_low = s0
    safe, v_safe = _f(0.0), v0
    while not (done or failed):
        if not found:  # Algorithm 3.5: grow the step until an interval is found
            new = _f(guess) if count == 0 else s.increase_factor * stepsize
            at_max = False
            if s.max_stepsize is not None:
                at_max = bool(new >= s.max_stepsize)
                new = np.minimum(new, _f(s.max_stepsize))
            v, d = (_f(x) for x in trial(float(new)))
            dec, curv = s.decrease_error(new, v, d, v0, s0), s.curvature_error(d, s0)
            good = max(dec, curv) <= s.tol
            if dec <= s.tol:
                safe, v_safe = new, v
            set_high = bool(dec > 0.0) or (bool(v >= value) and count > 0)
            set_low = bool(d >= 0.0) and not set_high
            if set_low:
                low, v_low, s_low, high, v_high = new, v, d, stepsize, value
            else:
                low, v_low, s_low, high, v_high = stepsize, value, slope, new, v
            ref, v_ref = low, v_low
            found = set_high or set_low or good
            done = good or (at_max and not found)
            failed = count + 1 >= s.max_steps and not done
        else:  # Algorithm 3.6: zoom into [low, high]
            delta = np.abs(high - low)
            left, right = np.minimum(high, low), np.maximum(high, low)
            cubic = cubic_minimum(low, v_low, s_low, high, v_high, ref, v_ref)
            quad = quadratic_minimum(low, v_low, s_low, high, v_high)
            if left + 0.2 * delta < cubic < right - 0.2 * delta:
                new = cubic
            elif left + 0.1 * delta < quad < right - 0.1 * delta:
                new = quad
            else:
                new = (low + high) / 2.0
            v, d = (_f(x) for x in trial(float(new)))
            dec, curv = s.decrease_error(new, v, d, v0, s0), s.curvature_error(d, s0)
            if dec <= s.tol and v < v_safe:
                safe, v_safe = new, v
            done = bool(max(dec, curv) <= s.tol)
            to_high = bool(dec > 0.0) or bool(v >= v_low)
            low_to_high = bool(d * (high - low) >= 0.0) and not to_high
            if to_high or low_to_high:
                ref, v_ref = high, v_high
            else:
                ref, v_ref = low, v_low
            if to_high:
                high, v_high = new, v
            elif low_to_high:
                high, v_high = low, v_low
            if not to_high:
                low, v_low, s_low = new, v, d
            failed = (count + 1 >= s.max_steps
                      or (bool(delta <= s.interval_threshold) and safe > 0.0)) and not done
        count += 1
        stepsize, value, slope = new, v, d
        if failed and (safe > 0.0 or np.isinf(dec)):
            stepsize, value = safe, v_safe  # the best step with sufficient decrease, or 0
    return Search(float(stepsize), count, float(dec), float(curv))


class ZoomRule(ClosureRule):
    """A rule stepping along a direction of its own by the zoom line search: the search's
    settings, declared once, and :meth:`line_search`. Subclasses: :class:`SGDZoom`,
    :class:`~.lbfgs_optax.LBFGSOptax`."""

    needs = ("loss", "grad_at")
    weight_decay_in_loss = True
    #: The last search's (decrease error, curvature error): 0 where a condition holds.
    search_errors: tuple[float, float] = (math.inf, math.inf)

    max_linesearch_steps = Count(0, "most trial steps per update (0 and 1: one)",
                                 maximum=1000)
    max_learning_rate = Number(POSITIVE, "largest step η tried (None: no bound)",
                               optional=True)
    tol = Hyper(NONNEGATIVE, "ε: slack of both conditions", tunable=False)
    increase_factor = Hyper(GROW, "growth of the trial step until an interval is found",
                            tunable=False)
    slope_rtol = Hyper(NONNEGATIVE, "c₁: the decrease asked per unit of slope",
                       search=(1e-4, 0.4))
    curv_rtol = Hyper(NONNEGATIVE, "c₂: the slope's largest share left at the step",
                      search=(0.1, 0.9), search_log=False)
    approx_dec_rtol = Number(NONNEGATIVE, "c₃: the approximate decrease applies where "
                             "f ≤ f(p) + c₃|f(p)| (None: Armijo only)", optional=True)
    stepsize_precision = Hyper(NONNEGATIVE, "an interval this short ends the search at the "
                               "best step with sufficient decrease", tunable=False)
    initial_guess_strategy = Choice(("one", "keep"), "first trial: 1, or the last step")

    def set_search(self, max_linesearch_steps: int, max_learning_rate: Any, tol: Any,
                   increase_factor: Any, slope_rtol: Any, curv_rtol: Any,
                   approx_dec_rtol: Any, stepsize_precision: Any,
                   initial_guess_strategy: str) -> None:
        """Assign the search's settings (from a constructor)."""
        self.max_linesearch_steps = max_linesearch_steps
        self.max_learning_rate = max_learning_rate
        self.tol = tol
        self.increase_factor = increase_factor
        self.slope_rtol = slope_rtol
        self.curv_rtol = curv_rtol
        self.approx_dec_rtol = approx_dec_rtol
        self.stepsize_precision = stepsize_precision
        self.initial_guess_strategy = initial_guess_strategy

    def init_globals(self) -> dict[str, float | np.ndarray]:
        return {"learning_rate": 1.0, "searched": 0}

    def line_search(self, oracle: Oracle, h: Any, here: list[np.ndarray], value: float,
                    gs: list[np.ndarray], u: list[np.ndarray]) -> None:
        """Search along ``u`` from ``here`` (loss ``value``, gradient ``gs``); the step goes
        on ``h.step_size``, the number of trials on ``h.searched``, the last trial's errors
        on ``h.search_errors``. Each trial is one closure call at here + η·u; an inf/nan
        loss or gradient there goes to the search as it is (it refuses the point)."""
        slope0 = global_sum([np.vdot(d, g) for d, g in zip(u, gs)])

        def trial(eta: float) -> tuple[float, float]:
            with np.errstate(all="ignore"):
                points = [x + eta * d for x, d in zip(here, u)]
            new, _, grads = oracle.at(points, finite=False)
            with np.errstate(all="ignore"):
                return new, global_sum([np.vdot(g, d) for g, d in zip(grads, u)])

        last = float((self.globals or self.init_globals())["learning_rate"])
        guess = 1.0 if self.initial_guess_strategy == "one" else last
        settings = ZoomSettings(self.max_linesearch_steps, self.max_learning_rate, h.tol,
                                h.increase_factor, h.slope_rtol, h.curv_rtol,
                                self.approx_dec_rtol, h.stepsize_precision)
        with np.errstate(all="ignore"):
            found = zoom_search(trial, value, slope0, guess, settings)
        h.step_size, h.searched = found.stepsize, found.count
        h.search_errors = (found.decrease_error, found.curvature_error)

    def begin_step(self, h: Any) -> None:
        self.globals["learning_rate"] = h.step_size
        self.globals["searched"] = h.searched
        self.search_errors = h.search_errors


#: How the reference cells build optax's rule (tests/optax_oracle.py sgd_zoom_of).
_CELL_NOTE = "chain(sgd(learning_rate), scale_by_zoom_linesearch(...)), value_fn="


@register
class SGDZoom(ZoomRule):
    r"""SGD with the zoom line search for the strong Wolfe conditions (Nocedal & Wright,
    *Numerical Optimization*, 2nd ed. 2006, Algorithms 3.5–3.6; the approximate decrease of
    Hager & Zhang, "Algorithm 851: CG_DESCENT", ACM TOMS 32, 2006): optax's
    ``optax.chain(optax.sgd(lr), optax.scale_by_zoom_linesearch(...))``. It needs the loss
    and gradient at trial points: ``update(params, closure=closure)``.

    The direction is plain SGD's, :math:`u = -s\,g` (``lr`` is s). With
    :math:`\phi(\eta) = f(p + \eta u)`, the search looks for η with

    .. math::
        \phi(\eta) \le \phi(0) + c_1 \eta\,\phi'(0) + \epsilon \ \text{ or }\
        \big(\phi'(\eta) \le (2c_1 - 1)\phi'(0) + \epsilon \text{ and }
        \phi(\eta) \le \phi(0) + c_3|\phi(0)| + \epsilon\big),
        \qquad |\phi'(\eta)| \le c_2 |\phi'(0)| + \epsilon:

    trials η₀ (1, or the last step with ``initial_guess_strategy="keep"``), then
    :math:`\kappa\,\eta` (capped at ``max_learning_rate``) until an interval is bracketed;
    then the minimiser of a cubic through the ends and the previous point (if within the
    middle 60 % of the interval), else of a parabola (middle 80 %), else the midpoint. At most
    K = ``max_linesearch_steps`` trials; when they run out, or the interval is shorter than
    ``stepsize_precision`` with a step of sufficient decrease known, the step is the lowest
    trial with sufficient decrease, or 0 if a trial's loss was inf/nan and none had, else the
    last trial. Then :math:`p \leftarrow p + \eta\,u`. c₁ ``slope_rtol``, c₂ ``curv_rtol``,
    c₃ ``approx_dec_rtol`` (None: Armijo only), ε ``tol``, κ ``increase_factor``.

    Defaults: ``lr=1.0, max_linesearch_steps=15, max_learning_rate=None, tol=0,
    increase_factor=2, slope_rtol=1e-4, curv_rtol=0.9, approx_dec_rtol=1e-6,
    stepsize_precision=1e-5, initial_guess_strategy="keep"`` — optax's (it has no default K:
    15 is its docstring's example; ``sgd(1.0)`` likewise). optax's ``curv_rtol=jnp.inf``
    (no curvature condition) is any very large number here (1e300: tested); ``verbose`` only
    prints. No weight decay, ``maximize`` or clipping (refused).

    >>> x = {"w": np.array([3.0, 4.0])}        # f = ½‖w‖², ∇f = w
    >>> opt = SGDZoom()
    >>> opt.update(x, closure=lambda: (0.5 * float(x["w"] @ x["w"]), {"w": x["w"].copy()}))
    12.5
    >>> x["w"], opt.globals["searched"]        # η = 1: φ'(1) = 0, both conditions hold
    (array([0., 0.]), 1)
    """

    name = "sgd_zoom"
    references = (
        Reference("optax.scale_by_zoom_linesearch", {},
                  {"learning_rate": 1.0, "max_linesearch_steps": 15}, note=_CELL_NOTE),
    )
    lineage = Lineage(("sgd",), "step meeting the strong Wolfe conditions (zoom)", 2006,
                      "Nocedal & Wright 2006")
    equations: ClassVar[tuple[str, ...]] = (
        "u = −s·g   (s: lr; plain SGD's direction)",
        "η: zoom search for f(p + ηu) ≤ f(p) + c₁η⟨u, g⟩ (or the approximate decrease) "
        "and |⟨∇f(p + ηu), u⟩| ≤ c₂|⟨u, g⟩|",
        "p ← p + η·u",
    )

    lr = ClosureRule.lr.replace(doc="scale s of the gradient (optax's sgd rate)",
                                search=(0.1, 10.0))

    def __init__(self, lr: Any = 1.0, max_linesearch_steps: int = 15,
                 max_learning_rate: Any = None, tol: Any = 0.0, increase_factor: Any = 2.0,
                 slope_rtol: Any = 1e-4, curv_rtol: Any = 0.9, approx_dec_rtol: Any = 1e-6,
                 stepsize_precision: Any = 1e-5, initial_guess_strategy: str = "keep", *,
                 nonfinite: str = "raise", **options: Any) -> None:
        super().__init__(lr, nonfinite=nonfinite, **options)
        self.set_search(max_linesearch_steps, max_learning_rate, tol, increase_factor,
                        slope_rtol, curv_rtol, approx_dec_rtol, stepsize_precision,
                        initial_guess_strategy)

    def evaluate(self, oracle: Oracle, h: Any) -> Any:
        value, tree, gs = oracle.value_and_grad()
        here = [leaf.array.astype(g.dtype) for leaf, g in zip(oracle.leaves, gs)]
        u = [g * -h.lr for g in gs]
        self.line_search(oracle, h, here, value, gs, u)
        return tree

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        p += h.step_size * (g * -h.lr)  # p + η·(−s·g), optax's order


__all__ = ["SGDZoom", "ZoomRule", "ZoomSettings", "Search", "zoom_search", "cubic_minimum",
           "quadratic_minimum", "SEARCH_SETTINGS"]
