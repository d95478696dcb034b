"""Workloads for optimizer benchmarks: seeded, deterministic training tasks with train /
validation / test data, a step budget, a batch size and a validation target, plus held-out
variants (AlgoPerf's term: the same task with another width, depth, activation or data size,
never seen while tuning).

The interface (what a benchmark protocol builds on)::

    from descentlab import optim
    from descentlab.lab import workloads

    task = workloads.make("cnn", data_dir="~/mnist")          # a Task (data loaded once)
    task = workloads.make("cnn", variant="tanh", data_dir=...) # a held-out variant
    result = task.run(optim.create("adam", lr=1e-3), seed=0)   # -> RunResult
    result.curve         # [(step, {"loss": …, "accuracy": …}), …] on the validation split
    result.reached_at    # first evaluated step meeting task.target (None: never)
    result.cpu_seconds, result.cpu_at_target, result.diverged, result.train_loss

A :class:`~.base.Task` has ``name``, ``steps`` (budget), ``batch_size``, ``eval_every``,
``target`` (a :class:`~.base.Target`: metric, value, "min"/"max") and

* ``init_params(seed)`` — fresh parameters (a dict of arrays; the NQM: a (1, dim) array);
* ``train_batches(seed)`` — an endless iterator of mini-batches, determined by the seed;
* ``loss_and_grad(params, batch) -> (loss, grads)`` — grads keyed like params;
* ``evaluate(params, split) -> dict`` — metrics on "train", "valid" or "test";
* ``run(optimizer, seed, steps=None, eval_every=None, stop_at_target=False)`` — the loop
  above (written once in :class:`~.base.Task`); the optimizer must be fresh.

The same seed gives the same initialisation, batches and so numbers; the data split does not
depend on the seed. :class:`~.nqm.NoisyQuadraticTask` also has ``run_many(optimizer,
seeds)``: K runs as one (K, dim) array with (K, 1) hyperparameter arrays.

The workloads (``WORKLOADS``; ``make(name, variant=None, **settings)``):

=============  ====================================================  =========  ==========
name           task                                                  budget     target
=============  ====================================================  =========  ==========
nqm            noisy quadratic model, dim 100, hᵢ = 1/i, B = 16      1000       loss ≤ 0.0046306
logreg         logistic regression on MNIST                          1000×128   acc ≥ 0.9452
mlp            the E5 MLP 784-100×4-10 on MNIST                      2000×128   acc ≥ 0.9819
autoencoder    MLP autoencoder 784-256-32-256-784, MSE               2000×128   mse ≤ 0.042
cnn            conv16-pool-conv32-pool-affine on MNIST               1000×128   acc ≥ 0.98
charlm         char RNN (embed 32, tanh 128) on Python's help texts  2000×32    bpc ≤ 2.6
=============  ====================================================  =========  ==========

The targets are read from ``targets.json`` next to this file, each with its provenance. They
are written by ``python -m descentlab.lab.testbed.targets OUT`` from a benchmark run at the
workloads' own budgets (AlgoPerf: the best of tuned baselines, see
:mod:`descentlab.lab.testbed.targets`; the NQM's so far). Until such a run, an entry is
provisional: set so that one run of Adam at its classic default (lr 10⁻³) on the real data
meets it after 40–70 % of the budget (benchmarks/workload_targets.py,
docs/workload_targets.txt). A held-out variant scores against its own entry
(``"name:variant"``, written by the same command from a run that ran the variant) and, while
it has none, provisionally against its base workload's. A protocol may set its own
(``make(..., target=value)``).
MNIST tasks need ``data_dir`` (the four IDX files; nothing is downloaded); ``charlm`` reads
its corpus from the Python standard library (see :mod:`.charlm`).

>>> task = make("nqm", dim=10, steps=20, eval_every=10)
>>> from descentlab import optim
>>> r = task.run(optim.create("sgd", lr=0.5), seed=0)
>>> [step for step, _ in r.curve], r.curve[0][1]["loss"] > r.final["loss"]
([0, 10, 20], True)
>>> sorted(VARIANTS["cnn"])
['small-data', 'tanh', 'wide']
"""

from __future__ import annotations

from typing import Any

from ...errors import InputError
from .base import NetTask, RunResult, Target, Task, default_target
from .charlm import CharLMTask
from .mnist import AutoencoderTask, CNNTask, LogisticRegressionTask, MLPTask, mnist_splits
from .nqm import NoisyQuadraticTask

#: The workloads by name.
WORKLOADS: dict[str, type[Task]] = {
    "nqm": NoisyQuadraticTask,
    "logreg": LogisticRegressionTask,
    "mlp": MLPTask,
    "autoencoder": AutoencoderTask,
    "cnn": CNNTask,
    "charlm": CharLMTask,
}

#: Held-out variants: settings that replace the base workload's.
VARIANTS: dict[str, dict[str, dict[str, Any]]] = {
    "nqm": {"steep": {"power": 2.0}, "wide": {"dim": 1000}, "small-batch": {"batch_size": 4}},
    "logreg": {"small-data": {"n_train": 5000}},
    "mlp": {"tanh": {"activation": "tanh"}, "wide": {"hidden": (400, 400)},
            "deep": {"hidden": (100,) * 6}, "small-data": {"n_train": 5000}},
    "autoencoder": {"tanh": {"activation": "tanh"}, "narrow": {"hidden": (128, 16, 128)}},
    "cnn": {"tanh": {"activation": "tanh"}, "wide": {"channels": (32, 64)},
            "small-data": {"n_train": 5000}},
    "charlm": {"small": {"hidden_size": 64}, "short": {"seq_len": 16},
               "large": {"hidden_size": 256}},
}


def make(name: str, variant: str | None = None, **settings: Any) -> Task:
    """The task ``name`` (a key of :data:`WORKLOADS`), optionally a held-out ``variant``
    (a key of ``VARIANTS[name]``), with any settings overridden (``data_dir=``,
    ``steps=``, ``target=``, …)."""
    if name not in WORKLOADS:
        raise InputError(f"unknown workload {name!r}; use one of {', '.join(WORKLOADS)}")
    if variant is not None:
        if variant not in VARIANTS[name]:
            raise InputError(f"unknown variant {variant!r} of {name}; use one of "
                             f"{', '.join(VARIANTS[name])}")
        settings = {**VARIANTS[name][variant], **settings}
    try:
        task = WORKLOADS[name](**settings)
    except TypeError as e:
        raise InputError(f"workload {name}: {e}") from None
    if variant is not None:
        task.name = f"{name}:{variant}"
        if settings.get("target") is None:
            task.target = default_target(name, variant)
    return task


__all__ = ["WORKLOADS", "VARIANTS", "make", "Task", "NetTask", "Target", "RunResult",
           "NoisyQuadraticTask", "LogisticRegressionTask", "MLPTask", "AutoencoderTask",
           "CNNTask", "CharLMTask", "mnist_splits", "default_target"]
