"""Cautious optimizers: C-AdamW and C-Lion, the step masked where it disagrees with g."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .adam import AdamFamily
from .hyperparams import Choice, Flag
from .lineage import Lineage
from .lion import Lion
from .moments import bias_correction, ema, ema_square, scalar_sqrt
from .references import Reference
from .registry import register

#: The mask's scale: the paper's ``d/(nnz + 1)`` or timm's ``1/max(nnz/d, 1e-3)``.
MASK_SCALES = ("count", "mean")
_MASK_SCALE_TEXT = ("rescale the mask by d/(nnz + 1) (the paper, pytorch-optimizer) or "
                    "1/max(nnz/d, 0.001) (timm)")


def cautious_mask(update: np.ndarray, g: np.ndarray, scale: str = "count",
                  runs: int = 0) -> np.ndarray:
    r"""The cautious mask of one parameter array: :math:`\phi = [u \odot g > 0]`, rescaled so
    the step keeps its size, :math:`\phi\, d/(\lVert\phi\rVert_0 + 1)` (``scale="count"``,
    the paper) or :math:`\phi / \max(\lVert\phi\rVert_0/d,\ 10^{-3})` (``"mean"``, timm);
    d is the array's size. ``runs=1``: the first axis holds runs, one mask each (the same
    bits as each alone: the count is a whole number).

    >>> cautious_mask(np.array([1.0, -2.0, 3.0]), np.array([0.5, 0.5, 0.5])).tolist()
    [1.0, 0.0, 1.0]
    >>> cautious_mask(np.array([1.0, -2.0]), np.array([0.5, 0.5]), "mean").tolist()
    [2.0, 0.0]
    """
    mask = (update * g > 0).astype(np.result_type(update, g))
    if runs:
        axes = tuple(range(runs, mask.ndim))
        count, size = np.sum(mask, axis=axes, keepdims=True), mask[0].size
    else:
        count, size = float(np.sum(mask)), mask.size
    if scale == "count":
        return mask * (size / (count + 1))
    if runs:
        return mask / np.maximum(count / size, 1e-3)
    return mask / max(count / size, 1e-3)  # a Python float: a float32 mask stays float32


@register
class CAdamW(AdamFamily):
    r"""C-AdamW, cautious AdamW (Liang, Chen, Liu & Liu, "Cautious Optimizers: Improving
    Training with One Line of Code", arXiv:2411.16085, 2024).

    AdamW's step, kept only in the coordinates where it agrees in sign with the current
    gradient, and rescaled per parameter array (of size d) by the mask's count:

    .. math::
        p \leftarrow p\,(1 - \eta\lambda), \quad
        m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \quad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2 \\
        \phi_t = [m_t \odot g_t > 0]\,\frac{d}{\lVert\phi_t\rVert_0 + 1}, \qquad
        p_t = p - \frac{\eta}{1 - \beta_1^t}\,
              \frac{\phi_t \odot m_t}{\sqrt{v_t}/\sqrt{1 - \beta_2^t} + \epsilon}

    ``mask_scale="mean"`` rescales by :math:`1/\max(\lVert\phi\rVert_0/d, 10^{-3})` instead
    (timm's ``caution=True``); ``amsgrad=True`` uses the running maximum of v. The mask
    needs the whole array, so the rule runs per array (no blocks; its fused kernel makes
    two passes, counting the mask first).

    Defaults: ``lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01`` —
    ``torch.optim.AdamW``'s and timm's. With ``mask_scale="mean"`` it equals
    ``timm.optim.AdamWLegacy(params, lr, betas=(beta1, beta2), eps=eps, weight_decay=...,
    amsgrad=..., caution=True)``.

    >>> params = {"w": np.array([1.0, 1.0])}
    >>> opt = CAdamW(lr=0.1, weight_decay=0.0)
    >>> opt.update(params, {"w": np.array([2.0, -2.0])})  # both agree: φ = 2/3 each
    >>> np.round(params["w"], 6).tolist()
    [0.933333, 1.066667]
    """

    name = "cadamw"
    stacks_runs = True  # a sweep's runs as one stack: one mask per run
    lineage = Lineage(("adamw",), "mask steps against the gradient", 2024, "Liang et al. 2024")
    references = (
        Reference("timm.optim.adamw.AdamWLegacy", {"mask_scale": "mean"},
                  {"caution": True, "foreach": False}),
    )
    amsgrad = Flag("use the running maximum of v (AMSGrad)")
    mask_scale = Choice(MASK_SCALES, _MASK_SCALE_TEXT)
    kernel = "cadamw"  # two passes: count the mask, then step (optim/fused/steps_cautious.py)
    nonnegative_slots = ("v", "v_max")
    equations: ClassVar[tuple[str, ...]] = (
        "p ← p·(1 − η·λ),   m ← β1·m + (1 − β1)·g,   v ← β2·v + (1 − β2)·g²",
        "φ = [m·g > 0]·d/(nnz(φ) + 1)   (per array)",
        "p ← p − η/(1 − β1ᵗ)·φ·m/(√v/√(1 − β2ᵗ) + ε)",
    )

    def __init__(self, lr: Any = 0.001, beta1: Any = 0.9, beta2: Any = 0.999, eps: Any = 1e-8,
                 weight_decay: Any = 0.01, amsgrad: bool = False, *, mask_scale: str = "count",
                 maximize: bool = False, **options: Any) -> None:
        options.setdefault("decoupled_weight_decay", True)
        super().__init__(lr, beta1, beta2, eps, weight_decay, maximize=maximize, **options)
        self.amsgrad = amsgrad
        self.mask_scale = mask_scale

    @property
    def slots(self) -> tuple[str, ...]:  # type: ignore[override]
        """``m``, ``v`` and, with AMSGrad, ``v_max``."""
        return ("m", "v", "v_max") if self.amsgrad else ("m", "v")

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        m = ema(state["m"], g, h.beta1)  # m = β1·m + (1 − β1)·g
        v = ema_square(state["v"], g, h.beta2)  # v = β2·v + (1 − β2)·g²
        if self.amsgrad:
            v = np.maximum(state["v_max"], v, out=state["v_max"])
        denom = np.sqrt(v) / scalar_sqrt(bias_correction(h.beta2, h.t)) + h.eps
        masked = m * cautious_mask(m, g, self.mask_scale, runs=int(self.leading_runs))
        p -= (h.lr / bias_correction(h.beta1, h.t)) * (masked / denom)


@register
class CLion(Lion):
    r"""C-Lion, cautious Lion (Liang, Chen, Liu & Liu, "Cautious Optimizers: Improving
    Training with One Line of Code", arXiv:2411.16085, 2024), pytorch-optimizer's
    ``Lion(cautious=True)``.

    Lion's sign step (:class:`~descentlab.optim.Lion`), kept only where it agrees in sign
    with the current gradient, rescaled per parameter array of size d:

    .. math::
        c_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
        u_t = \operatorname{sign}(c_t), \qquad
        \phi_t = [u_t \odot g_t > 0]\,\frac{d}{\lVert\phi_t\rVert_0 + 1} \\
        p_t = p_{t-1}\,(1 - \eta\lambda) - \eta\, \phi_t \odot u_t, \qquad
        m_t = \beta_2 m_{t-1} + (1 - \beta_2)\, g_t

    ``mask_scale="mean"`` is timm's ``Lion(caution=True)``; ``mode`` is Lion's.

    Defaults: ``lr=0.0001, beta1=0.9, beta2=0.99, weight_decay=0.001`` — Lion's. Equals
    ``pytorch_optimizer.Lion(params, lr, betas=(beta1, beta2), weight_decay=...,
    cautious=True)`` and, with ``mask_scale="mean"``, ``timm.optim.Lion(params, lr,
    betas=(beta1, beta2), weight_decay=..., caution=True)``.

    >>> params = {"w": np.array([1.0, 1.0, 1.0])}
    >>> opt = CLion(lr=0.1, weight_decay=0.0)
    >>> opt.update(params, {"w": np.array([2.0, -2.0, 2.0])})  # φ = 3/4 each
    >>> np.round(params["w"], 6).tolist()
    [0.925, 1.075, 0.925]
    """

    name = "clion"
    stacks_runs = True  # a sweep's runs as one stack: one mask per run
    lineage = Lineage(("lion",), "mask steps against the gradient", 2024, "Liang et al. 2024")
    references = (
        Reference("pytorch_optimizer.Lion",
                  theirs={"weight_decay": 1e-3, "cautious": True, "foreach": False}),
        Reference("timm.optim.lion.Lion", {"mask_scale": "mean"},
                  {"weight_decay": 1e-3, "caution": True, "foreach": False}),
    )
    mask_scale = Choice(MASK_SCALES, _MASK_SCALE_TEXT)
    kernel = "clion"  # two passes: count the mask, then step (optim/fused/steps_cautious.py)
    equations: ClassVar[tuple[str, ...]] = (
        "c = β1·m + (1 − β1)·g,   u = sign(c),   φ = [u·g > 0]·d/(nnz(φ) + 1)   (per array)",
        "p ← p − η·(φ·u + λ·p)",
        "m ← β2·m + (1 − β2)·g",
    )

    def __init__(self, lr: Any = 1e-4, beta1: Any = 0.9, beta2: Any = 0.99,
                 weight_decay: Any = 1e-3, *, mask_scale: str = "count", mode: str = "hard",
                 smooth_beta: Any = 1.0, maximize: bool = False, **options: Any) -> None:
        super().__init__(lr, beta1, beta2, weight_decay, mode=mode, smooth_beta=smooth_beta,
                         maximize=maximize, **options)
        self.mask_scale = mask_scale

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        m = state["m"]
        u = self.direction((1 - h.beta1) * g + h.beta1 * m, h)  # c = β1·m + (1 − β1)·g
        p -= h.lr * (u * cautious_mask(u, g, self.mask_scale, runs=int(self.leading_runs)))
        ema(m, g, h.beta2)  # m = β2·m + (1 − β2)·g
