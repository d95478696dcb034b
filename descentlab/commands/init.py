"""``descentlab init``: E6, weight initialisation (activation histograms, MNIST losses)."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import _common
from ._common import add_training_arguments, blas_threads, load_mnist_data, parse_hidden

EXAMPLE = """example:
  descentlab init --data-dir /path/to/mnist --out results/e6
  descentlab init --skip-mnist              # the histograms only (no data needed)
  descentlab init --optimizer sgd:lr=0.01 --iterations 2000
"""


def run(args: argparse.Namespace) -> int:
    from ..lab.init_study import (
        HISTOGRAM_CONFIGS,
        MNIST_CONFIGS,
        RANGES,
        activation_summary,
        layer_activations,
    )
    from ..lab.manifest import write_manifest
    from ..lab.mnist_race import data_shapes, train_together
    from ..lab.run_outputs import write_csv
    from ..lab.spec import build_optimizer
    from ..nn import MultiLayerNet

    out = Path(args.out)
    hidden = parse_hidden(args.hidden)
    build_optimizer(args.optimizer)  # check the spec before any work
    from ..viz.nn_figures import activation_histograms, loss_curves
    from ..viz.style import save

    print(f"Activations of {args.layers} layers of 100 units for 1000 random inputs "
          f"(seed {args.seed})")
    rows, ranges, stats = {}, {}, []
    print(f"{'configuration':<20} " + " ".join(f"{'layer ' + str(i + 1) + ' std':>13}"
                                             for i in range(args.layers))
          + "   saturated/dead (last layer)")
    for label, init, act in HISTOGRAM_CONFIGS:
        acts = layer_activations(init, act, n_layers=args.layers, seed=args.seed)
        rows[label], ranges[label] = acts, RANGES[act]
        summary = activation_summary(acts, act)
        for k, s in enumerate(summary):
            stats.append([label, k + 1, s["mean"], s["std"], s["extreme"]])
        print(f"{label:<20} " + " ".join(f"{s['std']:>13.4f}" for s in summary)
              + f"   {100 * summary[-1]['extreme']:.1f}%")
    written = save(activation_histograms(rows, bins=30, ranges=ranges), out / "activations.png")
    written.append(write_csv(out / "activations.csv", ["configuration", "layer", "mean", "std",
                                                       "saturated_or_dead"], stats))
    results: dict = {}
    if not args.skip_mnist:
        (x_train, t_train), (x_test, t_test) = load_mnist_data(args)
        n_in, n_classes = data_shapes(x_train, t_train)
        print(f"\nMNIST, network {'-'.join(map(str, [n_in, *hidden, n_classes]))} (relu), "
              f"optimizer {args.optimizer}, {args.iterations} iterations of "
              f"{args.batch_size}")
        nets = {label: MultiLayerNet(n_in, hidden, n_classes, activation="relu",
                                     weight_init_std=init, seed=args.seed)
                for label, init in MNIST_CONFIGS}
        optimizers = {label: build_optimizer(args.optimizer) for label in nets}
        with blas_threads(args.blas_threads) as threads:
            result = train_together(nets, optimizers, x_train, t_train, x_test=x_test,
                                    t_test=t_test, iterations=args.iterations,
                                    batch_size=args.batch_size, seed=args.seed,
                                    log_every=args.log_every, progress=not args.no_progress)
        print()
        for n in result.names:
            if n in result.diverged:
                print(f"{n:<10} diverged at iteration {result.diverged[n]}")
            else:
                print(f"{n:<10} train accuracy {result.train_accuracy[n]:.4f}  "
                      f"test accuracy {result.test_accuracy[n]:.4f}")
        fig = loss_curves(result.losses, ylim=(0.0, 2.5), diverged=result.diverged,
                          title=f"MNIST loss by weight initialisation ({args.optimizer})")
        written += save(fig, out / "loss.png")
        written.append(write_csv(out / "history.csv", ["iteration", *result.names],
                                 [[i + 1, *(float(result.losses[n][i]) for n in result.names)]
                                  for i in range(args.iterations)]))
        results = {"blas_threads": threads, "diverged_at": result.diverged,
                   "train_accuracy": result.train_accuracy,
                   "test_accuracy": result.test_accuracy}
    settings = {"histograms": [list(c) for c in HISTOGRAM_CONFIGS],
                "inputs": "N(0, 1), 1000 x 100", "layers": args.layers, "units": 100,
                "bins": 30,
                "mnist": None if args.skip_mnist else {
                    "configs": [list(c) for c in MNIST_CONFIGS], "optimizer": args.optimizer,
                    "iterations": args.iterations, "batch_size": args.batch_size,
                    "hidden": hidden, "activation": "relu"},
                "results": results}
    written.append(write_manifest(out, args, settings, written, seed=args.seed))
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "init", help="E6: weight initialisation (activation histograms, MNIST losses)",
        description="E6: histograms of each layer's activations for std 1, std 0.01, Xavier "
                    "(sigmoid, tanh) and He (ReLU) initialisation, and the MNIST training "
                    "loss of std 0.01 vs Xavier vs He.",
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layers", type=_common.integer(1, 100, "layers"),
                   default=5, help="layers for the histograms (5)")
    p.add_argument("--optimizer", default="sgd:lr=0.01",
                   help="optimizer spec for the MNIST part (default sgd:lr=0.01)")
    add_training_arguments(p)
    p.add_argument("--skip-mnist", action="store_true", help="histograms only")
    p.add_argument("--out", type=_common.out_dir,
                   default="results/init", help="output folder (default results/init)")
    p.set_defaults(run=run)
