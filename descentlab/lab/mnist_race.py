"""E5 — the MNIST race: several optimizers train the same network on the same mini-batches.

The classic experiment (``optimizer_compare_mnist.py`` of the textbook): a 784-100-100-100-100-10
ReLU network with He initialisation and softmax cross-entropy, 2000 iterations of mini-batches
of 128 drawn at random *with replacement*, and at every iteration the same mini-batch for
every optimizer. Here every network also starts from the same weights (same seed), so the
optimizers are the only difference.

The loss recorded at iteration k is the mini-batch loss computed by the forward pass of
step k, i.e. *before* update k (PyTorch's convention; it costs no extra forward pass — the
textbook evaluates the loss again after the update). A network whose loss or gradient turns
non-finite is reported as diverged at that iteration, drops out, and the others go on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError
from .manifest import optimizer_settings
from .progressbar import ProgressBar
from .spec import build_optimizer, check_takes_gradients, parse_optimizer_spec

if TYPE_CHECKING:  # the networks (and numba) load only when a race runs
    from ..nn import MultiLayerNet

#: The six optimizers of the classic race, at the classic defaults (lr 0.01, Adam 0.001).
#: SGD, Momentum and Nesterov default to PyTorch's lr 0.001, so their 0.01 is written here;
#: AdaGrad's and RMSprop's 0.01 and Adam's 0.001 are PyTorch's defaults too.
CLASSIC_OPTIMIZERS = ("sgd:lr=0.01", "momentum:lr=0.01", "nesterov:lr=0.01", "adagrad",
                      "rmsprop", "adam")


@dataclass
class RaceResult:
    """What a race produced. ``losses[name]`` has one entry per iteration (NaN after a
    divergence); ``diverged[name]`` is the 1-based iteration at which the loss or gradient
    went non-finite (absent if it never did)."""

    names: list[str]
    specs: list[str]
    #: Per optimizer: class, every hyperparameter (defaults included) and option.
    optimizer_settings: dict[str, dict]
    losses: dict[str, np.ndarray]
    diverged: dict[str, int] = field(default_factory=dict)
    train_accuracy: dict[str, float] = field(default_factory=dict)
    test_accuracy: dict[str, float] = field(default_factory=dict)
    gradient_seconds: dict[str, float] = field(default_factory=dict)
    update_seconds: dict[str, float] = field(default_factory=dict)
    batch_seconds: float = 0.0
    networks: dict[str, MultiLayerNet] = field(default_factory=dict, repr=False)


def unique_names(specs: Sequence[str]) -> list[str]:
    """Display names for specs: the optimizer name, or the whole spec if a name repeats."""
    names = [parse_optimizer_spec(s)[0] for s in specs]
    return [n if names.count(n) == 1 else s.strip().lower() for n, s in zip(names, specs)]


def run_race(
    x_train: np.ndarray, t_train: np.ndarray,
    specs: Sequence[str] = CLASSIC_OPTIMIZERS,
    *,
    x_test: np.ndarray | None = None, t_test: np.ndarray | None = None,
    iterations: int = 2000, batch_size: int = 128,
    hidden: Sequence[int] = (100, 100, 100, 100),
    activation: str = "relu", weight_init_std: str | float = "he",
    weight_decay_lambda: float = 0.0, dtype: type = np.float32,
    seed: int = 0, log_every: int = 100,
    log: Callable[[str], None] | None = print, progress: bool = True,
) -> RaceResult:
    """Race the optimizers given as specs (``"adam:lr=0.001"``, see :mod:`.spec`), one
    network each, all initialised from ``seed``; see :func:`train_together`."""
    if len(specs) == 0:
        raise InputError("give at least one optimizer")
    names = unique_names(specs)
    if len(set(names)) != len(names):
        raise InputError(f"optimizer given twice: {', '.join(specs)}")
    from ..nn import MultiLayerNet

    optimizers = {n: build_optimizer(s) for n, s in zip(names, specs)}
    n_in, n_classes = data_shapes(x_train, t_train)
    nets = {n: MultiLayerNet(n_in, list(hidden), n_classes, activation=activation,
                             weight_init_std=weight_init_std,
                             weight_decay_lambda=weight_decay_lambda, dtype=dtype, seed=seed)
            for n in names}
    return train_together(nets, optimizers, x_train, t_train, specs=list(specs),
                          x_test=x_test, t_test=t_test, iterations=iterations,
                          batch_size=batch_size, seed=seed, log_every=log_every, log=log,
                          progress=progress)


def data_shapes(x: np.ndarray, t: np.ndarray) -> tuple[int, int]:
    """(inputs per sample, classes) of a training set; its sample and label counts must agree."""
    if len(x) != len(t):
        raise InputError(f"{len(x)} training samples but {len(t)} labels")
    n_classes = int(t.shape[1]) if np.ndim(t) == 2 else int(np.max(t)) + 1
    return int(np.prod(np.shape(x)[1:])), n_classes


def train_together(
    nets: dict[str, MultiLayerNet], optimizers: dict[str, Any],
    x_train: np.ndarray, t_train: np.ndarray,
    *,
    specs: list[str] | None = None,
    x_test: np.ndarray | None = None, t_test: np.ndarray | None = None,
    iterations: int = 2000, batch_size: int = 128, seed: int = 0, log_every: int = 100,
    log: Callable[[str], None] | None = print, progress: bool = True,
    flat_update: bool = True,
    train_accuracy: bool = True,
    check_every: int = 0,
    check: Callable[[int, list[str]], Sequence[str]] | None = None,
) -> RaceResult:
    """Train ``nets[k]`` with ``optimizers[k]`` for every key, on the same mini-batches.

    With ``flat_update`` (default) each update is ``opt.update(net.flat_params,
    net.flat_grads)`` — one array instead of one per layer, the same numbers for these
    element-wise rules — unless the net's params were replaced or the optimizer clips each
    array's norm separately (``clip_norm``); then ``opt.update(net.params, grads)``.

    Mini-batches: ``numpy.random.default_rng(seed).integers(0, n, batch_size)`` at every
    iteration (sampling with replacement, as the classic race). ``log`` receives a header
    and one line of losses every ``log_every`` iterations (None: silent). Accuracies are
    measured at the end on the whole training set (unless ``train_accuracy`` is False) and,
    if given, the test set.

    ``check(iteration, names)``, if given, is called after every ``check_every`` iterations
    with the networks still training; those whose names it returns stop training there
    (finished, not diverged: their losses stay NaN from then on).
    """
    if iterations < 1 or batch_size < 1:
        raise InputError(f"iterations and batch_size must be >= 1, got {iterations}, "
                         f"{batch_size}")
    names = list(nets)
    if set(optimizers) != set(names):
        raise InputError("nets and optimizers must have the same keys")
    for opt in optimizers.values():
        check_takes_gradients(opt, "the network race")
    x_train = np.asarray(x_train)
    data_shapes(x_train, t_train)
    dtype = nets[names[0]].dtype
    x_train = x_train.reshape(len(x_train), -1).astype(dtype, copy=False)
    losses = {n: np.full(iterations, np.nan) for n in names}
    settings = {n: optimizer_settings(optimizers[n]) for n in names}
    result = RaceResult(names, specs or names, settings, losses, networks=nets)
    grad_time = dict.fromkeys(names, 0.0)
    update_time = dict.fromkeys(names, 0.0)
    flat = {n: flat_update and nets[n].is_flat and getattr(optimizers[n], "clip_norm", None)
            is None for n in names}
    alive = list(names)
    rng = np.random.default_rng(seed)
    width = max(10, *(len(n) for n in names))
    if log:
        log(f"{'iteration':>9}  " + "  ".join(f"{n:>{width}}" for n in names))
    bar = ProgressBar(iterations, "race", enabled=progress)
    clock = time.perf_counter
    batch_time = 0.0
    with np.errstate(all="ignore"):
        for i in range(iterations):
            t0 = clock()
            idx = rng.integers(0, len(x_train), batch_size)
            xb, tb = x_train[idx], t_train[idx]
            batch_time += clock() - t0
            for n in list(alive):
                net, opt = nets[n], optimizers[n]
                t0 = clock()
                grads = net.gradient(xb, tb)
                t1 = clock()
                loss = net.last_loss
                if not np.isfinite(loss):
                    result.diverged[n] = i + 1
                    alive.remove(n)
                    continue
                try:
                    if flat[n]:
                        opt.update(net.flat_params, net.flat_grads)
                    else:
                        opt.update(net.params, grads)
                except FloatingPointError:
                    result.diverged[n] = i + 1
                    alive.remove(n)
                    continue
                t2 = clock()
                grad_time[n] += t1 - t0
                update_time[n] += t2 - t1
                losses[n][i] = loss
            if log and ((i + 1) % log_every == 0 or i == 0):
                cells = []
                for n in names:
                    if n in result.diverged:
                        cells.append(f"{'div@' + str(result.diverged[n]):>{width}}")
                    else:
                        cells.append(f"{losses[n][i]:>{width}.4f}")
                log(f"{i + 1:>9}  " + "  ".join(cells))
            if check is not None and check_every > 0 and (i + 1) % check_every == 0 \
                    and alive:
                for n in check(i + 1, list(alive)):
                    alive.remove(n)
            bar.update(i + 1)
    bar.close()
    done = {n: (result.diverged.get(n, iterations + 1) - 1) or 1 for n in names}
    result.gradient_seconds = {n: grad_time[n] / done[n] for n in names}
    result.update_seconds = {n: update_time[n] / done[n] for n in names}
    result.batch_seconds = batch_time / iterations
    with np.errstate(all="ignore"):
        for n in names:
            if n in result.diverged:
                continue
            if train_accuracy:
                result.train_accuracy[n] = nets[n].accuracy(x_train, t_train)
            if x_test is not None and t_test is not None:
                result.test_accuracy[n] = nets[n].accuracy(x_test, t_test)
    return result
