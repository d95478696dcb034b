"""descentlab.nn: layers, losses and MultiLayerNet against numerical gradients and PyTorch."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from descentlab import optim
from descentlab.nn import (
    Affine,
    MSELoss,
    MultiLayerNet,
    Relu,
    Sigmoid,
    SigmoidWithLoss,
    SoftmaxWithLoss,
    Tanh,
    cross_entropy_error,
    init_std,
    numerical_gradient,
    softmax,
)

RNG = np.random.default_rng(1234)


def check_layer_gradient(layer, x, *, tol=1e-6):
    """Backprop of L = Σ w·layer(x) for a fixed random w, against central differences."""
    rng = np.random.default_rng(2087)
    w = rng.standard_normal(layer.forward(x).shape)

    def f(_):
        return float(np.sum(w * layer.forward(x)))

    num = numerical_gradient(f, x)
    layer.forward(x)
    dx = layer.backward(w.copy())
    np.testing.assert_allclose(dx, num, atol=tol, rtol=tol)
    return w


@pytest.mark.parametrize("layer_cls", [Relu, Sigmoid, Tanh])
def test_activation_gradients(layer_cls):
    rng = np.random.default_rng(2673)
    x = rng.standard_normal((4, 5))
    x[np.abs(x) < 1e-2] = 0.5  # keep ReLU's kink away from the finite differences
    check_layer_gradient(layer_cls(), x)


def test_affine_gradients():
    rng = np.random.default_rng(2216)
    W, b = rng.standard_normal((5, 3)), rng.standard_normal(3)
    layer = Affine(W, b)
    x = rng.standard_normal((4, 5))
    w = check_layer_gradient(layer, x)
    layer.forward(x)
    layer.backward(w)
    dW, db = layer.dW.copy(), layer.db.copy()
    for p, g in ((W, dW), (b, db)):
        num = numerical_gradient(lambda _: float(np.sum(w * layer.forward(x))), p)
        np.testing.assert_allclose(g, num, atol=1e-6)


def test_affine_flattens_images_and_skips_dx():
    rng = np.random.default_rng(4211)
    layer = Affine(rng.standard_normal((12, 2)), np.zeros(2))
    x = rng.standard_normal((3, 3, 4))
    out = layer.forward(x)
    assert out.shape == (3, 2)
    assert layer.backward(np.ones((3, 2))).shape == (3, 3, 4)
    assert layer.backward(np.ones((3, 2)), need_dx=False) is None


def test_activation_values():
    x = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_array_equal(Relu().forward(x), [[0, 0, 3]])
    np.testing.assert_allclose(Sigmoid().forward(x), 1 / (1 + np.exp(-x)), rtol=1e-15)
    np.testing.assert_allclose(Tanh().forward(x), np.tanh(x))
    # the classic layer's mask: True where x <= 0
    r = Relu()
    r.forward(x)
    np.testing.assert_array_equal(r.mask, [[True, True, False]])


def _loss_gradient_check(loss_layer, x, t):
    num = numerical_gradient(lambda _: loss_layer.forward(x, t), x)
    loss_layer.forward(x, t)
    np.testing.assert_allclose(loss_layer.backward(), num, atol=1e-7)


@pytest.mark.parametrize("one_hot", [False, True])
def test_softmax_ce_against_torch(one_hot):
    rng = np.random.default_rng(3085)
    x = rng.standard_normal((6, 4)) * 3
    idx = rng.integers(0, 4, 6)
    t = np.eye(4)[idx] if one_hot else idx
    layer = SoftmaxWithLoss()
    loss = layer.forward(x, t)
    dx = layer.backward().copy()
    xt = torch.tensor(x, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(xt, torch.tensor(idx))
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), atol=1e-14)
    _loss_gradient_check(SoftmaxWithLoss(), x, t)


def test_softmax_ce_soft_targets_and_float32():
    rng = np.random.default_rng(4136)
    x = rng.standard_normal((5, 3))
    t = rng.random((5, 3))
    t /= t.sum(axis=1, keepdims=True)
    _loss_gradient_check(SoftmaxWithLoss(), x, t)
    ref = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(t))
    assert SoftmaxWithLoss().forward(x, t) == pytest.approx(ref.item(), rel=1e-12)
    # float32 stays float32 and huge scores do not overflow
    x32 = np.array([[1000.0, 0.0], [0.0, -1000.0]], dtype=np.float32)
    layer = SoftmaxWithLoss()
    assert layer.forward(x32, np.array([1, 0])) == pytest.approx(500.0, rel=1e-6)
    assert layer.backward().dtype == np.float32


def test_softmax_ce_bad_labels():
    with pytest.raises(ValueError, match="label out of range"):
        SoftmaxWithLoss().forward(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="do not match"):
        SoftmaxWithLoss().forward(np.zeros((2, 3)), np.array([0, 1, 2]))


def test_bce_against_torch():
    rng = np.random.default_rng(2318)
    x = rng.standard_normal((7, 2)) * 4
    t = rng.integers(0, 2, (7, 2)).astype(float)
    layer = SigmoidWithLoss()
    loss = layer.forward(x, t)
    xt = torch.tensor(x, requires_grad=True)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(xt, torch.tensor(t))
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(layer.backward(), xt.grad.numpy(), atol=1e-14)
    _loss_gradient_check(SigmoidWithLoss(), x, t)
    # no overflow for huge logits: log(1 + e^800) = 800
    assert SigmoidWithLoss().forward(np.array([[800.0]]), np.array([0.0])) == 800.0


def test_mse_against_torch():
    rng = np.random.default_rng(2345)
    y, t = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    layer = MSELoss()
    loss = layer.forward(y, t)
    yt = torch.tensor(y, requires_grad=True)
    ref = torch.nn.functional.mse_loss(yt, torch.tensor(t))
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(layer.backward(), yt.grad.numpy(), atol=1e-14)
    _loss_gradient_check(MSELoss(), y, t)


def test_functions():
    np.testing.assert_allclose(softmax(np.array([[1.0, 1.0], [0.0, np.log(4.0)]])),
                               [[0.5, 0.5], [0.2, 0.8]])
    # −(log 0.5 + log 0.8)/2 written out by hand
    y = np.array([[0.5, 0.5], [0.2, 0.8]])
    expected = -(np.log(0.5) + np.log(0.8)) / 2
    assert cross_entropy_error(y, np.array([0, 1])) == pytest.approx(expected)
    assert cross_entropy_error(y, np.array([[1, 0], [0, 1]])) == pytest.approx(expected)


def test_init_std():
    assert init_std("he", 8) == pytest.approx(0.5)  # √(2/8)
    assert init_std("relu", 8) == init_std("he", 8)
    assert init_std("Xavier", 25) == pytest.approx(0.2)  # √(1/25)
    assert init_std("sigmoid", 25) == init_std("xavier", 25)
    assert init_std(0.01, 1000) == 0.01
    assert init_std("0.5", 3) == 0.5
    with pytest.raises(ValueError, match="weight_init_std"):
        init_std("lecun", 3)
    net = MultiLayerNet(2000, [1000], 3, weight_init_std="he", seed=0)
    assert net.params["W1"].std() == pytest.approx(np.sqrt(2 / 2000), rel=0.01)
    assert net.params["W2"].std() == pytest.approx(np.sqrt(2 / 1000), rel=0.02)
    assert not net.params["b1"].any()


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("loss, n_out", [("softmax", 3), ("bce", 2), ("mse", 2)])
def test_network_gradient_check(activation, loss, n_out):
    rng = np.random.default_rng(2867)
    net = MultiLayerNet(4, [5, 3], n_out, activation=activation, weight_init_std="xavier",
                        weight_decay_lambda=0.1, dtype=np.float64, seed=3, loss=loss)
    for p in net.params.values():
        p += 0.1 * rng.standard_normal(p.shape)  # non-zero biases too
    x = rng.standard_normal((6, 4))
    t = {"softmax": rng.integers(0, 3, 6), "bce": rng.integers(0, 2, (6, 2)).astype(float),
         "mse": rng.standard_normal((6, 2))}[loss]
    grads = net.gradient(x, t)
    num = net.numerical_gradient(x, t)
    assert set(grads) == set(num) == set(net.params)
    for k in net.params:
        np.testing.assert_allclose(grads[k], num[k], atol=1e-7, err_msg=k)
    assert net.last_loss == pytest.approx(net.loss(x, t))


def test_network_matches_torch():
    """Loss and every gradient equal a PyTorch network with the same weights (float64)."""
    rng = np.random.default_rng(2796)
    net = MultiLayerNet(6, [5, 4], 3, weight_decay_lambda=0.05, dtype=np.float64, seed=0)
    x, t = rng.standard_normal((8, 6)), rng.integers(0, 3, 8)
    grads = net.gradient(x, t)
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in net.params.items()}
    h = torch.tensor(x)
    for i in (1, 2, 3):
        h = h @ tp[f"W{i}"] + tp[f"b{i}"]
        if i < 3:
            h = torch.relu(h)
    loss = torch.nn.functional.cross_entropy(h, torch.tensor(t))
    loss = loss + 0.5 * 0.05 * sum((tp[f"W{i}"] ** 2).sum() for i in (1, 2, 3))
    loss.backward()
    assert net.last_loss == pytest.approx(loss.item(), rel=1e-12)
    for k in net.params:
        np.testing.assert_allclose(grads[k], tp[k].grad.numpy(), atol=1e-13, err_msg=k)


@pytest.mark.parametrize("loss, t", [("softmax", RNG.integers(0, 4, 5)),
                                     ("bce", RNG.integers(0, 2, (5, 4)).astype(float)),
                                     ("mse", RNG.standard_normal((5, 4)))])
def test_float32_end_to_end(loss, t):
    rng = np.random.default_rng(2312)
    net = MultiLayerNet(10, [8, 8], 4, seed=0, loss=loss, weight_decay_lambda=0.01)
    x = rng.random((5, 10))  # float64 inputs and targets are converted once
    grads = net.gradient(x, t)
    assert all(g.dtype == np.float32 for g in grads.values())
    assert net.predict(x).dtype == np.float32
    # the gradients are the flat buffer's views, in W1, b1, W2, ... order
    np.testing.assert_array_equal(np.concatenate([g.ravel() for g in grads.values()]),
                                  net.flat_grads)
    assert all(np.shares_memory(g, net.flat_grads) for g in grads.values())


def test_float16_network_runs_without_the_kernels():
    """float16 has no numba kernels: the NumPy fallbacks give the float32 answer."""
    x = np.linspace(-1, 1, 12).reshape(4, 3)
    t = np.array([0, 1, 1, 0])
    g16 = MultiLayerNet(3, [4], 2, seed=0, dtype=np.float16).gradient(x, t)
    g32 = MultiLayerNet(3, [4], 2, seed=0, dtype=np.float32).gradient(x, t)
    for k in g32:
        assert g16[k].dtype == np.float16
        np.testing.assert_allclose(g16[k], g32[k], atol=2e-3, err_msg=k)


def test_predict_accuracy_and_buffers():
    rng = np.random.default_rng(3474)
    net = MultiLayerNet(3, [4], 2, seed=1)
    x = rng.standard_normal((6, 3)).astype(np.float32)
    y1 = net.predict(x)
    y2 = net.predict(x[:2])
    np.testing.assert_array_equal(net.predict(x), y1)  # returned arrays are the caller's
    np.testing.assert_array_equal(y1[:2], y2)
    t = y1.argmax(axis=1)
    assert net.accuracy(x, t) == 1.0
    assert net.accuracy(x, np.eye(2)[t]) == 1.0
    assert net.accuracy(x, 1 - t) == 0.0
    assert net.accuracy(x, t, batch_size=4) == 1.0


def test_seed_reproducible_and_params_replaceable():
    rng = np.random.default_rng(4707)
    a, b = MultiLayerNet(3, [4], 2, seed=7), MultiLayerNet(3, [4], 2, seed=7)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    x = rng.standard_normal((2, 3))
    a.params["b2"] = np.array([5.0, -5.0], dtype=np.float32)   # rebinding is honoured
    assert (a.predict(x)[:, 0] > a.predict(x)[:, 1]).all()


@pytest.mark.parametrize("kwargs, culprit", [
    ({"activation": "gelu"}, "activation"),
    ({"loss": "hinge"}, "loss"),
    ({"weight_init_std": "lecun"}, "weight_init_std"),
    ({"weight_decay_lambda": -1.0}, "weight_decay_lambda"),
    ({"dtype": np.int32}, "dtype"),
])
def test_network_bad_arguments(kwargs, culprit):
    with pytest.raises(ValueError, match=culprit):
        MultiLayerNet(3, [4], 2, **kwargs)
    with pytest.raises(ValueError, match="hidden_size_list"):
        MultiLayerNet(3, [4, 0], 2)
    with pytest.raises(ValueError, match="input_size 3"):
        MultiLayerNet(3, [4], 2).predict(np.zeros((2, 5)))


def test_training_with_the_classic_loop():
    """The classic two-spirals-free sanity check: a tiny net learns a separable problem."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 2)).astype(np.float32)
    t = (x[:, 0] + x[:, 1] > 0).astype(int)
    net = MultiLayerNet(2, [8], 2, seed=0)
    opt = optim.create("adam", lr=0.05)
    first = net.loss(x, t)
    for _ in range(100):
        batch = rng.choice(200, 32)
        opt.update(net.params, net.gradient(x[batch], t[batch]))
    assert net.loss(x, t) < first / 4
    assert net.accuracy(x, t) > 0.95


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 5), st.integers(2, 5), st.integers(0, 2**31 - 1))
def test_softmax_ce_gradient_sums_to_zero(n, k, seed):
    """Each row of ∂L/∂x sums to 0 (softmax is shift invariant) and lies in [−1/N, 1/N]."""
    rng = np.random.default_rng(seed)
    layer = SoftmaxWithLoss()
    loss = layer.forward(rng.standard_normal((n, k)) * 10, rng.integers(0, k, n))
    dx = layer.backward()
    assert loss >= 0
    np.testing.assert_allclose(dx.sum(axis=1), 0, atol=1e-12)
    assert np.all(np.abs(dx) <= 1 / n + 1e-12)
