"""The one-pass kernels of torch.optim's later element-wise rules (numba): RAdam, Rprop (and
their optax forms), ASGD.

Same contract as :mod:`.kernels`: each repeats its rule's arithmetic per element in the same
order and precision, with the scalars computed by :mod:`.steps_torch` and rounded to the
arrays' dtype, so the fused path is bit-identical to the NumPy rule.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .inline import OPTIONS, gradient, maximum, minimum, moments


@njit(inline="always")
def _radam_at(i, p, g, m, v, maximize, l2, wd, decay, one_minus_beta1, beta2, one_minus_beta2,
              bc1, lr, sqrt_bc2, eps, r, rectified):
    pi = p[i] * decay
    gi = gradient(pi, g[i], maximize, l2, wd)
    mi, vi = moments(i, gi, m, v, one_minus_beta1, beta2, one_minus_beta2)
    step = mi / bc1 * lr
    if rectified:
        step = step * (sqrt_bc2 / (np.sqrt(vi) + eps)) * r
    p[i] = pi - step


@njit(**OPTIONS)
def radam(p, g, m, v, maximize, l2, wd, decay, one_minus_beta1, beta2, one_minus_beta2, bc1,
          lr, sqrt_bc2, eps, r, rectified):
    """η·m̂, times √(1 − β2ᵗ)/(√v + ε)·r once ρₜ > 5 (one loop per branch: vectorised)."""
    if rectified:
        for i in prange(p.size):
            _radam_at(i, p, g, m, v, maximize, l2, wd, decay, one_minus_beta1, beta2,
                      one_minus_beta2, bc1, lr, sqrt_bc2, eps, r, True)
    else:
        for i in prange(p.size):
            _radam_at(i, p, g, m, v, maximize, l2, wd, decay, one_minus_beta1, beta2,
                      one_minus_beta2, bc1, lr, sqrt_bc2, eps, r, False)


@njit(inline="always")
def _rprop_at(i, p, g, prev, size, maximize, l2, wd, decay, first, lr, etaminus, etaplus, lo,
              hi, one):
    pi = p[i] * decay
    gi = gradient(pi, g[i], maximize, l2, wd)
    si = lr if first else size[i]
    s = np.sign(gi * prev[i])
    f = etaplus if s > 0 else (etaminus if s < 0 else one)
    si = minimum(maximum(si * f, lo), hi)
    size[i] = si
    if f == etaminus:
        gi = one - one  # 0, as the rule's np.where(f == η⁻, 0, g)
    p[i] = pi - np.sign(gi) * si
    prev[i] = gi


@njit(**OPTIONS)
def rprop(p, g, prev, size, maximize, l2, wd, decay, first, lr, etaminus, etaplus, lo, hi,
          one):
    """f = η⁺/η⁻/1 by sign(g·g_prev);  Δ = clip(Δf, lo, hi);  g = 0 where f = η⁻;
    p −= sign(g)·Δ;  g_prev = g. (``one`` is 1 in the arrays' dtype: a literal would make
    the factor float64. One loop for the first step, one for the others.)"""
    if first:
        for i in prange(p.size):
            _rprop_at(i, p, g, prev, size, maximize, l2, wd, decay, True, lr, etaminus,
                      etaplus, lo, hi, one)
    else:
        for i in prange(p.size):
            _rprop_at(i, p, g, prev, size, maximize, l2, wd, decay, False, lr, etaminus,
                      etaplus, lo, hi, one)


@njit(inline="always")
def _radam_optax_at(i, p, g, m, v, maximize, l2, wd, decay, one_minus_beta1, beta2,
                    one_minus_beta2, c_m, c_g, nesterov, lr, inv_bc2, eps_root, eps, r,
                    rectified):
    pi = p[i] * decay
    gi = gradient(pi, g[i], maximize, l2, wd)
    mi, vi = moments(i, gi, m, v, one_minus_beta1, beta2, one_minus_beta2)
    m_hat = c_m * mi + c_g * gi if nesterov else c_m * mi
    if rectified:
        m_hat = r * m_hat / (np.sqrt(inv_bc2 * vi + eps_root) + eps)
    p[i] = pi - lr * m_hat


@njit(**OPTIONS)
def radam_optax(p, g, m, v, maximize, l2, wd, decay, one_minus_beta1, beta2, one_minus_beta2,
                c_m, c_g, nesterov, lr, inv_bc2, eps_root, eps, r, rectified):
    """optax's RAdam: m̂ = c_m·m (+ c_g·g, Nesterov's), r·m̂/(√(v/(1 − β2ᵗ) + ε̄) + ε) once
    ρₜ ≥ τ, times η (one loop per case, the flags constants in each: vectorised)."""
    if rectified and nesterov:
        for i in prange(p.size):
            _radam_optax_at(i, p, g, m, v, maximize, l2, wd, decay, one_minus_beta1, beta2,
                            one_minus_beta2, c_m, c_g, True, lr, inv_bc2, eps_root, eps, r,
                            True)
    elif rectified:
        for i in prange(p.size):
            _radam_optax_at(i, p, g, m, v, maximize, l2, wd, decay, one_minus_beta1, beta2,
                            one_minus_beta2, c_m, c_g, False, lr, inv_bc2, eps_root, eps, r,
                            True)
    elif nesterov:
        for i in prange(p.size):
            _radam_optax_at(i, p, g, m, v, maximize, l2, wd, decay, one_minus_beta1, beta2,
                            one_minus_beta2, c_m, c_g, True, lr, inv_bc2, eps_root, eps, r,
                            False)
    else:
        for i in prange(p.size):
            _radam_optax_at(i, p, g, m, v, maximize, l2, wd, decay, one_minus_beta1, beta2,
                            one_minus_beta2, c_m, c_g, False, lr, inv_bc2, eps_root, eps, r,
                            False)


@njit(inline="always")
def _rprop_optax_at(i, p, g, pending, size, maximize, l2, wd, decay, first, lr, etaminus,
                    etaplus, lo, hi, zero):
    pi = p[i] * decay
    gi = gradient(pi, g[i], maximize, l2, wd)
    si = lr if first else size[i]
    ui = pending[i]
    s = gi * ui
    if not s == 0:  # (NaN too, as the rule's np.where(s == 0, Δ, grown))
        si = minimum(maximum(si * (etaplus if s > 0 else etaminus), lo), hi)
    size[i] = si
    if s < 0:
        p[i] = pi - zero
        pending[i] = zero
    else:
        p[i] = pi - ui
        pending[i] = si * np.sign(gi)


@njit(**OPTIONS)
def rprop_optax(p, g, pending, size, maximize, l2, wd, decay, first, lr, etaminus, etaplus, lo,
                hi, zero):
    """optax's Rprop: Δ grows or shrinks by sign(g·u) (kept where g·u = 0); p −= u unless the
    sign flipped; u = Δ·sign(g), or 0 after a flip (``zero``: 0 in the arrays' dtype)."""
    if first:
        for i in prange(p.size):
            _rprop_optax_at(i, p, g, pending, size, maximize, l2, wd, decay, True, lr,
                            etaminus, etaplus, lo, hi, zero)
    else:
        for i in prange(p.size):
            _rprop_optax_at(i, p, g, pending, size, maximize, l2, wd, decay, False, lr,
                            etaminus, etaplus, lo, hi, zero)


@njit(inline="always")
def _asgd_at(i, p, g, ax, maximize, l2, wd, decay, shrink, eta, mu, copy):
    pi = p[i] * decay
    gi = gradient(pi, g[i], maximize, l2, wd)
    pi = pi * shrink
    pi = pi - eta * gi
    p[i] = pi
    if copy:
        ax[i] = pi
    else:
        ai = ax[i]
        ax[i] = ai + (pi - ai) * mu


@njit(**OPTIONS)
def asgd(p, g, ax, maximize, l2, wd, decay, shrink, eta, mu, copy):
    """p = p(1 − λη) − ηg;  a = p (μ = 1) or a + (p − a)μ (one loop per case: vectorised)."""
    if copy:
        for i in prange(p.size):
            _asgd_at(i, p, g, ax, maximize, l2, wd, decay, shrink, eta, mu, True)
    else:
        for i in prange(p.size):
            _asgd_at(i, p, g, ax, maximize, l2, wd, decay, shrink, eta, mu, False)
