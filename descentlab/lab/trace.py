"""Step-by-step traces: every internal quantity of an optimizer's rule, per step.

For Adam (E4 of the product brief): g, m, v, m̂ = m/(1 − β1ᵗ), v̂ = v/(1 − β2ᵗ), the step
(new point − old point) and the new point. For the other optimizers: g, their state slots
(e.g. Momentum's ``buffer``, AdaGrad's ``sum``, RMSprop's ``square_avg``), the step and the
new point. The numbers come from the library's own optimizer (floating point).

Exact traces (``exact=True``): the optimizer's own rule — the same ``rule`` method, through
:meth:`~descentlab.optim.Optimizer.apply_rule`, no second copy of its arithmetic — also runs
on NumPy object arrays of exact numbers (:mod:`.exact`: rationals and simple square roots),
for every registered optimizer, with ε → 0 as a hand computation does (unless ε is part of
the rule, as in Adadelta, where the written ε is used). Gradients are evaluated exactly from
the problem's formula (its symbolic derivative, :mod:`descentlab.problems.expression`) where
it uses only + − × ÷, integer powers and sqrt; otherwise the floating-point gradient is
recognised as a rational or ``a + b√c`` with small denominators (checked to 1e-12). When a
value is not of that kind (e.g. the root of a sum of radicals, or NAdam's 0.96^(tψ)) that
coordinate shows floats from there on (marked ``≈``); so does every coordinate once a value
would need more than :data:`~descentlab.lab.exact.MAX_DIGITS` (1,000) digits, which bounds the
time of every step (``x**3`` under SGD doubles its digits at every step). Every exact value
shown agrees with the floating-point run (to 1e-9). Hyperparameters are taken as the decimals
written (``0.9`` → 9/10).

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
from types import SimpleNamespace
from typing import Any

import numpy as np

from .. import optim
from ..errors import InputError
from ..optim.tree import ROOT
from .engine import closure_arguments, value_and_grad
from .exact import NotSimple, Surd, TooLarge, eps_limit
from .spec import build_optimizer, parse_optimizer_spec

#: ε used by the floating-point run of an exact trace (ε → 0; must be > 0).
TINY_EPS = 1e-300


@dataclass
class TraceStep:
    t: int  #: 1-based update number
    #: name → (dim,) float values, in display order
    values: dict[str, np.ndarray] = field(default_factory=dict)
    #: name → per-coordinate exact values (None where not exact); None if not an exact trace
    exact: dict[str, list[Surd | None]] | None = None
    #: name → one number for the whole step (L-BFGS: its step size t, iterations, ...)
    scalars: dict[str, float] = field(default_factory=dict)


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
            if s.scalars:
                lines.append("  " + ", ".join(f"{k} {v:.12g}" for k, v in s.scalars.items()))
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


# ---------------------------------------------------------------------- quantities
def _namespace(opt: optim.Optimizer, t: int, convert: Any = None) -> SimpleNamespace:
    """This step's hyperparameters as the rule sees them (``h``), optionally converted."""
    cls = type(opt)
    values = {k: getattr(cls, k).resolve(opt, t - 1) for k in opt.hyperparameter_names()}
    if convert is not None:
        values = {k: convert(k, v) for k, v in values.items()}
    return SimpleNamespace(t=t, **values)


def _quantities(opt: optim.Optimizer, g: Any, state: dict[str, Any], h: SimpleNamespace,
                old: Any, new: Any) -> dict[str, Any]:
    """g, the state slots, what the class derives from them (m̂, v̂ ...), the step, the new
    point — in display order. Works on float arrays and on arrays of exact numbers."""
    q: dict[str, Any] = {"g": np.array(g, copy=True), **_slots(opt, g, state)}
    q.update({k: np.asarray(v) for k, v in opt.derived(state, h).items()})
    q["step"] = new - old
    q["new point"] = np.array(new, copy=True)
    return q


def _slots(opt: optim.Optimizer, g: Any, state: dict[str, Any]) -> dict[str, Any]:
    """The state slots by name; a matrix over the coordinates (full-matrix AdaGrad's G) row
    by row, ``G[x]`` and ``G[y]``, so that every quantity has one value per coordinate."""
    out: dict[str, Any] = {}
    n = np.size(g)
    for slot in opt.slots:
        if slot not in state:  # (Adafactor's slots depend on the parameter's shape)
            continue
        a = np.array(state[slot], copy=True)
        if a.shape == (n, n) and n > 1:
            out.update((f"{slot}[{'xy'[i] if n == 2 else i + 1}]", row)
                       for i, row in enumerate(a))
        else:
            out[slot] = a
    return out


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
            except TooLarge:
                raise  # past the size budget: no smaller exact value to recognise
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


#: What an exact trace cannot follow: clipping computes norms and is refused.
_NOT_EXACT_OPTIONS = ("clip_value", "clip_norm", "clip_global_norm")
#: Exceptions that end exact arithmetic (a value that is not a rational plus simple roots,
#: or an operation exact numbers do not support).
_LEAVES_EXACT = (NotSimple, ZeroDivisionError, TypeError, ValueError, OverflowError)


def _check_exact_supported(opt: optim.Optimizer) -> None:
    options = opt.options()
    used = [k for k in _NOT_EXACT_OPTIONS if options.get(k) is not None]
    if used:
        raise InputError(f"--exact cannot trace clipping; remove {', '.join(used)}")
    for k, v in opt.hyperparameters().items():
        if isinstance(v, np.ndarray):
            raise InputError(f"--exact needs {k} to be a number, not an array")
    if opt.overrides("prepass"):
        raise InputError(f"--exact cannot trace {type(opt).__name__}: its step size comes from "
                         "norms over all parameters (square roots); trace it without --exact")


class _ExactRun:
    """The optimizer's own rule (:meth:`Optimizer.apply_rule`) on NumPy object arrays of
    :class:`Surd`: a second instance of the same optimizer whose state holds exact numbers.
    Element-wise rules run per coordinate, so one coordinate leaving exact arithmetic does
    not take the others with it."""

    def __init__(self, opt: optim.Optimizer, start: list[Surd], eps_to_zero: bool) -> None:
        self.opt = opt
        self.eps_to_zero = eps_to_zero
        self.x = np.array(start, dtype=object)
        self.state = {s: np.full(shape, Surd.lift(opt.initial_value(s)), dtype=object)
                      for s, shape in opt.slot_shapes((len(start),)).items()}
        opt.globals = {k: Surd.lift(v) for k, v in opt.init_globals().items()}
        self.alive = [True] * len(start)
        #: Why the rule left exact arithmetic (the first exception's message), or "".
        self.reason = ""
        self.per_coordinate = getattr(type(opt), "elementwise", True)

    def _exact(self, name: str, value: Any) -> Surd:
        if name in ("eps", "eps_root") and self.eps_to_zero:
            return Surd.of(0)
        return Surd.from_float(float(value))

    def step(self, t: int, g: list[Surd | None],
             floats: dict[str, np.ndarray]) -> dict[str, list[Surd | None]]:
        """One update; returns the exact quantities per coordinate (None where a value left
        exact arithmetic or disagrees with the floating-point run, ``floats``)."""
        n = len(self.x)
        out: dict[str, list[Surd | None]] = {q: [None] * n for q in floats}
        try:
            with eps_limit():
                h = _namespace(self.opt, t, self._exact)
                self.opt.begin_step(h)
        except _LEAVES_EXACT:
            self.alive = [False] * n
            return out
        groups = [[i] for i in range(n)] if self.per_coordinate else [list(range(n))]
        for idx in groups:
            if not all(self.alive[i] and g[i] is not None for i in idx):
                for i in idx:
                    self.alive[i] = False
                continue
            p = self.x[idx].copy()
            state = {s: a[idx].copy() for s, a in self.state.items()}
            grad = np.array([g[i] for i in idx], dtype=object)
            old = p.copy()
            try:
                with eps_limit():
                    self.opt.apply_rule(p, grad, state, h)
                    values = _quantities(self.opt, grad, state, h, old, p)
            except _LEAVES_EXACT as e:
                self.reason = self.reason or str(e)
                for i in idx:
                    self.alive[i] = False
                # What the rule had computed before it left exact arithmetic (the slots it
                # updated in place, and what derives from them) is still exact; the check
                # against the float run keeps only those. The step and point are not.
                values = self._partial(grad, state, h)
            for q, vals in values.items():
                for j, i in enumerate(idx):
                    v = vals[j] if q in floats else None
                    if isinstance(v, Surd) and _agrees(v, floats[q][i]):
                        out[q][i] = v
            if all(self.alive[i] for i in idx):
                self.x[idx] = p
                for s, a in state.items():
                    self.state[s][idx] = a
        return out

    def _partial(self, grad: np.ndarray, state: dict[str, np.ndarray],
                 h: SimpleNamespace) -> dict[str, Any]:
        values: dict[str, Any] = {"g": grad, **_slots(self.opt, grad, state)}
        try:
            with eps_limit():
                values.update(self.opt.derived(state, h))
        except _LEAVES_EXACT:
            pass
        return values


def _agrees(exact: Surd, value: float) -> bool:
    """The safety net: an exact value is shown only if the float run agrees with it."""
    return abs(float(exact) - value) <= 1e-10 * max(1.0, abs(value))


# ---------------------------------------------------------------------- the trace
def trace(problem: Any, optimizer: str, start: Sequence[float] | None = None, steps: int = 2,
          *, exact: bool = False) -> Trace:
    """Run ``optimizer`` (a spec such as ``"adam:lr=1,beta1=0.5,beta2=0.5"``) on ``problem``
    from ``start`` for ``steps`` updates, recording every internal quantity per step.

    With ``exact=True`` the optimizer's own rule also runs on exact numbers (any registered
    optimizer; ε → 0 unless the class keeps it, as Adadelta does)."""
    name, kwargs = parse_optimizer_spec(optimizer)
    if steps < 1:
        raise InputError(f"steps must be >= 1, got {steps}")
    start_t = tuple(float(c) for c in (problem.start if start is None else start))
    if len(start_t) != problem.dim:
        raise InputError(f"start has {len(start_t)} coordinates, problem {problem.name!r} is "
                         f"{problem.dim}-D")
    note = ""
    opt = build_optimizer(optimizer)  # a rejected value names the spec and the keyword
    closure_rule = getattr(type(opt), "needs", None) is not None  # optim/closure.py's rules
    # (a closure rule may take gradients, needs_closure False: SAM's transparent mode)
    if getattr(opt, "needs_closure", False) or (exact and closure_rule):
        if exact:
            why = ("its step is computed from the loss over all parameters" if closure_rule
                   else "its iterations compare and divide floats (curvature test, line "
                   "search)")
            raise InputError(f"--exact cannot trace {name}: {why}, with no element-wise rule "
                             "to run on exact numbers; trace it without --exact")
        if not closure_rule:
            return _trace_closure(problem, opt, optimizer, start_t, steps)
    eps_to_zero = exact and "eps" in opt.hyperparameters() and type(
        opt).eps_to_zero_in_exact_trace
    if exact:
        _check_exact_supported(opt)
        if eps_to_zero:
            kwargs = {**kwargs, "eps": TINY_EPS}
            if "eps_root" in opt.hyperparameters():  # optax's ε inside the root: 0
                kwargs["eps_root"] = 0.0
            note = "exact: ε → 0 (the floating-point run used ε = 1e-300)"
            opt = optim.create(name, **kwargs)
    elif "eps" in opt.hyperparameters() and type(opt).eps_to_zero_in_exact_trace:
        note = (f"ε = {opt.hyperparameters()['eps']:g} (pass eps=1e-300 or --exact for the "
                "ε → 0 values of a hand computation)")
    exact_gradient = _ExactGradient(problem) if exact else None
    runner = _ExactRun(optim.create(name, **kwargs), [Surd.from_float(c) for c in start_t],
                       eps_to_zero) if exact else None
    x = np.array(start_t, dtype=float)
    out: list[TraceStep] = []
    exact_ended = False
    for t in range(1, steps + 1):
        with np.errstate(all="ignore"):
            g = np.asarray(problem.grad(x), dtype=float)
        if not np.all(np.isfinite(g)):
            note = (note + "\n" if note else "") + (
                f"stopped: the gradient is not finite at the point after step {t - 1}")
            break
        old = x.copy()
        h = _namespace(opt, t)
        if closure_rule:  # f and ∇f where it asks (SAM: elsewhere too; g: at the start;
            opt.update(x, **closure_arguments(problem, opt, x))  # Sophia: the exact H·v)
        else:
            opt.update(x, g)
        step = TraceStep(t=t, values=_quantities(opt, g, opt.state[ROOT], h, old, x))
        if runner is not None:
            g_exact: list[Surd | None] = [None] * problem.dim
            if all(runner.alive):  # ∇f needs the whole point exact
                try:
                    g_exact = list(exact_gradient(list(runner.x), g))
                except NotSimple as e:
                    if isinstance(e, TooLarge):
                        runner.reason = runner.reason or str(e)
            step.exact = runner.step(t, g_exact, step.values)
            if not exact_ended and not all(runner.alive):
                exact_ended = True
                why = f" ({runner.reason})" if runner.reason else ""
                note += f"\nexact arithmetic ends at step {t}{why}: values marked ≈ are floats"
        out.append(step)
    return Trace(problem=problem, spec=optimizer, start=start_t, steps=out,
                 exact_requested=exact, note=note.strip())


def _trace_closure(problem: Any, opt: optim.Optimizer, spec: str, start: tuple[float, ...],
                   steps: int) -> Trace:
    """L-BFGS (``needs_closure``), in floating point: one step is one ``update`` — up to
    ``max_iter`` iterations, each a two-loop direction and a move (a fixed step or a
    strong-Wolfe search), with the lab's closure (f and ∇f at the current point). Per step:
    g at its start, the last iteration's direction d, the step and the new point; and as
    numbers, the last step size t, the scaling H_diag = sᵀy/yᵀy, the (s, y) pairs kept, and
    the iterations and closure evaluations the update made."""
    x = np.array(start, dtype=float)
    out: list[TraceStep] = []
    note = ""
    for t in range(1, steps + 1):
        with np.errstate(all="ignore"):
            f, g = value_and_grad(problem, x)
        if not (np.isfinite(f) and np.all(np.isfinite(g))):
            note = f"stopped: f or its gradient is not finite at the point after step {t - 1}"
            break
        old, before = x.copy(), dict(opt.globals or opt.init_globals())
        opt.update(x, closure=lambda: value_and_grad(problem, x))
        st = opt.globals
        values = {"g": g}
        if "d" in st:
            values["d"] = np.array(st["d"], dtype=float)
        values.update({"step": x - old, "new point": x.copy()})
        scalars = {"f": float(f)}
        if "t" in st:
            scalars.update(t=float(st["t"]), H_diag=float(st["H_diag"]),
                           pairs=float(len(st["ro"])))
        scalars.update(iterations=float(st["n_iter"] - before["n_iter"]),
                       evaluations=float(st["func_evals"] - before["func_evals"]))
        out.append(TraceStep(t=t, values=values, scalars=scalars))
    lines = ["one step = one update of up to max_iter iterations; d and t are its last "
             "iteration's (f: at the step's start)"]
    if note:
        lines.append(note)
    return Trace(problem=problem, spec=spec, start=start, steps=out, exact_requested=False,
                 note="\n".join(lines))
