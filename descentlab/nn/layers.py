"""Layers with ``forward`` and ``backward`` (the classic ``common/layers.py`` API).

Each layer caches what its backward pass needs during ``forward`` and returns ∂L/∂input from
``backward(dout)`` given ∂L/∂output. Loss layers take ``forward(x, t) -> float`` and
``backward(dout=1.0)``. Parameter gradients are left on the layer (``Affine.dW``, ``.db``).

Speed: outputs are written into arrays the layer owns and reuses (no allocation per step, no
needless copies, float32 stays float32). So **an array a layer returns is overwritten by
that layer's next call** — copy it if you need to keep it (:class:`~.network.MultiLayerNet`
does this for the arrays it hands back from ``predict``).

>>> import numpy as np
>>> layer = Affine(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0.5, -0.5]))
>>> layer.forward(np.array([[1.0, 1.0]]))
array([[4.5, 5.5]])
>>> layer.backward(np.array([[1.0, 0.0]]))
array([[1., 3.]])
>>> layer.dW, layer.db
(array([[1., 0.],
       [1., 0.]]), array([1., 0.]))
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from . import kernels
from .buffers import Buffers
from .functions import labels_to_indices


class Affine:
    """y = x·W + b, with x of shape (N, ...) flattened to (N, fan_in).

    Backward: ∂L/∂W = xᵀ·dout, ∂L/∂b = Σₙ doutₙ, ∂L/∂x = dout·Wᵀ (skipped with
    ``need_dx=False``: the first layer's input is data, its gradient is never used).
    """

    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        self.W = W
        self.b = b
        self.x: np.ndarray | None = None
        self.original_x_shape: tuple[int, ...] | None = None
        self.dW: np.ndarray | None = None
        self.db: np.ndarray | None = None
        #: Optional (dW, db) arrays the gradients are written into (e.g. views of a flat
        #: gradient buffer); used when their shapes and dtype fit, else the layer's own.
        self.grad_out: tuple[np.ndarray, np.ndarray] | None = None
        self._buf = Buffers()

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.original_x_shape = x.shape
        x = x.reshape(x.shape[0], -1)
        self.x = x
        out = self._buf.get("out", (x.shape[0], self.W.shape[1]),
                            np.result_type(x.dtype, self.W.dtype))
        np.matmul(x, self.W, out=out)
        out += self.b
        return out

    def backward(self, dout: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        if self.x is None:
            raise RuntimeError("Affine.backward called before forward")
        dtype = np.result_type(dout.dtype, self.x.dtype)
        g = self.grad_out
        if (g is not None and g[0].shape == self.W.shape and g[1].shape == self.b.shape
                and g[0].dtype == dtype == g[1].dtype):
            self.dW, self.db = g
        else:
            self.dW = self._buf.get("dW", self.W.shape, dtype)
            self.db = self._buf.get("db", self.b.shape, dtype)
        np.matmul(self.x.T, dout, out=self.dW)
        ones = self._buf.get("ones", (dout.shape[0],), dtype, fill=1)
        np.matmul(ones, dout, out=self.db)                      # Σₙ doutₙ as one GEMV
        if not need_dx:
            return None
        dx = self._buf.get("dx", (dout.shape[0], self.W.shape[0]), dtype)
        np.matmul(dout, self.W.T, out=dx)
        return dx.reshape(self.original_x_shape)


class Relu:
    """y = max(x, 0); ∂L/∂x = dout where x > 0, else 0 (the subgradient 0 at x = 0)."""

    def __init__(self) -> None:
        self.out: np.ndarray | None = None
        self._buf = Buffers()

    @property
    def mask(self) -> np.ndarray | None:
        """True where the input was <= 0 (the classic layer's ``mask``)."""
        return None if self.out is None else self.out <= 0

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = self._buf.get("out", x.shape, x.dtype)
        np.maximum(x, 0, out=out)
        self.out = out
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self.out is None:
            raise RuntimeError("Relu.backward called before forward")
        dx = self._buf.get("dx", dout.shape, dout.dtype)
        if kernels.fits(dout, self.out, dx):
            kernels.relu_backward(dout, self.out, dx)
        else:
            np.multiply(dout, self.out > 0, out=dx)
        return dx


class Sigmoid:
    """y = σ(x) = 1/(1 + e^(−x)); ∂L/∂x = dout·y·(1 − y)."""

    def __init__(self) -> None:
        self.out: np.ndarray | None = None
        self._buf = Buffers()

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = self._buf.get("out", x.shape, x.dtype)
        # σ(x) = ½·(1 + tanh(x/2)): one ufunc, no overflow warning for large |x|
        np.multiply(x, 0.5, out=out)
        np.tanh(out, out=out)
        out += 1
        out *= 0.5
        self.out = out
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self.out is None:
            raise RuntimeError("Sigmoid.backward called before forward")
        dx = self._buf.get("dx", dout.shape, dout.dtype)
        np.subtract(1, self.out, out=dx)
        dx *= self.out
        dx *= dout
        return dx


class Tanh:
    """y = tanh(x); ∂L/∂x = dout·(1 − y²)."""

    def __init__(self) -> None:
        self.out: np.ndarray | None = None
        self._buf = Buffers()

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = self._buf.get("out", x.shape, x.dtype)
        np.tanh(x, out=out)
        self.out = out
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self.out is None:
            raise RuntimeError("Tanh.backward called before forward")
        dx = self._buf.get("dx", dout.shape, dout.dtype)
        np.multiply(self.out, self.out, out=dx)
        np.subtract(1, dx, out=dx)
        dx *= dout
        return dx


class SoftmaxWithLoss:
    """Softmax followed by cross-entropy, fused (``torch.nn.CrossEntropyLoss``).

    L = −(1/N) Σₙ Σₖ tₙₖ · log softmax(xₙ)ₖ, with t as class indices (shape (N,)) or one-hot /
    probability rows (shape (N, K)). Computed from log-softmax (no log 0, no overflow).
    ∂L/∂x = (softmax(x)·Σₖ tₙₖ − t)/N, i.e. (y − t)/N for one-hot rows.
    """

    def __init__(self) -> None:
        self.y: np.ndarray | None = None  # softmax probabilities
        self.t: np.ndarray | None = None
        self.loss: float | None = None
        self._buf = Buffers()

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:
        x = np.asarray(x)
        if x.ndim != 2:
            raise InputError(f"SoftmaxWithLoss expects scores of shape (N, K), got {x.shape}")
        n, k = x.shape
        t = np.asarray(t)
        if t.shape == x.shape:
            self.t = t
        else:
            if t.shape[:1] != (n,):
                raise InputError(f"labels of shape {t.shape} do not match scores of shape "
                                 f"{x.shape} (expected ({n},) indices or ({n}, {k}) one-hot)")
            self.t = labels_to_indices(t, k)
        y = self._buf.get("y", x.shape, x.dtype)
        self.y = y
        if self.t.ndim == 1 and kernels.fits(x, y):
            self.t = self.t.astype(np.intp, copy=False)
            self.loss = float(kernels.softmax_cross_entropy(x, self.t, y))
            return self.loss
        z = self._buf.get("z", x.shape, x.dtype)
        np.subtract(x, x.max(axis=1, keepdims=True), out=z)       # z = x − max x
        np.exp(z, out=y)
        s = y.sum(axis=1, keepdims=True)
        y /= s                                                    # y = softmax(x)
        log_s = np.log(s[:, 0], dtype=np.float64)                 # log Σ e^z
        if self.t.ndim == 1:
            loss = np.mean(log_s - z[np.arange(n), self.t])
        else:
            loss = (np.dot(self.t.sum(axis=1), log_s) - np.vdot(self.t, z)) / n
        self.loss = float(loss)
        return self.loss

    def backward(self, dout: float = 1.0) -> np.ndarray:
        if self.y is None or self.t is None:
            raise RuntimeError("SoftmaxWithLoss.backward called before forward")
        n = self.y.shape[0]
        dx = self._buf.get("dx", self.y.shape, self.y.dtype)
        if self.t.ndim == 1 and kernels.fits(self.y, dx):
            kernels.softmax_cross_entropy_backward(self.y, self.t.astype(np.intp, copy=False),
                                                   dout / n, dx)
            return dx
        if self.t.ndim == 1:
            np.copyto(dx, self.y)
            dx[np.arange(n), self.t] -= 1
            dx *= dout / n
            return dx
        np.multiply(self.y, self.t.sum(axis=1, keepdims=True), out=dx)
        dx -= self.t
        dx *= dout / n
        return dx


class SigmoidWithLoss:
    """Sigmoid followed by binary cross-entropy, fused (``torch.nn.BCEWithLogitsLoss``).

    L = mean(max(x, 0) − x·t + log(1 + e^(−|x|))) over every element (= −mean(t·log σ(x) +
    (1 − t)·log(1 − σ(x))) without overflow). ∂L/∂x = (σ(x) − t)/size. Targets t ∈ [0, 1],
    same shape as x (a vector of N targets is accepted for an (N, 1) output).
    """

    def __init__(self) -> None:
        self.y: np.ndarray | None = None
        self.t: np.ndarray | None = None
        self.loss: float | None = None

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:
        x = np.asarray(x)
        t = np.asarray(t, dtype=x.dtype if x.dtype.kind == "f" else np.float64)
        if t.shape != x.shape:
            if t.size != x.size:
                raise InputError(f"targets of shape {t.shape} do not match outputs {x.shape}")
            t = t.reshape(x.shape)
        self.t = t
        self.y = 0.5 * (1 + np.tanh(0.5 * x))
        loss = np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))
        self.loss = float(np.mean(loss, dtype=np.float64))
        return self.loss

    def backward(self, dout: float = 1.0) -> np.ndarray:
        if self.y is None or self.t is None:
            raise RuntimeError("SigmoidWithLoss.backward called before forward")
        return (self.y - self.t) * (dout / self.y.size)


class MSELoss:
    """Mean squared error L = mean((y − t)²) over every element (``torch.nn.MSELoss``);
    ∂L/∂y = 2(y − t)/size. A vector of N targets is accepted for an (N, 1) output."""

    def __init__(self) -> None:
        self.diff: np.ndarray | None = None
        self.loss: float | None = None

    def forward(self, y: np.ndarray, t: np.ndarray) -> float:
        y = np.asarray(y)
        t = np.asarray(t, dtype=y.dtype if y.dtype.kind == "f" else np.float64)
        if t.shape != y.shape:
            if t.size != y.size:
                raise InputError(f"targets of shape {t.shape} do not match outputs {y.shape}")
            t = t.reshape(y.shape)
        self.diff = y - t
        self.loss = float(np.mean(np.square(self.diff, dtype=np.float64)))
        return self.loss

    def backward(self, dout: float = 1.0) -> np.ndarray:
        if self.diff is None:
            raise RuntimeError("MSELoss.backward called before forward")
        return self.diff * (2 * dout / self.diff.size)


#: Activation layers by name.
ACTIVATIONS = {"relu": Relu, "sigmoid": Sigmoid, "tanh": Tanh}
#: Output loss layers by name (with aliases).
LOSSES = {"softmax": SoftmaxWithLoss, "cross_entropy": SoftmaxWithLoss,
          "bce": SigmoidWithLoss, "binary_cross_entropy": SigmoidWithLoss,
          "mse": MSELoss}
