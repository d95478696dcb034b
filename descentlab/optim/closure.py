"""Rules that need more than the gradient: the closure API, written once.

A rule that needs the loss, a gradient at another point or a Hessian-vector product
subclasses :class:`ClosureRule`, says what it needs in ``needs`` (a subset of :data:`NEEDS`)
and writes one method, :meth:`ClosureRule.evaluate`, which asks an :class:`Oracle` for them
and returns the gradient its ``rule`` then runs on — through the ordinary update
(:mod:`.pipeline`: the same checks, state, checkpoints and paths as every rule). The caller
passes

* ``closure``: ``closure()`` → ``(loss, grads)`` at the parameters as they are when it is
  called (PyTorch's ``step(closure)``; the rule may move the parameters in place between
  calls — SAM does — and puts them back);
* ``hvp`` (only to a rule that needs ``"hvp"``): ``hvp(v)`` → the Hessian of the loss at the
  current parameters times ``v``, a tree like the parameters. Without it, the product is a
  central difference of the closure's gradient (two more evaluations, an approximation
  with error of order ε^(2/3) relative; the surface lab passes the surfaces' exact H·v).

``update(params, closure=..., hvp=...)`` returns the loss at the start. Before anything is
changed, every answer is checked (a number for the loss, the parameters' structure and shapes
for gradients and products) and the ``nonfinite`` policy applies to each of them: ``'raise'``
(default) refuses an inf/nan loss, gradient or product naming it, ``'skip'`` skips the
update, ``'ignore'`` goes on. If the closure raises, or any check fails, the parameters and
the state are as they were. L-BFGS (:mod:`.lbfgs`) shares the answer check
(:func:`checked_answer`) and the ``needs_closure`` flag the lab reads; its iterations are its
own.

>>> import numpy as np
>>> from descentlab import optim
>>> x = np.array([3.0, 4.0])
>>> opt = optim.PolyakSGD()                 # needs the loss: f = ½‖x‖², f* = 0
>>> opt.update(x, closure=lambda: (0.5 * float(x @ x), x.copy()))
12.5
>>> x                                       # step (f − f*)/‖g‖² = ½: half way to 0
array([1.5, 2. ])
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ..errors import DescentlabError, InputError, InputTypeError
from . import pipeline
from .base import Optimizer
from .checks import check_structure, nonfinite_policy, work_dtype
from .plan import Step, resolve
from .tree import Leaf, flatten_grads, flatten_params, rebuild, show

#: What a rule may need besides the gradient at the current point.
NEEDS = ("loss", "grad_at", "hvp")

#: ``closure()`` → (loss, grads) at the parameters as they are when it is called.
Closure = Callable[[], tuple[Any, Any]]
#: ``hvp(v)`` → the Hessian at the current parameters times ``v`` (trees like the parameters).
HessianVectorProduct = Callable[[Any], Any]


def short(value: Any) -> str:
    """``repr(value)``, cut to 60 characters (for error messages)."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:28]}...{text[-28:]}"


def checked_answer(answer: Any, leaves: list[Leaf]) -> tuple[float, Any, list[np.ndarray]]:
    """A closure's answer checked: ``(loss, grads tree, gradients by leaf)`` — the loss a
    real number, the gradients of the parameters' structure and shapes."""
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise InputTypeError(f"the closure must return (loss, grads), got "
                             f"{type(answer).__name__} {short(answer)}")
    value, grads = answer
    if isinstance(value, (bool, np.bool_, str, bytes)) or np.ndim(value) != 0:
        raise InputTypeError(f"the closure's loss must be a number, got {short(value)}")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InputTypeError(f"the closure's loss must be a number, got "
                             f"{short(value)}") from None
    return value, grads, flatten_grads(grads, leaves)


class NotFinite(Exception):
    """An answer held inf or nan: ``what`` and where (handed to the ``nonfinite`` policy)."""

    def __init__(self, what: str, detail: str) -> None:
        super().__init__(what)
        self.what, self.detail = what, detail


def _first_bad(arrays: list[np.ndarray], leaves: list[Leaf]) -> str | None:
    with np.errstate(all="ignore"):
        for a, leaf in zip(arrays, leaves):
            if not np.isfinite(a).all():
                return show(leaf.path)
    return None


class Oracle:
    """What a rule may ask during one update, each answer checked: :meth:`value_and_grad`
    at the current parameters, :meth:`at` another point, :meth:`hvp`. ``loss`` is the first
    loss evaluated (what ``update`` returns)."""

    def __init__(self, opt: Any, params: Any, leaves: list[Leaf], closure: Closure,
                 hvp: HessianVectorProduct | None) -> None:
        self.opt, self.params, self.leaves = opt, params, leaves
        self.closure, self.user_hvp = closure, hvp
        self.evaluations = 0
        self.loss: float | None = None

    def _check(self, value: float | None, arrays: list[np.ndarray], what: str) -> None:
        if self.opt.nonfinite == "ignore":
            return
        where = f" (evaluation {self.evaluations} of the closure in this update)"
        if value is not None and not math.isfinite(value):
            raise NotFinite(f"the closure's loss ({value})", where)
        bad = _first_bad(arrays, self.leaves)
        if bad is not None:
            raise NotFinite(f"{what} of {bad}", where)

    def value_and_grad(self, *, finite: bool = True) -> tuple[float, Any, list[np.ndarray]]:
        """(loss, grads tree, gradients by leaf in the working dtype) at the parameters as
        they are now (``finite=False``: inf/nan answers returned as they are, whatever the
        ``nonfinite`` policy — a line search's trial points, which the search refuses)."""
        value, tree, gs = checked_answer(self.closure(), self.leaves)
        self.evaluations += 1
        with np.errstate(over="ignore"):
            gs = [np.asarray(g, work_dtype(leaf.array.dtype))
                  for g, leaf in zip(gs, self.leaves)]
        if self.loss is None:
            self.loss = value
        if finite:
            self._check(value, gs, "the closure's gradient")
        return value, tree, gs

    def checked(self, answer: Any, source: str, what: str) -> list[np.ndarray]:
        """A tree like the parameters that a caller's function returned (``hvp``'s product,
        Sophia's estimator's diagonal), checked: its structure and shapes (an error names
        ``source``), one array per leaf in the working dtype, and finite under the
        ``nonfinite`` policy (a non-finite entry names ``what`` and the leaf)."""
        try:
            arrays = flatten_grads(answer, self.leaves)
        except DescentlabError as e:
            raise type(e)(f"{source}: {e}") from None
        with np.errstate(over="ignore"):
            arrays = [np.asarray(a, work_dtype(leaf.array.dtype))
                      for a, leaf in zip(arrays, self.leaves)]
        self._check(None, arrays, what)
        return arrays

    def _declared(self, need: str) -> None:
        if need not in self.opt.needs:
            raise TypeError(f"{type(self.opt).__name__} asks for {need!r} without declaring "
                            f"it: add it to its needs (now {self.opt.needs})")

    def at(self, points: list[np.ndarray], *,
           finite: bool = True) -> tuple[float, Any, list[np.ndarray]]:
        """:meth:`value_and_grad` at ``points`` (one array per leaf): the parameters are moved
        there for the call and put back afterwards, whatever happens (needs ``"grad_at"``)."""
        self._declared("grad_at")
        return self._at(points, finite)

    def _at(self, points: list[np.ndarray],
            finite: bool = True) -> tuple[float, Any, list[np.ndarray]]:
        before = [leaf.array.copy() for leaf in self.leaves]
        try:
            write(self.leaves, points)
            value, _, gs = self.value_and_grad(finite=finite)
            gs = [g.copy() for g in gs]  # (a closure may hand back the parameters' memory)
            return value, rebuild(self.params, gs), gs
        finally:
            write(self.leaves, before)

    def hvp(self, vectors: list[np.ndarray]) -> list[np.ndarray]:
        """The Hessian at the current parameters times ``vectors`` (one array per leaf): the
        caller's ``hvp``, or a central difference of the closure's gradient (needs
        ``"hvp"``)."""
        self._declared("hvp")
        if self.user_hvp is not None:
            answer = self.user_hvp(rebuild(self.params, [v.copy() for v in vectors]))
            return self.checked(answer, "hvp's answer", "the Hessian-vector product")
        here = [leaf.array.astype(np.float64) for leaf in self.leaves]
        size = max(max(float(np.max(np.abs(v), initial=0.0)) for v in vectors), 1e-300)
        scale = max(1.0, max(float(np.max(np.abs(x), initial=0.0)) for x in here))
        eps = np.finfo(np.float64).eps ** (1 / 3) * scale / size
        up = self._at([x + eps * v for x, v in zip(here, vectors)])[2]
        down = self._at([x - eps * v for x, v in zip(here, vectors)])[2]
        return [(a - b) / (2 * eps) for a, b in zip(up, down)]


def write(leaves: list[Leaf], arrays: list[np.ndarray]) -> None:
    """Set every parameter to its array (Python floats written back)."""
    for leaf, a in zip(leaves, arrays):
        leaf.array[...] = a
        leaf.write_back()


def global_sum(arrays: list[np.ndarray]) -> float:
    """Σ over leaves of each array's sum (an inner product over all parameters, leaf by
    leaf, as optax's tree sums)."""
    return float(sum(float(np.sum(a)) for a in arrays))


class ClosureRule(Optimizer):
    """Base of the rules that need more than the gradient (see the module's docstring)."""

    #: What the rule asks for besides the gradient here (:data:`NEEDS`).
    needs: ClassVar[tuple[str, ...]] = ("loss",)
    #: The lab gives an optimizer with this flag a closure (f, grad at the current point).
    needs_closure: ClassVar[bool] = True
    #: Shared settings the rule cannot take (its global quantities are of the gradient the
    #: closure returns; its weight decay, if any, is its own, as in its reference): name →
    #: its "off" value. (SAM, an update of a base rule, declares its own.)
    #: No weight decay of its own (the line searches: their trials compare the closure's
    #: losses, so a decay belongs in the loss): a non-zero ``weight_decay`` is refused.
    weight_decay_in_loss: ClassVar[bool] = False
    refused: ClassVar[dict[str, Any]] = {"maximize": False, "clip_value": None,
                                         "clip_norm": None, "clip_global_norm": None,
                                         "decoupled_weight_decay": False}

    def evaluate(self, oracle: Oracle, h: Any) -> Any:
        """Ask ``oracle`` for what the rule needs; return the gradient tree ``rule`` runs on.
        This update's numbers computed from all parameters go on ``h`` as attributes (read
        by :meth:`begin_step` and :meth:`rule`). Nothing may be changed here: the update can
        still be refused."""
        raise NotImplementedError

    def apply_update(self, params: Any, grads: Any, step: Step) -> None:
        """The ordinary update (:mod:`.pipeline`) on the gradient :meth:`evaluate` returned,
        with this update's hyperparameters ``step`` (a rule whose step is another
        optimizer's — SAM's ``opt`` — overrides it)."""
        pipeline.checked_update(self, params, grads, step)

    def check_settings(self, values: dict[str, Any]) -> None:
        """Refuse the shared settings listed in :attr:`refused`, and a non-zero
        ``weight_decay`` when :attr:`weight_decay_in_loss`."""
        for name, off in self.refused.items():
            if name in values and values[name] != off:
                raise InputError(f"{type(self).__name__} has no {name} (its reference "
                                 f"has none: the step uses the closure's loss and gradient as "
                                 f"they are, and its own weight decay if any); {name}="
                                 f"{values[name]!r} is refused")
        decay = values.get("weight_decay", 0.0)
        if self.weight_decay_in_loss and np.any(np.asarray(decay) != 0):
            raise InputError(f"{type(self).__name__} has no weight_decay (add it to the "
                             f"closure's loss); weight_decay={decay!r} is refused")

    def update(self, params: Any, grads: Any = None, *,  # type: ignore[override]
               closure: Closure | None = None,
               hvp: HessianVectorProduct | None = None) -> float | None:
        """One update from ``closure`` (and ``hvp``); returns the loss at the start."""
        return closure_update(self, params, grads, closure, hvp)


def closure_update(opt: ClosureRule, params: Any, grads: Any, closure: Any,
                   hvp: Any) -> float | None:
    """:meth:`ClosureRule.update`: check the call, let the rule ask its questions
    (:meth:`ClosureRule.evaluate`), then the ordinary update on the gradient it returns."""
    name = type(opt).__name__
    if closure is None or not callable(closure):
        raise InputTypeError(f"{name} needs the loss: call update(params, closure=closure), "
                             "closure() returning (loss, grads) at the current parameters")
    if grads is not None:
        raise InputError(f"{name} takes no grads: its closure returns them")
    if hvp is not None and ("hvp" not in opt.needs or not callable(hvp)):
        raise InputTypeError(f"{name} takes no hvp" if "hvp" not in opt.needs else
                             f"hvp must be a function v -> H·v, not {short(hvp)}")
    leaves = flatten_params(params)
    check_structure(opt._shapes, leaves)
    step = numbers_step(opt)
    start = [leaf.array.copy() for leaf in leaves]
    oracle = Oracle(opt, params, leaves, closure, hvp)
    try:
        tree = opt.evaluate(oracle, step.h)
    except NotFinite as e:
        write(leaves, start)
        nonfinite_policy(opt.nonfinite, e.what, opt.step + 1, detail=e.detail, stacklevel=3)
        opt.skipped_steps += 1
        return oracle.loss
    except BaseException:
        write(leaves, start)
        raise
    opt.apply_update(params, tree, step)
    return oracle.loss


def numbers_step(opt: ClosureRule) -> Step:
    """This update's hyperparameters (schedules called), each a number: a closure rule's
    step is computed over all parameters, so an array of them is refused."""
    step = resolve(opt, opt.step)
    for key in opt.hyperparameter_names():
        if isinstance(getattr(step.h, key), np.ndarray):
            raise InputError(f"{type(opt).__name__} needs a number for {key}, not an array "
                             "(its step size is computed over all parameters)")
    return step


__all__ = ["NEEDS", "Closure", "HessianVectorProduct", "ClosureRule", "Oracle",
           "checked_answer", "closure_update", "numbers_step", "global_sum", "write", "short",
           "NotFinite"]
