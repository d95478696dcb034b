"""One E5 race step (forward + backward + update) with and without the flat buffer.

The MNIST race network (``descentlab.nn.MultiLayerNet(784, [100]*4, 10)``, float32), a
mini-batch of 128 (random MNIST-shaped data: the time of a step does not depend on the
pixels), each race optimizer, milliseconds per step (median and best of ``--steps``):

* ``grads``      forward + backward only (the floor for the update to add to);
* ``dict/numpy`` ``opt.update(net.params, grads)``, ``backend="numpy"`` (before this work);
* ``dict/auto``  the same with the default backend (the kernel for the big weight matrices);
* ``flat/auto``  ``net.params`` swapped for a :class:`FlatParams` (views; MultiLayerNet follows
  ``net.params``), the gradients copied into one flat buffer, one ``update`` of ``.flat``.
  (A MultiLayerNet that writes its gradients into the flat buffer saves that copy.)

Needs ``descentlab.nn`` (the nn branch). Example::

    python benchmarks/race_step.py --steps 200
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from descentlab import optim
from descentlab.optim.flat import FlatParams

RACE = {"sgd": 0.01, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.01, "rmsprop": 0.01,
        "adam": 0.001}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="example: python benchmarks/race_step.py")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args(argv)
    try:
        from descentlab.nn import MultiLayerNet
    except ImportError:
        print("descentlab.nn is not available (merge the nn branch first)", file=sys.stderr)
        return 2
    rng = np.random.default_rng(0)
    x = rng.random((args.steps + 1, args.batch, 784), dtype=np.float32)
    t = rng.integers(0, 10, (args.steps + 1, args.batch))
    print(f"E5 race step, batch {args.batch}, float32, ms per step (median / best of "
          f"{args.steps})")
    print(f"{'rule':9}" + "".join(f"{c:>14}" for c in
                                  ("grads", "dict/numpy", "dict/auto", "flat/auto")))
    for name, lr in RACE.items():
        variants = {}
        for column in ("grads", "dict/numpy", "dict/auto", "flat/auto"):
            net = MultiLayerNet(784, [100, 100, 100, 100], 10, seed=0)
            layout, _, backend = column.partition("/")
            opt = optim.create(name, lr=lr, backend=backend or "auto")
            if layout == "flat":
                net.params = FlatParams.from_dict(net.params)
                flat_grads = net.params.zeros_like()

                def step(i, net=net, opt=opt, flat_grads=flat_grads):
                    flat_grads.update(net.gradient(x[i], t[i]))
                    opt.update(net.params.flat, flat_grads.flat)
            elif layout == "dict":
                def step(i, net=net, opt=opt):
                    opt.update(net.params, net.gradient(x[i], t[i]))
            else:
                def step(i, net=net):
                    net.gradient(x[i], t[i])
            variants[column] = step
        times: dict[str, list[float]] = {c: [] for c in variants}
        for step in variants.values():
            step(args.steps)  # warm-up (buffers, kernel loading)
        for i in range(args.steps):
            for column, step in variants.items():
                start = time.perf_counter()
                step(i)
                times[column].append(time.perf_counter() - start)
        cells = "".join(f"{np.median(v) * 1e3:8.2f} /{min(v) * 1e3:4.2f}" for v in
                        times.values())
        print(f"{name:9}{cells}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
