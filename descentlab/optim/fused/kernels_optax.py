"""The one-pass kernels of the optax family's element-wise rules (numba), imported only when
a fused update of Lion (hard and refined signs), AdaBelief, Yogi, Adan, ADOPT, AdEMAMix or a
schedule-free rule runs.

Same standard as :mod:`.kernels`: every element sees its rule's operations in the rule's
order and precision. Constants arrive as arguments of the arrays' dtype (a float64 literal
would promote float32 arithmetic); the scalar coefficients are computed by
:mod:`.steps_optax` exactly as the rule computes them. So each kernel is bit-identical to its
NumPy rule.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .inline import OPTIONS, ema, ema_square, gradient, maximum, minimum, sign


@njit(inline="always")
def _lion_at(i, p, g, m, maximize, l2, wd, decay, lr, beta1, one_minus_beta1, one_minus_beta2,
             refined):
    pi = p[i] * decay
    gi = gradient(pi, g[i], maximize, l2, wd)
    mi = m[i]
    ci = one_minus_beta1 * gi + beta1 * mi
    if refined and np.abs(ci) < 1:
        d = ci
    else:
        d = sign(ci)  # NumPy's: +0 for −0
    p[i] = pi - lr * d
    m[i] = ema(mi, gi, one_minus_beta2)


@njit(**OPTIONS)
def lion(p, g, m, maximize, l2, wd, decay, lr, beta1, one_minus_beta1, one_minus_beta2,
         refined):
    """c = (1 − β1)g + β1m; p −= η·sign(c) (refined: c inside (−1, 1)); m = EMA(g).
    (One loop per mode, with the mode a constant in each.)"""
    if refined:
        for i in prange(p.size):
            _lion_at(i, p, g, m, maximize, l2, wd, decay, lr, beta1, one_minus_beta1,
                     one_minus_beta2, True)
    else:
        for i in prange(p.size):
            _lion_at(i, p, g, m, maximize, l2, wd, decay, lr, beta1, one_minus_beta1,
                     one_minus_beta2, False)


@njit(inline="always")
def _adabelief_at(i, p, g, m, s, maximize, l2, wd, decay, lr, one_minus_beta1, beta2,
                  one_minus_beta2, eps_root, bc1, bc2, eps, nesterov, m_coef, g_coef):
    pi = p[i] * decay
    gi = gradient(pi, g[i], maximize, l2, wd)
    mi = ema(m[i], gi, one_minus_beta1)
    m[i] = mi
    dev = gi - mi
    si = s[i] * beta2
    si = si + (one_minus_beta2 * (dev * dev) + eps_root)
    s[i] = si
    if nesterov:
        m_hat = m_coef * mi + g_coef * gi
    else:
        m_hat = mi / bc1
    p[i] = pi - lr * (m_hat / (np.sqrt(si / bc2) + eps))


@njit(**OPTIONS)
def adabelief(p, g, m, s, maximize, l2, wd, decay, lr, one_minus_beta1, beta2,
              one_minus_beta2, eps_root, bc1, bc2, eps, nesterov, m_coef, g_coef):
    """m = EMA(g); s = β2s + ((1 − β2)(g − m)² + ε̄); p −= η·m̂/(√(s/bc2) + ε)."""
    if nesterov:
        for i in prange(p.size):
            _adabelief_at(i, p, g, m, s, maximize, l2, wd, decay, lr, one_minus_beta1, beta2,
                          one_minus_beta2, eps_root, bc1, bc2, eps, True, m_coef, g_coef)
    else:
        for i in prange(p.size):
            _adabelief_at(i, p, g, m, s, maximize, l2, wd, decay, lr, one_minus_beta1, beta2,
                          one_minus_beta2, eps_root, bc1, bc2, eps, False, m_coef, g_coef)


@njit(inline="always")
def _yogi_at(i, p, g, m, v, maximize, l2, wd, decay, lr, one_minus_beta1, one_minus_beta2,
             bc1, bc2, eps_root, eps, bias_correction):
    pi = p[i] * decay
    gi = gradient(pi, g[i], maximize, l2, wd)
    mi = ema(m[i], gi, one_minus_beta1)
    m[i] = mi
    g2 = gi * gi
    vi = v[i]
    vi = vi - one_minus_beta2 * np.sign(vi - g2) * g2
    v[i] = vi
    if bias_correction:
        p[i] = pi - lr * ((mi / bc1) / (np.sqrt(vi / bc2 + eps_root) + eps))
    else:
        p[i] = pi - lr * (mi / (np.sqrt(vi + eps_root) + eps))


@njit(**OPTIONS)
def yogi(p, g, m, v, maximize, l2, wd, decay, lr, one_minus_beta1, one_minus_beta2, bc1, bc2,
         eps_root, eps, bias_correction):
    """m = EMA(g); v −= (1 − β2)·sign(v − g²)·g²; p −= η·m̂/(√(v̂ + ε̄) + ε)."""
    if bias_correction:
        for i in prange(p.size):
            _yogi_at(i, p, g, m, v, maximize, l2, wd, decay, lr, one_minus_beta1,
                     one_minus_beta2, bc1, bc2, eps_root, eps, True)
    else:
        for i in prange(p.size):
            _yogi_at(i, p, g, m, v, maximize, l2, wd, decay, lr, one_minus_beta1,
                     one_minus_beta2, bc1, bc2, eps_root, eps, False)


@njit(inline="always")
def _adan_at(i, p, g, m, v, n, g_prev, maximize, l2, wd, decay, lr, first, zero,
             one_minus_beta1, one_minus_beta2, beta3, one_minus_beta3, bc1, bc2, bc3, eps_root,
             eps, proximal, shrink):
    pi = p[i] * decay
    gi = gradient(pi, g[i], maximize, l2, wd)
    diff = gi * zero if first else gi - g_prev[i]  # a zero of the arrays' dtype
    mi = ema(m[i], gi, one_minus_beta1)
    m[i] = mi
    vi = ema(v[i], diff, one_minus_beta2)
    v[i] = vi
    sq = gi + one_minus_beta2 * diff
    ni = n[i] * beta3
    ni = ni + one_minus_beta3 * (sq * sq)
    n[i] = ni
    g_prev[i] = gi
    u = (mi / bc1 + one_minus_beta2 * (vi / bc2)) / (np.sqrt(ni / bc3 + eps_root) + eps)
    pi = pi - lr * u
    if proximal:
        pi = pi / shrink
    p[i] = pi


@njit(**OPTIONS)
def adan(p, g, m, v, n, g_prev, maximize, l2, wd, decay, lr, first, zero, one_minus_beta1,
         one_minus_beta2, beta3, one_minus_beta3, bc1, bc2, bc3, eps_root, eps, proximal,
         shrink):
    """Δ = g − g_prev; m, v = EMAs of g, Δ; n = β3n + (1 − β3)(g + (1 − β2)Δ)²; p −= η·u.
    (One loop per combination of ``first`` and ``proximal``, each flag a constant in it.)"""
    if first and proximal:
        for i in prange(p.size):
            _adan_at(i, p, g, m, v, n, g_prev, maximize, l2, wd, decay, lr, True, zero,
                     one_minus_beta1, one_minus_beta2, beta3, one_minus_beta3, bc1, bc2, bc3,
                     eps_root, eps, True, shrink)
    elif first:
        for i in prange(p.size):
            _adan_at(i, p, g, m, v, n, g_prev, maximize, l2, wd, decay, lr, True, zero,
                     one_minus_beta1, one_minus_beta2, beta3, one_minus_beta3, bc1, bc2, bc3,
                     eps_root, eps, False, shrink)
    elif proximal:
        for i in prange(p.size):
            _adan_at(i, p, g, m, v, n, g_prev, maximize, l2, wd, decay, lr, False, zero,
                     one_minus_beta1, one_minus_beta2, beta3, one_minus_beta3, bc1, bc2, bc3,
                     eps_root, eps, True, shrink)
    else:
        for i in prange(p.size):
            _adan_at(i, p, g, m, v, n, g_prev, maximize, l2, wd, decay, lr, False, zero,
                     one_minus_beta1, one_minus_beta2, beta3, one_minus_beta3, bc1, bc2, bc3,
                     eps_root, eps, False, shrink)


@njit(inline="always")
def _adopt_at(i, p, g, m, v, maximize, l2, wd, decay, lr, eps, clip, bound, beta1,
              one_minus_beta1, beta2, one_minus_beta2, nesterov):
    pi = p[i] * decay
    gi = gradient(pi, g[i], maximize, l2, wd)
    vi = v[i]
    gt = gi / maximum(np.sqrt(vi), eps)
    if clip:
        gt = minimum(maximum(gt, -bound), bound)
    mi = ema(m[i], gt, one_minus_beta1)
    m[i] = mi
    v[i] = ema_square(vi, gi, beta2, one_minus_beta2)
    if nesterov:
        p[i] = pi - lr * (beta1 * mi + one_minus_beta1 * gt)
    else:
        p[i] = pi - lr * mi


@njit(**OPTIONS)
def adopt(p, g, m, v, maximize, l2, wd, decay, lr, first, eps, clip, bound, beta1,
          one_minus_beta1, beta2, one_minus_beta2, nesterov):
    """t = 1: v = g². Then g̃ = clip(g/max(√v, ε)); m = EMA(g̃); v = EMA(g²); p −= η·m.
    (One loop per combination of the options, each a constant in its loop.)"""
    if first:
        for i in prange(p.size):
            pi = p[i] * decay
            gi = gradient(pi, g[i], maximize, l2, wd)
            v[i] = gi * gi
            p[i] = pi
    elif clip and nesterov:
        for i in prange(p.size):
            _adopt_at(i, p, g, m, v, maximize, l2, wd, decay, lr, eps, True, bound, beta1,
                      one_minus_beta1, beta2, one_minus_beta2, True)
    elif clip:
        for i in prange(p.size):
            _adopt_at(i, p, g, m, v, maximize, l2, wd, decay, lr, eps, True, bound, beta1,
                      one_minus_beta1, beta2, one_minus_beta2, False)
    elif nesterov:
        for i in prange(p.size):
            _adopt_at(i, p, g, m, v, maximize, l2, wd, decay, lr, eps, False, bound, beta1,
                      one_minus_beta1, beta2, one_minus_beta2, True)
    else:
        for i in prange(p.size):
            _adopt_at(i, p, g, m, v, maximize, l2, wd, decay, lr, eps, False, bound, beta1,
                      one_minus_beta1, beta2, one_minus_beta2, False)


@njit(**OPTIONS)
def ademamix(p, g, m1, m2, nu, maximize, l2, wd, decay, lr, one_minus_beta1, one_minus_beta3,
             beta2, one_minus_beta2, bc1, bc2, alpha, eps_root, eps):
    """m1, m2 = fast and slow EMAs of g; ν = EMA(g²); p −= η(m̂1 + αm2)/(√(ν̂ + ε̄) + ε)."""
    for i in prange(p.size):
        pi = p[i] * decay
        gi = gradient(pi, g[i], maximize, l2, wd)
        a = ema(m1[i], gi, one_minus_beta1)
        m1[i] = a
        b = ema(m2[i], gi, one_minus_beta3)
        m2[i] = b
        ni = ema_square(nu[i], gi, beta2, one_minus_beta2)
        nu[i] = ni
        p[i] = pi - lr * ((a / bc1 + alpha * b) / (np.sqrt(ni / bc2 + eps_root) + eps))


@njit(inline="always")
def _schedule_free_at(i, p, g, z, v, maximize, l2, wd, decay, first, adamw, beta2,
                      one_minus_beta2, bc2, eps, weight_decay, still, beta, one_minus_beta,
                      lr_z, c, one_minus_c):
    pi = p[i] * decay
    gi = gradient(pi, g[i], maximize, l2, wd)
    if first:
        z[i] = pi
    if adamw:
        vi = ema_square(v[i], gi, beta2, one_minus_beta2)
        v[i] = vi
        d = gi / (np.sqrt(vi / bc2) + eps) + weight_decay * pi
    else:
        d = gi
    if still:
        p[i] = pi
    else:
        zi = z[i]
        x = (pi - one_minus_beta * zi) / beta
        zi = zi - lr_z * d
        z[i] = zi
        x = one_minus_c * x + c * zi
        p[i] = pi + ((beta * x + one_minus_beta * zi) - pi)


@njit(**OPTIONS)
def schedule_free(p, g, z, v, maximize, l2, wd, decay, first, adamw, beta2, one_minus_beta2,
                  bc2, eps, weight_decay, still, beta, one_minus_beta, lr_z, c,
                  one_minus_c):
    """d = g (SGD) or g/(√(v/bc2) + ε) + λy (AdamW); x from y, z; z −= γd; average; y.

    The steps after the first that move (``still`` false: almost all) get one loop per base
    rule, with the flags as constants: the general loop (a conditional store to z, the v
    that SGD leaves out, the still steps' early exit) ran at 10–50 ns per parameter, this
    one at 0.25 ns (10M parameters). The first step and the still steps share the general
    loop (once per run: its speed is moot).
    """
    if first or still:
        for i in prange(p.size):
            _schedule_free_at(i, p, g, z, v, maximize, l2, wd, decay, first, adamw, beta2,
                              one_minus_beta2, bc2, eps, weight_decay, still, beta,
                              one_minus_beta, lr_z, c, one_minus_c)
    elif adamw:
        for i in prange(p.size):
            _schedule_free_at(i, p, g, z, v, maximize, l2, wd, decay, False, True, beta2,
                              one_minus_beta2, bc2, eps, weight_decay, False, beta,
                              one_minus_beta, lr_z, c, one_minus_c)
    else:
        for i in prange(p.size):
            _schedule_free_at(i, p, g, z, v, maximize, l2, wd, decay, False, False, beta2,
                              one_minus_beta2, bc2, eps, weight_decay, False, beta,
                              one_minus_beta, lr_z, c, one_minus_c)
