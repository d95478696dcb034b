"""Batch iterators: which samples each gradient step sees.

``batch_indices(mode, n, batch_size, seed)`` yields index arrays forever (stop it with
``itertools.islice`` or a loop counter); ``iterate_minibatches`` is the finite, per-epoch form.

Modes (:data:`BATCH_MODES`):

* ``"full"`` — batch gradient descent: every step sees all n samples, ``arange(n)``;
* ``"single"`` — stochastic gradient descent: one sample per step, in a fresh random
  order each epoch (every sample once per epoch);
* ``"minibatch"`` — a fresh permutation each epoch cut into batches of ``batch_size``
  (the last, shorter batch of an epoch is kept);
* ``"replacement"`` — ``batch_size`` indices drawn uniformly *with replacement* at every step,
  independent of epochs (the classic MNIST race: ``np.random.choice(train_size, batch_size)``).

>>> from itertools import islice
>>> [b.tolist() for b in islice(batch_indices("full", 3), 2)]
[[0, 1, 2], [0, 1, 2]]
>>> sorted(int(b[0]) for b in islice(batch_indices("single", 4, seed=0), 4))
[0, 1, 2, 3]
>>> [len(b) for b in islice(batch_indices("minibatch", 10, 4, seed=0), 4)]
[4, 4, 2, 4]
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..errors import InputError

BATCH_MODES = ("full", "single", "minibatch", "replacement")


def batch_indices(mode: str, n: int, batch_size: int = 32,
                  seed: int | np.random.Generator | None = None) -> Iterator[np.ndarray]:
    """Index arrays for each step, forever (see the module docstring for ``mode``)."""
    if mode not in BATCH_MODES:
        raise InputError(f"unknown batch mode {mode!r}; use one of {', '.join(BATCH_MODES)}")
    if n < 1:
        raise InputError(f"need at least one sample, got n={n}")
    if mode in ("minibatch", "replacement") and batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if mode == "full":
        everything = np.arange(n)
        while True:
            yield everything
    elif mode == "replacement":
        while True:
            yield rng.integers(0, n, batch_size)
    else:
        size = 1 if mode == "single" else batch_size
        while True:
            order = rng.permutation(n)
            for start in range(0, n, size):
                yield order[start:start + size]


def iterate_minibatches(x: np.ndarray, t: np.ndarray, batch_size: int, *, shuffle: bool = True,
                        seed: int | np.random.Generator | None = None,
                        ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One epoch of ``(x_batch, t_batch)`` pairs (last batch may be shorter)."""
    if len(x) != len(t):
        raise InputError(f"{len(x)} samples but {len(t)} targets")
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    order = rng.permutation(len(x)) if shuffle else np.arange(len(x))
    for start in range(0, len(x), batch_size):
        idx = order[start:start + batch_size]
        yield x[idx], t[idx]
