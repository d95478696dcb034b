"""The element-wise pieces every kernel shares (numba, inlined into each kernel).

Each is the scalar twin of a NumPy step of the rules, with the same operations in the same
order: :func:`gradient` is ``apply.update_leaf``'s prelude, :func:`ema` and
:func:`ema_square` are :func:`descentlab.optim.moments.ema` / ``ema_square``, :func:`maximum`
is ``np.maximum``. Kernel modules of any family import them from here.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from .numba_cache import drop_stale

drop_stale(__file__)  # numba's cache does not see edits here: see fused/numba_cache.py

#: The compile options of every kernel: all cores, cached on disk, no GIL.
OPTIONS = {"parallel": True, "cache": True, "nogil": True}


@njit(inline="always")
def gradient(p, g, maximize, l2, wd):
    """g, negated when maximizing, plus λ·p for L2 weight decay."""
    if maximize:
        g = -g
    if l2:
        g = g + wd * p
    return g


@njit(inline="always")
def ema(avg, x, one_minus_beta):
    """β·avg + (1 − β)·x, as avg + (1 − β)(x − avg)."""
    return avg + one_minus_beta * (x - avg)


@njit(inline="always")
def ema_square(avg, x, beta, one_minus_beta):
    """β·avg + (1 − β)·x², rounded as (avg·β) + ((1 − β)·x)·x."""
    avg = avg * beta
    return avg + one_minus_beta * x * x


@njit(inline="always")
def moments(i, gi, m, v, one_minus_beta1, beta2, one_minus_beta2):
    """Adam's moments m = EMA(g), v = EMA(g²), stored at ``i`` and returned."""
    mi = ema(m[i], gi, one_minus_beta1)
    m[i] = mi
    vi = ema_square(v[i], gi, beta2, one_minus_beta2)
    v[i] = vi
    return mi, vi


@njit(inline="always")
def maximum(a, b):
    """``np.maximum`` for scalars: NaN wins, like NumPy."""
    return a if (a >= b or a != a) else b


@njit(inline="always")
def minimum(a, b):
    """``np.minimum`` for scalars: NaN wins, like NumPy."""
    return a if (a <= b or a != a) else b


@njit(inline="always")
def sign(x):
    """``np.sign`` for scalars: ±1, NaN for NaN, and +0 for both zeros (numba's ``np.sign``
    keeps the sign of −0, NumPy's does not; it shows in ``p − η·sign(g)`` when p is −0)."""
    s = np.sign(x)
    return s + (s - s)  # −0 + 0 is +0; ±1 and NaN are unchanged (no fastmath: not folded)


@intrinsic
def cbrt(typingctx, x):
    """``np.cbrt`` for scalars: C's ``cbrtf``/``cbrt``, which NumPy calls. (numba's own
    ``np.cbrt`` takes ``pow(x, 1/3)`` in float64 and differs from NumPy's in the last bit
    for many float32 values.)"""
    if not isinstance(x, types.Float):
        return None

    def codegen(context, builder, signature, args):
        value = context.get_value_type(x)
        name = "cbrtf" if x.bitwidth == 32 else "cbrt"
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(value, [value]), name)
        return builder.call(function, args)

    return x(x), codegen


@intrinsic
def _bits(typingctx, x):
    """The bits of a float32 as an int32 (a bit cast, no conversion)."""
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return types.int32(x), codegen


@intrinsic
def _float(typingctx, i):
    """The float32 whose bits are the low 32 bits of the integer ``i`` (a bit cast)."""
    if not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        low = args[0]
        if i.bitwidth > 32:
            low = builder.trunc(low, ir.IntType(32))
        return builder.bitcast(low, ir.FloatType())

    return types.float32(i), codegen


# Inlined by numba (its pedantic SSA check then warns NumbaIRAssumptionWarning at compile
# time, harmlessly): as a plain call it is not inlined nor vectorised, and MADGRAD's kernel
# measured 8x its stream at 10M instead of 4x.
@njit(inline="always")
def cbrt_glibc(x):
    """The float32 cube root of glibc's ``cbrtf`` (2.36; the function NumPy's float32
    ``np.cbrt`` calls here), computed without calling it, so that a loop around it is
    vectorised: x = xm·2^e with xm in [0.5, 1); u = a cubic in xm (float64, rounded to
    float32); one Halley step u(u³ + 2xm)/(2u³ + xm) times 2^((e mod 3)/3), in float64,
    rounded to float32; times 2^(e div 3) (C's truncating division). ±0, ±inf and NaN give
    x + x. Equal to glibc 2.36's ``cbrtf`` for all 2^32 float32 bit patterns
    (``benchmarks/cube_root_check.py``); a kernel uses it only where
    :func:`cube_root_is_numpys` holds (checked once per process on a sample), else
    :func:`cbrt`. (Branch-free: selects, no divisions but
    the step's.)"""
    a = _bits(x) & np.int32(0x7FFFFFFF)
    tiny = a < np.int32(0x00800000)  # zero or subnormal: scale by 2^25 first (exact)
    scale = np.float32(1.0)
    if tiny:
        scale = np.float32(33554432.0)
    b = _bits(_float(a) * scale)
    e = (b >> np.int32(23)) - np.int32(126)
    if tiny:
        e = e - np.int32(25)
    xm = np.float64(_float((b & np.int32(0x007FFFFF)) | np.int32(0x3F000000)))
    u = np.float32(0.492659620528969547 + (0.697570460207922770 - 0.191502161678719066 * xm)
                   * xm)
    t2 = np.float64(u * u * u)
    magnitude = e
    if e < 0:
        magnitude = -e
    q = (magnitude * np.int32(21846)) >> np.int32(16)  # |e| div 3 for |e| < 200
    if e < 0:
        q = -q
    r = e - np.int32(3) * q
    factor = 1.0  # 2^(r/3)
    if r == -2:
        factor = 0.62996052494743658238
    if r == -1:
        factor = 0.79370052598409973738
    if r == 1:
        factor = 1.2599210498948731648
    if r == 2:
        factor = 1.5874010519681994748
    ud = np.float64(u)
    root = np.float32(ud * (t2 + 2.0 * xm) / (2.0 * t2 + xm) * factor)
    root = root * _float((q + np.int32(127)) << np.int32(23))  # exact: a power of two
    if not x > 0:
        root = -root
    if a == 0 or a >= np.int32(0x7F800000):
        root = x + x
    return root


def cube_root(x):
    """∛x as NumPy computes it, vectorisable: :func:`cbrt_glibc` for float32, :func:`cbrt`
    (libm's, one call per element) for float64."""
    raise NotImplementedError("numba only")  # pragma: no cover


@overload(cube_root, inline="always")
def _cube_root(x):
    if x == types.float32:
        return lambda x: cbrt_glibc(x)
    return lambda x: cbrt(x)


@njit(parallel=True, cache=True)
def _cube_roots(x, out):
    for i in prange(x.size):
        out[i] = cube_root(x[i])


@cache
def cube_root_is_numpys() -> bool:
    """Whether :func:`cbrt_glibc` equals NumPy's float32 ``np.cbrt`` (this machine's libm
    ``cbrtf``) on a sample of float32 bit patterns: every exponent and sign, subnormals,
    zeros, infinities, NaN, and 2^20 spread mantissas. Checked once per process."""
    step = 2**32 // 2**20 + 1  # odd: every residue of the low bits comes up
    bits = (np.arange(2**20, dtype=np.uint64) * step) % 2**32
    special = [0, 1, 0x7FFFFF, 0x800000, 0x7F800000, 0x7FC00000, 0x3F800000, 0x3F000000]
    bits = np.concatenate([bits, special, np.array(special) | 0x80000000]).astype(np.uint32)
    x = bits.view(np.float32)
    out = np.empty_like(x)
    _cube_roots(x, out)
    with np.errstate(all="ignore"):
        return bool(np.array_equal(out.view(np.uint32), np.cbrt(x).view(np.uint32)))
