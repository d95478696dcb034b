"""The optimizer update of the MNIST race network: separate arrays against one flat buffer.

E5's network, 784-100-100-100-100-10 (109,810 parameters in 10 arrays), one ``update`` per
optimizer of the race, timed in microseconds (best of ``--repeats``, interleaved rounds):

* ``dict/numpy``  ``opt.update(params, grads)`` on a dict of arrays, ``backend="numpy"``;
* ``dict/auto``   the same with the default backend (the fused kernel for the four weight
  matrices, NumPy for the biases);
* ``flat/numpy``  ``opt.update(params.flat, grads.flat)`` on a :class:`FlatParams`, NumPy;
* ``flat/auto``   the same, default backend: one kernel call for the whole network;
* ``named/auto``  ``opt.update(params, grads)`` on the :class:`FlatParams` itself (state by
  name), default backend: also one kernel call, plus the checks of the 10 named arrays.

Every column makes the same update from the same parameters and gradients; the last two
ratios are ``dict/numpy ÷ flat/auto`` (what one buffer buys) and ``named/auto ÷ flat/auto``
(what updating by name costs; issue 12's target for it is ≤ 1.2×).

Example::

    python benchmarks/flat_update.py --dtype float32 --repeats 200
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from descentlab import optim
from descentlab.optim.flat import FlatParams

SIZES = [784, 100, 100, 100, 100, 10]
RACE = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]


def network(dtype: np.dtype, rng: np.random.Generator) -> dict[str, np.ndarray]:
    params = {}
    for i in range(1, len(SIZES)):
        fan_in = SIZES[i - 1]
        params[f"W{i}"] = (rng.standard_normal((fan_in, SIZES[i])) * np.sqrt(2 / fan_in)
                           ).astype(dtype)
        params[f"b{i}"] = np.zeros(SIZES[i], dtype)
    return params


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="example: python benchmarks/flat_update.py")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args(argv)
    dtype = np.dtype(args.dtype)
    rng = np.random.default_rng(0)
    params = network(dtype, rng)
    grads = {k: (1e-2 * rng.standard_normal(v.shape)).astype(dtype) for k, v in params.items()}
    print(f"update of the E5 network ({sum(p.size for p in params.values())} {dtype} "
          f"parameters in {len(params)} arrays), microseconds, best of {args.repeats}")
    columns = ["dict/numpy", "dict/auto", "flat/numpy", "flat/auto", "named/auto"]
    print(f"{'rule':9}" + "".join(f"{c:>12}" for c in columns)
          + "   dict/numpy ÷ flat/auto   named/auto ÷ flat/auto")
    for name in RACE:
        steps = {}
        for column in columns:
            layout, backend = column.split("/")
            opt = optim.create(name, backend=backend)
            if layout == "dict":
                p = {k: v.copy() for k, v in params.items()}
                steps[column] = (lambda opt=opt, p=p: opt.update(p, grads))
            elif layout == "named":
                p, g = FlatParams.from_dict(params), FlatParams.from_dict(grads)
                steps[column] = (lambda opt=opt, p=p, g=g: opt.update(p, g))
            else:
                p, g = FlatParams.from_dict(params), FlatParams.from_dict(grads)
                steps[column] = (lambda opt=opt, p=p, g=g: opt.update(p.flat, g.flat))
        for step in steps.values():
            step()
        best = dict.fromkeys(steps, float("inf"))
        for _ in range(args.repeats):
            for column, step in steps.items():
                start = time.perf_counter()
                step()
                best[column] = min(best[column], time.perf_counter() - start)
        cells = "".join(f"{best[c] * 1e6:12.0f}" for c in columns)
        print(f"{name:9}{cells}   {best['dict/numpy'] / best['flat/auto']:8.1f}×"
              f"{best['named/auto'] / best['flat/auto']:23.2f}×", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
