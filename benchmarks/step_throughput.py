"""Optimizer step throughput: descentlab's NumPy and fused paths next to PyTorch, one run.

For every rule, at each size (float32 parameters, one array), this times one optimizer step of

* ``numpy``   descentlab with ``backend="numpy"`` (the readable rule),
* ``fused``   descentlab with ``backend="fused"`` (the one-pass numba kernel), the whole
  ``update``: its checks include one extra read of g (the non-finite-gradient check, a
  parallel pass here, which PyTorch does not make),
* ``f-nochk`` the same with ``nonfinite="ignore"`` (no gradient check, like PyTorch),
* ``kernel``  the fused kernel alone (what the streaming limit is compared with),
* ``t-loop``  ``torch.optim`` with ``foreach=False``,
* ``t-each``  ``torch.optim`` with ``foreach=True``,
* ``t-fused`` ``torch.optim`` with ``fused=True`` (SGD, Adagrad, Adam, AdamW only),
* ``stream``  a numba kernel that moves the same bytes as the rule with trivial arithmetic:
  the memory-bandwidth limit *of that rule*. A rule with k state arrays (``Rule.state_arrays``:
  the arrays besides p and g it reads and writes per element, e.g. Adam's m and v: k = 2,
  Adan's m, v, n and g_prev: k = 4) reads 2 + k arrays (g, p, the states) and writes 1 + k
  (p, the states) per step; its ``stream`` reads and writes exactly those, adding g to each
  (``kernels.stream(..., k)``, k = 0..4). So every rule is compared with the bound of its own
  bytes, not with one fixed kernel. (ASGD's average while μ = 1 and ADOPT's first step only
  write a state array; a write-allocating store reads the line anyway, so they count as k.)
  COCOB's and MADGRAD's origin x0 is only read: their stream reads one more array
  (``Rule.read_only``, the k column's "+1"). The cautious rules make two passes ("²"): a
  count of the mask over the whole array (a reduction that must finish before anything is
  written; it reads g and m) and the step. Their ``stream`` is two passes too: a count that
  reads two arrays (``kernels_cautious.count_stream``), then one pass of the step's bytes. The
  ``1-pass`` column is their kernel against the one-pass stream alone, and ``floor`` what
  the count's reads cost at best: (one-pass arrays + 2)/(one-pass arrays), C-AdamW
  (4 reads + 3 writes + 2)/7 = 1.29, C-Lion (3 + 2 + 2)/5 = 1.40.

and prints Gparam/s (parameters updated per second, best of ``--repeats``; after a warm-up
step, the implementations are timed in interleaved rounds, one step each per round) and the
ratios the issues set as targets:

* issue 2: ``numpy/t-each`` >= 1 (the NumPy path no slower than PyTorch's foreach);
* issue 6: ``fused/t-fused`` >= 1 where PyTorch has a fused step (also printed for
  ``f-nochk``, the like-for-like comparison: PyTorch checks nothing), and ``stream/kernel`` <= 1.15
  at 10M parameters and up (issue 12: for every element-wise rule).

The machine is shared, so the kernel-vs-stream ratio is measured a second way that is robust
to load: after the table's rounds, the kernel and its stream are timed alternately, back to
back, ``--kernel-repeats`` times (a change in load hits both steps of a pair alike).
``paired`` is the median over the pairs of t(kernel)/t(stream) in wall time; ``cpu`` the
median of the ratio of CPU times (both threads' CPU time: a preemption by another process
does not count, so it is the steadiest under load, and for a memory-bound loop it tracks the
wall time of an undisturbed run). Both are printed beside ``stream/kernel`` (the ratio of the
best times, which on a loaded machine favours whichever kernel happened to run alone once).
``--kernels-only`` times just the kernel and the stream (a quick run; on a loaded machine,
repeat it: ``--runs N``). ``--save FILE`` writes the runs' output to FILE, ``--median-of
FILE`` prints the cell-wise medians of the runs saved there, and ``--update-doc DOC``
writes those medians (and a summary of the rules within 1.15×) between DOC's
``<!-- step_throughput kernels: start -->`` and ``end`` markers (docs/fused.md; a test
checks that block against the saved runs).

Threads: numba and PyTorch share one OpenMP runtime (2 threads here). Unless ``--no-pin`` is
given or ``OMP_PROC_BIND`` is already set, the script sets ``OMP_PROC_BIND=true`` before
importing them, for both alike: this machine's scheduler packs threads onto one vCPU
(``sched_vcpu_pack``), and unpinned OpenMP threads then wait for each other a whole time slice
at every barrier. The header prints the setting and the load average (other processes on the
machine make every number lower and noisier).

``--crossover`` instead measures, on small arrays, from which size the fused path beats the
NumPy path (this sets ``descentlab.optim.fused.MIN_SIZE``).

Example::

    python benchmarks/step_throughput.py                     # 1M, 10M, 30M: a few minutes
    python benchmarks/step_throughput.py --sizes 10M --rules adam,sgd --repeats 9
    python benchmarks/step_throughput.py --sizes 10M --kernels-only --repeats 15
    python benchmarks/step_throughput.py --crossover
    python benchmarks/step_throughput.py --median-of runs.txt   # medians of saved runs
    python benchmarks/step_throughput.py --sizes 10M --kernels-only --repeats 9 \
        --rules adam,lion,cadamw,clion --runs 3 --save runs.txt --update-doc docs/fused.md
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

if "--no-pin" not in sys.argv:  # before OpenMP starts: see the module docstring
    os.environ.setdefault("OMP_PROC_BIND", "true")

import numba  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from descentlab import optim  # noqa: E402
from descentlab.optim import fused  # noqa: E402
from descentlab.optim.fused import kernels, kernels_catalogue  # noqa: E402


@dataclass
class Rule:
    """One benchmarked configuration: our optimizer and the PyTorch equivalent."""

    name: str
    ours: Callable[..., optim.Optimizer]
    theirs: Callable[..., torch.optim.Optimizer] | None  # None: torch has no such rule
    state_arrays: int  # how many arrays besides p and g the rule reads and writes (0..4): its
    # stream kernel moves 2 + k reads and 1 + k writes per parameter
    has_torch_fused: bool = False
    kwargs: dict[str, Any] = field(default_factory=dict)
    has_torch_foreach: bool = True
    #: Rows of the parameter matrix (Muon takes matrices only: (rows, n // rows)); 0: a vector.
    rows: int = 0
    #: State arrays the rule only reads (COCOB's and MADGRAD's origin x0; 0 or 1): its stream
    #: reads one more array and writes none more.
    read_only: int = 0
    #: Arrays a first, counting pass reads (the cautious rules: g and m, 2; 0: one pass). The
    #: rule's stream then makes a counting pass over as many arrays first.
    counting_reads: int = 0

    @property
    def arrays(self) -> str:
        """The k column: state arrays read and written (+ only read; ² two passes)."""
        return (f"{self.state_arrays}" + (f"+{self.read_only}" if self.read_only else "")
                + ("²" if self.counting_reads else ""))

    @property
    def floor(self) -> float:
        """The bytes of the rule's passes over the bytes of one pass: what its kernel can be
        at best against the one-pass stream (1 for a one-pass rule)."""
        one_pass = (2 + self.state_arrays + self.read_only) + (1 + self.state_arrays)
        return (one_pass + self.counting_reads) / one_pass


RULES = [
    Rule("sgd", lambda **k: optim.SGD(0.01, **k),
         lambda ps, **k: torch.optim.SGD(ps, lr=0.01, **k), 0, True),
    Rule("momentum", lambda **k: optim.Momentum(0.01, 0.9, **k),
         lambda ps, **k: torch.optim.SGD(ps, lr=0.01, momentum=0.9, **k), 1, True),
    Rule("nesterov", lambda **k: optim.Nesterov(0.01, 0.9, **k),
         lambda ps, **k: torch.optim.SGD(ps, lr=0.01, momentum=0.9, nesterov=True, **k), 1,
         True),
    Rule("adagrad", lambda **k: optim.AdaGrad(0.01, **k),
         lambda ps, **k: torch.optim.Adagrad(ps, lr=0.01, **k), 1, True),
    Rule("rmsprop", lambda **k: optim.RMSprop(0.01, **k),
         lambda ps, **k: torch.optim.RMSprop(ps, lr=0.01, **k), 1),
    Rule("adadelta", lambda **k: optim.Adadelta(1.0, **k),
         lambda ps, **k: torch.optim.Adadelta(ps, lr=1.0, **k), 2),
    Rule("adam", lambda **k: optim.Adam(1e-3, **k),
         lambda ps, **k: torch.optim.Adam(ps, lr=1e-3, **k), 2, True),
    Rule("adamw", lambda **k: optim.AdamW(1e-3, **k),
         lambda ps, **k: torch.optim.AdamW(ps, lr=1e-3, **k), 2, True),
    Rule("amsgrad", lambda **k: optim.Adam(1e-3, amsgrad=True, **k),
         lambda ps, **k: torch.optim.Adam(ps, lr=1e-3, amsgrad=True, **k), 3, True),
    Rule("nadam", lambda **k: optim.Nadam(2e-3, **k),
         lambda ps, **k: torch.optim.NAdam(ps, lr=2e-3, **k), 2),
    Rule("adamax", lambda **k: optim.Adamax(2e-3, **k),
         lambda ps, **k: torch.optim.Adamax(ps, lr=2e-3, **k), 2),
    # the optax family (no torch counterpart)
    Rule("lion", lambda **k: optim.Lion(1e-4, **k), None, 1),
    Rule("adabelief", lambda **k: optim.AdaBelief(1e-3, **k), None, 2),
    Rule("yogi", lambda **k: optim.Yogi(1e-2, **k), None, 2),
    Rule("adan", lambda **k: optim.Adan(1e-3, **k), None, 4),
    Rule("adopt", lambda **k: optim.Adopt(1e-3, **k), None, 2),
    Rule("ademamix", lambda **k: optim.AdEMAMix(1e-3, **k), None, 3),
    Rule("sf_sgd", lambda **k: optim.ScheduleFreeSGD(1.0, **k), None, 1),
    Rule("sf_adamw", lambda **k: optim.ScheduleFreeAdamW(2.5e-3, **k), None, 2),
    Rule("radam", lambda **k: optim.RAdam(1e-3, **k),
         lambda ps, **k: torch.optim.RAdam(ps, lr=1e-3, **k), 2),
    Rule("rprop", lambda **k: optim.Rprop(1e-2, **k),
         lambda ps, **k: torch.optim.Rprop(ps, lr=1e-2, **k), 2),
    Rule("radam_optax", lambda **k: optim.RAdam(1e-3, form="optax", nesterov=True, **k), None,
         2),
    Rule("rprop_optax", lambda **k: optim.Rprop(1e-2, form="optax", **k), None, 2),
    Rule("asgd", lambda **k: optim.ASGD(1e-2, **k),
         lambda ps, **k: torch.optim.ASGD(ps, lr=1e-2, **k), 1),
    # the catalogue (optax's newer rules, LaProp, the cautious pair; no torch counterpart)
    Rule("sign_sgd", lambda **k: optim.SignSGD(1e-4, **k), None, 0),
    Rule("signum", lambda **k: optim.Signum(1e-4, **k), None, 1),
    Rule("optim_gd", lambda **k: optim.OptimisticGradientDescent(1e-2, **k), None, 1),
    Rule("optim_adam", lambda **k: optim.OptimisticAdam(1e-3, **k), None, 3),
    Rule("acprop", lambda **k: optim.ACProp(1e-3, **k), None, 2),
    Rule("s_ademamix", lambda **k: optim.SimplifiedAdEMAMix(1e-5, **k), None, 2),
    Rule("cocob", lambda **k: optim.COCOB(**k), None, 4, read_only=1),
    Rule("madgrad", lambda **k: optim.Madgrad(1e-2, **k), None, 2, read_only=1),
    Rule("laprop", lambda **k: optim.LaProp(4e-4, **k), None, 2),
    Rule("cadamw", lambda **k: optim.CAdamW(1e-3, **k), None, 2, counting_reads=2),
    Rule("clion", lambda **k: optim.CLion(1e-4, **k), None, 1, counting_reads=2),
    # No kernels (not element-wise): NumPy and PyTorch columns only.
    Rule("adafactor", lambda **k: optim.Adafactor(1e-2, **k),
         lambda ps, **k: torch.optim.Adafactor(ps, lr=1e-2, **k), 1),
    Rule("muon", lambda **k: optim.Muon(1e-3, **k),
         lambda ps, **k: torch.optim.Muon(ps, lr=1e-3), 1, has_torch_foreach=False, rows=256),
    # (L-BFGS is not here: one update is many evaluations of a closure, not one step.)
]

COLUMNS = ("numpy", "fused", "f-nochk", "kernel", "t-loop", "t-each", "t-fused", "stream")


def parse_size(text: str) -> int:
    """'30M' → 30_000_000, '4k' → 4000, '1e6' → 1_000_000."""
    text = text.strip()
    scale = {"k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9}.get(text[-1:], 1)
    number = text[:-1] if scale != 1 else text
    try:
        value = int(float(number) * scale)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 1M, 30M, 4096)") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"size must be >= 1, got {text!r}")
    return value


def show_size(n: int) -> str:
    for unit, scale in (("M", 10**6), ("k", 10**3)):
        if n >= scale and n % scale == 0:
            return f"{n // scale}{unit}"
    return str(n)


def best_time(step: Callable[[], Any], repeats: int) -> float:
    step()  # warm-up: state creation, compilation, page faults
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return min(times)


def best_times(steps: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Best time of each step function, timed in interleaved rounds (one step of each per
    round), so a change in the machine's load hits every implementation alike."""
    for step in steps.values():
        step()  # warm-up: state creation, compilation, page faults
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def kernel_and_stream(rule: Rule, p0: np.ndarray,
                      g: np.ndarray) -> dict[str, Callable[[], Any]] | None:
    """The rule's fused kernel alone (past its first steps) and the stream kernel moving its
    bytes, each on its own copy of p (``None``: the rule has no kernel). A two-pass rule's
    ``stream`` counts over two arrays first; ``stream1`` is then its one pass alone."""
    if rule.ours().kernel is None:
        return None
    p, opt = p0.copy(), rule.ours(backend="fused")
    for _ in range(7):  # past RAdam's unrectified first steps: time its full arithmetic
        opt.update(p, g)
    h = opt.resolve(opt.step)
    opt.begin_step(h)
    q = p0.copy()
    k = rule.state_arrays
    a, b, c, d = (np.zeros_like(p0) if j < k else p0[:0] for j in range(4))
    if rule.read_only:
        x = np.zeros_like(p0)
        stream = lambda: kernels_catalogue.stream_reading(q, g, x, a, b, c, d, k)  # noqa: E731
    else:
        stream = lambda: kernels.stream(q, g, a, b, c, d, k)  # noqa: E731
    steps = {"kernel": lambda: fused.run(opt, p, g, opt.state[""], h), "stream": stream}
    if rule.counting_reads:
        from descentlab.optim.fused import kernels_cautious

        assert rule.counting_reads == 2 and k >= 1  # count_stream reads g and a (m's place)
        one_pass = stream
        steps["stream"] = lambda: (kernels_cautious.count_stream(g, a), one_pass())
        steps["stream1"] = one_pass
    return steps


def steppers(rule: Rule, p0: np.ndarray, g: np.ndarray) -> dict[str, Callable[[], Any]]:
    """One zero-argument step function per implementation, each on its own copy of p."""
    out: dict[str, Callable[[], Any]] = {}
    if rule.rows:  # a (rows, n // rows) matrix (the last n % rows parameters left out)
        m = p0.size // rule.rows * rule.rows
        p0, g = p0[:m].reshape(rule.rows, -1), g[:m].reshape(rule.rows, -1)
    has_kernel = rule.ours().kernel is not None
    for backend in ("numpy", "fused") if has_kernel else ("numpy",):
        p, opt = p0.copy(), rule.ours(backend=backend)
        out[backend] = (lambda p=p, opt=opt: opt.update(p, g))
    tg = torch.from_numpy(g)
    variants = {"t-loop": {"foreach": False}, "t-each": {"foreach": True}}
    if rule.theirs is None:  # the optax family: no torch counterpart
        variants = {}
    elif not rule.has_torch_foreach:
        variants = {"t-loop": {}}
    for column, kwargs in variants.items():
        param = torch.nn.Parameter(torch.from_numpy(p0.copy()))
        param.grad = tg
        out[column] = rule.theirs([param], **kwargs).step
    if not has_kernel:
        return out
    p, opt = p0.copy(), rule.ours(backend="fused", nonfinite="ignore")
    out["f-nochk"] = (lambda p=p, opt=opt: opt.update(p, g))
    out.update(kernel_and_stream(rule, p0, g) or {})
    out.pop("stream1", None)  # (the one-pass stream of a two-pass rule: --kernels-only)
    if rule.has_torch_fused:
        param = torch.nn.Parameter(torch.from_numpy(p0.copy()))
        param.grad = tg
        out["t-fused"] = rule.theirs([param], fused=True).step
    return out


def paired_ratios(kernel: Callable[[], Any], stream: Callable[[], Any],
                  pairs: int) -> tuple[float, float]:
    """t(kernel)/t(stream) over ``pairs`` back-to-back (kernel, stream) pairs, the order
    alternating between pairs (each has been warmed up): the median over the pairs of the
    wall-time ratio, and of the CPU-time ratio (this process's threads' CPU time, which a
    preemption by another process does not inflate)."""
    wall, cpu = [], []
    for k in range(pairs):
        order = (kernel, stream) if k % 2 == 0 else (stream, kernel)
        spent = []
        for step in order:
            c, start = time.process_time(), time.perf_counter()
            step()
            spent.append((time.perf_counter() - start, time.process_time() - c))
        (w_k, c_k), (w_s, c_s) = spent if k % 2 == 0 else spent[::-1]
        wall.append((w_k, w_s))
        cpu.append(c_k / c_s if c_s > 0 else float("nan"))
    return float(np.median([w_k / w_s for w_k, w_s in wall])), float(np.nanmedian(cpu))


def environment() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"threads: numba {numba.get_num_threads()} ({numba.threading_layer()}), torch "
            f"{torch.get_num_threads()}; OMP_PROC_BIND={os.environ.get('OMP_PROC_BIND')}; "
            f"load average {load}")


def ratio(rate: dict[str, float], a: str, b: str, width: int) -> str:
    """rate[a]/rate[b] in a cell of ``width``, or '-' where a column does not apply."""
    return f"{rate[a] / rate[b]:{width}.2f}" if a in rate and b in rate else f"{'-':>{width}}"


def throughput_table(sizes: list[int], rules: list[Rule], repeats: int, pairs: int,
                     kernels_only: bool) -> None:
    columns = ("kernel", "stream") if kernels_only else COLUMNS
    print(f"step throughput, float32, Gparam/s (best of {repeats}; paired: median of {pairs} "
          f"kernel/stream pairs); {environment()}")
    header = f"{'size':>5} {'rule':10}{'k':>4}" + "".join(f"{c:>8}" for c in columns)
    if not kernels_only:
        header += "   numpy/t-each  fused/t-fused  nochk/t-fused"
    header += "  stream/kernel  paired     cpu  1-pass   floor"
    print(header)
    rng = np.random.default_rng(0)
    for n in sizes:
        p0 = rng.standard_normal(n, dtype=np.float32)
        g = (1e-2 * rng.standard_normal(n, dtype=np.float32)).astype(np.float32)
        for rule in rules:
            if kernels_only:
                steps = kernel_and_stream(rule, p0, g)
                if steps is None:
                    continue
            else:
                steps = steppers(rule, p0, g)
            one_pass = steps.pop("stream1", None)
            times = best_times(steps, repeats)
            rate = {column: n / t / 1e9 for column, t in times.items()}
            paired = f"{'-':>8}" * 4
            if "kernel" in steps and pairs:
                both = paired_ratios(steps["kernel"], steps["stream"], pairs)
                paired = "".join(f"{r:8.2f}" for r in both) + f"{'-':>8}" * 2
                if one_pass is not None:
                    against_one = paired_ratios(steps["kernel"], one_pass, pairs)[0]
                    paired = paired[:16] + f"{against_one:8.2f}{rule.floor:8.2f}"
            del steps, one_pass
            gc.collect()
            cells = "".join(f"{rate[c]:8.2f}" if c in rate else f"{'-':>8}" for c in columns)
            line = f"{show_size(n):>5} {rule.name:10}{rule.arrays:>4}{cells}"
            if not kernels_only:
                line += (f"   {ratio(rate, 'numpy', 't-each', 12)}  "
                         f"{ratio(rate, 'fused', 't-fused', 13)}  "
                         f"{ratio(rate, 'f-nochk', 't-fused', 13)}")
            print(f"{line}  {ratio(rate, 'stream', 'kernel', 13)}{paired}", flush=True)
    print("k: state arrays the rule (and its stream) reads and writes besides p and g (+1: "
          "and one it only reads; ²: two passes,\na count reading 2 arrays, then the step; "
          "its stream the same); stream/kernel (best times), paired (median of\npairs, wall "
          "time), cpu (median of pairs, CPU time): t(kernel)/t(stream), target <= 1.15 at "
          "10M; 1-pass: paired against\nthe one-pass stream alone, floor: the two passes' "
          "bytes over one pass's")


#: A row of a ``--kernels-only`` table: size, rule, k, then kernel, stream, stream/kernel,
#: paired and cpu, and (tables since the two-pass streams) 1-pass and floor, '-' for a
#: one-pass rule.
KERNEL_ROW = re.compile(r"^ *(\S+) (\S+) +(\S+)((?: +[0-9.]+){5})((?: +(?:[0-9.]+|-)){2})?$")
#: The markers of the generated block in docs/fused.md (``--update-doc``).
DOC_START = "<!-- step_throughput kernels: start -->"
DOC_END = "<!-- step_throughput kernels: end -->"
TARGET = 1.15


def median_rows(text: str) -> tuple[list[str], list[tuple[str, str, str, list[float]]]]:
    """The headers of the ``--kernels-only`` runs in ``text`` and, per (size, rule, k), the
    median over the runs of each cell (kernel, stream, stream/kernel, paired, cpu, 1-pass,
    floor; NaN for a '-')."""
    lines = text.splitlines()
    runs = [line for line in lines if line.startswith("step throughput")]
    cells: dict[tuple[str, str, str], list[list[float]]] = {}
    for line in lines:
        match = KERNEL_ROW.match(line)
        if match:
            size, rule, k, numbers, extra = match.groups()
            values = [float(x) for x in numbers.split()]
            values += [float("nan") if x == "-" else float(x) for x in (extra or "- -").split()]
            cells.setdefault((size, rule, k), []).append(values)
    return runs, [(size, rule, k, list(np.median(np.array(rows), axis=0)))
                  for (size, rule, k), rows in cells.items()]


def median_table(path: str) -> str:
    """The cell-wise medians of the ``--kernels-only`` tables saved in ``path`` (several
    runs, one after another; a rule missing from a run is left out), and which rules are
    within the target by both paired medians."""
    with open(path, encoding="utf-8") as f:
        runs, rows = median_rows(f.read())
    out = [f"median of {len(runs)} runs of step_throughput.py --kernels-only ({path}):"]
    out += [f"  {run}" for run in runs]
    out.append(f"{'size':>5} {'rule':10}{'k':>4}  kernel  stream  stream/kernel  paired     cpu"
               f"  1-pass   floor")
    within, beyond = [], []
    for size, rule, k, (kernel, stream, ratio, paired, cpu, one, floor) in rows:
        extra = "".join(f"{'-':>8}" if np.isnan(x) else f"{x:8.2f}" for x in (one, floor))
        out.append(f"{size:>5} {rule:10}{k:>4}{kernel:8.2f}{stream:8.2f}{ratio:15.2f}"
                   f"{paired:8.2f}{cpu:8.2f}{extra}")
        (within if max(paired, cpu) <= TARGET else beyond).append(
            f"{rule} ({paired:.2f}, {cpu:.2f})")
    out.append(f"within {TARGET}x of their streams by both medians (paired, cpu): "
               f"{', '.join(within) or 'none'}")
    out.append(f"beyond: {', '.join(beyond) or 'none'}")
    return "\n".join(out)


def update_doc(doc: str, block: str) -> None:
    """Replace the text between ``doc``'s markers with ``block`` in a code fence."""
    from descentlab.files import replace_fenced

    replace_fenced(doc, DOC_START, DOC_END, block)


def crossover(rules: list[Rule], repeats: int) -> None:
    """Time ``update`` on small arrays, NumPy path against fused path (µs per step)."""
    sizes = [2**k for k in range(8, 21, 2)]
    print(f"update time on small float32 arrays, microseconds (best of {repeats * 4}); "
          f"MIN_SIZE={fused.MIN_SIZE}, PARALLEL_MIN={fused.PARALLEL_MIN}")
    print(f"{'rule':9}" + "".join(f"{show_size(n):>14}" for n in sizes))
    rng = np.random.default_rng(0)
    for rule in rules:
        cells = []
        for n in sizes:
            p0 = rng.standard_normal(n, dtype=np.float32)
            g = (1e-2 * rng.standard_normal(n, dtype=np.float32)).astype(np.float32)
            micro = {}
            for backend in ("numpy", "fused"):
                p, opt = p0.copy(), rule.ours(backend=backend)
                opt.update(p, g)
                inner = max(1, 2**16 // n)

                def step(p: np.ndarray = p, g: np.ndarray = g, opt: optim.Optimizer = opt,
                         k: int = inner) -> None:
                    for _ in range(k):
                        opt.update(p, g)

                micro[backend] = best_time(step, repeats * 4) / inner * 1e6
            mark = "*" if micro["fused"] < micro["numpy"] else " "
            cells.append(f"{micro['numpy']:.0f}/{micro['fused']:.0f}{mark}")
        print(f"{rule.name:9}" + "".join(f"{c:>14}" for c in cells), flush=True)
    print("cells: numpy µs / fused µs, * where fused is faster")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="example: python benchmarks/step_throughput.py --sizes 1M,10M --rules adam",
    )
    parser.add_argument("--sizes", default="1M,10M,30M",
                        help="comma-separated parameter counts (default 1M,10M,30M)")
    parser.add_argument("--rules", default=",".join(r.name for r in RULES),
                        help="comma-separated rules (default: all)")
    parser.add_argument("--repeats", type=int, default=7, help="timed steps per cell")
    parser.add_argument("--kernel-repeats", type=int, default=21,
                        help="back-to-back kernel/stream pairs for the paired ratio (0: none)")
    parser.add_argument("--kernels-only", action="store_true",
                        help="time only the fused kernel and its stream (a quick run)")
    parser.add_argument("--no-pin", action="store_true",
                        help="leave OMP_PROC_BIND unset (see the module docstring)")
    parser.add_argument("--crossover", action="store_true",
                        help="measure the size where the fused path starts to win")
    parser.add_argument("--median-of", metavar="FILE",
                        help="print the cell-wise median of the --kernels-only runs saved in "
                        "FILE (no timing)")
    parser.add_argument("--runs", type=int, default=1, help="measure the table this many times")
    parser.add_argument("--save", metavar="FILE",
                        help="write the runs' output to FILE (then its medians are printed)")
    parser.add_argument("--update-doc", metavar="DOC",
                        help="write the medians of --save's (or --median-of's) FILE into DOC "
                        "between its step_throughput markers")
    args = parser.parse_args(argv)
    if args.update_doc and not (args.save or args.median_of):
        parser.error("--update-doc needs --save FILE or --median-of FILE")
    if args.median_of:
        print(median_table(args.median_of))
        if args.update_doc:
            update_doc(args.update_doc, median_table(args.median_of))
        return 0
    by_name = {r.name: r for r in RULES}
    wanted = [s.strip() for s in args.rules.split(",") if s.strip()]
    for name in wanted:
        if name not in by_name:
            parser.error(f"unknown rule {name!r}; choose from {', '.join(by_name)}")
    rules = [by_name[name] for name in wanted]
    if args.crossover:
        crossover(rules, args.repeats)
        return 0
    try:
        sizes = [parse_size(s) for s in args.sizes.split(",")]
    except argparse.ArgumentTypeError as e:
        parser.error(str(e))
    if args.runs < 1:
        parser.error(f"--runs must be >= 1, got {args.runs}")
    captured = io.StringIO()
    with contextlib.redirect_stdout(Tee(sys.stdout, captured)):
        for _ in range(args.runs):
            throughput_table(sizes, rules, args.repeats, args.kernel_repeats,
                             args.kernels_only)
    if args.save:
        from descentlab.files import write_text

        write_text(args.save, captured.getvalue())
        print(median_table(args.save))
        if args.update_doc:
            update_doc(args.update_doc, median_table(args.save))
    return 0


class Tee(io.TextIOBase):
    """A text stream writing to two others (the terminal and the saved runs)."""

    def __init__(self, *streams: Any) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


if __name__ == "__main__":
    sys.exit(main())
