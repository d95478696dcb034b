"""GaLore: a base rule (Adam by default) on the gradient projected onto its top singular
vectors (matrices, or arrays folded into matrices)."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from .adam import AdamFamily
from .base import Optimizer
from .bases import BASES, BaseChoice, BaseSettings, base_rule
from .bases import base_settings as base_settings_of
from .hyperparams import NONNEGATIVE, POSITIVE, Count, Hyper, Number
from .lineage import Lineage
from .moments import power
from .muon import DimensionNumbers, matrix_axes
from .references import Reference
from .registry import register
from .tree import flatten_params, show

#: How the GaLore cells run optax (tests/optax_oracle.py numpy_svd).
_CELL_NOTE = "its float32 SVD run by NumPy"

#: GaLore's bases: the base rules but AdamW (its decay is galore's ``weight_decay``, in the
#: full space, as optax says of its own base). ``"adam"`` is galore's own Adam (optax's
#: ``scale_by_adam``, with galore's β1, β2, ε, ε̄).
GALORE_BASES = tuple(b for b in BASES if b != "adamw")

#: The Adam base's settings, galore's own (their defaults: optax's ``scale_by_adam``'s).
ADAM_SETTINGS = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "eps_root": 0.0}


def projector(g: np.ndarray, rank: int) -> np.ndarray:
    """The first ``rank`` singular vectors of the matrix ``g`` on its shorter side — left
    (m × r) for a tall or square g, right (n × r) for a wide one — from an SVD in float32,
    as optax computes them."""
    u, _, vh = np.linalg.svd(g.astype(np.float32), full_matrices=False)
    r = min(rank, *g.shape)
    basis = u[:, :r] if g.shape[0] >= g.shape[1] else vh[:r, :].T
    return basis.astype(g.dtype)


def folding(spec: list[list[int]], shape: tuple[int, ...]) -> tuple[tuple[int, ...], int, int]:
    """``(axes, rows, cols)``: an array of ``shape`` is the matrix
    ``a.transpose(axes).reshape(rows, cols)`` under ``spec`` (a pair of reduction and output
    axes, :class:`~.muon.DimensionNumbers`), as optax's ``_compute_galore_reshape``: every
    axis is one of them (no batch axes).

    >>> folding([[0], [1, 2]], (4, 2, 3))
    ((0, 1, 2), 4, 6)
    >>> folding([[-1], [0]], (4, 3))
    ((1, 0), 3, 4)
    """
    batch, reduction, output = matrix_axes(spec, shape)
    if batch:
        raise InputError(f"dimension_numbers {spec} leave axes {batch} of an array of shape "
                         f"{shape} out: galore folds every axis into its matrix (optax too)")
    return (tuple(reduction + output), math.prod(shape[a] for a in reduction),
            math.prod(shape[a] for a in output))


class _BaseSlots:
    """GaLore's ``nonnegative_slots``: the default base's (Adam's ``v``) read on the class,
    an optimizer's own base's read on it."""

    def __get__(self, obj: Any, owner: type | None = None) -> tuple[str, ...]:
        return ("v",) if obj is None else obj.base_nonnegative_slots()


@register
class GaLore(AdamFamily):
    r"""GaLore, gradient low-rank projection (Zhao, Zhang, Chen, Wang, Anandkumar & Tian,
    "GaLore: Memory-Efficient LLM Training by Gradient Low-Rank Projection", ICML 2024;
    arXiv:2403.03507), optax's ``optax.contrib.galore``: a base rule, Adam by default, on
    the gradient's projection.

    For a matrix G of shape (m, n) with m ≥ n, P holds the first r left singular vectors of
    the gradient, recomputed every ``update_proj_gap`` updates (from the first); the base
    runs on the r × n projection R and its step D goes back through P (a wide matrix: the
    right singular vectors, :math:`R = G P`, back by :math:`P^\top`):

    .. math::
        P = U_{[:, :r]}(G_t) \ \text{(at } t - 1 \equiv 0 \bmod T\text{)}, \qquad
        R_t = P^\top G_t, \qquad D_t = \mathrm{base}(R_t) \\
        \text{Adam: } m_t = \beta_1 m_{t-1} + (1 - \beta_1) R_t, \quad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) R_t^2, \quad
        D_t = \frac{\hat m_t}{\sqrt{\hat v_t + \bar\epsilon} + \epsilon} \\
        p_t = p_{t-1} - \eta\,\bigl(s\, P D_t + \lambda\, p_{t-1}\bigr)

    with Adam's bias-corrected :math:`\hat m, \hat v`. A parameter that is not a matrix
    takes the base's steps on its whole gradient, unscaled (optax's: s applies to projected
    steps only). The SVD runs in float32 (optax's); the base's state, in the projection's
    shape, is kept through a refresh of P (as the paper and optax do). Weight decay is
    decoupled, in the full space (optax's ``weight_decay``).

    ``base`` (optax's ``base_optimizer``) is a name of :data:`GALORE_BASES` — element-wise
    rules without rule-wide state — or such an optimizer object: its step at rate 1 is D
    (``"sgd"`` is optax's ``identity()``, ``"momentum"`` its ``trace(0.9)``, ``"lion"`` its
    ``scale_by_lion()``, ...). ``"adam"`` (default) is optax's ``scale_by_adam`` with
    galore's own ``beta1, beta2, eps, eps_root``; any other base takes its own settings
    from the object (``base=optim.Lion(beta2=0.98)``) or ``base_settings`` (``{"beta2":
    0.98}``), and galore's Adam settings stay at their defaults (otherwise refused). The
    base's rate and decay are galore's ``lr`` and ``weight_decay``; its shared options
    (maximize, clipping) are refused, galore's apply. Adafactor is not offered: it is not
    element-wise, and optax's ``scale_by_factored_rms`` needs the parameters, which optax's
    galore does not give its base (0.2.8 raises ValueError: no reference to match).

    ``dimension_numbers`` (optax's ``weight_dimension_numbers``): ``None`` (default)
    projects the 2-D parameters; a pair ``(reduction, output)`` of axes (or lists of axes;
    ``GaLoreDimensionNumbers``' fields) folds every parameter of two or more axes into the
    matrix ``a.transpose(reduction + output).reshape(∏ reduction, ∏ output)`` — every axis
    named in one of them — and its step back; ``"full"``: no projection (the base on the
    whole gradient). optax's tree of them is :class:`~descentlab.optim.groups.Groups` with
    ``{"dimension_numbers": ...}`` per path (optax's None there: ``"full"``).

    Defaults: ``lr=0.001, rank=128, update_proj_gap=200, scale=1.0, beta1=0.9,
    beta2=0.999, eps=1e-8, eps_root=0.0, weight_decay=0.0, base="adam",
    dimension_numbers=None`` — optax's (whose rate has no default: 0.001 is Adam's). Equals
    ``optax.contrib.galore(lr, rank, update_proj_gap, scale, base_optimizer=
    optax.scale_by_adam(beta1, beta2, eps, eps_root), weight_decay=weight_decay)``. Its 2-D
    use on a surface: the K runs' points as (1, 2) matrices (rank 1: the projection is the
    whole gradient), one optimizer each.

    >>> w = np.zeros((3, 2))
    >>> opt = GaLore(lr=0.1, rank=1)
    >>> opt.update(w, np.outer([1.0, 2.0, 2.0], [3.0, 4.0]))   # rank 1: R = ±15·(0.6, 0.8)
    >>> np.round(w / w[0, 0], 6).tolist()                      # the step keeps its direction
    [[1.0, 1.0], [2.0, 2.0], [2.0, 2.0]]
    >>> signs = GaLore(lr=0.1, rank=1, base="sign_sgd")        # signSGD on R = ±(15)
    >>> w = np.zeros((3, 2)); signs.update(w, np.outer([1.0, 2.0, 2.0], [3.0, 4.0]))
    >>> np.abs(w).round(6).tolist()                            # η·|P|·1: P = (1, 2, 2)/3
    [[0.033333, 0.033333], [0.066667, 0.066667], [0.066667, 0.066667]]
    """

    name = "galore"
    references = (
        Reference("optax.contrib.galore", {}, {"learning_rate": 0.001}, note=_CELL_NOTE),
        Reference("optax.contrib.galore", {"rank": 1, "update_proj_gap": 5, "weight_decay": 0.1},
                  {"learning_rate": 0.001, "rank": 1, "update_proj_gap": 5,
                   "weight_decay": 0.1}, note=_CELL_NOTE),
        Reference("optax.contrib.galore", {"base": "sgd"},
                  {"learning_rate": 0.001, "base": "sgd"},
                  note="base_optimizer=identity(); " + _CELL_NOTE),
        Reference("optax.contrib.galore",
                  {"rank": 2, "base": "lion", "base_settings": {"beta2": 0.98}},
                  {"learning_rate": 0.001, "rank": 2, "base": "lion", "b2": 0.98},
                  note="base_optimizer=scale_by_lion(b2=0.98); " + _CELL_NOTE),
        Reference("optax.contrib.galore",
                  {"rank": 2, "base": "momentum", "dimension_numbers": (0, (1, 2))},
                  {"learning_rate": 0.001, "rank": 2, "base": "momentum",
                   "weight_dimension_numbers": (0, (1, 2))},
                  note="base_optimizer=trace(0.9), arrays of 3 axes folded by "
                       "GaLoreDimensionNumbers(0, (1, 2)); " + _CELL_NOTE),
    )
    lineage = Lineage(("adam",), "Adam on a low-rank projection of G", 2024,
                      "Zhao et al. 2024")
    decays_in_rule = True
    nonnegative_slots = _BaseSlots()  # type: ignore[assignment]
    equations: ClassVar[tuple[str, ...]] = (
        "P = first r singular vectors of G (every T updates),   R = PᵀG (or G·P)",
        "D = base(R): Adam's m̂/(√(v̂ + ε̄) + ε) by default (m, v of R's shape)",
        "p ← p − η·(s·P·D + λ·p)",
    )

    lr = AdamFamily.lr.replace(search=(1e-5, 1.0))
    eps = Hyper(NONNEGATIVE, "ε of the denominator", tunable=False)
    eps_root = Hyper(NONNEGATIVE, "ε̄ inside the root (optax's)", tunable=False)
    rank = Count(1, "r, the rank of the projection", fixed_once_started=True)
    update_proj_gap = Count(1, "T, updates between recomputations of P")
    scale = Number(POSITIVE, "s, the factor of the projected-back step")
    base = BaseChoice(GALORE_BASES, "the rule run on the projection (adam: galore's own β1, "
                      "β2, ε, ε̄)", fixed_once_started=True,
                      reasons={"adamw": "'adamw' decays the parameter, and the base sees a "
                               "projection: galore's weight_decay is the decay (in the full "
                               "space), its base 'adam'"})
    base_settings = BaseSettings("the base's own settings away from its defaults (not "
                                 "adam's: those are galore's)", fixed_once_started=True)
    dimension_numbers = DimensionNumbers("the axes folded into the projected matrix: None "
                                         "(2-D parameters), 'full' (none) or (reduction, "
                                         "output)", off="full", fixed_once_started=True)

    def __init__(self, lr: Any = 1e-3, rank: int = 128, update_proj_gap: int = 200,
                 scale: float = 1.0, beta1: Any = 0.9, beta2: Any = 0.999, eps: Any = 1e-8,
                 weight_decay: Any = 0.0, *, eps_root: Any = 0.0, base: str | Optimizer = "adam",
                 base_settings: dict[str, Any] | None = None, dimension_numbers: Any = None,
                 maximize: bool = False, **options: Any) -> None:
        if isinstance(base, Optimizer):
            if base_settings:
                raise InputError("galore takes a base object or base_settings, not both: the "
                                 "object carries its settings")
            base, base_settings = base_settings_of("galore", base)
        super().__init__(lr, beta1, beta2, eps, weight_decay, maximize=maximize, **options)
        self.eps_root = eps_root
        self.rank = rank
        self.update_proj_gap = update_proj_gap
        self.scale = scale
        self.base = base
        self.base_settings = base_settings
        self.dimension_numbers = dimension_numbers

    def check_settings(self, values: dict[str, Any]) -> None:
        if values.get("decoupled_weight_decay"):
            raise InputError("galore's decay is always decoupled (optax's weight_decay, "
                             "p ← p − η·(step + λp)): decoupled_weight_decay=True does not "
                             "apply")
        base, settings = values.get("base", "adam"), values.get("base_settings") or {}
        if base == "adam":
            if settings:
                raise InputError(f"base_settings {settings!r}: the Adam base's settings are "
                                 "galore's own beta1, beta2, eps, eps_root — set those")
            return
        base_rule(base, tuple(sorted(settings.items())))  # the base takes them
        for key, default in ADAM_SETTINGS.items():
            if key in values and np.any(np.asarray(values[key]) != default):
                raise InputError(f"{key}={values[key]!r} is the Adam base's, and the base is "
                                 f"{base!r}: its own settings go in base=optim.create("
                                 f"{base!r}, ...) or base_settings={{{key!r}: ...}}")

    # ---------------------------------------------------------------- the base
    def base_optimizer(self) -> Optimizer | None:
        """The base rule as an optimizer object (its rule and declarations are read, never
        its state), or ``None`` for the Adam base (galore's own)."""
        if self.base == "adam":
            return None
        return base_rule(self.base, tuple(sorted(self.base_settings.items())))

    def base_nonnegative_slots(self) -> tuple[str, ...]:
        """The slots that can never be negative: Adam's ``v``, or the base's own."""
        base = self.base_optimizer()
        return ("v",) if base is None else base.nonnegative_slots

    def initial_value(self, slot: str) -> float:
        base = self.base_optimizer()
        return 0.0 if base is None or slot == "P" else base.initial_value(slot)

    def begin_step(self, h: Any) -> None:
        """The base's hyperparameters of this update (``h.base``), at rate 1, no decay."""
        base = self.base_optimizer()
        if base is not None:
            h.base = base.resolve(h.t - 1)
            h.base.lr, h.base.weight_decay = 1.0, 0.0

    def direction(self, r: np.ndarray, state: dict, h: Any) -> np.ndarray:
        """D, the base's step at rate 1 from R (its state updated in place)."""
        base = self.base_optimizer()
        if base is not None:
            moved = np.zeros_like(r)
            base.rule(moved, r, state, h.base)
            return -moved
        m, v = state["m"], state["v"]
        m[...] = (1 - h.beta1) * r + h.beta1 * m  # optax's order: (1 − β)·x + β·avg
        v[...] = (1 - h.beta2) * (r * r) + h.beta2 * v
        m_hat = m / (1 - power(h.beta1, h.t))
        v_hat = v / (1 - power(h.beta2, h.t))
        return m_hat / (np.sqrt(v_hat + h.eps_root) + h.eps)

    # ---------------------------------------------------------------- the matrices
    def matrix_of(self, shape: tuple[int, ...]) -> tuple[tuple[int, ...], int, int] | None:
        """``(axes, rows, cols)`` of the matrix a parameter of ``shape`` is projected as
        (:func:`folding`), or ``None``: not projected."""
        spec = self.dimension_numbers
        if spec is None:
            return ((0, 1), *shape) if len(shape) == 2 else None  # type: ignore[return-value]
        if spec == "full" or len(shape) < 2:
            return None
        return folding(spec, shape)

    def slot_shapes(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        """The base's slots (Adam's ``m`` and ``v``) of the projection's shape (r × n, or
        m × r for a wide matrix; a parameter that is not projected: its own shape) and
        ``P`` (m × r or n × r)."""
        matrix = self.matrix_of(shape)
        small = shape
        if matrix is not None:
            _, rows, cols = matrix
            r = min(self.rank, rows, cols)
            small = (r, cols) if rows >= cols else (rows, r)
        base = self.base_optimizer()
        out = {"m": small, "v": small} if base is None else base.slot_shapes(small)
        if matrix is not None:
            out["P"] = (max(rows, cols), r)
        return out

    def update(self, params: Any, grads: Any) -> None:
        """Every parameter's folding is checked (naming it) before anything changes."""
        spec = self.dimension_numbers
        if spec not in (None, "full"):
            for leaf in flatten_params(params):
                try:
                    self.matrix_of(np.shape(leaf.array))
                except InputError as e:
                    raise InputError(f"{show(leaf.path)}: {e}") from None
        super().update(params, grads)

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        matrix = self.matrix_of(p.shape)
        if matrix is None:
            step = self.direction(g, state, h)
        else:
            axes, rows, cols = matrix
            folded = g.transpose(axes).reshape(rows, cols)
            if (h.t - 1) % self.update_proj_gap == 0:
                state["P"][...] = projector(folded, self.rank)
            basis, tall = state["P"], rows >= cols
            r = basis.T @ folded if tall else folded @ basis
            d = self.direction(r, state, h)
            back = basis @ d if tall else d @ basis.T
            step = self.scale * back.reshape([p.shape[a] for a in axes]).transpose(
                np.argsort(axes))
        if np.any(h.weight_decay != 0):
            step = step + h.weight_decay * p
        p -= h.lr * step


__all__ = ["GaLore", "GALORE_BASES", "folding", "projector"]
