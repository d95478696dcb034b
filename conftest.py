"""Imported by pytest before it collects anything (the repository root's conftest).

The package is imported here, before pytest collects the doctests of its modules: pytest's
``--import-mode=importlib`` (pyproject.toml) imports a module it has not seen itself and binds
it as an attribute of its package, which hides the package's function of the same name
(``optim.describe``, ``problems.catalogue``) from every test that runs after it in that
process. A module already imported is taken from ``sys.modules`` as it is.

Its fixture :func:`_kernels_compiled_once` compiles numba's kernels once per test run.
"""

import os
import pathlib
import subprocess
import sys
import warnings

import pytest

import descentlab
import descentlab.optim  # noqa: F401
import descentlab.problems  # noqa: F401


@pytest.fixture(scope="session", autouse=True)
def _kernels_compiled_once(request, tmp_path_factory):
    """Under pytest-xdist, each worker first runs ``python -m descentlab.optim.warm_kernels
    --share DIR`` (one folder per test run): the workers split the fused kernels between
    them, compile them into numba's on-disk cache and wait for each other, so no kernel is
    compiled by two workers (in a clean clone they otherwise compiled most kernels twice, at
    the same time). It runs in a child process, so the worker itself has neither imported
    numba nor run a kernel (the fork tests depend on that); its tests load the kernels from
    the cache. ``DESCENTLAB_WARM=0`` turns it off; a single process compiles on first use."""
    workerinput = getattr(request.config, "workerinput", None)
    if workerinput is None or os.environ.get("DESCENTLAB_WARM") == "0":
        return
    from descentlab.optim.fused import numba_available

    if not numba_available():
        return
    shared = tmp_path_factory.getbasetemp().parent / "numba-warm"
    root = str(pathlib.Path(descentlab.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [root, *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, "-m", "descentlab.optim.warm_kernels", "--share",
                           str(shared)], env=env, capture_output=True, text=True)
    if done.returncode != 0:  # the kernel's own tests will show the error
        warnings.warn(f"compiling the fused kernels ahead failed:\n{done.stderr[-2000:]}",
                      stacklevel=1)
