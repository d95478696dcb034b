"""Check the float32 cube root of MADGRAD's rule and kernels on every float32 input (all 2^32
bit patterns; several minutes on 2 cores).

``descentlab.optim.moments.cube_root`` (the rule's, NumPy) and
``descentlab.optim.fused.inline.cube_root`` (the kernels', numba, vectorised) are the same
sequence of float32 operations (the kernels' run on x with the sign in the guess, and on a
subnormal x unscaled: every intermediate the rule's up to the sign and a power of two). This
counts the inputs where their bits differ (NaN counts as
equal to NaN; the sign of a zero must match) and, over the finite inputs, how many ulps the
rule's root is from the correctly rounded one (float64 ``np.cbrt`` rounded to float32; its
error, at most 2^-52 relative before the rounding, can only matter for an input whose root is
within that of a float32 half-way point). The output is committed as
docs/figures/cube_root_check.txt.

Example::

    python benchmarks/cube_root_check.py
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit, prange

from descentlab.optim.fused.inline import cube_root
from descentlab.optim.moments import cube_root as rule_cube_root

CHUNK = 2**24  # elements per batch


@njit(parallel=True)
def kernel_roots(x: np.ndarray, out: np.ndarray) -> None:
    for i in prange(x.size):
        out[i] = cube_root(x[i])


def main() -> None:
    start, differ, ulps = time.perf_counter(), 0, np.zeros(3, dtype=np.int64)
    out = np.empty(CHUNK, np.float32)
    for k in range(2**32 // CHUNK):
        x = np.arange(k * CHUNK, (k + 1) * CHUNK, dtype=np.uint64).astype(np.uint32)
        x = x.view(np.float32)
        kernel_roots(x, out)
        rule = rule_cube_root(x)
        same = (out.view(np.uint32) == rule.view(np.uint32)) | (np.isnan(out) & np.isnan(rule))
        differ += int(np.count_nonzero(~same))
        finite = np.isfinite(x)
        exact = np.cbrt(x[finite].astype(np.float64)).astype(np.float32)
        distance = np.abs(rule[finite].view(np.int32).astype(np.int64)
                          - exact.view(np.int32).astype(np.int64))
        ulps += np.bincount(np.minimum(distance, 2), minlength=3)
    print(f"the kernels' cube root differs from the rule's on {differ} of {2**32} float32 "
          f"inputs; the rule's, over the {int(ulps.sum())} finite ones: {int(ulps[0])} "
          f"correctly rounded, {int(ulps[1])} 1 ulp away, {int(ulps[2])} further "
          f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
