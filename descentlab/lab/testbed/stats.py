"""The benchmark's statistics, pure NumPy and seeded: bootstrap confidence intervals, the
paired sign-flip permutation test with Holm's correction (the "faster / slower / cannot
tell" verdicts) and AlgoPerf's integrated performance-profile score.

Bootstrap interval (Efron & Tibshirani 1993, the percentile method). Resample the n test
seeds with replacement ``n_boot`` times (default 2000, ``numpy.random.default_rng(seed)``),
compute the statistic (default the median) of each resample; the interval is the
(1 − level)/2 and (1 + level)/2 quantiles of those statistics (level 0.95). Values may be ∞
(a run that never reached the target): the median of a resample is then ∞ when half or
more of it is ∞, so an interval's upper end may be ∞.

Paired sign-flip test (Fisher's randomisation test for paired data). Optimizers A and B run
on the same test seeds (same initial weights and mini-batches), so seed j gives a pair and a
difference dⱼ = aⱼ − bⱼ. Under H₀ "A and B are exchangeable on every seed" each dⱼ is as
likely to be −dⱼ; the statistic is |mean(d)| and the two-sided p-value is the fraction of the
2ⁿ sign patterns whose |mean| is at least the observed one (the observed pattern included,
so p ≥ 2⁻ⁿ). Exact enumeration for n ≤ 16, else ``n_perm`` random patterns (Monte Carlo,
seeded, p = (1 + #≥)/(1 + n_perm)).

Holm's step-down correction (Holm 1979) over a family of m p-values: sort them,
p₍₁₎ ≤ … ≤ p₍ₘ₎; adjusted p₍ᵢ₎ = maxⱼ≤ᵢ min(1, (m − j + 1) p₍ⱼ₎). A pair's verdict is
"faster"/"slower" when its adjusted p-value is below ``alpha`` (0.05), else "cannot tell".

Integrated score (AlgoPerf; Dahl et al. 2023, §4.5). With performance ratios
r[p, s] = t[p, s] / minₛ t[p, s] (∞ when s never reached the target on p), the profile
ρₛ(τ) = #{p : r[p, s] ≤ τ} / P and the score

    Bₛ = 1/(τ_max − 1) ∫₁^τ_max ρₛ(τ) dτ = (1/P) Σₚ max(0, τ_max − max(1, r[p, s])) / (τ_max − 1),

τ_max = 4: 1 for the fastest on every workload, 0 for one never within a factor 4.

>>> sign_flip_test([1.0, 2.0, 3.0])       # 2 of 8 sign patterns reach |mean| = 2
0.25
>>> holm([0.01, 0.04, 0.03]).tolist()
[0.03, 0.06, 0.06]
>>> integrated_score(np.array([[1.0, 2.0], [3.0, 1.0]])).round(4).tolist()
[0.6667, 0.8333]
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np

from ...errors import InputError
from ..compare.report import quantile

#: Defaults: interval level, resamples, exact-enumeration limit, test level.
LEVEL = 0.95
N_BOOT = 2000
EXACT_UP_TO = 16
N_PERM = 20000
ALPHA = 0.05
TAU_MAX = 4.0


def median(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """The median along ``axis``, ∞ allowed (see :func:`..compare.report.quantile`)."""
    return quantile(values, 0.5, axis=axis)


def bootstrap_ci(values: Sequence[float] | np.ndarray,
                 statistic: Callable[..., np.ndarray] = median, *, level: float = LEVEL,
                 n_boot: int = N_BOOT, seed: int = 0) -> tuple[float, float, float]:
    """(statistic, low, high): the statistic of ``values`` and its percentile-bootstrap
    interval at ``level`` (see the module docstring). ``statistic(array, axis=-1)``.

    >>> est, lo, hi = bootstrap_ci([1.0, 2.0, 3.0, 4.0, 5.0], seed=0)
    >>> est, 1.0 <= lo <= est <= hi <= 5.0
    (3.0, True)
    """
    v = np.asarray(values, dtype=float).ravel()
    if v.size == 0:
        raise InputError("bootstrap_ci needs at least one value")
    if not 0 < level < 1:
        raise InputError(f"level must be in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    resamples = v[rng.integers(0, v.size, size=(n_boot, v.size))]
    stats = np.sort(np.asarray(statistic(resamples, axis=-1), dtype=float))
    lo = quantile(stats, (1 - level) / 2)
    hi = quantile(stats, (1 + level) / 2)
    return float(statistic(v[None, :], axis=-1)[0]), float(lo), float(hi)


def sign_flip_test(differences: Sequence[float] | np.ndarray, *, n_perm: int = N_PERM,
                   seed: int = 0) -> float:
    """Two-sided p-value of the paired sign-flip test on the differences (see the module
    docstring); exact for up to ``EXACT_UP_TO`` pairs. Differences must be finite."""
    d = np.asarray(differences, dtype=float).ravel()
    if d.size == 0:
        raise InputError("sign_flip_test needs at least one difference")
    if not np.isfinite(d).all():
        raise InputError("sign_flip_test: the differences must be finite")
    observed = abs(d.mean())
    tol = 1e-12 * max(1.0, float(np.abs(d).max()))
    if d.size <= EXACT_UP_TO:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=d.size)))
        return float(np.mean(np.abs(signs @ d) / d.size >= observed - tol))
    rng = np.random.default_rng(seed)
    signs = rng.choice((1.0, -1.0), size=(n_perm, d.size))
    hits = int(np.sum(np.abs(signs @ d) / d.size >= observed - tol))
    return (1 + hits) / (1 + n_perm)


def holm(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values, in the order given (see the module docstring)."""
    p = np.asarray(pvalues, dtype=float).ravel()
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.maximum.accumulate(adjusted)
    out = np.empty(m)
    out[order] = adjusted
    return out


def verdicts(values: np.ndarray, labels: Sequence[str], *, alpha: float = ALPHA,
             seed: int = 0) -> dict[tuple[str, str], tuple[str, float]]:
    """For every ordered pair (a, b) of the rows of ``values`` (optimizers × paired seeds,
    lower is better, finite): ("faster" | "slower" | "cannot tell", Holm-adjusted p) of a
    against b — the sign-flip test on each unordered pair, Holm over all of them.

    >>> v = np.array([[1.0, 1, 1, 1, 1, 1, 1], [5.0, 6, 7, 5, 6, 7, 5]])
    >>> verdicts(v, ["a", "b"])[("a", "b")]
    ('faster', 0.015625)
    """
    v = np.asarray(values, dtype=float)
    pairs = list(itertools.combinations(range(len(labels)), 2))
    if not pairs:
        return {}
    raw = [sign_flip_test(v[i] - v[j], seed=seed) for i, j in pairs]
    adjusted = holm(raw)
    out: dict[tuple[str, str], tuple[str, float]] = {}
    for (i, j), p in zip(pairs, adjusted):
        diff = float(np.mean(v[i] - v[j]))
        if p < alpha and diff != 0:
            a, b = ("faster", "slower") if diff < 0 else ("slower", "faster")
        else:
            a = b = "cannot tell"
        out[(labels[i], labels[j])] = (a, float(p))
        out[(labels[j], labels[i])] = (b, float(p))
    return out


def ratios(costs: np.ndarray) -> np.ndarray:
    """(P, S) performance ratios t / min over solvers (∞ where t is ∞ or no solver is
    finite on that problem). Costs must be > 0 or ∞."""
    t = np.asarray(costs, dtype=float)
    if (t <= 0).any() or np.isnan(t).any():
        raise InputError("performance-profile costs must be > 0 (or inf)")
    best = t.min(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(best) & np.isfinite(t), t / best, np.inf)


def integrated_score(ratio: np.ndarray, tau_max: float = TAU_MAX) -> np.ndarray:
    """AlgoPerf's score per solver (columns of the (P, S) ``ratio``; formula in the module
    docstring)."""
    r = np.asarray(ratio, dtype=float)
    if tau_max <= 1:
        raise InputError(f"tau_max must be > 1, got {tau_max}")
    with np.errstate(invalid="ignore"):
        part = np.where(np.isfinite(r), np.maximum(0.0, tau_max - np.maximum(1.0, r)), 0.0)
    return part.mean(axis=0) / (tau_max - 1)


__all__ = ["bootstrap_ci", "sign_flip_test", "holm", "verdicts", "ratios",
           "integrated_score", "median", "LEVEL", "N_BOOT", "ALPHA", "TAU_MAX"]
