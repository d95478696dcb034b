"""Compile the fused kernels ahead of their first use, so later processes load them from disk.

A kernel is compiled on its first call for each dtype (about a second each, more for the
large rules) and written to numba's on-disk cache; every later process loads it from there.
:func:`warm` makes those first calls on purpose, on tiny arrays, through each kernel's fused
step (so with exactly the argument types a real update passes): for every registered kernel
and for float32 and float64, plus the finiteness probe the fused path runs on a gradient. The
test suite's pytest workers split this work between them before their first test
(``conftest.py``, through :func:`warm_shared` in a child process each), so no kernel is
compiled by two workers at once.

Run it as ``python -m descentlab.optim.warm_kernels [KERNEL ...]`` (every kernel when none is
named; ``--list`` prints the names; ``--share FOLDER`` splits the work with other processes
given the same folder, :func:`warm_shared`).

>>> seconds = warm(["sgd", PROBE])
>>> sorted(seconds)
['nonfinite_probe', 'sgd']
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from descentlab.errors import InputError

from .fused import registry

#: The dtypes every kernel is compiled for.
DTYPES = (np.float32, np.float64)

#: Elements of the arrays the kernels are compiled with (any size compiles the same code).
SIZE = 8


def kernel_names() -> list[str]:
    """Every registered kernel's name (:func:`descentlab.optim.fused.registry`), sorted."""
    return sorted(registry())


def _optimizer_class_for(kernel: str) -> type:
    """The first registered optimizer class (by name) whose ``kernel`` is ``kernel``."""
    from .registry import available, get_class

    for name in available():
        cls = get_class(name)
        if getattr(cls, "kernel", None) == kernel:
            return cls
    raise InputError(f"kernel {kernel!r}: no registered optimizer uses it")


#: The name :func:`warm` and :func:`warm_shared` give the finiteness probe.
PROBE = "nonfinite_probe"

#: Loops a kernel name runs only under an option (another numba function, compiled apart):
#: task name → (kernel name, the option's constructor keywords).
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "radam_optax": ("radam", {"form": "optax"}),
    "rprop_optax": ("rprop", {"form": "optax"}),
}


def task_names() -> list[str]:
    """What :func:`warm` compiles by default: every kernel, its :data:`VARIANTS`, the probe."""
    return [*kernel_names(), *VARIANTS, PROBE]


def _compile(make: Callable[[], Any] | None) -> float:
    """Seconds to compile (or load) one task for every dtype of :data:`DTYPES`: a fused
    update with the optimizer ``make()`` builds (``None``: the probe)."""
    start = time.perf_counter()
    for dtype in DTYPES:
        p = np.linspace(-1.0, 1.0, SIZE).astype(dtype)
        if make is None:
            from .fused import kernels

            kernels.nonfinite_probe(p)
        else:
            make().update(p, np.full_like(p, 0.5))
    return time.perf_counter() - start


def _tasks(names: Iterable[str] | None) -> dict[str, Callable[[], Any] | None]:
    """Task name → what builds its optimizer (``None``: the probe), every name checked before
    anything is compiled."""
    known = task_names()
    names = known if names is None else list(names)
    for name in names:
        if name not in known:
            raise InputError(f"kernel {name!r} is not registered (known: {', '.join(known)})")
    tasks: dict[str, Callable[[], Any] | None] = {}
    for name in names:
        kernel, options = VARIANTS.get(name, (name, {}))
        tasks[name] = None if name == PROBE else functools.partial(
            _optimizer_class_for(kernel), backend="fused", **options)
    return tasks


def warm(names: Iterable[str] | None = None) -> dict[str, float]:
    """Compile (or load from the cache) the kernels ``names`` (default: :func:`task_names`,
    every registered kernel, the loops of :data:`VARIANTS` and the finiteness probe
    :data:`PROBE`) for float32 and float64, by one fused update of a tiny array with the first
    optimizer (by name) that uses each. Returns the seconds each took. An unknown name is an
    error naming it, raised before anything is compiled."""
    return {name: _compile(make) for name, make in _tasks(names).items()}


def warm_shared(folder: str | Path, names: Iterable[str] | None = None,
                timeout: float = 900.0) -> dict[str, float]:
    """:func:`warm` shared by several processes started together with the same ``folder``:
    each process claims the kernels no other has claimed yet (a file ``<name>.claim`` made
    with ``O_EXCL``), compiles those, marks each ``<name>.done``, then waits (at most
    ``timeout`` seconds) until every kernel is done, so none starts work that needs a kernel
    another is still compiling. Returns the seconds of the kernels this process compiled.
    A process that dies mid-kernel costs the others the timeout, nothing else."""
    folder = Path(folder)
    tasks = _tasks(names)
    folder.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    for name, make in tasks.items():
        try:
            os.close(os.open(folder / f"{name}.claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            continue  # another process has it
        try:
            seconds[name] = _compile(make)
        finally:
            (folder / f"{name}.done").touch()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(
            (folder / f"{name}.done").exists() for name in tasks):
        time.sleep(0.1)
    return seconds


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: compile the named kernels (all by default), print each one's time."""
    parser = argparse.ArgumentParser(prog="python -m descentlab.optim.warm_kernels",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("kernels", nargs="*", help="kernel names (default: all)")
    parser.add_argument("--list", action="store_true", help="print the kernel names and stop")
    parser.add_argument("--share", metavar="FOLDER",
                        help="share the work with the other processes given this folder "
                             "(warm_shared); print only the kernels compiled here")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(task_names()))
        return 0
    try:
        if args.share:
            seconds = warm_shared(args.share, args.kernels or None)
        else:
            seconds = warm(args.kernels or None)
    except InputError as e:
        parser.error(str(e))
    for name, s in seconds.items():
        print(f"{name:32s} {s:6.2f} s")
    print(f"{'total':32s} {sum(seconds.values()):6.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
