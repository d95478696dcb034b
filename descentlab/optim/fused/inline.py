"""The element-wise pieces every kernel shares (numba, inlined into each kernel).

Each is the scalar twin of a NumPy step of the rules, with the same operations in the same
order: :func:`gradient` is ``apply.update_leaf``'s prelude, :func:`ema` and
:func:`ema_square` are :func:`descentlab.optim.moments.ema` / ``ema_square``, :func:`maximum`
is ``np.maximum``. Kernel modules of any family import them from here.
"""

from __future__ import annotations

import os

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from ..moments import CUBE_ROOT_GUESS, CUBE_ROOT_TINY, CUBE_ROOT_UP
from .numba_cache import drop_stale

# numba's cache does not see edits here or of the constants: see fused/numba_cache.py
drop_stale(__file__, os.path.join(os.path.dirname(os.path.dirname(__file__)), "moments.py"))

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


@intrinsic
def _is_special(typingctx, i):
    """Whether the bits of a float32 ``|x|`` (an int32) are those of 0, inf or NaN:
    ``bits − 1 ≥ 0x7F7FFFFF`` unsigned (one subtraction, one compare; vectorisable)."""
    if i != types.int32:
        return None

    def codegen(context, builder, signature, args):
        below = builder.sub(args[0], ir.Constant(ir.IntType(32), 1))
        return builder.icmp_unsigned(">=", below, ir.Constant(ir.IntType(32), 0x7F7FFFFF))

    return types.boolean(i), codegen


#: The guess's bits for a subnormal |x|: the rule's guess for |x|·2^24, times 2^8 (+8 in the
#: exponent field); and the sign bit of an int32.
_GUESS_TINY = CUBE_ROOT_GUESS + (8 << 23)
_SIGN = -(2**31)


@njit(inline="always")
def cube_root32(x):
    """:func:`descentlab.optim.moments.cube_root` for a float32, with the same bits (0
    differences on all 2^32 inputs: ``benchmarks/cube_root_check.py``), written for fewer
    vector operations: no call and no branch, so a loop around it is vectorised.

    The rule's sequence on |x|, rearranged where the bits cannot change: (1) the sign of x
    goes into the guess r ≈ x^(-1/3) and the Newton steps run on x itself (round-to-nearest
    is symmetric in the sign, so every intermediate is the negated one of |x|'s), instead of
    a ``copysign`` at the end; (2) a subnormal |x| is not scaled: its guess is the rule's for
    |x|·2^24 times 2^8 (in the bits), and the steps then run on x, every intermediate the
    rule's times a power of two, all of them normal (a·r ≥ 2^-100), so rounded alike,
    instead of two selects and two products; (3) 0, inf and NaN are found by one integer
    compare (:func:`_is_special`) and give x + x. A loop of this root alone is 37 AVX2
    instructions per 8 elements, its load and store included (``benchmarks/madgrad_roofline.py``
    counts them); the rule's order, with a copysign and the subnormal's scaling, is more."""
    a = np.abs(x)
    tiny = a < CUBE_ROOT_TINY
    bits = _bits(a * CUBE_ROOT_UP) if tiny else _bits(a)
    base = np.int32(_GUESS_TINY) if tiny else np.int32(CUBE_ROOT_GUESS)
    third, four = np.float32(1 / 3), np.float32(4.0)
    r = _float((base - np.int32(np.float32(bits) * third)) | (_bits(x) & np.int32(_SIGN)))
    r = (r * third) * (four - (x * r) * (r * r))
    r = (r * third) * (four - (x * r) * (r * r))
    y = (x * r) * r
    y = y - (y - x / (y * y)) * third  # 0/0 for x = 0 (the kernels: NumPy's error model)
    return x + x if _is_special(_bits(a)) else y


def cube_root(x):
    """``moments.cube_root`` for scalars: :func:`cube_root32` for float32 (vectorised),
    libm's ``cbrt`` (:func:`cbrt`, what ``np.cbrt`` calls; one call per element) for
    float64."""
    raise NotImplementedError("numba only")  # pragma: no cover


@overload(cube_root, inline="always")
def _cube_root(x):
    if x == types.float32:
        return lambda x: cube_root32(x)
    return lambda x: cbrt(x)
