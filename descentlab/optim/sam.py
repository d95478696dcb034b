"""SAM: sharpness-aware minimisation — the step from the gradient at a nearby worse point."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ..errors import DescentlabError, InputError, InputTypeError, MissingKeyError
from . import pipeline
from .apply import synced
from .checks import check_structure, seen_of, skip_nonfinite, working_grads
from .closure import (
    ClosureRule,
    Oracle,
    checked_answer,
    closure_update,
    global_sum,
    numbers_step,
    short,
    write,
)
from .composite import (
    check_optimizer,
    counts,
    restart,
    restartable,
    restore,
    snapshot,
    stepped,
)
from .hyperparams import NONNEGATIVE, UNIT, Count, Flag, Hyper, is_schedule
from .lineage import Lineage
from .plan import Step
from .references import Reference
from .registry import create, register
from .tree import Leaf, flatten_grads, flatten_params, rebuild

#: How the reference cells build optax's SAM from its parts (tests/optax_oracle.py sam_of).
_CELL_NOTE = "outer sgd(learning_rate, momentum, nesterov), inner normalize + sgd(rho)"
_PAIR_NOTE = ("optax's adam or sgd(learning_rate, momentum) outer; normalize + sgd(rho), "
              "sgd(adv_learning_rate, adv_momentum) or adam(adv_learning_rate) inner")

#: SAM's own steps' settings, which change nothing once another optimizer takes the role:
#: role → (what SAM's own step is, {setting: the constructor's default}).
OWN_STEPS = {
    "opt": ("outer SGD step", {"lr": 0.01, "momentum": 0.0, "nesterov": False,
                               "weight_decay": 0.0, "decoupled_weight_decay": False}),
    "adv_opt": ("adversarial step (normalised ascent)", {"rho": 0.05}),
}


#: The options a checkpoint written before they existed is taken to hold.
EARLIER = {"reset_state": True, "opaque_mode": True}


def _optimizer(role: str, value: Any) -> Any:
    """``opt``/``adv_opt`` as given: ``None`` (SAM's own step), a registered name (built at
    its defaults) or an optimizer object that takes gradients."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = create(value)
        except InputError as e:  # (the name is the culprit: say whose it is)
            raise type(e)(f"SAM's {role}: {e}") from None
    check_optimizer(f"SAM's {role}", value, "must be")
    if getattr(value, "needs_closure", False):
        raise InputTypeError(f"SAM's {role} cannot be {type(value).__name__}: it needs a "
                             "closure, and SAM hands its optimizers gradients")
    return value


@register
class SAM(ClosureRule):
    r"""SAM, sharpness-aware minimisation (Foret, Kleiner, Mobahi & Neyshabur,
    "Sharpness-Aware Minimization for Efficiently Improving Generalization", ICLR 2021;
    arXiv:2010.01412): optax's ``optax.contrib.sam``, with any outer and adversarial
    optimizer, in its opaque mode (one update per outer step, from a closure) or its
    transparent one (one update per gradient).

    One outer step takes ``sync_period − 1`` adversarial steps from p, then the outer step
    from p with the gradient found at the last adversarial point. By default (the paper's
    drop-in form) the adversarial step is normalised gradient ascent of length ρ and the
    outer step SGD with momentum:

    .. math::
        x_0 = p, \quad x_{i} = x_{i-1} + \rho\, \frac{\nabla f(x_{i-1})}
        {\lVert \nabla f(x_{i-1})\rVert} \ (i < S), \quad g = \nabla f(x_{S-1}) \\
        b = \mu b + g, \qquad p \leftarrow p - \eta\,(g + \mu b \text{ if Nesterov else } b)

    (the norm over all parameters; with μ = 0, p ← p − ηg).

    ``opt=`` (any optimizer that takes gradients, or a registered name at its defaults)
    takes the outer step instead: p ← p + u, u its update from g at p (SAM's ``lr``,
    ``momentum``, ``nesterov`` and weight decay then have no role and are refused).
    ``adv_opt=`` takes the adversarial step instead: x_i = x_{i−1} − u_i, u_i its update from
    ∇f(x_{i−1}) at x_{i−1} — ascent, as optax negates its inner optimizer's updates (so
    ``adv_opt=SGD(ρ)`` is unnormalised ascent; SAM's ``rho`` is then refused).
    ``reset_state=True`` (optax's default) forgets ``adv_opt``'s state (and step count) after
    every outer step; False carries it on. ``u_i`` is read back as the difference of the
    point it moved, so it is exact to one rounding of x.

    ``opaque_mode=True`` (the default here): ``update(params, closure=closure)`` is one outer
    step; the closure is called ``sync_period`` times, the parameters put back after each
    adversarial evaluation, and ``update`` returns the loss at p. ``opaque_mode=False``
    (optax's default): ``update(params, grads)`` with the gradient at the parameters as
    they are (or a closure, called once) — calls 1 … S − 1 of each period move the
    parameters to the adversarial points (the first remembers p), call S puts them at p
    and applies the outer step there. Every ``sync_period`` calls the parameters are
    opaque mode's; in between they are the adversarial points (what an evaluation then
    sees). It is an ordinary gradient optimizer (``needs_closure`` is False), and
    ``step`` counts outer steps. (optax 0.2.8's transparent mode with ``sync_period=1``
    takes each outer step from the previous call's parameters — its cache is read before
    it is written; here ``sync_period=1`` is the outer optimizer alone in both modes.)

    Defaults: ``lr=0.01, rho=0.05, momentum=0.0, nesterov=False, sync_period=2,
    opt=None, adv_opt=None, reset_state=True, opaque_mode=True`` (optax has no default
    optimizers, rate or ρ: η = 0.01 is its docstring's example, ρ = 0.05 the paper's CIFAR
    setting; ``sync_period=2`` and ``reset_state=True`` are optax's; its ``opaque_mode``
    default is False). Equals ``optax.contrib.sam(optimizer, adv_optimizer, sync_period,
    reset_state, opaque_mode)`` with ``optimizer = optax.sgd(lr, momentum or None,
    nesterov)`` or ``opt``'s optax twin, ``adv_optimizer = optax.chain(
    optax.contrib.normalize(), optax.sgd(rho))`` or ``adv_opt``'s.

    >>> x = {"w": np.array([3.0, 4.0])}          # f = ½‖w‖²: ∇f = w
    >>> opt = SAM(lr=0.1, rho=0.5)
    >>> opt.update(x, closure=lambda: (0.5 * float(x["w"] @ x["w"]), {"w": x["w"].copy()}))
    12.5
    >>> x["w"]                                   # g at w + ½·w/5 = 1.1w: w − 0.11w
    array([2.67, 3.56])
    >>> from descentlab import optim
    >>> y = np.array([3.0, 4.0])
    >>> sam = SAM(opt=optim.SGD(0.1), adv_opt=optim.SGD(0.5), opaque_mode=False)
    >>> sam.update(y, y.copy()); y               # adversarial: y + 0.5·y
    array([4.5, 6. ])
    >>> sam.update(y, y.copy()); y               # outer, from (3, 4): − 0.1·(4.5, 6)
    array([2.55, 3.4 ])
    """

    name = "sam"
    references = (
        Reference("optax.contrib.sam", {}, {"learning_rate": 0.01, "rho": 0.05, "sync_period": 2},
                  note=_CELL_NOTE),
        Reference("optax.contrib.sam", {"momentum": 0.5, "nesterov": True, "sync_period": 3},
                  {"learning_rate": 0.01, "rho": 0.05, "sync_period": 3, "momentum": 0.5,
                   "nesterov": True}, note=_CELL_NOTE),
        Reference("optax.contrib.sam", {"momentum": 0.5, "sync_period": 3,
                                        "opaque_mode": False},
                  {"learning_rate": 0.01, "rho": 0.05, "sync_period": 3, "momentum": 0.5,
                   "opaque_mode": False}, note=_CELL_NOTE),
        Reference("optax.contrib.sam", {"opt": "adam"},
                  {"optimizer": "adam", "learning_rate": 0.001, "rho": 0.05}, note=_PAIR_NOTE),
        Reference("optax.contrib.sam", {"opt": "momentum", "adv_opt": "adam",
                                        "reset_state": False},
                  {"optimizer": "sgd", "learning_rate": 0.001, "momentum": 0.9,
                   "adv_optimizer": "adam", "adv_learning_rate": 0.001, "reset_state": False},
                  note=_PAIR_NOTE),
        Reference("optax.contrib.sam", {"opt": "adam", "adv_opt": "momentum",
                                        "opaque_mode": False},
                  {"optimizer": "adam", "learning_rate": 0.001, "adv_optimizer": "sgd",
                   "adv_learning_rate": 0.001, "adv_momentum": 0.9, "opaque_mode": False},
                  note=_PAIR_NOTE),
    )
    lineage = Lineage(("sgd",), "gradient at the worst nearby point", 2021,
                      "Foret et al. 2021")
    needs = ("loss", "grad_at")
    refused: ClassVar[dict[str, Any]] = {"maximize": False}
    equations: ClassVar[tuple[str, ...]] = (
        "x ← x + ρ·∇f(x)/‖∇f(x)‖   (sync_period − 1 times from x = p; norm over all;"
        " adv_opt: x ← x − u(∇f(x)))",
        "g = ∇f(x),   b ← μb + g",
        "p ← p − η·(Nesterov: g + μb; else b)   (opt: p ← p + u(g))",
    )

    lr = ClosureRule.lr.replace(search=(1e-4, 1.0))
    rho = Hyper(NONNEGATIVE, "radius ρ of the adversarial step", search=(0.01, 1.0))
    momentum = Hyper(UNIT, "momentum μ of the outer SGD", search=(0.0, 0.99))
    nesterov = Flag("Nesterov's form of the outer momentum")
    sync_period = Count(1, "calls of the closure per update (adversarial steps + 1)",
                        maximum=1000)
    reset_state = Flag("forget adv_opt's state after every outer step (optax's default)")
    opaque_mode = Flag("one update per outer step from a closure (else one per gradient, "
                       "the adversarial points in between)", fixed_once_started=True)

    def __init__(self, lr: Any = 0.01, rho: Any = 0.05, momentum: Any = 0.0,
                 nesterov: bool = False, sync_period: int = 2, weight_decay: Any = 0.0, *,
                 opt: Any = None, adv_opt: Any = None, reset_state: bool = True,
                 opaque_mode: bool = True, nonfinite: str = "raise", **options: Any) -> None:
        outer, adversary = _optimizer("opt", opt), _optimizer("adv_opt", adv_opt)
        if outer is not None and outer is adversary:
            raise InputError("SAM's opt and adv_opt must be two optimizer objects (one object "
                             "would mix the outer and the adversarial state)")
        object.__setattr__(self, "_outer", outer)
        object.__setattr__(self, "_adversary", adversary)
        super().__init__(lr, weight_decay, nonfinite=nonfinite, **options)
        self.rho = rho
        self.momentum = momentum
        self.nesterov = nesterov
        self.sync_period = sync_period
        self.reset_state = reset_state
        self.opaque_mode = opaque_mode

    # ---------------------------------------------------------------- declarations
    @property
    def opt(self) -> Any:
        """The outer optimizer (``None``: SAM's own SGD step)."""
        return self._outer

    @property
    def adv_opt(self) -> Any:
        """The adversarial optimizer (``None``: SAM's own normalised ascent)."""
        return self._adversary

    @property
    def needs_closure(self) -> bool:  # type: ignore[override]
        """With ``opaque_mode`` (the default) ``update`` takes a closure; without, the
        gradient (the lab hands it one or the other by this flag)."""
        return bool(self._options.get("opaque_mode", True))

    @property
    def slots(self) -> tuple[str, ...]:  # type: ignore[override]
        """The outer SGD's momentum (without ``opt``) and, in transparent mode, ``outer``:
        the parameters p the period's adversarial points started from."""
        own = ("momentum_buffer",) if self.__dict__.get("_outer") is None else ()
        return own + (() if self._options.get("opaque_mode", True) else ("outer",))

    def init_globals(self) -> dict[str, Any]:
        """``since_sync``: calls since the last outer step (transparent mode; 0 otherwise)."""
        return {"since_sync": 0}

    def global_name_sets(self) -> list[set[str]]:
        return [set(), {"since_sync"}]

    def check_settings(self, values: dict[str, Any]) -> None:
        super().check_settings(values)
        momentum = values.get("momentum", 1.0)  # (a schedule: checked at each update)
        if values.get("nesterov") and not np.any(np.asarray(momentum) != 0):
            raise InputError("SAM's nesterov needs momentum > 0 (with momentum 0 it would "
                             "change nothing)")
        for role, (what, defaults) in OWN_STEPS.items():
            if self.__dict__.get("_outer" if role == "opt" else "_adversary") is None:
                continue
            for key, default in defaults.items():
                value = values[key] if key in values else self._hyper.get(
                    key, self._options.get(key))  # (a schedule is not in values)
                if is_schedule(value) or np.any(np.asarray(value) != default):
                    raise InputError(f"SAM's {key}={short(value)} is its own {what}'s, which "
                                     f"{role}= replaces: set it on {role} instead (here it "
                                     "would change nothing)")
        since = int(getattr(self, "globals", {}).get("since_sync", 0))
        if since and values.get("sync_period", since + 1) <= since:
            raise InputError(f"sync_period={values['sync_period']} is not more than the "
                             f"{since} adversarial calls already made in this period; change "
                             "it after the next outer step")
        adversary = self.__dict__.get("_adversary")
        if values.get("reset_state") is False and adversary is None:
            raise InputError("reset_state=False changes nothing without adv_opt: SAM's own "
                             "adversarial step (normalised ascent) has no state to keep")
        if values.get("reset_state") and adversary is not None and not restartable(
                adversary):
            raise InputError("reset_state=True resets an optimizer's own state: give adv_opt "
                             f"a plain optimizer, not a {type(adversary).__name__}, or pass "
                             "reset_state=False")

    def __repr__(self) -> str:
        text = super().__repr__()
        inner = "".join(f", {role}={obj!r}" for role, obj in (("opt", self._outer),
                                                              ("adv_opt", self._adversary))
                        if obj is not None)
        return text[:-1] + inner + ")"

    # ---------------------------------------------------------------- the steps
    def ascend(self, params: Any, points: list[np.ndarray], gs: list[np.ndarray],
               h: Any) -> list[np.ndarray]:
        """The next adversarial point from ``points`` (one array per leaf, working dtype)
        with gradients ``gs`` there: normalised ascent of length ρ, or ``adv_opt``'s update
        negated (its state moves on; it refuses before changing anything)."""
        adversary = self._adversary
        if adversary is None:
            norm = np.sqrt(global_sum([np.square(g) for g in gs]))
            with np.errstate(all="ignore"):
                return [x + (g / norm) * h.rho for x, g in zip(points, gs)]
        scratch = rebuild(params, [x.copy() for x in points])
        adversary.update(scratch, rebuild(params, gs))
        moved = [leaf.array for leaf in flatten_params(scratch)]  # (0-d leaves: replaced)
        with np.errstate(all="ignore"):
            return [x - (y - x) for x, y in zip(points, moved)]

    def evaluate(self, oracle: Oracle, h: Any) -> Any:
        value, tree, gs = oracle.value_and_grad()
        points = [leaf.array.astype(g.dtype) for leaf, g in zip(oracle.leaves, gs)]
        for _ in range(self.sync_period - 1):
            points = self.ascend(oracle.params, points, gs, h)
            _, tree, gs = oracle.at(points)
        return tree

    def apply_update(self, params: Any, grads: Any, step: Step) -> None:
        """The outer step on ``grads``: SAM's own (:meth:`rule`, through the pipeline) or
        ``opt``'s; a skipped one (``nonfinite='skip'``) counts as SAM's skipped step."""
        outer = self._outer
        if outer is None:
            pipeline.checked_update(self, params, grads, step)
            return
        before = counts(outer)
        outer.update(params, grads)  # checks everything; raises before changing anything
        if not stepped(outer, before):
            self.skipped_steps += 1
            return
        self.record(flatten_params(params))
        self.step += 1
        self.current_lr = getattr(outer, "current_lr", None)

    def record(self, leaves: list[Leaf]) -> None:
        """The parameters' structure and this rule's slots for them, as the pipeline keeps
        them (for a step it does not run: ``opt``'s, or an adversarial call's)."""
        if self._shapes is None or any(d is None for _, d in self._shapes.values()):
            self._shapes = seen_of(leaves)
        for leaf in leaves:
            self.state[leaf.path] = synced(self, self.state.get(leaf.path), leaf.array,
                                           leaf.path)

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        b = state["momentum_buffer"]
        b[...] = g + h.momentum * b  # optax's trace
        step = g + h.momentum * b if self.nesterov else b
        p += step * -h.lr

    # ---------------------------------------------------------------- the calls
    def update(self, params: Any, grads: Any = None, *,  # type: ignore[override]
               closure: Any = None, hvp: Any = None) -> float | None:
        """Opaque mode: one outer step from ``closure`` (returns the loss at the start).
        Transparent mode: one call with the gradient at the parameters as they are
        (``grads``, or ``closure`` called once; returns its loss, else ``None``). A failed
        call changes nothing — the parameters, this state, ``opt``'s and ``adv_opt``'s."""
        if not self.opaque_mode:
            return self._transparent(params, grads, closure, hvp)
        adversary = self._adversary
        saved = None if adversary is None or self.sync_period == 1 else snapshot(adversary)
        skipped = self.skipped_steps
        try:
            loss = closure_update(self, params, grads, closure, hvp)
        except BaseException:
            if saved is not None:
                restore(adversary, saved)
            raise
        if saved is not None and self.skipped_steps != skipped:
            restore(adversary, saved)
        elif adversary is not None and self.skipped_steps == skipped and self.reset_state:
            restart(adversary)
        return loss

    def _transparent(self, params: Any, grads: Any, closure: Any, hvp: Any) -> float | None:
        who = "SAM with opaque_mode=False"
        if hvp is not None:
            raise InputTypeError(f"{who} takes no hvp")
        leaves = flatten_params(params)
        check_structure(self._shapes, leaves)
        loss = None
        if closure is not None:
            if grads is not None:
                raise InputError(f"{who} takes the gradient or a closure, not both")
            if not callable(closure):
                raise InputTypeError(f"closure must be a function returning (loss, grads), "
                                     f"not {short(closure)}")
            loss, grads, _ = checked_answer(closure(), leaves)
        elif grads is None:
            raise InputTypeError(f"{who} needs the gradient at the parameters as they are: "
                                 "update(params, grads) (or a closure returning (loss, grads))")
        gs = working_grads(leaves, flatten_grads(grads, leaves))
        step = numbers_step(self)
        if skip_nonfinite(self.nonfinite, leaves, gs, self.step + 1):
            self.skipped_steps += 1
            return loss
        since = int(self.globals.get("since_sync", 0))
        if since < self.sync_period - 1:  # an adversarial call
            here = [leaf.array.astype(g.dtype) for leaf, g in zip(leaves, gs)]
            points = self.ascend(params, here, gs, step.h)  # (refuses before any change)
            self.record(leaves)
            if since == 0:
                for leaf, x in zip(leaves, here):
                    self.state[leaf.path]["outer"][...] = x
            write(leaves, points)
            self.globals = {**self.globals, "since_sync": since + 1}
            return loss
        here = [leaf.array.copy() for leaf in leaves]
        skipped, done = self.skipped_steps, False
        try:
            if since:
                write(leaves, [self.state[leaf.path]["outer"] for leaf in leaves])
            self.apply_update(params, grads, step)
            done = self.skipped_steps == skipped
        finally:
            if not done:
                write(leaves, here)
        if not done:
            return loss
        self.globals = {**self.globals, "since_sync": 0}
        if self._adversary is not None and self.reset_state:
            restart(self._adversary)
        return loss

    # ---------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """The base's entries, and ``opt``'s and ``adv_opt``'s own state dicts (``None``
        for SAM's own steps)."""
        d = super().state_dict()
        d["opt"] = None if self._outer is None else self._outer.state_dict()
        d["adv_opt"] = None if self._adversary is None else self._adversary.state_dict()
        return d

    def checked_checkpoint(self, d: Any) -> Any:
        """The base's checks, ``since_sync``'s, then each inner optimizer's state dict
        loaded into a copy of it first: nothing changes unless all of it loads."""
        if not isinstance(d, Mapping):
            return super().checked_checkpoint(d)
        if isinstance(d.get("options"), Mapping):  # (one written before these options)
            d = {**d, "options": {**EARLIER, **d["options"]}}
        roles = (("opt", self._outer), ("adv_opt", self._adversary))
        for role, inner in roles:  # (first: the likeliest mismatch, said plainly)
            if inner is None and d.get(role) is not None:
                raise InputError(f"the checkpoint holds the state of an {role} optimizer; "
                                 f"this SAM has none (it takes its own {OWN_STEPS[role][0]})")
            if inner is not None and d.get(role) is None:
                raise MissingKeyError(f"the checkpoint has no state for SAM's {role} "
                                      f"({type(inner).__name__}): a SAM without one saved it")
        apply = super().checked_checkpoint({k: v for k, v in d.items()
                                            if k not in ("opt", "adv_opt")})
        loads = []
        for role, inner in roles:
            sd = d.get(role)
            if inner is None:
                continue
            try:
                copy.deepcopy(inner).load_state_dict(sd)
            except DescentlabError as e:
                raise type(e)(f"the checkpoint's {role}: {e}") from None
            loads.append((inner, sd))

        def run() -> None:
            apply()
            for inner, sd in loads:
                inner.load_state_dict(sd)
        return run

    def checked_globals(self, globals_: Any, step: int) -> dict[str, Any]:
        out = super().checked_globals(globals_, step)
        since = out.get("since_sync", 0)
        top = self.sync_period - 1 if not self.opaque_mode else 0
        if not isinstance(since, int) or since > top:
            raise InputError(f"the checkpoint's global 'since_sync' must be a whole number "
                             f"from 0 to {top} (calls since the last outer step, sync_period="
                             f"{self.sync_period}, opaque_mode={self.opaque_mode}), got "
                             f"{short(since)}")
        return out
