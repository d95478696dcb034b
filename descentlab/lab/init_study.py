"""E6 — weight initialisation.

Part 1 (the classic ``weight_init_activation_histogram.py``): 1000 random inputs
x ~ N(0, 1)¹⁰⁰ pass through 5 layers of 100 units, aᵢ = zᵢ₋₁·Wᵢ (no bias), zᵢ = act(aᵢ); the
histograms of each layer's activations zᵢ show whether the signal saturates (std 1 with
sigmoid: piled at 0 and 1, gradients vanish), collapses (std 0.01: everything near 0.5, every
unit alike, no expressive power) or keeps its spread (Xavier 1/√n with sigmoid/tanh,
He √(2/n) with ReLU).

Part 2 (``weight_init_compare.py``): the MNIST loss of the same ReLU network initialised with
std 0.01, Xavier and He, trained by the same optimizer on the same mini-batches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InputError
from ..nn import ACTIVATIONS, init_weights

#: (label, weight_init_std, activation) of the classic histogram figure, in row order.
HISTOGRAM_CONFIGS: tuple[tuple[str, str | float, str], ...] = (
    ("std=1, sigmoid", 1.0, "sigmoid"),
    ("std=0.01, sigmoid", 0.01, "sigmoid"),
    ("Xavier, sigmoid", "xavier", "sigmoid"),
    ("Xavier, tanh", "xavier", "tanh"),
    ("He, relu", "he", "relu"),
)

#: (label, weight_init_std) of the MNIST comparison (all with ReLU, as the classic script).
MNIST_CONFIGS: tuple[tuple[str, str | float], ...] = (
    ("std=0.01", 0.01), ("Xavier", "xavier"), ("He", "he"))

#: Histogram ranges per activation.
RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "relu": (0.0, 2.0)}


def layer_activations(weight_init_std: str | float, activation: str, *,
                      n_samples: int = 1000, n_units: int = 100, n_layers: int = 5,
                      seed: int = 0) -> list[np.ndarray]:
    """The activations of each layer for random inputs (float64), one array per layer.

    The inputs and the standard-normal draws behind the weights depend on ``seed`` only, so
    every configuration sees the same inputs and the same weight *directions*.

    >>> acts = layer_activations(0.01, "sigmoid", n_samples=200)
    >>> len(acts), acts[0].shape, bool(abs(acts[-1].mean() - 0.5) < 0.01)
    (5, (200, 100), True)
    """
    if activation not in ACTIVATIONS:
        raise InputError(f"unknown activation {activation!r}; use one of "
                         f"{', '.join(ACTIVATIONS)}")
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n_samples, n_units))
    out = []
    for _ in range(n_layers):
        W = init_weights(weight_init_std, n_units, n_units, rng, np.float64)
        z = ACTIVATIONS[activation]().forward(z @ W).copy()
        out.append(z)
    return out


def activation_summary(acts: Sequence[np.ndarray], activation: str) -> list[dict[str, float]]:
    """Per layer: mean, std, and the fraction of units saturated (sigmoid: < 0.01 or > 0.99;
    tanh: |z| > 0.99) or dead (ReLU: z = 0)."""
    rows = []
    for a in acts:
        if activation == "sigmoid":
            extreme = float(np.mean((a < 0.01) | (a > 0.99)))
        elif activation == "tanh":
            extreme = float(np.mean(np.abs(a) > 0.99))
        else:
            extreme = float(np.mean(a == 0))
        rows.append({"mean": float(a.mean()), "std": float(a.std()), "extreme": extreme})
    return rows
