"""Layers for sequences: an embedding, a recurrent (Elman, tanh) layer unrolled over time with
backpropagation through time, and softmax cross-entropy at every time step.

Shapes follow PyTorch's defaults: sequences are time-major, (T, N, ...) (``torch.nn.RNN``
with ``batch_first=False``); the embedding and the loss accept any leading shape.

Like the other layers, arrays a layer returns are its own buffers, overwritten by its next
call; parameter gradients are left on the layer (``dW``, ``dWx``...) or written into
``grad_out`` (a dict keyed ``"W"`` / ``"Wx"``, ``"Wh"``, ``"b"``) when given.

>>> import numpy as np
>>> emb = Embedding(np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]))
>>> emb.forward(np.array([[2, 0]]))
array([[[4., 5.],
        [0., 1.]]])
>>> rnn = RNN(np.eye(2), np.zeros((2, 2)), np.zeros(2))    # h_t = tanh(x_t): no memory
>>> np.allclose(rnn.forward(np.ones((3, 1, 2))), np.tanh(1.0))
True
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from . import kernels
from .buffers import Buffers
from .conv import gradient_array
from .layers import Affine, SoftmaxWithLoss


class Embedding:
    """y[..., :] = W[idx[...]]: row idx of the (V, D) table for every index
    (``torch.nn.Embedding``). Backward: ∂L/∂W[v] = Σ of dout over the positions holding v.
    Its input is integer data: there is no ∂L/∂idx."""

    def __init__(self, W: np.ndarray) -> None:
        if np.ndim(W) != 2:
            raise InputError(f"Embedding needs a table W of shape (V, D), got {np.shape(W)}")
        self.W = W
        self.dW: np.ndarray | None = None
        self.grad_out: dict[str, np.ndarray] | None = None
        self.idx: np.ndarray | None = None
        self._buf = Buffers()

    def forward(self, idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(idx)
        v = self.W.shape[0]
        if idx.dtype.kind not in "iu":
            raise InputError(f"Embedding expects integer indices, got dtype {idx.dtype}")
        if idx.size and (idx.min() < 0 or idx.max() >= v):
            raise InputError(f"Embedding index out of range: indices must be in 0..{v - 1}, "
                             f"got {int(idx.min())}..{int(idx.max())}")
        self.idx = np.ascontiguousarray(idx, dtype=np.intp)
        out = self._buf.get("out", (*idx.shape, self.W.shape[1]), self.W.dtype)
        np.take(self.W, self.idx, axis=0, out=out)
        return out

    def backward(self, dout: np.ndarray, need_dx: bool = False) -> None:
        if self.idx is None:
            raise RuntimeError("Embedding.backward called before forward")
        self.dW = gradient_array(self.grad_out, "W", self._buf, self.W.shape, self.W.dtype)
        d = self.W.shape[1]
        kernels.embedding_backward(self.idx.reshape(-1),
                                   np.ascontiguousarray(dout, self.W.dtype).reshape(-1, d),
                                   self.dW)
        return None


class RNN:
    """An Elman recurrent layer over a (T, N, D) sequence, from h₀ = 0:

        h_t = tanh(x_t·Wx + h_{t−1}·Wh + b),   output (T, N, H) = (h₁ … h_T).

    (``torch.nn.RNN(D, H)`` with ``weight_ih = Wxᵀ``, ``weight_hh = Whᵀ``, one bias.) The
    input projection of all T steps is one GEMM, so the loop over time does one (N, H)·(H, H)
    product per step.

    Backward through time, from t = T down to 1: da_t = (dout_t + da_{t+1}·Whᵀ)·(1 − h_t²);
    then ∂L/∂Wx = Σ_t x_tᵀ·da_t, ∂L/∂Wh = Σ_t h_{t−1}ᵀ·da_t, ∂L/∂b = Σ_t Σₙ da_t and
    ∂L/∂x_t = da_t·Wxᵀ (each one GEMM over all steps).
    """

    def __init__(self, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray) -> None:
        if (np.ndim(Wx) != 2 or np.shape(Wh) != (np.shape(Wx)[1],) * 2
                or np.shape(b) != (np.shape(Wx)[1],)):
            raise InputError(f"RNN needs Wx (D, H), Wh (H, H) and b (H,), got {np.shape(Wx)}, "
                             f"{np.shape(Wh)} and {np.shape(b)}")
        self.Wx, self.Wh, self.b = Wx, Wh, b
        self.dWx: np.ndarray | None = None
        self.dWh: np.ndarray | None = None
        self.db: np.ndarray | None = None
        self.grad_out: dict[str, np.ndarray] | None = None
        self.xs: np.ndarray | None = None
        self.hs: np.ndarray | None = None
        self._buf = Buffers()

    def forward(self, xs: np.ndarray) -> np.ndarray:
        xs = np.asarray(xs)
        d, h = self.Wx.shape
        if xs.ndim != 3 or xs.shape[2] != d:
            raise InputError(f"RNN expects a sequence of shape (T, N, {d}), got {xs.shape}")
        t_, n = xs.shape[:2]
        dtype = np.result_type(xs.dtype, self.Wx.dtype)
        xs = np.ascontiguousarray(xs, dtype=dtype)
        hs = self._buf.get("hs", (t_, n, h), dtype)
        np.matmul(xs.reshape(t_ * n, d), self.Wx, out=hs.reshape(t_ * n, h))
        hs += self.b                                  # hs[t] = x_t·Wx + b, then in place:
        np.tanh(hs[0], out=hs[0])
        a = self._buf.get("a", (n, h), dtype)
        for t in range(1, t_):
            np.matmul(hs[t - 1], self.Wh, out=a)
            hs[t] += a
            np.tanh(hs[t], out=hs[t])
        self.xs, self.hs = xs, hs
        return hs

    def backward(self, dout: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        if self.xs is None or self.hs is None:
            raise RuntimeError("RNN.backward called before forward")
        xs, hs = self.xs, self.hs
        t_, n, h = hs.shape
        d = xs.shape[2]
        dtype = hs.dtype
        dout = np.ascontiguousarray(dout, dtype=dtype)
        da = self._buf.get("da", hs.shape, dtype)
        dnext = self._buf.get("dnext", (n, h), dtype)
        dnext.fill(0)
        for t in range(t_ - 1, -1, -1):
            kernels.tanh_step_backward(dout[t], dnext, hs[t], da[t])
            if t:
                np.matmul(da[t], self.Wh.T, out=dnext)
        self.dWx = gradient_array(self.grad_out, "Wx", self._buf, self.Wx.shape, dtype)
        self.dWh = gradient_array(self.grad_out, "Wh", self._buf, self.Wh.shape, dtype)
        self.db = gradient_array(self.grad_out, "b", self._buf, self.b.shape, dtype)
        da2 = da.reshape(t_ * n, h)
        np.matmul(xs.reshape(t_ * n, d).T, da2, out=self.dWx)
        np.matmul(hs[:-1].reshape((t_ - 1) * n, h).T, da[1:].reshape((t_ - 1) * n, h),
                  out=self.dWh)
        ones = self._buf.get("ones", (t_ * n,), dtype, fill=1)
        np.matmul(ones, da2, out=self.db)
        if not need_dx:
            return None
        dx = self._buf.get("dx", xs.shape, dtype)
        np.matmul(da2, self.Wx.T, out=dx.reshape(t_ * n, d))
        return dx


class TimeSoftmaxWithLoss:
    """Softmax cross-entropy at every position: scores (..., V), labels (...) as indices;
    L = the mean over all positions of −log softmax(score)[label] (``CrossEntropyLoss`` on
    the flattened positions). ∂L/∂score = (softmax(score) − onehot(label)) / positions."""

    def __init__(self) -> None:
        self._loss = SoftmaxWithLoss()
        self.shape: tuple[int, ...] | None = None

    @property
    def y(self) -> np.ndarray | None:
        """The softmax probabilities of the latest forward, shape (positions, V)."""
        return self._loss.y

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:
        x, t = np.asarray(x), np.asarray(t)
        if x.ndim < 2 or t.shape != x.shape[:-1]:
            raise InputError(f"TimeSoftmaxWithLoss: labels of shape {t.shape} do not match "
                             f"scores of shape {x.shape} (expected labels of shape "
                             f"{x.shape[:-1]})")
        self.shape = x.shape
        return self._loss.forward(x.reshape(-1, x.shape[-1]), t.reshape(-1))

    def backward(self, dout: float = 1.0) -> np.ndarray:
        if self.shape is None:
            raise RuntimeError("TimeSoftmaxWithLoss.backward called before forward")
        return self._loss.backward(dout).reshape(self.shape)


class TimeAffine(Affine):
    """y = x·W + b over the last axis, for x of any leading shape (T, N, D) → (T, N, H)
    (``torch.nn.Linear``); the :class:`~.layers.Affine` gradients, summed over all positions.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        lead = x.shape[:-1]
        return super().forward(x.reshape(-1, x.shape[-1])).reshape(*lead, self.W.shape[1])

    def backward(self, dout: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        lead = dout.shape[:-1]
        dx = super().backward(dout.reshape(-1, dout.shape[-1]), need_dx)
        return None if dx is None else dx.reshape(*lead, self.W.shape[0])
