"""Check the vectorised float32 cube root of the fused kernels against libm's ``cbrtf`` on
every float32 input (all 2^32 bit patterns; about 6 minutes on 2 cores).

``descentlab.optim.fused.inline.cube_root`` computes glibc's ``cbrtf`` algorithm branch-free
(MADGRAD's float32 kernel uses it, where a per-process sample check finds it equal to
NumPy's ``np.cbrt``); ``inline.cbrt`` calls libm's ``cbrtf``, the function NumPy's float32
``np.cbrt`` calls. This counts the inputs where they differ (NaN counts as equal to NaN, and
the sign of a zero must match). The output is committed as docs/figures/cube_root_check.txt.

Example::

    python benchmarks/cube_root_check.py
"""

from __future__ import annotations

import platform
import time

import numpy as np
from numba import njit, prange

from descentlab.optim.fused.inline import cbrt, cube_root

CHUNK = 2**26


@njit(parallel=True)
def differences(x: np.ndarray) -> int:
    """How many elements of ``x`` have a different cube root by the two functions."""
    bad = 0
    for i in prange(x.size):
        a, b = cube_root(x[i]), cbrt(x[i])
        same = (a == b and np.signbit(a) == np.signbit(b)) or (a != a and b != b)
        bad += 0 if same else 1
    return bad


def main() -> None:
    start, total = time.perf_counter(), 0
    for k in range(2**32 // CHUNK):
        bits = np.arange(k * CHUNK, (k + 1) * CHUNK, dtype=np.uint64).astype(np.uint32)
        total += differences(bits.view(np.float32))
    print(f"{platform.libc_ver()}: inline.cube_root differs from libm cbrtf on {total} of "
          f"{2**32} float32 inputs ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
