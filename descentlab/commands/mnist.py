"""``descentlab mnist``: E5, the MNIST race of optimizers."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..data import load_mnist
from ..errors import InputError
from ..lab import limits
from ..lab.manifest import write_manifest
from ..lab.mnist_race import CLASSIC_OPTIMIZERS, RaceResult, run_race, unique_names
from ..lab.run_outputs import write_csv
from ..lab.spec import build_optimizer
from . import _common

EXAMPLE = """example:
  descentlab mnist --optimizers sgd momentum nesterov adagrad rmsprop adam \\
      --iterations 2000 --batch-size 128 --hidden 100,100,100,100 \\
      --data-dir ../shared/data/mnist --seed 0 --out results/e5
  descentlab mnist --optimizers adam:lr=0.001 adam:lr=0.01,beta2=0.99 --iterations 500

Optimizer specs are NAME[:key=value,...]; the classic defaults are lr 0.01 (Adam 0.001).
MNIST is read from --data-dir, else $DESCENTLAB_DATA, else ~/.cache/descentlab/mnist
(downloaded and verified there when missing).
"""


def parse_hidden(text: str) -> list[int]:
    """``"100,100"`` → ``[100, 100]``; ``""`` or ``"none"`` → ``[]``."""
    text = text.strip()
    if text.lower() in ("", "none"):
        return []
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise InputError(f"--hidden: expected comma-separated layer sizes like 100,100, "
                         f"got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise InputError(f"--hidden: layer sizes must be positive, got {text!r}")
    if len(sizes) > 100 or any(s > 100_000 for s in sizes):
        raise InputError(f"--hidden {text!r}: at most 100 layers of at most 100,000 units")
    return sizes


def parse_init(text: str) -> str | float:
    """``he``, ``xavier`` or a fixed standard deviation (a finite number > 0)."""
    if text.strip().lower() in ("he", "xavier"):
        return text.strip().lower()
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"--weight-init {text!r}: expected he, xavier or a standard "
                         "deviation such as 0.01") from None
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"--weight-init {text!r}: a standard deviation must be a finite "
                         "number > 0")
    return value


#: BLAS threads environment variables: when one is set, ``--blas-threads auto`` obeys it.
_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def blas_threads_type(text: str) -> str | int:
    """``--blas-threads``: ``auto`` or a thread count 1..64."""
    if str(text).strip().lower() == "auto":
        return "auto"
    return _common.integer(1, 64)(text)


@contextlib.contextmanager
def blas_threads(setting: str | int) -> Iterator[int | None]:
    """Run the block with ``setting`` BLAS threads; yields the count in force (None when
    unknown). ``auto``: the environment's setting if one of :data:`_THREAD_VARIABLES` is set,
    else 1 — measured faster for these networks on a 2-core machine
    (``benchmarks/mnist_blas_threads.py``: a busy machine ran the race 7–10× faster with 1
    thread than with 2; an idle one about as fast), and the same count on every run keeps
    float32 sums, so reruns, identical."""
    from threadpoolctl import threadpool_info, threadpool_limits

    if setting == "auto" and any(v in os.environ for v in _THREAD_VARIABLES):
        pools = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
        yield pools[0] if pools else None
        return
    count = 1 if setting == "auto" else int(setting)
    with threadpool_limits(limits=count, user_api="blas"):
        yield count


def add_training_arguments(p: argparse.ArgumentParser, iterations: int = 2000) -> None:
    """The options shared by the MNIST experiments."""
    p.add_argument("--iterations", type=_common.integer(1, limits.MAX_ITERATIONS, "iterations"),
                   default=iterations,
                   help=f"training iterations (default {iterations})")
    p.add_argument("--batch-size", type=_common.integer(1, 60_000), default=128,
                   help="mini-batch size, drawn with replacement (default 128)")
    p.add_argument("--hidden", default="100,100,100,100",
                   help="hidden layer sizes (default 100,100,100,100)")
    p.add_argument("--data-dir", default=None, help="folder holding the MNIST IDX files")
    p.add_argument("--seed", type=_common.seed, default=0,
                   help="seed of the initial weights and the mini-batches (default 0)")
    p.add_argument("--log-every", type=_common.integer(1, limits.MAX_ITERATIONS), default=100,
                   help="print the losses every N iterations (default 100)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--blas-threads", type=blas_threads_type, default="auto", metavar="N|auto",
                   help="BLAS threads for the matrix products (default auto: "
                        "$OPENBLAS_NUM_THREADS if set, else 1, the faster on a busy machine)")


def load(args: argparse.Namespace) -> tuple:
    return load_mnist(args.data_dir, normalize=True, flatten=True)


def report(result: RaceResult, iterations: int) -> None:
    print()
    print(f"{'optimizer':<12} {'final loss':>10} {'train acc':>9} {'test acc':>9} "
          f"{'grad ms':>8} {'update ms':>9}")
    for n in result.names:
        if n in result.diverged:
            print(f"{n:<12} diverged at iteration {result.diverged[n]} "
                  f"(loss or gradient not finite)")
            continue
        tail = result.losses[n][max(0, iterations - 100):]
        test = result.test_accuracy.get(n, float("nan"))
        print(f"{n:<12} {np.nanmean(tail):>10.4f} {result.train_accuracy[n]:>9.4f} "
              f"{test:>9.4f} {1e3 * result.gradient_seconds[n]:>8.3f} "
              f"{1e3 * result.update_seconds[n]:>9.3f}")
    print("(final loss: mean of the last 100 mini-batch losses; ms: per iteration)")


def run(args: argparse.Namespace) -> int:
    hidden = parse_hidden(args.hidden)
    init = parse_init(args.weight_init)
    out = Path(args.out)
    for spec in args.optimizers:  # report a bad spec before loading anything
        build_optimizer(spec)
    if len(set(unique_names(args.optimizers))) < len(args.optimizers):
        raise InputError(f"--optimizers: an optimizer is given twice: "
                         f"{' '.join(args.optimizers)}")
    (x_train, t_train), (x_test, t_test) = load(args)
    print(f"MNIST race: {len(args.optimizers)} optimizers, network "
          f"{'-'.join(map(str, [784, *hidden, 10]))} ({args.activation}, init {init}), "
          f"{args.iterations} iterations of {args.batch_size}, seed {args.seed}")
    with blas_threads(args.blas_threads) as threads:
        result = run_race(x_train, t_train, args.optimizers, x_test=x_test, t_test=t_test,
                          iterations=args.iterations, batch_size=args.batch_size,
                          hidden=hidden, activation=args.activation, weight_init_std=init,
                          seed=args.seed, log_every=args.log_every,
                          progress=not args.no_progress)
    report(result, args.iterations)

    rows = [[i + 1, *(float(result.losses[n][i]) for n in result.names)]
            for i in range(args.iterations)]
    written = [write_csv(out / "history.csv", ["iteration", *result.names], rows)]
    from ..viz.nn_figures import loss_curves
    from ..viz.style import save

    fig = loss_curves(result.losses, diverged=result.diverged,
                      title=f"MNIST, batch {args.batch_size} (smoothed: Kaiser 11, β=2)")
    written += save(fig, out / "loss.png")
    settings = {
        "optimizers": args.optimizers, "optimizer_settings": result.optimizer_settings,
        "iterations": args.iterations, "batch_size": args.batch_size,
        "network": [784, *hidden, 10], "activation": args.activation,
        "weight_init_std": init, "loss": "softmax cross-entropy", "dtype": "float32",
        "blas_threads": threads,
        "batches": "numpy.random.default_rng(seed).integers(0, 60000, batch_size) per "
                   "iteration, shared by every optimizer; every network starts from the "
                   "weights drawn with the seed",
        "results": {"diverged_at": result.diverged, "train_accuracy": result.train_accuracy,
                    "test_accuracy": result.test_accuracy},
    }
    written.append(write_manifest(out, args, settings, written, seed=args.seed))
    print("wrote " + ", ".join(str(p) for p in written))
    return 1 if len(result.diverged) == len(result.names) else 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "mnist", help="E5: race optimizers training a network on MNIST",
        description="E5: train one network per optimizer on MNIST, every optimizer on the "
                    "same mini-batch at each iteration and from the same initial weights; "
                    "print the losses, plot the smoothed training-loss curves, report "
                    "train/test accuracy.",
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--optimizers", nargs="+", default=list(CLASSIC_OPTIMIZERS),
                   metavar="SPEC", help="optimizer specs (default: the classic six)")
    add_training_arguments(p)
    p.add_argument("--activation", default="relu", choices=["relu", "sigmoid", "tanh"],
                   help="hidden activation (default relu)")
    p.add_argument("--weight-init", default="he",
                   help="he, xavier or a fixed std such as 0.01 (default he)")
    p.add_argument("--out", type=_common.out_dir, default="results/mnist",
                   help="output folder for loss.png, history.csv, manifest.json "
                        "(default results/mnist)")
    p.set_defaults(run=run)
