"""SM3: AdaGrad with one accumulator per row, column, ... instead of one per entry."""

from __future__ import annotations

from functools import reduce
from typing import Any, ClassVar

import numpy as np

from .base import Optimizer
from .hyperparams import UNIT, Hyper
from .lineage import Lineage
from .references import Reference
from .registry import register


@register
class SM3(Optimizer):
    r"""SM3, square-root of minima of sums of maxima of squared-gradients (Anil, Gupta,
    Koren & Singer, "Memory-Efficient Adaptive Optimization", NeurIPS 2019;
    arXiv:1901.11150), optax's ``optax.sm3``.

    For a parameter of shape :math:`(n_1, \dots, n_d)` the state is one vector
    :math:`\mu^{(i)}` of length :math:`n_i` per axis (a 0-d or 1-d parameter: one
    accumulator per entry, AdaGrad's):

    .. math::
        a_t = g_t^2 + \min_i \mu^{(i)}_{t-1} \ (\text{broadcast along axis } i), \qquad
        \mu^{(i)}_t = \max_{\text{axes} \ne i} a_t \\
        u_t = \begin{cases} g_t / \sqrt{a_t + \epsilon} & a_t > 0 \\ 0 & \text{else}
        \end{cases}, \qquad
        m_t = \beta\, m_{t-1} + (1 - \beta)\, u_t, \qquad p_t = p_{t-1} - \eta\, m_t

    The state of an (n, k) matrix is n + k numbers, not n·k. ε = 1e-8 is optax's, fixed.
    optax refuses 0-d parameters; here a scalar is a vector of one entry.

    Defaults: ``lr=0.1, momentum=0.9, weight_decay=0.0`` — optax's momentum (optax has no
    default rate). Equals ``optax.sm3(lr, momentum)``.

    >>> params = {"w": np.array([[1.0, 1.0], [1.0, 1.0]])}
    >>> opt = SM3(lr=1.0, momentum=0.0)
    >>> opt.update(params, {"w": np.array([[3.0, 0.0], [0.0, 4.0]])})   # u = sign(g)
    >>> np.round(params["w"], 6)
    array([[0., 1.],
           [1., 0.]])
    """

    name = "sm3"
    lineage = Lineage(("adagrad",), "one accumulator per row and column", 2019,
                      "Anil et al. 2019")
    references = (
        Reference("optax.sm3", theirs={"learning_rate": 0.1}),
    )
    slots = ("m", "acc")
    nonnegative_slots = ("acc",)
    equations: ClassVar[tuple[str, ...]] = (
        "a = g² + minᵢ μᵢ (each along its axis),   μᵢ ← max of a over the other axes",
        "u = g / √(a + ε)   (0 where a = 0),   m ← β·m + (1 − β)·u",
        "p ← p − η·m",
    )

    lr = Optimizer.lr.replace(search=(1e-4, 1.0))
    momentum = Hyper(UNIT, "decay β of the average of the normalised gradients",
                     search=(0.0, 0.99))

    #: optax's ε inside the root (not an argument of optax.sm3).
    EPS: ClassVar[float] = 1e-8

    def __init__(self, lr: Any = 0.1, momentum: Any = 0.9, weight_decay: Any = 0.0, *,
                 maximize: bool = False, **options: Any) -> None:
        super().__init__(lr, weight_decay, maximize=maximize, **options)
        self.momentum = momentum

    def slot_shapes(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        """``m`` of the parameter's shape; ``acc`` holds the accumulators of every axis one
        after the other (n₁ + … + n_d numbers; a 0-d or 1-d parameter: its own shape)."""
        return {"m": shape, "acc": shape if len(shape) < 2 else (sum(shape),)}

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        acc, d = state["acc"], g.ndim
        if d < 2:
            a = g * g + acc
            acc[...] = a
        else:
            starts = np.cumsum((0, *g.shape))
            mus = [acc[starts[i]:starts[i + 1]].reshape([1] * i + [n] + [1] * (d - i - 1))
                   for i, n in enumerate(g.shape)]
            a = g * g + reduce(np.minimum, mus)
            for i in range(d):
                acc[starts[i]:starts[i + 1]] = a.max(axis=tuple(k for k in range(d) if k != i))
        safe = np.where(a > 0, a, 1.0)
        u = np.where(a > 0, g / np.sqrt(safe + self.EPS), 0.0)
        m = state["m"]
        m[...] = (1 - h.momentum) * u + h.momentum * m  # m = β·m + (1 − β)·u
        p -= h.lr * m
