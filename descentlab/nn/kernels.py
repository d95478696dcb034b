"""Small fused loops compiled with numba (cached on disk after the first use).

Each replaces a few NumPy calls that would each make a pass over the data (and, for the
masks, a boolean temporary); results are the same as the NumPy expressions they replace,
which the tests check.
"""

from __future__ import annotations

import numba
import numpy as np

_TYPES = (np.dtype(np.float32), np.dtype(np.float64))


def fits(*arrays: np.ndarray) -> bool:
    """True if the kernels take these arrays: 2-D, C-contiguous, one dtype, float32/64."""
    first = arrays[0].dtype
    return first in _TYPES and all(
        a.ndim == 2 and a.dtype == first and a.flags.c_contiguous for a in arrays)


@numba.njit(cache=True, nogil=True)
def relu_backward(dout: np.ndarray, out: np.ndarray, dx: np.ndarray) -> None:
    """dx = dout where out > 0, else 0 (out is the ReLU's output). 2-D C-contiguous."""
    n, m = dout.shape
    for i in range(n):
        for j in range(m):
            dx[i, j] = dout[i, j] if out[i, j] > 0 else 0.0


@numba.njit(cache=True, nogil=True)
def softmax_cross_entropy(x: np.ndarray, t: np.ndarray, y: np.ndarray) -> float:
    """y = softmax(x) row-wise; returns −(1/N) Σₙ log softmax(xₙ)[tₙ] (accumulated in
    float64), computed as log Σ e^(x − max) − (x[t] − max)."""
    n, k = x.shape
    total = 0.0
    for i in range(n):
        mx = x[i, 0]
        for j in range(1, k):
            if x[i, j] > mx:
                mx = x[i, j]
        s = 0.0
        for j in range(k):
            e = np.exp(x[i, j] - mx)
            y[i, j] = e
            s += e
        inv = 1.0 / s
        for j in range(k):
            y[i, j] *= inv
        total += np.log(s) - (x[i, t[i]] - mx)
    return total / n


@numba.njit(cache=True, nogil=True)
def softmax_cross_entropy_backward(y: np.ndarray, t: np.ndarray, scale: float,
                                   dx: np.ndarray) -> None:
    """dx = scale·(y − onehot(t))."""
    n, k = y.shape
    for i in range(n):
        for j in range(k):
            dx[i, j] = y[i, j] * scale
        dx[i, t[i]] -= scale


# ---------------------------------------------------------------- convolution and pooling
# Images are (N, C, H, W), C-contiguous. im2col rows are output positions (n, oy, ox) in that
# order; its columns are (c, i, j), the order of a (FN, C, FH, FW) weight flattened, so the
# convolution is one GEMM: rows · W.reshape(FN, −1)ᵀ. Padding is read as zeros, never copied.

@numba.njit(cache=True, nogil=True)
def im2col(x: np.ndarray, fh: int, fw: int, stride: int, pad: int,
           col: np.ndarray) -> None:
    """col[(n·OH + oy)·OW + ox, (c·FH + i)·FW + j] = x[n, c, oy·s + i − pad, ox·s + j − pad]
    (0 outside the image)."""
    n_, c_, h_, w_ = x.shape
    oh = (h_ + 2 * pad - fh) // stride + 1
    ow = (w_ + 2 * pad - fw) // stride + 1
    for n in range(n_):
        for oy in range(oh):
            for ox in range(ow):
                r = (n * oh + oy) * ow + ox
                k = 0
                for c in range(c_):
                    for i in range(fh):
                        y = oy * stride + i - pad
                        for j in range(fw):
                            xx = ox * stride + j - pad
                            if 0 <= y < h_ and 0 <= xx < w_:
                                col[r, k] = x[n, c, y, xx]
                            else:
                                col[r, k] = 0.0
                            k += 1


@numba.njit(cache=True, nogil=True)
def col2im(col: np.ndarray, fh: int, fw: int, stride: int, pad: int, dx: np.ndarray) -> None:
    """The adjoint of :func:`im2col`: dx = Σ of every col entry read from that pixel."""
    n_, c_, h_, w_ = dx.shape
    oh = (h_ + 2 * pad - fh) // stride + 1
    ow = (w_ + 2 * pad - fw) // stride + 1
    dx[...] = 0.0
    for n in range(n_):
        for oy in range(oh):
            for ox in range(ow):
                r = (n * oh + oy) * ow + ox
                k = 0
                for c in range(c_):
                    for i in range(fh):
                        y = oy * stride + i - pad
                        for j in range(fw):
                            xx = ox * stride + j - pad
                            if 0 <= y < h_ and 0 <= xx < w_:
                                dx[n, c, y, xx] += col[r, k]
                            k += 1


@numba.njit(cache=True, nogil=True)
def rows_to_images(rows: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """out[n, f, p] = rows[n·P + p, f] + b[f] for out of shape (N, F, P)."""
    n_, f_, p_ = out.shape
    for n in range(n_):
        for f in range(f_):
            bf = b[f]
            for p in range(p_):
                out[n, f, p] = rows[n * p_ + p, f] + bf


@numba.njit(cache=True, nogil=True)
def images_to_rows(dout: np.ndarray, rows: np.ndarray, db: np.ndarray) -> None:
    """rows[n·P + p, f] = dout[n, f, p] (dout of shape (N, F, P)); db[f] = Σ dout[:, f, :]."""
    n_, f_, p_ = dout.shape
    db[:] = 0.0
    for n in range(n_):
        for f in range(f_):
            s = 0.0
            for p in range(p_):
                v = dout[n, f, p]
                rows[n * p_ + p, f] = v
                s += v
            db[f] += s


@numba.njit(cache=True, nogil=True)
def max_pool(x: np.ndarray, ph: int, pw: int, stride: int, out: np.ndarray,
             arg: np.ndarray) -> None:
    """out = the maximum of each window (the first one on ties); arg = its offset y·W + x in
    the image, for the backward pass."""
    n_, c_, h_, w_ = x.shape
    oh, ow = out.shape[2], out.shape[3]
    for n in range(n_):
        for c in range(c_):
            for oy in range(oh):
                for ox in range(ow):
                    y0, x0 = oy * stride, ox * stride
                    best = x[n, c, y0, x0]
                    at = y0 * w_ + x0
                    for i in range(ph):
                        for j in range(pw):
                            v = x[n, c, y0 + i, x0 + j]
                            if v > best:
                                best = v
                                at = (y0 + i) * w_ + x0 + j
                    out[n, c, oy, ox] = best
                    arg[n, c, oy, ox] = at


@numba.njit(cache=True, nogil=True)
def max_pool_backward(dout: np.ndarray, arg: np.ndarray, dx: np.ndarray) -> None:
    """dx = dout routed to the position of each window's maximum (dx of shape (N, C, H·W))."""
    n_, c_, oh, ow = dout.shape
    dx[...] = 0.0
    for n in range(n_):
        for c in range(c_):
            for oy in range(oh):
                for ox in range(ow):
                    dx[n, c, arg[n, c, oy, ox]] += dout[n, c, oy, ox]


@numba.njit(cache=True, nogil=True)
def avg_pool(x: np.ndarray, ph: int, pw: int, stride: int, out: np.ndarray) -> None:
    """out = the mean of each window."""
    n_, c_ = x.shape[0], x.shape[1]
    oh, ow = out.shape[2], out.shape[3]
    inv = 1.0 / (ph * pw)
    for n in range(n_):
        for c in range(c_):
            for oy in range(oh):
                for ox in range(ow):
                    s = 0.0
                    for i in range(ph):
                        for j in range(pw):
                            s += x[n, c, oy * stride + i, ox * stride + j]
                    out[n, c, oy, ox] = s * inv


@numba.njit(cache=True, nogil=True)
def avg_pool_backward(dout: np.ndarray, ph: int, pw: int, stride: int,
                      dx: np.ndarray) -> None:
    """dx = each window's dout spread evenly over the window."""
    n_, c_, oh, ow = dout.shape
    inv = 1.0 / (ph * pw)
    dx[...] = 0.0
    for n in range(n_):
        for c in range(c_):
            for oy in range(oh):
                for ox in range(ow):
                    g = dout[n, c, oy, ox] * inv
                    for i in range(ph):
                        for j in range(pw):
                            dx[n, c, oy * stride + i, ox * stride + j] += g


# ---------------------------------------------------------------- sequences
@numba.njit(cache=True, nogil=True)
def embedding_backward(idx: np.ndarray, dout: np.ndarray, dW: np.ndarray) -> None:
    """dW = 0, then dW[idx[m]] += dout[m] for every row m (repeated indices add up)."""
    dW[...] = 0.0
    m_, d_ = dout.shape
    for m in range(m_):
        r = idx[m]
        for j in range(d_):
            dW[r, j] += dout[m, j]


@numba.njit(cache=True, nogil=True)
def tanh_step_backward(dh: np.ndarray, dnext: np.ndarray, h: np.ndarray,
                       da: np.ndarray) -> None:
    """da = (dh + dnext)·(1 − h²): back through h = tanh(a), with the gradient arriving both
    from the output (dh) and from the next time step (dnext). 2-D arrays."""
    n, m = dh.shape
    for i in range(n):
        for j in range(m):
            v = h[i, j]
            da[i, j] = (dh[i, j] + dnext[i, j]) * (1.0 - v * v)
