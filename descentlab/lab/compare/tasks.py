"""Problems with randomness, and how a batch of configurations × seeds is evaluated on them.

A *task* evaluates ``M`` configurations of one optimizer on ``S`` seeds and returns an
(M, S) array of metric values (and, for the report, an (M, S, T) array of losses per step).

Surfaces (:class:`SurfaceTask`). Seed s draws the start (``spread`` around the start, a box
or a Gaussian) and the gradient noise σ (see :mod:`descentlab.lab.engine`). The M × S runs
are ONE vectorised :func:`~descentlab.lab.engine.run_batch`: the optimizer gets (M·S, 1)
arrays of hyperparameters, no Python loop over trials or seeds. Metrics (lower is better):

* ``loss`` — f(x_N) − f*, f* the global minimum's value (f itself if none is known);
* ``distance`` — distance from x_N to the nearest global minimum;
* ``steps`` — the first step within ``tol`` of a global minimum (N + 1 if never).

A diverged run scores the worst value: ∞ (``steps``: N + 1).

MNIST (:class:`MnistTask`): the E5 network; seed s draws the initial weights and the order
of the mini-batches (:func:`~descentlab.lab.mnist_race.train_together`); the M
configurations of one seed train side by side on the same mini-batches. Metrics:
``train_loss`` (mean of the last 10 % of mini-batch losses, lower is better; diverged: ∞),
``test_accuracy`` (higher is better; diverged: 0) and ``iterations_to_accuracy``: the first
iteration, among every ``check_every``-th, after which the network classifies at least
``target_accuracy`` of a *held-out validation split* right (lower is better; never reached
within the iterations, or diverged: the worst value, iterations + 1). The split is the last
1/12 of the training images (5,000 of MNIST's 60,000, TensorFlow's classic 55,000/5,000
split), which this metric does not train on: checking the test set many times during
training and tuning on what it says would tune to the test set, which then no longer
measures anything (DeepOBS and Crowded Valley tune on a validation split for the same
reason). A network that reached the target stops training (its loss curve ends there),
except in the re-runs on the test seeds, which train on for the loss figure.

The value of a trial (what Optuna optimises) is the mean of its metric over the tuning seeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ... import optim
from ...errors import InputError
from .. import limits
from ..engine import DEFAULT_MARGIN, draw_starts, run_batch
from .space import Space, config_kwargs

SURFACE_METRICS = {"loss": "minimize", "distance": "minimize", "steps": "minimize"}
MNIST_METRICS = {"train_loss": "minimize", "test_accuracy": "maximize",
                 "iterations_to_accuracy": "minimize"}
#: iterations_to_accuracy: the last 1/HOLDOUT_FRACTION of the training images are held out
#: (5,000 of MNIST's 60,000) and never trained on.
HOLDOUT_FRACTION = 12


@dataclass
class Evaluation:
    values: np.ndarray  #: (M, S) metric per configuration and seed
    curves: np.ndarray | None = None  #: (M, S, T) loss per step (nan after divergence)
    diverged: np.ndarray | None = None  #: (M, S) bool


def trial_value(values: np.ndarray, direction: str) -> np.ndarray:
    """(M, S) → (M,): the mean over seeds (∞ or the worst value propagates)."""
    with np.errstate(invalid="ignore"):
        return np.mean(values, axis=1)


def stacked(space: Space, configs: list[dict[str, float]], n_seeds: int) -> optim.Optimizer:
    """ONE optimizer for M configurations × S seeds: each tuned hyperparameter an (M·S, 1)
    array (configuration-major), fixed settings as given."""
    hyper: dict[str, Any] = dict(space.fixed)
    for d in space.dims:
        col = np.array([c[d.key] for c in configs], dtype=np.float64)
        hyper[d.key] = np.repeat(col, n_seeds)[:, None]
    return optim.create(space.name, **hyper)


@dataclass
class SurfaceTask:
    problem: Any
    steps: int
    metric: str = "loss"
    start: tuple[float, ...] | None = None
    spread: float = 0.0
    start_shape: str = "box"
    noise: float = 0.0
    tol: float | None = None
    margin: float = DEFAULT_MARGIN

    def __post_init__(self) -> None:
        self.start = tuple(float(c) for c in (self.problem.start if self.start is None
                                              else self.start))
        glob = [m for m in self.problem.minima if m.kind == "global"]
        self.f_star = min((m.value for m in glob), default=0.0)
        self._glob = np.array([m.point for m in glob], dtype=float).reshape(len(glob), -1)

    @property
    def name(self) -> str:
        return self.problem.name

    @property
    def direction(self) -> str:
        return SURFACE_METRICS[self.metric]

    def describe(self) -> dict[str, Any]:
        return {"kind": "surface", "problem": self.problem.name,
                "formula": self.problem.formula, "start": list(self.start),
                "steps": self.steps, "metric": self.metric, "spread": self.spread,
                "start_shape": self.start_shape, "noise": self.noise, "tol": self.tol,
                "margin": self.margin}

    def batch_bytes(self, configs: int, seeds: int, curves: bool = False) -> float:
        """Estimated peak memory of :meth:`evaluate` on ``configs`` × ``seeds`` runs: a
        sweep's bytes per run and coordinate (:data:`~descentlab.lab.limits.SWEEP_BYTES_PER_RUN`),
        and with ``curves`` the paths, (steps + 1) × runs × (dim + 1) floats, three times
        (path, f values, curves), as a race's estimate counts them."""
        runs = float(configs) * float(seeds)
        nbytes = runs * self.problem.dim * limits.SWEEP_BYTES_PER_RUN
        if curves:
            nbytes += 3 * 8 * (self.steps + 1) * runs * (self.problem.dim + 1)
        return nbytes

    def evaluate(self, space: Space, configs: list[dict[str, float]], seeds: list[int],
                 curves: bool = False) -> Evaluation:
        """All configurations × seeds as one vectorised run."""
        M, S = len(configs), len(seeds)
        seed_rows = np.tile(np.asarray(seeds, dtype=np.int64), M)
        starts = draw_starts(self.problem, self.start, self.spread, seed_rows,
                             shape=self.start_shape, margin=self.margin)
        opt = stacked(space, configs, S)
        b = run_batch(self.problem, opt, starts, self.steps, tol=self.tol, margin=self.margin,
                      keep_path=curves, noise=self.noise, seeds=seed_rows)
        diverged = b.diverged_at >= 0
        with np.errstate(all="ignore"):
            if self.metric == "loss":
                v = np.asarray(self.problem.f(b.final), dtype=float) - self.f_star
            elif self.metric == "distance":
                d = b.final[:, None, :] - self._glob[None, :, :]
                v = np.sqrt((d ** 2).sum(axis=2)).min(axis=1)
            else:
                v = np.where(b.reached_global_at >= 0, b.reached_global_at,
                             self.steps + 1).astype(float)
        worst = float(self.steps + 1) if self.metric == "steps" else np.inf
        v = np.where(diverged | ~np.isfinite(v), worst, v)
        curve = None
        if curves:
            P = b.path  # (T, K, dim), nan after divergence
            with np.errstate(all="ignore"):
                F = np.asarray(self.problem.f(P.reshape(-1, self.problem.dim)), dtype=float)
            curve = (F.reshape(P.shape[0], M * S) - self.f_star).T.reshape(M, S, -1)
        return Evaluation(v.reshape(M, S), curve, diverged.reshape(M, S))


def check_accuracy_target(target: Any, check_every: Any, iterations: int) -> None:
    """The settings of ``iterations_to_accuracy``, checked before any data is read."""
    if isinstance(target, bool) or not isinstance(target, int | float) \
            or not 0 < target <= 1:
        raise InputError(f"--target-accuracy must be a number in (0, 1], got {target!r}")
    if isinstance(check_every, bool) or not isinstance(check_every, int) \
            or not 1 <= check_every <= iterations:
        raise InputError(f"--check-every must be a whole number from 1 to --iterations "
                         f"({iterations}), got {check_every!r}")


@dataclass
class MnistTask:
    x_train: np.ndarray = field(repr=False)
    t_train: np.ndarray = field(repr=False)
    x_test: np.ndarray = field(repr=False)
    t_test: np.ndarray = field(repr=False)
    iterations: int = 500
    metric: str = "test_accuracy"
    batch_size: int = 128
    hidden: tuple[int, ...] = (100, 100, 100, 100)
    name: str = "mnist"
    target_accuracy: float = 0.9  #: iterations_to_accuracy only
    check_every: int = 25  #: iterations_to_accuracy: validation checks every N iterations

    METRICS = MNIST_METRICS

    def __post_init__(self) -> None:
        if self.metric not in MNIST_METRICS:
            raise InputError(f"--metric {self.metric!r} on mnist: expected one of "
                             f"{', '.join(MNIST_METRICS)}")
        if self.metric != "iterations_to_accuracy":
            return
        check_accuracy_target(self.target_accuracy, self.check_every, self.iterations)
        if len(self.x_train) < 2:
            raise InputError("iterations_to_accuracy needs at least 2 training images (one "
                             "is held out for the validation checks)")

    @property
    def direction(self) -> str:
        return MNIST_METRICS[self.metric]

    @property
    def metric_label(self) -> str:
        """The metric as the report names it."""
        if self.metric == "iterations_to_accuracy":
            return f"iterations to {self.target_accuracy:g} val. accuracy"
        return self.metric

    @property
    def n_val(self) -> int:
        """Training images held out for the validation checks (iterations_to_accuracy)."""
        if self.metric != "iterations_to_accuracy":
            return 0
        return max(1, len(self.x_train) // HOLDOUT_FRACTION)

    @property
    def x_fit(self) -> np.ndarray:
        return self.x_train[:len(self.x_train) - self.n_val]

    @property
    def t_fit(self) -> np.ndarray:
        return self.t_train[:len(self.t_train) - self.n_val]

    @property
    def x_val(self) -> np.ndarray:
        return self.x_train[len(self.x_train) - self.n_val:]

    @property
    def t_val(self) -> np.ndarray:
        return self.t_train[len(self.t_train) - self.n_val:]

    def describe(self) -> dict[str, Any]:
        out = {"kind": "mnist", "problem": self.name, "iterations": self.iterations,
               "metric": self.metric, "batch_size": self.batch_size,
               "hidden": list(self.hidden), "train_samples": len(self.x_train),
               "test_samples": len(self.x_test)}
        if self.metric == "iterations_to_accuracy":
            out.update(target_accuracy=float(self.target_accuracy),
                       check_every=self.check_every, validation_samples=self.n_val)
        return out

    def batch_bytes(self, configs: int, seeds: int, curves: bool = False) -> float:
        """Estimated peak memory of :meth:`evaluate`: per seed, ``configs`` networks side by
        side — weights, gradients and up to four optimizer slots (8 bytes each, float64)
        and each network's activations and their gradients on a mini-batch — and with
        ``curves`` the losses, configs × seeds × iterations floats."""
        sizes = [int(np.prod(self.x_train.shape[1:])), *self.hidden,
                 int(self.t_train.shape[1]) if self.t_train.ndim == 2 else 10]
        weights = sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
        per_net = 8 * (6 * weights + 2 * self.batch_size * sum(sizes))
        nbytes = float(configs) * per_net
        if curves:
            nbytes += 8.0 * configs * seeds * self.iterations
        return nbytes

    def evaluate(self, space: Space, configs: list[dict[str, float]], seeds: list[int],
                 curves: bool = False) -> Evaluation:
        """For each seed, the M configurations train side by side on the same mini-batches
        from the same initial weights."""
        from ...nn import MultiLayerNet
        from ..mnist_race import train_together

        M, S = len(configs), len(seeds)
        values = np.zeros((M, S))
        diverged = np.zeros((M, S), dtype=bool)
        losses = np.full((M, S, self.iterations), np.nan) if curves else None
        n_in = int(np.prod(self.x_train.shape[1:]))
        n_out = int(self.t_train.shape[1]) if self.t_train.ndim == 2 \
            else int(self.t_train.max()) + 1
        tail = max(1, self.iterations // 10)
        timed = self.metric == "iterations_to_accuracy"
        for j, seed in enumerate(seeds):
            keys = [str(i) for i in range(M)]
            nets = {k: MultiLayerNet(n_in, list(self.hidden), n_out, seed=int(seed))
                    for k in keys}
            opts = {k: optim.create(space.name, **config_kwargs(space, c))
                    for k, c in zip(keys, configs)}
            reached: dict[str, int] = {}

            def check(iteration: int, alive: list[str], nets=nets, reached=reached
                      ) -> list[str]:
                """Validation accuracy of the networks that have not reached the target;
                those that reach it stop (unless the loss curves are wanted)."""
                for k in alive:
                    if k not in reached and nets[k].accuracy(
                            self.x_val, self.t_val) >= self.target_accuracy:
                        reached[k] = iteration
                return [] if curves else [k for k in alive if k in reached]

            r = train_together(nets, opts, self.x_fit, self.t_fit,
                               x_test=None if timed else self.x_test,
                               t_test=None if timed else self.t_test,
                               iterations=self.iterations, batch_size=self.batch_size,
                               seed=int(seed), log=None, progress=False,
                               train_accuracy=False, check_every=self.check_every,
                               check=check if timed else None)
            for i, k in enumerate(keys):
                bad = k in r.diverged
                diverged[i, j] = bad
                if self.metric == "train_loss":
                    values[i, j] = np.inf if bad else float(np.mean(r.losses[k][-tail:]))
                elif timed:  # diverged or never reached: the worst value
                    values[i, j] = float(reached.get(k, self.iterations + 1))
                else:
                    values[i, j] = 0.0 if bad else float(r.test_accuracy[k])
                if losses is not None:
                    losses[i, j] = r.losses[k]
        return Evaluation(values, losses, diverged)


__all__ = ["SurfaceTask", "MnistTask", "Evaluation", "SURFACE_METRICS", "MNIST_METRICS",
           "trial_value", "stacked", "check_accuracy_target", "HOLDOUT_FRACTION"]
