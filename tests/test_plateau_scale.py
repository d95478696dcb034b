"""PlateauScale against optax 0.2.8's ``contrib.reduce_on_plateau`` (JAX x64): for random
options and loss sequences with declines, noisy plateaus and exact repeats, the scale after
every reported value is optax's, bit for bit. Plus checkpoints through an optimizer and bad
input."""

from __future__ import annotations

import copy

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from optax import contrib

from descentlab import optim
from descentlab.errors import InputError, InputTypeError
from descentlab.schedules import ExponentialDecay, PlateauScale, ReduceOnPlateau

jax.config.update("jax_platforms", "cpu")


def optax_scales(values, **options):
    """optax's scale after each value (its transformation run on a dummy update)."""
    tx = contrib.reduce_on_plateau(**options)
    with jax.enable_x64(True):
        params = {"w": jnp.zeros(1, jnp.float64)}
        state = tx.init(params)
        step = jax.jit(lambda s, v: tx.update(params, s, value=v)[1])
        out = []
        for v in values:
            state = step(state, jnp.float64(v))
            out.append(float(state.scale))
    return out


def losses(rng, segments=14):
    """Declines, noisy plateaus and exactly repeated values, in random order and lengths."""
    level, out = 10.0, []
    for _ in range(segments):
        kind, length = int(rng.integers(3)), int(rng.integers(3, 25))
        for _ in range(length):
            if kind == 0:
                level *= float(np.exp(-rng.uniform(0.0, 0.2)))
                out.append(level)
            elif kind == 1:
                out.append(level * (1 + float(rng.uniform(-0.01, 0.01))))
            else:
                out.append(level)
    return out


def options(rng):
    rtol = float(rng.choice([0.0, 1e-4, rng.uniform(0.0, 0.05)]))
    atol = float(rng.choice([0.0, rng.uniform(0.0, 0.1)])) if rtol else float(
        rng.uniform(1e-3, 0.1))
    return dict(factor=float(rng.uniform(0.1, 0.9)), patience=int(rng.integers(0, 7)),
                rtol=rtol, atol=atol, cooldown=int(rng.integers(0, 5)),
                accumulation_size=int(rng.integers(1, 5)),
                min_scale=float(rng.choice([0.0, rng.uniform(0.0, 0.3)])))


@pytest.mark.parametrize("seed", range(10))
def test_scale_sequence_equals_optax(seed):
    rng = np.random.default_rng(seed)
    kw, values = options(rng), losses(rng)
    expected = optax_scales(values, **kw)
    ours, lr = PlateauScale(0.5, **kw), 0.5
    got = []
    for v in values:
        ours.report(v)
        got.append(ours(0) / lr)
    assert got == expected, kw
    assert len(set(expected)) > 1 or kw["min_scale"] >= 1 or kw["patience"] == 0, \
        f"the sequence never cut the scale: {kw}"


def test_the_defaults_and_every_option_at_an_edge():
    """optax's defaults; rtol = 1 (its (1 − rtol)·inf is nan: never an improvement);
    min_scale above 1 (the scale jumps to it at the first average)."""
    rng = np.random.default_rng(42)
    values = losses(rng, 30)
    for kw in ({}, {"rtol": 1.0, "patience": 2}, {"min_scale": 1.5, "patience": 1},
               {"patience": 0, "cooldown": 2, "accumulation_size": 3}):
        ours = PlateauScale(**kw)
        got = []
        for v in values:
            ours.report(v)
            got.append(ours(7))
        assert got == optax_scales(values, **kw), kw


def test_a_schedule_as_the_base_rate():
    s = PlateauScale(ExponentialDecay(1.0, 0.5), factor=0.5, patience=1)
    for v in (1.0, 1.0):
        s.report(v)
    assert s(0) == 0.5 and s(2) == 0.125  # base 1·0.5⁰ and 1·0.5², times the cut scale ½


def test_checkpoint_resumes_bit_identically(tmp_path):
    rng = np.random.default_rng(5)
    values, grads = losses(rng, 6), rng.standard_normal((60, 3))

    def make():
        return optim.Momentum(lr=PlateauScale(0.1, factor=0.5, patience=2, cooldown=1,
                                              accumulation_size=2))

    def run(opt, x, start, stop):
        for i in range(start, stop):
            opt.lr.report(values[i % len(values)])
            opt.update(x, {"w": grads[i]})

    straight, x = make(), {"w": np.ones(3)}
    run(straight, x, 0, 60)
    first, y = make(), {"w": np.ones(3)}
    run(first, y, 0, 31)  # mid-average: count = 1 of 2
    assert first.lr.count == 1
    first.save(tmp_path / "c.npz")
    resumed = make()
    resumed.load(tmp_path / "c.npz")
    assert resumed.lr.state_dict() == first.lr.state_dict()
    run(resumed, y, 31, 60)
    np.testing.assert_array_equal(x["w"], y["w"])
    assert straight.lr.scale < 1  # it did cut


def test_bad_arguments_and_states_are_refused_and_change_nothing():
    for kw, match in (({"factor": 1.0}, "factor"), ({"rtol": 0.0, "atol": 0.0}, "rtol and atol"),
                      ({"rtol": 1.5}, "rtol"), ({"accumulation_size": 0}, "accumulation_size"),
                      ({"patience": 1.5}, "patience"), ({"min_scale": -1.0}, "min_scale")):
        with pytest.raises((InputError, InputTypeError), match=match):
            PlateauScale(**kw)
    with pytest.raises(InputError, match="holds state of its own"):
        PlateauScale(ReduceOnPlateau(0.1))
    s = PlateauScale(accumulation_size=3)
    s.report(2.0)
    with pytest.raises(InputTypeError, match="reports a number"):
        s.report("2.0")
    before = copy.deepcopy(s.state_dict())
    for bad, match in (({**before, "count": 3}, "count 3 is not below"),
                       ({**before, "scale": -1.0}, "scale"),
                       ({k: v for k, v in before.items() if k != "best"}, "'best'"),
                       ({**before, "extra": 1}, "unknown entry 'extra'"),
                       ({**before, "type": "ReduceOnPlateau"}, "ReduceOnPlateau")):
        with pytest.raises((InputError, InputTypeError, KeyError), match=match):
            s.load_state_dict(bad)
        assert s.state_dict() == before
