"""Fromage: a step of relative size η, then a shrink that keeps the norm from growing."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .base import Optimizer
from .hyperparams import NONNEGATIVE, Hyper
from .lineage import Lineage
from .references import Reference
from .registry import register


@register
class Fromage(Optimizer):
    r"""Fromage, frobenius matched gradient descent (Bernstein, Vahdat, Yue & Liu, "On the
    distance between two neural networks and the stability of learning", NeurIPS 2020;
    arXiv:2002.03432), optax's ``optax.fromage``.

    For each parameter array, with :math:`n(x) = \max(\lVert x\rVert, n_{\min})`:

    .. math::
        r_t = \frac{n(p_{t-1})}{n(g_t)} \quad (1 \text{ if either is } 0), \qquad
        p_t = \frac{p_{t-1} - \eta\, r_t\, g_t}{\sqrt{1 + \eta^2}}

    Each step changes an array by η relative to its norm; the division by √(1 + η²)
    undoes the growth of the norm that the (orthogonal) step would cause. The norms are over
    the whole array: K runs stacked as the rows of one array would share them.

    Defaults: ``lr=0.01, min_norm=1e-6, weight_decay=0.0`` — optax's ``min_norm`` (the
    paper's rate is 0.01; optax has no default). Equals ``optax.fromage(lr, min_norm)``.

    >>> params = {"w": np.array([3.0, 4.0])}
    >>> opt = Fromage(lr=0.75)
    >>> opt.update(params, {"w": np.array([0.0, 10.0])})   # r = 1/2: (3, 4 − 3.75)/1.25
    >>> params["w"]
    array([2.4, 0.2])
    """

    name = "fromage"
    lineage = Lineage(("lars",), "relative step, norm kept", 2020, "Bernstein et al. 2020")
    references = (
        Reference("optax.fromage", theirs={"learning_rate": 0.01}),
    )
    equations: ClassVar[tuple[str, ...]] = (
        "r = max(‖p‖, n_min) / max(‖g‖, n_min)   (1 if a norm is 0)",
        "p ← (p − η·r·g) / √(1 + η²)",
    )

    lr = Optimizer.lr.replace(search=(1e-4, 1.0))
    min_norm = Hyper(NONNEGATIVE, "least norm n_min of the parameter and the gradient",
                     tunable=False)

    def __init__(self, lr: Any = 0.01, min_norm: Any = 1e-6, weight_decay: Any = 0.0, *,
                 maximize: bool = False, **options: Any) -> None:
        super().__init__(lr, weight_decay, maximize=maximize, **options)
        self.min_norm = min_norm

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        p_norm = np.maximum(np.sqrt(np.sum(p * p)), h.min_norm)
        g_norm = np.maximum(np.sqrt(np.sum(g * g)), h.min_norm)
        ratio = 1.0 if p_norm == 0 or g_norm == 0 else p_norm / g_norm
        shrink = 1 / np.sqrt(1 + h.lr * h.lr)
        p -= h.lr * (ratio * g)
        p *= shrink
