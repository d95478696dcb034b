"""What every workload shares: the target, the result of a run, the training loop (written
once), and the task built on a network with the E5 API (:class:`NetTask`)."""

from __future__ import annotations

import contextlib
import functools
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputError
from ..spec import check_takes_gradients


def _copy(tree: Any) -> Any:
    return {k: np.array(v, copy=True) for k, v in tree.items()} if isinstance(tree, dict) \
        else np.array(tree, copy=True)


def _assign(dst: Any, src: Any) -> None:
    """Copy ``src`` into the arrays of ``dst`` in place (views stay views)."""
    if isinstance(dst, dict):
        for k in dst:
            np.copyto(dst[k], src[k])
    else:
        np.copyto(dst, src)


@dataclass(frozen=True)
class Target:
    """A validation target: ``metric`` must reach ``value`` (``mode`` "min": ≤, "max": ≥)."""

    metric: str
    value: float
    mode: str = "min"

    def reached(self, metrics: dict[str, float]) -> bool:
        v = metrics[self.metric]
        return bool(v <= self.value) if self.mode == "min" else bool(v >= self.value)


#: The workloads' validation targets, with where each came from (see its "about").
TARGETS_FILE = Path(__file__).with_name("targets.json")


@functools.lru_cache(maxsize=1)
def _targets() -> dict[str, Any]:
    return json.loads(TARGETS_FILE.read_text(encoding="utf-8"))["workloads"]


def default_target(workload: str, variant: str | None = None) -> Target:
    """The workload's validation target as :data:`TARGETS_FILE` records it; a held-out
    ``variant``'s is its own entry ``"workload:variant"`` (set from a run that ran the
    variant), and until it has one, provisionally, the base workload's.

    >>> default_target("nqm").metric, default_target("nqm").mode
    ('loss', 'min')
    """
    entries = _targets()
    key = f"{workload}:{variant}"
    entry = entries[key if variant is not None and key in entries else workload]
    return Target(entry["metric"], float(entry["value"]), entry["mode"])


@dataclass
class RunResult:
    """One training run.

    ``curve``: (step, validation metrics) at step 0 and every ``eval_every`` steps and at
    the end; ``train_loss``: the mini-batch loss of every step (before its update);
    ``reached_at``: the first evaluated step meeting the target (None: never);
    ``cpu_seconds`` / ``wall_seconds``: training time (gradients and updates, evaluations
    excluded, as AlgoPerf's score), ``cpu_at_target``: CPU seconds until ``reached_at``;
    ``diverged``: the loss became inf/NaN (training stopped there).
    """

    workload: str
    seed: int
    steps: int
    curve: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    reached_at: int | None = None
    cpu_at_target: float | None = None
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    diverged: bool = False

    @property
    def final(self) -> dict[str, float]:
        """The validation metrics of the last evaluation."""
        return self.curve[-1][1] if self.curve else {}


def positive_int(name: str, value: Any) -> int:
    """``value`` as an int, or an InputError naming ``name`` unless it is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_fresh(optimizer: Any) -> None:
    """An InputError unless the optimizer has made no update yet (its state would carry
    over from another run)."""
    if getattr(optimizer, "step", 0):
        raise InputError(f"the optimizer has already made {optimizer.step} updates: give "
                         f"each run a fresh one")
    check_takes_gradients(optimizer, "a workload")


class Task:
    """A seeded, deterministic training problem (see the package docstring for the
    interface). Subclasses set ``name``, ``steps``, ``batch_size``, ``target``,
    ``eval_every`` and implement :meth:`init_params`, :meth:`train_batches`,
    :meth:`loss_and_grad`, :meth:`evaluate` (and :meth:`_update` if their parameters are
    not a dict updated in place)."""

    name: str
    steps: int
    batch_size: int
    target: Target
    eval_every: int

    def init_params(self, seed: int) -> Any:
        raise NotImplementedError

    def train_batches(self, seed: int) -> Iterator[Any]:
        raise NotImplementedError

    def loss_and_grad(self, params: Any, batch: Any) -> tuple[float, Any]:
        raise NotImplementedError

    def evaluate(self, params: Any, split: str = "valid") -> dict[str, float]:
        raise NotImplementedError

    def _update(self, optimizer: Any, params: Any, grads: Any) -> None:
        optimizer.update(self._updated(optimizer, params), grads)

    def _updated(self, optimizer: Any, params: Any) -> Any:
        """What ``optimizer.update`` is given as the parameters (an array or a dict)."""
        return params

    @contextlib.contextmanager
    def evaluated_at(self, optimizer: Any, params: Any) -> Iterator[None]:
        """Inside, ``params`` hold the point the optimizer wants evaluated — schedule-free
        optimizers train at y and are evaluated at their average x (``eval_params``);
        afterwards they hold the training point again, bit for bit."""
        point = getattr(optimizer, "eval_params", None)
        if point is None or not getattr(optimizer, "step", 0):
            yield
            return
        target = self._updated(optimizer, params)
        shown = point(target)
        saved = _copy(target)
        _assign(target, shown)
        try:
            yield
        finally:
            _assign(target, saved)

    def run(self, optimizer: Any, seed: int = 0, steps: int | None = None,
            eval_every: int | None = None, stop_at_target: bool = False) -> RunResult:
        """Train from ``init_params(seed)`` on ``train_batches(seed)`` with a fresh
        ``optimizer`` for ``steps`` updates (default: the task's budget), evaluating the
        validation split every ``eval_every`` steps (default: the task's); with
        ``stop_at_target``, stop at the first evaluation that meets the target."""
        steps = self.steps if steps is None else positive_int("steps", steps)
        every = self.eval_every if eval_every is None else positive_int("eval_every",
                                                                          eval_every)
        check_fresh(optimizer)
        params = self.init_params(seed)
        batches = self.train_batches(seed)
        result = RunResult(self.name, int(seed), steps)
        cpu = wall = 0.0

        def evaluate(step: int) -> bool:
            with self.evaluated_at(optimizer, params):
                metrics = self.evaluate(params, "valid")
            result.curve.append((step, metrics))
            if result.reached_at is None and self.target.reached(metrics):
                result.reached_at, result.cpu_at_target = step, cpu
            return stop_at_target and result.reached_at is not None

        if evaluate(0):
            return result
        with np.errstate(all="ignore"):
            for step in range(1, steps + 1):
                c0, w0 = time.process_time(), time.perf_counter()
                loss, grads = self.loss_and_grad(params, next(batches))
                if not math.isfinite(loss):
                    result.diverged = True
                    result.train_loss.append(float("nan"))
                    break
                self._update(optimizer, params, grads)
                cpu += time.process_time() - c0
                wall += time.perf_counter() - w0
                result.train_loss.append(float(loss))
                if (step % every == 0 or step == steps) and evaluate(step):
                    break
        result.cpu_seconds, result.wall_seconds = cpu, wall
        return result


class NetTask(Task):
    """A task on a network with the E5 API (``params``, ``gradient(x, t)``, ``loss(x, t)``,
    ``flat_params``/``flat_grads``) and in-memory arrays ``data[split] = (x, t)`` for the
    splits "train", "valid", "test". Batches: a fresh permutation of the training set every
    epoch (``numpy.random.default_rng(seed)``), ``batch_size`` samples per step."""

    eval_batch = 1000
    #: Training batches are drawn from ``data["train"]`` (False: the task draws its own).
    batches_from_data = True

    def __init__(self, data: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        for split in ("train", "valid", "test"):
            if split not in data or len(data[split][0]) == 0:
                raise InputError(f"{self.name}: the {split} split is empty")
        if self.batches_from_data and len(data["train"][0]) < self.batch_size:
            raise InputError(f"{self.name}: {len(data['train'][0])} training samples are "
                             f"fewer than batch_size {self.batch_size}")
        self.data = data
        self.net: Any = None

    def make_net(self, seed: int) -> Any:
        raise NotImplementedError

    def init_params(self, seed: int) -> Any:
        """A fresh network (kept as ``self.net``) initialised from ``seed``; its params."""
        self.net = self.make_net(seed)
        return self.net.params

    def _net_for(self, params: Any) -> Any:
        if self.net is None or params is not self.net.params:
            if self.net is None or set(params) != set(self.net.params):
                raise InputError(f"{self.name}: params must come from init_params")
            for k, v in params.items():
                self.net.params[k] = v
        return self.net

    def train_batches(self, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        x, t = self.data["train"]
        rng = np.random.default_rng(seed)
        b = self.batch_size
        while True:
            order = rng.permutation(len(x))
            for start in range(0, len(x) - b + 1, b):
                idx = order[start:start + b]
                yield x[idx], t[idx]

    def loss_and_grad(self, params: Any, batch: tuple[np.ndarray, np.ndarray]
                      ) -> tuple[float, dict[str, np.ndarray]]:
        net = self._net_for(params)
        grads = net.gradient(*batch)
        return float(net.last_loss), grads

    def _updated(self, optimizer: Any, params: Any) -> Any:
        net = self.net
        if (net is not None and params is net.params and getattr(net, "is_flat", True)
                and getattr(type(optimizer), "elementwise", False)
                and getattr(optimizer, "clip_norm", None) is None):
            return net.flat_params                  # the same update, one call
        return params

    def _update(self, optimizer: Any, params: Any, grads: Any) -> None:
        target = self._updated(optimizer, params)
        optimizer.update(target, self.net.flat_grads if target is not params else grads)

    def metrics(self, net: Any, x: np.ndarray, t: np.ndarray) -> dict[str, float]:
        """Mean loss and accuracy over (x, t) (class indices), in chunks, from one forward
        pass per chunk (the loss layer keeps the softmax probabilities ``y``)."""
        loss = correct = 0.0
        for s in range(0, len(x), self.eval_batch):
            xb, tb = x[s:s + self.eval_batch], t[s:s + self.eval_batch]
            loss += net.loss(xb, tb) * len(xb)
            correct += np.count_nonzero(net.last_layer.y.argmax(axis=-1) == tb.reshape(-1))
        return {"loss": float(loss / len(x)), "accuracy": float(correct / len(x))}

    def evaluate(self, params: Any, split: str = "valid") -> dict[str, float]:
        if split not in ("train", "valid", "test"):
            raise InputError(f"unknown split {split!r}; use train, valid or test")
        with np.errstate(all="ignore"):
            return self.metrics(self._net_for(params), *self.data[split])
