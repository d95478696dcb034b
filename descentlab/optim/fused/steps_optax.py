"""The fused steps of the optax family's element-wise rules: coefficients, then one kernel.

Each function mirrors its rule (``lion.py``, ``adabelief.py``, ...) line by line: every
coefficient is the rule's own Python expression, rounded to the arrays' dtype as NumPy rounds
a Python float meeting an array. Rules that apply ``weight_decay`` themselves
(``decays_in_rule``) get no decay in the kernel's prelude (:func:`.prelude.prelude`).
Nothing here imports an optimizer class or numba until a kernel runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..moments import bias_correction
from .prelude import flat, numpy_rule, prelude, unused


def lion(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    if opt.mode == "smooth":  # numba's tanh (libm) is not NumPy's: no bit-identical kernel
        return numpy_rule(opt, p, g, state, h)
    f = p.dtype.type
    from . import kernels_optax as k
    k.lion(p, g, flat(state["m"]), *prelude(opt, h, f), f(h.lr), f(h.beta1), f(1 - h.beta1),
           f(1 - h.beta2), opt.mode == "refined")


def adabelief(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    f = p.dtype.type
    m_coef = h.beta1 / bias_correction(h.beta1, h.t + 1)
    g_coef = (1 - h.beta1) / bias_correction(h.beta1, h.t)
    from . import kernels_optax as k
    k.adabelief(p, g, flat(state["m"]), flat(state["s"]), *prelude(opt, h, f), f(h.lr),
                f(1 - h.beta1), f(h.beta2), f(1 - h.beta2), f(h.eps_root),
                f(bias_correction(h.beta1, h.t)), f(bias_correction(h.beta2, h.t)), f(h.eps),
                opt.nesterov, f(m_coef), f(g_coef))


def yogi(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    f = p.dtype.type
    from . import kernels_optax as k
    k.yogi(p, g, flat(state["m"]), flat(state["v"]), *prelude(opt, h, f), f(h.lr),
           f(1 - h.beta1), f(1 - h.beta2), f(bias_correction(h.beta1, h.t)),
           f(bias_correction(h.beta2, h.t)), f(h.eps_root), f(h.eps), opt.bias_correction)


def adan(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    f = p.dtype.type
    from . import kernels_optax as k
    k.adan(p, g, flat(state["m"]), flat(state["v"]), flat(state["n"]), flat(state["g_prev"]),
           *prelude(opt, h, f), f(h.lr), h.t == 1, f(0.0), f(1 - h.beta1), f(1 - h.beta2),
           f(h.beta3), f(1 - h.beta3), f(bias_correction(h.beta1, h.t)),
           f(bias_correction(h.beta2, h.t)), f(bias_correction(h.beta3, h.t)), f(h.eps_root),
           f(h.eps), opt.proximal_decay, f(1 + h.lr * h.weight_decay))


def adopt(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    f = p.dtype.type
    bound = (h.t - 1) ** h.clip_exponent if h.t > 1 else 0.0
    from . import kernels_optax as k
    k.adopt(p, g, flat(state["m"]), flat(state["v"]), *prelude(opt, h, f), f(h.lr), h.t == 1,
            f(h.eps), opt.use_clipping, f(bound), f(h.beta1), f(1 - h.beta1), f(h.beta2),
            f(1 - h.beta2), opt.nesterov)


def ademamix(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    f = p.dtype.type
    from . import kernels_optax as k
    k.ademamix(p, g, flat(state["m1"]), flat(state["m2"]), flat(state["nu"]),
               *prelude(opt, h, f), f(h.lr), f(1 - h.beta1), f(1 - h.beta3), f(h.beta2),
               f(1 - h.beta2), f(bias_correction(h.beta1, h.t)),
               f(bias_correction(h.beta2, h.t)), f(h.alpha), f(h.eps_root), f(h.eps))


def schedule_free(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    f = p.dtype.type
    adamw = "v" in state
    beta2 = getattr(h, "beta2", 0.0)
    v = flat(state["v"]) if adamw else unused(f)
    still = not np.any(h.lr_z) and not np.any(h.c)
    from . import kernels_optax as k
    k.schedule_free(p, g, flat(state["z"]), v, *prelude(opt, h, f), h.t == 1, adamw, f(beta2),
                    f(1 - beta2), f(bias_correction(beta2, h.t)), f(getattr(h, "eps", 1.0)),
                    f(h.weight_decay), still, f(h.beta1), f(1 - h.beta1), f(h.lr_z), f(h.c),
                    f(1 - h.c))


#: Kernel name (an optimizer class's ``kernel``) → fused step.
STEPS: dict[str, Callable[..., None]] = {
    "lion": lion,
    "adabelief": adabelief,
    "yogi": yogi,
    "adan": adan,
    "adopt": adopt,
    "ademamix": ademamix,
    "schedule_free": schedule_free,
}
