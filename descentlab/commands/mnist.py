"""``descentlab mnist``: E5, the MNIST race of optimizers."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from ..lab.mnist_race import CLASSIC_OPTIMIZERS
from . import _common
from ._common import add_training_arguments, blas_threads, load_mnist_data, parse_hidden

if TYPE_CHECKING:
    from ..lab.mnist_race import RaceResult

EXAMPLE = """example:
  descentlab mnist --optimizers sgd momentum nesterov adagrad rmsprop adam \\
      --iterations 2000 --batch-size 128 --hidden 100,100,100,100 \\
      --data-dir ../shared/data/mnist --seed 0 --out results/e5
  descentlab mnist --optimizers adam:lr=0.001 adam:lr=0.01,beta2=0.99 --iterations 500

Optimizer specs are NAME[:key=value,...]; the classic defaults are lr 0.01 (Adam 0.001).
MNIST is read from --data-dir, else $DESCENTLAB_DATA, else ~/.cache/descentlab/mnist
(downloaded and verified there when missing).
"""


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
    from ..lab.manifest import write_manifest
    from ..lab.mnist_race import run_race
    from ..lab.run_outputs import write_csv
    from ..lab.spec import build_optimizer

    hidden = parse_hidden(args.hidden)
    init = parse_init(args.weight_init)
    out = Path(args.out)
    for spec in args.optimizers:  # report a bad spec before loading anything
        build_optimizer(spec)
    from ..lab.mnist_race import unique_names

    if len(set(unique_names(args.optimizers))) < len(args.optimizers):
        raise InputError(f"--optimizers: an optimizer is given twice: "
                         f"{' '.join(args.optimizers)}")
    (x_train, t_train), (x_test, t_test) = load_mnist_data(args)
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
    from ..viz.nn_figures import loss_curves, rate_labels
    from ..viz.style import save

    fig = loss_curves(result.losses, diverged=result.diverged,
                      labels=rate_labels(result.optimizer_settings),
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
    _common.add_plugin_argument(p)
    p.set_defaults(run=run)
