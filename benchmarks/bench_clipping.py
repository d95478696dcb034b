"""Clipping throughput: descentlab's clip_grad_norm vs torch.nn.utils.clip_grad_norm_, side by
side in one run (float32 gradients). Prints ratios, never absolute targets.

    PYTHONPATH=. python benchmarks/bench_clipping.py [--params 30000000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from descentlab.optim import clip_grad_norm


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--params", type=int, default=30_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    sizes = [args.params // 2, args.params // 4, args.params - args.params // 2 - args.params // 4]
    grads = {f"g{i}": rng.standard_normal(n, dtype=np.float32) for i, n in enumerate(sizes)}
    tparams = []
    for g in grads.values():
        p = torch.nn.Parameter(torch.zeros(g.size))
        p.grad = torch.from_numpy(g.copy())
        tparams.append(p)
    max_norm = 1e9  # measure the norm and the (trivial) scaling decision, not the memory write
    ours = best_of(lambda: clip_grad_norm(grads, max_norm), args.repeats)
    theirs = best_of(lambda: torch.nn.utils.clip_grad_norm_(tparams, max_norm), args.repeats)
    small = 1.0  # clipping that rescales every entry
    ours_s = best_of(lambda: clip_grad_norm(grads, small), args.repeats)
    theirs_s = best_of(lambda: torch.nn.utils.clip_grad_norm_(tparams, small), args.repeats)
    n = args.params
    print(f"clip_grad_norm, {n:,} float32 gradients, best of {args.repeats}")
    for what, a, b in (("norm only", ours, theirs), ("rescaling", ours_s, theirs_s)):
        print(f"  {what:<10}: descentlab {n / a / 1e9:.2f} Gparam/s, torch {n / b / 1e9:.2f} "
              f"Gparam/s, torch time / descentlab time = {b / a:.2f}")


if __name__ == "__main__":
    main()
