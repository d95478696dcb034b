"""The fused fast path: one pass over memory per update, at memory-bandwidth speed.

A NumPy rule such as Adam's makes about ten passes over the parameters and allocates
temporaries. Its fused twin (:mod:`.kernels`, numba; its per-step scalars in :mod:`.steps`,
found by the class's ``kernel`` name through :func:`registry`) reads every array once, does all the
arithmetic of the rule per element, writes once, on all cores. The NumPy ``rule`` methods stay
the reference: the kernels repeat their arithmetic in the same order and precision, and the
tests check that both paths give bit-identical results.

When is it used? Every optimizer takes ``backend=``:

* ``"auto"`` (default): fused for a parameter array when it pays and is possible — a
  C-contiguous float32 or float64 array of at least :data:`MIN_SIZE` elements, every
  hyperparameter a scalar this step (not a broadcast array), numba importable, and the
  optimizer's class naming a ``kernel`` (a subclass with its own rule loses it and keeps its
  rule);
  NumPy otherwise (float16, small arrays, Python floats, sweeps over array hyperparameters);
* ``"numpy"``: always the readable rule (big arrays in cache-sized blocks, :mod:`..blocks`);
* ``"fused"``: always the kernel (any size; float16 through its float32 working copy); an
  array it cannot handle is an error naming the parameter and the reason, raised before
  anything is modified.

Clipping, schedules and the checks run before, in Python, on either path. Importing
descentlab does not import numba: the kernels are compiled on first use (about a second per
rule and dtype) and cached on disk, so later processes load them instead. docs/fused.md has
the measurements.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import numpy as np

from descentlab.errors import InputError

from ..tree import Leaf, show

#: The ``backend=`` values every optimizer accepts.
BACKENDS = ("auto", "numpy", "fused")

#: Smallest array (in elements) the ``"auto"`` backend sends to a kernel. Below it, the fixed
#: cost of a kernel call (~10 µs: coefficients, numba's argument dispatch) exceeds what the
#: single pass saves. Measured with ``benchmarks/step_throughput.py --crossover`` (float32):
#: the Adam family's kernels win from ~16k elements, every rule's (SGD has few operations to
#: save) from ~64k; see docs/fused.md.
MIN_SIZE = 2**15

#: Arrays smaller than this run the kernel on one thread: waking a second thread costs more
#: than it saves (PyTorch's ``parallel_for`` has a grain size for the same reason), and on a
#: machine whose scheduler packs threads onto one core it can cost milliseconds.
PARALLEL_MIN = 2**18


#: Whether this process has run a kernel, and whether it is a child forked after its parent
#: had: numba's OpenMP threads do not survive fork(), and a kernel call in such a child would
#: abort it ("fork() called from a process already using GNU OpenMP"). Such children use
#: NumPy (``backend="auto"``) or get an error (``"fused"``).
_launched = {"in_this_process": False, "before_fork": False}


def _after_fork_in_child() -> None:
    _launched["before_fork"] = _launched["before_fork"] or _launched["in_this_process"]
    _launched["in_this_process"] = False


os.register_at_fork(after_in_child=_after_fork_in_child)


@cache
def numba_available() -> bool:
    """Whether numba can be imported (checked once, without importing it)."""
    return importlib.util.find_spec("numba") is not None


@cache
def registry() -> dict[str, Callable[..., None]]:
    """Kernel name → fused step function: the ``STEPS`` tables of every ``steps*`` module of
    this package, collected on first use. A family adds its kernels by adding a module
    (``steps_<family>.py`` with its ``STEPS``, beside its numba ``kernels_<family>.py``);
    nothing here or there imports an optimizer class: a class names its kernel
    (``kernel = "adam"``)."""
    table: dict[str, Callable[..., None]] = {}
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        if not module.startswith("steps"):
            continue
        for name, step in importlib.import_module(f"{__name__}.{module}").STEPS.items():
            if name in table:
                raise RuntimeError(f"fused kernel {name!r} is registered twice ({module})")
            table[name] = step
    return table


def _step_for(opt: Any) -> Callable[..., None] | None:
    name = type(opt).kernel
    return None if name is None else registry().get(name)


def unfit_reason(opt: Any, array: np.ndarray, h: Any) -> str | None:
    """Why the kernel cannot update ``array`` this step (``None``: it can)."""
    if not numba_available():
        return "numba is not installed"
    if _launched["before_fork"]:
        return ("this process was forked from one that had run fused kernels, and numba's "
                "OpenMP threads do not survive fork(); use multiprocessing's 'spawn' or "
                "'forkserver' start method")
    if type(opt).kernel is None:
        return f"{type(opt).__name__} has its own rule, which has no fused kernel"
    if getattr(opt, "leading_runs", False):  # a per-run reduction (C-AdamW's mask mean)
        return "its axis 0 holds a sweep's runs, which the one-array kernel would mix"
    if _step_for(opt) is None:
        return f"{type(opt).__name__}'s kernel {type(opt).kernel!r} is not registered"
    if array.dtype not in (np.float16, np.float32, np.float64):
        return f"its dtype is {array.dtype} (kernels exist for float16/32/64)"
    if not array.flags.c_contiguous:
        return "it is not a C-contiguous array"
    for name in opt.hyperparameter_names():
        if isinstance(getattr(h, name), np.ndarray):
            return f"hyperparameter {name} is an array (kernels take scalars)"
    return None


def use_fused(opt: Any, leaf: Leaf, h: Any) -> bool:
    """Whether this step updates ``leaf`` with its kernel (the ``backend`` decision).

    Raises ``ValueError`` when ``backend="fused"`` but the kernel cannot be used.
    """
    backend = opt.backend
    if backend == "numpy":
        return False
    if backend == "auto" and (leaf.array.size < MIN_SIZE or leaf.array.dtype == np.float16):
        return False  # the common small case, decided cheaply
    reason = unfit_reason(opt, leaf.array, h)
    if backend == "fused":
        if reason is not None:
            raise InputError(f"backend='fused' cannot update {show(leaf.path)}: {reason}")
        return True
    if backend != "auto":
        raise InputError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, "
                         f"got {backend!r}")
    return reason is None


def all_finite(g: np.ndarray) -> bool:
    """Whether every element of the gradient ``g`` is finite: the check ``update`` makes
    before a fused step, as one parallel pass (NumPy's ``g.sum()`` is one thread)."""
    if g.dtype in (np.float32, np.float64) and g.flags.c_contiguous and g.size >= MIN_SIZE:
        from . import kernels
        _launched["in_this_process"] = True
        with _threads_for(g.size):
            return bool(kernels.nonfinite_probe(g.reshape(-1)) == 0)
    return bool(np.isfinite(g.sum()) or np.isfinite(g).all())


def run(opt: Any, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray], h: Any) -> None:
    """One fused update of ``p`` (maximize, weight decay and the rule), in place.

    ``p`` is C-contiguous; ``g`` has its dtype and shape; ``state`` holds arrays of its dtype.
    """
    for slot, a in state.items():
        if not a.flags.c_contiguous:  # e.g. a Fortran-ordered array from load_state_dict
            state[slot] = np.ascontiguousarray(a)
    _launched["in_this_process"] = True
    with _threads_for(p.size):
        _step_for(opt)(opt, p.reshape(-1), np.ascontiguousarray(g).reshape(-1), state, h)


@contextmanager
def _threads_for(size: int) -> Iterator[None]:
    """One thread for arrays below :data:`PARALLEL_MIN`, numba's default above."""
    if size >= PARALLEL_MIN:
        yield
        return
    import numba

    threads = numba.get_num_threads()  # a per-thread setting: restore it
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(threads)
