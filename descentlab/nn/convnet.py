"""A small convolutional network for images, from the layers in :mod:`descentlab.nn.conv`.

Architecture (defaults: MNIST, the classic two-block CNN)::

    (N, C, H, W) → [Convolution(k×k, pad k//2) → activation → MaxPooling(2)] × len(channels)
                 → [Affine → activation] × len(hidden) → Affine → softmax cross-entropy

He initialisation (fan-in = C·k·k for a filter), zero biases, float32 by default. The E5 API:
``params`` (``C1, c1, C2, c2, …`` filters and biases, ``W1, b1, …`` the affine layers),
``gradient(x, t)``, ``loss(x, t)``, ``accuracy(x, t)``, ``flat_params``/``flat_grads``.

>>> import numpy as np
>>> net = ConvNet((1, 8, 8), channels=(2,), hidden=(), output_size=3, seed=0,
...               dtype=np.float64)
>>> {k: v.shape for k, v in net.params.items()}
{'C1': (2, 1, 3, 3), 'c1': (2,), 'W1': (32, 3), 'b1': (3,)}
>>> x, t = np.random.default_rng(0).random((2, 64)), np.array([0, 2])
>>> grads = net.gradient(x, t)
>>> num = net.numerical_gradient(x, t)
>>> all(np.allclose(grads[k], num[k], atol=1e-7) for k in net.params)
True
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from .conv import Convolution, MaxPooling
from .init import init_std
from .layernet import LayerNet
from .layers import ACTIVATIONS, Affine, SoftmaxWithLoss


def _sizes(name: str, values: Sequence[int]) -> list[int]:
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise InputError(f"{name} must hold positive integers, got {v!r}")
        out.append(int(v))
    return out


class ConvNet(LayerNet):
    """Convolution blocks, then fully connected layers, then softmax cross-entropy.

    Args:
        input_shape: (C, H, W) of one image (default (1, 28, 28)); flat rows of C·H·W
            values are reshaped.
        channels: filters of each convolution block (default (16, 32)).
        kernel: filter size k (k × k, padding k // 2, stride 1; default 3).
        hidden: units of the fully connected hidden layers (default none).
        output_size: classes (default 10).
        activation: ``"relu"`` (default), ``"tanh"`` or ``"sigmoid"``.
        weight_init_std: ``"he"`` (default), ``"xavier"`` or a number (see :mod:`.init`).
        dtype: float32 (default) or float64.
        seed: seed of the initialisation.
    """

    def __init__(self, input_shape: Sequence[int] = (1, 28, 28),
                 channels: Sequence[int] = (16, 32), kernel: int = 3,
                 hidden: Sequence[int] = (), output_size: int = 10,
                 activation: str = "relu", weight_init_std: str | float = "he",
                 dtype: Any = np.float32, seed: int | None = None) -> None:
        super().__init__(dtype)
        shape = _sizes("input_shape", input_shape)
        if len(shape) != 3:
            raise InputError(f"input_shape must be (C, H, W), got {tuple(input_shape)!r}")
        channels, hidden = _sizes("channels", channels), _sizes("hidden", hidden)
        (kernel,), (output_size,) = _sizes("kernel", [kernel]), _sizes("output_size",
                                                                         [output_size])
        if not isinstance(activation, str) or activation.lower() not in ACTIVATIONS:
            raise InputError(f"unknown activation {activation!r}; use one of "
                             f"{', '.join(ACTIVATIONS)}")
        self.input_shape = tuple(shape)
        self.activation = activation.lower()
        act = ACTIVATIONS[self.activation]

        shapes: dict[str, tuple[int, ...]] = {}
        fan_ins: dict[str, int] = {}
        c, h, w = shape
        for i, fn in enumerate(channels, 1):
            shapes[f"C{i}"], shapes[f"c{i}"] = (fn, c, kernel, kernel), (fn,)
            fan_ins[f"C{i}"] = c * kernel * kernel
            h, w = h // 2, w // 2          # 'same' convolution, then 2×2 pooling
            if h < 1 or w < 1:
                raise InputError(f"input_shape {tuple(input_shape)} is too small for "
                                 f"{len(channels)} pooling steps")
            c = fn
        sizes = [c * h * w, *hidden, output_size]
        for i in range(1, len(sizes)):
            shapes[f"W{i}"], shapes[f"b{i}"] = (sizes[i - 1], sizes[i]), (sizes[i],)
            fan_ins[f"W{i}"] = sizes[i - 1]
        self._declare(shapes)
        rng = np.random.default_rng(seed)
        for key, fan_in in fan_ins.items():
            std = init_std(weight_init_std, fan_in)
            self.params[key] = (std * rng.standard_normal(shapes[key])).astype(self.dtype)

        self.layers = OrderedDict()
        for i in range(1, len(channels) + 1):
            self.layers[f"Conv{i}"] = self._bind(
                Convolution(self.params[f"C{i}"], self.params[f"c{i}"], pad=kernel // 2),
                W=f"C{i}", b=f"c{i}")
            self.layers[f"ConvActivation{i}"] = act()
            self.layers[f"Pool{i}"] = MaxPooling(2)
        for i in range(1, len(sizes)):
            self.layers[f"Affine{i}"] = self._bind(
                Affine(self.params[f"W{i}"], self.params[f"b{i}"]), W=f"W{i}", b=f"b{i}")
            if i < len(sizes) - 1:
                self.layers[f"Activation{i}"] = act()
        self.last_layer = SoftmaxWithLoss()

    def _as_input(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        want = int(np.prod(self.input_shape))
        if x.ndim < 2 or x[0].size != want:
            raise InputError(f"input of shape {x.shape} does not fit images of shape "
                             f"{self.input_shape} (expected (N, {want}) or (N, "
                             f"{', '.join(map(str, self.input_shape))}))")
        return x.reshape(len(x), *self.input_shape).astype(self.dtype, copy=False)

    def _as_target(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t)
        return t.argmax(axis=1) if t.ndim == 2 else t
