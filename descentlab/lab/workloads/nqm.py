"""The noisy quadratic model (Zhang, Li, Nado, Martens, Sachdeva, Dahl, Shallue & Grosse,
"Which Algorithmic Choices Matter at Which Batch Sizes? Insights From a Noisy Quadratic
Model", NeurIPS 2019).

    L(θ) = ½ Σᵢ hᵢ θᵢ²,   hᵢ = i^(−power) (i = 1 … dim; the paper's hᵢ = 1/i at power 1),

with stochastic gradients g = h ⊙ θ + √(h / B) ⊙ ξ, ξ ~ N(0, I): the gradient noise has the
covariance H / B of a mini-batch of B samples whose per-sample noise covariance equals the
curvature H (the paper's assumption C = H). Start θ₀ = 1 (every run the same; the seed
draws the noise, from ``numpy.random.default_rng([seed, NOISE_STREAM])``). There is no data:
every split's metric is the exact loss L(θ).

K runs vectorise: :meth:`NoisyQuadraticTask.run_many` advances a (K, dim) array with one
optimizer whose hyperparameters may be (K, 1) arrays, as :mod:`descentlab.lab.engine` does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ...errors import InputError
from ..engine import NOISE_STREAM
from .base import RunResult, Target, Task, check_fresh, default_target, positive_int


class NoisyQuadraticTask(Task):
    """The NQM. Args: ``dim`` (default 100), ``power`` of the spectrum (default 1),
    ``batch_size`` B (default 16), ``steps`` (default 1000), ``eval_every`` (default 50),
    ``target`` (loss; default from ``targets.json``)."""

    name = "nqm"

    def __init__(self, dim: int = 100, power: float = 1.0, batch_size: int = 16,
                 steps: int = 1000, eval_every: int = 50, target: float | None = None
                 ) -> None:
        self.dim = positive_int("dim", dim)
        self.batch_size = positive_int("batch_size", batch_size)
        self.steps = positive_int("steps", steps)
        self.eval_every = positive_int("eval_every", eval_every)
        if not (np.isfinite(power) and power >= 0):
            raise InputError(f"power must be a finite number >= 0, got {power!r}")
        if target is None:
            target = default_target("nqm").value
        if not (np.isfinite(target) and target > 0):
            raise InputError(f"target must be a positive number, got {target!r}")
        self.power = float(power)
        self.target = Target("loss", float(target), "min")
        self.h = np.arange(1, self.dim + 1, dtype=np.float64) ** -self.power
        self.noise_scale = np.sqrt(self.h / self.batch_size)

    def losses(self, theta: np.ndarray) -> np.ndarray:
        """L(θ) for every row of a (K, dim) array."""
        return 0.5 * (theta * theta) @ self.h

    def init_params(self, seed: int = 0) -> np.ndarray:
        return np.ones((1, self.dim))

    def train_batches(self, seed: int) -> Iterator[np.ndarray]:
        """ξ for one run, a (1, dim) row per step."""
        rng = np.random.default_rng([int(seed), NOISE_STREAM])
        while True:
            yield rng.standard_normal((1, self.dim))

    def loss_and_grad(self, params: np.ndarray, batch: np.ndarray
                      ) -> tuple[float, np.ndarray]:
        return float(self.losses(params).sum()), self.h * params + self.noise_scale * batch

    def evaluate(self, params: Any, split: str = "valid") -> dict[str, float]:
        if split not in ("train", "valid", "test"):
            raise InputError(f"unknown split {split!r}; use train, valid or test")
        return {"loss": float(self.losses(np.asarray(params)).sum())}

    def run_many(self, optimizer: Any, seeds: Sequence[int], steps: int | None = None,
                 eval_every: int | None = None) -> list[RunResult]:
        """K = len(seeds) runs as one (K, dim) array, each with the noise of its seed (the
        same numbers :meth:`run` gives that seed). The optimizer must be element-wise (each
        run only sees its row); its array hyperparameters broadcast against (K, dim).
        CPU and wall seconds are the batch's, divided by K."""
        check_fresh(optimizer)
        seeds = [int(s) for s in seeds]
        if not seeds:
            raise InputError("run_many needs at least one seed")
        if len(seeds) > 1 and not getattr(type(optimizer), "elementwise", False):
            raise InputError(f"{type(optimizer).__name__} is not element-wise: its runs "
                             f"would mix in one array; use run() per seed")
        steps = self.steps if steps is None else positive_int("steps", steps)
        every = self.eval_every if eval_every is None else positive_int("eval_every",
                                                                          eval_every)
        K = len(seeds)
        X = np.ones((K, self.dim))
        streams = [self.train_batches(s) for s in seeds]
        results = [RunResult(self.name, s, steps) for s in seeds]
        alive = np.ones(K, dtype=bool)
        cpu = wall = 0.0

        point = getattr(optimizer, "eval_params", None)

        def evaluate(step: int) -> None:      # schedule-free: at the average x
            L = self.losses(point(X) if point is not None and optimizer.step else X)
            for k in np.flatnonzero(alive):
                r = results[k]
                r.curve.append((step, {"loss": float(L[k])}))
                if r.reached_at is None and L[k] <= self.target.value:
                    r.reached_at, r.cpu_at_target = step, cpu / K

        evaluate(0)
        xi = np.empty((K, self.dim))
        with np.errstate(all="ignore"):
            for step in range(1, steps + 1):
                c0, w0 = time.process_time(), time.perf_counter()
                for k, stream in enumerate(streams):
                    xi[k] = next(stream)[0]
                L = self.losses(X)
                G = self.h * X + self.noise_scale * xi
                bad = alive & ~np.isfinite(L)
                for k in np.flatnonzero(bad):
                    results[k].diverged = True
                    results[k].train_loss.append(float("nan"))
                alive &= ~bad
                G[~alive] = 0.0                      # a diverged run is frozen
                optimizer.update(X, G)
                cpu += time.process_time() - c0
                wall += time.perf_counter() - w0
                for k in np.flatnonzero(alive):
                    results[k].train_loss.append(float(L[k]))
                if not alive.any():
                    break
                if step % every == 0 or step == steps:
                    evaluate(step)
        for r in results:
            r.cpu_seconds, r.wall_seconds = cpu / K, wall / K
        return results
