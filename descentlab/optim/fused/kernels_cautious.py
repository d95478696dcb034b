"""The two-pass kernels of the cautious rules, C-AdamW and C-Lion (numba). Imported only when
a fused update of one of them runs.

The cautious mask φ = [u·g > 0] is rescaled by the count of its ones over the whole array, a
reduction: no single pass can know the scale before it writes the first element. So each rule
is two passes: :func:`cadamw_count` / :func:`clion_count` read g and m (and p for L2 decay)
and count the coordinates where the new step agrees with the gradient, computing u and g
exactly as the step will (nothing is written); then :func:`cadamw` / :func:`clion` make the
rule's one pass with the scale (computed in Python from the count as
``optim.cautious.cautious_mask`` computes it) as a scalar. The second pass is AdamW's or
Lion's kernel with one more multiply; the first adds two reads per parameter.

Same standard as :mod:`.kernels`: every element sees the rule's operations in its order and
precision (C-AdamW's √(1 − β2ᵗ) is a Python float in the rule, so a float32 step stays
float32, as the references' does).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .inline import OPTIONS, ema, gradient, maximum, moments, sign


@njit(inline="always")
def _cadamw_agrees(i, p, g, m, maximize, l2, wd, decay, one_minus_beta1, zero):
    pi = p[i] * decay
    gi = gradient(pi, g[i], maximize, l2, wd)
    return 1 if ema(m[i], gi, one_minus_beta1) * gi > zero else 0


@njit(**OPTIONS)
def cadamw_count(p, g, m, maximize, l2, wd, decay, one_minus_beta1, zero):
    """How many coordinates the new m agrees with g in sign (m·g > 0). One loop per decay
    form, so that without L2 p is not read."""
    count = 0
    if l2:
        for i in prange(p.size):
            count += _cadamw_agrees(i, p, g, m, maximize, True, wd, decay, one_minus_beta1,
                                    zero)
    else:
        for i in prange(p.size):
            count += _cadamw_agrees(i, p, g, m, maximize, False, wd, decay, one_minus_beta1,
                                    zero)
    return count


@njit(inline="always")
def _cadamw_at(i, p, g, m, v, v_max, maximize, l2, wd, decay, one_minus_beta1, beta2,
               one_minus_beta2, amsgrad, root_bc2, eps, scale, zero, step):
    pi = p[i] * decay
    gi = gradient(pi, g[i], maximize, l2, wd)
    mi, vi = moments(i, gi, m, v, one_minus_beta1, beta2, one_minus_beta2)
    if amsgrad:
        vi = maximum(v_max[i], vi)
        v_max[i] = vi
    denom = np.sqrt(vi) / root_bc2 + eps
    phi = scale if mi * gi > zero else zero
    p[i] = pi - step * ((mi * phi) / denom)


@njit(**OPTIONS)
def cadamw(p, g, m, v, v_max, maximize, l2, wd, decay, one_minus_beta1, beta2,
           one_minus_beta2, amsgrad, root_bc2, eps, scale, zero, step):
    """m, v = Adam's moments (AMSGrad: running max of v); φ = scale where m·g > 0, else 0;
    p −= η/bc1 · φm/(√v/√bc2 + ε). (One loop per ``amsgrad``.)"""
    if amsgrad:
        for i in prange(p.size):
            _cadamw_at(i, p, g, m, v, v_max, maximize, l2, wd, decay, one_minus_beta1, beta2,
                       one_minus_beta2, True, root_bc2, eps, scale, zero, step)
    else:
        for i in prange(p.size):
            _cadamw_at(i, p, g, m, v, v_max, maximize, l2, wd, decay, one_minus_beta1, beta2,
                       one_minus_beta2, False, root_bc2, eps, scale, zero, step)


@njit(inline="always")
def _lion_direction(i, p, g, m, maximize, l2, wd, decay, beta1, one_minus_beta1, refined):
    """(p after the prelude, g, u): Lion's interpolation c and its direction u = sign(c)
    (refined: c itself inside (−1, 1)), NumPy's signs."""
    pi = p[i] * decay
    gi = gradient(pi, g[i], maximize, l2, wd)
    ci = one_minus_beta1 * gi + beta1 * m[i]
    if refined and np.abs(ci) < 1:
        u = ci
    else:
        u = sign(ci)
    return pi, gi, u


@njit(inline="always")
def _clion_agrees(i, p, g, m, maximize, l2, wd, decay, beta1, one_minus_beta1, refined, zero):
    _, gi, u = _lion_direction(i, p, g, m, maximize, l2, wd, decay, beta1, one_minus_beta1,
                               refined)
    return 1 if u * gi > zero else 0


@njit(**OPTIONS)
def clion_count(p, g, m, maximize, l2, wd, decay, beta1, one_minus_beta1, refined, zero):
    """How many coordinates Lion's direction u agrees with g in sign (u·g > 0). One loop per
    decay form and mode."""
    count = 0
    if l2 and refined:
        for i in prange(p.size):
            count += _clion_agrees(i, p, g, m, maximize, True, wd, decay, beta1,
                                   one_minus_beta1, True, zero)
    elif l2:
        for i in prange(p.size):
            count += _clion_agrees(i, p, g, m, maximize, True, wd, decay, beta1,
                                   one_minus_beta1, False, zero)
    elif refined:
        for i in prange(p.size):
            count += _clion_agrees(i, p, g, m, maximize, False, wd, decay, beta1,
                                   one_minus_beta1, True, zero)
    else:
        for i in prange(p.size):
            count += _clion_agrees(i, p, g, m, maximize, False, wd, decay, beta1,
                                   one_minus_beta1, False, zero)
    return count


@njit(inline="always")
def _clion_at(i, p, g, m, maximize, l2, wd, decay, lr, beta1, one_minus_beta1,
              one_minus_beta2, refined, scale, zero):
    pi, gi, u = _lion_direction(i, p, g, m, maximize, l2, wd, decay, beta1, one_minus_beta1,
                                refined)
    phi = scale if u * gi > zero else zero
    p[i] = pi - lr * (u * phi)
    m[i] = ema(m[i], gi, one_minus_beta2)


@njit(**OPTIONS)
def clion(p, g, m, maximize, l2, wd, decay, lr, beta1, one_minus_beta1, one_minus_beta2,
          refined, scale, zero):
    """u = Lion's direction; φ = scale where u·g > 0, else 0; p −= η·uφ; m = EMA(g).
    (One loop per mode.)"""
    if refined:
        for i in prange(p.size):
            _clion_at(i, p, g, m, maximize, l2, wd, decay, lr, beta1, one_minus_beta1,
                      one_minus_beta2, True, scale, zero)
    else:
        for i in prange(p.size):
            _clion_at(i, p, g, m, maximize, l2, wd, decay, lr, beta1, one_minus_beta1,
                      one_minus_beta2, False, scale, zero)


@njit(**OPTIONS)
def count_stream(g, m):
    """The bandwidth limit of the counting pass: read g and m, count where g + m > 0
    (benchmarks only)."""
    count = 0
    for i in prange(g.size):
        count += 1 if g[i] + m[i] > 0 else 0
    return count
