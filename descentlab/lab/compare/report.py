"""The statistics of a comparison: median [IQR], expected best result against the budget,
performance profiles and ranks. Values may be ∞ (a diverged run's worst value).

Expected best of n trials (Dodge et al. 2019). Draw n of the B finished trials at random with
replacement and keep the best; with the B values sorted best first, v₍₁₎ … v₍B₎, the best
of the n draws is v₍ᵢ₎ with probability ((B − i + 1)/B)ⁿ − ((B − i)/B)ⁿ. The curve is the mean
of that distribution — the bootstrap over the trials with infinitely many resamples, computed
exactly — and its band the 25 % and 75 % quantiles (the smallest value whose
probability of not being exceeded reaches 25 % / 75 %: NumPy's ``inverted_cdf``).

Performance profile (Dolan & Moré 2002). Costs t[p, s] > 0 of solver s on problem p (lower is
better); the ratio r[p, s] = t[p, s] / minₛ t[p, s]; the profile ρₛ(τ) is the fraction of
problems with r[p, s] ≤ τ. ρₛ(1) is how often s is the best, ρₛ(τ → ∞) how often it
finishes at all (∞ costs never count).
"""

from __future__ import annotations

import numpy as np

from ...errors import InputError

#: Quantiles of the bands (the interquartile range).
BAND = (0.25, 0.75)


def quantile(values: np.ndarray, q: float, axis: int = -1) -> np.ndarray:
    """Linear-interpolation quantile (NumPy's default) that also holds ∞: between a finite
    and an infinite order statistic it is ∞ (unless it falls exactly on the finite one).

    >>> float(quantile(np.array([1.0, 2.0, np.inf, np.inf]), 0.5))
    inf
    >>> float(quantile(np.array([1.0, 2.0, 3.0, np.inf]), 0.5))
    2.5
    """
    v = np.sort(np.asarray(values, dtype=float), axis=axis)
    n = v.shape[axis]
    pos = q * (n - 1)
    lo, frac = int(np.floor(pos)), pos - np.floor(pos)
    a = np.take(v, lo, axis=axis)
    if frac == 0:
        return a
    b = np.take(v, min(lo + 1, n - 1), axis=axis)
    with np.errstate(invalid="ignore"):
        out = a + frac * (b - a)
    return np.where(np.isinf(b) & ~np.isinf(a), b, np.where(np.isinf(a), a, out))


def median_iqr(values: np.ndarray) -> tuple[float, float, float]:
    """(median, 25 %, 75 %) of a 1-D array."""
    v = np.asarray(values, dtype=float).ravel()
    return (float(quantile(v, 0.5)), float(quantile(v, BAND[0])), float(quantile(v, BAND[1])))


def best_of_n_distribution(values: np.ndarray, n: int, direction: str = "minimize"
                           ) -> tuple[np.ndarray, np.ndarray]:
    """The sorted values (best first) and the probability that each is the best of ``n``
    draws with replacement."""
    v = np.asarray(values, dtype=float).ravel()
    v = np.sort(v) if direction == "minimize" else -np.sort(-v)
    B = v.size
    i = np.arange(1, B + 1)
    p = ((B - i + 1) / B) ** n - ((B - i) / B) ** n
    return v, p


def expected_best(values: np.ndarray, ns: np.ndarray | list[int], direction: str = "minimize"
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each n in ``ns``: the expected best of n trials and its 25 %/75 % quantiles.
    The values are sorted once; each n costs one pass over them.

    >>> m, lo, hi = expected_best([3.0, 1.0, 2.0], [1, 2])
    >>> m.tolist()                       # n = 1: the mean; n = 2: 1·5/9 + 2·3/9 + 3·1/9
    [2.0, 1.5555555555555556]
    """
    v, _ = best_of_n_distribution(values, 1, direction)
    B = v.size
    i = np.arange(1, B + 1)
    upper, lower = (B - i + 1) / B, (B - i) / B
    ascending = direction == "minimize"  # v best first; the quantiles want ascending values
    values_up = v if ascending else v[::-1]
    mean, lo, hi = [], [], []
    for n in ns:
        p = upper ** int(n) - lower ** int(n)
        keep = p > 0
        with np.errstate(invalid="ignore"):
            mean.append(float(np.sum(v[keep] * p[keep])))
        cdf = np.cumsum(p if ascending else p[::-1])
        a = values_up[min(np.searchsorted(cdf, BAND[0] - 1e-12), B - 1)]
        b = values_up[min(np.searchsorted(cdf, BAND[1] - 1e-12), B - 1)]
        lo.append(float(min(a, b)))
        hi.append(float(max(a, b)))
    return np.array(mean), np.array(lo), np.array(hi)


def budget_points(budget: int, most: int = 200) -> np.ndarray:
    """The budgets n at which a report draws the expected best: every n up to ``most``,
    beyond that ``most`` points spaced evenly on the (logarithmic) axis, ending at ``budget``.

    >>> budget_points(5).tolist()
    [1, 2, 3, 4, 5]
    >>> p = budget_points(20_000); (len(p) <= 200, int(p[0]), int(p[-1]))
    (True, 1, 20000)
    """
    if budget <= most:
        return np.arange(1, budget + 1)
    return np.unique(np.round(np.geomspace(1, budget, most)).astype(int))


def performance_profile(costs: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """ρ[s, j]: the fraction of problems (rows of ``costs``, shape (P, S)) on which solver s
    is within a factor ``taus[j]`` of the best. Costs must be > 0; ∞ never counts.

    >>> t = np.array([[1.0, 2.0], [4.0, 2.0], [3.0, np.inf]])
    >>> performance_profile(t, np.array([1.0, 2.0])).tolist()
    [[0.6666666666666666, 1.0], [0.3333333333333333, 0.6666666666666666]]
    """
    t = np.asarray(costs, dtype=float)
    if (t <= 0).any() or np.isnan(t).any():
        raise InputError("performance-profile costs must be > 0 (or inf)")
    best = t.min(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        r = np.where(np.isfinite(best), t / best, np.inf)
    return (r[:, :, None] <= np.asarray(taus)[None, None, :]).mean(axis=0)


def ranks(costs: np.ndarray) -> np.ndarray:
    """(P, S) ranks per problem, 1 = best (lowest cost), ties sharing their average rank.

    >>> ranks(np.array([[1.0, 2.0, 2.0], [np.inf, 0.5, 1.0]])).tolist()
    [[1.0, 2.5, 2.5], [3.0, 1.0, 2.0]]
    """
    t = np.asarray(costs, dtype=float)
    out = np.zeros_like(t)
    for p, row in enumerate(t):
        for s, x in enumerate(row):
            out[p, s] = 1 + np.sum(row < x) + (np.sum(row == x) - 1) / 2
    return out


def profile_costs(values: np.ndarray, direction: str, reference: np.ndarray,
                  floor: np.ndarray) -> np.ndarray:
    """Turn metric values (P, S) into positive costs: ``value − reference`` for metrics to
    minimise (``reference`` per problem: the known optimum, or the best value any optimizer
    reached), ``reference − value`` for metrics to maximise; at least ``floor`` (per
    problem), so that differences below it are ties."""
    v = np.asarray(values, dtype=float)
    gap = v - reference[:, None] if direction == "minimize" else reference[:, None] - v
    gap = np.where(np.isnan(gap), np.inf, gap)
    return np.maximum(gap, floor[:, None])


__all__ = ["BAND", "quantile", "median_iqr", "expected_best", "best_of_n_distribution",
           "budget_points",
           "performance_profile", "ranks", "profile_costs"]
