"""Scion: momentum, then the linear minimisation oracle of a norm chosen per layer."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from .base import Optimizer
from .hyperparams import NONNEGATIVE, POSITIVE, Check, Choice, Count, Flag, Hyper
from .lineage import Lineage
from .moments import lerp
from .muon import NS_COEFFICIENTS, newton_schulz, to_bfloat16
from .references import Reference
from .registry import register
from .tree import flatten_params, show

#: The norms (their oracles) and the parameter dimensions each takes.
NORMS: dict[str, tuple[int, int]] = {
    "auto": (0, 4), "bias_rms": (0, 32), "spectral": (2, 2), "spectral_conv": (2, 32),
    "sign": (2, 32), "col": (2, 2), "row": (1, 32), "identity": (0, 32),
}
#: ε of the Newton–Schulz iteration's norm (pytorch-optimizer's default there).
NS_EPS = 1e-7


@register
class Scion(Optimizer):
    r"""Scion (Pethick, Xie, Erdogan, Antonakopoulos, Silveti-Falls & Cevher, "Training Deep
    Learning Models with Norm-Constrained LMOs", arXiv:2502.07529, 2025), pytorch-optimizer's
    ``SCION``.

    An average of the gradients, then the linear minimisation oracle (LMO) of a norm ball of
    radius ``scale`` — the steepest direction in that norm — as the step:

    .. math::
        d_t = (1 - \alpha)\, d_{t-1} + \alpha\, g_t, \qquad
        u_t = \rho\, \mathrm{lmo}_{\lVert\cdot\rVert}(d_t) \\
        p_t = p_{t-1} - \eta\, u_t \quad\text{(unconstrained)}, \qquad
        p_t = (1 - \eta)\, p_{t-1} - \eta\, u_t \quad\text{(``constraint=True``)}

    (α = ``momentum`` is the weight of the *new* gradient; ρ = ``scale``.) The oracles
    (``norm``), for a gradient average D of shape (A, B, ...):

    * ``"spectral"`` (2-D): :math:`s\,\mathrm{NS}_k(D)` — Muon's Newton–Schulz
      orthogonalisation (:func:`~descentlab.optim.muon.newton_schulz`, ``ns_steps``),
      :math:`s = \sqrt{A/B}` (``normalized``) or :math:`\sqrt{A}`, at least 1 with
      ``max_scale``;
    * ``"spectral_conv"`` (≥ 2-D): :math:`\mathrm{NS}_k(D_{A \times \cdot})\sqrt{A/B}/K`,
      K the product of the kernel dimensions;
    * ``"sign"`` (≥ 2-D): :math:`\operatorname{sign}(D)/B` (``normalized``) or sign(D);
    * ``"col"`` (2-D): each column divided by its RMS over the A rows (times B with
      ``normalized``); ``"row"``: each row divided by its norm (times √B with
      ``normalized``); ``transpose`` swaps the first two axes first (embeddings stored
      (vocabulary, dimension));
    * ``"bias_rms"``: :math:`D/(\mathrm{RMS}_0(D) + \epsilon)`, the RMS over the first axis;
    * ``"identity"``: D itself (pytorch-optimizer's ``LMONorm.NONE``);
    * ``"auto"`` (default): ``bias_rms`` for scalars and vectors, ``spectral`` for
      matrices, ``spectral_conv`` for 3-D and 4-D arrays.

    ε = ``eps`` (1e-8) keeps the col, row and bias_rms divisions finite. One optimizer has
    one norm; per-layer norms and radii are parameter groups,
    ``Groups(Scion(...), {"lm_head/*": {"norm": "sign", "scale": 3000.0}})``
    (:class:`~descentlab.optim.Groups`, pytorch-optimizer's param groups).
    ``ns_dtype="bfloat16"`` (default) rounds where pytorch-optimizer does (the
    iteration, and the products by s and ρ after it); ``"param"`` computes in the parameter's
    dtype (what the float64 comparison uses). Weight decay (``decoupled_weight_decay=True``:
    :math:`p(1 - \eta\lambda)`, pytorch-optimizer's default; ``False``: λp added to g before
    the average) applies only without ``constraint`` (pytorch-optimizer's; the constrained
    form has its own shrinkage 1 − η). pytorch-optimizer's ``init()`` (the initialisation
    that matches each norm) is not offered: this is the update alone.

    Defaults: ``lr=0.001, momentum=0.1, scale=1, weight_decay=0, eps=1e-8, ns_steps=5`` —
    pytorch-optimizer's. Equals ``pytorch_optimizer.SCION(params, lr, momentum, constraint,
    norm_type=LMONorm.<norm>, norm_kwargs=..., scale=scale, weight_decay=...,
    weight_decouple=..., foreach=False)``; its ``Col`` defaults to ``normalized=False``
    where this class's one ``normalized`` flag is ``True``.

    >>> w = np.zeros(2)
    >>> Scion(lr=0.1).update(w, np.array([3.0, -4.0]))   # bias_rms: g/RMS(g), RMS = √12.5
    >>> np.round(w, 6).tolist()
    [-0.084853, 0.113137]
    """

    name = "scion"
    references = (
        Reference("pytorch_optimizer.SCION", {"ns_dtype": "param"}, {"foreach": False},
                  note="its Newton–Schulz iteration in float64"),
    )
    lineage = Lineage(("muon",), "LMO of a norm chosen per layer", 2025, "Pethick et al. 2025")
    slots = ("d",)
    decays_in_rule = True
    stacks_runs = True  # K runs' arrays as one stack: the oracles along the runs' own axes
    equations: ClassVar[tuple[str, ...]] = (
        "d ← (1 − α)·d + α·g",
        "u = ρ·lmo(d): spectral s·NS(d) | sign(d)/B | d/RMS (col, row, bias_rms) | d",
        "p ← p − η·u,   or p ← (1 − η)·p − η·u (constraint)",
    )

    norm = Choice(tuple(NORMS), "the norm whose linear minimisation oracle is the step")
    constraint = Flag("stay in the norm ball: p ← (1 − η)·p − η·u (conditional gradient)")
    normalized = Flag("scale the oracle to the layer's dimensions (spectral √(A/B), sign "
                      "1/B, col ×B, row ×√B)")
    transpose = Flag("col/row: swap the first two axes first (embeddings)")
    max_scale = Flag("spectral: at least 1 as the dimension scale")
    ns_steps = Count(0, "Newton–Schulz iterations", maximum=99)
    ns_dtype = Choice(("bfloat16", "param"), "the Newton–Schulz arithmetic: bfloat16 as "
                      "pytorch-optimizer, or the parameters' dtype")

    momentum = Hyper(Check(0.0, 1.0, True, False), "α, the weight of the new gradient in "
                     "the average (1 − the usual momentum)", search=(0.01, 0.5),
                     search_log=True)
    scale = Hyper(POSITIVE, "ρ, the radius of the norm ball (the step's scale)",
                  tunable=False)
    eps = Hyper(NONNEGATIVE, "ε of the col, row and bias_rms divisions", tunable=False)

    def __init__(self, lr: Any = 1e-3, momentum: Any = 0.1, constraint: bool = False,
                 norm: str = "auto", scale: Any = 1.0, weight_decay: Any = 0.0, *,
                 normalized: bool = True, transpose: bool = False, max_scale: bool = False,
                 ns_steps: int = 5, eps: Any = 1e-8, ns_dtype: str = "bfloat16",
                 maximize: bool = False, **options: Any) -> None:
        options.setdefault("decoupled_weight_decay", True)  # pytorch-optimizer's default
        super().__init__(lr, weight_decay, maximize=maximize, **options)
        self.momentum = momentum
        self.scale = scale
        self.eps = eps
        self.norm = norm
        self.constraint = constraint
        self.normalized = normalized
        self.transpose = transpose
        self.max_scale = max_scale
        self.ns_steps = ns_steps
        self.ns_dtype = ns_dtype

    def update(self, params: Any, grads: Any) -> None:
        low, high = NORMS[self.norm]
        if self.transpose and self.norm in ("col", "row"):
            low = high = 2
        for leaf in flatten_params(params):  # before anything changes
            ndim = np.ndim(leaf.array) - self.leading_runs
            if not low <= ndim <= high:
                want = f"{low}" if low == high else f"{low} to {high}"
                raise InputError(
                    f"Scion's {self.norm!r} norm takes arrays of {want} dimensions, and "
                    f"{show(leaf.path)} has shape {np.shape(leaf.array)}; give it another "
                    "norm in a parameter group (optim.Groups)")
        super().update(params, grads)

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        if not self.constraint and np.any(h.weight_decay != 0):
            if self.decoupled_weight_decay:
                p *= 1 - h.weight_decay * h.lr
            else:
                g = g + h.weight_decay * p
        d = lerp(state["d"], g, h.momentum)  # d = (1 − α)·d + α·g
        u = self.oracle(d, h)
        if self.constraint:
            p *= 1 - h.lr
        p -= h.lr * u

    def oracle(self, d: np.ndarray, h: Any) -> np.ndarray:
        """ρ·lmo(d) of the chosen norm (``auto`` by d's dimensions); with
        :attr:`leading_runs`, of each run's array ``d[k]`` (axis 0 holds the runs)."""
        lead = int(self.leading_runs)
        shape, norm = d.shape[lead:], self.norm
        if norm == "auto":
            norm = "bias_rms" if len(shape) < 2 else (
                "spectral" if len(shape) == 2 else "spectral_conv")
        if norm in ("spectral", "spectral_conv"):
            return self.orthogonalised(d, shape, norm, h.scale)
        if norm == "sign":
            u = np.sign(d) / shape[1] if self.normalized else np.sign(d)
        elif norm in ("col", "row"):
            x = np.swapaxes(d, lead, lead + 1) if self.transpose else d
            if norm == "col":
                rms = np.sqrt(np.sum(x * x, axis=lead, keepdims=True)) / math.sqrt(
                    x.shape[lead])
                if self.normalized:
                    rms = rms * x.shape[lead + 1]
            else:
                rms = np.sqrt(np.sum(x * x, axis=-1, keepdims=True))
                if self.normalized:
                    rms = rms * math.sqrt(x.shape[-1])
            u = x / (rms + h.eps)
            u = np.swapaxes(u, lead, lead + 1) if self.transpose else u
        elif norm == "bias_rms":
            rms = np.sqrt(np.mean(d * d, axis=lead, keepdims=True)) if shape else np.abs(d)
            u = d / (rms + h.eps)
        else:
            u = d.copy()
        return u * h.scale

    def orthogonalised(self, d: np.ndarray, shape: tuple[int, ...], norm: str,
                       radius: Any) -> np.ndarray:
        """ρ·s·NS(d seen as (A, rest)), rounded as pytorch-optimizer with bfloat16 (a stack
        of them with :attr:`leading_runs`, ``shape`` a run's)."""
        bf16 = self.ns_dtype == "bfloat16"
        r = to_bfloat16 if bf16 else (lambda y: y)
        stack = d.reshape(*d.shape[:d.ndim - len(shape)], shape[0], -1)
        o = newton_schulz(stack, self.ns_steps, NS_COEFFICIENTS, NS_EPS,
                          bfloat16=bf16).reshape(d.shape)
        rows, cols = shape[:2]
        if norm == "spectral_conv":
            s = math.sqrt(rows / cols) / math.prod(shape[2:])
        else:
            s = math.sqrt(rows / cols) if self.normalized else math.sqrt(rows)
            s = max(1.0, s) if self.max_scale else s
        return r(r(o * s) * radius).astype(d.dtype, copy=False)
