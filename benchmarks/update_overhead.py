"""The cost of one ``update`` call: descentlab's per-call machinery against simple baselines.

Printed side by side in one run (microseconds per call, best of interleaved rounds):

* tiny: Adam on a dict of two Python floats vs the classic textbook Adam class (written out
  in benchmarks/textbook.py as the teaching code has it, also mnist_race.py's baseline)
  on the same dict — target within 2×; torch's Adam step on one tiny tensor for reference.
  Both make one Adam step of both floats per call; ours is ``optim.Adam()`` as users call it
  (PyTorch's ε placement, m̂/(√v̂ + ε): one operation per element more than the textbook's
  α_t·m/(√v + ε)), with all its checks: structure, finiteness, state, write-back of floats;
* network: Adam on E5's network (784-100-100-100-100-10, a ``FlatParams`` of 10 arrays) with
  ``update(params, grads)`` vs the same Adam on one flat array of that size — target within
  1.2×; torch's Adam (``fused=True``) on the 10 tensors for reference.

Each round times a short run of calls of every case in turn (interleaved, so that a busy
moment of a shared machine hits every case alike; the order rotated every round, since the
case that runs first after another's memory traffic pays a cold cache); the best round of
each case counts.
Rounds are short (50 tiny calls, 5 network calls: about a millisecond) and many, so that on
a loaded machine every case gets rounds that no other process interrupted.

    python benchmarks/update_overhead.py [--rounds 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from textbook import TextbookAdam

from descentlab import optim
from descentlab.optim.flat import FlatParams

SIZES = [784, 100, 100, 100, 100, 10]


def per_call(step, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        step()
    return (time.perf_counter() - start) / calls * 1e6


def best(cases: dict, calls: int, rounds: int) -> dict[str, float]:
    """The best round of each case. Interleaved, so that a busy moment hits every case
    alike, and in an order rotated every round: the case that runs first after another's
    memory traffic starts with a cold cache, and each case must be first equally often."""
    times = {k: float("inf") for k in cases}
    order = list(cases)
    for r in range(rounds):
        for k in order[r % len(order):] + order[:r % len(order)]:
            times[k] = min(times[k], per_call(cases[k], calls))
    return times


def tiny_cases() -> dict:
    ours, ours_p, ours_g = optim.Adam(), {"x": 1.0, "y": 2.0}, {"x": 0.5, "y": -0.5}
    book, book_p, book_g = TextbookAdam(), {"x": 1.0, "y": 2.0}, {"x": 0.5, "y": -0.5}
    tp = torch.zeros(2, requires_grad=True)
    tp.grad = torch.ones(2)
    topt = torch.optim.Adam([tp])
    return {"descentlab Adam": lambda: ours.update(ours_p, ours_g),
            "textbook Adam class": lambda: book.update(book_p, book_g),
            "torch Adam (1 tensor)": topt.step}


def network_cases() -> dict:
    rng = np.random.default_rng(0)
    shapes = {}
    for i in range(1, len(SIZES)):
        shapes[f"W{i}"], shapes[f"b{i}"] = (SIZES[i - 1], SIZES[i]), (SIZES[i],)
    params, grads = FlatParams.zeros(shapes, np.float32), FlatParams.zeros(shapes, np.float32)
    params.flat[:] = rng.standard_normal(params.flat.size)
    grads.flat[:] = rng.standard_normal(grads.flat.size)
    flat_p, flat_g = params.flat.copy(), grads.flat.copy()
    by_name, one = optim.Adam(), optim.Adam()
    tps = [torch.zeros(s, requires_grad=True) for s in shapes.values()]
    for t in tps:
        t.grad = torch.ones_like(t)
    topt = torch.optim.Adam(tps, fused=True)
    return {"FlatParams, 10 arrays": lambda: by_name.update(params, grads),
            "one flat array": lambda: one.update(flat_p, flat_g),
            "torch Adam fused (10)": topt.step}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    tiny = best(tiny_cases(), 50, args.rounds)
    net = best(network_cases(), 5, args.rounds)
    print("one update, µs per call (best of interleaved rounds)")
    for title, times, ours, base, target in (
            ("tiny: Adam on a dict of two floats", tiny, "descentlab Adam",
             "textbook Adam class", 2.0),
            ("network: E5's 109,810 float32 parameters", net, "FlatParams, 10 arrays",
             "one flat array", 1.2)):
        print(f"\n{title}")
        for k, v in times.items():
            print(f"  {k:24s} {v:9.1f}")
        ratio = times[ours] / times[base]
        print(f"  ratio {ours} / {base}: {ratio:.2f}× (target ≤ {target}×)")


if __name__ == "__main__":
    main()
