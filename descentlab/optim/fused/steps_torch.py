"""The fused steps of torch.optim's later element-wise rules: RAdam, Rprop (and their optax
forms, ``form="optax"``), ASGD.

As :mod:`.steps`: each computes its rule's per-step scalars exactly as the rule does, rounds
them to the arrays' dtype, and calls its kernel (:mod:`.kernels_torch`, imported on first use).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..moments import bias_correction
from .prelude import flat, prelude


def radam(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    if opt.form == "optax":
        return radam_optax(opt, p, g, state, h)
    f = p.dtype.type
    _, r = opt.rectification(h.beta2, h.t, h.threshold)
    from . import kernels_torch
    kernels_torch.radam(p, g, flat(state["m"]), flat(state["v"]), *prelude(opt, h, f),
                        f(1 - h.beta1), f(h.beta2), f(1 - h.beta2),
                        f(bias_correction(h.beta1, h.t)), f(h.lr),
                        f(bias_correction(h.beta2, h.t) ** 0.5), f(h.eps),
                        f(0.0 if r is None else r), r is not None)


def radam_optax(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    """RAdam(form="optax")'s step (the same kernel name: the form picks the loop)."""
    f = p.dtype.type
    on, r = opt.optax_rectification(h.beta2, h.t, h.threshold)
    from . import kernels_torch
    bc1 = bias_correction(h.beta1, h.t)
    c_m = h.beta1 / bias_correction(h.beta1, h.t + 1) if opt.nesterov else 1 / bc1
    kernels_torch.radam_optax(p, g, flat(state["m"]), flat(state["v"]), *prelude(opt, h, f),
                              f(1 - h.beta1), f(h.beta2), f(1 - h.beta2), f(c_m),
                              f((1 - h.beta1) / bc1), opt.nesterov, f(h.lr),
                              f(1 / bias_correction(h.beta2, h.t)), f(h.eps_root), f(h.eps),
                              f(r), on)


def rprop(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    if opt.form == "optax":
        return rprop_optax(opt, p, g, state, h)
    f = p.dtype.type
    from . import kernels_torch
    kernels_torch.rprop(p, g, flat(state["prev"]), flat(state["step_size"]),
                        *prelude(opt, h, f), h.t == 1, f(h.lr), f(h.etaminus), f(h.etaplus),
                        f(h.step_size_min), f(h.step_size_max), f(1.0))


def rprop_optax(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    """Rprop(form="optax")'s step: apply the pending update, make the next one."""
    f = p.dtype.type
    from . import kernels_torch
    kernels_torch.rprop_optax(p, g, flat(state["prev"]), flat(state["step_size"]),
                              *prelude(opt, h, f), h.t == 1, f(h.lr), f(h.etaminus),
                              f(h.etaplus), f(h.step_size_min), f(h.step_size_max), f(0.0))


def asgd(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    f = p.dtype.type
    from . import kernels_torch
    kernels_torch.asgd(p, g, flat(state["ax"]), *prelude(opt, h, f), f(1 - h.lambd * h.eta),
                       f(h.eta), f(h.mu), h.mu == 1)


#: kernel name → fused step.
STEPS: dict[str, Callable[..., None]] = {"radam": radam, "rprop": rprop, "asgd": asgd}
