"""Compiling the fused kernels ahead (descentlab/optim/warm_kernels.py): every kernel a fused
update can run is compiled, for both dtypes, with the types a real update passes; processes
sharing a folder compile each kernel once between them; a wrong name changes nothing."""

from __future__ import annotations

import functools
import importlib
import pkgutil
import subprocess
import sys

import numba
import numpy as np
import pytest

from descentlab import optim
from descentlab.errors import InputError
from descentlab.optim import fused
from descentlab.optim import warm_kernels as warm

KERNEL_MODULES = ("kernels", "kernels_catalogue", "kernels_cautious", "kernels_optax",
                  "kernels_torch")


def dispatchers():
    """Every kernel (not an inlined piece) of every kernel module, by module.name; the
    benchmarks' bandwidth loops (their docstrings say "benchmarks only") left out."""
    out = {}
    for module in KERNEL_MODULES:
        mod = importlib.import_module(f"descentlab.optim.fused.{module}")
        for name, value in vars(mod).items():
            if (isinstance(value, numba.core.registry.CPUDispatcher)
                    and value.targetoptions.get("inline") != "always"
                    and "benchmarks only" not in (value.py_func.__doc__ or "").lower()):
                out[f"{module}.{name}"] = value
    return out


def test_the_kernel_modules_are_the_packages():
    found = sorted(m.name for m in pkgutil.iter_modules(fused.__path__)
                   if m.name.startswith("kernels"))
    assert found == sorted(KERNEL_MODULES)


def test_warm_compiles_every_kernel_for_both_dtypes_with_a_real_updates_types():
    seconds = warm.warm()
    assert list(seconds) == warm.task_names()
    kernels = dispatchers()
    assert len(kernels) >= 34  # 34 today (the benchmarks' 3 left out): none went unseen
    for name, kernel in kernels.items():
        dtypes = sorted(str(sig[0].dtype) for sig in kernel.signatures)
        assert dtypes == ["float32", "float64"], (name, kernel.signatures)
    # Real updates afterwards (every optimizer with a kernel, and the optax forms of the
    # VARIANTS) add no specialisation: the warm-up passed the same argument types.
    before = {name: len(k.signatures) for name, k in kernels.items()}
    makers = [functools.partial(optim.create, name, backend="fused")
              for name in optim.available() if optim.get_class(name).kernel is not None]
    makers += [functools.partial(optim.RAdam, form="optax", backend="fused"),
               functools.partial(optim.Rprop, form="optax", backend="fused")]
    for dtype in warm.DTYPES:
        for make in makers:
            p = np.arange(1.0, 41.0, dtype=dtype).reshape(5, 8)
            make().update(p, np.full_like(p, -0.25))
    assert {name: len(k.signatures) for name, k in kernels.items()} == before


def test_an_unknown_name_is_refused_before_anything_compiles(capsys):
    with pytest.raises(InputError, match="kernel 'nope' is not registered"):
        warm.warm(["sgd", "nope"])
    with pytest.raises(SystemExit) as info:
        warm.main(["nope"])
    assert info.value.code == 2 and "'nope'" in capsys.readouterr().err


def test_processes_sharing_a_folder_compile_each_kernel_once(tmp_path):
    names = ["sgd", "momentum", "adagrad", "adadelta", "nadam", warm.PROBE]
    argv = [sys.executable, "-m", "descentlab.optim.warm_kernels", "--share", str(tmp_path),
            *names]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    done_by = [{line.split()[0] for line in out.splitlines()} - {"total"} for out, _ in outs]
    assert done_by[0].isdisjoint(done_by[1]) and done_by[0] | done_by[1] == set(names)
    assert {f.name for f in tmp_path.iterdir()} == {f"{n}.{s}" for n in names
                                                    for s in ("claim", "done")}
