"""L-BFGS: a quasi-Newton direction from the last few steps, with an optional line search."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ..errors import InputError, InputTypeError
from .base import Optimizer, is_schedule
from .checks import check_structure, nonfinite_policy, seen_of
from .closure import Closure, NotFinite, checked_answer, short
from .hyperparams import NONNEGATIVE, Choice, Count, Hyper
from .lineage import Lineage
from .references import Reference
from .registry import register
from .tree import flatten_params, show

#: The most iterations (and pairs kept) an L-BFGS update may ask for: the work of one call
#: stays bounded.
MAX_WORK = 1_000_000

def _cubic_minimum(x1: float, f1: float, g1: float, x2: float, f2: float, g2: float,
                   bounds: tuple[float, float] | None = None) -> float:
    """The minimiser of the cubic through (x1, f1, f1'=g1) and (x2, f2, g2), within bounds
    (default: between x1 and x2); their midpoint when the cubic has no real minimiser."""
    # NumPy floats: a degenerate bracket (x1 = x2) or a non-finite value gives inf/nan, as
    # PyTorch's tensors do, instead of a ZeroDivisionError.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        x1, f1, g1, x2, f2, g2 = (np.float64(v) for v in (x1, f1, g1, x2, f2, g2))
        lo, hi = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
        d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
        disc = d1**2 - g1 * g2
        if not disc >= 0:
            return float((lo + hi) / 2.0)
        d2 = np.sqrt(disc)
        if x1 <= x2:
            at = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            at = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return float(min(max(at, lo), hi))


def _zoom_point(bracket: list[float], fs: list[float], gtds: list[float],
                stuck: bool) -> tuple[float, bool]:
    """The next trial step of the zoom: the cubic's minimum in the bracket, moved inside
    when it lands too close to an end (and, the second time running, wherever it lands
    outside the middle 80 %); returns it and whether it was close to an end."""
    t = _cubic_minimum(bracket[0], fs[0], gtds[0], bracket[1], fs[1], gtds[1])
    top, bottom = max(bracket), min(bracket)
    margin = 0.1 * (top - bottom)
    if min(top - t, t - bottom) < margin:  # too close to an end: step inside instead
        if stuck or t >= top or t <= bottom:
            return (top - margin if abs(t - top) < abs(t - bottom) else bottom + margin), False
        return t, True
    return t, False


def strong_wolfe(evaluate: Callable[[float], tuple[float, np.ndarray]], t: float,
                 d: np.ndarray, f: float, g: np.ndarray, gtd: float, c1: float = 1e-4,
                 c2: float = 0.9, tolerance_change: float = 1e-9,
                 max_ls: int = 25) -> tuple[float, np.ndarray, float, int]:
    """A step t along d meeting the strong Wolfe conditions (sufficient decrease
    f(t) ≤ f + c1·t·gtd and curvature |f'(t)| ≤ −c2·gtd): bracketing, then zoom by cubic
    interpolation (Nocedal & Wright, algorithms 3.5–3.6; the variant of minFunc and PyTorch).
    ``evaluate(t)`` returns (f, gradient) at the start plus t·d. Returns (f, g, t, evaluations).
    """
    d_max = float(np.max(np.abs(d)))
    f_new, g_new = evaluate(t)
    evals, iters = 1, 0
    gtd_new = float(g_new.dot(d))
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g.copy(), gtd
    done = False
    # Phase 1: grow t until [t_prev, t] brackets a point meeting the conditions.
    bracket: list[float] = []
    while iters < max_ls:
        if f_new > f + c1 * t * gtd or (iters > 1 and f_new >= f_prev):
            bracket, fs, gs, gtds = [t_prev, t], [f_prev, f_new], [g_prev, g_new], \
                [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, fs, gs, done = [t], [f_new], [g_new], True
            break
        if gtd_new >= 0:
            bracket, fs, gs, gtds = [t_prev, t], [f_prev, f_new], [g_prev, g_new], \
                [gtd_prev, gtd_new]
            break
        t_next = _cubic_minimum(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                                bounds=(t + 0.01 * (t - t_prev), t * 10))
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new, gtd_new
        t = t_next
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = float(g_new.dot(d))
        iters += 1
    if iters == max_ls:
        bracket, fs, gs = [0.0, t], [f, f_new], [g, g_new]
    # Phase 2 (zoom): shrink the bracket around a point meeting the conditions.
    low, high = (0, 1) if fs[0] <= fs[-1] else (1, 0)
    stuck = False
    while not done and iters < max_ls:
        if abs(bracket[1] - bracket[0]) * d_max < tolerance_change:
            break
        t, stuck = _zoom_point(bracket, fs, gtds, stuck)
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = float(g_new.dot(d))
        iters += 1
        if f_new > f + c1 * t * gtd or f_new >= fs[low]:
            bracket[high], fs[high], gs[high], gtds[high] = t, f_new, g_new, gtd_new
            low, high = (0, 1) if fs[0] <= fs[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], fs[high], gs[high], gtds[high] = \
                    bracket[low], fs[low], gs[low], gtds[low]
            bracket[low], fs[low], gs[low], gtds[low] = t, f_new, g_new, gtd_new
    return fs[low], gs[low], bracket[low], evals


def _direction(flat_grad: np.ndarray, y: np.ndarray, s: np.ndarray, dirs: list, stps: list,
               ro: list, h_diag: float, history_size: int) -> tuple[np.ndarray, float]:
    """L-BFGS's next direction from the new pair (y = g − g_prev, s = d·t): the pair joins
    the history (``dirs``, ``stps``, ``ro``, updated in place, at most ``history_size``) only
    where the curvature yᵀs is positive; then the two-loop recursion. Returns d and the
    initial Hessian scale."""
    ys = float(y.dot(s))
    if ys > 1e-10:  # keep the pair only where the curvature is positive
        while len(dirs) >= history_size:  # also after history_size shrank
            del dirs[0], stps[0], ro[0]
        dirs.append(y)
        stps.append(s)
        ro.append(1.0 / ys)
        h_diag = ys / float(y.dot(y))
    q = -flat_grad
    al = [0.0] * len(dirs)
    for i in range(len(dirs) - 1, -1, -1):
        al[i] = float(stps[i].dot(q)) * ro[i]
        q += -al[i] * dirs[i]
    d = q * h_diag
    for i in range(len(dirs)):
        be = float(dirs[i].dot(d)) * ro[i]
        d += (al[i] - be) * stps[i]
    return d, h_diag


@register
class LBFGS(Optimizer):
    r"""L-BFGS (Liu & Nocedal, Math. Programming 1989; Nocedal & Wright ch. 7), PyTorch's form.

    Each update runs up to ``max_iter`` iterations on all parameters as one flat vector x:

    .. math::
        d = -H\,g \ \text{(two-loop recursion over the last } m \text{ pairs }
        s_i = t_i d_i,\ y_i = g_{i+1} - g_i \text{ with } y_i^\top s_i > 10^{-10},
        \ H_0 = \tfrac{y^\top s}{y^\top y} I) \\
        x \leftarrow x + t\, d, \qquad t = \eta \quad(\text{first iteration: }
        t = \min(1, 1/\lVert g\rVert_1)\,\eta;\ \text{or the strong-Wolfe step})

    stopping when ‖g‖∞ ≤ ``tolerance_grad``, the directional derivative g·d > −
    ``tolerance_change``, ‖t·d‖∞ or the loss change falls below ``tolerance_change``, or after
    ``max_eval`` evaluations (default ``max_iter·5//4``). ``line_search_fn="strong_wolfe"``
    searches each step (:func:`strong_wolfe`).

    It needs the loss, not only the gradient: call ``opt.update(params, closure=closure)``
    where ``closure()`` returns ``(loss, grads)`` at the current parameters (the optimizer
    moves them in place between calls, as PyTorch's ``step(closure)`` does); ``update`` returns
    the loss at the start. If the closure raises, the parameters and state are restored. The
    surface lab gives it such a closure (``descentlab race --optimizers lbfgs``).

    State (``opt.globals``): the history ``old_dirs``/``old_stps`` (m × n arrays), ``ro``,
    ``H_diag``, the last direction ``d`` and step ``t``, ``prev_flat_grad``, ``prev_loss``,
    ``n_iter``, ``func_evals`` — saved and restored by checkpoints (checked against the
    parameters' size on loading). No ``maximize``, weight decay or clipping (PyTorch's L-BFGS
    has none: setting them is refused); no fused kernel. ``nonfinite`` applies to every
    evaluation of the closure: ``"raise"`` (default) refuses a loss or gradient that is
    inf/nan and restores the parameters and state, ``"skip"`` undoes the update and counts it
    in ``skipped_steps``, ``"ignore"`` goes on as PyTorch does (nothing is checked).

    Agreement with PyTorch: the same operations in the same order, but PyTorch's dot products
    (MKL) and ``add_(alpha=t)`` use fused multiply-adds; the last-bit differences stay there in
    one dimension and on well-conditioned problems (1e-12 over 100 updates, the tests), and grow
    as fast as the problem amplifies them elsewhere (Rosenbrock: 1e-10 after two updates).

    Defaults: ``lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
    history_size=100, line_search_fn=None`` — ``torch.optim.LBFGS``.

    >>> x = np.array([3.0, -1.0])
    >>> opt = LBFGS(line_search_fn="strong_wolfe")
    >>> loss = opt.update(x, closure=lambda: (float(x @ x), 2 * x))
    >>> loss, bool(np.abs(x).max() < 1e-9)
    (10.0, True)
    """

    name = "lbfgs"
    lineage = Lineage(("sgd",), "curvature from past steps", 1989, "Liu & Nocedal 1989")
    references = (
        Reference("torch.optim.LBFGS"),
        Reference("torch.optim.LBFGS", {"line_search_fn": "strong_wolfe", "history_size": 5},
                  {"line_search_fn": "strong_wolfe", "history_size": 5}),
    )
    equations = ("d = −H·g   (two-loop recursion over the last m pairs s = t·d, y = Δg)",
                 "p ← p + t·d,   t = η   (first: min(1, 1/‖g‖₁)·η; or a strong-Wolfe search)",
                 "up to max_iter such iterations per update; closure() gives (f, g)")
    #: The lab gives an optimizer with this flag a closure (f, grad at the current point).
    needs_closure: ClassVar[bool] = True

    tolerance_grad = Hyper(NONNEGATIVE, "stop when max |g| is at most this", tunable=False)
    tolerance_change = Hyper(NONNEGATIVE, "stop when the step or loss change is below this",
                             tunable=False)
    #: (bounded work: an update is at most a million iterations and evaluations)
    max_iter = Count(1, "iterations per update", maximum=MAX_WORK)
    max_eval = Count(1, "closure evaluations per update (None: max_iter·5//4, following "
                     "max_iter)", maximum=MAX_WORK * 5 // 4, optional=True)
    history_size = Count(1, "pairs (s, y) kept (lowered mid-run: the oldest go first)",
                         maximum=MAX_WORK)
    line_search_fn = Choice(("strong_wolfe",), "None: fixed step η; or a strong-Wolfe search",
                            optional=True)

    def __init__(self, lr: Any = 1.0, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: Any = 1e-7, tolerance_change: Any = 1e-9,
                 history_size: int = 100, line_search_fn: str | None = None, *,
                 nonfinite: str = "raise") -> None:
        super().__init__(lr, nonfinite=nonfinite)
        self.tolerance_grad = tolerance_grad
        self.tolerance_change = tolerance_change
        self.max_iter = max_iter
        self.max_eval = max_eval
        self.history_size = history_size
        self.line_search_fn = line_search_fn

    def evaluations(self) -> int:
        """The closure evaluations an update may make: ``max_eval``, or ``max_iter·5//4``
        when it is None (so that a ``max_iter`` set later moves it, as the constructor's)."""
        return self.max_iter * 5 // 4 if self.max_eval is None else self.max_eval

    def check_settings(self, values: dict[str, Any]) -> None:
        """L-BFGS has none of the shared options (PyTorch's has none either): they are
        refused rather than accepted and ignored."""
        unsupported = {"maximize": False, "decoupled_weight_decay": False, "clip_value": None,
                       "clip_norm": None, "clip_global_norm": None}
        for name, default in unsupported.items():
            if name in values and values[name] != default:
                raise InputError(f"LBFGS has no {name} (it minimizes the closure's loss as "
                                 f"given); {name}={values[name]!r} would change nothing")
        decay = values.get("weight_decay", self._hyper.get("weight_decay", 0.0))
        if is_schedule(decay) or np.any(np.asarray(decay) != 0):  # (a schedule too)
            raise InputError(f"LBFGS has no weight_decay (add it to the closure's loss); "
                             f"weight_decay={decay!r} would change nothing")

    def init_globals(self) -> dict[str, Any]:
        return {"n_iter": 0, "func_evals": 0}

    def global_name_sets(self) -> list[set[str]]:
        """Before its first iteration only the counters; after it, the history too."""
        start = set(self.init_globals())
        return [start, start | {"d", "t", "H_diag", "prev_flat_grad", "prev_loss", "old_dirs",
                                "old_stps", "ro"}]

    def checked_checkpoint(self, d: Any) -> Any:
        """The base's checks, then the history's: counters that are whole numbers, and
        arrays whose shapes fit each other and the parameters (one flat vector of n)."""
        apply = super().checked_checkpoint(d)
        g = d.get("globals", {})
        for k in ("n_iter", "func_evals"):
            v = g.get(k, 0)
            v = v[()] if isinstance(v, np.ndarray) and v.shape == () else v
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 0:
                raise InputError(f"the checkpoint's global {k!r} must be a whole number >= 0, "
                                 f"got {short(v)}")
        if "d" not in g:
            return apply
        sizes = [int(np.prod(s)) for s in d.get("shapes", {}).values()]
        n = sum(sizes) if sizes else np.size(g["d"])
        m = np.shape(g["old_dirs"])[0] if np.ndim(g["old_dirs"]) else -1
        expected = {"d": (n,), "prev_flat_grad": (n,), "old_dirs": (m, n), "old_stps": (m, n),
                    "ro": (m,), "t": (), "H_diag": (), "prev_loss": ()}
        for k, shape in expected.items():
            if np.shape(g[k]) != shape:
                raise InputError(f"the checkpoint's global {k!r} has shape {np.shape(g[k])}, "
                                 f"expected {shape} (parameters of {n} numbers, a history "
                                 f"of {max(m, 0)} pairs)")
        return apply

    def update(self, params: Any, grads: Any = None, *,  # type: ignore[override]
               closure: Closure | None = None) -> float:
        """One L-BFGS step (up to ``max_iter`` iterations); returns the loss at the start."""
        if closure is None or not callable(closure):
            raise InputTypeError("LBFGS needs the loss: call update(params, closure=closure), "
                                 "closure() returning (loss, grads) at the current parameters")
        if grads is not None:
            raise InputError("LBFGS takes no grads: its closure returns them")
        leaves = flatten_params(params)
        check_structure(self._shapes, leaves)
        h = self.resolve(self.step)
        for name in ("lr", "tolerance_grad", "tolerance_change"):
            if isinstance(getattr(h, name), np.ndarray):
                raise InputError(f"LBFGS needs a number for {name}, not an array")
        dtype = np.result_type(*(leaf.array.dtype for leaf in leaves))
        if dtype not in (np.float32, np.float64):
            raise InputTypeError(f"LBFGS works on float32 or float64 parameters, not {dtype}")
        sizes = np.cumsum([0] + [leaf.array.size for leaf in leaves])
        start = self._flat(leaves, dtype)
        globals_before = dict(self.globals) if self.globals else self.init_globals()
        first: list[float] = []  # the loss at the start, once evaluated
        try:
            loss = self._iterate(leaves, sizes, dtype, closure, h, dict(globals_before), first)
        except NotFinite as e:
            self._write(leaves, sizes, start)
            nonfinite_policy(self.nonfinite, e.what, self.step + 1, detail=e.detail,
                             stacklevel=2)
            self.skipped_steps += 1
            return first[0] if first else math.nan
        except BaseException:
            self._write(leaves, sizes, start)
            raise
        if self._shapes is None:
            self._shapes = seen_of(leaves)
            self.state = {leaf.path: {} for leaf in leaves}
        self.step += 1
        self.current_lr = h.lr
        return loss

    def _check_finite(self, value: float, flat: np.ndarray, leaves: list, sizes: np.ndarray,
                      k: int) -> None:
        """``nonfinite`` applies to every evaluation of the closure (the start, each iterate,
        each point of the line search): the loss or a gradient that is inf/nan stops the
        update (:class:`NotFinite`), which :meth:`update` undoes and hands to the policy;
        ``'ignore'`` follows PyTorch, which checks nothing."""
        where = f" (evaluation {k} of the closure in this update)"
        if not math.isfinite(value):
            raise NotFinite(f"the closure's loss ({value})", where)
        if not np.isfinite(flat).all():
            i = int(np.argmax(~np.isfinite(flat)))
            leaf = leaves[int(np.searchsorted(sizes, i, side="right")) - 1]
            raise NotFinite(f"the closure's gradient of {show(leaf.path)}", where)

    # ------------------------------------------------------------ the flat vector x
    @staticmethod
    def _flat(leaves: list, dtype: np.dtype) -> np.ndarray:
        return np.concatenate([np.asarray(leaf.array, dtype).reshape(-1) for leaf in leaves])

    @staticmethod
    def _write(leaves: list, sizes: np.ndarray, x: np.ndarray) -> None:
        for leaf, a, b in zip(leaves, sizes[:-1], sizes[1:]):
            leaf.array[...] = x[a:b].reshape(leaf.array.shape)
            leaf.write_back()

    @staticmethod
    def _move(leaves: list, sizes: np.ndarray, t: float, d: np.ndarray) -> None:
        """x ← x + t·d, leaf by leaf."""
        for leaf, a, b in zip(leaves, sizes[:-1], sizes[1:]):
            leaf.array += t * d[a:b].reshape(leaf.array.shape)
            leaf.write_back()

    def _evaluator(self, leaves: list, sizes: np.ndarray, dtype: np.dtype, closure: Closure,
                   first: list[float]) -> Callable[[], tuple[float, np.ndarray]]:
        """The closure checked: ``(loss, flat gradient)`` of the current parameters, the
        loss a number, the gradients of the parameters' structure, both finite unless
        ``nonfinite='ignore'``; ``first`` receives the first loss."""
        evaluations = [0]

        def evaluate() -> tuple[float, np.ndarray]:
            value, _, gs = checked_answer(closure(), leaves)
            with np.errstate(over="ignore"):
                flat = np.concatenate([np.asarray(g, dtype).reshape(-1) for g in gs])
            evaluations[0] += 1
            if not first:
                first.append(value)
            if self.nonfinite != "ignore":
                self._check_finite(value, flat, leaves, sizes, evaluations[0])
            return value, flat

        return evaluate

    def _iterate(self, leaves: list, sizes: np.ndarray, dtype: np.dtype, closure: Closure,
                 h: Any, st: dict[str, Any], first: list[float]) -> float:
        evaluate = self._evaluator(leaves, sizes, dtype, closure, first)
        lr, max_iter, max_eval = h.lr, self.max_iter, self.evaluations()
        tol_grad, tol_change = h.tolerance_grad, h.tolerance_change
        orig_loss, flat_grad = evaluate()
        loss, evals = orig_loss, 1
        st["func_evals"] = int(st["func_evals"]) + 1
        if np.max(np.abs(flat_grad)) <= tol_grad:
            self.globals = st
            return orig_loss
        n = flat_grad.size
        d, t = st.get("d"), st.get("t")
        dirs = list(st.get("old_dirs", np.empty((0, n), dtype)))
        stps = list(st.get("old_stps", np.empty((0, n), dtype)))
        ro = [float(r) for r in st.get("ro", ())]
        h_diag = st.get("H_diag", 1.0)
        prev_grad, prev_loss = st.get("prev_flat_grad"), st.get("prev_loss")
        total = int(st["n_iter"])
        opt_cond = False
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            total += 1
            if total == 1:
                d = -flat_grad
                dirs, stps, ro, h_diag = [], [], [], 1.0
            else:
                d, h_diag = _direction(flat_grad, flat_grad - prev_grad, d * t, dirs, stps, ro,
                                       h_diag, self.history_size)
            prev_grad = flat_grad.copy()
            prev_loss = loss
            t = (min(1.0, 1.0 / float(np.abs(flat_grad).sum())) * lr if total == 1 else lr)
            gtd = float(flat_grad.dot(d))
            if gtd > -tol_change:
                break
            spent = 0
            if self.line_search_fn == "strong_wolfe":
                x0 = self._flat(leaves, dtype)

                def along(step: float, x0: np.ndarray = x0, d: np.ndarray = d) -> tuple:
                    self._move(leaves, sizes, step, d)
                    out = evaluate()
                    self._write(leaves, sizes, x0)
                    return out

                loss, flat_grad, t, spent = strong_wolfe(along, t, d, loss, flat_grad, gtd,
                                                         max_ls=max_eval - evals)
                self._move(leaves, sizes, t, d)
                opt_cond = np.max(np.abs(flat_grad)) <= tol_grad
            else:
                self._move(leaves, sizes, t, d)
                if n_iter != max_iter:
                    loss, flat_grad = evaluate()
                    opt_cond = np.max(np.abs(flat_grad)) <= tol_grad
                    spent = 1
            evals += spent
            st["func_evals"] += spent
            if n_iter == max_iter or evals >= max_eval or opt_cond:
                break
            if np.max(np.abs(d * t)) <= tol_change or abs(loss - prev_loss) < tol_change:
                break
        st.update(d=d, t=float(t), H_diag=float(h_diag), prev_flat_grad=prev_grad,
                  prev_loss=float(prev_loss), n_iter=total,
                  old_dirs=np.array(dirs, dtype).reshape(len(dirs), n),
                  old_stps=np.array(stps, dtype).reshape(len(stps), n),
                  ro=np.array(ro, np.float64))
        self.globals = st
        return orig_loss
