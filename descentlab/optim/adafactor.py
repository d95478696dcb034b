"""Adafactor: second moments factored into row and column averages, relative step sizes."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from .base import Optimizer
from .hyperparams import NONNEGATIVE, Check, Hyper, Number
from .lineage import Lineage
from .moments import lerp
from .references import Reference
from .registry import register

_NONPOSITIVE = Check(None, 0.0, False, False)
_AT_LEAST_ONE = Check(1.0, None, False, False)
_FROM_EPS = object()  # eps1/eps2 not given one by one: take them from the ``eps`` pair


def _rms(a: np.ndarray) -> Any:
    """‖a‖₂ / √n (a Python float for float arrays)."""
    return np.sqrt(np.sum(a * a)) / a.size**0.5


@register
class Adafactor(Optimizer):
    r"""Adafactor (Shazeer & Stern, ICML 2018), PyTorch's form (no first moment).

    .. math::
        \hat\beta_{2,t} = 1 - t^{c}, \qquad
        \rho_t = \min(\eta,\ 1/\sqrt t), \qquad
        \alpha_t = \max(\epsilon_2,\ \mathrm{RMS}(p_{t-1}))\,\rho_t \\
        \text{matrix } (\dots, n, m):\quad
        R_t = \hat\beta_{2,t} R_{t-1} + (1 - \hat\beta_{2,t})\,\mathrm{mean}_{\text{cols}}(g^2),
        \quad
        C_t = \hat\beta_{2,t} C_{t-1} + (1 - \hat\beta_{2,t})\,\mathrm{mean}_{\text{rows}}(g^2),
        \quad \hat v = \frac{R_t C_t}{\max(\mathrm{mean}(R_t),\ \epsilon_1)} \\
        \text{otherwise:}\quad
        \hat v = v_t = \hat\beta_{2,t} v_{t-1} + (1 - \hat\beta_{2,t})\, g^2 \\
        u = g / \sqrt{\max(\hat v, \epsilon_1^2)}, \qquad
        p_t = p_{t-1}(1 - \eta\lambda) - \frac{\alpha_t}{\max(1,\ \mathrm{RMS}(u)/d)}\, u

    c is ``beta2_decay``. Arrays of two or more dimensions are factored over their last two
    (state ``row_var`` of shape (…, n, 1) and ``col_var`` (…, 1, m): n + m numbers instead of
    n·m); vectors and scalars keep a full ``variance`` (as PyTorch does). ε₁ = ``None`` is the
    machine epsilon of the parameter's dtype. Weight decay is always decoupled (by the
    learning rate, not ρ), applied after α reads the parameter.

    Not element-wise (RMS over each array): no fused kernel, no blocks (and the lab's sweeps
    give each run its own copy instead of stacking runs as rows of one array).

    Defaults: ``lr=0.01, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0`` —
    ``torch.optim.Adafactor``. ``eps1``/``eps2`` set the pair one by one.

    >>> params = {"w": np.ones((2, 3))}
    >>> Adafactor(lr=0.01).update(params, {"w": np.full((2, 3), 0.5)})
    >>> float(params["w"][0, 0])   # u = g/|g| = 1, α = RMS(p)·min(η, 1) = 0.01
    0.99
    """

    name = "adafactor"
    lineage = Lineage(("adam",), "factored second moments", 2018, "Shazeer & Stern 2018")
    references = (
        Reference("torch.optim.Adafactor"),
    )
    slots = ("row_var", "col_var", "variance")
    nonnegative_slots = ("row_var", "col_var", "variance")
    option_names = ("eps1",)
    equations = ("β̂ₜ = 1 − t^c,   ρₜ = min(η, 1/√t),   α = max(ε₂, RMS(p))·ρₜ",
                 "matrix: R ← β̂R + (1 − β̂)·rowmean(g²),   C ← β̂C + (1 − β̂)·colmean(g²),",
                 "        v̂ = R·C / max(mean(R), ε₁)",
                 "vector: v̂ = v ← β̂v + (1 − β̂)·g²",
                 "u = g / √max(v̂, ε₁²),   p ← p·(1 − ηλ) − α/max(1, RMS(u)/d)·u")
    decays_in_rule = True

    eps1 = Number(NONNEGATIVE, "ε₁, the smallest second moment (None: the machine epsilon of "
                  "the parameter's dtype)", optional=True)
    beta2_decay = Hyper(_NONPOSITIVE, "exponent c of 1 − β̂₂,t = t^c", search=(-1.0, -0.5))
    eps2 = Hyper(NONNEGATIVE, "ε₂, the smallest RMS of the parameter for the step size",
                 tunable=False)
    d = Hyper(_AT_LEAST_ONE, "clipping threshold d of the update's RMS", tunable=False)

    def check_settings(self, values: dict[str, Any]) -> None:
        """Adafactor's decay is torch's decoupled one, applied inside its rule."""
        if values.get("decoupled_weight_decay") is False:
            raise InputError("adafactor always decouples its weight decay (as torch.optim."
                             "Adafactor); decoupled_weight_decay=False does not apply")

    def __init__(self, lr: Any = 0.01, beta2_decay: Any = -0.8,
                 eps: tuple[Any, Any] = (None, 1e-3), d: Any = 1.0, weight_decay: Any = 0.0,
                 *, eps1: Any = _FROM_EPS, eps2: Any = _FROM_EPS, maximize: bool = False,
                 **options: Any) -> None:
        options.setdefault("decoupled_weight_decay", True)
        super().__init__(lr, weight_decay, maximize=maximize, **options)
        try:
            pair_1, pair_2 = eps
        except (TypeError, ValueError):
            raise InputError(f"eps must be a pair (eps1 or None, eps2), got {eps!r}") from None
        eps1 = pair_1 if eps1 is _FROM_EPS else eps1
        self.eps1 = eps1
        self.beta2_decay = beta2_decay
        self.eps2 = pair_2 if eps2 is _FROM_EPS else eps2
        self.d = d

    def slot_shapes(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        if len(shape) < 2:
            return {"variance": shape}
        return {"row_var": (*shape[:-1], 1), "col_var": (*shape[:-2], 1, shape[-1])}

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        eps1 = float(np.finfo(p.dtype).eps) if self.eps1 is None else self.eps1
        weight = h.t**h.beta2_decay  # 1 − β̂₂,t
        alpha = np.maximum(h.eps2, _rms(p)) * np.minimum(h.lr, 1 / h.t**0.5)
        if np.any(h.weight_decay != 0):
            p *= 1 - h.lr * h.weight_decay
        g2 = g * g
        if "variance" in state:
            v = lerp(state["variance"], g2, weight).copy()
        else:
            row = lerp(state["row_var"], g2.mean(axis=-1, keepdims=True), weight)
            col = lerp(state["col_var"], g2.mean(axis=-2, keepdims=True), weight)
            v = row * col / np.maximum(row.mean(axis=-2, keepdims=True), eps1)
        u = 1 / np.sqrt(np.maximum(v, eps1 * eps1)) * g
        p -= alpha / np.maximum(1.0, np.sqrt(np.sum(u * u)) / (u.size**0.5 * h.d)) * u
