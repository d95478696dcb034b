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
# Images are (N, C, H, W), C-contiguous. The im2col matrix is stored transposed, colT of shape
# (C·FH·FW, N·OH·OW): one row per filter tap (c, i, j) — the order of a (FN, C, FH, FW) weight
# flattened — one column per output position (n, oy, ox). Then the convolution is one GEMM,
# W.reshape(FN, −1) · colT, and every loop below reads and writes along image rows. Padding
# is read as zeros, never copied.

@numba.njit(cache=True, nogil=True, inline="always")
def _copy(src: np.ndarray, dst: np.ndarray) -> None:
    """dst[:] = src for 1-D views (a loop from 0 over views: LLVM vectorises it, where a
    slice assignment or an index with an offset compiles to a slower loop)."""
    for q in range(dst.size):
        dst[q] = src[q]


@numba.njit(cache=True, nogil=True, inline="always")
def _add(src: np.ndarray, dst: np.ndarray) -> None:
    """dst[:] += src for 1-D views (see :func:`_copy`)."""
    for q in range(dst.size):
        dst[q] += src[q]


@numba.njit(cache=True, nogil=True)
def _valid(ow: int, stride: int, j: int, pad: int, w: int) -> tuple[int, int]:
    """The output columns ox whose input column ox·stride + j − pad lies in 0..w−1."""
    lo = 0
    while lo < ow and lo * stride + j - pad < 0:
        lo += 1
    hi = ow
    while hi > lo and (hi - 1) * stride + j - pad >= w:
        hi -= 1
    return lo, hi


@numba.njit(cache=True, nogil=True)
def _same_rows(h: int, i: int, pad: int, oh: int) -> tuple[int, int]:
    """The output rows oy whose input row oy + i − pad lies in 0..h−1 (stride 1)."""
    return max(0, pad - i), min(oh, h + pad - i)


@numba.njit(cache=True, nogil=True)
def _same_tap(h: int, w: int, i: int, j: int, pad: int, oh: int
              ) -> tuple[int, int, int, int, int, int, int]:
    """Where tap (i, j) of a stride-1, OW = W filter reads in one flattened H×W image: the
    valid output rows y_lo..y_hi−1 and columns lo..hi−1, the shift from output to input
    index, and the output range q0..q1−1 whose shifted input index lies in the image."""
    y_lo, y_hi = _same_rows(h, i, pad, oh)
    lo, hi = _valid(w, 1, j, pad, w)
    shift = (i - pad) * w + (j - pad)
    return y_lo, y_hi, lo, hi, shift, max(y_lo * w, -shift), min(y_hi * w, h * w - shift)


@numba.njit(cache=True, nogil=True)
def _zero_outside_columns(buf: np.ndarray, y_lo: int, y_hi: int, lo: int, hi: int,
                          ow: int) -> None:
    """Set to 0 the entries of rows y_lo..y_hi−1 whose column lies outside lo..hi−1 (their
    input pixel is padding: a flattened shift wraps them onto the neighbouring row)."""
    for oy in range(y_lo, y_hi):
        for ox in range(lo):
            buf[oy * ow + ox] = 0.0
        for ox in range(hi, ow):
            buf[oy * ow + ox] = 0.0


@numba.njit(cache=True, nogil=True)
def _im2col_same(x: np.ndarray, fh: int, fw: int, pad: int, colT: np.ndarray) -> None:
    """:func:`im2col` for stride 1 and OW = W: a tap's values for one image are one run of
    the flattened image, shifted, with the rows and columns outside the image set to 0."""
    n_, c_, h_, w_ = x.shape
    oh = h_ + 2 * pad - fh + 1
    p_ = oh * w_
    for c in range(c_):
        for i in range(fh):
            for j in range(fw):
                row = colT[(c * fh + i) * fw + j]
                y_lo, y_hi, lo, hi, shift, q0, q1 = _same_tap(h_, w_, i, j, pad, oh)
                for n in range(n_):
                    xp = x[n, c].reshape(h_ * w_)
                    dst = row[n * p_:(n + 1) * p_]
                    dst[:q0] = 0.0
                    _copy(xp[q0 + shift:q1 + shift], dst[q0:q1])
                    dst[q1:] = 0.0
                    _zero_outside_columns(dst, y_lo, y_hi, lo, hi, w_)


@numba.njit(cache=True, nogil=True)
def _col2im_same(colT: np.ndarray, fh: int, fw: int, pad: int, dx: np.ndarray) -> None:
    """:func:`col2im` for stride 1 and OW = W (the adjoint of :func:`_im2col_same`). Sets
    the entries of colT that were read from the padding to 0 on the way."""
    n_, c_, h_, w_ = dx.shape
    oh = h_ + 2 * pad - fh + 1
    p_ = oh * w_
    dx[...] = 0.0
    for c in range(c_):
        for i in range(fh):
            for j in range(fw):
                row = colT[(c * fh + i) * fw + j]
                y_lo, y_hi, lo, hi, shift, q0, q1 = _same_tap(h_, w_, i, j, pad, oh)
                for n in range(n_):
                    dp = dx[n, c].reshape(h_ * w_)
                    src = row[n * p_:(n + 1) * p_]
                    _zero_outside_columns(src, y_lo, y_hi, lo, hi, w_)  # read from the padding
                    _add(src[q0:q1], dp[q0 + shift:q1 + shift])


@numba.njit(cache=True, nogil=True)
def im2col(x: np.ndarray, fh: int, fw: int, stride: int, pad: int,
           colT: np.ndarray) -> None:
    """colT[(c·FH + i)·FW + j, (n·OH + oy)·OW + ox] = x[n, c, oy·s + i − pad, ox·s + j − pad]
    (0 outside the image)."""
    n_, c_, h_, w_ = x.shape
    oh = (h_ + 2 * pad - fh) // stride + 1
    ow = (w_ + 2 * pad - fw) // stride + 1
    if stride == 1 and ow == w_:
        _im2col_same(x, fh, fw, pad, colT)
        return
    for c in range(c_):
        for i in range(fh):
            for j in range(fw):
                row = colT[(c * fh + i) * fw + j]
                lo, hi = _valid(ow, stride, j, pad, w_)
                for n in range(n_):
                    for oy in range(oh):
                        y = oy * stride + i - pad
                        r = (n * oh + oy) * ow
                        if y < 0 or y >= h_:
                            for ox in range(ow):
                                row[r + ox] = 0.0
                            continue
                        for ox in range(lo):
                            row[r + ox] = 0.0
                        xr = x[n, c, y]
                        if stride == 1:
                            shift = j - pad
                            for ox in range(lo, hi):
                                row[r + ox] = xr[ox + shift]
                        else:
                            for ox in range(lo, hi):
                                row[r + ox] = xr[ox * stride + j - pad]
                        for ox in range(hi, ow):
                            row[r + ox] = 0.0


@numba.njit(cache=True, nogil=True)
def col2im(colT: np.ndarray, fh: int, fw: int, stride: int, pad: int,
           dx: np.ndarray) -> None:
    """The adjoint of :func:`im2col`: dx = Σ of every colT entry read from that pixel."""
    n_, c_, h_, w_ = dx.shape
    oh = (h_ + 2 * pad - fh) // stride + 1
    ow = (w_ + 2 * pad - fw) // stride + 1
    if stride == 1 and ow == w_:
        _col2im_same(colT, fh, fw, pad, dx)
        return
    dx[...] = 0.0
    for c in range(c_):
        for i in range(fh):
            for j in range(fw):
                row = colT[(c * fh + i) * fw + j]
                lo, hi = _valid(ow, stride, j, pad, w_)
                for n in range(n_):
                    for oy in range(oh):
                        y = oy * stride + i - pad
                        if y < 0 or y >= h_:
                            continue
                        r = (n * oh + oy) * ow
                        dr = dx[n, c, y]
                        if stride == 1:
                            shift = j - pad
                            for ox in range(lo, hi):
                                dr[ox + shift] += row[r + ox]
                        else:
                            for ox in range(lo, hi):
                                dr[ox * stride + j - pad] += row[r + ox]


@numba.njit(cache=True, nogil=True)
def rows_to_images(rowsT: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """out[n, f, p] = rowsT[f, n·P + p] + b[f] for out of shape (N, F, P)."""
    n_, f_, p_ = out.shape
    for n in range(n_):
        for f in range(f_):
            bf = b[f]
            src = rowsT[f, n * p_:(n + 1) * p_]
            dst = out[n, f]
            for p in range(p_):
                dst[p] = src[p] + bf


@numba.njit(cache=True, nogil=True)
def images_to_rows(dout: np.ndarray, rowsT: np.ndarray, db: np.ndarray) -> None:
    """rowsT[f, n·P + p] = dout[n, f, p] (dout of shape (N, F, P)); db[f] += Σ dout[:, f, :]
    (summed in float64)."""
    n_, f_, p_ = dout.shape
    for f in range(f_):
        s = 0.0
        for n in range(n_):
            src = dout[n, f]
            dst = rowsT[f, n * p_:(n + 1) * p_]
            for p in range(p_):
                v = src[p]
                dst[p] = v
                s += v
        db[f] += s


@numba.njit(cache=True, nogil=True)
def max_pool(x: np.ndarray, ph: int, pw: int, stride: int, out: np.ndarray,
             arg: np.ndarray) -> None:
    """out = the maximum of each window (the first one on ties); arg = its offset y·W + x in
    its image, for the backward pass. x (M, H, W), out and arg (M, OH, OW)."""
    m_, h_, w_ = x.shape
    oh, ow = out.shape[1], out.shape[2]
    for m in range(m_):
        xm = x[m].reshape(h_ * w_)
        om = out[m].reshape(oh * ow)
        am = arg[m].reshape(oh * ow)
        for oy in range(oh):
            y0 = oy * stride
            for ox in range(ow):
                at = y0 * w_ + ox * stride
                best = xm[at]
                for i in range(ph):
                    base = (y0 + i) * w_ + ox * stride
                    for j in range(pw):
                        v = xm[base + j]
                        if v > best:
                            best = v
                            at = base + j
                om[oy * ow + ox] = best
                am[oy * ow + ox] = at


@numba.njit(cache=True, nogil=True)
def max_pool_backward(dout: np.ndarray, arg: np.ndarray, dx: np.ndarray) -> None:
    """dx = dout routed to the position of each window's maximum. dout and arg (M, P),
    dx (M, H·W)."""
    m_, p_ = dout.shape
    dx[...] = 0.0
    for m in range(m_):
        for p in range(p_):
            dx[m, arg[m, p]] += dout[m, p]


@numba.njit(cache=True, nogil=True)
def avg_pool(x: np.ndarray, ph: int, pw: int, stride: int, out: np.ndarray) -> None:
    """out = the mean of each window. x (M, H, W), out (M, OH, OW)."""
    m_ = x.shape[0]
    oh, ow = out.shape[1], out.shape[2]
    inv = 1.0 / (ph * pw)
    for m in range(m_):
        for oy in range(oh):
            for ox in range(ow):
                s = 0.0
                for i in range(ph):
                    xr = x[m, oy * stride + i]
                    for j in range(pw):
                        s += xr[ox * stride + j]
                out[m, oy, ox] = s * inv


@numba.njit(cache=True, nogil=True)
def avg_pool_backward(dout: np.ndarray, ph: int, pw: int, stride: int,
                      dx: np.ndarray) -> None:
    """dx = each window's dout spread evenly over the window. dout (M, OH, OW),
    dx (M, H, W)."""
    m_, oh, ow = dout.shape
    inv = 1.0 / (ph * pw)
    dx[...] = 0.0
    for m in range(m_):
        for oy in range(oh):
            for ox in range(ow):
                g = dout[m, oy, ox] * inv
                for i in range(ph):
                    dr = dx[m, oy * stride + i]
                    for j in range(pw):
                        dr[ox * stride + j] += g


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
