"""E8 — batch, stochastic and mini-batch gradient descent, with and without standardisation.

The same linear model (least squares: MSE; logistic regression: binary cross-entropy) is
trained by plain SGD from zero weights on the same data, feeding it

* the whole set at every step (batch gradient descent),
* one sample at a time, reshuffled every epoch (stochastic gradient descent),
* mini-batches (default 32) of a fresh permutation every epoch,

for the same number of epochs, i.e. the same number of samples seen. The loss on the whole
set is recorded against samples seen and against the wall time spent in updates.

Learning rate: by default ``lr = 1/L`` per mode, where L bounds the curvature of the loss a
step sees — 2·λ_max(X̃_Bᵀ X̃_B/|B|) for MSE, ¼·λ_max(…) for logistic regression, X̃ = [X, 1]
on the batch B. For the whole set that is the classic safe step of gradient descent; for
single samples and mini-batches L is the 90th percentile over 200 random batches (a step
safe for nine batches in ten; one sample's curvature is far above the average's).

Features of very different scales make L large along the big feature and the step tiny
along the small one, so plain gradient descent crawls; standardised features (zero mean,
unit variance) make the problem round.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from itertools import islice

import numpy as np

from .. import optim
from ..data import batch_indices, standardize
from ..nn import MultiLayerNet

#: Batch modes of the experiment: label → :func:`~descentlab.data.batch_indices` mode.
MODES = {"batch": "full", "stochastic": "single", "mini-batch": "minibatch"}


def _batch_size(kind: str, n: int, batch_size: int) -> int:
    return {"full": n, "single": 1}.get(kind, batch_size)


@dataclass
class Curve:
    """One run: full-set loss after ``samples[k]`` samples seen and ``seconds[k]`` of update
    time; ``diverged`` is the update count at which the loss went non-finite (or None)."""

    label: str
    lr: float
    samples: np.ndarray
    seconds: np.ndarray
    loss: np.ndarray
    updates: int
    diverged: int | None = None


def safe_learning_rate(x: np.ndarray, loss: str, batch_size: int | None = None,
                       seed: int = 0) -> float:
    """1/L for a linear model on ``x`` seen in batches of ``batch_size`` (None: the whole
    set); see the module docstring.

    >>> x = np.array([[1.0], [-1.0]])      # X̃ᵀX̃/n = [[1, 0], [0, 1]], λ_max = 1
    >>> safe_learning_rate(x, "mse")       # 1/(2·1)
    0.5
    """
    c = 2.0 if loss == "mse" else 0.25
    xt = np.c_[x, np.ones(len(x))]
    if batch_size is None or batch_size >= len(x):
        return 1.0 / (c * float(np.linalg.eigvalsh(xt.T @ xt / len(x))[-1]))
    rng = np.random.default_rng(seed)
    lams = []
    for _ in range(200):
        b = xt[rng.choice(len(x), batch_size, replace=False)]
        lams.append(np.linalg.eigvalsh(b.T @ b / batch_size)[-1])
    return 1.0 / (c * float(np.percentile(lams, 90)))


def train_linear(x: np.ndarray, t: np.ndarray, loss: str, mode: str, *, lr: float,
                 epochs: int = 20, batch_size: int = 32, seed: int = 0,
                 points: int = 200) -> Curve:
    """Plain SGD on a linear model (``loss`` "mse" or "bce"), recording the full-set loss
    at about ``points`` moments spread evenly over the samples seen."""
    n = len(x)
    kind = MODES[mode]
    size = _batch_size(kind, n, batch_size)
    steps_per_epoch = -(-n // size)
    total = epochs * steps_per_epoch
    net = MultiLayerNet(x.shape[1], [], 1, weight_init_std=0.0, dtype=np.float64, loss=loss)
    opt = optim.create("sgd", lr=lr)
    record_at = set(np.unique(np.linspace(0, total, min(points, total + 1)).astype(int)))
    samples, seconds, losses = [], [], []
    seen, spent, diverged = 0, 0.0, None
    t_col = t.reshape(-1, 1)
    with np.errstate(all="ignore"):
        for step, idx in enumerate(islice(batch_indices(kind, n, size, seed), total + 1)):
            if step in record_at:
                full = net.loss(x, t_col)
                samples.append(seen)
                seconds.append(spent)
                losses.append(full)
                if not np.isfinite(full):
                    diverged = step
                    break
            if step == total:
                break
            t0 = time.perf_counter()
            grads = net.gradient(x[idx], t_col[idx])
            try:
                opt.update(net.params, grads)
            except FloatingPointError:
                diverged = step + 1
                break
            spent += time.perf_counter() - t0
            seen += len(idx)
    return Curve(mode, lr, np.array(samples), np.array(seconds), np.array(losses), total,
                 diverged)


def compare_batch_modes(x: np.ndarray, t: np.ndarray, loss: str, *, epochs: int = 20,
                        batch_size: int = 32, lr: float | None = None, seed: int = 0,
                        ) -> list[Curve]:
    """Every batch mode on raw and standardised features; labels "mode (raw)" and
    "mode (standardised)". ``lr=None``: :func:`safe_learning_rate` of each feature set."""
    curves = []
    z, _, _ = standardize(x)
    for variant, data in (("standardised", z), ("raw", x)):
        for mode, kind in MODES.items():
            size = _batch_size(kind, len(x), batch_size)
            rate = safe_learning_rate(data, loss, size, seed) if lr is None else lr
            c = train_linear(data, t, loss, mode, lr=rate, epochs=epochs,
                             batch_size=batch_size, seed=seed)
            c.label = f"{mode} ({variant})"
            curves.append(c)
    return curves
