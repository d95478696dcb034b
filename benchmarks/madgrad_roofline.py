"""Why MADGRAD's float32 kernel is not within 1.15x of its stream at 10M: its arithmetic
against its bytes, measured (docs/fused.md, "MADGRAD's roofline").

Per element, in nanoseconds:

* ``stream``    the rule's bytes with trivial arithmetic (``kernels_catalogue.stream_reading``,
  two state arrays read and written and x0 only read: what ``step_throughput.py`` compares
  MADGRAD's kernel with),
* ``madgrad``   the fused kernel, the usual step (``kernels_catalogue.madgrad``: μ ≠ 0, not the
  first step, no decay),
* ``no root``   the same loop with ∛G replaced by G (defined here, benchmarks only): what the
  rest of the rule costs,
* ``cube root`` the kernels' float32 cube root alone (``inline.cube_root``), one array in and
  one out,

first with the arrays in the cache (2^16 elements, one thread: the arithmetic's cost on one
core, best of many calls), then at 10M parameters with one thread and with two (the table's
setting): medians of kernel/stream pairs, wall and CPU time, as ``step_throughput.py``
measures them.
Then the two models: a loop whose memory traffic and arithmetic overlap takes
max(memory, compute) per element, one where they do not their sum; compute with two threads
is taken as half the one-thread in-cache time. Last, the vector instructions of each loop
per 8 elements, counted in the assembly numba generates for it (AVX2: ``ymm`` operands).

Example::

    python benchmarks/madgrad_roofline.py
    python benchmarks/madgrad_roofline.py --save docs/figures/madgrad_roofline.txt \
        --update-doc docs/fused.md
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
import time
import warnings
from collections.abc import Callable

os.environ.setdefault("OMP_PROC_BIND", "true")  # as step_throughput.py (its docstring)

import numba  # noqa: E402
import numpy as np  # noqa: E402
from numba import njit, prange  # noqa: E402

from descentlab.files import replace_fenced, write_text  # noqa: E402
from descentlab.optim.fused import kernels_catalogue  # noqa: E402
from descentlab.optim.fused.inline import cube_root, gradient  # noqa: E402

IN_CACHE, BIG = 2**16, 10_000_000
F = np.float32
DOC_START, DOC_END = "<!-- madgrad_roofline: start -->", "<!-- madgrad_roofline: end -->"


def update_doc(doc: str, output: str) -> None:
    """Replace the text between ``doc``'s markers with ``output`` in a code fence."""
    replace_fenced(doc, DOC_START, DOC_END, output)


@njit(parallel=True)
def no_root(p, g, x0, grad_sum_sq, s, maximize, l2, wd, lamb, eps, momentum,
            one_minus_momentum):
    """MADGRAD's usual step with ∛G replaced by G (benchmarks only)."""
    for i in prange(p.size):
        pi = p[i]
        gi = gradient(pi, g[i], maximize, l2, wd)
        sum_sq = grad_sum_sq[i] + lamb * (gi * gi)
        grad_sum_sq[i] = sum_sq
        si = s[i] + lamb * gi
        s[i] = si
        z = x0[i] - si / (sum_sq + eps)
        p[i] = pi * momentum + one_minus_momentum * z


@njit(parallel=True)
def roots(x, out):
    """The kernels' cube root of every element (benchmarks only)."""
    for i in prange(x.size):
        out[i] = cube_root(x[i])


def arrays(n: int) -> tuple[np.ndarray, ...]:
    """p, g, x0, G, s and two spare arrays of n float32 (G ≥ 0, as in the rule)."""
    rng = np.random.default_rng(0)
    p, g, x0, s = (rng.standard_normal(n).astype(F) for _ in range(4))
    return p, g, x0, np.abs(rng.standard_normal(n)).astype(F), s, np.empty(n, F)


def steps(n: int) -> dict[str, Callable[[], object]]:
    """The four loops on arrays of n elements (the usual step: μ = 0.9, λ = 1e-6)."""
    p, g, x0, G, s, out = arrays(n)
    lamb, eps, mu = F(1e-6), F(1e-6), F(0.9)
    return {
        "stream": lambda: kernels_catalogue.stream_reading(p, g, x0, G, s, out, out, 2),
        "madgrad": lambda: kernels_catalogue.madgrad(
            p, g, x0, G, s, False, False, F(0), False, False, lamb, eps, mu, F(1) - mu,
            False, F(0)),
        "no root": lambda: no_root(p, g, x0, G, s, False, False, F(0), lamb, eps, mu,
                                   F(1) - mu),
        "cube root": lambda: roots(G, out),
    }


def best_ns(call: Callable[[], object], n: int, calls: int) -> float:
    """The best time of ``calls`` calls, per element (ns)."""
    call()
    best = np.inf
    for _ in range(calls):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best / n * 1e9


def pairs(kernel: Callable[[], object], stream: Callable[[], object], n: int,
          count: int) -> tuple[float, float, float, float]:
    """Kernel and stream timed alternately ``count`` times: the median kernel and stream
    times per element (ns) and the medians of the pairs' wall and CPU ratios."""
    kernel(), stream()
    times, wall, cpu = [], [], []
    for _ in range(count):
        spent = []
        for call in (kernel, stream):
            c, start = time.process_time(), time.perf_counter()
            call()
            spent.append((time.perf_counter() - start, time.process_time() - c))
        (w_k, c_k), (w_s, c_s) = spent
        times.append((w_k, w_s))
        wall.append(w_k / w_s)
        cpu.append(c_k / c_s if c_s > 0 else np.nan)
    k, s = np.median(times, axis=0) / n * 1e9
    return float(k), float(s), float(np.median(wall)), float(np.nanmedian(cpu))


def vector_loops(function: Callable[..., object], *args: object) -> list[tuple[int, int]]:
    """Compile ``function`` afresh (parallel, not cached) for ``args`` and return, for each
    vectorised loop of its parallel bodies, the number of ymm instructions and of ``vdivps``
    in one trip (8 float32 elements; the shortest path through the loop)."""
    fresh = njit(parallel=True)(function)
    with warnings.catch_warnings():  # numba's notes on the parallel loops it compiles
        warnings.simplefilter("ignore")
        fresh(*args)
    library = next(iter(fresh.overloads.values())).library
    pending, seen, asm = [library], set(), []
    while pending:
        lib = pending.pop()
        if id(lib) in seen:
            continue
        seen.add(id(lib))
        pending.extend(getattr(lib, "_linking_libraries", []))
        if "parfor_gufunc" in lib.name:
            asm.append(lib.get_asm_str())
    loops = []
    for text in asm:
        lines = text.splitlines()
        labels = {line[:-1]: i for i, line in enumerate(lines) if re.match(r"^\.LBB\w+:$", line)}
        found: dict[int, tuple[int, int]] = {}
        for i, line in enumerate(lines):
            jump = re.match(r"\s+j\w+\s+(\.LBB\w+)$", line)
            if jump and labels.get(jump.group(1), i) < i:
                body = [x for x in lines[labels[jump.group(1)]:i] if "ymm" in x]
                if body:  # a vector loop: keep the shortest trip through it
                    start = labels[jump.group(1)]
                    count = (len(body), sum("vdivps" in x for x in body))
                    found[start] = min(found.get(start, count), count)
        loops.extend(found.values())
    return loops


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=400, help="in-cache calls per loop")
    parser.add_argument("--pairs", type=int, default=21, help="kernel/stream pairs at 10M")
    parser.add_argument("--save", help="also write the output to this file (atomically)")
    parser.add_argument("--update-doc", metavar="DOC",
                        help=f"write the output between DOC's {DOC_START} and end markers")
    args = parser.parse_args(argv)
    out = io.StringIO()

    def say(text: str) -> None:
        print(text)
        out.write(text + "\n")

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    say(f"MADGRAD float32 roofline; OMP_PROC_BIND={os.environ['OMP_PROC_BIND']}; "
        f"load average {load}")
    numba.set_num_threads(1)
    small = steps(IN_CACHE)
    cache = {name: best_ns(call, IN_CACHE, args.calls) for name, call in small.items()}
    say(f"in cache ({IN_CACHE} elements, 1 thread, best of {args.calls}), ns per element: "
        + ", ".join(f"{name} {ns:.2f}" for name, ns in cache.items()))
    big = steps(BIG)
    k1, s1, wall1, cpu1 = pairs(big["madgrad"], big["stream"], BIG, args.pairs)
    say(f"10M, 1 thread (medians of {args.pairs} pairs): stream {s1:.2f} ns, madgrad "
        f"{k1:.2f} ns per element; madgrad/stream paired {wall1:.2f}, cpu {cpu1:.2f}")
    numba.set_num_threads(2)
    k, s, wall, cpu = pairs(big["madgrad"], big["stream"], BIG, args.pairs)
    _, _, wall0, cpu0 = pairs(big["no root"], big["stream"], BIG, args.pairs)
    say(f"10M, 2 threads (medians of {args.pairs} pairs): stream {s:.2f} ns, madgrad {k:.2f} "
        f"ns per element; madgrad/stream paired {wall:.2f}, cpu {cpu:.2f}; "
        f"no root/stream paired {wall0:.2f}, cpu {cpu0:.2f}")
    compute = cache["madgrad"] / 2
    say(f"compute with 2 threads (in cache / 2): madgrad {compute:.2f} ns per element, "
        f"the stream's memory time {s:.2f}: overlapped, max = {max(compute, s):.2f} "
        f"({max(compute, s) / s:.2f}x the stream); not overlapped, sum = {compute + s:.2f} "
        f"({(compute + s) / s:.2f}x); measured {wall:.2f}x")
    p, g, x0, G, sq, spare = arrays(64)
    mad = vector_loops(kernels_catalogue.madgrad.py_func, p, g, x0, G, sq, False, False,
                       F(0), False, False, F(1e-6), F(1e-6), F(0.9), F(0.1), False, F(0))
    stream = vector_loops(kernels_catalogue.stream_reading.py_func, p, g, x0, G, sq, spare,
                          spare, 2)
    root = vector_loops(roots.py_func, G, spare)
    usual, alone, bytes_only = min(mad), max(root), min(stream)  # the shortest loops: no decay
    say("ymm instructions per 8 elements (vdivps among them), from the assembly: madgrad's "
        f"usual-step loop {usual[0]} ({usual[1]}), the cube root alone {alone[0]} "
        f"({alone[1]}; with a load and a store), the stream's loop {bytes_only[0]} "
        f"({bytes_only[1]})")
    if args.save:
        write_text(args.save, out.getvalue())
    if args.update_doc:
        update_doc(args.update_doc, out.getvalue())


if __name__ == "__main__":
    main(sys.argv[1:])
