"""Lookahead, EMA and gradient accumulation against optax's lookahead / ema / MultiSteps and
Keras's use_ema / gradient_accumulation_steps (the real libraries, tests/oracles.py); resume,
checkpoints and bad input."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from helpers import assert_same

from descentlab import optim
from descentlab import schedules as S
from descentlab.errors import DescentlabError, FileFormatError, InputError
from descentlab.optim.wrappers import EMA, Accumulate, Lookahead

STEPS = 30
SHAPE = (2, 5)


def gradients(seed, steps=STEPS, shape=SHAPE):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for _ in range(steps)]


def start(seed):
    return np.random.default_rng(100 + seed).uniform(-1, 1, SHAPE)


def keras_adam(o, **kw):
    return o.keras.optimizers.Adam(0.05, **kw)


def our_adam(**kw):
    return optim.Adam(0.05, eps=1e-7, eps_mode="uncorrected", **kw)


# ------------------------------------------------------------------ against the references
@pytest.mark.parametrize("reset_state", [False, True])
def test_lookahead_equals_optax(oracle, reset_state):
    o, p0, gs = oracle, start(1), gradients(1)
    theirs = o.optax_run(o.optax.lookahead(o.optax.adam(0.05), 4, 0.3, reset_state), p0, gs,
                         init=o.optax.LookaheadParams.init_synced,
                         params_of=lambda lp: lp.fast)
    ours = o.history(Lookahead(optim.Adam(0.05), 4, 0.3, reset_state=reset_state), p0, gs)
    o.assert_close(ours, theirs)
    assert not np.allclose(ours, o.history(optim.Adam(0.05), p0, gs))


def test_ema_equals_keras(oracle):
    """Keras use_ema: the average after every update, overwrite every 4th."""
    o, p0, gs = oracle, start(2), gradients(2)
    keras_opt = keras_adam(o, use_ema=True, ema_momentum=0.8, ema_overwrite_frequency=4)
    params, variables = o.keras_run(keras_opt, p0, gs, with_variables=True)
    index = [id(v) for v in keras_opt.variables].index(
        id(keras_opt._model_variables_moving_average[0]))
    opt = EMA(our_adam(), 0.8, overwrite_every=4)
    p = p0.copy()
    for t, g in enumerate(gs):
        opt.update(p, g)
        o.assert_close(p, params[t])
        o.assert_close(opt.average()[""], variables[index][t])
    no_overwrite = o.keras_run(keras_adam(o, use_ema=True), p0, gs)
    o.assert_close(o.history(EMA(our_adam()), p0, gs), no_overwrite)
    # without overwrites θ is untouched by the average
    o.assert_close(no_overwrite, o.keras_run(keras_adam(o), p0, gs))


@pytest.mark.parametrize("debias", [False, True])
def test_ema_equals_optax_ema_of_the_parameters(oracle, debias):
    o, p0, gs = oracle, start(3), gradients(3)
    opt = EMA(optim.Adam(0.05), 0.9, init="zero", debias=debias)
    p, thetas, averages = p0.copy(), [], []
    for g in gs:
        opt.update(p, g)
        thetas.append(p.copy())
        averages.append(opt.average()[""])
    ema = o.optax.ema(0.9, debias=debias)

    def body(state, theta):
        out, state = ema.update(theta, state)
        return state, out

    state = ema.init(o.jnp.asarray(p0))
    _, theirs = o.jax.lax.scan(body, state, o.jnp.asarray(np.array(thetas)))
    o.assert_close(np.array(averages), np.asarray(theirs))


@pytest.mark.parametrize("k", [1, 3])
def test_accumulate_equals_keras(oracle, k):
    """Keras gradient_accumulation_steps=k (k=1 is refused by Keras: plain Adam), clipnorm on
    the averaged gradient. Keras calls a rate schedule with the micro-step count (its
    ``_iterations``, k·n + k − 1 at the n-th update), not with ``iterations`` = updates as its
    docs say: lr·0.9^(k·n + k − 1) is given to the inner optimizer in its own count n."""
    o, p0, gs = oracle, start(4), gradients(4)
    sched = o.keras.optimizers.schedules.ExponentialDecay(np.float64(0.05), 1, 0.9)
    kw = {"gradient_accumulation_steps": k} if k > 1 else {}
    theirs = o.keras_run(o.keras.optimizers.Adam(sched, clipnorm=0.5, **kw), p0, gs)
    inner = optim.Adam(S.ExponentialDecay(0.05 * 0.9 ** (k - 1), 0.9**k), eps=1e-7,
                       eps_mode="uncorrected", clip_norm=0.5, clip_eps=0.0)
    opt = Accumulate(inner, k)
    o.assert_close(o.history(opt, p0, gs), theirs)
    assert inner.step == STEPS // k and opt.step == STEPS


@pytest.mark.parametrize("average, mean", [("running_mean", True), ("sum", False)])
def test_accumulate_equals_optax_multisteps(oracle, average, mean):
    """optax stores its accumulator in float32 unless told otherwise (even in x64 mode);
    descentlab keeps it in the parameters' dtype, so optax gets accumulator_dtype=float64."""
    o, p0, gs = oracle, start(5), gradients(5)
    tx = o.optax.MultiSteps(o.optax.adam(0.05), every_k_schedule=4, use_grad_mean=mean,
                            accumulator_dtype=o.jnp.float64)
    theirs = o.optax_run(tx.gradient_transformation(), p0, gs)
    o.assert_close(o.history(Accumulate(optim.Adam(0.05), 4, average=average), p0, gs), theirs)


# ------------------------------------------------------------------ checkpoints and resume
def wrappers():
    return [
        ("lookahead", lambda: Lookahead(optim.Adam(0.05), 4, 0.3)),
        ("lookahead-reset", lambda: Lookahead(optim.Nadam(0.05), 3, 0.5, reset_state=True)),
        ("ema", lambda: EMA(optim.Adam(0.05), 0.8, overwrite_every=5)),
        ("ema-zero", lambda: EMA(optim.RMSprop(0.01), 0.9, init="zero", debias=True)),
        ("accumulate", lambda: Accumulate(optim.Momentum(0.05, 0.9), 3)),
        ("nested", lambda: EMA(Accumulate(Lookahead(optim.Adam(0.05), 2), 2), 0.5)),
    ]


@pytest.mark.parametrize("make", [w[1] for w in wrappers()], ids=[w[0] for w in wrappers()])
def test_resume_is_bit_identical(make, tmp_path):
    gs = gradients(6, 23)
    p0 = {"w": start(6), "b": np.zeros(3), "s": 0.5}
    gs = [{"w": g, "b": g[0, :3], "s": float(g[1, 0])} for g in gs]

    def fresh():
        return {"w": p0["w"].copy(), "b": p0["b"].copy(), "s": p0["s"]}

    straight, p = make(), fresh()
    for g in gs:
        straight.update(p, g)
    first, q = make(), fresh()
    for g in gs[:11]:
        first.update(q, g)
    first.save(tmp_path / "ckpt.npz")
    resumed = make()
    resumed.load(tmp_path / "ckpt.npz")
    for g in gs[11:]:
        resumed.update(q, g)
    assert_same(q, p, "params")
    assert_same(resumed.state_dict(), straight.state_dict(), "state_dict")
    # and the in-memory round trip
    again = make()
    again.load_state_dict(first.state_dict())
    assert again.step == first.step == 11


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("build, words", [
    (lambda: Lookahead(optim.SGD(), sync_period=0), "sync_period"),
    (lambda: Lookahead(optim.SGD(), sync_period=2.0), "sync_period"),
    (lambda: Lookahead(optim.SGD(), slow_step_size=1.5), "slow_step_size"),
    (lambda: Lookahead(optim.SGD(), reset_state="no"), "reset_state"),
    (lambda: EMA(optim.SGD(), momentum=-0.1), "momentum"),
    (lambda: EMA(optim.SGD(), init="last"), "init"),
    (lambda: EMA(optim.SGD(), debias=True), "debias"),
    (lambda: EMA(optim.SGD(), overwrite_every=0), "overwrite_every"),
    (lambda: Accumulate(optim.SGD(), steps=0), "steps"),
    (lambda: Accumulate(optim.SGD(), steps=True), "steps"),
    (lambda: Accumulate(optim.SGD(), average="median"), "average"),
    (lambda: Accumulate("adam"), "wraps an optimizer"),
    (lambda: Lookahead(EMA(optim.SGD()), reset_state=True), "reset_state"),
])
def test_bad_settings_are_refused_by_name(build, words):
    with pytest.raises(DescentlabError, match=words):
        build()


@pytest.mark.parametrize("make", [w[1] for w in wrappers()], ids=[w[0] for w in wrappers()])
def test_failed_update_changes_nothing(make):
    opt, p = make(), {"w": start(7), "b": np.zeros(3)}
    for g in gradients(7, 5):
        opt.update(p, {"w": g, "b": g[0, :3]})
    before_p = {k: v.copy() for k, v in p.items()}
    before = copy.deepcopy(opt.state_dict())  # a copy: the live state must not change
    bad = {"w": np.full(SHAPE, np.nan), "b": np.zeros(3)}
    with pytest.raises(FloatingPointError, match="'w'"):  # NonFiniteError ⊂ it
        opt.update(p, bad)
    with pytest.raises(ValueError, match="'b'"):
        opt.update(p, {"w": np.zeros(SHAPE), "b": np.zeros(4)})
    with pytest.raises(KeyError):
        opt.update(p, {"w": np.zeros(SHAPE)})
    assert_same(p, before_p, "params")
    assert_same(opt.state_dict(), before, "state_dict")


def test_strict_loading(tmp_path):
    opt, p = Lookahead(optim.Adam(0.05), 4), start(8)
    for g in gradients(8, 6):
        opt.update(p, g)
    d = opt.state_dict()
    with pytest.raises(InputError, match="sync_period"):
        Lookahead(optim.Adam(0.05), 5).load_state_dict(d)
    with pytest.raises(InputError, match="lookahead"):
        EMA(optim.Adam(0.05)).load_state_dict(d)
    wrong = {**d, "slots": {"slow": {"": np.zeros((3, 3))}}}
    target = Lookahead(optim.Adam(0.05), 4)
    with pytest.raises(InputError, match="shape"):
        target.load_state_dict(wrong)
    with pytest.raises(InputError, match="since_sync"):
        target.load_state_dict({**d, "counters": {"since_sync": 4}})
    with pytest.raises(ValueError, match="optimizer"):  # the inner optimizer is checked too
        target.load_state_dict({**d, "inner": optim.SGD().state_dict()})
    assert target.step == 0 and not target.buffers["slow"] and target.inner.step == 0
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(FileFormatError, match="junk.npz"):
        target.load(tmp_path / "junk.npz")


def test_hyperparameters_go_to_the_inner_optimizer():
    opt = Accumulate(optim.Adam(0.1), 2)
    opt.lr = 0.01
    assert opt.inner.lr == 0.01 and opt.lr == 0.01 and opt.beta2 == 0.999
    with pytest.raises(ValueError, match="lr"):
        opt.lr = -1.0
    assert opt.inner.lr == 0.01


def test_skip_policy_on_a_micro_step():
    opt, p = Accumulate(optim.SGD(1.0, nonfinite="skip"), 2), np.zeros(2)
    with pytest.warns(RuntimeWarning, match="skipped"):
        opt.update(p, np.array([np.inf, 0.0]))
    opt.update(p, np.array([1.0, 1.0]))
    opt.update(p, np.array([3.0, 1.0]))
    assert p.tolist() == [-2.0, -1.0] and opt.inner.skipped_steps == 1 and opt.step == 2


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_random_settings_against_optax(oracle, seed):
    """Random shape, inner rate, sync period / slow step / k: Lookahead and MultiSteps."""
    o, rng = oracle, np.random.default_rng(seed)
    shape = tuple(int(n) for n in rng.integers(1, 5, size=int(rng.integers(1, 3))))
    lr, k, alpha = float(rng.uniform(0.005, 0.1)), int(rng.integers(2, 6)), float(rng.uniform())
    p0 = rng.uniform(-1, 1, shape)
    gs = [rng.standard_normal(shape) for _ in range(STEPS)]
    theirs = o.optax_run(o.optax.lookahead(o.optax.adam(lr), k, alpha), p0, gs,
                         init=o.optax.LookaheadParams.init_synced, params_of=lambda lp: lp.fast)
    o.assert_close(o.history(Lookahead(optim.Adam(lr), k, alpha), p0, gs), theirs)
    tx = o.optax.MultiSteps(o.optax.sgd(lr, momentum=0.9), k, accumulator_dtype=o.jnp.float64)
    theirs = o.optax_run(tx.gradient_transformation(), p0, gs)
    ours = Accumulate(optim.Momentum(lr, 0.9), k, average="running_mean")
    o.assert_close(o.history(ours, p0, gs), theirs)
