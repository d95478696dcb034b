"""Every "equals Keras / optax with options ..." cell of docs/optimizers.md, against the real
Keras 3 (JAX backend, float64) and optax (JAX x64), through tests/oracles.py.

Each case runs 40 steps of random gradients on a small array; where the cell's form only
matters when the rate changes (a rate inside a momentum buffer), the rate follows an exponential
decay given to both libraries as their own schedule. float64 agreement to 1e-12 relative.
"""

from __future__ import annotations

import numpy as np
import pytest

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
def keras_decay(o, lr):
    return o.keras.optimizers.schedules.ExponentialDecay(lr, decay_steps=1, decay_rate=0.95)


def optax_decay(o, lr):
    """optax counts in int32, which makes its schedules' values float32; the count is cast to
    int64 here so that the rate is float64 like everything else."""
    schedule = o.optax.exponential_decay(lr, transition_steps=1, decay_rate=0.95)
    return lambda count: schedule(count.astype(o.jnp.int64))


def our_decay(lr):
    return S.ExponentialDecay(lr, 0.95)


# (id, Keras optimizer from the oracle module, ours) — the Keras column of the table.
K = "keras"
KERAS_CELLS = [
    # Keras's SGD default rate is the textbook's 0.01; descentlab's is PyTorch's 1e-3
    ("SGD-lr=0.01", lambda o: o.keras.optimizers.SGD(), lambda: optim.SGD(0.01)),
    ("Momentum-lr_in_buffer", lambda o: o.keras.optimizers.SGD(keras_decay(o, 0.05), 0.8),
     lambda: optim.Momentum(our_decay(0.05), 0.8, lr_in_buffer=True)),
    ("Nesterov-lr_in_buffer",
     lambda o: o.keras.optimizers.SGD(keras_decay(o, 0.05), 0.8, nesterov=True),
     lambda: optim.Nesterov(our_decay(0.05), 0.8, lr_in_buffer=True)),
    ("AdaGrad", lambda o: o.keras.optimizers.Adagrad(),
     lambda: optim.AdaGrad(0.001, 1e-7, initial_accumulator_value=0.1, eps_mode="inside")),
    ("RMSprop", lambda o: o.keras.optimizers.RMSprop(),
     lambda: optim.RMSprop(0.001, 0.9, 1e-7, eps_mode="inside", lr_in_buffer=True)),
    ("RMSprop-momentum-centered",
     lambda o: o.keras.optimizers.RMSprop(keras_decay(o, 0.01), momentum=0.7, centered=True),
     lambda: optim.RMSprop(our_decay(0.01), 0.9, 1e-7, 0.7, True, eps_mode="inside",
                           lr_in_buffer=True)),
    ("RMSprop-momentum", lambda o: o.keras.optimizers.RMSprop(keras_decay(o, 0.01), momentum=0.5),
     lambda: optim.RMSprop(our_decay(0.01), 0.9, 1e-7, 0.5, eps_mode="inside",
                           lr_in_buffer=True)),
    ("Adadelta", lambda o: o.keras.optimizers.Adadelta(),
     lambda: optim.Adadelta(0.001, 0.95, 1e-7)),
    ("Adam", lambda o: o.keras.optimizers.Adam(),
     lambda: optim.Adam(eps=1e-7, eps_mode="uncorrected")),
    ("Adam-schedule", lambda o: o.keras.optimizers.Adam(keras_decay(o, 0.02), 0.8, 0.99),
     lambda: optim.Adam(our_decay(0.02), 0.8, 0.99, 1e-7, eps_mode="uncorrected")),
    ("AMSGrad", lambda o: o.keras.optimizers.Adam(0.01, beta_2=0.99, amsgrad=True),
     lambda: optim.Adam(0.01, beta2=0.99, eps=1e-7, amsgrad=True, eps_mode="uncorrected")),
    ("AdamW", lambda o: o.keras.optimizers.AdamW(),
     lambda: optim.AdamW(weight_decay=0.004, eps=1e-7, eps_mode="uncorrected")),
    ("AdamW-large-decay", lambda o: o.keras.optimizers.AdamW(0.01, weight_decay=0.5),
     lambda: optim.AdamW(0.01, weight_decay=0.5, eps=1e-7, eps_mode="uncorrected")),
    ("Nadam", lambda o: o.keras.optimizers.Nadam(),
     lambda: optim.Nadam(0.001, eps=1e-7, momentum_decay=1.0)),
    ("Adamax", lambda o: o.keras.optimizers.Adamax(),
     lambda: optim.Adamax(0.001, eps=1e-7, eps_mode="outside")),
    ("SGD-weight_decay", lambda o: o.keras.optimizers.SGD(0.05, weight_decay=0.1),
     lambda: optim.SGD(0.05, weight_decay=0.1, decoupled_weight_decay=True)),
    ("SGD-clipvalue", lambda o: o.keras.optimizers.SGD(0.1, clipvalue=0.5),
     lambda: optim.SGD(0.1, clip_value=0.5)),
    ("SGD-clipnorm", lambda o: o.keras.optimizers.SGD(0.1, clipnorm=1.5),
     lambda: optim.SGD(0.1, clip_norm=1.5, clip_eps=0.0)),
    ("Adam-clipnorm", lambda o: o.keras.optimizers.Adam(0.1, clipnorm=1.5),
     lambda: optim.Adam(0.1, eps=1e-7, eps_mode="uncorrected", clip_norm=1.5, clip_eps=0.0)),
]

# The optax column.
OPTAX_CELLS = [
    ("SGD-defaults", lambda o: o.optax.sgd(0.01), lambda: optim.SGD(0.01)),
    ("Momentum", lambda o: o.optax.sgd(optax_decay(o, 0.05), momentum=0.8),
     lambda: optim.Momentum(our_decay(0.05), 0.8)),
    ("Nesterov", lambda o: o.optax.sgd(optax_decay(o, 0.05), momentum=0.8, nesterov=True),
     lambda: optim.Nesterov(our_decay(0.05), 0.8)),
    ("AdaGrad", lambda o: o.optax.adagrad(0.1),
     lambda: optim.AdaGrad(0.1, 1e-7, initial_accumulator_value=0.1, eps_mode="inside")),
    ("RMSprop", lambda o: o.optax.rmsprop(optax_decay(o, 0.01)),
     lambda: optim.RMSprop(our_decay(0.01), 0.9, eps_mode="inside")),
    ("RMSprop-momentum", lambda o: o.optax.rmsprop(optax_decay(o, 0.01), momentum=0.6),
     lambda: optim.RMSprop(our_decay(0.01), 0.9, momentum=0.6, eps_mode="inside",
                           lr_in_buffer=True)),
    ("RMSprop-centered", lambda o: o.optax.rmsprop(0.01, centered=True),
     lambda: optim.RMSprop(0.01, 0.9, centered=True, eps_mode="inside")),
    ("Adadelta", lambda o: o.optax.adadelta(0.5),
     lambda: optim.Adadelta(0.5, 0.9, 1e-6)),
    ("Adam", lambda o: o.optax.adam(optax_decay(o, 0.02)), lambda: optim.Adam(our_decay(0.02))),
    ("AMSGrad", lambda o: o.optax.amsgrad(0.01),
     lambda: optim.Adam(0.01, amsgrad=True, amsgrad_on="v_hat")),
    ("AdamW", lambda o: o.optax.adamw(0.01), lambda: optim.AdamW(0.01, weight_decay=1e-4)),
    ("AdamW-large-decay", lambda o: o.optax.adamw(0.01, weight_decay=0.5),
     lambda: optim.AdamW(0.01, weight_decay=0.5)),
    ("Adamax", lambda o: o.optax.adamax(0.01), lambda: optim.Adamax(0.01)),
]


@pytest.mark.parametrize("theirs, ours", [c[1:] for c in KERAS_CELLS],
                         ids=[c[0] for c in KERAS_CELLS])
def test_keras_cell(oracle, theirs, ours):
    seed = len(str(ours))
    p0, gs = start(seed), gradients(seed)
    oracle.assert_close(oracle.history(ours(), p0, gs), oracle.keras_run(theirs(oracle), p0, gs))


@pytest.mark.parametrize("theirs, ours", [c[1:] for c in OPTAX_CELLS],
                         ids=[c[0] for c in OPTAX_CELLS])
def test_optax_cell(oracle, theirs, ours):
    seed = 7
    p0, gs = start(seed), gradients(seed)
    oracle.assert_close(oracle.history(ours(), p0, gs), oracle.optax_run(theirs(oracle), p0, gs))


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
