"""The random draws of PSGD Kron's reference, replaced by the ones descentlab's ``PSGDKron``
makes, so that the two can be compared step by step.

pytorch-optimizer's ``Kron`` draws, at every update, one ``np.random.random()`` (whether to
rebalance the factors) and then, when it refits them, one ``torch.randn_like`` per parameter in
order. Inside ``same_draws(seed)`` those come from ``numpy.random.default_rng([seed, n])`` at
its n-th update (n counted by the ``np.random.random()`` calls), in the order ``PSGDKron``
draws them: the reference's own arithmetic, given our randomness.

>>> import torch
>>> with same_draws(7):
...     u = np.random.random()
...     v = torch.randn_like(torch.zeros(2, dtype=torch.float64))
>>> g = np.random.default_rng([7, 0])
>>> u == g.random() and v.tolist() == g.standard_normal(2).tolist()
True
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch


@contextlib.contextmanager
def same_draws(seed: int) -> Iterator[None]:
    """``np.random.random`` and ``torch.randn_like`` draw PSGDKron's numbers in the block."""
    count, current = [0], [None]

    def random() -> float:
        current[0] = np.random.default_rng([seed, count[0]])
        count[0] += 1
        return float(current[0].random())

    def randn_like(x: torch.Tensor, dtype: torch.dtype | None = None, **_: object):
        draws = current[0].standard_normal(tuple(x.shape))
        return torch.tensor(draws, dtype=dtype or x.dtype)

    saved = np.random.random, torch.randn_like
    np.random.random, torch.randn_like = random, randn_like
    try:
        yield
    finally:
        np.random.random, torch.randn_like = saved


def solve_float64(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """The reference's ``solve_triangular_right`` (pytorch_optimizer.optimizer.psgd) without
    its float32 cast: what ours computes with ``solve_dtype="param"``."""
    rows = x.reshape(-1, x.size(-1))
    return torch.linalg.solve_triangular(a, rows, upper=True, left=False).reshape_as(x)
