"""What every fused step function shares: flat views and the weight-decay prelude's scalars.

Pure Python and NumPy (no numba), so step modules can be imported without compiling.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def flat(a: np.ndarray) -> np.ndarray:
    """A 1-D view of a C-contiguous array (never a copy: the kernel writes through it)."""
    if not a.flags.c_contiguous:
        raise ValueError("internal error: the fused path needs C-contiguous arrays")
    return a.reshape(-1)


def prelude(opt: Any, h: Any, f: type) -> tuple[bool, bool, Any, Any]:
    """(maximize, l2, λ, decay): what ``Optimizer.apply_rule`` does before the rule. A rule
    that applies ``weight_decay`` itself (``decays_in_rule``) gets only the negation here.

    (Hyperparameters are scalars on the fused path.)"""
    if opt.decays_in_rule:
        return opt.maximize, False, f(0.0), f(1.0)
    decay_on = h.weight_decay != 0
    decoupled = decay_on and opt.decoupled_weight_decay
    decay = f(1 - h.lr * h.weight_decay) if decoupled else f(1.0)
    return opt.maximize, decay_on and not decoupled, f(h.weight_decay), decay


def unused(f: type) -> np.ndarray:
    """Stands in for a state array the options leave out (never read or written)."""
    return np.empty(0, f)


def numpy_rule(opt: Any, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
    """The readable rule on flat views, for options a kernel does not have (optax's on Adam
    and RMSprop): the same bits as the NumPy path."""
    opt.apply_rule(p, g, {slot: flat(a) for slot, a in state.items()}, h)
