"""How close descentlab is to torch.optim, in units in the last place, after 100 steps.

Both libraries are fed the same gradient sequence (random, independent of the parameters, so
that differences do not feed back through the loss); after 100 updates each parameter element
is compared bit for bit. Printed per optimizer and dtype: the share of elements that differ
at all, and the largest distance in ulps (adjacent floats are 1 ulp apart).

    python benchmarks/torch_ulps.py [--size N] [--steps T]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from descentlab import optim

torch.set_num_threads(1)

# (our name, our kwargs, torch class, torch kwargs): torch.optim's defaults where it has them;
# SGD's family at lr 0.01 (the rate of the committed table in docs/optimizers.md).
CASES = [
    ("sgd", {"lr": 0.01}, torch.optim.SGD, {"lr": 0.01}),
    ("momentum", {"lr": 0.01}, torch.optim.SGD, {"lr": 0.01, "momentum": 0.9}),
    ("nesterov", {"lr": 0.01}, torch.optim.SGD, {"lr": 0.01, "momentum": 0.9, "nesterov": True}),
    ("adagrad", {}, torch.optim.Adagrad, {"lr": 0.01}),
    ("rmsprop", {}, torch.optim.RMSprop, {"lr": 0.01}),
    ("adadelta", {}, torch.optim.Adadelta, {}),
    ("adam", {}, torch.optim.Adam, {}),
    ("adamw", {}, torch.optim.AdamW, {}),
    ("nadam", {}, torch.optim.NAdam, {}),
    ("adamax", {}, torch.optim.Adamax, {}),
]


def ulps(a: np.ndarray, b: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """|a − b| in ulps of max(|a|, |b|, floor) (0 where they are equal). With floor = 1 (the
    parameters' scale: they start as N(0, 1)), an element that has crossed zero is measured
    at the scale where its rounding happened, not in the tiny ulps of a value near 0."""
    scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), a.dtype.type(floor))
    return np.abs(a.astype(np.float64) - b) / np.spacing(scale)


def compare(name, kwargs, tcls, tkwargs, dtype, size, steps, backend):
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(size).astype(dtype)
    grads = [rng.standard_normal(size).astype(dtype) for _ in range(steps)]
    ours, p = optim.create(name, backend=backend, **kwargs), p0.copy()
    # NAdam keeps its μ product in torch's default dtype: float64 for the float64 runs.
    torch.set_default_dtype(torch.float64 if dtype == np.float64 else torch.float32)
    tp = torch.tensor(p0.copy(), requires_grad=True)
    theirs = tcls([tp], **tkwargs)
    for g in grads:
        ours.update(p, g)
        tp.grad = torch.tensor(g)
        theirs.step()
    theirs_p = tp.detach().numpy()
    d = ulps(p, theirs_p)
    return float(np.mean(d > 0)), float(ulps(p, theirs_p, 1.0).max()), float(d.max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {args.size} elements, {args.steps} steps, the same "
          "gradients.\nCells: % of elements that differ in any bit / largest difference in ulps at "
          "max(|value|, 1) / largest in ulps of the value itself")
    print(f"{'optimizer':10s} {'f32 numpy':>20s} {'f32 fused':>20s} {'f64 numpy':>20s} "
          f"{'f64 fused':>20s}")
    for name, kwargs, tcls, tkwargs in CASES:
        cells = []
        for dtype in (np.float32, np.float64):
            for backend in ("numpy", "fused"):
                share, at_scale, worst = compare(name, kwargs, tcls, tkwargs, dtype,
                                                 args.size, args.steps, backend)
                cells.append(f"{100 * share:4.1f}% {at_scale:3.0f} {worst:6.0f}")
        print(f"{name:10s} " + " ".join(f"{c:>20s}" for c in cells))


if __name__ == "__main__":
    main()
