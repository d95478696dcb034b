"""Keras 3 (JAX backend, float64) and optax (JAX x64) beyond the table's cells, through
tests/oracles.py: the cells that were wrong before, with their old options, differ from the
libraries (so the cells test something), and Keras's ``global_clipnorm`` over two arrays.

The cells themselves ("equals Keras / optax with options ...") are declared on the optimizer
classes (``references``) and run by tests/test_reference_cells.py.
"""

from __future__ import annotations

import numpy as np

from descentlab import optim
from descentlab import schedules as S

STEPS = 40
SHAPE = (3, 4)


def gradients(seed, shape=SHAPE, steps=STEPS):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for _ in range(steps)]


def start(seed, shape=SHAPE):
    return np.random.default_rng(1000 + seed).uniform(-2, 2, shape)


# A changing rate: lr·0.95ⁿ in each library's own vocabulary.
def optax_decay(o, lr):
    """optax counts in int32, which makes its schedules' values float32; the count is cast to
    int64 here so that the rate is float64 like everything else."""
    schedule = o.optax.exponential_decay(lr, transition_steps=1, decay_rate=0.95)
    return lambda count: schedule(count.astype(o.jnp.int64))


def our_decay(lr):
    return S.ExponentialDecay(lr, 0.95)


def test_the_four_corrected_cells_were_wrong(oracle):
    """The cells that disagreed with the real libraries, with their old options: each now
    differs from the library, so the corrected cells above test something."""
    p0, gs = start(3), gradients(3)
    old_adagrad = optim.AdaGrad(eps=1e-7, initial_accumulator_value=0.1, eps_mode="inside")
    keras = oracle.keras_run(oracle.keras.optimizers.Adagrad(), p0, gs)
    assert np.max(np.abs(oracle.history(old_adagrad, p0, gs) - keras)) > 1e-3
    old_rms = optim.RMSprop(rho=0.9, eps=1e-7, eps_mode="inside", lr_in_buffer=True)
    keras = oracle.keras_run(oracle.keras.optimizers.RMSprop(), p0, gs)
    assert np.max(np.abs(oracle.history(old_rms, p0, gs) - keras)) > 1e-3
    old_optax_rms = optim.RMSprop(our_decay(0.01), 0.9, momentum=0.6, eps_mode="inside")
    theirs = oracle.optax_run(oracle.optax.rmsprop(optax_decay(oracle, 0.01), momentum=0.6),
                              p0, gs)
    assert np.max(np.abs(oracle.history(old_optax_rms, p0, gs) - theirs)) > 1e-4
    counts = oracle.optax_values(
        oracle.optax.piecewise_constant_schedule(1.0, {5: 0.5}), 8)
    assert [S.PiecewiseConstant([5], [1.0, 0.5], "old")(n) for n in range(8)] != list(counts)


def test_global_clipnorm_two_arrays(oracle):
    """Keras ``global_clipnorm`` over two variables = ``clip_global_norm`` with clip_eps=0."""
    rng = np.random.default_rng(5)
    p0 = {"a": rng.standard_normal(5), "b": rng.standard_normal((2, 3))}
    gs = [{"a": 2 * rng.standard_normal(5), "b": rng.standard_normal((2, 3))}
          for _ in range(STEPS)]
    theirs = oracle.keras_run(oracle.keras.optimizers.SGD(0.1, global_clipnorm=1.0), p0, gs)
    opt = optim.SGD(0.1, clip_global_norm=1.0, clip_eps=0.0)
    p = {k: v.copy() for k, v in p0.items()}
    for t, g in enumerate(gs):
        opt.update(p, g)
        for k in p:
            oracle.assert_close(p[k], theirs[k][t])
    # With torch's 1e-6 the two differ, by a little.
    torch_form = optim.SGD(0.1, clip_global_norm=1.0)
    q = {k: v.copy() for k, v in p0.items()}
    for g in gs:
        torch_form.update(q, g)
    assert not np.array_equal(q["a"], p["a"])
