"""Muon: momentum, then the update orthogonalised by a Newton–Schulz iteration (matrices)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from .base import Optimizer
from .hyperparams import NONNEGATIVE, Choice, Count, Flag, Hyper, Numbers
from .lineage import Lineage
from .moments import lerp
from .registry import register
from .tree import flatten_params, show

#: PyTorch's quintic Newton–Schulz coefficients (a, b, c) and iteration count.
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
NS_STEPS = 5


def to_bfloat16(x: np.ndarray) -> np.ndarray:
    """``x`` rounded to bfloat16 (to nearest, ties to even) and held in float32."""
    bits = np.ascontiguousarray(x, dtype=np.float32).reshape(np.shape(x)).view(np.uint32)
    rounded = (bits + (np.uint32(0x7FFF) + ((bits >> 16) & 1))) & np.uint32(0xFFFF0000)
    out = rounded.view(np.float32)
    return np.where(np.isnan(x), np.float32(np.nan), out)


def newton_schulz(x: np.ndarray, steps: int = NS_STEPS,
                  coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
                  eps: float = 1e-7, bfloat16: bool = False) -> np.ndarray:
    r"""The approximate orthogonalisation of a matrix (its "zeroth power" U Vᵀ, roughly):
    X ← X/max(‖X‖_F, ε), then ``steps`` times A = X Xᵀ, B = bA + cA², X ← aX + BX (on the
    wide orientation: a tall matrix is transposed first and back after). Leading axes are a
    stack of matrices, each orthogonalised on its own (batched products; each matrix gets the
    bits it gets alone, tests/test_lab_matrix_sweeps.py), ``eps`` a number or an array that
    broadcasts against the stack's norms (one per matrix).

    ``bfloat16=True`` rounds every intermediate to bfloat16 where PyTorch's Muon does, the
    norm included (PyTorch's ``norm()`` of a bfloat16 matrix is a bfloat16 number, and the
    matrix is divided by it). Matrix products accumulate in float32, in an order that is not
    PyTorch's, so now and then one rounding falls the other way and spreads: of 200 random
    float32 matrices, 26 differ from torch's result and 174 are equal bit for bit
    (tests/test_torch_optim_db.py).

    >>> q = newton_schulz(np.array([[3.0, 0.0], [0.0, 0.5]]))
    >>> bool(np.all(np.abs(np.diag(q) - 1) < 0.35)), float(q[0, 1])
    (True, 0.0)
    """
    a, b, c = coefficients
    r = to_bfloat16 if bfloat16 else (lambda y: y)
    tall = x.shape[-2] > x.shape[-1]
    y = r(np.swapaxes(x, -1, -2) if tall else x)
    norm = r(np.sqrt(np.sum(y * y, axis=(-2, -1), keepdims=True)))
    y = r(y / r(np.maximum(norm, eps)))  # torch: a bfloat16 norm, clamped
    for _ in range(steps):
        gram = r(y @ np.swapaxes(y, -1, -2))
        poly = r(b * gram + c * (gram @ gram))
        y = r(a * y + poly @ y)
    return np.swapaxes(y, -1, -2) if tall else y


@register
class Muon(Optimizer):
    r"""Muon (Jordan et al. 2024, "Muon: An optimizer for hidden layers in neural networks";
    Liu et al. 2025, "Muon is Scalable for LLM Training"), PyTorch's form.

    .. math::
        B_t = \mu B_{t-1} + (1 - \mu)\, g_t, \qquad
        \tilde B_t = \begin{cases} g_t + \mu (B_t - g_t) & \text{nesterov}\\
                     B_t & \text{otherwise}\end{cases} \\
        O_t = \mathrm{NS}^{(a,b,c)}_k(\tilde B_t), \qquad
        p_t = p_{t-1}(1 - \eta\lambda) - \eta\, s(A, B)\, O_t

    (PyTorch's code averages the buffer, ``lerp``, where its docstring says B = μB + g; this
    follows the code.) NS is :func:`newton_schulz`; s is ``adjust_lr_fn``: ``"original"``
    (Keller Jordan's, default) √max(1, A/B), ``"match_rms_adamw"`` (Moonshot's) 0.2·√max(A, B),
    for a parameter of shape (A, B). Weight decay is decoupled (always, as PyTorch).

    Only 2-D parameters: like ``torch.optim.Muon`` (which refuses them at construction), an
    update with a scalar, vector or higher-dimensional leaf is an error naming it, before
    anything changes; optimize biases and embeddings with another optimizer (AdamW).

    ``ns_dtype="bfloat16"`` (default) runs the iteration in bfloat16 as PyTorch does: on
    PyTorch's own 7 Muon test configurations (``optim_db``), 50 steps of a 5×3 float64 matrix
    end within 2e-5 of torch's, relative to the distance travelled; 5 of the 7 within 1e-10
    (tests/test_torch_optim_db.py measures both).
    ``"param"`` runs it in the parameter's dtype (exact float64 arithmetic: equal to PyTorch's
    iteration done without its bfloat16 cast, to 1e-12).

    Defaults: ``lr=0.001, weight_decay=0.1, momentum=0.95, nesterov=True,
    ns_coefficients=(3.4445, -4.775, 2.0315), eps=1e-7, ns_steps=5`` — ``torch.optim.Muon``.

    >>> w = np.eye(2)
    >>> Muon(lr=0.1, weight_decay=0.0, ns_dtype="param").update(w, np.diag([4.0, 1.0]))
    >>> bool(abs(w[0, 0] - w[1, 1]) < 0.07)   # orthogonalised: both directions step alike
    True
    """

    name = "muon"
    lineage = Lineage(("nesterov",), "orthogonalisation (Newton–Schulz)", 2024,
                      "Jordan et al. 2024")
    slots = ("buffer",)
    option_names = ("nesterov", "ns_coefficients", "ns_steps", "adjust_lr_fn", "ns_dtype")
    nesterov = Flag("Nesterov's momentum B̃ = g + μ·(B − g) (torch's default)")
    adjust_lr_fn = Choice(("original", "match_rms_adamw"), "the step scale s(A, B): torch's "
                          "original √max(1, A/B), or 0.2·√max(A, B) to match AdamW's RMS")
    ns_coefficients = Numbers(3, "the quintic Newton–Schulz coefficients (a, b, c)")
    ns_steps = Count(0, "Newton–Schulz iterations", maximum=99)
    ns_dtype = Choice(("bfloat16", "param"), "the Newton–Schulz arithmetic: torch's bfloat16, "
                      "or the parameters' dtype (exact comparisons)")
    equations = ("B ← μ·B + (1 − μ)·g,   B̃ = g + μ·(B − g) (nesterov) or B",
                 "O = NS(B̃): X ← B̃/‖B̃‖, k times X ← aX + (b·XXᵀ + c·(XXᵀ)²)X",
                 "p ← p·(1 − η·λ) − η·s(A, B)·O,   s = √max(1, A/B)")

    momentum = Hyper(NONNEGATIVE, "momentum factor μ", search=(0.8, 0.99))
    eps = Hyper(NONNEGATIVE, "ε, the smallest norm the iteration divides by", tunable=False)

    def __init__(self, lr: Any = 0.001, weight_decay: Any = 0.1, momentum: Any = 0.95,
                 nesterov: bool = True, ns_coefficients: tuple[float, float, float] = (
                     NS_COEFFICIENTS), eps: Any = 1e-7, ns_steps: int = NS_STEPS,
                 adjust_lr_fn: str | None = None, *, ns_dtype: str = "bfloat16",
                 maximize: bool = False, **options: Any) -> None:
        options.setdefault("decoupled_weight_decay", True)
        super().__init__(lr, weight_decay, maximize=maximize, **options)
        self.momentum = momentum
        self.eps = eps
        self.nesterov = nesterov
        self.ns_coefficients = ns_coefficients  # (a list: options are saved as JSON)
        self.ns_steps = ns_steps
        self.adjust_lr_fn = "original" if adjust_lr_fn is None else adjust_lr_fn
        self.ns_dtype = ns_dtype

    stacks_runs = True  # K runs' matrices as one (K, A, B) stack: batched products

    def update(self, params: Any, grads: Any) -> None:
        for leaf in flatten_params(params):
            if np.ndim(leaf.array) != 2 + self.leading_runs:
                raise InputError(
                    f"Muon updates 2-D parameters only, and {show(leaf.path)} has shape "
                    f"{np.shape(leaf.array)}; optimize it with another optimizer (AdamW)")
        super().update(params, grads)

    def lr_scale(self, shape: tuple[int, ...]) -> float:
        """s(A, B) of ``adjust_lr_fn`` for a parameter of shape (A, B) (or a stack of them,
        (K, A, B))."""
        rows, cols = shape[-2:]
        if self.adjust_lr_fn == "original":
            return max(1, rows / cols) ** 0.5
        return 0.2 * max(rows, cols) ** 0.5

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        b = lerp(state["buffer"], g, 1 - h.momentum)  # B = μB + (1 − μ)g
        direction = g + h.momentum * (b - g) if self.nesterov else b
        o = newton_schulz(direction, self.ns_steps, self.ns_coefficients, h.eps,
                          bfloat16=self.ns_dtype == "bfloat16")
        p -= (h.lr * self.lr_scale(p.shape)) * o.astype(p.dtype, copy=False)
