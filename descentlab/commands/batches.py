"""``descentlab batches``: E8, batch vs stochastic vs mini-batch gradient descent."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import positive_int

EXAMPLE = """example:
  descentlab batches --out results/e8
  descentlab batches --samples 2000 --scales 1,100 --epochs 30 --batch-size 64
  descentlab batches --lr 0.001       # one learning rate for every run instead of 1/L
"""


def parse_scales(text: str) -> list[float]:
    try:
        scales = [float(s) for s in text.split(",")]
    except ValueError:
        raise ValueError(f"--scales: expected comma-separated numbers like 1,10, got "
                         f"{text!r}") from None
    if not scales or any(not s > 0 for s in scales):
        raise ValueError(f"--scales: scales must be positive, got {text!r}")
    return scales


def run(args: argparse.Namespace) -> int:
    from ..data import make_classification, make_regression
    from ..lab.batch_study import compare_batch_modes
    from ..lab.manifest import write_manifest
    from ..lab.run_outputs import write_csv

    scales = parse_scales(args.scales)
    if args.lr is not None and not args.lr > 0:
        raise ValueError(f"--lr must be positive, got {args.lr}")
    out = Path(args.out)
    x_r, y_r, _ = make_regression(args.samples, len(scales), scales=scales, seed=args.seed)
    x_c, t_c = make_classification(args.samples, len(scales), scales=scales, seed=args.seed)
    datasets = {"linear regression (MSE)": (x_r, y_r, "mse"),
                "logistic regression (binary cross-entropy)": (x_c, t_c, "bce")}
    print(f"{args.samples} samples, feature scales {scales}, {args.epochs} epochs "
          f"(equal samples seen), mini-batches of {args.batch_size}, plain SGD, "
          f"lr {'1/L' if args.lr is None else args.lr}")
    print(f"{'dataset':<10} {'features':<13} {'mode':<11} {'lr':>10} {'updates':>8} "
          f"{'final loss':>12} {'update time':>12}")
    panels, rows = {}, []
    for title, (x, t, loss) in datasets.items():
        curves = compare_batch_modes(x, t, loss, epochs=args.epochs,
                                     batch_size=args.batch_size, lr=args.lr, seed=args.seed)
        panels[title] = {}
        for c in curves:
            mode, variant = c.label.split(" (")
            variant = variant.rstrip(")")
            label = c.label if c.diverged is None else f"{c.label} diverged at {c.diverged}"
            panels[title][label] = (c.samples, c.seconds, c.loss)
            final = "diverged" if c.diverged is not None else f"{c.loss[-1]:.6g}"
            print(f"{loss:<10} {variant:<13} {mode:<11} {c.lr:>10.4g} {c.updates:>8} "
                  f"{final:>12} {c.seconds[-1]:>11.3f}s")
            for s, sec, lo in zip(c.samples, c.seconds, c.loss):
                rows.append([loss, variant, mode, c.lr, int(s), float(sec), float(lo)])
    from ..viz.nn_figures import batch_mode_curves
    from ..viz.style import save

    written = save(batch_mode_curves(panels), out / "batches.png")
    written.append(write_csv(out / "history.csv", ["loss", "features", "mode", "lr",
                                                   "samples_seen", "update_seconds",
                                                   "loss_value"], rows))
    settings = {"samples": args.samples, "scales": scales, "epochs": args.epochs,
                "batch_size": args.batch_size, "lr": args.lr or "1/L per feature set and mode",
                "optimizer": "sgd", "model": "linear, zero initial weights",
                "modes": ["batch", "stochastic", "mini-batch"]}
    written.append(write_manifest(out, args, settings, written, seed=args.seed))
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "batches", help="E8: batch vs stochastic vs mini-batch gradient descent",
        description="E8: whole-batch, single-sample (reshuffled each epoch) and mini-batch "
                    "gradient descent on the same regression and classification data, with "
                    "raw and standardised features; loss against samples seen and against "
                    "wall time.",
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=positive_int, default=1000, help="samples (1000)")
    p.add_argument("--scales", default="1,10",
                   help="feature scales, one per feature (default 1,10)")
    p.add_argument("--epochs", type=positive_int, default=20, help="epochs (default 20)")
    p.add_argument("--batch-size", type=positive_int, default=32,
                   help="mini-batch size (default 32)")
    p.add_argument("--lr", type=float, default=None,
                   help="one learning rate for every run (default: 1/L of each feature set)")
    p.add_argument("--seed", type=int, default=0, help="seed of data and shuffling (0)")
    p.add_argument("--out", default="results/batches",
                   help="output folder (default results/batches)")
    p.set_defaults(run=run)
