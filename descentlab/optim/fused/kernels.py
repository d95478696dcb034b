"""The one-pass kernels of the classic rules (numba). Imported only when a fused update runs.

Each kernel walks the flat arrays once, in parallel over the cores (``prange``), and for every
element does exactly the arithmetic of the readable NumPy rule, in the same order and the same
precision. The scalar coefficients (step sizes, bias corrections, ``1 − β``) are computed once
per step in Python by :mod:`.steps` and arrive already rounded to the arrays' dtype, as NumPy
rounds a Python float that meets a float32 array; so a kernel is bit-identical to its rule.

Options are runtime flags (booleans and small integers), not separate compilations: each
kernel is compiled twice (float32 and float64), lazily on first use, and cached on disk
(``cache=True``: a second process loads the machine code instead of compiling it).

Every kernel starts with the same prelude, :func:`.inline.gradient`, which is what
``apply.update_leaf`` does before calling the rule: negate for ``maximize``, add L2 weight
decay to the gradient, or shrink the parameter by ``decay = 1 − η·λ`` (decoupled; 1 otherwise,
and multiplying by 1 changes nothing). The moments are :mod:`.inline`'s, shared by all families.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .inline import OPTIONS, ema, ema_square, gradient, maximum, moments


@njit(**OPTIONS)
def sgd(p, g, maximize, l2, wd, decay, lr):
    """p = p − η g."""
    for i in prange(p.size):
        pi = p[i] * decay
        gi = gradient(pi, g[i], maximize, l2, wd)
        p[i] = pi - lr * gi


@njit(**OPTIONS)
def momentum(p, g, b, maximize, l2, wd, decay, lr, mu, one_minus_dampening, first, nesterov,
             lr_in_buffer):
    """Heavy ball / Nesterov, PyTorch form or (``lr_in_buffer``) the textbook form."""
    for i in prange(p.size):
        pi = p[i] * decay
        gi = gradient(pi, g[i], maximize, l2, wd)
        if lr_in_buffer:  # v = μv − ηg;  p += v  (Nesterov: p += μv − ηg)
            bi = b[i] * mu
            bi = bi - lr * gi
            b[i] = bi
            if nesterov:
                p[i] = pi + (mu * bi - lr * gi)
            else:
                p[i] = pi + bi
        else:  # b = μb + (1 − d)g, b₁ = g;  p −= η b  (Nesterov: p −= η(g + μb))
            if first:
                bi = gi
            else:
                bi = b[i] * mu
                bi = bi + one_minus_dampening * gi
            b[i] = bi
            if nesterov:
                p[i] = pi - lr * (gi + mu * bi)
            else:
                p[i] = pi - lr * bi


@njit(inline="always")
def _adagrad_at(i, p, g, s, maximize, l2, wd, decay, lr_t, eps, eps_inside):
    pi = p[i] * decay
    gi = gradient(pi, g[i], maximize, l2, wd)
    si = s[i] + gi * gi
    s[i] = si
    if eps_inside:
        p[i] = pi - lr_t * (gi / np.sqrt(si + eps))
    else:
        p[i] = pi - lr_t * (gi / (np.sqrt(si) + eps))


@njit(**OPTIONS)
def adagrad(p, g, s, maximize, l2, wd, decay, lr_t, eps, eps_inside):
    """h = h + g²;  p −= η_t g/(√h + ε)  (or g/√(h + ε); one loop each, the mode a
    constant: otherwise both denominators are computed per element)."""
    if eps_inside:
        for i in prange(p.size):
            _adagrad_at(i, p, g, s, maximize, l2, wd, decay, lr_t, eps, True)
    else:
        for i in prange(p.size):
            _adagrad_at(i, p, g, s, maximize, l2, wd, decay, lr_t, eps, False)


@njit(inline="always")
def _rmsprop_at(i, p, g, s, gbar, b, maximize, l2, wd, decay, lr, rho, one_minus_rho, eps, mu,
                centered, eps_inside, has_buffer, lr_in_buffer):
    pi = p[i] * decay
    gi = gradient(pi, g[i], maximize, l2, wd)
    si = ema_square(s[i], gi, rho, one_minus_rho)
    s[i] = si
    var = si
    if centered:
        ai = ema(gbar[i], gi, one_minus_rho)
        gbar[i] = ai
        var = si - ai * ai
    if eps_inside:
        denom = np.sqrt(var + eps)
    else:
        denom = np.sqrt(var) + eps
    if not has_buffer:
        p[i] = pi - lr * (gi / denom)
    elif lr_in_buffer:
        bi = b[i] * mu
        bi = bi + lr * (gi / denom)
        b[i] = bi
        p[i] = pi - bi
    else:
        bi = b[i] * mu
        bi = bi + gi / denom
        b[i] = bi
        p[i] = pi - lr * bi


@njit(**OPTIONS)
def rmsprop(p, g, s, gbar, b, maximize, l2, wd, decay, lr, rho, one_minus_rho, eps, mu,
            centered, eps_inside, has_buffer, lr_in_buffer):
    """s = ρs + (1 − ρ)g²;  d = √(s − ḡ²) + ε;  b = μb + g/d, p −= ηb (or variants).

    One loop per combination of the optional arrays (ḡ, b) and the place of ε, with these
    flags as constants: a loop that might touch an array it does not use is not vectorised,
    and one given ``eps_inside`` as a variable computes both denominators per element.
    """
    if centered and has_buffer and eps_inside:
        for i in prange(p.size):
            _rmsprop_at(i, p, g, s, gbar, b, maximize, l2, wd, decay, lr, rho, one_minus_rho,
                        eps, mu, True, True, True, lr_in_buffer)
    elif centered and has_buffer and not eps_inside:
        for i in prange(p.size):
            _rmsprop_at(i, p, g, s, gbar, b, maximize, l2, wd, decay, lr, rho, one_minus_rho,
                        eps, mu, True, False, True, lr_in_buffer)
    elif centered and not has_buffer and eps_inside:
        for i in prange(p.size):
            _rmsprop_at(i, p, g, s, gbar, b, maximize, l2, wd, decay, lr, rho, one_minus_rho,
                        eps, mu, True, True, False, False)
    elif centered and not has_buffer and not eps_inside:
        for i in prange(p.size):
            _rmsprop_at(i, p, g, s, gbar, b, maximize, l2, wd, decay, lr, rho, one_minus_rho,
                        eps, mu, True, False, False, False)
    elif not centered and has_buffer and eps_inside:
        for i in prange(p.size):
            _rmsprop_at(i, p, g, s, gbar, b, maximize, l2, wd, decay, lr, rho, one_minus_rho,
                        eps, mu, False, True, True, lr_in_buffer)
    elif not centered and has_buffer and not eps_inside:
        for i in prange(p.size):
            _rmsprop_at(i, p, g, s, gbar, b, maximize, l2, wd, decay, lr, rho, one_minus_rho,
                        eps, mu, False, False, True, lr_in_buffer)
    elif not centered and not has_buffer and eps_inside:
        for i in prange(p.size):
            _rmsprop_at(i, p, g, s, gbar, b, maximize, l2, wd, decay, lr, rho, one_minus_rho,
                        eps, mu, False, True, False, False)
    elif not centered and not has_buffer and not eps_inside:
        for i in prange(p.size):
            _rmsprop_at(i, p, g, s, gbar, b, maximize, l2, wd, decay, lr, rho, one_minus_rho,
                        eps, mu, False, False, False, False)


@njit(**OPTIONS)
def adadelta(p, g, s, u, maximize, l2, wd, decay, lr, rho, one_minus_rho, eps):
    """s = ρs + (1 − ρ)g²;  Δ = √(u + ε)/√(s + ε)·g;  u = ρu + (1 − ρ)Δ²;  p −= ηΔ."""
    for i in prange(p.size):
        pi = p[i] * decay
        gi = gradient(pi, g[i], maximize, l2, wd)
        si = ema_square(s[i], gi, rho, one_minus_rho)
        s[i] = si
        ui = u[i]
        delta = np.sqrt(ui + eps) / np.sqrt(si + eps) * gi
        u[i] = ema_square(ui, delta, rho, one_minus_rho)
        p[i] = pi - lr * delta


@njit(inline="always")
def _adam_at(i, p, g, m, v, v_max, maximize, l2, wd, decay, one_minus_beta1, beta2,
             one_minus_beta2, step, sqrt_bc2, bc2, eps, amsgrad, eps_mode):
    pi = p[i] * decay
    gi = gradient(pi, g[i], maximize, l2, wd)
    mi, vi = moments(i, gi, m, v, one_minus_beta1, beta2, one_minus_beta2)
    if amsgrad == 1:
        vi = maximum(v_max[i], vi)
        v_max[i] = vi
    elif amsgrad == 2:
        vi = maximum(v_max[i], vi / bc2)
        v_max[i] = vi
    if eps_mode == 0:
        denom = np.sqrt(vi) / sqrt_bc2 + eps
    elif eps_mode == 1:
        denom = np.sqrt(vi) + eps
    else:
        denom = np.sqrt(vi / bc2 + eps)
    p[i] = pi - step * (mi / denom)


@njit(**OPTIONS)
def adam(p, g, m, v, v_max, maximize, l2, wd, decay, one_minus_beta1, beta2, one_minus_beta2,
         step, sqrt_bc2, bc2, eps, amsgrad, eps_mode):
    """Adam / AMSGrad. ``amsgrad``: 0 off, 1 max of v, 2 max of v̂ (optax, with eps_mode 1).

    ``eps_mode``: 0 → step·m/(√v/√bc2 + ε); 1 → step·m/(√v + ε); 2 → step·m/√(v/bc2 + ε).
    One loop per combination, with both as constants in it: a loop given them as variables
    computes every mode's denominator per element and selects one (AMSGrad ran 1.4× the
    bandwidth limit so). Without AMSGrad the loop never touches ``v_max`` (vectorised).
    """
    if amsgrad == 0 and eps_mode == 0:
        for i in prange(p.size):
            _adam_at(i, p, g, m, v, v_max, maximize, l2, wd, decay, one_minus_beta1, beta2,
                     one_minus_beta2, step, sqrt_bc2, bc2, eps, 0, 0)
    elif amsgrad == 0 and eps_mode == 1:
        for i in prange(p.size):
            _adam_at(i, p, g, m, v, v_max, maximize, l2, wd, decay, one_minus_beta1, beta2,
                     one_minus_beta2, step, sqrt_bc2, bc2, eps, 0, 1)
    elif amsgrad == 0 and eps_mode == 2:
        for i in prange(p.size):
            _adam_at(i, p, g, m, v, v_max, maximize, l2, wd, decay, one_minus_beta1, beta2,
                     one_minus_beta2, step, sqrt_bc2, bc2, eps, 0, 2)
    elif amsgrad == 1 and eps_mode == 0:
        for i in prange(p.size):
            _adam_at(i, p, g, m, v, v_max, maximize, l2, wd, decay, one_minus_beta1, beta2,
                     one_minus_beta2, step, sqrt_bc2, bc2, eps, 1, 0)
    elif amsgrad == 1 and eps_mode == 1:
        for i in prange(p.size):
            _adam_at(i, p, g, m, v, v_max, maximize, l2, wd, decay, one_minus_beta1, beta2,
                     one_minus_beta2, step, sqrt_bc2, bc2, eps, 1, 1)
    elif amsgrad == 1 and eps_mode == 2:
        for i in prange(p.size):
            _adam_at(i, p, g, m, v, v_max, maximize, l2, wd, decay, one_minus_beta1, beta2,
                     one_minus_beta2, step, sqrt_bc2, bc2, eps, 1, 2)
    elif amsgrad == 2 and eps_mode == 1:  # optax's max of v̂
        for i in prange(p.size):
            _adam_at(i, p, g, m, v, v_max, maximize, l2, wd, decay, one_minus_beta1, beta2,
                     one_minus_beta2, step, sqrt_bc2, bc2, eps, 2, 1)
    else:
        raise ValueError("internal error: no Adam kernel loop for this amsgrad/eps_mode")


@njit(**OPTIONS)
def nadam(p, g, m, v, maximize, l2, wd, decay, one_minus_beta1, beta2, one_minus_beta2, bc2,
          eps, g_step, m_step):
    """NAdam: d = √(v/bc2) + ε;  p −= a·g/d;  p −= b·m/d (two roundings, like the rule)."""
    for i in prange(p.size):
        pi = p[i] * decay
        gi = gradient(pi, g[i], maximize, l2, wd)
        mi, vi = moments(i, gi, m, v, one_minus_beta1, beta2, one_minus_beta2)
        denom = np.sqrt(vi / bc2) + eps
        pi = pi - g_step * (gi / denom)
        p[i] = pi - m_step * (mi / denom)


@njit(inline="always")
def _adamax_at(i, p, g, m, u, maximize, l2, wd, decay, one_minus_beta1, beta2, step, eps,
               eps_inside):
    pi = p[i] * decay
    gi = gradient(pi, g[i], maximize, l2, wd)
    mi = ema(m[i], gi, one_minus_beta1)
    m[i] = mi
    ui = u[i] * beta2
    if eps_inside:
        ui = maximum(ui, np.abs(gi) + eps)
        u[i] = ui
        p[i] = pi - step * (mi / ui)
    else:
        ui = maximum(ui, np.abs(gi))
        u[i] = ui
        p[i] = pi - step * (mi / (ui + eps))


@njit(**OPTIONS)
def adamax(p, g, m, u, maximize, l2, wd, decay, one_minus_beta1, beta2, step, eps, eps_inside):
    """u = max(β2u, |g| + ε);  p −= step·m/u  (or ε outside: m/(u + ε); one loop each)."""
    if eps_inside:
        for i in prange(p.size):
            _adamax_at(i, p, g, m, u, maximize, l2, wd, decay, one_minus_beta1, beta2, step,
                       eps, True)
    else:
        for i in prange(p.size):
            _adamax_at(i, p, g, m, u, maximize, l2, wd, decay, one_minus_beta1, beta2, step,
                       eps, False)


@njit(fastmath={"reassoc"}, **OPTIONS)
def nonfinite_probe(g):
    """Σ g·0, in parallel: 0 when every element of g is finite, NaN when one is inf or NaN
    (inf·0 and NaN·0 are NaN); it cannot overflow. ``fastmath={"reassoc"}`` only lets the
    sum be vectorised in any order; ``x·0`` may not be folded to 0 (that needs "nnan")."""
    zero = g.dtype.type(0)
    acc = zero
    for i in prange(g.size):
        acc += g[i] * zero
    return acc


@njit(**OPTIONS)
def stream(p, g, a, b, c, d, k):
    """The bandwidth limit of a rule with ``k`` state arrays (0 to 4): read g, read and write
    p and the first k of a, b, c, d, adding g to each — the bytes such a rule moves, with
    trivial arithmetic. (Benchmarks only; one loop per k, so that each is vectorised.)
    """
    if k == 0:
        for i in prange(p.size):
            p[i] = p[i] + g[i]
    elif k == 1:
        for i in prange(p.size):
            gi = g[i]
            p[i] = p[i] + gi
            a[i] = a[i] + gi
    elif k == 2:
        for i in prange(p.size):
            gi = g[i]
            p[i] = p[i] + gi
            a[i] = a[i] + gi
            b[i] = b[i] + gi
    elif k == 3:
        for i in prange(p.size):
            gi = g[i]
            p[i] = p[i] + gi
            a[i] = a[i] + gi
            b[i] = b[i] + gi
            c[i] = c[i] + gi
    else:
        for i in prange(p.size):
            gi = g[i]
            p[i] = p[i] + gi
            a[i] = a[i] + gi
            b[i] = b[i] + gi
            c[i] = c[i] + gi
            d[i] = d[i] + gi
