"""Convolution and pooling layers on images of shape (N, C, H, W) (the classic textbook's
``Convolution`` and ``Pooling``, written with im2col/col2im as numba loops).

Conventions follow PyTorch (``torch.nn.Conv2d``, ``MaxPool2d``, ``AvgPool2d``): weights of
shape (FN, C, FH, FW), a cross-correlation (no kernel flip), zero padding, output size
OH = (H + 2·pad − FH) // stride + 1; pooling windows without padding, stride = window by
default, max pooling routing the gradient to the first maximum of each window.

Like the other layers, arrays a layer returns are its own buffers, overwritten by its next
call; parameter gradients are left on the layer (``dW``, ``db``) or written into
``grad_out`` (a dict ``{"W": array, "b": array}``) when given.

>>> import numpy as np
>>> x = np.arange(16.0).reshape(1, 1, 4, 4)
>>> conv = Convolution(np.ones((1, 1, 2, 2)), np.zeros(1), stride=2)
>>> conv.forward(x)[0, 0]                      # sums of the four 2×2 blocks
array([[10., 18.],
       [42., 50.]])
>>> MaxPooling(2).forward(x)[0, 0]
array([[ 5.,  7.],
       [13., 15.]])
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from . import kernels
from .buffers import Buffers


def gradient_array(grad_out: dict[str, np.ndarray] | None, key: str, buf: Buffers,
                   shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Where a layer writes the gradient of its parameter ``key``: ``grad_out[key]`` when
    that array fits (shape, dtype, C-contiguous), else the layer's own buffer."""
    g = None if grad_out is None else grad_out.get(key)
    if g is not None and g.shape == shape and g.dtype == dtype and g.flags.c_contiguous:
        return g
    return buf.get("d" + key, shape, dtype)


def _positive(name: str, value: int, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _images(layer: str, x: np.ndarray, channels: int | None = None) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4 or (channels is not None and x.shape[1] != channels):
        want = "(N, C, H, W)" if channels is None else f"(N, {channels}, H, W)"
        raise InputError(f"{layer} expects images of shape {want}, got {x.shape}")
    return np.ascontiguousarray(x)


class Convolution:
    """y[n, f] = b[f] + Σ_c W[f, c] ⋆ x[n, c] (cross-correlation with stride and zero pad).

    As one GEMM per chunk of images: ``colT = im2col(x)`` (one row per filter tap (c, i, j),
    one column per output position), ``y = W·colT + b`` with W as (FN, C·FH·FW). Backward
    (im2col again, chunk by chunk): ∂L/∂W = Σ dout·colTᵀ, ∂L/∂b = Σ dout over n, y, x,
    ∂L/∂x = col2im(Wᵀ·dout) (skipped with ``need_dx=False``).

    Args:
        W: filters, shape (FN, C, FH, FW).
        b: biases, shape (FN,).
        stride: step between windows (default 1).
        pad: zeros added on every side (default 0).
    """

    def __init__(self, W: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0) -> None:
        if np.ndim(W) != 4 or np.shape(b) != (np.shape(W)[0],):
            raise InputError(f"Convolution needs W of shape (FN, C, FH, FW) and b of shape "
                             f"(FN,), got {np.shape(W)} and {np.shape(b)}")
        self.W, self.b = W, b
        self.stride = _positive("stride", stride)
        self.pad = _positive("pad", pad, 0)
        self.dW: np.ndarray | None = None
        self.db: np.ndarray | None = None
        self.grad_out: dict[str, np.ndarray] | None = None
        self.x: np.ndarray | None = None
        self._buf = Buffers()

    def output_shape(self, h: int, w: int) -> tuple[int, int]:
        """(OH, OW) for an input of H × W pixels."""
        fh, fw = self.W.shape[2:]
        oh = (h + 2 * self.pad - fh) // self.stride + 1
        ow = (w + 2 * self.pad - fw) // self.stride + 1
        if oh < 1 or ow < 1:
            raise InputError(f"a {fh}×{fw} filter (pad {self.pad}) does not fit a {h}×{w} image")
        return oh, ow

    #: im2col is done for this many values at a time (a chunk of images), so that the matrix
    #: stays in the cache between being written and being multiplied (1 MB of float32).
    chunk_values = 1 << 18

    def _chunks(self, n: int, taps: int, positions: int) -> range:
        return range(0, n, max(1, min(n, self.chunk_values // (taps * positions))))

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _images("Convolution", x, self.W.shape[1])
        fn, c, fh, fw = self.W.shape
        n = x.shape[0]
        oh, ow = self.output_shape(*x.shape[2:])
        dtype = np.result_type(x.dtype, self.W.dtype)
        x = x.astype(dtype, copy=False)
        W = self.W.reshape(fn, -1)
        b = self.b.astype(dtype, copy=False)
        out = self._buf.get("out", (n, fn, oh, ow), dtype)
        chunks = self._chunks(n, c * fh * fw, oh * ow)
        for a in chunks:
            m = min(chunks.step, n - a)
            col = self._buf.scratch("col", (c * fh * fw, m * oh * ow), dtype)
            kernels.im2col(x[a:a + m], fh, fw, self.stride, self.pad, col)
            rows = self._buf.scratch("rows", (fn, m * oh * ow), dtype)
            np.matmul(W, col, out=rows)
            kernels.rows_to_images(rows, b, out[a:a + m].reshape(m, fn, oh * ow))
        self.x = x
        return out

    def backward(self, dout: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        if self.x is None:
            raise RuntimeError("Convolution.backward called before forward")
        x = self.x
        fn, c, fh, fw = self.W.shape
        n, _, oh, ow = dout.shape
        dtype = x.dtype
        dout = np.ascontiguousarray(dout, dtype=dtype)
        W = self.W.reshape(fn, -1)
        self.dW = gradient_array(self.grad_out, "W", self._buf, self.W.shape, dtype)
        self.db = gradient_array(self.grad_out, "b", self._buf, self.b.shape, dtype)
        dW = self.dW.reshape(fn, -1)
        self.db.fill(0)
        dx = self._buf.get("dx", x.shape, dtype) if need_dx else None
        chunks = self._chunks(n, c * fh * fw, oh * ow)
        for a in chunks:
            m = min(chunks.step, n - a)
            col = self._buf.scratch("col", (c * fh * fw, m * oh * ow), dtype)
            kernels.im2col(x[a:a + m], fh, fw, self.stride, self.pad, col)   # again: cheaper
            rows = self._buf.scratch("rows", (fn, m * oh * ow), dtype)         # than keeping it
            kernels.images_to_rows(dout[a:a + m].reshape(m, fn, oh * ow), rows, self.db)
            if a == 0:
                np.matmul(rows, col.T, out=dW)
            else:
                part = self._buf.get("dW_part", dW.shape, dtype)
                np.matmul(rows, col.T, out=part)
                dW += part
            if dx is not None:
                np.matmul(W.T, rows, out=col)                               # col ← dcol
                kernels.col2im(col, fh, fw, self.stride, self.pad, dx[a:a + m])
        return dx


class _Pooling:
    name = "Pooling"

    def __init__(self, pool_h: int, pool_w: int | None = None, stride: int | None = None
                 ) -> None:
        self.pool_h = _positive("pool_h", pool_h)
        self.pool_w = self.pool_h if pool_w is None else _positive("pool_w", pool_w)
        self.stride = self.pool_h if stride is None else _positive("stride", stride)
        self.x_shape: tuple[int, ...] | None = None
        self._buf = Buffers()

    def _out(self, x: np.ndarray) -> np.ndarray:
        n, c, h, w = x.shape
        oh = (h - self.pool_h) // self.stride + 1
        ow = (w - self.pool_w) // self.stride + 1
        if oh < 1 or ow < 1:
            raise InputError(f"{self.name}: a {self.pool_h}×{self.pool_w} window does not fit "
                             f"a {h}×{w} image")
        self.x_shape = x.shape
        return self._buf.get("out", (n, c, oh, ow), x.dtype)


class MaxPooling(_Pooling):
    """y = the maximum of each pool_h × pool_w window (stride defaults to the window);
    ∂L/∂x = dout at each window's (first) maximum, 0 elsewhere (``torch.nn.MaxPool2d``).

    >>> import numpy as np
    >>> pool = MaxPooling(2)
    >>> y = pool.forward(np.array([[[[1.0, 3.0], [2.0, 0.0]]]]))
    >>> pool.backward(np.ones_like(y))[0, 0]
    array([[0., 1.],
           [0., 0.]])
    """

    name = "MaxPooling"

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _images(self.name, x)
        out = self._out(x)
        self.arg = self._buf.get("arg", out.shape, np.dtype(np.int32))
        n, c, h, w = x.shape
        kernels.max_pool(x.reshape(n * c, h, w), self.pool_h, self.pool_w, self.stride,
                         out.reshape(n * c, *out.shape[2:]),
                         self.arg.reshape(n * c, *out.shape[2:]))
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self.x_shape is None:
            raise RuntimeError("MaxPooling.backward called before forward")
        n, c, h, w = self.x_shape
        dx = self._buf.get("dx", self.x_shape, dout.dtype)
        m = n * c
        kernels.max_pool_backward(np.ascontiguousarray(dout).reshape(m, -1),
                                  self.arg.reshape(m, -1), dx.reshape(m, h * w))
        return dx


class AvgPooling(_Pooling):
    """y = the mean of each window; ∂L/∂x = dout/(pool_h·pool_w) spread over the window
    (``torch.nn.AvgPool2d``)."""

    name = "AvgPooling"

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _images(self.name, x)
        out = self._out(x)
        n, c, h, w = x.shape
        kernels.avg_pool(x.reshape(n * c, h, w), self.pool_h, self.pool_w, self.stride,
                         out.reshape(n * c, *out.shape[2:]))
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self.x_shape is None:
            raise RuntimeError("AvgPooling.backward called before forward")
        dx = self._buf.get("dx", self.x_shape, dout.dtype)
        n, c, oh, ow = dout.shape
        kernels.avg_pool_backward(np.ascontiguousarray(dout).reshape(n * c, oh, ow),
                                  self.pool_h, self.pool_w, self.stride,
                                  dx.reshape(n * c, *self.x_shape[2:]))
        return dx
