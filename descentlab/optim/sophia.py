"""Sophia: momentum divided by a clipped estimate of the Hessian's diagonal."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .closure import ClosureRule, Oracle
from .hyperparams import POSITIVE, UNIT, Count, Hyper, Number
from .lineage import Lineage
from .references import Reference
from .registry import register

#: optax draws its probes from a JAX key: the cells give it ours (tests/optax_oracle.py).
_CELL_NOTE = "Hutchinson probes: ours, passed to optax"


@register
class Sophia(ClosureRule):
    r"""Sophia-H (Liu, Li, Hall, Liang & Ma, "Sophia: A Scalable Stochastic Second-order
    Optimizer for Language Model Pre-training", 2023, ICLR 2024; arXiv:2305.14342): optax's
    ``optax.contrib.sophia`` with its Hutchinson estimator. It needs Hessian-vector products:
    ``update(params, closure=closure, hvp=hvp)``, ``hvp(v)`` → H·v at the current parameters
    (without ``hvp``, a central difference of the closure's gradient: an approximation).

    Every ``update_interval`` updates (the first included) the Hessian's diagonal is estimated
    as ξ ⊙ Hξ with a Rademacher vector ξ (entries ±1), after the step, from the parameters
    before it; with b₁ = 1 − β₁ᵗ:

    .. math::
        m = \beta_1 m + (1 - \beta_1) g, \quad
        u = \operatorname{clip}\Big(\frac{m / b_1}{\max(\gamma h,\ \epsilon)},\ \pm c\Big),
        \quad p \leftarrow p - \eta\,(u + \lambda p) \\
        h \leftarrow \beta_2 h + (1 - \beta_2)\, \hat h \quad (\text{when } (t - 1) \bmod k = 0;\
        \hat h = \xi \odot H \xi)

    ``clip_threshold=None`` does not clip. The probes come from
    ``np.random.default_rng([seed, t])`` (:meth:`probe_vectors`), so a resumed run draws the
    same ones; optax draws its own from a JAX key (the tests give optax these probes to
    compare the two exactly: the same random probe vectors in, the same steps out). The
    latest estimate û is the state slot ``estimate``. No ``maximize`` or clipping of the
    gradient (the update itself is clipped).

    Defaults: ``lr=1e-3, beta1=0.965, beta2=0.99, eps=1e-8, weight_decay=1e-4,
    gamma=0.01, clip_threshold=1.0, update_interval=10, seed=0`` — optax's (optax has no
    default rate: 1e-3 is of the paper's order). Equals ``optax.contrib.sophia(lr, beta1,
    beta2, eps, weight_decay, gamma=gamma, clip_threshold=clip_threshold,
    update_interval=update_interval)`` given ``obj_fn`` and the same probes.

    >>> x = {"w": np.array([1.0, -2.0])}         # f = ½(w₁² + 4w₂²): H = diag(1, 4)
    >>> grad = lambda: {"w": np.array([1.0, 4.0]) * x["w"]}
    >>> opt = Sophia(lr=0.1, weight_decay=0.0, gamma=1.0)
    >>> opt.update(x, closure=lambda: (0.5 * float(x["w"] ** 2 @ [1, 4]), grad()),
    ...            hvp=lambda v: {"w": np.array([1.0, 4.0]) * v["w"]})
    8.5
    >>> x["w"], opt.state["w"]["estimate"]      # h was 0: u clipped to ±1; û = diag H
    (array([ 0.9, -1.9]), array([1., 4.]))
    """

    name = "sophia"
    references = (
        Reference("optax.contrib.sophia", {}, {"learning_rate": 0.001}, note=_CELL_NOTE),
        Reference("optax.contrib.sophia", {"lr": 0.01, "gamma": 1.0, "update_interval": 3},
                  {"learning_rate": 0.01, "gamma": 1.0, "update_interval": 3},
                  note=_CELL_NOTE),
    )
    lineage = Lineage(("adam",), "clipped Hessian-diagonal preconditioner", 2023,
                      "Liu et al. 2023")
    needs = ("loss", "hvp")
    slots = ("mu", "nu", "estimate")
    decays_in_rule = True  # p − η(u + λp): the decay after the clipped step, as optax
    equations: ClassVar[tuple[str, ...]] = (
        "m ← β₁m + (1−β₁)g,   u = clip((m/(1−β₁ᵗ)) / max(γh, ε), ±c)",
        "p ← p − η·(u + λp)",
        "every k updates: h ← β₂h + (1−β₂)·(ξ ⊙ Hξ)   (ξ: ±1 at random; after the step)",
    )

    lr = ClosureRule.lr.replace(search=(1e-5, 0.1))
    beta1 = Hyper(UNIT, "decay β₁ of the momentum", search=(0.5, 0.99))
    beta2 = Hyper(UNIT, "decay β₂ of the Hessian estimate", search=(0.9, 0.999))
    eps = Hyper(POSITIVE, "floor ε of γh", tunable=False)
    gamma = Hyper(POSITIVE, "scale γ of the Hessian estimate", search=(1e-3, 1.0))
    clip_threshold = Number(POSITIVE, "clip the step to [−c, c] (None: no clipping)",
                            optional=True)
    update_interval = Count(1, "estimate the Hessian every k updates", maximum=2**31 - 1)
    seed = Count(0, "seed of the Rademacher probes")

    def __init__(self, lr: Any = 1e-3, beta1: Any = 0.965, beta2: Any = 0.99,
                 eps: Any = 1e-8, weight_decay: Any = 1e-4, gamma: Any = 0.01,
                 clip_threshold: float | None = 1.0, update_interval: int = 10, seed: int = 0,
                 *, nonfinite: str = "raise", **options: Any) -> None:
        super().__init__(lr, weight_decay, nonfinite=nonfinite, **options)
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.gamma = gamma
        self.clip_threshold = clip_threshold
        self.update_interval = update_interval
        self.seed = seed

    def probe_vectors(self, t: int, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
        """The Rademacher vectors (entries ±1.0) of update ``t``, one per parameter array in
        order: ``np.random.default_rng([seed, t])``, drawn array by array."""
        rng = np.random.default_rng([self.seed, t])
        return [rng.integers(0, 2, size=shape).astype(np.float64) * 2 - 1 for shape in shapes]

    def evaluate(self, oracle: Oracle, h: Any) -> Any:
        value, tree, gs = oracle.value_and_grad()
        h.refresh = (h.t - 1) % self.update_interval == 0
        h.estimates = {}
        if h.refresh:
            probes = self.probe_vectors(h.t, [g.shape for g in gs])
            probes = [u.astype(g.dtype) for u, g in zip(probes, gs)]
            products = oracle.hvp(probes)
            h.estimates = {leaf.path: u * hu
                           for leaf, u, hu in zip(oracle.leaves, probes, products)}
        return tree

    def begin_step(self, h: Any) -> None:
        for path, estimate in h.estimates.items():
            self.state[path]["estimate"][...] = estimate

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        mu, nu = state["mu"], state["nu"]
        mu[...] = (1 - h.beta1) * g + h.beta1 * mu
        u = mu / (1 - h.beta1 ** h.t) / np.maximum(h.gamma * nu, h.eps)
        if self.clip_threshold is not None:
            u = np.clip(u, -self.clip_threshold, self.clip_threshold)
        p += (u + h.weight_decay * p) * -h.lr
        if h.refresh:
            nu[...] = (1 - h.beta2) * state["estimate"] + h.beta2 * nu
