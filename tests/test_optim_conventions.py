"""The textbook and course-notes forms, each against a loop written out here by hand (no
descentlab code in the reference loops). The Keras and optax forms are tested against the real
libraries in tests/test_reference_cells.py (the cells declared on the classes)."""

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


def test_rmsprop_textbook():
    """Classic textbook code: h = 0.99h + 0.01g², p −= lr·g/(√h + 1e-7)."""
    gs = grads_sequence(8)
    p, h = P0.copy(), np.zeros(7)
    for g in gs:
        h *= 0.99
        h += (1 - 0.99) * g * g
        p -= 0.01 * g / (np.sqrt(h) + 1e-7)
    np.testing.assert_allclose(run(optim.RMSprop(0.01, eps=1e-7), P0, gs), p, rtol=1e-12)


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
