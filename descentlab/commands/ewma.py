"""``descentlab ewma``: E2, the bias correction of an exponentially weighted moving average."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..files import write_text
from ..lab import manifest
from ..lab.ewma import ewma, sample_data
from . import _common

EXAMPLE = """example:
  descentlab ewma --beta 0.9 --out out/ewma

Writes ewma.png (noisy data, the plain EWMA started at 0 — biased towards 0 at first — and
the bias-corrected EWMA v_t / (1 − β^t)), ewma.csv and manifest.json."""


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.beta < 1:
        raise ValueError(f"--beta must be in [0, 1), got {args.beta}")
    if args.n < 2:
        raise ValueError(f"--n must be >= 2, got {args.n}")
    from ..viz import style
    from ..viz.ewma import ewma_figure

    data = sample_data(args.n, args.seed)
    plain = ewma(data, args.beta)
    corrected = ewma(data, args.beta, bias_correction=True)
    out = Path(args.out)
    lines = ["t,data,ewma,ewma_corrected"] + [
        f"{t},{d!r},{p!r},{c!r}" for t, (d, p, c) in
        enumerate(zip(data.tolist(), plain.tolist(), corrected.tolist()), start=1)]
    written = [write_text(out / "ewma.csv", "\n".join(lines) + "\n")]
    written += style.save(ewma_figure(data, args.beta, plain, corrected), out / "ewma",
                          _common.formats(args))
    k = min(5, args.n)
    print(f"β = {args.beta:g}; first {k} steps (data, EWMA, bias-corrected):")
    for t in range(k):
        print(f"  t={t + 1}: {data[t]:8.3f} {plain[t]:8.3f} {corrected[t]:8.3f}")
    settings = {"beta": args.beta, "n": args.n, "data": "12 + 8 sin(4π(t − 20)/365) + "
                "N(0, 2.5²), numpy default_rng(seed)"}
    written.append(manifest.write_manifest(out, args, settings, written, seed=args.seed))
    print(f"wrote {', '.join(p.name for p in written)} to {out}/")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ewma", help="E2: an EWMA and its bias correction",
                       description="E2: noisy data, its exponentially weighted moving average "
                       "started at 0 (biased towards 0 for the first steps) and the bias-"
                       "corrected average v_t / (1 − β^t).", epilog=EXAMPLE,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--beta", type=float, default=0.9, help="decay β (default 0.9)")
    p.add_argument("--n", type=int, default=100, help="number of data points (default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noisy data (default 0)")
    _common.add_output_arguments(p, "out/ewma")
    p.set_defaults(run=run)
