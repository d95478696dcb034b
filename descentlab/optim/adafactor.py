"""Adafactor: second moments factored into row and column averages, relative step sizes."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from .base import Optimizer
from .hyperparams import (
    NONNEGATIVE,
    POSITIVE,
    UNIT,
    Check,
    Choice,
    Count,
    Flag,
    Hyper,
    Number,
    form_option,
)
from .lineage import Lineage
from .moments import ACCUMULATOR_DTYPES, lerp, store_as
from .references import Reference
from .registry import register

_NONPOSITIVE = Check(None, 0.0, False, False)
_FROM_EPS = object()  # eps1/eps2 not given one by one: take them from the ``eps`` pair
#: optax's defaults where its form reads a setting differently: ε₁ added to g², and the
#: smallest axis length it factors.
OPTAX_EPS1 = 1e-30
OPTAX_MIN_DIM = 128


def _rms(a: np.ndarray) -> Any:
    """‖a‖₂ / √n (a Python float for float arrays)."""
    return np.sqrt(np.sum(a * a)) / a.size**0.5


def optax_factored_dims(shape: tuple[int, ...], factored: bool,
                        min_dim_size: int) -> tuple[int, int] | None:
    """(d₁, d₀): the second-largest and the largest axis, which optax's Adafactor factors
    over when ``factored`` and both are at least ``min_dim_size`` long (else ``None``).

    >>> optax_factored_dims((3, 7, 5), True, 4), optax_factored_dims((3, 7), True, 4)
    ((2, 1), None)
    """
    if not factored or len(shape) < 2:
        return None
    order = np.argsort(shape)
    if shape[order[-2]] < min_dim_size:
        return None
    return int(order[-2]), int(order[-1])


def _one_along(shape: tuple[int, ...], axis: int) -> tuple[int, ...]:
    return tuple(1 if i == axis else n for i, n in enumerate(shape))


@register
class Adafactor(Optimizer):
    r"""Adafactor (Shazeer & Stern, ICML 2018), PyTorch's form (no first moment); optax's with
    ``form="optax"``.

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

    ``form="optax"`` is ``optax.adafactor``, a different rule: ε₁ (``eps1``, None: optax's
    1e-30) is added to g² instead of bounding v̂, the decay is computed in float32 from
    t' = t − ``decay_offset``, only arrays whose two largest axes d₁ ≤ d₀ are both at least
    ``min_dim_size_to_factor`` long (128) are factored — over those two axes —, the step is
    η (no relative step ρₜ), and weight decay is added to the update, not multiplied by η:

    .. math::
        \hat\beta_{t} = 1 - t'^{\,c}\ \text{(float32)}, \qquad
        G = g_t^2 + \epsilon_1 \\
        \text{factored:}\quad
        R_t = \hat\beta_t R_{t-1} + (1 - \hat\beta_t)\,\mathrm{mean}_{d_0}(G), \quad
        C_t = \hat\beta_t C_{t-1} + (1 - \hat\beta_t)\,\mathrm{mean}_{d_1}(G), \quad
        u = g_t \Big(\frac{R_t}{\mathrm{mean}_{d_1}(R_t)}\Big)^{-1/2} C_t^{-1/2} \\
        \text{otherwise:}\quad v_t = \hat\beta_t v_{t-1} + (1 - \hat\beta_t)\, G, \quad
        u = g_t\, v_t^{-1/2} \\
        u \leftarrow \frac{u}{\max(1,\ \mathrm{RMS}(u)/d)}\,\eta\,
            \max(\epsilon_2,\ \mathrm{RMS}(p_{t-1})), \qquad
        m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, u\ \text{(with momentum: } u = m_t), \qquad
        p_t = p_{t-1} - (u + \lambda p_{t-1})

    optax's arguments: ``decay_rate`` is −c (``beta2_decay=-0.8`` is its 0.8),
    ``clipping_threshold`` is ``d`` (``None``: ``rms_clipping=False``), ``momentum`` is β1,
    ``dtype_momentum`` is ``dtype_momentum`` (``"param"``, default: optax's
    ``dtype_momentum=float64`` on float64 parameters; ``"float32"``: optax's own default, m
    rounded to float32 after each step reads it, the state still in the parameters' dtype;
    exact when optax's ``momentum`` is a float64 array — a Python float makes its β1·m a
    float32 product, 5e-9 apart over 20 steps),
    ``weight_decay_rate`` is ``weight_decay``,
    ``eps`` is ``eps1``, ``learning_rate=None`` is ``lr=1``, and ``weight_decay_mask`` is
    :class:`~descentlab.optim.groups.Groups`. ``multiply_by_parameter_scale`` and
    ``rms_clipping`` apply to both forms (PyTorch's: both on); ``factored``,
    ``min_dim_size_to_factor``, ``decay_offset`` and ``momentum`` belong to the optax form
    (``dtype_momentum`` is taken by both and, as optax's, does nothing without momentum).
    ``form`` is chosen before the first update (the state's shapes differ).

    Defaults: ``lr=0.01, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0`` —
    ``torch.optim.Adafactor``. ``eps1``/``eps2`` set the pair one by one. ``form="optax"``:
    equal to ``optax.adafactor`` 0.2.8 with every option, within 1e-12 relative over 100 steps
    in float64 (tests/test_optax_forms.py).

    >>> params = {"w": np.ones((2, 3))}
    >>> Adafactor(lr=0.01).update(params, {"w": np.full((2, 3), 0.5)})
    >>> float(params["w"][0, 0])   # u = g/|g| = 1, α = RMS(p)·min(η, 1) = 0.01
    0.99
    >>> params = {"w": np.ones((2, 3))}   # optax: v = (1 − β̂₁)·G = G, u = g/√G ≈ 1, ×η·RMS(p)
    >>> Adafactor(lr=0.01, form="optax").update(params, {"w": np.full((2, 3), 0.5)})
    >>> float(params["w"][0, 0])
    0.99
    """

    name = "adafactor"
    lineage = Lineage(("adam",), "factored second moments", 2018, "Shazeer & Stern 2018")
    references = (
        Reference("torch.optim.Adafactor"),
        Reference("optax.adafactor", {"form": "optax"}, {"learning_rate": 0.01}),
        Reference("optax.adafactor", {"form": "optax", "momentum": 0.9,
                                      "dtype_momentum": "float32"},
                  {"learning_rate": 0.01, "momentum": 0.9},
                  note="optax's default float32 accumulator; β1 a float64 array (a Python float: "
                       "optax's β1·m in float32)"),
    )
    slots = ("row_var", "col_var", "variance", "m")
    nonnegative_slots = ("row_var", "col_var", "variance")
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
    d = Hyper(POSITIVE, "clipping threshold d of the update's RMS (torch: d ≥ 1)",
              tunable=False)
    form = form_option("torch.optim.Adafactor's rule, or optax.adafactor's",
                       fixed_once_started=True)
    multiply_by_parameter_scale = Flag("scale the step by max(ε₂, RMS(p)) (both forms)")
    rms_clipping = Flag("divide the update by max(1, RMS(u)/d) (both forms)")
    factored = Flag("factor the second moment of arrays with two long axes (optax)",
                    fixed_once_started=True)
    min_dim_size_to_factor = Count(0, "factor only arrays whose two largest axes are at "
                                   "least this long (optax)", fixed_once_started=True)
    decay_offset = Count(-(2**31), "t' = t − offset in β̂'s schedule (optax, fine-tuning)")
    momentum = Number(UNIT, "β1 of optax's momentum of the update (None: none)",
                      optional=True)
    dtype_momentum = Choice(ACCUMULATOR_DTYPES, "the momentum's stored values: the parameters' "
                            "dtype, or rounded to float32 (optax's default accumulator)")

    #: The optax-only settings and the values that leave them off (torch's form refuses others).
    OPTAX_ONLY = {"factored": True, "min_dim_size_to_factor": OPTAX_MIN_DIM,
                  "decay_offset": 0, "momentum": None}

    def check_settings(self, values: dict[str, Any]) -> None:
        """Adafactor's decay is torch's decoupled one, applied inside its rule; optax's
        settings need ``form="optax"``."""
        if values.get("decoupled_weight_decay") is False:
            raise InputError("adafactor always decouples its weight decay (as torch.optim."
                             "Adafactor); decoupled_weight_decay=False does not apply")
        if values.get("form") == "torch":
            if "d" in values and np.any(np.asarray(values["d"]) < 1):
                raise InputError(f"d must be >= 1 in torch.optim.Adafactor's form, got "
                                 f"{values['d']!r} (form='optax' takes any d > 0)")
            for name, off in self.OPTAX_ONLY.items():
                if name in values and values[name] != off:
                    raise InputError(f"{name}={values[name]!r} belongs to optax's Adafactor: "
                                     f"it needs form='optax'")

    def __init__(self, lr: Any = 0.01, beta2_decay: Any = -0.8,
                 eps: tuple[Any, Any] = (None, 1e-3), d: Any = 1.0, weight_decay: Any = 0.0,
                 *, eps1: Any = _FROM_EPS, eps2: Any = _FROM_EPS, form: str = "torch",
                 multiply_by_parameter_scale: bool = True, rms_clipping: bool = True,
                 factored: bool = True, min_dim_size_to_factor: int = OPTAX_MIN_DIM,
                 decay_offset: int = 0, momentum: float | None = None,
                 dtype_momentum: str = "param", maximize: bool = False, **options: Any) -> None:
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
        self.form = form
        self.multiply_by_parameter_scale = multiply_by_parameter_scale
        self.rms_clipping = rms_clipping
        self.factored = factored
        self.min_dim_size_to_factor = min_dim_size_to_factor
        self.decay_offset = decay_offset
        self.momentum = momentum
        self.dtype_momentum = dtype_momentum

    def slot_shapes(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        extra = {} if self.momentum is None else {"m": shape}
        if self.form == "optax":
            dims = optax_factored_dims(shape, self.factored, self.min_dim_size_to_factor)
            if dims is None:
                return {"variance": shape, **extra}
            d1, d0 = dims
            return {"row_var": _one_along(shape, d0), "col_var": _one_along(shape, d1),
                    **extra}
        if len(shape) < 2:
            return {"variance": shape}
        return {"row_var": (*shape[:-1], 1), "col_var": (*shape[:-2], 1, shape[-1])}

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        if self.form == "optax":
            self.optax_rule(p, g, state, h)
            return
        eps1 = float(np.finfo(p.dtype).eps) if self.eps1 is None else self.eps1
        weight = h.t**h.beta2_decay  # 1 − β̂₂,t
        scale = np.maximum(h.eps2, _rms(p)) if self.multiply_by_parameter_scale else 1.0
        alpha = scale * np.minimum(h.lr, 1 / h.t**0.5)
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
        if self.rms_clipping:
            alpha = alpha / np.maximum(1.0, np.sqrt(np.sum(u * u)) / (u.size**0.5 * h.d))
        p -= alpha * u

    def optax_rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        """optax.adafactor: the factored RMS scaling, clipping, η, the parameter's scale,
        momentum, weight decay — in optax's order."""
        eps1 = OPTAX_EPS1 if self.eps1 is None else self.eps1
        t = np.float32(h.t - self.decay_offset)  # optax computes β̂ in float32
        decay = np.float32(1.0) - t ** np.asarray(h.beta2_decay, np.float32)
        weight = np.float32(1.0) - decay
        g2 = g * g + eps1
        if "variance" in state:
            v = state["variance"]
            v[...] = decay * v + weight * g2
            u = g * v**-0.5
        else:
            d1, d0 = optax_factored_dims(p.shape, self.factored, self.min_dim_size_to_factor)
            row, col = state["row_var"], state["col_var"]
            row[...] = decay * row + weight * g2.mean(axis=d0, keepdims=True)
            col[...] = decay * col + weight * g2.mean(axis=d1, keepdims=True)
            u = g * (row / row.mean(axis=d1, keepdims=True)) ** -0.5 * col**-0.5
        if self.rms_clipping:
            u = u / np.maximum(1.0, np.sqrt(np.mean(u * u)) / h.d)
        u = u * h.lr
        if self.multiply_by_parameter_scale:
            rms = np.sqrt(np.mean(p * p))
            u = u * np.where(rms <= h.eps2, h.eps2, rms)
        if self.momentum is not None:
            m = state["m"]
            m[...] = (1 - self.momentum) * u + self.momentum * m
            u = m.copy()
            store_as(m, self.dtype_momentum)
        if np.any(h.weight_decay != 0):
            u = u + h.weight_decay * p
        p -= u
