"""The mechanics every layered network shares, written once: parameters in one flat buffer
(:class:`~descentlab.optim.FlatParams`), layers bound to views of it, forward through the
layers, backward in reverse order with gradients written into views of one flat gradient
buffer — the E5 API (``params``, ``gradient(x, t)``, ``loss(x, t)``) for any stack of layers.

A subclass declares its parameters (:meth:`LayerNet._declare`), builds its layers on views of
them (:meth:`LayerNet._bind`), sets ``self.layers`` (an ordered dict) and ``self.last_layer``
(a loss layer) and converts inputs in ``_as_input``. :class:`~.convnet.ConvNet` and
:class:`~.charrnn.CharRNN` are the examples.

>>> import numpy as np
>>> from descentlab.nn.layers import Affine, SoftmaxWithLoss
>>> class Linear(LayerNet):
...     def __init__(self):
...         super().__init__(np.float64)
...         self._declare({"W": (3, 2), "b": (2,)})
...         self.params["W"] = np.arange(6.0).reshape(3, 2)
...         self.layers = {"Affine": self._bind(Affine(None, None), W="W", b="b")}
...         self.last_layer = SoftmaxWithLoss()
>>> net = Linear()
>>> grads = net.gradient(np.ones((1, 3)), np.array([1]))
>>> sorted(grads), round(net.last_loss, 6)               # scores (6, 9): −log σ(3)
(['W', 'b'], 0.048587)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from ..optim.flat import FlatParams
from .functions import numerical_gradient as _numerical_gradient
from .layers import Affine


class LayerNet:
    """Base class: a stack of layers with named parameters in one flat buffer."""

    layers: dict[str, Any]
    last_layer: Any

    def __init__(self, dtype: Any = np.float32) -> None:
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            raise InputError(f"dtype must be a floating type, got {self.dtype}")
        self._bindings: list[tuple[Any, dict[str, str]]] = []
        #: The loss computed by the latest :meth:`gradient` call (before any update).
        self.last_loss: float | None = None

    # ---------------------------------------------------------------- construction
    def _declare(self, shapes: dict[str, tuple[int, ...]]) -> None:
        """Make the parameter and gradient buffers (zeros) for these names and shapes."""
        #: The parameters: a dict whose arrays are views of one flat buffer.
        self.params: dict[str, np.ndarray] = FlatParams.zeros(shapes, self.dtype)
        self._flat_params = self.params
        self._grads = self.params.zeros_like()

    def _bind(self, layer: Any, **attrs: str) -> Any:
        """Point the layer's parameter attributes (``W="W1"``: ``layer.W`` is
        ``params["W1"]``) at the buffers, and its gradients at the gradient buffers."""
        for attr, key in attrs.items():
            setattr(layer, attr, self.params[key])
        if isinstance(layer, Affine):
            layer.grad_out = (self._grads[attrs["W"]], self._grads[attrs["b"]])
        else:
            layer.grad_out = {attr: self._grads[key] for attr, key in attrs.items()}
        self._bindings.append((layer, attrs))
        return layer

    # ---------------------------------------------------------------- forward
    def _as_input(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=self.dtype)

    def _as_target(self, t: np.ndarray) -> np.ndarray:
        return np.asarray(t)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        params = self.params
        for layer, attrs in self._bindings:   # follow net.params even if an array was replaced
            for attr, key in attrs.items():
                setattr(layer, attr, params[key])
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The network's outputs before the loss (scores / logits), a fresh array."""
        return self._forward(self._as_input(x)).copy()

    def loss(self, x: np.ndarray, t: np.ndarray) -> float:
        """The loss on the batch (x, t)."""
        return self.last_layer.forward(self._forward(self._as_input(x)), self._as_target(t))

    # ---------------------------------------------------------------- gradients
    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """∂loss/∂parameter for every parameter by backpropagation (same keys as
        ``params``; views of :attr:`flat_grads`, overwritten by the next call). The loss
        computed on the way is kept in :attr:`last_loss`."""
        self.last_loss = self.loss(x, t)
        dout = self.last_layer.backward(1.0)
        layers = list(self.layers.values())
        for i in range(len(layers) - 1, -1, -1):
            if i == 0:
                layers[0].backward(dout, need_dx=False)     # the input is data
            else:
                dout = layers[i].backward(dout)
        grads = self._grads
        for layer, attrs in self._bindings:
            for attr, key in attrs.items():
                g = getattr(layer, "d" + attr)
                if g is not grads[key]:      # computed elsewhere (another dtype): copy it in
                    grads[key] = g
        return grads

    def numerical_gradient(self, x: np.ndarray, t: np.ndarray,
                           h: float = 1e-4) -> dict[str, np.ndarray]:
        """The same gradients by central differences (slow; use ``dtype=np.float64``)."""
        return {k: _numerical_gradient(lambda _: self.loss(x, t), p, h)
                for k, p in self.params.items()}

    def accuracy(self, x: np.ndarray, t: np.ndarray, batch_size: int = 1000) -> float:
        """Fraction of positions whose highest score is the label, in chunks of
        ``batch_size`` samples."""
        correct = total = 0
        for start in range(0, len(x), batch_size):
            y = self._forward(self._as_input(x[start:start + batch_size]))
            tb = self._as_target(t[start:start + batch_size])
            correct += int(np.count_nonzero(y.argmax(axis=-1) == tb))
            total += tb.size
        return correct / total if total else float("nan")

    @property
    def flat_params(self) -> np.ndarray:
        """All parameters as one 1-D array (``params`` holds views of it)."""
        return self._flat_params.flat

    @property
    def flat_grads(self) -> np.ndarray:
        """All gradients as one 1-D array (:meth:`gradient` returns views of it)."""
        return self._grads.flat

    @property
    def is_flat(self) -> bool:
        """True while ``net.params`` is still the network's own :class:`FlatParams` (not
        replaced by another dict). Then ``opt.update(net.flat_params, net.flat_grads)`` after
        :meth:`gradient` is the same update as ``opt.update(net.params, grads)`` for any
        element-wise rule, in one call instead of one per array."""
        return self.params is self._flat_params

    @property
    def num_params(self) -> int:
        """Number of scalar parameters."""
        return sum(p.size for p in self.params.values())
