"""Rprop: per-coordinate step sizes that grow while the gradient's sign holds."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from .base import Optimizer
from .hyperparams import NONNEGATIVE, Check, Hyper, form_option
from .lineage import Lineage
from .references import Reference
from .registry import register

#: 0 < η⁻ < 1 < η⁺, as PyTorch checks.
_SHRINK = Check(0.0, 1.0, True, True)
_GROW = Check(1.0, None, True, False)


def _pair(name: str, value: Any) -> tuple[Any, Any]:
    try:
        first, second = value
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a pair of numbers, got {value!r}") from None
    return first, second


@register
class Rprop(Optimizer):
    r"""Rprop (Riedmiller & Braun, ICNN 1993), PyTorch's form (no weight backtracking); optax's
    with ``form="optax"``.

    .. math::
        s = \operatorname{sign}(g_t\, g_{t-1}), \qquad
        f = \begin{cases}\eta^+ & s > 0\\ \eta^- & s < 0\\ 1 & s = 0\end{cases} \\
        \Delta_t = \operatorname{clip}(\Delta_{t-1} f,\ \Delta_{min},\ \Delta_{max})
        \quad(\Delta_0 = \eta), \qquad
        g_t \leftarrow 0 \text{ where } f = \eta^- \\
        p_t = p_{t-1} - \operatorname{sign}(g_t)\,\Delta_t, \qquad g_{t-1} \leftarrow g_t

    The learning rate only sets the initial step sizes Δ₀ (as in PyTorch: changing it later
    has no effect). State: ``prev`` (the previous gradient, zeroed where its sign flipped) and
    ``step_size`` (Δ).

    Defaults: ``lr=0.01, etaminus=0.5, etaplus=1.2, step_size_min=1e-6, step_size_max=50`` —
    ``torch.optim.Rprop``'s ``etas=(0.5, 1.2), step_sizes=(1e-6, 50)``, equal to it with every
    option (tests/test_optim_torch_more.py); ``form="optax"``: ``optax.rprop`` 0.2.8 with every
    option, within 1e-12 relative over 100 steps in float64 (tests/test_optax_forms.py).
    The pairs can be given as PyTorch's ``etas`` and ``step_sizes`` too, or one by one (the
    hyperparameter names, e.g. for ``rprop:etaplus=1.1`` in the lab).
    PyTorch's Rprop has no weight decay; ``weight_decay`` works as for every optimizer.

    ``form="optax"`` is ``optax.rprop``: the step size is left alone (not clipped) where
    g·u = 0, the pending update u (``prev``) is Δ·sign(g), or 0 after a sign change, and each
    update applies the *previous* step's pending update, so the first update does not move:

    .. math::
        s = g_t\, u_{t-1}, \qquad
        \Delta_t = \begin{cases}\Delta_{t-1} & s = 0\\
            \operatorname{clip}(\Delta_{t-1}\,\eta^{\pm},\ \Delta_{min},\ \Delta_{max})
            & \text{otherwise}\end{cases} \\
        p_t = p_{t-1} - [s \ge 0]\, u_{t-1}, \qquad
        u_t = [s \ge 0]\, \Delta_t \operatorname{sign}(g_t)

    (PyTorch's and optax's step sizes agree; their parameters differ.) ``form`` cannot change
    once the optimizer has state (``prev`` means g in one form and u in the other).

    >>> params = {"x": 1.0}
    >>> opt = Rprop(lr=0.1)
    >>> for g in (3.0, 5.0, -1.0):
    ...     opt.update(params, {"x": g})
    >>> round(params["x"], 12)   # 1 − 0.1 − 0.12, then the sign flips: Δ = 0.06, no move
    0.78
    >>> opt, params = Rprop(lr=0.1, form="optax"), {"x": 1.0}
    >>> for g in (3.0, 5.0, -1.0):
    ...     opt.update(params, {"x": g})
    >>> round(params["x"], 12)   # 0, then u₁ = 0.1, then the sign flips: no move
    0.9
    """

    name = "rprop"
    lineage = Lineage(("sgd",), "sign, per-weight step sizes", 1993, "Riedmiller & Braun 1993")
    references = (
        Reference("torch.optim.Rprop"),
        Reference("optax.rprop", {"form": "optax"}, {"learning_rate": 0.01}),
    )
    slots = ("prev", "step_size")
    nonnegative_slots = ("step_size",)
    equations = ("f = η⁺ where g·g_prev > 0,   η⁻ where < 0,   1 where = 0",
                 "Δ ← clip(Δ·f, Δmin, Δmax)   (Δ₀ = η),   g ← 0 where f = η⁻",
                 "p ← p − sign(g)·Δ,   g_prev ← g")
    elementwise = True
    kernel = "rprop"

    etaminus = Hyper(_SHRINK, "factor η⁻ of the step size after a sign change",
                     search=(0.3, 0.7))
    etaplus = Hyper(_GROW, "factor η⁺ of the step size while the sign holds",
                    search=(1.05, 1.5))
    step_size_min = Hyper(NONNEGATIVE, "smallest step size Δmin", tunable=False)
    step_size_max = Hyper(NONNEGATIVE, "largest step size Δmax", tunable=False)
    form = form_option("torch.optim.Rprop's rule, or optax.rprop's (applies the previous "
                       "step's update)", fixed_once_started=True)

    def __init__(self, lr: Any = 0.01, etas: tuple[Any, Any] | None = None,
                 step_sizes: tuple[Any, Any] | None = None, *, etaminus: Any = 0.5,
                 etaplus: Any = 1.2, step_size_min: Any = 1e-6, step_size_max: Any = 50.0,
                 weight_decay: Any = 0.0, form: str = "torch", maximize: bool = False,
                 **options: Any) -> None:
        super().__init__(lr, weight_decay, maximize=maximize, **options)
        if etas is not None:
            etaminus, etaplus = _pair("etas", etas)
        if step_sizes is not None:
            step_size_min, step_size_max = _pair("step_sizes", step_sizes)
        self.etaminus = etaminus
        self.etaplus = etaplus
        self.step_size_min = step_size_min
        self.step_size_max = step_size_max
        self.form = form

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        prev, size = state["prev"], state["step_size"]
        if h.t == 1:
            size[...] = h.lr  # Δ₀ = η
        if self.form == "optax":
            self.optax_rule(p, g, prev, size, h)
            return
        s = np.sign(g * prev)
        f = np.where(s > 0, h.etaplus, np.where(s < 0, h.etaminus, 1)).astype(p.dtype)
        size[...] = np.minimum(np.maximum(size * f, h.step_size_min), h.step_size_max)
        g = np.where(f == h.etaminus, 0, g)  # (PyTorch's test: f = η⁻ in the array's dtype)
        p -= np.sign(g) * size
        prev[...] = g

    @staticmethod
    def optax_rule(p: np.ndarray, g: np.ndarray, pending: np.ndarray, size: np.ndarray,
                   h: Any) -> None:
        """optax.rprop: apply the pending update u, then make the next one."""
        s = g * pending
        factor = np.where(s > 0, h.etaplus, h.etaminus).astype(size.dtype, copy=False)
        grown = np.minimum(np.maximum(size * factor,
                                      h.step_size_min), h.step_size_max)
        size[...] = np.where(s == 0, size, grown)
        flipped = s < 0
        p -= np.where(flipped, 0, pending)
        pending[...] = np.where(flipped, 0, size * np.sign(g))
