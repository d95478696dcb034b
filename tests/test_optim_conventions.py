"""The Keras, optax and textbook forms, each against a loop written out here by hand from that
library's documented rule (no descentlab code in the reference loops)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from descentlab import optim

STEPS = 60


def grads_sequence(seed, shape=(7,)):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for _ in range(STEPS)]


def run(opt, p0, gs, lrs=None):
    p = p0.copy()
    for t, g in enumerate(gs):
        if lrs is not None:
            opt.lr = lrs[t]
        opt.update(p, g)
    return p


P0 = np.linspace(-1.5, 2.0, 7)


def test_e4_adam_by_hand():
    """E4: f = x·y from (1, 2), lr 1, β1 = β2 = 1/2, ε → 0 (1e-300 underflows against v̂)."""
    params = {"x": 1.0, "y": 2.0}
    opt = optim.Adam(1.0, 0.5, 0.5, eps=1e-300)
    opt.update(params, {"x": params["y"], "y": params["x"]})
    assert params == {"x": 0.0, "y": 1.0}
    np.testing.assert_allclose([opt.state["x"]["m"], opt.state["y"]["m"]], [1, 0.5], rtol=1e-12)
    np.testing.assert_allclose([opt.state["x"]["v"], opt.state["y"]["v"]], [2, 0.5], rtol=1e-12)
    opt.update(params, {"x": params["y"], "y": params["x"]})
    np.testing.assert_allclose([opt.state["x"]["m"], opt.state["y"]["m"]], [1, 0.25])
    np.testing.assert_allclose([opt.state["x"]["v"], opt.state["y"]["v"]], [1.5, 0.25])
    assert abs(params["x"] - (-2 * math.sqrt(2) / 3)) < 1e-12
    assert abs(params["y"] - (1 - math.sqrt(3) / 3)) < 1e-12


def test_keras_textbook_adam():
    """Keras / classic textbook: α = lr·√(1−β2ᵗ)/(1−β1ᵗ), p −= α·m/(√v + ε)."""
    gs = grads_sequence(1)
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    p, m, v = P0.copy(), np.zeros(7), np.zeros(7)
    for t, g in enumerate(gs, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        p = p - alpha * m / (np.sqrt(v) + eps)
    ours = run(optim.Adam(lr, b1, b2, eps, eps_mode="uncorrected"), P0, gs)
    np.testing.assert_allclose(ours, p, rtol=1e-12)


def test_keras_amsgrad_on_raw_v_uncorrected():
    gs = grads_sequence(2)
    lr, b1, b2, eps = 0.01, 0.9, 0.99, 1e-7
    p, m, v, vmax = P0.copy(), np.zeros(7), np.zeros(7), np.zeros(7)
    for t, g in enumerate(gs, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        vmax = np.maximum(vmax, v)
        alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        p = p - alpha * m / (np.sqrt(vmax) + eps)
    ours = run(optim.Adam(lr, b1, b2, eps, amsgrad=True, eps_mode="uncorrected"), P0, gs)
    np.testing.assert_allclose(ours, p, rtol=1e-12)


def test_adam_eps_inside_root():
    gs = grads_sequence(3)
    lr, b1, b2, eps = 0.02, 0.8, 0.99, 1e-4
    p, m, v = P0.copy(), np.zeros(7), np.zeros(7)
    for t, g in enumerate(gs, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        p = p - lr * (m / (1 - b1**t)) / np.sqrt(v / (1 - b2**t) + eps)
    ours = run(optim.Adam(lr, b1, b2, eps, eps_mode="inside"), P0, gs)
    np.testing.assert_allclose(ours, p, rtol=1e-12)


def test_amsgrad_on_v_hat_optax():
    """optax.amsgrad: ν̂ = bias-corrected ν, ν_max = max(ν_max, ν̂), p −= lr·m̂/(√ν_max + ε)."""
    gs = grads_sequence(4)
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    p, m, v, vmax = P0.copy(), np.zeros(7), np.zeros(7), np.zeros(7)
    for t, g in enumerate(gs, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        vmax = np.maximum(vmax, v / (1 - b2**t))
        p = p - lr * (m / (1 - b1**t)) / (np.sqrt(vmax) + eps)
    ours = run(optim.Adam(lr, b1, b2, eps, amsgrad=True, amsgrad_on="v_hat"), P0, gs)
    np.testing.assert_allclose(ours, p, rtol=1e-12)


@pytest.mark.parametrize("nesterov", [False, True])
def test_textbook_momentum_with_changing_rate(nesterov):
    """Keras/textbook v = μv − lr·g, p += v (Nesterov: p += μv − lr·g). At a changing rate it
    differs from PyTorch's b = μb + g, p −= lr·b; at a constant rate they agree."""
    gs = grads_sequence(5)
    lrs = [0.1 * 0.95**t for t in range(STEPS)]
    mu = 0.9
    p, vel = P0.copy(), np.zeros(7)
    for lr, g in zip(lrs, gs):
        vel = mu * vel - lr * g
        p = p + (mu * vel - lr * g if nesterov else vel)
    textbook = run(optim.Momentum(momentum=mu, nesterov=nesterov, lr_in_buffer=True), P0, gs,
                   lrs)
    np.testing.assert_allclose(textbook, p, rtol=1e-12)
    pytorch_form = run(optim.Momentum(momentum=mu, nesterov=nesterov), P0, gs, lrs)
    assert np.max(np.abs(pytorch_form - textbook)) > 1e-3
    same_rate = [run(optim.Momentum(0.05, mu, nesterov=nesterov, lr_in_buffer=b), P0, gs)
                 for b in (False, True)]
    np.testing.assert_allclose(same_rate[0], same_rate[1], rtol=1e-10)


def test_course_notes_momentum_is_dampening():
    """Course notes: v = βv + (1 − β)g, p −= lr·v is dampening=β. PyTorch (and so descentlab)
    starts the buffer at b₁ = g₁ where the notes have v₁ = (1 − β)g₁; the loop starts at g₁."""
    gs = grads_sequence(6)
    beta, lr = 0.9, 0.1
    p, v = P0.copy(), gs[0].copy()
    p = p - lr * v
    for g in gs[1:]:
        v = beta * v + (1 - beta) * g
        p = p - lr * v
    ours = run(optim.Momentum(lr, beta, dampening=beta), P0, gs)
    np.testing.assert_allclose(ours, p, rtol=1e-12)


@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_keras_rmsprop(centered, momentum):
    """Keras RMSprop: ε inside the root, rate inside the momentum buffer, ρ = 0.9."""
    gs = grads_sequence(7)
    lr, rho, eps = 0.01, 0.9, 1e-7
    p, s, gbar, buf = P0.copy(), np.zeros(7), np.zeros(7), np.zeros(7)
    for g in gs:
        s = rho * s + (1 - rho) * g**2
        denominator = s
        if centered:
            gbar = rho * gbar + (1 - rho) * g
            denominator = s - gbar**2
        increment = lr * g / np.sqrt(denominator + eps)
        if momentum:
            buf = momentum * buf + increment
            p = p - buf
        else:
            p = p - increment
    ours = run(optim.RMSprop(lr, rho, eps, momentum, centered, eps_mode="inside",
                             lr_in_buffer=True), P0, gs)
    np.testing.assert_allclose(ours, p, rtol=1e-12)


def test_rmsprop_textbook():
    """Classic textbook code: h = 0.99h + 0.01g², p −= lr·g/(√h + 1e-7)."""
    gs = grads_sequence(8)
    p, h = P0.copy(), np.zeros(7)
    for g in gs:
        h *= 0.99
        h += (1 - 0.99) * g * g
        p -= 0.01 * g / (np.sqrt(h) + 1e-7)
    np.testing.assert_allclose(run(optim.RMSprop(0.01, eps=1e-7), P0, gs), p, rtol=1e-12)


def test_adagrad_keras_optax():
    """Keras/optax AdaGrad: accumulator starts at 0.1, ε inside the root."""
    gs = grads_sequence(9)
    lr, eps = 0.1, 1e-7
    p, acc = P0.copy(), np.full(7, 0.1)
    for g in gs:
        acc = acc + g**2
        p = p - lr * g / np.sqrt(acc + eps)
    ours = run(optim.AdaGrad(lr, eps, initial_accumulator_value=0.1, eps_mode="inside"), P0, gs)
    np.testing.assert_allclose(ours, p, rtol=1e-12)


def test_nadam_keras_schedule():
    """Keras NAdam: u_t = β1(1 − ½·0.96ᵗ), written out from Keras's update step."""
    gs = grads_sequence(10)
    lr, b1, b2, eps = 0.001, 0.9, 0.999, 1e-7
    p, m, v, u_product = P0.copy(), np.zeros(7), np.zeros(7), 1.0
    for t, g in enumerate(gs, start=1):
        u_t = b1 * (1 - 0.5 * 0.96**t)
        u_t1 = b1 * (1 - 0.5 * 0.96 ** (t + 1))
        u_product_t = u_product * u_t
        u_product_t1 = u_product_t * u_t1
        u_product = u_product_t
        m = m + (g - m) * (1 - b1)
        v = v + (g**2 - v) * (1 - b2)
        m_hat = u_t1 * m / (1 - u_product_t1) + (1 - u_t) * g / (1 - u_product_t)
        v_hat = v / (1 - b2**t)
        p = p - m_hat * lr / (np.sqrt(v_hat) + eps)
    ours = run(optim.Nadam(lr, b1, b2, eps, momentum_decay=1.0), P0, gs)
    np.testing.assert_allclose(ours, p, rtol=1e-12)


def test_adamax_keras_eps():
    gs = grads_sequence(11)
    lr, b1, b2, eps = 0.001, 0.9, 0.999, 1e-7
    p, m, u = P0.copy(), np.zeros(7), np.zeros(7)
    for t, g in enumerate(gs, start=1):
        m = m + (g - m) * (1 - b1)
        u = np.maximum(b2 * u, np.abs(g))
        p = p - (lr / (1 - b1**t)) * m / (u + eps)
    ours = run(optim.Adamax(lr, b1, b2, eps, eps_mode="outside"), P0, gs)
    np.testing.assert_allclose(ours, p, rtol=1e-12)


@pytest.mark.parametrize("name", ["sgd", "momentum", "rmsprop", "adagrad", "adadelta"])
def test_decoupled_weight_decay_any_optimizer(name):
    """Decoupled decay p ← p(1 − lr·wd) before the rule, on an optimizer without it in PyTorch:
    equal to the plain rule applied to the decayed parameters, step by step."""
    gs = grads_sequence(12)
    wd = 0.1
    decayed = optim.create(name, weight_decay=wd, decoupled_weight_decay=True)
    plain = optim.create(name)
    p_ours, p_ref = P0.copy(), P0.copy()
    for g in gs:
        decayed.update(p_ours, g)
        p_ref *= 1 - plain.lr * wd
        plain.update(p_ref, g)
    np.testing.assert_allclose(p_ours, p_ref, rtol=1e-12)
    assert not np.allclose(p_ours, run(optim.create(name), P0, gs))
