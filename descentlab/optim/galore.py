"""GaLore: Adam on the gradient projected onto its top singular vectors (matrices)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from .adam import AdamFamily
from .hyperparams import NONNEGATIVE, POSITIVE, Count, Hyper, Number
from .lineage import Lineage
from .moments import power
from .references import Reference
from .registry import register

#: How the GaLore cells run optax (tests/optax_oracle.py numpy_svd).
_CELL_NOTE = "its float32 SVD run by NumPy"


def projector(g: np.ndarray, rank: int) -> np.ndarray:
    """The first ``rank`` singular vectors of the matrix ``g`` on its shorter side — left
    (m × r) for a tall or square g, right (n × r) for a wide one — from an SVD in float32,
    as optax computes them."""
    u, _, vh = np.linalg.svd(g.astype(np.float32), full_matrices=False)
    r = min(rank, *g.shape)
    basis = u[:, :r] if g.shape[0] >= g.shape[1] else vh[:r, :].T
    return basis.astype(g.dtype)


@register
class GaLore(AdamFamily):
    r"""GaLore, gradient low-rank projection (Zhao, Zhang, Chen, Wang, Anandkumar & Tian,
    "GaLore: Memory-Efficient LLM Training by Gradient Low-Rank Projection", ICML 2024;
    arXiv:2403.03507), optax's ``optax.contrib.galore`` with its default base, Adam.

    For a matrix G of shape (m, n) with m ≥ n, P holds the first r left singular vectors of
    the gradient, recomputed every ``update_proj_gap`` updates (from the first); Adam runs
    on the r × n projection and its step goes back through P (a wide matrix: the right
    singular vectors, :math:`R = G P`, back by :math:`P^\top`):

    .. math::
        P = U_{[:, :r]}(G_t) \ \text{(at } t - 1 \equiv 0 \bmod T\text{)}, \qquad
        R_t = P^\top G_t \\
        m_t = \beta_1 m_{t-1} + (1 - \beta_1) R_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) R_t^2 \\
        p_t = p_{t-1} - \eta\,\Bigl(s\, P\,\frac{\hat m_t}{\sqrt{\hat v_t + \bar\epsilon}
        + \epsilon} + \lambda\, p_{t-1}\Bigr)

    with Adam's bias-corrected :math:`\hat m, \hat v`. A parameter that is not a matrix takes
    plain Adam steps, unscaled (optax's: s applies to projected steps only). The SVD runs in
    float32 (optax's); the moments are kept through a refresh of P (as the paper and optax
    do). Weight decay is decoupled, in the
    full space (optax's ``weight_decay``). optax's ``weight_dimension_numbers`` (matrices
    folded from higher-dimensional arrays) and ``base_optimizer`` are not offered.

    Defaults: ``lr=0.001, rank=128, update_proj_gap=200, scale=1.0, beta1=0.9,
    beta2=0.999, eps=1e-8, eps_root=0.0, weight_decay=0.0`` — optax's (whose rate has no
    default: 0.001 is Adam's). Equals ``optax.contrib.galore(lr, rank, update_proj_gap,
    scale, base_optimizer=optax.scale_by_adam(beta1, beta2, eps, eps_root),
    weight_decay=weight_decay)``. Its 2-D use on a surface: the K runs' points as (1, 2)
    matrices (rank 1: the projection is the whole gradient), one optimizer each.

    >>> w = np.zeros((3, 2))
    >>> opt = GaLore(lr=0.1, rank=1)
    >>> opt.update(w, np.outer([1.0, 2.0, 2.0], [3.0, 4.0]))   # rank 1: R = ±15·(0.6, 0.8)
    >>> np.round(w / w[0, 0], 6).tolist()                      # the step keeps its direction
    [[1.0, 1.0], [2.0, 2.0], [2.0, 2.0]]
    """

    name = "galore"
    references = (
        Reference("optax.contrib.galore", {}, {"learning_rate": 0.001}, note=_CELL_NOTE),
        Reference("optax.contrib.galore", {"rank": 1, "update_proj_gap": 5, "weight_decay": 0.1},
                  {"learning_rate": 0.001, "rank": 1, "update_proj_gap": 5,
                   "weight_decay": 0.1}, note=_CELL_NOTE),
    )
    lineage = Lineage(("adam",), "Adam on a low-rank projection of G", 2024,
                      "Zhao et al. 2024")
    nonnegative_slots = ("v",)
    decays_in_rule = True
    equations: ClassVar[tuple[str, ...]] = (
        "P = first r singular vectors of G (every T updates),   R = PᵀG (or G·P)",
        "m ← β1·m + (1 − β1)·R,   v ← β2·v + (1 − β2)·R²   (Adam on R)",
        "p ← p − η·(s·P·m̂/(√(v̂ + ε̄) + ε) + λ·p)",
    )

    lr = AdamFamily.lr.replace(search=(1e-5, 1.0))
    eps = Hyper(NONNEGATIVE, "ε of the denominator", tunable=False)
    eps_root = Hyper(NONNEGATIVE, "ε̄ inside the root (optax's)", tunable=False)
    rank = Count(1, "r, the rank of the projection", fixed_once_started=True)
    update_proj_gap = Count(1, "T, updates between recomputations of P")
    scale = Number(POSITIVE, "s, the factor of the projected-back step")

    def __init__(self, lr: Any = 1e-3, rank: int = 128, update_proj_gap: int = 200,
                 scale: float = 1.0, beta1: Any = 0.9, beta2: Any = 0.999, eps: Any = 1e-8,
                 weight_decay: Any = 0.0, *, eps_root: Any = 0.0, maximize: bool = False,
                 **options: Any) -> None:
        super().__init__(lr, beta1, beta2, eps, weight_decay, maximize=maximize, **options)
        self.eps_root = eps_root
        self.rank = rank
        self.update_proj_gap = update_proj_gap
        self.scale = scale

    def check_settings(self, values: dict[str, Any]) -> None:
        if values.get("decoupled_weight_decay"):
            raise InputError("galore's decay is always decoupled (optax's weight_decay, "
                             "p ← p − η·(step + λp)): decoupled_weight_decay=True does not "
                             "apply")

    def slot_shapes(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        """``m`` and ``v`` of the projection's shape (r × n, or m × r for a wide matrix; a
        parameter that is not a matrix: its own shape) and ``P`` (m × r or n × r)."""
        if len(shape) != 2:
            return {"m": shape, "v": shape}
        rows, cols = shape
        r = min(self.rank, rows, cols)
        small = (r, cols) if rows >= cols else (rows, r)
        return {"m": small, "v": small, "P": (max(rows, cols), r)}

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        tall = p.ndim == 2 and p.shape[0] >= p.shape[1]
        if p.ndim == 2:
            if (h.t - 1) % self.update_proj_gap == 0:
                state["P"][...] = projector(g, self.rank)
            basis = state["P"]
            r = basis.T @ g if tall else g @ basis
        else:
            r = g
        m, v = state["m"], state["v"]
        m[...] = (1 - h.beta1) * r + h.beta1 * m  # optax's order: (1 − β)·x + β·avg
        v[...] = (1 - h.beta2) * (r * r) + h.beta2 * v
        m_hat = m / (1 - power(h.beta1, h.t))
        v_hat = v / (1 - power(h.beta2, h.t))
        step = m_hat / (np.sqrt(v_hat + h.eps_root) + h.eps)
        if p.ndim == 2:
            step = self.scale * (basis @ step if tall else step @ basis.T)
        if np.any(h.weight_decay != 0):
            step = step + h.weight_decay * p
        p -= h.lr * step
