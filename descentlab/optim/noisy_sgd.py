"""Noisy SGD: gradient descent with annealed Gaussian noise added to the gradient."""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import InputError
from .base import Optimizer
from .hyperparams import NONNEGATIVE, Count, Hyper
from .lineage import Lineage
from .references import Reference
from .registry import register
from .tree import ROOT, flatten_params, show

#: ``source(t, path, shape) -> array``: standard normal draws for the parameter at ``path``
#: (its path in the tree, as in ``opt.state``) at update t (1 at the first).
NoiseSource = Callable[[int, str, tuple[int, ...]], np.ndarray]

#: optax draws from JAX's threefry generator: the cells give ours those draws (``noise=``).
_CELL_NOTE = "ours given optax's draws as its noise source"


def seeded_normal(seed: int) -> NoiseSource:
    """The default noise: N(0, 1) draws from NumPy's generator seeded with (seed, t, the
    CRC-32 of the path), so every draw is fixed by the seed, the update count and the
    parameter's path — a resumed run draws what the uninterrupted one did, with no generator
    state to save, and a parameter's noise does not depend on the others.

    >>> a, b = seeded_normal(0)(1, "w", (2,)), seeded_normal(0)(1, "w", (2,))
    >>> bool(np.array_equal(a, b)), bool(np.array_equal(a, seeded_normal(0)(2, "w", (2,))))
    (True, False)
    """
    def source(t: int, path: str, shape: tuple[int, ...]) -> np.ndarray:
        return np.random.default_rng([seed, t, zlib.crc32(path.encode())]).standard_normal(
            shape)
    return source


@register
class NoisySGD(Optimizer):
    r"""Noisy SGD (Neelakantan et al., "Adding Gradient Noise Improves Learning for Very Deep
    Networks", 2015), optax's ``optax.noisy_sgd``.

    .. math::
        \sigma_t = \sqrt{\eta_n / t^{\gamma}}, \qquad z_t \sim \mathcal N(0, I), \qquad
        p_t = p_{t-1} - \eta\,(g_t + \sigma_t z_t)

    (t = 1 at the first update: optax's σ² = η_n/(1 + t)^γ with its count from 0.) The noise
    comes from ``noise``: a callable ``source(t, path, shape)`` returning standard normal
    draws for the parameter at ``path`` at update t; by default :func:`seeded_normal` of
    ``seed``, NumPy's generator. optax draws its noise from JAX's threefry PRNG, which is not
    reproduced here: what is matched is everything else — given optax's own draws as the
    source, the
    parameters equal optax 0.2.8's within 1e-12 relative over 100 float64 steps, and σₜ is
    its schedule exactly (tests/test_noisy_sgd.py). A custom source is not saved in
    checkpoints (the seed is): give it again when loading.

    Defaults: ``lr=0.01, eta=0.01, gamma=0.55, seed=0`` (optax's ``eta`` and ``gamma``;
    optax has no default rate). Not element-wise (one draw per array): no fused kernel.

    >>> opt = NoisySGD(lr=0.1, eta=0.25, noise=lambda t, path, shape: np.ones(shape))
    >>> x = {"x": 1.0}; opt.update(x, {"x": 2.0})   # σ₁ = √0.25 = 0.5: x = 1 − 0.1·(2 + 0.5)
    >>> round(x["x"], 12)
    0.75
    """

    name = "noisy_sgd"
    references = (
        Reference("optax.noisy_sgd", {}, {"learning_rate": 0.01, "key": 0}, note=_CELL_NOTE),
        Reference("optax.noisy_sgd", {"lr": 0.1, "eta": 0.5, "gamma": 1.0},
                  {"learning_rate": 0.1, "eta": 0.5, "gamma": 1.0, "key": 3}, note=_CELL_NOTE),
    )
    lineage = Lineage(("sgd",), "annealed Gaussian gradient noise", 2015,
                      "Neelakantan et al. 2015")
    equations = ("σ = √(η_n / tᵞ),   z ~ N(0, 1) (one draw per element)",
                 "p ← p − η·(g + σ·z)")

    eta = Hyper(NONNEGATIVE, "η_n, the variance of the noise at t = 1", search=(1e-3, 1.0))
    gamma = Hyper(NONNEGATIVE, "γ, the decay exponent of the variance", tunable=False)
    seed = Count(0, "seed of the default noise (NumPy's generator)")

    def __init__(self, lr: Any = 0.01, eta: Any = 0.01, gamma: Any = 0.55, seed: int = 0,
                 noise: NoiseSource | None = None, *, weight_decay: Any = 0.0,
                 maximize: bool = False, **options: Any) -> None:
        super().__init__(lr, weight_decay, maximize=maximize, **options)
        self.eta = eta
        self.gamma = gamma
        self.seed = seed
        if noise is not None and not callable(noise):
            raise InputError(f"noise must be a callable source(t, i, shape), got {noise!r}")
        #: The noise source (``None``: :func:`seeded_normal` of ``seed``).
        self.noise = noise

    #: This update's draws, one per parameter array (set by :meth:`update` around the
    #: pipeline, read by :meth:`rule`).
    _draws: list[np.ndarray] | None = None

    def update(self, params: Any, grads: Any) -> None:
        """Draw this update's noise (checked before anything changes), then update."""
        source = seeded_normal(self.seed) if self.noise is None else self.noise
        t, draws = self.step + 1, []
        for leaf in flatten_params(params):
            z = np.asarray(source(t, leaf.path, leaf.array.shape), dtype=np.float64)
            if z.shape != leaf.array.shape:
                raise InputError(f"the noise source gave shape {z.shape} for {show(leaf.path)} "
                                 f"of shape {leaf.array.shape} at update {t}")
            if not np.all(np.isfinite(z)):
                raise InputError(f"the noise source gave a non-finite draw for "
                                 f"{show(leaf.path)} at update {t}")
            draws.append(z)
        object.__setattr__(self, "_draws", draws)
        try:
            super().update(params, grads)
        finally:
            object.__setattr__(self, "_draws", None)

    def begin_step(self, h: Any) -> None:
        h.sigma = (h.eta / h.t**h.gamma) ** 0.5
        h.draws = itertools.count()  # the position of the array the rule updates next

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        if self._draws is None:  # the rule alone (an exact trace): a draw for the root
            source = seeded_normal(self.seed) if self.noise is None else self.noise
            z = np.asarray(source(h.t, ROOT, p.shape), dtype=np.float64)
        else:
            z = self._draws[next(h.draws)]
        p -= h.lr * (g + h.sigma * z.astype(p.dtype, copy=False))
