"""A fully connected network with the classic textbook API (``common/multi_layer_net.py``).

Code written for the classic ``MultiLayerNet`` runs with only its import changed::

    from descentlab.nn import MultiLayerNet
    from descentlab import optim

    net = MultiLayerNet(784, [100, 100, 100, 100], 10)       # ReLU, He init, softmax CE
    opt = optim.create("adam", lr=0.001)
    grads = net.gradient(x_batch, t_batch)                  # backprop: dict W1, b1, ...
    opt.update(net.params, grads)                           # in place
    net.loss(x_batch, t_batch), net.accuracy(x_test, t_test)

Layers: ``Affine1, Activation_function1, …, Affine{L}`` in ``net.layers`` and the loss in
``net.last_layer``, as in the classic code.

Speed notes: float32 end to end by default; every layer writes into buffers it reuses; the
first layer's input gradient is never computed; softmax and cross-entropy are fused. The
arrays returned by :meth:`MultiLayerNet.gradient` are those buffers: the next call overwrites
them (copy them to keep them). :attr:`MultiLayerNet.last_loss` is the loss the latest
``gradient`` call computed on its way (the mini-batch loss *before* the update that follows,
as in PyTorch training loops), so a training loop needs no extra forward pass.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from .init import init_weights
from .layernet import LayerNet
from .layers import ACTIVATIONS, LOSSES, Affine, SoftmaxWithLoss


class MultiLayerNet(LayerNet):
    """input → [Affine → activation] × len(hidden_size_list) → Affine → loss.

    Args:
        input_size: features per sample (784 for MNIST).
        hidden_size_list: units of each hidden layer, e.g. ``[100, 100, 100, 100]``
            (empty: a linear / logistic model).
        output_size: outputs (10 classes for MNIST).
        activation: ``"relu"`` (default), ``"sigmoid"`` or ``"tanh"``.
        weight_init_std: ``"he"`` (default, alias ``"relu"``), ``"xavier"`` (alias
            ``"sigmoid"``) or a number (a fixed std); see :mod:`descentlab.nn.init`.
        weight_decay_lambda: λ of the L2 penalty ``½·λ·Σ‖W‖²`` added to the loss (weights
            only, not biases); its gradient λ·W is added to each ``W`` gradient. Default 0.
        dtype: parameter and computation dtype (default float32; float64 for gradient checks).
        seed: seed of the initialisation (``numpy.random.default_rng``); None: fresh entropy.
        loss: ``"softmax"`` (softmax cross-entropy, default), ``"bce"`` (sigmoid + binary
            cross-entropy) or ``"mse"`` (mean squared error, identity output).

    >>> import numpy as np
    >>> net = MultiLayerNet(4, [5], 3, seed=0, dtype=np.float64)
    >>> sorted(net.params), net.params["W1"].shape
    (['W1', 'W2', 'b1', 'b2'], (4, 5))
    >>> x, t = np.ones((2, 4)), np.array([0, 2])
    >>> grads = net.gradient(x, t)
    >>> num = net.numerical_gradient(x, t)
    >>> all(np.allclose(grads[k], num[k], atol=1e-7) for k in net.params)
    True
    """

    def __init__(
        self,
        input_size: int,
        hidden_size_list: Sequence[int],
        output_size: int,
        activation: str = "relu",
        weight_init_std: str | float = "he",
        weight_decay_lambda: float = 0.0,
        dtype: Any = np.float32,
        seed: int | None = None,
        loss: str = "softmax",
    ) -> None:
        sizes = [input_size, *hidden_size_list, output_size]
        for name, n in zip(["input_size", *["hidden_size_list"] * len(hidden_size_list),
                            "output_size"], sizes):
            if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
                raise InputError(f"{name} must hold positive integers, got {n!r}")
        if not isinstance(activation, str) or activation.lower() not in ACTIVATIONS:
            raise InputError(f"unknown activation {activation!r}; use one of "
                             f"{', '.join(ACTIVATIONS)}")
        if not isinstance(loss, str) or loss.lower() not in LOSSES:
            raise InputError(f"unknown loss {loss!r}; use one of {', '.join(LOSSES)}")
        if isinstance(weight_decay_lambda, (bool, np.bool_)) or not isinstance(
                weight_decay_lambda, (int, float, np.integer, np.floating)) or not (
                0 <= weight_decay_lambda < np.inf):
            raise InputError(f"weight_decay_lambda must be >= 0, got {weight_decay_lambda!r}")
        super().__init__(dtype)
        self.input_size = int(input_size)
        self.hidden_size_list = [int(n) for n in hidden_size_list]
        self.hidden_layer_num = len(self.hidden_size_list)
        self.output_size = int(output_size)
        self.activation = activation.lower()
        self.weight_init_std = weight_init_std
        self.weight_decay_lambda = float(weight_decay_lambda)
        self.loss_name = loss.lower()
        self.seed = seed
        rng = np.random.default_rng(seed)

        # Every parameter (and its gradient) is a view of one flat array, in the order
        # W1, b1, W2, b2, ...: an optimizer may update the whole network in one call.
        shapes: dict[str, tuple[int, ...]] = {}
        for i in range(1, len(sizes)):
            shapes[f"W{i}"] = (sizes[i - 1], sizes[i])
            shapes[f"b{i}"] = (sizes[i],)
        self._declare(shapes)
        for i in range(1, len(sizes)):
            self.params[f"W{i}"] = init_weights(weight_init_std, sizes[i - 1], sizes[i], rng,
                                                self.dtype)

        self.layers: OrderedDict[str, Any] = OrderedDict()
        for i in range(1, len(sizes)):
            self.layers[f"Affine{i}"] = self._bind(Affine(None, None), W=f"W{i}", b=f"b{i}")
            if i < len(sizes) - 1:
                self.layers[f"Activation_function{i}"] = ACTIVATIONS[self.activation]()
        self.last_layer = LOSSES[self.loss_name]()

    # ---------------------------------------------------------------- forward
    def _as_input(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.input_size:
            x = x.reshape(x.shape[0], -1) if x.ndim > 2 else x
            if x.ndim != 2 or x.shape[1] != self.input_size:
                raise InputError(f"input of shape {np.shape(x)} does not fit a network of "
                                 f"input_size {self.input_size} (expected (N, "
                                 f"{self.input_size}))")
        return x.astype(self.dtype, copy=False)

    def _weight_penalty(self) -> float:
        lam = self.weight_decay_lambda
        if lam == 0:
            return 0.0
        return 0.5 * lam * sum(float(np.vdot(W, W)) for k, W in self.params.items()
                               if k[0] == "W")

    def loss(self, x: np.ndarray, t: np.ndarray) -> float:
        """The loss on (x, t) plus the weight-decay penalty ½·λ·Σ‖W‖²."""
        y = self._forward(self._as_input(x))
        return self.last_layer.forward(y, t) + self._weight_penalty()

    def accuracy(self, x: np.ndarray, t: np.ndarray, batch_size: int = 1000) -> float:
        """Fraction of samples classified right (labels as indices or one-hot rows).

        Softmax nets: argmax of the scores; ``bce`` nets: logit > 0. Evaluated in chunks of
        ``batch_size`` samples to bound memory.
        """
        if self.loss_name == "mse":
            raise InputError("accuracy is not defined for a regression (loss='mse') network")
        x = self._as_input(x)
        t = np.asarray(t)
        if t.shape[0] != x.shape[0]:
            raise InputError(f"{x.shape[0]} samples but {t.shape[0]} labels")
        classes = isinstance(self.last_layer, SoftmaxWithLoss)
        if classes and t.ndim == 2:
            t = t.argmax(axis=1)
        correct = 0
        for start in range(0, x.shape[0], batch_size):
            y = self._forward(x[start:start + batch_size])
            tb = t[start:start + batch_size]
            if classes:
                correct += int(np.count_nonzero(y.argmax(axis=1) == tb))
            else:
                correct += int(np.count_nonzero((y > 0).reshape(tb.shape) == (tb > 0.5)))
        return correct / x.shape[0] if x.shape[0] else float("nan")

    # ---------------------------------------------------------------- gradients
    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """∂loss/∂parameter for every parameter, by backpropagation (same keys as
        ``params``): a :class:`FlatParams` whose arrays are views of :attr:`flat_grads`, the
        same object at every call, overwritten by the next call (weight decay λ·W added).
        The loss computed on the way (penalty included) is kept in :attr:`last_loss`."""
        grads = super().gradient(x, t)
        lam = self.weight_decay_lambda
        if lam:
            for key in grads:
                if key[0] == "W":
                    grads[key] += lam * self.params[key]
        return grads
