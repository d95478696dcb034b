"""Synthetic data for the batch-size and standardisation experiments (E8), and feature
standardisation.

>>> x, y, w = make_regression(100, scales=(1.0, 100.0), seed=0)
>>> x.shape, y.shape, w.shape
((100, 2), (100,), (2,))
>>> z, mean, std = standardize(x)
>>> np.allclose(z.mean(axis=0), 0), np.allclose(z.std(axis=0), 1)
(True, True)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InputError


def _scales(scales: Sequence[float] | None, n_features: int) -> np.ndarray:
    if scales is None:
        return np.ones(n_features)
    s = np.asarray(scales, dtype=np.float64)
    if s.shape != (n_features,) or np.any(s <= 0):
        raise InputError(f"scales must be {n_features} positive numbers, got {scales!r}")
    return s


def make_regression(n_samples: int = 500, n_features: int = 2, *, noise: float = 0.5,
                    scales: Sequence[float] | None = None, bias: float = 3.0,
                    seed: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A linear regression set y = x·w + bias + noise·ε.

    Features are drawn from N(0, 1) and multiplied by ``scales`` (default all 1; e.g.
    ``(1, 100)`` makes one feature a hundred times larger, which makes plain gradient descent
    crawl unless the features are standardised). The true weights are chosen so every
    feature contributes equally to y: wⱼ = w̃ⱼ/scaleⱼ with w̃ⱼ ~ U(1, 3) and random sign.

    Returns ``(x, y, w)``: x (n_samples, n_features) float64, y (n_samples,), w the true
    weights.
    """
    if n_samples < 1 or n_features < 1:
        raise InputError(f"n_samples and n_features must be >= 1, got {n_samples}, "
                         f"{n_features}")
    rng = np.random.default_rng(seed)
    s = _scales(scales, n_features)
    x = rng.standard_normal((n_samples, n_features)) * s
    w = rng.uniform(1, 3, n_features) * rng.choice([-1.0, 1.0], n_features) / s
    y = x @ w + bias + noise * rng.standard_normal(n_samples)
    return x, y, w


def make_classification(n_samples: int = 500, n_features: int = 2, *,
                        separation: float = 2.0, scales: Sequence[float] | None = None,
                        seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian blobs (unit variance) whose means are ``separation`` apart along a random
    direction, labels 0/1 in equal numbers, features multiplied by ``scales``.

    Returns ``(x, t)``: x (n_samples, n_features) float64, t (n_samples,) int64.
    """
    if n_samples < 2 or n_features < 1:
        raise InputError(f"need n_samples >= 2 and n_features >= 1, got {n_samples}, "
                         f"{n_features}")
    rng = np.random.default_rng(seed)
    s = _scales(scales, n_features)
    direction = rng.standard_normal(n_features)
    direction /= np.linalg.norm(direction)
    t = np.arange(n_samples) % 2
    rng.shuffle(t)
    x = rng.standard_normal((n_samples, n_features)) + np.outer(t - 0.5, separation * direction)
    return x * s, t


def standardize(x: np.ndarray, mean: np.ndarray | None = None, std: np.ndarray | None = None,
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """z = (x − mean)/std per feature (column); mean and std from x unless given (give the
    training set's to standardise a test set the same way). Constant features get std 1.

    Returns ``(z, mean, std)``.
    """
    x = np.asarray(x)
    if x.ndim != 2:
        raise InputError(f"standardize expects (n_samples, n_features), got shape {x.shape}")
    mean = x.mean(axis=0) if mean is None else np.asarray(mean)
    std = x.std(axis=0) if std is None else np.asarray(std)
    std = np.where(std > 0, std, 1.0)
    return (x - mean) / std, mean, std


class Standardizer:
    """Remembers a training set's mean and std: ``s = Standardizer().fit(x_train)``,
    ``s.transform(x_test)``, ``s.inverse_transform(z)``."""

    def __init__(self) -> None:
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def fit(self, x: np.ndarray) -> Standardizer:
        _, self.mean, self.std = standardize(x)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        if self.mean is None:
            raise RuntimeError("Standardizer.transform called before fit")
        return standardize(x, self.mean, self.std)[0]

    def inverse_transform(self, z: np.ndarray) -> np.ndarray:
        if self.mean is None:
            raise RuntimeError("Standardizer.inverse_transform called before fit")
        return np.asarray(z) * self.std + self.mean
