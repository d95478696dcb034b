"""E7 — learning-rate decay, the computing (drawn by :mod:`descentlab.viz.schedules`).

:func:`run_bowl` runs SGD with *noisy* gradients on E3's bowl f(x, y) = x²/20 + y²
(``problems.get("bowl")``) from (−7, 2): a large constant rate keeps wandering around the
minimum, because every step scales the noise by α; decayed rates (:func:`bowl_schedules`)
settle into it. :func:`plateau_rates` and :func:`by_hand_rates` record the rates of the two
*stateful* ways of lowering a rate (reduce-on-plateau fed a metric, and assigning ``opt.lr``
by hand), so that they can be drawn as functions of n like the others.

>>> path, rates = run_bowl(0.4, steps=3, noise=0.0, seed=0)
>>> path[1].round(6).tolist(), rates.tolist()   # x − 0.4·x/10, y − 0.4·2y
([-6.72, 0.4], [0.4, 0.4, 0.4])
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import optim, problems
from .. import schedules as S

START = (-7.0, 2.0)


def bowl_schedules(steps: int = 1000) -> dict[str, Callable[[int], float] | float]:
    """The rates raced on the bowl: a large constant one and three ways of lowering it."""
    a0 = 0.4
    return {
        "constant α = 0.4": a0,
        "exponential 0.95ᵉ·α₀ (10 updates/epoch)": S.ExponentialDecay(a0, 0.95, 10,
                                                                      staircase=True),
        "inverse time α₀/(1 + e), staircase": S.InverseTimeDecay(a0, 1.0, 10, staircase=True),
        f"set by hand to 0.02 at n = {steps // 2}": S.Join([S.Constant(a0), S.Constant(0.02)],
                                                          [steps // 2]),
    }


def run_bowl(rate: Callable[[int], float] | float, steps: int, noise: float,
             seed: int) -> tuple[np.ndarray, np.ndarray]:
    """SGD on the bowl with gradient noise N(0, noise²) per coordinate (same noise for every
    rate: the seed fixes it). Returns the iterates (steps + 1, 2) and the rates used."""
    bowl = problems.get("bowl")
    rng = np.random.default_rng(seed)
    opt = optim.SGD(lr=rate)
    p = np.array(START)
    path, rates = [p.copy()], []
    for _ in range(steps):
        g = bowl.grad(p) + noise * rng.standard_normal(2)
        opt.update(p, g)
        path.append(p.copy())
        rates.append(opt.current_lr)
    return np.array(path), np.array(rates)


def plateau_metric(steps: int, seed: int = 0) -> np.ndarray:
    """A validation loss that improves, then stalls (noisy), reported every 10 updates."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps // 10)
    return 0.3 + np.exp(-t / 4.0) + rng.normal(0, 0.02, t.size)


def plateau_rates(a0: float, steps: int, metric: np.ndarray) -> list[float]:
    """The rate of ``ReduceOnPlateau(a0, factor=0.5, patience=3)`` at n = 0 … steps − 1,
    fed ``metric[k]`` after every 10 updates."""
    plateau = S.ReduceOnPlateau(a0, factor=0.5, patience=3)
    rates = []
    for n in range(steps):
        rates.append(plateau(n))
        if (n + 1) % 10 == 0 and (n + 1) // 10 - 1 < metric.size:
            plateau.report(metric[(n + 1) // 10 - 1])
    return rates


def by_hand_rates(steps: int) -> list[float]:
    """The rates an optimizer uses when its exponential decay is scaled by hand at n = 150
    (``opt.lr = opt.lr * 0.2``: the schedule keeps its shape) and replaced at n = 225."""
    opt = optim.SGD(lr=S.ExponentialDecay(0.1, 0.995))
    p, rates = np.zeros(1), []
    for n in range(steps):
        if n == 150:
            opt.lr = opt.lr * 0.2
        if n == 225:
            opt.lr = 0.03
        opt.update(p, np.zeros(1))
        rates.append(opt.current_lr)
    return rates


class Recorded:
    """Rates recorded from a stateful schedule, replayed as a function of n (for drawing).

    >>> Recorded([0.1, 0.05])(7)
    0.05
    """

    def __init__(self, rates: list[float]) -> None:
        self.rates = rates

    def __call__(self, n: int) -> float:
        return self.rates[min(n, len(self.rates) - 1)]


def running_mean(y: np.ndarray, width: int) -> np.ndarray:
    """The mean of the last ``width`` values at every index (the first value repeated before
    the start), same length as ``y``.

    >>> running_mean(np.array([2.0, 4.0, 6.0]), 2).tolist()
    [2.0, 3.0, 5.0]
    """
    kernel = np.ones(width) / width
    padded = np.concatenate([np.full(width - 1, y[0]), y])
    return np.convolve(padded, kernel, mode="valid")
