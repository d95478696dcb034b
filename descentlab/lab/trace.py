"""Step-by-step traces: every internal quantity of an optimizer's rule, per step.

For Adam (E4 of the product brief): g, m, v, m̂ = m/(1 − β1ᵗ), v̂ = v/(1 − β2ᵗ), the step
(new point − old point) and the new point. For the other optimizers: g, their state slots
(e.g. Momentum's ``buffer``, AdaGrad's ``sum``, RMSprop's ``square_avg``), the step and the
new point. The numbers come from the library's own optimizer (floating point).

Exact traces (``exact=True``): the rules of SGD, Momentum, Nesterov, AdaGrad, RMSprop and
Adam are also computed in exact arithmetic (:mod:`.exact`: rationals and simple square roots)
with ε → 0, as a hand computation does. Gradients are evaluated exactly from the problem's
formula (its symbolic derivative, :mod:`descentlab.problems.expression`) where it uses only
+ − × ÷, integer powers and sqrt; otherwise the floating-point gradient is recognised as a
rational or ``a + b√c`` with small denominators (checked to 1e-12). When a value is not of
that kind (e.g. the root of a sum of radicals) the trace shows floats from there on
(marked ``≈``). Hyperparameters are taken as the decimals written
(``0.9`` → 9/10).

>>> from descentlab import problems
>>> t = trace(problems.get("xy"), "adam:lr=1,beta1=0.5,beta2=0.5", (1, 2), 2,
...           exact=True)
>>> [str(v) for v in t.steps[1].exact["new point"]]
['-2*sqrt(2)/3', '1 - sqrt(3)/3']
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from .. import optim
from ..optim.tree import ROOT
from .exact import NotSimple, Surd
from .spec import parse_optimizer_spec

#: Optimizers whose rule has an exact (ε → 0) version here.
EXACT_OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
#: ε used by the floating-point run of an exact trace (ε → 0; must be > 0).
TINY_EPS = 1e-300


@dataclass
class TraceStep:
    t: int  #: 1-based update number
    #: name → (dim,) float values, in display order
    values: dict[str, np.ndarray] = field(default_factory=dict)
    #: name → per-coordinate exact values (None where not exact); None if not an exact trace
    exact: dict[str, list[Surd | None]] | None = None


@dataclass
class Trace:
    problem: Any
    spec: str
    start: tuple[float, ...]
    steps: list[TraceStep]
    exact_requested: bool
    note: str = ""

    def table(self) -> str:
        """The trace as text: one block per step, one row per quantity, one column per
        coordinate. Exact values where known, otherwise floats (``≈`` in an exact trace)."""
        names = ["x", "y"][: self.problem.dim]
        lines = []
        for s in self.steps:
            rows = []
            for q, vals in s.values.items():
                cells = []
                for i, v in enumerate(vals):
                    e = None if s.exact is None else s.exact.get(q, [None] * len(vals))[i]
                    if e is not None:
                        cells.append(str(e))
                    else:
                        text = f"{float(v):.12g}"
                        cells.append(("≈" + text) if self.exact_requested else text)
                rows.append((q, cells))
            width = max([_width(c) for _, cells in rows for c in cells] + [8])
            label_w = max(_width(q) for q, _ in rows) + 2
            lines.append(_pad(f"step {s.t}", label_w) + "  ".join(_rpad(n, width) for n in names))
            for q, cells in rows:
                lines.append(_pad("  " + q, label_w) + "  ".join(_rpad(c, width) for c in cells))
            lines.append("")
        if self.note:
            lines.append(self.note)
        return "\n".join(lines).rstrip() + "\n"


def _width(text: str) -> int:
    return sum(0 if unicodedata.combining(ch) else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(width - _width(text), 1)


def _rpad(text: str, width: int) -> str:
    return " " * (width - _width(text)) + text


# ---------------------------------------------------------------------- float quantities
def _hyper(opt: optim.Optimizer, t: int) -> dict[str, Any]:
    out = {}
    for k, v in opt.hyperparameters().items():
        out[k] = v(t - 1) if callable(v) and not isinstance(v, np.ndarray) else v
    return out


def _float_quantities(opt: optim.Optimizer, g: np.ndarray, old: np.ndarray, new: np.ndarray,
                      t: int) -> dict[str, np.ndarray]:
    state = opt.state[ROOT]
    q: dict[str, np.ndarray] = {"g": g.copy()}
    for slot in opt.slots:
        q[slot] = state[slot].copy()
    if isinstance(opt, optim.Adam):
        h = _hyper(opt, t)
        v = state["v_max"] if getattr(opt, "amsgrad", False) else state["v"]
        q["m̂"] = state["m"] / (1 - h["beta1"] ** t)
        q["v̂"] = v / (1 - h["beta2"] ** t)
    q["step"] = new - old
    q["new point"] = new.copy()
    return q


# ---------------------------------------------------------------------- exact rules
def recognise(value: float, radicals: Sequence[int] = ()) -> Surd | None:
    """``value`` as a rational (denominator ≤ 10⁴) or ``a + b√c`` (small denominators,
    c square-free ≤ 30 or among ``radicals``), to 1e-12; None if neither.

    >>> str(recognise(1 - 3 ** 0.5 / 3)), recognise(math.pi)
    ('1 - sqrt(3)/3', None)
    """
    if not math.isfinite(value):
        return None
    tol = 1e-12 * max(1.0, abs(value))
    q = Fraction(value).limit_denominator(10_000)
    if abs(float(q) - value) <= tol:
        return Surd({1: q})
    candidates = list(dict.fromkeys([*radicals, 2, 3, 5, 6, 7, 10, 11, 13, 14, 15, 17, 19, 21,
                                     22, 23, 26, 29, 30]))
    for c in candidates:
        root = math.sqrt(c)
        for d in range(1, 13):
            for n in range(-36, 37):
                if n == 0 or math.gcd(n, d) != 1:
                    continue
                b = Fraction(n, d)
                a = Fraction(value - float(b) * root).limit_denominator(36)
                if a.denominator <= 36 and abs(float(a) + float(b) * root - value) <= tol:
                    return Surd({1: a, c: b})
    return None


def _exact_number(value: float) -> Fraction:
    q = Fraction(value).limit_denominator(10**6)
    return q if float(q) == value else Fraction(repr(value))


def _evaluate(node: Any, env: dict[str, Surd]) -> Surd:
    """An expression tree of :mod:`descentlab.problems.expression` in Surd arithmetic."""
    from ..problems import expression as ex

    if isinstance(node, ex.Num):
        if node.name:  # pi, e
            raise NotSimple(f"{node.name} is not a simple radical")
        return Surd({1: _exact_number(node.value)})
    if isinstance(node, ex.Var):
        return env[node.name]
    if isinstance(node, ex.Neg):
        return -_evaluate(node.arg, env)
    if isinstance(node, ex.BinOp):
        a = _evaluate(node.left, env)
        if node.op == "**":
            if not isinstance(node.right, ex.Num) or node.right.value != int(node.right.value):
                raise NotSimple("a non-integer power")
            n = int(node.right.value)
            return a**n if n >= 0 else (a ** (-n)).inverse()
        b = _evaluate(node.right, env)
        return {"+": a.__add__, "-": a.__sub__, "*": a.__mul__, "/": a.__truediv__}[node.op](b)
    if isinstance(node, ex.Call) and node.func == "sqrt":
        return _evaluate(node.args[0], env).sqrt()
    raise NotSimple(f"{type(node).__name__} is not exact here")


class _ExactGradient:
    """∇f at an exact point: the symbolic derivative evaluated in Surd arithmetic, or else
    the float gradient recognised by :func:`recognise`."""

    def __init__(self, problem: Any) -> None:
        self.problem = problem
        self.names = ["x", "y"][: problem.dim]
        try:
            from ..problems import expression as ex

            tree = ex.parse(problem.formula)
            self.trees = [ex.derivative(tree, v) for v in self.names]
        except (ValueError, ImportError, AttributeError, RecursionError):
            self.trees = None

    def __call__(self, point: list[Surd], g_float: np.ndarray) -> list[Surd]:
        if self.trees is not None:
            env = dict(zip(self.names, point))
            try:
                exact = [_evaluate(t, env) for t in self.trees]
                if all(abs(float(e) - g) <= 1e-9 * max(1.0, abs(g))
                       for e, g in zip(exact, g_float)):
                    return exact
            except (NotSimple, ZeroDivisionError):
                pass
        radicals = sorted({c for v in point for c in v.terms} - {1})
        out = []
        for g in g_float:
            r = recognise(float(g), radicals)
            if r is None:
                raise NotSimple(f"g = {g!r} is not recognised as exact")
            out.append(r)
        return out


def _exact_hyper(opt: optim.Optimizer, name: str) -> Surd:
    v = opt.hyperparameters()[name]
    if callable(v) or isinstance(v, np.ndarray):
        raise ValueError(f"--exact needs {name} to be a number, not a schedule or an array")
    return Surd.from_float(v)


def _check_exact_supported(name: str, opt: optim.Optimizer) -> None:
    if name not in EXACT_OPTIMIZERS:
        raise ValueError(f"--exact supports {', '.join(EXACT_OPTIMIZERS)}; not {name!r}")
    o = opt.options()
    problems = []
    if opt.hyperparameters()["weight_decay"] != 0:
        problems.append("weight_decay")
    for key in ("maximize", "clip_value", "clip_norm", "clip_global_norm", "amsgrad",
                "lr_in_buffer", "centered"):
        if o.get(key) not in (None, False):
            problems.append(key)
    if name == "rmsprop" and opt.hyperparameters().get("momentum", 0) != 0:
        problems.append("momentum")
    if name == "adam" and o.get("eps_mode") != "outside":
        problems.append("eps_mode")
    if name == "adagrad" and getattr(opt, "initial_accumulator_value", 0) != 0:
        problems.append("initial_accumulator_value")
    if problems:
        raise ValueError(f"--exact supports the plain rules only; remove {', '.join(problems)}")


class _ExactRule:
    """The ε → 0 rules of :data:`EXACT_OPTIMIZERS` on one coordinate, in Surd arithmetic."""

    def __init__(self, name: str, opt: optim.Optimizer) -> None:
        self.name = name
        self.h = {k: _exact_hyper(opt, k) for k in opt.hyperparameters()
                  if k not in ("eps", "weight_decay")}
        self.state: dict[str, Surd] = {s: Surd.of(0) for s in opt.slots}

    def step(self, x: Surd, g: Surd, t: int, out: dict[str, Surd]) -> Surd:
        """Fill ``out`` with the quantities (in display order) and return the new point.
        Raises NotSimple part-way; ``out`` then holds what was exact."""
        h, s = self.h, self.state
        out["g"] = g
        lr = h["lr"]
        if self.name == "sgd":
            delta = -lr * g
        elif self.name in ("momentum", "nesterov"):
            s["buffer"] = g if t == 1 else h["momentum"] * s["buffer"] + (
                1 - h.get("dampening", Surd.of(0))) * g
            out["buffer"] = s["buffer"]
            b = s["buffer"]
            delta = -lr * (g + h["momentum"] * b) if self.name == "nesterov" else -lr * b
        elif self.name == "adagrad":
            s["sum"] = s["sum"] + g * g
            out["sum"] = s["sum"]
            clr = lr / (1 + (t - 1) * h.get("lr_decay", Surd.of(0)))
            delta = Surd.of(0) if g.is_zero() else -clr * g / s["sum"].sqrt()
        elif self.name == "rmsprop":
            s["square_avg"] = h["rho"] * s["square_avg"] + (1 - h["rho"]) * g * g
            out["square_avg"] = s["square_avg"]
            delta = Surd.of(0) if g.is_zero() else -lr * g / s["square_avg"].sqrt()
        else:  # adam
            s["m"] = h["beta1"] * s["m"] + (1 - h["beta1"]) * g
            out["m"] = s["m"]
            s["v"] = h["beta2"] * s["v"] + (1 - h["beta2"]) * g * g
            out["v"] = s["v"]
            m_hat = s["m"] / (1 - h["beta1"] ** t)
            out["m̂"] = m_hat
            v_hat = s["v"] / (1 - h["beta2"] ** t)
            out["v̂"] = v_hat
            delta = Surd.of(0) if m_hat.is_zero() else -lr * m_hat / v_hat.sqrt()
        out["step"] = delta
        new = x + delta
        out["new point"] = new
        return new


# ---------------------------------------------------------------------- the trace
def trace(problem: Any, optimizer: str, start: Sequence[float] | None = None, steps: int = 2,
          *, exact: bool = False) -> Trace:
    """Run ``optimizer`` (a spec such as ``"adam:lr=1,beta1=0.5,beta2=0.5"``) on ``problem``
    from ``start`` for ``steps`` updates, recording every internal quantity per step."""
    name, kwargs = parse_optimizer_spec(optimizer)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    start_t = tuple(float(c) for c in (problem.start if start is None else start))
    if len(start_t) != problem.dim:
        raise ValueError(f"start has {len(start_t)} coordinates, problem {problem.name!r} is "
                         f"{problem.dim}-D")
    note = ""
    if exact:
        opt = optim.create(name, **kwargs)
        _check_exact_supported(name, opt)
        if "eps" in opt.hyperparameters():
            kwargs = {**kwargs, "eps": TINY_EPS}
            note = "exact: ε → 0 (the floating-point run used ε = 1e-300)"
    opt = optim.create(name, **kwargs)
    if not exact and name in EXACT_OPTIMIZERS and "eps" in opt.hyperparameters():
        note = (f"ε = {opt.hyperparameters()['eps']:g} (pass eps=1e-300 or --exact for the "
                "ε → 0 values of a hand computation)")
    rules = [_ExactRule(name, opt) for _ in range(problem.dim)] if exact else []
    exact_gradient = _ExactGradient(problem) if exact else None
    x = np.array(start_t, dtype=float)
    x_exact: list[Surd] = [Surd.from_float(c) for c in start_t] if exact else []
    out: list[TraceStep] = []
    exact_alive = exact
    for t in range(1, steps + 1):
        with np.errstate(all="ignore"):
            g = np.asarray(problem.grad(x), dtype=float)
        if not np.all(np.isfinite(g)):
            note = (note + "\n" if note else "") + (
                f"stopped: the gradient is not finite at the point after step {t - 1}")
            break
        old = x.copy()
        opt.update(x, g)
        step = TraceStep(t=t, values=_float_quantities(opt, g, old, x, t))
        if exact:
            step.exact = {q: [None] * problem.dim for q in step.values}
            if exact_alive:
                try:
                    g_exact = exact_gradient(x_exact, g)
                except NotSimple:
                    exact_alive = False
                for i in range(problem.dim if exact_alive else 0):
                    filled: dict[str, Surd] = {}
                    try:
                        x_exact[i] = rules[i].step(x_exact[i], g_exact[i], t, filled)
                    except (NotSimple, ZeroDivisionError):
                        exact_alive = False
                    for q, v in filled.items():
                        step.exact[q][i] = v
                if not exact_alive:
                    note += f"\nexact arithmetic ends at step {t}: values marked ≈ are floats"
        out.append(step)
    return Trace(problem=problem, spec=optimizer, start=start_t, steps=out,
                 exact_requested=exact, note=note.strip())
