"""The convolution, pooling and sequence layers against PyTorch on the same weights (float64):
outputs and every gradient of L = Σ w·layer(x) for a fixed random w, to 1e-10.

PyTorch is the independent oracle here: its CPU kernels (mkldnn/at::native) share no code with
our im2col/numba loops; the numbers it returns are what the layers must reproduce."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from descentlab.errors import InputError
from descentlab.nn import (
    RNN,
    AvgPooling,
    Convolution,
    Embedding,
    MaxPooling,
    TimeAffine,
    TimeSoftmaxWithLoss,
)

torch.set_num_threads(1)
TOL = 1e-10


def close(ours, theirs):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=TOL, atol=TOL)


def leaf(a):
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("shape,filt,stride,pad", [
    ((2, 1, 8, 8), (3, 1, 3, 3), 1, 0),
    ((3, 2, 7, 6), (4, 2, 3, 2), 2, 1),
    ((2, 3, 5, 5), (2, 3, 1, 1), 1, 2),
    ((1, 2, 9, 7), (5, 2, 4, 3), 3, 2),
    ((5, 2, 6, 6), (3, 2, 3, 3), 1, 1),          # 'same': the one-run im2col path
    ((4, 1, 5, 7), (2, 1, 5, 3), 1, 2),
])
@pytest.mark.parametrize("chunk_values", [1 << 18, 100])   # one chunk / a chunk per image
def test_convolution_matches_torch(shape, filt, stride, pad, chunk_values):
    rng = np.random.default_rng(sum(shape) + 7 * stride + pad)
    x, W, b = rng.standard_normal(shape), rng.standard_normal(filt), rng.standard_normal(filt[0])
    conv = Convolution(W, b, stride=stride, pad=pad)
    conv.chunk_values = chunk_values
    y = conv.forward(x).copy()
    w = rng.standard_normal(y.shape)
    dx = conv.backward(w)
    xt, Wt, bt = leaf(x), leaf(W), leaf(b)
    yt = torch.nn.functional.conv2d(xt, Wt, bt, stride=stride, padding=pad)
    (yt * torch.tensor(w)).sum().backward()
    close(y, yt)
    close(dx, xt.grad)
    close(conv.dW, Wt.grad)
    close(conv.db, bt.grad)
    assert np.abs(conv.dW).max() > 0.1          # the comparison compares something


def test_convolution_writes_grad_out_and_skips_dx():
    rng = np.random.default_rng(3)
    W, b = rng.standard_normal((2, 1, 3, 3)), np.zeros(2)
    conv = Convolution(W, b, pad=1)
    conv.grad_out = {"W": np.empty_like(W), "b": np.empty_like(b)}
    y = conv.forward(rng.standard_normal((2, 1, 4, 4)))
    assert conv.backward(np.ones_like(y), need_dx=False) is None
    assert conv.dW is conv.grad_out["W"] and conv.db is conv.grad_out["b"]
    np.testing.assert_allclose(conv.db, [32.0, 32.0])   # Σ of ones over 2 images × 4 × 4


@pytest.mark.parametrize("cls,torch_fn", [(MaxPooling, torch.nn.functional.max_pool2d),
                                          (AvgPooling, torch.nn.functional.avg_pool2d)])
@pytest.mark.parametrize("shape,pool,stride", [((2, 3, 8, 8), 2, None), ((1, 2, 7, 9), 3, 2),
                                               ((2, 1, 6, 5), 2, 1)])
def test_pooling_matches_torch(cls, torch_fn, shape, pool, stride):
    rng = np.random.default_rng(shape[3] * 10 + pool)
    x = rng.standard_normal(shape)
    layer = cls(pool, stride=stride)
    y = layer.forward(x).copy()
    w = rng.standard_normal(y.shape)
    dx = layer.backward(w)
    xt = leaf(x)
    yt = torch_fn(xt, pool, stride=stride)
    (yt * torch.tensor(w)).sum().backward()
    close(y, yt)
    close(dx, xt.grad)


def test_embedding_matches_torch():
    rng = np.random.default_rng(11)
    W = rng.standard_normal((7, 4))
    idx = rng.integers(0, 7, size=(6, 5))          # repeated indices: gradients add up
    emb = Embedding(W)
    y = emb.forward(idx).copy()
    w = rng.standard_normal(y.shape)
    emb.backward(w)
    m = torch.nn.Embedding(7, 4).double()
    with torch.no_grad():
        m.weight.copy_(torch.tensor(W))
    yt = m(torch.tensor(idx))
    (yt * torch.tensor(w)).sum().backward()
    close(y, yt)
    close(emb.dW, m.weight.grad)


@pytest.mark.parametrize("T,N,D,H", [(1, 2, 3, 4), (7, 3, 5, 6), (20, 4, 3, 8)])
def test_rnn_matches_torch(T, N, D, H):
    rng = np.random.default_rng(T * 100 + H)
    xs = rng.standard_normal((T, N, D))
    Wx = rng.standard_normal((D, H)) / np.sqrt(D)
    Wh = rng.standard_normal((H, H)) / np.sqrt(H)
    b = rng.standard_normal(H) * 0.1
    rnn = RNN(Wx, Wh, b)
    hs = rnn.forward(xs).copy()
    w = rng.standard_normal(hs.shape)
    dx = rnn.backward(w)
    m = torch.nn.RNN(D, H, nonlinearity="tanh").double()
    with torch.no_grad():
        m.weight_ih_l0.copy_(torch.tensor(Wx.T))
        m.weight_hh_l0.copy_(torch.tensor(Wh.T))
        m.bias_ih_l0.copy_(torch.tensor(b))
        m.bias_hh_l0.zero_()                      # one bias here; torch adds two
    xt = leaf(xs)
    out, _ = m(xt)
    (out * torch.tensor(w)).sum().backward()
    close(hs, out)
    close(dx, xt.grad)
    close(rnn.dWx, m.weight_ih_l0.grad.T)
    close(rnn.dWh, m.weight_hh_l0.grad.T)
    close(rnn.db, m.bias_ih_l0.grad)


def test_time_affine_matches_torch():
    rng = np.random.default_rng(8)
    x, W, b = rng.standard_normal((5, 3, 4)), rng.standard_normal((4, 6)), rng.standard_normal(6)
    layer = TimeAffine(W, b)
    y = layer.forward(x).copy()
    w = rng.standard_normal(y.shape)
    dx = layer.backward(w)
    xt, Wt, bt = leaf(x), leaf(W), leaf(b)
    yt = torch.nn.functional.linear(xt, Wt.T, bt)
    (yt * torch.tensor(w)).sum().backward()
    close(y, yt)
    close(dx, xt.grad)
    close(layer.dW, Wt.grad)
    close(layer.db, bt.grad)


def test_time_softmax_matches_torch():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 4, 9)) * 3
    t = rng.integers(0, 9, size=(6, 4))
    layer = TimeSoftmaxWithLoss()
    loss = layer.forward(x, t)
    dx = layer.backward(1.0)
    xt = leaf(x)
    lt = torch.nn.functional.cross_entropy(xt.reshape(-1, 9), torch.tensor(t).reshape(-1))
    lt.backward()
    assert abs(loss - lt.item()) <= TOL
    close(dx, xt.grad)


def test_bad_inputs_name_the_culprit():
    W = np.zeros((2, 1, 3, 3))
    with pytest.raises(InputError, match="stride"):
        Convolution(W, np.zeros(2), stride=0)
    with pytest.raises(InputError, match=r"\(N, 1, H, W\)"):
        Convolution(W, np.zeros(2)).forward(np.zeros((1, 2, 5, 5)))
    with pytest.raises(InputError, match="does not fit"):
        Convolution(W, np.zeros(2)).forward(np.zeros((1, 1, 2, 2)))
    with pytest.raises(InputError, match="does not fit"):
        MaxPooling(3).forward(np.zeros((1, 1, 2, 2)))
    with pytest.raises(InputError, match=r"0\.\.3"):
        Embedding(np.zeros((4, 2))).forward(np.array([1, 4]))
    with pytest.raises(InputError, match="integer"):
        Embedding(np.zeros((4, 2))).forward(np.array([1.0]))
    with pytest.raises(InputError, match=r"\(T, N, 3\)"):
        RNN(np.zeros((3, 2)), np.zeros((2, 2)), np.zeros(2)).forward(np.zeros((2, 3)))
    with pytest.raises(InputError, match="labels"):
        TimeSoftmaxWithLoss().forward(np.zeros((2, 3, 4)), np.zeros((3, 2), dtype=int))


def test_convnet_gradient_matches_torch():
    from descentlab.nn import ConvNet
    net = ConvNet((1, 8, 8), channels=(3, 4), hidden=(5,), output_size=3, seed=1,
                  dtype=np.float64)
    rng = np.random.default_rng(12)
    x, t = rng.random((6, 64)), rng.integers(0, 3, 6)
    grads = net.gradient(x, t)
    P = {k: leaf(v) for k, v in net.params.items()}
    F = torch.nn.functional
    h = torch.tensor(x).reshape(6, 1, 8, 8)
    for i in (1, 2):
        h = F.max_pool2d(F.relu(F.conv2d(h, P[f"C{i}"], P[f"c{i}"], padding=1)), 2)
    h = F.relu(h.flatten(1) @ P["W1"] + P["b1"]) @ P["W2"] + P["b2"]
    loss = F.cross_entropy(h, torch.tensor(t))
    loss.backward()
    assert abs(net.last_loss - loss.item()) <= TOL
    for k in net.params:
        close(grads[k], P[k].grad)


def test_charrnn_gradient_matches_torch():
    from descentlab.nn import CharRNN
    net = CharRNN(vocab_size=7, embed_size=4, hidden_size=5, seed=2, dtype=np.float64)
    rng = np.random.default_rng(13)
    x, t = rng.integers(0, 7, (3, 6)), rng.integers(0, 7, (3, 6))
    grads = net.gradient(x, t)
    P = {k: leaf(v) for k, v in net.params.items()}
    e = P["E"][torch.tensor(x.T)]                         # (T, N, D)
    h = torch.zeros(3, 5, dtype=torch.float64)
    outs = []
    for step in range(6):
        h = torch.tanh(e[step] @ P["Wx"] + h @ P["Wh"] + P["b"])
        outs.append(h @ P["Wo"] + P["bo"])
    logits = torch.stack(outs)                            # (T, N, V)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 7),
                                             torch.tensor(t.T).reshape(-1))
    loss.backward()
    assert abs(net.last_loss - loss.item()) <= TOL
    for k in net.params:
        close(grads[k], P[k].grad)
