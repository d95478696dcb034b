"""The fused steps of the cautious rules, C-AdamW and C-Lion: a counting pass, the mask's scale
in Python, then the rule's pass (:mod:`.kernels_cautious`, imported on first use).

The scale is computed from the count as ``optim.cautious.cautious_mask`` computes it from
``float(np.sum(mask))``. That sum of ones is exact (so equal to the kernel's integer count)
for float64 arrays and for float32 arrays of at most 2**24 elements; a bigger float32 array
(where NumPy's float32 sum can round the count) runs the readable rule instead, to keep the
bits. Nothing here imports an optimizer class or numba until a kernel runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..moments import bias_correction, scalar_sqrt
from .prelude import flat, numpy_rule, prelude, unused

#: The largest float32 array whose mask count NumPy's float32 sum gives exactly.
EXACT_FLOAT32_COUNT = 2**24


def mask_scale(kind: str, count: int, size: int, f: type) -> Any:
    """The value of φ where the mask is on, in the arrays' dtype, as the rule's mask array
    holds it: ``1·(d/(nnz + 1))`` (``"count"``) or ``1/max(nnz/d, 1e-3)`` (``"mean"``).

    >>> float(mask_scale("count", 2, 3, np.float32)), float(mask_scale("mean", 2, 4, np.float64))
    (1.0, 2.0)
    """
    if kind == "count":
        return f(size / (float(count) + 1))
    return f(1.0) / f(max(float(count) / size, 1e-3))


def _too_big(p: np.ndarray) -> bool:
    return p.dtype == np.float32 and p.size > EXACT_FLOAT32_COUNT


def cadamw(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    if _too_big(p):
        return numpy_rule(opt, p, g, state, h)
    f = p.dtype.type
    start = prelude(opt, h, f)
    from . import kernels_cautious as k
    m = flat(state["m"])
    count = k.cadamw_count(p, g, m, *start, f(1 - h.beta1), f(0.0))
    k.cadamw(p, g, m, flat(state["v"]), flat(state["v_max"]) if opt.amsgrad else unused(f),
             *start, f(1 - h.beta1), f(h.beta2), f(1 - h.beta2), opt.amsgrad,
             f(scalar_sqrt(bias_correction(h.beta2, h.t))), f(h.eps),
             mask_scale(opt.mask_scale, count, p.size, f), f(0.0),
             f(h.lr / bias_correction(h.beta1, h.t)))


def clion(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    if opt.mode == "smooth" or _too_big(p):  # numba's tanh is not NumPy's (as Lion's kernel)
        return numpy_rule(opt, p, g, state, h)
    f = p.dtype.type
    start = prelude(opt, h, f)
    refined = opt.mode == "refined"
    from . import kernels_cautious as k
    m = flat(state["m"])
    count = k.clion_count(p, g, m, *start, f(h.beta1), f(1 - h.beta1), refined, f(0.0))
    k.clion(p, g, m, *start, f(h.lr), f(h.beta1), f(1 - h.beta1), f(1 - h.beta2), refined,
            mask_scale(opt.mask_scale, count, p.size, f), f(0.0))


#: Kernel name (an optimizer class's ``kernel``) → fused step.
STEPS: dict[str, Callable[..., None]] = {"cadamw": cadamw, "clion": clion}

#: These kernels count over the whole array they are given: their rules are not element-wise
#: (no blocks, no flat buffer), and each runs per parameter array.
WHOLE_ARRAY = frozenset(STEPS)
