"""The fused steps of the catalogue's element-wise rules: coefficients, then one kernel
(:mod:`.kernels_catalogue`, imported on first use).

Each function mirrors its rule (``sign.py``, ``optimistic.py``, ``acprop.py``, ``cocob.py``,
``madgrad.py``, ``laprop.py``, ...) line by line: every coefficient is the rule's own Python
expression, rounded to the arrays' dtype as NumPy rounds a Python float meeting an array
(the rules' scalars are Python floats, square roots included). Nothing here
imports an optimizer class or numba until a kernel runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..moments import bias_correction, scalar_sqrt
from .prelude import flat, prelude, unused


def sign_sgd(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    f = p.dtype.type
    from . import kernels_catalogue as k
    k.sign_sgd(p, g, *prelude(opt, h, f), f(h.lr))


def signum(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    f = p.dtype.type
    from . import kernels_catalogue as k
    k.signum(p, g, flat(state["m"]), *prelude(opt, h, f), f(h.lr), f(1 - h.beta))


def optimistic_gradient_descent(opt: Any, p: np.ndarray, g: np.ndarray, state: dict,
                                h: Any) -> None:
    f = p.dtype.type
    from . import kernels_catalogue as k
    k.optimistic_gradient_descent(p, g, flat(state["previous"]), *prelude(opt, h, f), f(h.lr),
                                  f(h.alpha + h.beta), f(h.beta), h.t == 1)


def optimistic_adam(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    f = p.dtype.type
    bc1 = bias_correction(h.beta1, h.t)
    from . import kernels_catalogue as k
    k.optimistic_adam(p, g, flat(state["m"]), flat(state["v"]), flat(state["previous"]),
                      *prelude(opt, h, f), f(h.lr), f(1 - h.beta1), f(h.beta2),
                      f(1 - h.beta2), opt.nesterov,
                      f(h.beta1 / bias_correction(h.beta1, h.t + 1)), f((1 - h.beta1) / bc1),
                      f(bc1), f(bias_correction(h.beta2, h.t)), f(h.eps_root), f(h.eps),
                      f(h.alpha + h.beta), f(h.beta), h.t == 1)


def acprop(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    f = p.dtype.type
    first = h.t == 1
    bc2_before = 1.0 if first else bias_correction(h.beta2, h.t - 1)
    from . import kernels_catalogue as k
    k.acprop(p, g, flat(state["m"]), flat(state["s"]), *prelude(opt, h, f), f(h.lr), first,
             f(1.0 + h.eps), f(bc2_before), f(h.eps), f(h.beta2), f(1 - h.beta2),
             f(h.eps_root), f(1 - h.beta1))


def simplified_ademamix(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    f = p.dtype.type
    from . import kernels_catalogue as k
    k.simplified_ademamix(p, g, flat(state["m"]), flat(state["nu"]), *prelude(opt, h, f),
                          f(h.lr), f(h.beta1), f(h.beta2), f(1 - h.beta2),
                          f(bias_correction(h.beta2, h.t)), f(h.alpha), f(h.eps_root),
                          f(h.eps))


def cocob(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    f = p.dtype.type
    from . import kernels_catalogue as k
    k.cocob(p, g, flat(state["x0"]), flat(state["cumulative"]), flat(state["scale"]),
            flat(state["abs_sum"]), flat(state["reward"]), *prelude(opt, h, f), f(h.lr),
            f(h.alpha), f(h.eps), f(0.0), h.t == 1)


def madgrad(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    f = p.dtype.type
    decay = h.weight_decay != 0
    decoupled = bool(decay and opt.decoupled_weight_decay)
    lr = h.lr + h.eps if h.lr != 0 else 0.0
    root = float(np.sqrt(np.float32(h.t))) if opt.count_root == "float32" else scalar_sqrt(h.t)
    lamb = f(lr * root)
    maximize, _, _, _ = prelude(opt, h, f)  # MADGRAD decays in its rule: the L2 form here
    from . import kernels_catalogue as k
    k.madgrad(p, g, flat(state["x0"]), flat(state["grad_sum_sq"]), flat(state["s"]), maximize,
              bool(decay and not decoupled), f(h.weight_decay), h.t == 1, bool(h.momentum == 0),
              lamb, f(h.eps), f(h.momentum), f(1 - h.momentum), decoupled,
              f(lr * h.weight_decay))


def laprop(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    f = p.dtype.type
    centered, ams = opt.centered, opt.ams_bound
    decay = 1.0
    if h.weight_decay != 0:
        decay = 1 - h.weight_decay * (1.0 if opt.fixed_decay else h.lr)
    from . import kernels_catalogue as k
    k.laprop(p, g, flat(state["m"]), flat(state["v"]),
             flat(state["mu"]) if centered else unused(f),
             flat(state["v_max"]) if ams else unused(f), opt.maximize, f(h.beta2),
             f(1 - h.beta2), centered, centered and h.t > opt.steps_before_using_centered, ams,
             f(h.eps_root), f(h.eps), f(scalar_sqrt(bias_correction(h.beta2, h.t))),
             f(h.beta1), f((1 - h.beta1) * h.lr), f(h.step_size), f(decay))


#: Kernel name (an optimizer class's ``kernel``) → fused step.
STEPS: dict[str, Callable[..., None]] = {
    "sign_sgd": sign_sgd,
    "signum": signum,
    "optimistic_gradient_descent": optimistic_gradient_descent,
    "optimistic_adam": optimistic_adam,
    "acprop": acprop,
    "simplified_ademamix": simplified_ademamix,
    "cocob": cocob,
    "madgrad": madgrad,
    "laprop": laprop,
}
