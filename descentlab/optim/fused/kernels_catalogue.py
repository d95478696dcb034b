"""The one-pass kernels of the catalogue's element-wise rules (numba): signSGD, Signum,
optimistic gradient descent, optimistic Adam, ACProp, simplified AdEMAMix, COCOB, MADGRAD and
LaProp. Imported only when a fused update of one of them runs.

Same standard as :mod:`.kernels`: every element sees its rule's operations in the rule's
order and precision; constants arrive as arguments of the arrays' dtype (a float literal would
promote float32 arithmetic), computed by :mod:`.steps_catalogue` exactly as the rule computes
them; the signs are NumPy's (:func:`.inline.sign`), the cube roots the rule's
(:func:`.inline.cube_root`).
(LaProp's √(1 − β2ᵗ) and MADGRAD's √t are Python floats in the rules, so their float32 steps
stay float32 as the references' do.) Options are runtime
flags; where one changes which arrays a loop touches, or the first step differs, each
combination has its own loop with the flags constant in it.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .inline import OPTIONS, cube_root, ema, ema_square, gradient, maximum, moments, sign


@njit(**OPTIONS)
def sign_sgd(p, g, maximize, l2, wd, decay, lr):
    """p −= η·sign(g)."""
    for i in prange(p.size):
        pi = p[i] * decay
        gi = gradient(pi, g[i], maximize, l2, wd)
        p[i] = pi - lr * sign(gi)


@njit(**OPTIONS)
def signum(p, g, m, maximize, l2, wd, decay, lr, one_minus_beta):
    """m = EMA(g); p −= η·sign(m)."""
    for i in prange(p.size):
        pi = p[i] * decay
        gi = gradient(pi, g[i], maximize, l2, wd)
        mi = ema(m[i], gi, one_minus_beta)
        m[i] = mi
        p[i] = pi - lr * sign(mi)


@njit(inline="always")
def _optimistic_at(i, p, g, previous, maximize, l2, wd, decay, lr, alpha_plus_beta, beta,
                   first):
    pi = p[i] * decay
    gi = gradient(pi, g[i], maximize, l2, wd)
    last = gi if first else previous[i]
    p[i] = pi - lr * (alpha_plus_beta * gi - beta * last)
    previous[i] = gi


@njit(**OPTIONS)
def optimistic_gradient_descent(p, g, previous, maximize, l2, wd, decay, lr, alpha_plus_beta,
                                beta, first):
    """p −= η((α + β)g − β·g_prev) (g_prev = g at the first step); g_prev = g."""
    if first:
        for i in prange(p.size):
            _optimistic_at(i, p, g, previous, maximize, l2, wd, decay, lr, alpha_plus_beta,
                           beta, True)
    else:
        for i in prange(p.size):
            _optimistic_at(i, p, g, previous, maximize, l2, wd, decay, lr, alpha_plus_beta,
                           beta, False)


@njit(inline="always")
def _optimistic_adam_at(i, p, g, m, v, previous, maximize, l2, wd, decay, lr, one_minus_beta1,
                        beta2, one_minus_beta2, nesterov, m_coef, g_coef, bc1, bc2, eps_root,
                        eps, alpha_plus_beta, beta, first):
    pi = p[i] * decay
    gi = gradient(pi, g[i], maximize, l2, wd)
    mi, vi = moments(i, gi, m, v, one_minus_beta1, beta2, one_minus_beta2)
    if nesterov:
        m_hat = m_coef * mi + g_coef * gi
    else:
        m_hat = mi / bc1
    d = m_hat / (np.sqrt(vi / bc2 + eps_root) + eps)
    last = d if first else previous[i]
    p[i] = pi - lr * (alpha_plus_beta * d - beta * last)
    previous[i] = d


@njit(**OPTIONS)
def optimistic_adam(p, g, m, v, previous, maximize, l2, wd, decay, lr, one_minus_beta1, beta2,
                    one_minus_beta2, nesterov, m_coef, g_coef, bc1, bc2, eps_root, eps,
                    alpha_plus_beta, beta, first):
    """m, v = Adam's moments; d = m̂/(√(v̂ + ε̄) + ε); p −= η((α + β)d − β·d_prev); d_prev = d.
    (One loop per combination of ``nesterov`` and ``first``.)"""
    if first and nesterov:
        for i in prange(p.size):
            _optimistic_adam_at(i, p, g, m, v, previous, maximize, l2, wd, decay, lr,
                                one_minus_beta1, beta2, one_minus_beta2, True, m_coef, g_coef,
                                bc1, bc2, eps_root, eps, alpha_plus_beta, beta, True)
    elif first:
        for i in prange(p.size):
            _optimistic_adam_at(i, p, g, m, v, previous, maximize, l2, wd, decay, lr,
                                one_minus_beta1, beta2, one_minus_beta2, False, m_coef, g_coef,
                                bc1, bc2, eps_root, eps, alpha_plus_beta, beta, True)
    elif nesterov:
        for i in prange(p.size):
            _optimistic_adam_at(i, p, g, m, v, previous, maximize, l2, wd, decay, lr,
                                one_minus_beta1, beta2, one_minus_beta2, True, m_coef, g_coef,
                                bc1, bc2, eps_root, eps, alpha_plus_beta, beta, False)
    else:
        for i in prange(p.size):
            _optimistic_adam_at(i, p, g, m, v, previous, maximize, l2, wd, decay, lr,
                                one_minus_beta1, beta2, one_minus_beta2, False, m_coef, g_coef,
                                bc1, bc2, eps_root, eps, alpha_plus_beta, beta, False)


@njit(inline="always")
def _acprop_at(i, p, g, m, s, maximize, l2, wd, decay, lr, first, first_denom, bc2_before,
               eps, beta2, one_minus_beta2, eps_root, one_minus_beta1):
    pi = p[i] * decay
    gi = gradient(pi, g[i], maximize, l2, wd)
    mi, si = m[i], s[i]
    if first:
        p[i] = pi - lr * (gi / first_denom)
    else:
        p[i] = pi - lr * (gi / (np.sqrt(si / bc2_before) + eps))
    error = gi - mi
    si = si * beta2
    s[i] = si + (one_minus_beta2 * (error * error) + eps_root)
    m[i] = ema(mi, gi, one_minus_beta1)


@njit(**OPTIONS)
def acprop(p, g, m, s, maximize, l2, wd, decay, lr, first, first_denom, bc2_before, eps, beta2,
           one_minus_beta2, eps_root, one_minus_beta1):
    """p −= η·g/(√ŝ_prev + ε) (η·g/(1 + ε) at the first step); s = β2s + ((1 − β2)(g − m)²
    + ε̄); m = EMA(g)."""
    if first:
        for i in prange(p.size):
            _acprop_at(i, p, g, m, s, maximize, l2, wd, decay, lr, True, first_denom,
                       bc2_before, eps, beta2, one_minus_beta2, eps_root, one_minus_beta1)
    else:
        for i in prange(p.size):
            _acprop_at(i, p, g, m, s, maximize, l2, wd, decay, lr, False, first_denom,
                       bc2_before, eps, beta2, one_minus_beta2, eps_root, one_minus_beta1)


@njit(**OPTIONS)
def simplified_ademamix(p, g, m, nu, maximize, l2, wd, decay, lr, beta1, beta2,
                        one_minus_beta2, bc2, alpha, eps_root, eps):
    """m = β1m + g; ν = EMA(g²); p −= η(m + αg)/(√(ν/bc2 + ε̄) + ε)."""
    for i in prange(p.size):
        pi = p[i] * decay
        gi = gradient(pi, g[i], maximize, l2, wd)
        mi = m[i] * beta1
        mi = mi + gi
        m[i] = mi
        ni = ema_square(nu[i], gi, beta2, one_minus_beta2)
        nu[i] = ni
        p[i] = pi - lr * ((mi + alpha * gi) / (np.sqrt(ni / bc2 + eps_root) + eps))


@njit(inline="always")
def _cocob_at(i, p, g, x0, cumulative, scale, abs_sum, reward, maximize, l2, wd, decay, lr,
              alpha, eps, zero, first):
    pi = p[i] * decay
    gi = gradient(pi, g[i], maximize, l2, wd)
    if first:
        x0[i] = pi
        scale[i] = eps
    xi = x0[i]
    c = lr * gi
    a = np.abs(c)
    li = maximum(scale[i], a)
    scale[i] = li
    si = abs_sum[i] + a
    abs_sum[i] = si
    ri = maximum(reward[i] - c * (pi - xi), zero)
    reward[i] = ri
    ci = cumulative[i] - c
    cumulative[i] = ci
    p[i] = xi + ci / (li * maximum(si + li, alpha * li)) * (li + ri)


@njit(**OPTIONS)
def cocob(p, g, x0, cumulative, scale, abs_sum, reward, maximize, l2, wd, decay, lr, alpha,
          eps, zero, first):
    """c = ηg; L = max(L, |c|); G += |c|; R = max(R − c(p − x0), 0); C −= c;
    p = x0 + C/(L·max(G + L, αL))·(L + R). (The first step sets x0 = p, L = ε.)"""
    if first:
        for i in prange(p.size):
            _cocob_at(i, p, g, x0, cumulative, scale, abs_sum, reward, maximize, l2, wd, decay,
                      lr, alpha, eps, zero, True)
    else:
        for i in prange(p.size):
            _cocob_at(i, p, g, x0, cumulative, scale, abs_sum, reward, maximize, l2, wd, decay,
                      lr, alpha, eps, zero, False)


@njit(inline="always")
def _madgrad_at(i, p, g, x0, grad_sum_sq, s, maximize, l2, wd, first, restart, lamb, eps,
                momentum, one_minus_momentum, decoupled, decay_step):
    pi = p[i]
    gi = gradient(pi, g[i], maximize, l2, wd)
    si, sum_sq = s[i], grad_sum_sq[i]
    if first:
        x0[i] = pi
    if restart:  # μ = 0: the authors recover x0 from the current point
        x0[i] = pi + si / (cube_root(sum_sq) + eps)
    grad_sum_sq[i] = sum_sq + lamb * (gi * gi)  # rounded to the arrays' dtype on the store
    sum_sq = grad_sum_sq[i]
    s[i] = si + lamb * gi
    si = s[i]
    z = x0[i] - si / (cube_root(sum_sq) + eps)
    q = pi * momentum
    q = q + one_minus_momentum * z
    if decoupled:
        q = q - decay_step * pi
    p[i] = q


@njit(**OPTIONS)
def madgrad(p, g, x0, grad_sum_sq, s, maximize, l2, wd, first, restart, lamb, eps, momentum,
            one_minus_momentum, decoupled, decay_step):
    """G += λg²; s += λg; z = x0 − s/(∛G + ε); p = μp + (1 − μ)z (decoupled decay:
    − (η + ε)λ_wd·p_old). The usual steps (not the first, μ ≠ 0) have one loop per decay
    form; the first step and μ = 0 (x0 rewritten every step) share the general loop. The
    cube root is :func:`.inline.cube_root`: the rule's float32 cube root, vectorised; libm's
    ``cbrt`` per element for float64."""
    if first or restart:
        for i in prange(p.size):
            _madgrad_at(i, p, g, x0, grad_sum_sq, s, maximize, l2, wd, first, restart, lamb,
                        eps, momentum, one_minus_momentum, decoupled, decay_step)
    elif decoupled:
        for i in prange(p.size):
            _madgrad_at(i, p, g, x0, grad_sum_sq, s, maximize, l2, wd, False, False, lamb, eps,
                        momentum, one_minus_momentum, True, decay_step)
    else:
        for i in prange(p.size):
            _madgrad_at(i, p, g, x0, grad_sum_sq, s, maximize, l2, wd, False, False, lamb, eps,
                        momentum, one_minus_momentum, False, decay_step)


@njit(inline="always")
def _laprop_at(i, p, g, m, v, mu, v_max, maximize, beta2, one_minus_beta2, centered, use_mu,
               ams, eps_root, eps, root_bc2, beta1, lr_coef, step_size, decay):
    gi = gradient(p[i], g[i], maximize, False, beta1)  # (no L2: the rule decays after)
    second = ema_square(v[i], gi, beta2, one_minus_beta2)
    v[i] = second
    if centered:
        mui = ema(mu[i], gi, one_minus_beta2)
        mu[i] = mui
        if use_mu:
            second = second - mui * mui
    if ams:
        second = maximum(v_max[i], second)
        v_max[i] = second
    d = (np.sqrt(second + eps_root) + eps) / root_bc2
    m[i] = m[i] * beta1 + lr_coef * (gi / d)
    pi = p[i] - step_size * m[i]
    p[i] = pi * decay


@njit(**OPTIONS)
def laprop(p, g, m, v, mu, v_max, maximize, beta2, one_minus_beta2, centered, use_mu, ams,
           eps_root, eps, root_bc2, beta1, lr_coef, step_size, decay):
    """v = EMA(g²) (centered: − μ², ams_bound: running max); d = (√(v + ε̄) + ε)/√bc2;
    m = β1m + (1 − β1)η·g/d; p = (p − (η/η̄)m)·decay. The plain rule (neither option) has its
    own loop."""
    if centered or ams:
        for i in prange(p.size):
            _laprop_at(i, p, g, m, v, mu, v_max, maximize, beta2, one_minus_beta2, centered,
                       use_mu, ams, eps_root, eps, root_bc2, beta1, lr_coef, step_size, decay)
    else:
        for i in prange(p.size):
            _laprop_at(i, p, g, m, v, mu, v_max, maximize, beta2, one_minus_beta2, False,
                       False, False, eps_root, eps, root_bc2, beta1, lr_coef, step_size, decay)


@njit(**OPTIONS)
def stream_reading(p, g, x, a, b, c, d, k):
    """The bandwidth limit of a rule with ``k`` state arrays it reads and writes (2 or 4: a,
    b, c, d) and one it only reads (``x``: MADGRAD's and COCOB's origin x0): read g, x, p and
    the states, write p and the states (benchmarks only)."""
    if k == 2:
        for i in prange(p.size):
            gi = g[i] + x[i]
            p[i] = p[i] + gi
            a[i] = a[i] + gi
            b[i] = b[i] + gi
    else:
        for i in prange(p.size):
            gi = g[i] + x[i]
            p[i] = p[i] + gi
            a[i] = a[i] + gi
            b[i] = b[i] + gi
            c[i] = c[i] + gi
            d[i] = d[i] + gi
