"""One function per rule: this step's scalar coefficients, then one kernel call.

Each function mirrors its rule's ``rule`` method line by line: the coefficients are computed
in Python exactly as the rule computes them (``h.lr / bc1``, ``1 - h.beta2**h.t``, ...) and
rounded to the parameters' dtype, which is what NumPy does when a Python float meets an array
(NEP 50). The kernels (:mod:`.kernels`) then repeat the rule's element-wise arithmetic in the
same order, so the fused path is bit-identical to the readable rule.

``STEPS`` maps a rule method to its function. A subclass that overrides ``rule`` is not in it,
so it always runs its own (NumPy) rule. Each function imports :mod:`.kernels` (numba) when
first called, so the NumPy path can consult ``STEPS`` (:mod:`..blocks`) without importing numba.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..adadelta import Adadelta
from ..adagrad import AdaGrad
from ..adam import Adam
from ..adamax import Adamax
from ..nadam import Nadam
from ..rmsprop import RMSprop
from ..sgd import SGD, Momentum


def _flat(a: np.ndarray) -> np.ndarray:
    """A 1-D view of a C-contiguous array (never a copy: the kernel writes through it)."""
    if not a.flags.c_contiguous:
        raise ValueError("internal error: the fused path needs C-contiguous arrays")
    return a.reshape(-1)


def _prelude(opt: Any, h: Any, f: type) -> tuple[bool, bool, Any, Any]:
    """(maximize, l2, λ, decay): what ``Optimizer._update_leaf`` does before the rule.

    (Hyperparameters are scalars on the fused path.)"""
    decay_on = h.weight_decay != 0
    decoupled = decay_on and opt.decoupled_weight_decay
    decay = f(1 - h.lr * h.weight_decay) if decoupled else f(1.0)
    return opt.maximize, decay_on and not decoupled, f(h.weight_decay), decay


def _unused(f: type) -> np.ndarray:
    """Stands in for a state array the options leave out (never read or written)."""
    return np.empty(0, f)


def _numpy_rule(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    """Options the kernel does not have (optax's, on Adam and RMSprop): the readable rule on
    flat views, same bits as the NumPy path."""
    opt.apply_rule(p, g, {slot: _flat(a) for slot, a in state.items()}, h)


def sgd(opt: SGD, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    f = p.dtype.type
    from . import kernels
    kernels.sgd(p, g, *_prelude(opt, h, f), f(h.lr))


def momentum(opt: Momentum, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    f = p.dtype.type
    from . import kernels
    kernels.momentum(p, g, _flat(state["buffer"]), *_prelude(opt, h, f), f(h.lr),
                     f(h.momentum), f(1 - h.dampening), h.t == 1, opt.nesterov,
                     opt.lr_in_buffer)


def adagrad(opt: AdaGrad, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    f = p.dtype.type
    lr_t = h.lr / (1 + (h.t - 1) * h.lr_decay)
    from . import kernels
    kernels.adagrad(p, g, _flat(state["sum"]), *_prelude(opt, h, f), f(lr_t), f(h.eps),
                    opt.eps_mode == "inside")


def rmsprop(opt: RMSprop, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    if opt.nesterov or opt.bias_correction:
        return _numpy_rule(opt, p, g, state, h)
    f = p.dtype.type
    gbar = _flat(state["grad_avg"]) if opt.centered else _unused(f)
    buffer = _flat(state["buffer"]) if "buffer" in state else _unused(f)
    from . import kernels
    kernels.rmsprop(p, g, _flat(state["square_avg"]), gbar, buffer, *_prelude(opt, h, f),
                    f(h.lr), f(h.rho), f(1 - h.rho), f(h.eps), f(h.momentum), opt.centered,
                    opt.eps_mode == "inside", "buffer" in state, opt.lr_in_buffer)


def adadelta(opt: Adadelta, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    f = p.dtype.type
    from . import kernels
    kernels.adadelta(p, g, _flat(state["square_avg"]), _flat(state["acc_delta"]),
                     *_prelude(opt, h, f), f(h.lr), f(h.rho), f(1 - h.rho), f(h.eps))


def adam(opt: Adam, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    if opt.nesterov or h.eps_root != 0:
        return _numpy_rule(opt, p, g, state, h)
    f = p.dtype.type
    bc1 = 1 - h.beta1**h.t
    bc2 = 1 - h.beta2**h.t
    if opt.amsgrad and opt.amsgrad_on == "v_hat":  # max over v̂, then m/(√v_max + ε)
        amsgrad, eps_mode, step = 2, 1, h.lr / bc1
    else:
        amsgrad = 1 if opt.amsgrad else 0
        eps_mode = ("outside", "uncorrected", "inside").index(opt.eps_mode)
        step = h.lr * bc2**0.5 / bc1 if opt.eps_mode == "uncorrected" else h.lr / bc1
    v_max = _flat(state["v_max"]) if opt.amsgrad else _unused(f)
    from . import kernels
    kernels.adam(p, g, _flat(state["m"]), _flat(state["v"]), v_max, *_prelude(opt, h, f),
                 f(1 - h.beta1), f(h.beta2), f(1 - h.beta2), f(step), f(bc2**0.5),
                 f(bc2), f(h.eps), amsgrad, eps_mode)


def nadam(opt: Nadam, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    f = p.dtype.type
    g_step = h.lr * (1 - h.mu) / (1 - h.mu_product)
    m_step = h.lr * h.mu_next / (1 - h.mu_product * h.mu_next)
    from . import kernels
    kernels.nadam(p, g, _flat(state["m"]), _flat(state["v"]), *_prelude(opt, h, f),
                  f(1 - h.beta1), f(h.beta2), f(1 - h.beta2), f(1 - h.beta2**h.t), f(h.eps),
                  f(g_step), f(m_step))


def adamax(opt: Adamax, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    f = p.dtype.type
    from . import kernels
    kernels.adamax(p, g, _flat(state["m"]), _flat(state["u"]), *_prelude(opt, h, f),
                   f(1 - h.beta1), f(h.beta2), f(h.lr / (1 - h.beta1**h.t)), f(h.eps),
                   opt.eps_mode == "inside")


#: rule method → fused step. Keyed by the method, so a subclass with its own rule has none.
STEPS: dict[Callable, Callable] = {
    SGD.rule: sgd,
    Momentum.rule: momentum,
    AdaGrad.rule: adagrad,
    RMSprop.rule: rmsprop,
    Adadelta.rule: adadelta,
    Adam.rule: adam,
    Nadam.rule: nadam,
    Adamax.rule: adamax,
}
