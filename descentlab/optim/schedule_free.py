"""Schedule-free SGD and AdamW: momentum replaced by interpolation and online averaging.

Three sequences: z (the base optimizer's iterate, slot ``"z"``), x (the running average of the
z's — where to *evaluate* the model) and y (an interpolation of the two — where the
*gradient* is taken). As in optax, the parameters you hold and pass to ``update`` are y;
:meth:`ScheduleFree.eval_params` gives x (optax's ``schedule_free_eval_params``) and
:meth:`ScheduleFree.z_params` gives z, both as copies of the parameter tree.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from .base import Optimizer
from .hyperparams import NONNEGATIVE, POSITIVE, UNIT, Check, Count, Hyper
from .lineage import Lineage
from .moments import bias_correction, ema_square
from .references import Reference
from .registry import register
from .tree import flatten_params

#: (0, 1]: the interpolation β must be positive (x is recovered by dividing by it).
POSITIVE_UNIT = Check(0.0, 1.0, True, False)


def _warmup(lr: Any, count: int, steps: int) -> Any:
    """optax's ``warmup_constant_schedule(0, lr, steps)`` at ``count``, with its arithmetic:
    optax divides its int32 count in float32, so the whole schedule — the constant part too —
    comes out rounded to float32 (a relative 1e-8 from the float64 rate)."""
    if steps == 0:
        return lr
    peak = np.asarray(lr, np.float32)
    if count >= steps:
        value = peak
    else:
        fraction = np.float32(1) - np.float32(count) / np.float32(steps)
        value = (np.float32(0) - peak) * fraction + peak
    return float(value) if value.ndim == 0 else value.astype(np.float64)


class ScheduleFree(Optimizer):
    r"""The schedule-free mechanism (Defazio et al., "The Road Less Scheduled", NeurIPS 2024;
    arXiv:2405.15682), optax's ``optax.contrib.schedule_free``; the base step is a subclass's.

    With the parameters :math:`y_t` and a base step :math:`d_t` (SGD: :math:`g_t`):

    .. math::
        x_{t-1} = \frac{y_{t-1} - (1 - \beta)\, z_{t-1}}{\beta}, \qquad
        z_t = z_{t-1} - \gamma_t\, d_t \qquad (z_0 = y_0) \\
        w_t = \bigl(\max_{i \le t} \gamma'_i\bigr)^{k}, \qquad
        c_t = \frac{w_t}{\sum_{i \le t} w_i}, \qquad
        x_t = (1 - c_t)\, x_{t-1} + c_t\, z_t, \qquad
        y_t = \beta\, x_t + (1 - \beta)\, z_t

    β is ``beta1``, k ``weight_lr_power``. With ``warmup_steps = W`` the rate rises linearly
    from 0 (optax's ``warmup_constant_schedule``, which computes in float32, so the rate is
    then rounded to float32 as in optax); as in optax, the z step uses the rate at the
    update count :math:`\gamma_t = \gamma(t-1)` and the averaging weight the rate one count
    later, :math:`\gamma'_t = \gamma(t)` (optax's wrapper counts from 1, its base optimizer
    from 0) — also for a schedule passed as ``lr``. ``globals`` holds ``max_lr`` and
    ``weight_sum``.

    Equal to optax to 1e-12 (tests/test_optim_optax.py). With a warm-up that holds for optax
    run op by op, without ``jit``: under ``jit`` XLA's compiled float32 warm-up rounds
    differently, and optax under ``jit`` with a warm-up differs by up to 1e-7 relative (measured
    over 40 steps: 7.4e-8 for schedule-free AdamW, 2.8e-14 for SGD); without a warm-up, ``jit``
    changes nothing.
    """

    slots = ("z",)
    elementwise = True
    kernel = "schedule_free"

    beta1 = Hyper(POSITIVE_UNIT, "interpolation β between the average x and the iterate z",
                  search=(0.5, 0.99))
    weight_lr_power = Hyper(NONNEGATIVE, "power k of the rate in the averaging weights",
                            tunable=False)
    warmup_steps = Count(0, "updates over which the rate rises linearly (0: none)")

    def __init__(self, lr: Any, beta1: Any, weight_decay: Any, weight_lr_power: Any,
                 warmup_steps: int | None, **options: Any) -> None:
        super().__init__(lr, weight_decay, **options)
        self.beta1 = beta1
        self.weight_lr_power = weight_lr_power
        self.warmup_steps = 0 if warmup_steps is None else warmup_steps

    def check_settings(self, values: dict[str, Any]) -> None:
        if values.get("decoupled_weight_decay"):
            raise InputError(f"{self.name} decays as optax does: see its docstring; "
                             "decoupled_weight_decay=True does not apply")

    def direction(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> np.ndarray:
        """The base step d_t (before the rate)."""
        raise NotImplementedError

    def checked_globals(self, globals_: Any, step: int) -> dict[str, Any]:
        """The base's checks, then the running maximum rate and the weight sum: numbers
        >= 0 (a negative one would weigh the average wrongly, silently)."""
        out = super().checked_globals(globals_, step)
        for k in ("max_lr", "weight_sum"):
            if k in out and np.any(np.asarray(out[k]) < 0):
                raise InputError(f"the checkpoint's global {k!r} must be >= 0, got "
                                 f"{out[k]!r}")
        return out

    def init_globals(self) -> dict[str, Any]:
        return {"max_lr": 0.0, "weight_sum": 0.0}

    def begin_step(self, h: Any) -> None:
        count = h.t - 1
        next_lr = type(self).lr.resolve(self, h.t)  # optax's wrapper: the schedule at t
        h.lr_z = _warmup(h.lr, count, self.warmup_steps)
        max_lr = np.maximum(self.globals["max_lr"], _warmup(next_lr, h.t, self.warmup_steps))
        weight = max_lr**h.weight_lr_power
        weight_sum = self.globals["weight_sum"] + weight
        with np.errstate(divide="ignore", invalid="ignore"):
            h.c = np.nan_to_num(np.divide(weight, weight_sum), nan=0.0, posinf=np.inf)
        self.globals["max_lr"] = max_lr if np.ndim(max_lr) else float(max_lr)
        self.globals["weight_sum"] = weight_sum if np.ndim(weight_sum) else float(weight_sum)
        if not np.ndim(h.c):
            h.c = float(h.c)

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        z, b = state["z"], h.beta1
        if h.t == 1:
            z[...] = p  # z₀ = y₀
        d = self.direction(p, g, state, h)
        if not np.any(h.lr_z) and not np.any(h.c):
            return  # no step and no averaging: y stays (exactly, without rounding drift)
        x = (p - (1 - b) * z) / b  # x_{t−1} from y and z
        z -= h.lr_z * d  # z_t = z_{t−1} − γ·d
        x = (1 - h.c) * x + h.c * z  # x_t = (1 − c)·x + c·z
        p += (b * x + (1 - b) * z) - p  # y_t = β·x + (1 − β)·z

    # ---------------------------------------------------------------- the other two points
    def _points(self, params: Any, which: str) -> Any:
        out = copy.deepcopy(params)
        beta = self.beta1 if not callable(self.beta1) else type(self).beta1.resolve(
            self, max(self.step - 1, 0))
        for leaf in flatten_params(out):
            z = self.state.get(leaf.path, {}).get("z")
            if z is None or self.step == 0:
                continue  # before the first update x = y = z
            y = leaf.array
            point = z if which == "z" else (y - (1 - beta) * z) / beta
            leaf.array[...] = point
            leaf.write_back()
        return out

    def eval_params(self, params: Any) -> Any:
        """x, the averaged point to evaluate (test loss, accuracy) at: a copy of ``params``
        with :math:`x = (y - (1 - \\beta) z)/\\beta` — optax's
        ``schedule_free_eval_params(state, params)``."""
        return self._points(params, "x")

    def z_params(self, params: Any) -> Any:
        """z, the base optimizer's iterate: a copy of ``params`` holding it."""
        return self._points(params, "z")


@register
class ScheduleFreeSGD(ScheduleFree):
    r"""Schedule-free SGD: :class:`ScheduleFree` with the base step :math:`d_t = g_t +
    \lambda y_{t-1}` (optax's ``add_decayed_weights`` then ``sgd``: L2 at the gradient's
    point y), optax's ``optax.contrib.schedule_free_sgd``.

    Defaults: ``lr=1.0, beta1=0.9, weight_decay=0, weight_lr_power=2, warmup_steps=None`` —
    optax's. Equals ``optax.contrib.schedule_free_sgd(lr, warmup_steps, b1=beta1,
    weight_decay=..., weight_lr_power=...)``.

    >>> params = {"x": 1.0}
    >>> opt = ScheduleFreeSGD(lr=0.5, beta1=0.5)
    >>> opt.update(params, {"x": 2.0})          # z = 1 − 0.5·2 = 0, x = z (c₁ = 1)
    >>> params, opt.eval_params(params), opt.z_params(params)
    ({'x': 0.0}, {'x': 0.0}, {'x': 0.0})
    >>> opt.update(params, {"x": 1.0})          # z = −0.5, x = (0 + z)/2, y = (x + z)/2
    >>> params, opt.eval_params(params), opt.z_params(params)
    ({'x': -0.375}, {'x': -0.25}, {'x': -0.5})
    """

    name = "schedule_free_sgd"
    lineage = Lineage(("momentum", "asgd"), "schedule-free averaging", 2024, "Defazio et al. 2024")
    references = (
        Reference("optax.contrib.schedule_free_sgd"),
    )
    equations: ClassVar[tuple[str, ...]] = (
        "x = (y − (1 − β)·z) / β,   z ← z − γ·(g + λ·y)",
        "c = w / Σw   (w = max γ'^k),   x ← (1 − c)·x + c·z",
        "y ← β·x + (1 − β)·z   (the parameters are y; eval_params gives x)",
    )

    def __init__(self, lr: Any = 1.0, warmup_steps: int | None = None, beta1: Any = 0.9,
                 weight_decay: Any = 0.0, weight_lr_power: Any = 2.0, *,
                 maximize: bool = False, **options: Any) -> None:
        super().__init__(lr, beta1, weight_decay, weight_lr_power, warmup_steps,
                         maximize=maximize, **options)

    def direction(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> np.ndarray:
        return g  # L2 is already in g (the base class adds λ·y)


@register
class ScheduleFreeAdamW(ScheduleFree):
    r"""Schedule-free AdamW: :class:`ScheduleFree` with the base step of RMSprop with bias
    correction (Adam without momentum) plus decoupled decay at y, optax's
    ``optax.contrib.schedule_free_adamw``.

    .. math::
        v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2, \qquad
        d_t = \frac{g_t}{\sqrt{v_t/(1 - \beta_2^t)} + \epsilon} + \lambda\, y_{t-1}

    The decay joins the normalised step (optax's chain), so the rule applies it.

    Defaults: ``lr=0.0025, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0,
    weight_lr_power=2, warmup_steps=None`` — optax's. Equals
    ``optax.contrib.schedule_free_adamw(lr, warmup_steps, b1=beta1, b2=beta2, eps=eps,
    weight_decay=..., weight_lr_power=...)``.

    >>> params = {"x": 1.0}
    >>> opt = ScheduleFreeAdamW(lr=0.1, eps=1e-300)
    >>> opt.update(params, {"x": 2.0})          # d = 1: z = x = y = 0.9
    >>> params, opt.eval_params(params)
    ({'x': 0.9}, {'x': 0.9})
    """

    name = "schedule_free_adamw"
    lineage = Lineage(("schedule_free_sgd", "adamw"), "schedule-free AdamW", 2024,
                      "Defazio et al. 2024")
    references = (
        Reference("optax.contrib.schedule_free_adamw"),
    )
    slots = ("z", "v")
    nonnegative_slots = ("v",)
    decays_in_rule = True
    equations: ClassVar[tuple[str, ...]] = (
        "v ← β2·v + (1 − β2)·g²,   d = g / (√(v / (1 − β2ᵗ)) + ε) + λ·y",
        "x = (y − (1 − β1)·z) / β1,   z ← z − γ·d",
        "c = w / Σw   (w = max γ'^k),   x ← (1 − c)·x + c·z,   y ← β1·x + (1 − β1)·z",
    )

    beta2 = Hyper(UNIT, "decay β2 of the second moment", search=(0.9, 0.9999))
    eps = Hyper(POSITIVE, "ε of the denominator", tunable=False)

    def __init__(self, lr: Any = 0.0025, warmup_steps: int | None = None, beta1: Any = 0.9,
                 beta2: Any = 0.999, eps: Any = 1e-8, weight_decay: Any = 0.0,
                 weight_lr_power: Any = 2.0, *, maximize: bool = False,
                 **options: Any) -> None:
        super().__init__(lr, beta1, weight_decay, weight_lr_power, warmup_steps,
                         maximize=maximize, **options)
        self.beta2 = beta2
        self.eps = eps

    def direction(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> np.ndarray:
        v = ema_square(state["v"], g, h.beta2)  # v = β2·v + (1 − β2)·g²
        return g / (np.sqrt(v / bias_correction(h.beta2, h.t)) + h.eps) + h.weight_decay * p
