"""Weight initialisation: fixed standard deviation, Xavier and He.

Weights are drawn from N(0, std²) with, for a layer of ``fan_in`` inputs,

* ``"xavier"`` (alias ``"sigmoid"``, also right for tanh): std = √(1/fan_in)
  (Glorot & Bengio 2010, in the simplified fan-in form the classic textbook uses);
* ``"he"`` (alias ``"relu"``): std = √(2/fan_in) (He et al. 2015);
* a number: that std for every layer (e.g. 0.01, or 1).

Biases start at zero.

>>> init_std("he", 50), init_std("xavier", 4), init_std(0.01, 784)
(0.2, 0.5, 0.01)
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError

NAMED = {"he": 2.0, "relu": 2.0, "xavier": 1.0, "sigmoid": 1.0}


def init_std(kind: str | float, fan_in: int) -> float:
    """The standard deviation ``kind`` gives a layer with ``fan_in`` inputs."""
    if isinstance(kind, str):
        key = kind.strip().lower()
        if key not in NAMED:
            try:
                return init_std(float(key), fan_in)
            except ValueError:
                raise InputError(f"unknown weight_init_std {kind!r}: use 'he', 'xavier' "
                                 f"(aliases 'relu', 'sigmoid') or a number") from None
        return math.sqrt(NAMED[key] / fan_in)
    std = float(kind)
    if not (std >= 0 and math.isfinite(std)):
        raise InputError(f"weight_init_std must be a finite number >= 0, got {kind!r}")
    return std


def init_weights(kind: str | float, fan_in: int, fan_out: int, rng: np.random.Generator,
                 dtype: np.dtype = np.float32) -> np.ndarray:
    """A (fan_in, fan_out) weight matrix drawn from N(0, init_std(kind, fan_in)²)."""
    std = init_std(kind, fan_in)
    return (std * rng.standard_normal((fan_in, fan_out))).astype(dtype)
