"""The fused steps of the classic rules: this step's scalar coefficients, then one kernel call.

Each function mirrors its rule's ``rule`` method line by line: the coefficients are computed
in Python exactly as the rule computes them (``h.lr / bc1``, ``1 - h.beta2**h.t``, ...) and
rounded to the parameters' dtype, which is what NumPy does when a Python float meets an array
(NEP 50). The kernels (:mod:`.kernels`) then repeat the rule's element-wise arithmetic in the
same order, so the fused path is bit-identical to the readable rule.

``STEPS`` maps a kernel name (an optimizer class's ``kernel``) to its function; the package
collects the ``STEPS`` of every ``steps*`` module (:func:`descentlab.optim.fused.registry`).
Nothing here imports an optimizer class; each function imports :mod:`.kernels` (numba) when
first called, so the table can be read without importing numba.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..moments import bias_correction
from .prelude import flat, numpy_rule, prelude, unused


def sgd(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    f = p.dtype.type
    from . import kernels
    kernels.sgd(p, g, *prelude(opt, h, f), f(h.lr))


def momentum(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    if opt.nesterov and opt.nesterov_form == "textbook":  # no kernel of its own
        return numpy_rule(opt, p, g, state, h)
    f = p.dtype.type
    from . import kernels
    kernels.momentum(p, g, flat(state["buffer"]), *prelude(opt, h, f), f(h.lr),
                     f(h.momentum), f(1 - h.dampening), h.t == 1, opt.nesterov,
                     opt.lr_in_buffer)


def adagrad(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    f = p.dtype.type
    lr_t = h.lr / (1 + (h.t - 1) * h.lr_decay)
    from . import kernels
    kernels.adagrad(p, g, flat(state["sum"]), *prelude(opt, h, f), f(lr_t), f(h.eps),
                    opt.eps_mode == "inside")


def rmsprop(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    if opt.nesterov or opt.bias_correction:  # optax's options: no kernel of their own
        return numpy_rule(opt, p, g, state, h)
    f = p.dtype.type
    gbar = flat(state["grad_avg"]) if opt.centered else unused(f)
    buffer = flat(state["buffer"]) if "buffer" in state else unused(f)
    from . import kernels
    kernels.rmsprop(p, g, flat(state["square_avg"]), gbar, buffer, *prelude(opt, h, f),
                    f(h.lr), f(h.rho), f(1 - h.rho), f(h.eps), f(h.momentum), opt.centered,
                    opt.eps_mode == "inside", "buffer" in state, opt.lr_in_buffer)


def adadelta(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    f = p.dtype.type
    from . import kernels
    kernels.adadelta(p, g, flat(state["square_avg"]), flat(state["acc_delta"]),
                     *prelude(opt, h, f), f(h.lr), f(h.rho), f(1 - h.rho), f(h.eps))


def adam(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    if opt.nesterov or h.eps_root != 0:  # optax's options: no kernel of their own
        return numpy_rule(opt, p, g, state, h)
    f = p.dtype.type
    bc1 = bias_correction(h.beta1, h.t)
    bc2 = bias_correction(h.beta2, h.t)
    if opt.amsgrad and opt.amsgrad_on == "v_hat":  # max over v̂, then m/(√v_max + ε)
        amsgrad, eps_mode, step = 2, 1, h.lr / bc1
    else:
        amsgrad = 1 if opt.amsgrad else 0
        eps_mode = ("outside", "uncorrected", "inside").index(opt.eps_mode)
        step = h.lr * bc2**0.5 / bc1 if opt.eps_mode == "uncorrected" else h.lr / bc1
    v_max = flat(state["v_max"]) if opt.amsgrad else unused(f)
    from . import kernels
    kernels.adam(p, g, flat(state["m"]), flat(state["v"]), v_max, *prelude(opt, h, f),
                 f(1 - h.beta1), f(h.beta2), f(1 - h.beta2), f(step), f(bc2**0.5),
                 f(bc2), f(h.eps), amsgrad, eps_mode)


def nadam(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    f = p.dtype.type
    g_step = h.lr * (1 - h.mu) / (1 - h.mu_product)
    m_step = h.lr * h.mu_next / (1 - h.mu_product * h.mu_next)
    from . import kernels
    kernels.nadam(p, g, flat(state["m"]), flat(state["v"]), *prelude(opt, h, f),
                  f(1 - h.beta1), f(h.beta2), f(1 - h.beta2), f(bias_correction(h.beta2, h.t)),
                  f(h.eps), f(g_step), f(m_step))


def adamax(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    f = p.dtype.type
    from . import kernels
    kernels.adamax(p, g, flat(state["m"]), flat(state["u"]), *prelude(opt, h, f),
                   f(1 - h.beta1), f(h.beta2), f(h.lr / bias_correction(h.beta1, h.t)), f(h.eps),
                   opt.eps_mode == "inside")


#: kernel name → fused step.
STEPS: dict[str, Callable[..., None]] = {
    "sgd": sgd,
    "momentum": momentum,
    "adagrad": adagrad,
    "rmsprop": rmsprop,
    "adadelta": adadelta,
    "adam": adam,
    "nadam": nadam,
    "adamax": adamax,
}
