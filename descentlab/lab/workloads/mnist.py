"""The MNIST workloads: logistic regression, the E5 MLP, an MLP autoencoder and a CNN.

Data: the MNIST IDX files in ``data_dir`` (read with :func:`descentlab.data.load_mnist`,
never downloaded here). Splits: the last ``n_valid`` images of the official training set are
the validation split (default 5,000, at most a sixth of the set), the first ``n_train`` of
the rest the training split (default all), the official 10,000 test images the test split.
Pixels in [0, 1], float32.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...data import load_mnist
from ...errors import InputError
from ...nn import ConvNet, MultiLayerNet
from .base import NetTask, Target, default_target


@functools.lru_cache(maxsize=2)
def _load(directory: str) -> tuple[np.ndarray, ...]:
    (x, t), (xt, tt) = load_mnist(directory or None, download=False, progress=False)
    arrays = (x, t.astype(np.intp), xt, tt.astype(np.intp))
    for a in arrays:
        a.flags.writeable = False          # shared between tasks: nobody may change it
    return arrays


def mnist_splits(data_dir: str | Path | None = None, n_train: int | None = None,
                 n_valid: int | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train": (x, t), "valid": (x, t), "test": (x, t)}`` as described above."""
    x, t, xt, tt = _load(str(Path(data_dir).expanduser().resolve()) if data_dir else "")
    n = len(x)
    n_valid = min(5000, n // 6) if n_valid is None else int(n_valid)
    if not 1 <= n_valid < n:
        raise InputError(f"n_valid must be in 1..{n - 1} for {n} training images, "
                         f"got {n_valid}")
    rest = n - n_valid
    n_train = rest if n_train is None else int(n_train)
    if not 1 <= n_train <= rest:
        raise InputError(f"n_train must be in 1..{rest}, got {n_train}")
    return {"train": (x[:n_train], t[:n_train]), "valid": (x[rest:], t[rest:]),
            "test": (xt, tt)}


class MnistTask(NetTask):
    """A network on MNIST. Args: ``data_dir`` (the IDX files), ``n_train``, ``n_valid``
    (see :func:`mnist_splits`), ``steps``, ``batch_size``, ``eval_every`` (override the
    budget), and the network's settings (per subclass)."""

    def __init__(self, data_dir: str | Path | None = None, *, n_train: int | None = None,
                 n_valid: int | None = None, steps: int | None = None,
                 batch_size: int | None = None, eval_every: int | None = None,
                 target: float | None = None) -> None:
        for name, value in (("steps", steps), ("batch_size", batch_size),
                            ("eval_every", eval_every)):
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                        or value < 1:
                    raise InputError(f"{name} must be a positive integer, got {value!r}")
                setattr(self, name, int(value))
        if target is not None:
            self.target = Target(self.target.metric, float(target), self.target.mode)
        super().__init__(mnist_splits(data_dir, n_train, n_valid))


class LogisticRegressionTask(MnistTask):
    """Multinomial logistic regression (784 → 10 softmax, convex), Xavier initialisation."""

    name, steps, batch_size, eval_every = "logreg", 1000, 128, 100
    target = default_target("logreg")

    def make_net(self, seed: int) -> Any:
        return MultiLayerNet(784, [], 10, weight_init_std="xavier", seed=seed)


class MLPTask(MnistTask):
    """The E5 network: 784-100-100-100-100-10, ReLU, He initialisation."""

    name, steps, batch_size, eval_every = "mlp", 2000, 128, 200
    target = default_target("mlp")

    def __init__(self, data_dir: str | Path | None = None, *,
                 hidden: Sequence[int] = (100, 100, 100, 100), activation: str = "relu",
                 **kwargs: Any) -> None:
        self.hidden, self.activation = list(hidden), activation
        MultiLayerNet(784, self.hidden, 10, activation=activation, seed=0)   # checks them
        super().__init__(data_dir, **kwargs)

    def make_net(self, seed: int) -> Any:
        return MultiLayerNet(784, self.hidden, 10, activation=self.activation,
                             weight_init_std="he" if self.activation == "relu" else "xavier",
                             seed=seed)


class AutoencoderTask(MLPTask):
    """An MLP autoencoder 784-256-32-256-784 (ReLU, linear output), trained and scored by the
    mean squared reconstruction error per pixel (metric ``loss``)."""

    name, steps, batch_size, eval_every = "autoencoder", 2000, 128, 200
    target = default_target("autoencoder")

    def __init__(self, data_dir: str | Path | None = None, *,
                 hidden: Sequence[int] = (256, 32, 256), **kwargs: Any) -> None:
        super().__init__(data_dir, hidden=hidden, **kwargs)
        self.data = {k: (x, x) for k, (x, _) in self.data.items()}   # the target is x

    def make_net(self, seed: int) -> Any:
        return MultiLayerNet(784, self.hidden, 784, activation=self.activation, loss="mse",
                             weight_init_std="he" if self.activation == "relu" else "xavier",
                             seed=seed)

    def metrics(self, net: Any, x: np.ndarray, t: np.ndarray) -> dict[str, float]:
        loss = 0.0
        for s in range(0, len(x), self.eval_batch):
            xb = x[s:s + self.eval_batch]
            loss += net.loss(xb, xb) * len(xb)
        return {"loss": loss / len(x)}


class CNNTask(MnistTask):
    """:class:`~descentlab.nn.ConvNet`: conv 16 3×3 → ReLU → pool → conv 32 3×3 → ReLU →
    pool → affine → softmax (channels, hidden layers and activation adjustable)."""

    name, steps, batch_size, eval_every = "cnn", 1000, 128, 100
    target = default_target("cnn")

    def __init__(self, data_dir: str | Path | None = None, *,
                 channels: Sequence[int] = (16, 32), hidden: Sequence[int] = (),
                 activation: str = "relu", **kwargs: Any) -> None:
        self.arch = dict(channels=tuple(channels), hidden=tuple(hidden), activation=activation)
        ConvNet(**self.arch, seed=0)                                      # checks them
        super().__init__(data_dir, **kwargs)

    def make_net(self, seed: int) -> Any:
        init = "he" if self.arch["activation"] == "relu" else "xavier"
        return ConvNet(**self.arch, weight_init_std=init, seed=seed)
