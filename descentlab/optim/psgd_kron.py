"""PSGD Kron: SGD preconditioned by Kronecker factors Qᵢ fitted to random probes."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from .base import Optimizer
from .hyperparams import NONNEGATIVE, UNIT, Check, Choice, Count, Flag, Hyper, Number
from .kronecker import axis_statistic, mode_product
from .lineage import Lineage
from .references import Reference
from .registry import register

_PROBABILITY = Check(0.0, 1.0, False, False)
#: The smallest normal bfloat16 (the reference's ε of the factor updates).
TINY = 2.0**-126
#: The reference's default schedule of the update probability: 1 for 500 updates, then
#: exp(−0.001·(n − 500)), at least 0.03 (in float32).
SCHEDULE = (1.0, 0.03, 0.001, 500)

#: How the PSGD Kron cells run the reference (tests/probe_draws.py).
_CELL_NOTE = ("precondition_dtype=torch.float64, given our random draws, its float32 triangular "
              "solve run in float64")


def update_probability(count: int) -> float:
    """The default probability of refitting the factors at update ``count`` (0-based):
    clamp(exp(−0.001·(count − 500)), 0.03, 1) in float32, as the reference computes it
    (the exponential correctly rounded to float32; torch's float32 ``exp`` is one ulp off at
    32 of the first 20,000 counts, none of which changes a refit: tests/test_matrix_psgd_kron.py).

    >>> update_probability(0), round(update_probability(1200), 4), update_probability(9999)
    (1.0, 0.4966, 0.03)
    """
    top, bottom, decay, flat = SCHEDULE
    x = np.float32(-decay) * (np.float32(count) - np.float32(flat))
    p = np.float32(top) * np.float32(np.exp(np.float64(x)))
    return float(np.clip(p, np.float32(bottom), np.float32(top)))


def solve_right_upper(x: np.ndarray, q: np.ndarray) -> np.ndarray:
    """X·Q⁻¹ for an upper-triangular Q (column by column), on the last axis of ``x``."""
    rows = x.reshape(-1, x.shape[-1])
    out = np.empty_like(rows)
    for j in range(q.shape[0]):
        out[:, j] = (rows[:, j] - out[:, :j] @ q[:j, j]) / q[j, j]
    return out.reshape(x.shape)


def norm_lower_bound(a: np.ndarray) -> Any:
    """A lower bound of the spectral norm of a symmetric matrix (the reference's: one power
    step from the row or column of largest norm, after scaling by the largest entry)."""
    top = np.max(np.abs(a))
    a = a / (top if top > 0 else 1.0)
    squares = a * a
    col_sums, row_sums = np.sum(squares, axis=0), np.sum(squares, axis=1)
    i, j = int(np.argmax(col_sums)), int(np.argmax(row_sums))
    tiny = np.finfo(a.dtype).tiny
    x0 = a[:, i] @ a
    bound0 = np.linalg.norm((x0 / max(np.linalg.norm(x0), tiny)) @ a.T)
    x1 = a @ a[j, :]
    bound1 = np.linalg.norm(a.T @ (x1 / max(np.linalg.norm(x1), tiny)))
    return top * (bound0 if col_sums[i] > row_sums[j] else bound1)


@register
class PSGDKron(Optimizer):
    r"""PSGD with Kronecker-factored preconditioners (Li, "Preconditioned Stochastic Gradient
    Descent", IEEE TNNLS 2018, arXiv:1512.04202; the Kron form of Li 2024,
    github.com/lixilinx/psgd_torch), pytorch-optimizer's ``Kron``.

    The preconditioner is :math:`P = Q^\top Q` with :math:`Q = Q_1 \otimes \dots \otimes Q_k`,
    one factor per axis: upper triangular, or a diagonal (a vector) for an axis of length 1,
    longer than ``max_size_triangular``, of a parameter with fewer than
    ``min_ndim_triangular`` axes, or chosen by ``memory_save_mode``. With momentum
    :math:`m_t = \mu m_{t-1} + (1 - \mu) g_t` and :math:`\hat m = m_t/(1 - \mu^t)`, when the
    factors are refitted (see below) a random probe :math:`v \sim N(0, I)` and
    :math:`h = \hat m` (``momentum_into_precondition_update``; else g) give
    :math:`A = Q h`, :math:`B = Q^{-\top} v` and per axis

    .. math::
        Q_i \leftarrow Q_i - \frac{\eta_p}{\lVert T_1 + T_2 \rVert}\,
        \mathrm{triu}(T_1 - T_2)\, Q_i, \qquad T_1 = A_{(i)} A_{(i)}^\top,\
        T_2 = B_{(i)} B_{(i)}^\top \\
        d = P \hat m, \qquad d \leftarrow d \cdot \min\!\bigl(1,\ 1.1/(\mathrm{RMS}(d) +
        10^{-6})\bigr), \qquad p \leftarrow p - \eta\,(d + \lambda p)

    (a diagonal factor: the diagonals of :math:`T_1, T_2`, times :math:`q_i`, over the
    largest entry of :math:`T_1 + T_2`; a triangular one over a lower bound of the spectral
    norm; ε = the smallest bfloat16 added to either). The factors are refitted when a
    counter reaches 1/(update probability): ``update_probability`` (default: 1 for 500
    updates, then exp(−0.001(n − 500)), at least 0.03); at a refit, with probability
    ``balance_prob`` the factors of a matrix are first rescaled to equal largest entries.
    Weight decay λp applies to parameters of 2 or more axes only; decoupled (default, the
    reference's ``weight_decouple=True``) adds it to the step as above, coupled to g.

    Randomised: the probe vectors and the balancing draws come from
    ``numpy.random.default_rng([seed, n])`` at update n — first one uniform number (the
    balancing draw), then, at a refit, one normal array per parameter in order — so a run is
    reproducible and resumes bit for bit (parameters split into groups draw per group). The
    reference draws from torch's and NumPy's global generators in the same order; its test
    (tests/test_matrix_psgd_kron.py) feeds it these draws and matches ours given them.
    ``solve_dtype="float32"`` (default) solves :math:`B = Q^{-\top} v` in float32 as the
    reference does; ``"param"`` in the parameter's dtype. The reference keeps Q in float32
    by default (``precondition_dtype``); here the state is in the parameter's dtype (the
    reference's ``precondition_dtype=torch.float64`` for float64). With both in float32 the
    solves (the reference's by torch, MKL; ours by NumPy) round differently: its default
    cell agrees to 1e-8 relative per element over 20 steps (3.8e-9 measured), the
    ``solve_dtype="param"`` cells, against a float64 solve, to 1e-12.

    Defaults: ``lr=0.001, momentum=0.9, weight_decay=0.0, decoupled_weight_decay=True,
    max_size_triangular=8192, min_ndim_triangular=2, balance_prob=0.01,
    precondition_lr=0.1, precondition_init_scale=1.0`` — pytorch-optimizer's. Its 2-D use on
    a surface: the K runs' points as (1, 2) matrices (a diagonal and a 2 × 2 factor), one
    optimizer each.

    >>> w = np.zeros(2)
    >>> opt = PSGDKron(lr=0.1, momentum=0.0, update_probability=0.0)   # Q never refitted
    >>> opt.update(w, np.array([3.0, -4.0]))   # P = I: the step is g clipped to RMS 1.1
    >>> w.round(3).tolist()
    [-0.093, 0.124]
    """

    name = "psgd_kron"
    references = (
        Reference("pytorch_optimizer.Kron", {"solve_dtype": "param"}, note=_CELL_NOTE),
        Reference("pytorch_optimizer.Kron", {"solve_dtype": "param", "memory_save_mode": "one_diag",
                                             "weight_decay": 0.1},
                  {"memory_save_mode": "one_diag", "weight_decay": 0.1}, note=_CELL_NOTE),
        Reference("pytorch_optimizer.Kron", rtol=1e-8,
                  note="both float32 solves, MKL's and NumPy's: 3.8e-9 apart (measured); "
                  "precondition_dtype=torch.float64, given our random draws"),
    )
    lineage = Lineage(("momentum",), "Kronecker-factored P = QᵀQ fitted to random probes",
                      2024, "Li 2024")
    decays_in_rule = True
    equations: ClassVar[tuple[str, ...]] = (
        "m ← μ·m + (1 − μ)·g,   m̂ = m/(1 − μᵗ)",
        "refit (now and then): A = Q·m̂, B = Q⁻ᵀ·v (v ~ N(0, I)),   per axis",
        "Qᵢ ← Qᵢ − ηp·triu(AᵢAᵢᵀ − BᵢBᵢᵀ)·Qᵢ / ‖AᵢAᵢᵀ + BᵢBᵢᵀ‖",
        "d = QᵀQ·m̂ (RMS clipped to 1.1),   p ← p − η·(d + λ·p)",
    )

    lr = Optimizer.lr.replace(search=(1e-5, 0.1))
    momentum = Hyper(UNIT, "momentum μ", search=(0.5, 0.99))
    precondition_lr = Hyper(NONNEGATIVE, "ηp, the step of the factor refits", tunable=False)
    update_probability = Number(_PROBABILITY, "the probability of refitting the factors "
                                "(None: the reference's decaying schedule)", optional=True)
    balance_prob = Number(_PROBABILITY, "the probability of rebalancing a matrix's factors "
                          "at a refit")
    precondition_init_scale = Number(NONNEGATIVE, "the scale of Q at the start",
                                     fixed_once_started=True)
    max_size_triangular = Count(1, "the longest axis with a triangular factor",
                                fixed_once_started=True)
    min_ndim_triangular = Count(0, "the fewest axes a parameter needs for triangular factors",
                                fixed_once_started=True)
    memory_save_mode = Choice(("one_diag", "smart_one_diag", "all_diag"), "which axes get "
                              "diagonal factors (None: only those above)", optional=True,
                              fixed_once_started=True)
    momentum_into_precondition_update = Flag("refit the factors to m̂ (else to g)")
    solve_dtype = Choice(("float32", "param"), "the dtype of B = Q⁻ᵀv: the reference's "
                         "float32, or the parameter's")
    seed = Count(0, "the seed of the probe vectors and balancing draws")

    def __init__(self, lr: Any = 1e-3, momentum: Any = 0.9, weight_decay: Any = 0.0, *,
                 decoupled_weight_decay: bool = True, update_probability: float | None = None,
                 max_size_triangular: int = 8192, min_ndim_triangular: int = 2,
                 memory_save_mode: str | None = None,
                 momentum_into_precondition_update: bool = True, balance_prob: float = 0.01,
                 precondition_lr: Any = 0.1, precondition_init_scale: float = 1.0,
                 solve_dtype: str = "float32", seed: int = 0, maximize: bool = False,
                 **options: Any) -> None:
        super().__init__(lr, weight_decay, decoupled_weight_decay=decoupled_weight_decay,
                         maximize=maximize, **options)
        self.momentum = momentum
        self.precondition_lr = precondition_lr
        self.update_probability = update_probability
        self.balance_prob = balance_prob
        self.precondition_init_scale = precondition_init_scale
        self.max_size_triangular = max_size_triangular
        self.min_ndim_triangular = min_ndim_triangular
        self.memory_save_mode = memory_save_mode
        self.momentum_into_precondition_update = momentum_into_precondition_update
        self.solve_dtype = solve_dtype
        self.seed = seed

    def diagonal_axes(self, shape: tuple[int, ...]) -> list[bool]:
        """For each axis, whether its factor is a diagonal (a vector); a scalar has one."""
        if not shape:
            return [True]
        mode = self.memory_save_mode
        chosen = [mode == "all_diag"] * len(shape)
        largest = int(np.argsort(shape)[::-1][0])
        if mode == "one_diag" or (mode == "smart_one_diag" and len(shape) >= 2
                                  and sorted(shape)[-1] > sorted(shape)[-2]):
            chosen[largest] = True
        return [n == 1 or n > self.max_size_triangular or len(shape) < self.min_ndim_triangular
                or c for n, c in zip(shape, chosen)]

    def slot_shapes(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        """``buffer`` (the momentum) of the parameter's shape; ``Q{i}`` per axis: n × n, or
        n for a diagonal factor (a scalar: one number)."""
        out = {"buffer": shape}
        for i, diagonal in enumerate(self.diagonal_axes(shape)):
            n = shape[i] if shape else None
            out[f"Q{i}"] = () if n is None else (n,) if diagonal else (n, n)
        return out

    def init_globals(self) -> dict[str, Any]:
        return {"update_counter": 0.0}

    def begin_step(self, h: Any) -> None:
        count = h.t - 1
        prob = self.update_probability
        counter = self.globals["update_counter"] + 1
        if prob is None:  # the reference compares in float32: counter ≥ 1/p
            p32 = np.float32(update_probability(count))
            refit = bool(p32 > 0 and np.float32(counter) >= np.float32(1) / p32)
        else:
            refit = bool(prob > 0 and counter >= 1 / prob)
        self.globals["update_counter"] = 0.0 if refit else float(counter)
        h.draws = np.random.default_rng([self.seed, count])
        h.balance = bool(h.draws.random() < self.balance_prob) and refit
        h.refit = refit

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        diagonal = self.diagonal_axes(p.shape)
        qs = [state[f"Q{i}"] for i in range(len(diagonal))]
        if h.t == 1:
            scale = math.pow(self.precondition_init_scale, 1.0 / max(p.ndim, 1))
            for q, diag in zip(qs, diagonal):
                q[...] = scale * (np.ones(q.shape) if diag else np.eye(q.shape[0]))
        decay = p.ndim >= 2 and bool(np.any(h.weight_decay != 0))
        if decay and not self.decoupled_weight_decay:
            g = g + h.weight_decay * p
        m = state["buffer"]
        m *= h.momentum
        m += (1 - h.momentum) * g
        m_hat = m / (1.0 - math.pow(h.momentum, h.t))
        if p.ndim > 1 and h.balance:
            norms = [np.max(np.abs(q)) for q in qs]
            mean = np.prod(norms) ** (1 / len(qs))
            for q, n in zip(qs, norms):
                q *= mean / n
        if h.refit:
            probe = h.draws.standard_normal(p.shape)
            self.refit(qs, diagonal, probe, m_hat if self.momentum_into_precondition_update
                       else g, h.precondition_lr)
        d = m_hat
        for i, (q, diag) in enumerate(zip(qs, diagonal)):
            d = d * q * q if p.ndim == 0 else self.along(d, q, i, diag, twice=True)
        d = d * min(1.1 / (np.sqrt(np.mean(d * d)) + 1e-6), 1.0)
        if decay and self.decoupled_weight_decay:
            d = d + h.weight_decay * p
        p -= h.lr * d

    @staticmethod
    def along(x: np.ndarray, q: np.ndarray, axis: int, diagonal: bool,
              twice: bool = False) -> np.ndarray:
        """x with axis ``axis`` multiplied by Qᵢ (``twice``: by QᵢᵀQᵢ); a diagonal factor
        scales it."""
        if diagonal:
            shape = [1] * x.ndim
            shape[axis] = -1
            s = q.reshape(shape)
            return x * s * s if twice else x * s
        x = mode_product(x, q, axis)
        return mode_product(x, q.T, axis) if twice else x

    def refit(self, qs: list[np.ndarray], diagonal: list[bool], v: np.ndarray, h: np.ndarray,
              step: Any) -> None:
        """One step of the factors towards E[A Aᵀ] = E[B Bᵀ] (in place)."""
        order = h.ndim
        if order == 0:
            a, b = qs[0] * h, v / qs[0]
        else:
            a = h
            for i, (q, diag) in enumerate(zip(qs, diagonal)):
                a = self.along(a, q, i, diag)
            b = np.moveaxis(v, 0, -1)  # B = Q⁻ᵀv: each axis in turn on the last position
            for i, (q, diag) in enumerate(zip(qs, diagonal)):
                if diag:
                    b = b / q
                elif self.solve_dtype == "float32":
                    b = solve_right_upper(b.astype(np.float32), q.astype(np.float32))
                    b = b.astype(h.dtype)
                else:
                    b = solve_right_upper(b, q)
                if i < order - 1:
                    b = np.swapaxes(b, i, order - 1)
        for i, (q, diag) in enumerate(zip(qs, diagonal)):
            if order == 0:
                t1, t2 = a * a, b * b
            elif diag:
                others = tuple(k for k in range(order) if k != i)
                t1, t2 = np.sum(a * a, axis=others), np.sum(b * b, axis=others)
            else:
                t1, t2 = axis_statistic(a, i), axis_statistic(b, i)
            change = (t1 - t2) * step
            if diag:
                change = change * q / (np.max(np.abs(t1 + t2)) + TINY)
            else:
                change = (np.triu(change) / (norm_lower_bound(t1 + t2) + TINY)) @ q
            q -= change
