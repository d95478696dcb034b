"""Learning-rate schedules against PyTorch's lr_scheduler, Keras's documented formulas (written
out here), hand computations, and properties (hypothesis)."""

from __future__ import annotations

import json
import math
import pickle
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.optim import lr_scheduler as L

from descentlab import optim
from descentlab import schedules as S

torch.set_num_threads(1)
STEPS = 1000


def torch_rates(make, lr=0.1, steps=STEPS, momentum=0.9):
    """The rate torch's scheduler gives each of ``steps`` updates (stepped once per update)."""
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr, momentum=momentum)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched = make(opt)
        out = []
        for _ in range(steps):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
    return out


def assert_rates(ours, expected, rel=1e-12):
    got = [ours(n) for n in range(len(expected))]
    for n, (a, b) in enumerate(zip(got, expected)):
        assert abs(a - b) <= rel * abs(b), f"n={n}: ours {a!r}, reference {b!r}"


def _inv(n):  # a picklable module-level function for Lambda
    return 1.0 / (1.0 + 0.01 * n)


# (id, torch scheduler factory, our schedule) — base rate 0.1 everywhere
TORCH_CASES = [
    ("StepLR", lambda o: L.StepLR(o, 30, 0.5), S.StepDecay(0.1, 30, 0.5)),
    ("StepLR-default-gamma", lambda o: L.StepLR(o, 7), S.StepDecay(0.1, 7)),
    ("MultiStepLR", lambda o: L.MultiStepLR(o, [10, 100, 500], 0.3),
     S.MultiStepDecay(0.1, [10, 100, 500], 0.3)),
    ("ExponentialLR", lambda o: L.ExponentialLR(o, 0.99), S.ExponentialDecay(0.1, 0.99)),
    ("ExponentialLR-0.95", lambda o: L.ExponentialLR(o, 0.95), S.ExponentialDecay(0.1, 0.95)),
    ("PolynomialLR", lambda o: L.PolynomialLR(o, 700, 2.0), S.Polynomial(0.1, 700, 2.0)),
    ("PolynomialLR-linear", lambda o: L.PolynomialLR(o, 1000), S.Polynomial(0.1, 1000)),
    ("LinearLR-warmup", lambda o: L.LinearLR(o, 0.1, 1.0, 300), S.Linear(0.1 * 0.1, 0.1, 300)),
    ("LinearLR-decay", lambda o: L.LinearLR(o, 1.0, 0.2, 300), S.Linear(0.1, 0.1 * 0.2, 300)),
    ("LinearLR=LinearWarmup", lambda o: L.LinearLR(o, 0.25, 1.0, 40),
     S.LinearWarmup(0.1, 40, start_lr=0.025)),
    ("CosineAnnealingLR", lambda o: L.CosineAnnealingLR(o, 1000),
     S.CosineDecay(0.1, 1000, cycle=True)),
    ("CosineAnnealingLR-periodic", lambda o: L.CosineAnnealingLR(o, 300, 0.001),
     S.CosineDecay(0.1, 300, final_lr=0.001, cycle=True)),
    ("CosineAnnealingWarmRestarts", lambda o: L.CosineAnnealingWarmRestarts(o, 50, 1, 0.001),
     S.CosineRestarts(0.1, 50, 1, final_lr=0.001)),
    ("CosineAnnealingWarmRestarts-Tmult", lambda o: L.CosineAnnealingWarmRestarts(o, 10, 2),
     S.CosineRestarts(0.1, 10, 2)),
    ("OneCycleLR", lambda o: L.OneCycleLR(o, 0.1, STEPS), S.OneCycle(0.1, STEPS)),
    ("OneCycleLR-three-linear",
     lambda o: L.OneCycleLR(o, 0.1, STEPS, pct_start=0.25, anneal_strategy="linear",
                            div_factor=10.0, final_div_factor=100.0, three_phase=True),
     S.OneCycle(0.1, STEPS, 0.25, "linear", 10.0, 100.0, three_phase=True)),
    ("OneCycleLR-uneven", lambda o: L.OneCycleLR(o, 0.1, 997, pct_start=0.33),
     S.OneCycle(0.1, 997, 0.33)),
    ("LambdaLR", lambda o: L.LambdaLR(o, _inv), S.Lambda(_inv, 0.1)),
    ("SequentialLR", lambda o: L.SequentialLR(
        o, [L.LinearLR(o, 0.1, 1.0, 100), L.CosineAnnealingLR(o, 900)], [100]),
     S.Join([S.LinearWarmup(0.1, 100, start_lr=0.01), S.CosineDecay(0.1, 900, cycle=True)],
            [100])),
    ("SequentialLR-three", lambda o: L.SequentialLR(
        o, [L.ConstantLR(o, 0.5, 1000), L.ExponentialLR(o, 0.99), L.StepLR(o, 50, 0.5)],
        [100, 400]),
     S.Join([S.Constant(0.05), S.ExponentialDecay(0.1, 0.99), S.StepDecay(0.1, 50, 0.5)],
            [100, 400])),
]


@pytest.mark.parametrize("make, ours", [c[1:] for c in TORCH_CASES],
                         ids=[c[0] for c in TORCH_CASES])
def test_matches_torch_scheduler(make, ours):
    steps = min(STEPS, ours.total_steps) if isinstance(ours, S.OneCycle) else STEPS
    assert_rates(ours, torch_rates(make, steps=steps))
    if isinstance(ours, S.OneCycle):  # torch refuses to go on; we hold the final rate
        assert ours(ours.total_steps + 5) == ours(ours.total_steps - 1)


def test_exact_where_torch_needs_no_rounding():
    # Recursions that are exact in binary (gamma = 1/2, integer restarts) agree bit for bit.
    for make, ours in [(lambda o: L.StepLR(o, 30, 0.5), S.StepDecay(0.1, 30, 0.5)),
                       (lambda o: L.CosineAnnealingWarmRestarts(o, 10, 2),
                        S.CosineRestarts(0.1, 10, 2)),
                       (lambda o: L.OneCycleLR(o, 0.1, STEPS), S.OneCycle(0.1, STEPS))]:
        assert [ours(n) for n in range(STEPS)] == torch_rates(make)


@pytest.mark.parametrize("kw", [{}, {"three_phase": True, "pct_start": 0.2},
                                {"anneal": "linear", "base_momentum": 0.5, "max_momentum": 0.99}])
def test_one_cycle_momentum_matches_torch(kw):
    torch_kw = {("anneal_strategy" if k == "anneal" else k): v for k, v in kw.items()}
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    sched = L.OneCycleLR(opt, 0.1, STEPS, **torch_kw)
    ours = S.OneCycleMomentum(STEPS, **kw)
    for n in range(STEPS):
        assert ours(n) == opt.param_groups[0]["momentum"], n
        opt.step()
        sched.step()


# ------------------------------------------------------------------ plateau vs torch
@pytest.mark.parametrize("mode, threshold_mode, threshold, cooldown, patience", [
    ("min", "rel", 1e-4, 0, 10), ("min", "abs", 0.05, 3, 2), ("max", "rel", 0.01, 1, 0),
    ("max", "abs", 0.0, 0, 4)])
def test_reduce_on_plateau_matches_torch(mode, threshold_mode, threshold, cooldown, patience):
    rng = np.random.default_rng(7)
    # A noisy metric that improves for a while, then stalls: reductions happen.
    trend = np.concatenate([np.linspace(5, 1, 150), np.ones(850)])
    metric = trend + rng.normal(0, 0.05, STEPS)
    if mode == "max":
        metric = -metric
    kw = dict(mode=mode, factor=0.5, patience=patience, threshold=threshold,
              threshold_mode=threshold_mode, cooldown=cooldown, min_lr=1e-6)
    p = torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([p], lr=0.1)
    tsched = L.ReduceLROnPlateau(topt, **kw)
    ours = S.ReduceOnPlateau(0.1, **kw)
    reductions = 0
    for m in metric:
        tsched.step(float(m))
        reductions += ours.report(m)
        assert ours(0) == topt.param_groups[0]["lr"]
        assert ours.num_bad == tsched.num_bad_epochs
        assert ours.cooldown_counter == tsched.cooldown_counter
    assert reductions >= 3
    assert ours.best == tsched.best


def test_reduce_on_plateau_eps_and_min_lr():
    s = S.ReduceOnPlateau(1.0, factor=0.5, patience=0, min_lr=0.3)
    for m in (1.0, 2.0, 2.0, 2.0):
        s.report(m)
    assert s(0) == 0.3  # 1 → 0.5 → max(0.25, 0.3) = 0.3 → stays
    # A reduction of eps or less is ignored (torch's eps=1e-8)
    t = S.ReduceOnPlateau(1e-8, factor=0.5, patience=0)
    t.report(1.0)
    assert not t.report(2.0) and t(0) == 1e-8


# ------------------------------------------------------------------ Keras, from its docs
def keras_exponential(step, lr, decay_steps, rate, staircase):
    p = step / decay_steps
    if staircase:
        p = math.floor(p)
    return lr * rate ** p


def keras_inverse_time(step, lr, decay_steps, rate, staircase):
    p = step / decay_steps
    if staircase:
        p = math.floor(p)
    return lr / (1 + rate * p)


def keras_piecewise(step, boundaries, values):
    # values[0] when step <= boundaries[0], values[1] when boundaries[0] < step <=
    # boundaries[1], ..., values[-1] when step > boundaries[-1]
    for b, v in zip(boundaries, values):
        if step <= b:
            return v
    return values[-1]


def keras_polynomial(step, lr, decay_steps, end, power, cycle):
    if cycle:
        decay_steps = decay_steps * (1.0 if step == 0 else math.ceil(step / decay_steps))
    else:
        step = min(step, decay_steps)
    return (lr - end) * (1 - step / decay_steps) ** power + end


def keras_cosine(step, lr, decay_steps, alpha, warmup_target=None, warmup_steps=0):
    def decay(s, from_lr):
        cosine = 0.5 * (1 + math.cos(math.pi * s / decay_steps))
        return from_lr * ((1 - alpha) * cosine + alpha)
    if warmup_target is None:
        return decay(min(step, decay_steps), lr)
    step = min(step, decay_steps + warmup_steps)
    if step < warmup_steps:
        return (warmup_target - lr) * (step / warmup_steps) + lr
    return decay(step - warmup_steps, warmup_target)


def keras_restarts(step, lr, first, t_mul, m_mul, alpha):
    frac = step / first
    if t_mul == 1.0:
        i = math.floor(frac)
        frac -= i
    else:
        i = math.floor(math.log(1.0 - frac * (1.0 - t_mul)) / math.log(t_mul))
        sum_r = (1.0 - t_mul ** i) / (1.0 - t_mul)
        frac = (frac - sum_r) / t_mul ** i
    cosine = 0.5 * m_mul ** i * (1.0 + math.cos(math.pi * frac))
    return lr * ((1 - alpha) * cosine + alpha)


KERAS_CASES = [
    ("ExponentialDecay", lambda n: keras_exponential(n, 0.1, 100, 0.96, False),
     S.ExponentialDecay(0.1, 0.96, steps_per_epoch=100)),
    ("ExponentialDecay-staircase", lambda n: keras_exponential(n, 0.1, 7, 0.9, True),
     S.ExponentialDecay(0.1, 0.9, steps_per_epoch=7, staircase=True)),
    ("InverseTimeDecay", lambda n: keras_inverse_time(n, 0.1, 1.0, 0.5, False),
     S.InverseTimeDecay(0.1, 0.5, steps_per_epoch=1.0)),
    ("InverseTimeDecay-staircase", lambda n: keras_inverse_time(n, 0.1, 30, 2.0, True),
     S.InverseTimeDecay(0.1, 2.0, steps_per_epoch=30, staircase=True)),
    ("PiecewiseConstantDecay", lambda n: keras_piecewise(n, [100, 110, 400], [1.0, 0.5, 0.1, 0.01]),
     S.PiecewiseConstant([100, 110, 400], [1.0, 0.5, 0.1, 0.01], at_boundary="old")),
    ("PolynomialDecay", lambda n: keras_polynomial(n, 0.1, 600, 1e-4, 0.5, False),
     S.Polynomial(0.1, 600, 0.5, final_lr=1e-4)),
    ("PolynomialDecay-cycle", lambda n: keras_polynomial(n, 0.1, 150, 0.01, 2.0, True),
     S.Polynomial(0.1, 150, 2.0, final_lr=0.01, cycle=True)),
    ("CosineDecay", lambda n: keras_cosine(n, 0.1, 700, 0.05),
     S.CosineDecay(0.1, 700, final_lr=0.05 * 0.1)),
    ("CosineDecay-warmup", lambda n: keras_cosine(n, 0.01, 600, 0.1, 0.5, 100),
     S.CosineDecay(0.5, 700, final_lr=0.1 * 0.5, warmup_steps=100, warmup_start_lr=0.01)),
    ("CosineDecayRestarts", lambda n: keras_restarts(n, 0.1, 30, 1.0, 0.8, 0.01),
     S.CosineRestarts(0.1, 30, 1.0, final_lr=0.01 * 0.1, peak_mult=0.8)),
    ("CosineDecayRestarts-tmul", lambda n: keras_restarts(n, 0.1, 10, 2.0, 1.0, 0.0),
     S.CosineRestarts(0.1, 10, 2.0)),
    ("CosineDecayRestarts-tmul-1.5", lambda n: keras_restarts(n, 0.1, 20, 1.5, 0.9, 0.1),
     S.CosineRestarts(0.1, 20, 1.5, final_lr=0.1 * 0.1, peak_mult=0.9)),
]


@pytest.mark.parametrize("keras, ours", [c[1:] for c in KERAS_CASES],
                         ids=[c[0] for c in KERAS_CASES])
def test_matches_keras_formula(keras, ours):
    assert_rates(ours, [keras(n) for n in range(STEPS)])


def test_pytorch_and_keras_boundaries_differ_by_one_update():
    torch_side = torch_rates(lambda o: L.MultiStepLR(o, [5], 0.5), lr=1.0, steps=8)
    assert [S.MultiStepDecay(1.0, [5], 0.5)(n) for n in range(8)] == torch_side
    assert torch_side[5] == 0.5  # the update after 5 updates already uses the new rate
    keras_side = [keras_piecewise(n, [5], [1.0, 0.5]) for n in range(8)]
    assert [S.PiecewiseConstant([5], [1.0, 0.5], "old")(n) for n in range(8)] == keras_side
    assert keras_side[5] == 1.0 and keras_side[6] == 0.5


# ------------------------------------------------------------------ the teaching material
def test_teaching_material_decays_by_hand():
    a0, r, k = 0.2, 1.0, 3.0
    steps_per_epoch = 4
    for n in range(40):
        epoch = n // steps_per_epoch  # 0 during the first epoch
        assert S.InverseTimeDecay(a0, r, steps_per_epoch, staircase=True)(n) == \
            a0 / (1 + r * epoch)
        assert S.ExponentialDecay(a0, 0.95, steps_per_epoch, staircase=True)(n) == \
            0.95 ** epoch * a0
        assert S.InverseSqrtDecay(a0, k, steps_per_epoch, staircase=True)(n) == pytest.approx(
            k / math.sqrt(epoch + 1) * a0, rel=1e-15)
    # Without staircase the epoch count is fractional: halfway through epoch 1 is e = 1.5.
    assert S.InverseTimeDecay(1.0, 1.0, 4)(6) == 1 / 2.5
    assert S.InverseSqrtDecay(1.0)(0) == 1.0  # n = 0 is the 1st epoch: k/√1


# ------------------------------------------------------------------ properties
decays = st.one_of(
    st.builds(S.InverseTimeDecay, st.floats(0, 10), st.floats(0, 5), st.integers(1, 50),
              st.booleans()),
    st.builds(S.ExponentialDecay, st.floats(0, 10), st.floats(0.01, 1), st.integers(1, 50),
              st.booleans()),
    st.builds(S.InverseSqrtDecay, st.floats(0, 10), st.floats(0, 5), st.integers(1, 50),
              st.booleans()),
    st.builds(S.StepDecay, st.floats(0, 10), st.integers(1, 50), st.floats(0.01, 1)),
    st.builds(S.Polynomial, st.floats(0.5, 10), st.integers(1, 300), st.floats(0.1, 4),
              st.floats(0, 0.5)),
    st.builds(S.CosineDecay, st.floats(0.5, 10), st.integers(1, 300), st.floats(0, 0.5)),
    st.builds(lambda lr, b, g: S.MultiStepDecay(lr, sorted(set(b)), g), st.floats(0, 10),
              st.lists(st.integers(0, 300), min_size=1, max_size=5), st.floats(0.01, 1)),
)


@settings(max_examples=60, deadline=None)
@given(decays)
def test_decays_never_increase(s):
    rates = [s(n) for n in range(400)]
    assert all(b <= a for a, b in zip(rates, rates[1:]))
    assert all(math.isfinite(x) and x >= 0 for x in rates)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([S.InverseTimeDecay, S.ExponentialDecay, S.InverseSqrtDecay]),
       st.floats(0.001, 10), st.floats(0.01, 1), st.integers(1, 40), st.integers(0, 5000))
def test_staircase_is_the_floor_form(cls, lr, rate, steps_per_epoch, n):
    stair = cls(lr, rate, steps_per_epoch, staircase=True)
    smooth = cls(lr, rate, steps_per_epoch)
    assert stair(n) == smooth(n // steps_per_epoch * steps_per_epoch)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40), st.sampled_from([1, 2, 3]), st.integers(0, 3000))
def test_restarts_happen_where_the_periods_add_up(period, mult, n):
    s = S.CosineRestarts(1.0, period, mult)
    start, length = 0, period
    while n >= start + length:
        start, length = start + length, length * mult
    assert s.locate(n)[1:] == (n - start, length)
    assert s(start) == 1.0


def every_schedule():
    plateau = S.ReduceOnPlateau(0.1, patience=0)
    plateau.report(1.0)
    plateau.report(2.0)
    return [
        S.Constant(0.1), S.InverseTimeDecay(0.1, 0.5, 10, True), S.ExponentialDecay(0.1, 0.95),
        S.InverseSqrtDecay(0.1, 2.0), S.StepDecay(0.1, 10), S.MultiStepDecay(0.1, [3, 9]),
        S.PiecewiseConstant([3, 9], [0.3, 0.2, 0.1], "old"), S.Polynomial(0.1, 50, 2.0),
        S.Linear(0.0, 0.1, 20), S.LinearWarmup(0.1, 20), S.CosineDecay(0.1, 50, 0.01, 5),
        S.CosineRestarts(0.1, 10, 2, 0.001, 0.9), S.OneCycle(0.1, 100),
        S.OneCycleMomentum(100, three_phase=True), plateau,
        S.Lambda(_inv, 0.1), S.Join([S.LinearWarmup(0.1, 5), S.ExponentialDecay(0.1, 0.9)], [5]),
        S.ExponentialDecay(0.1, 0.9) * 0.5, S.StepDecay(0.1, 3).starting_at(7),
    ]


@pytest.mark.parametrize("s", every_schedule(), ids=lambda s: type(s).__name__)
def test_pickle_round_trip_and_repr(s):
    back = pickle.loads(pickle.dumps(s))
    assert type(back) is type(s)
    assert repr(back) == repr(s)
    assert [back(n) for n in range(60)] == [s(n) for n in range(60)]
    text = repr(s)
    assert text.startswith(type(s).__name__ + "(") and "object at" not in text


def test_repr_names_the_arguments_and_omits_defaults():
    assert repr(S.ExponentialDecay(0.1, 0.95)) == "ExponentialDecay(lr=0.1, gamma=0.95)"
    assert repr(S.StepDecay(0.1, 30)) == "StepDecay(lr=0.1, step_size=30)"
    assert repr(S.MultiStepDecay(0.1, [3, 9], at_boundary="old")) == \
        "MultiStepDecay(lr=0.1, milestones=[3, 9], at_boundary='old')"
    assert repr(S.Lambda(_inv)) == f"Lambda(fn={__name__}._inv)"
    assert repr(S.Join([S.Constant(0.1), S.Constant(0.01)], [5])) == \
        "Join(schedules=[Constant(lr=0.1), Constant(lr=0.01)], boundaries=[5])"


def test_count_must_be_a_nonnegative_integer():
    s = S.ExponentialDecay(0.1, 0.9)
    assert s(np.int64(2)) == s(2)
    with pytest.raises(ValueError, match="-1"):
        s(-1)
    with pytest.raises(TypeError, match="integer"):
        s(1.5)


# ------------------------------------------------------------------ invalid arguments
@pytest.mark.parametrize("build, match", [
    (lambda: S.ExponentialDecay(-0.1, 0.9), r"lr must be >= 0, got -0\.1"),
    (lambda: S.ExponentialDecay(0.1, 1.5), r"gamma must be in \(0, 1\], got 1\.5"),
    (lambda: S.ExponentialDecay(0.1, 0.0), r"gamma must be in \(0, 1\], got 0\.0"),
    (lambda: S.InverseTimeDecay(0.1, -1.0), r"rate must be >= 0, got -1\.0"),
    (lambda: S.InverseTimeDecay(0.1, 1.0, steps_per_epoch=0), r"steps_per_epoch must be >= 1"),
    (lambda: S.InverseSqrtDecay(0.1, k=float("nan")), r"k must be finite and >= 0, got nan"),
    (lambda: S.StepDecay(0.1, 0), r"step_size must be >= 1, got 0"),
    (lambda: S.MultiStepDecay(0.1, []), r"milestones must not be empty"),
    (lambda: S.MultiStepDecay(0.1, [5, 5]), r"milestones must be strictly increasing"),
    (lambda: S.PiecewiseConstant([10, 5], [1.0, 0.5, 0.1]),
     r"boundaries must be strictly increasing.*boundaries\[1\] = 5"),
    (lambda: S.PiecewiseConstant([], [1.0]), r"boundaries must not be empty"),
    (lambda: S.PiecewiseConstant([5], [1.0]), r"values must have one entry more"),
    (lambda: S.PiecewiseConstant([5], [1.0, -1.0]), r"values\[1\] must be >= 0, got -1\.0"),
    (lambda: S.PiecewiseConstant([5], [1.0, 0.5], "before"), r"at_boundary must be one of"),
    (lambda: S.Polynomial(0.1, 100, power=0.0), r"power must be > 0, got 0\.0"),
    (lambda: S.Linear(0.0, 0.1, 0), r"steps must be >= 1, got 0"),
    (lambda: S.LinearWarmup(0.1, -3), r"warmup_steps must be >= 1, got -3"),
    (lambda: S.CosineDecay(0.1, 100, warmup_steps=100),
     r"warmup_steps \(100\) must be less than total_steps \(100\)"),
    (lambda: S.CosineDecay(0.1, 100, warmup_steps=150), r"warmup_steps \(150\)"),
    (lambda: S.CosineRestarts(0.1, 10, period_mult=0.5), r"period_mult must be >= 1, got 0\.5"),
    (lambda: S.CosineRestarts(0.1, 0), r"period must be >= 1, got 0"),
    (lambda: S.OneCycle(0.1, 100, pct_start=1.0), r"pct_start must be in \(0, 1\), got 1\.0"),
    (lambda: S.OneCycle(0.1, 100, pct_start=0.01), r"pct_start=0\.01 with total_steps=100"),
    (lambda: S.OneCycle(0.1, 10, pct_start=0.6, three_phase=True), r"pct_start=0\.6"),
    (lambda: S.ReduceOnPlateau(0.1, factor=1.0), r"factor must be in \(0, 1\), got 1\.0"),
    (lambda: S.ReduceOnPlateau(0.1, patience=-1), r"patience must be >= 0, got -1"),
    (lambda: S.ReduceOnPlateau(0.1, threshold_mode="relative"), r"threshold_mode must be one"),
    (lambda: S.ReduceOnPlateau(0.1, mode="minimum"), r"mode must be one of 'min', 'max'"),
    (lambda: S.Join([S.Constant(0.1)], []), r"boundaries must not be empty"),
    (lambda: S.Join([S.Constant(0.1)], [5]), r"schedules must have one entry more"),
    (lambda: S.ExponentialDecay(0.1, 0.9) * -2.0, r"factor must be >= 0, got -2\.0"),
    (lambda: S.ExponentialDecay(0.1, 0.9).starting_at(-1), r"start must be >= 0, got -1"),
])
def test_invalid_arguments_raise_value_error_naming_them(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_wrong_types_raise_type_error():
    with pytest.raises(TypeError, match="step_size must be an integer"):
        S.StepDecay(0.1, 2.5)
    with pytest.raises(TypeError, match="schedules\\[1\\] must be a schedule"):
        S.Join([S.Constant(0.1), "0.01"], [5])
    with pytest.raises(ValueError, match="schedules\\[0\\] must be >= 0, got -0.1"):
        S.Join([-0.1, S.Constant(0.1)], [5])
    assert [S.Join([0.1, S.Constant(0.01)], [2])(n) for n in range(4)] == [0.1, 0.1, 0.01, 0.01]
    with pytest.raises(TypeError, match="lr must be a number, not an array"):
        S.Constant(np.ones(3))


# ------------------------------------------------------------------ with the optimizers
def _quadratic_grads(rng, x):
    return {"w": 2 * x["w"] + rng.normal(size=x["w"].shape)}


@pytest.mark.parametrize("name, ours, make", [
    ("sgd-momentum+cosine", S.CosineDecay(0.05, 200, final_lr=0.001, cycle=True),
     lambda o: L.CosineAnnealingLR(o, 200, 0.001)),
    ("sgd-momentum+step", S.StepDecay(0.05, 25, 0.5), lambda o: L.StepLR(o, 25, 0.5)),
    ("adam+onecycle", S.OneCycle(0.05, 300), lambda o: L.OneCycleLR(
        o, 0.05, 300, cycle_momentum=False)),
    ("sgd-momentum+onecycle-cycling-momentum",
     (S.OneCycle(0.05, 300, 0.25, three_phase=True),
      S.OneCycleMomentum(300, 0.25, three_phase=True)),
     lambda o: L.OneCycleLR(o, 0.05, 300, pct_start=0.25, three_phase=True)),
    ("adam+onecycle-cycling-beta1", (S.OneCycle(0.05, 300, anneal="linear"),
                                     S.OneCycleMomentum(300, anneal="linear",
                                                        base_momentum=0.8, max_momentum=0.9)),
     lambda o: L.OneCycleLR(o, 0.05, 300, anneal_strategy="linear", base_momentum=0.8,
                            max_momentum=0.9)),
    ("adam+warmup-then-exponential",
     S.Join([S.LinearWarmup(0.05, 20, start_lr=0.005), S.ExponentialDecay(0.05, 0.98)], [20]),
     lambda o: L.SequentialLR(o, [L.LinearLR(o, 0.1, 1.0, 20), L.ExponentialLR(o, 0.98)], [20])),
])
def test_optimizer_with_schedule_matches_torch(name, ours, make):
    """torch's optimizer at base rate 0.05, its scheduler stepped after every update."""
    rng = np.random.default_rng(3)
    w0 = rng.normal(size=(4, 3))
    grads = [rng.normal(size=(4, 3)) for _ in range(300)]
    ours, momentum = ours if isinstance(ours, tuple) else (ours, 0.9)
    if name.startswith("sgd"):
        opt = optim.Momentum(ours, momentum)
        tp = torch.tensor(w0.copy(), requires_grad=True)
        topt = torch.optim.SGD([tp], lr=0.05, momentum=0.9)
    else:
        opt = optim.Adam(ours, beta1=momentum)
        tp = torch.tensor(w0.copy(), requires_grad=True)
        topt = torch.optim.Adam([tp], lr=0.05)
    sched = make(topt)
    params = {"w": w0.copy()}
    for n, g in enumerate(grads):
        opt.update(params, {"w": g})
        assert opt.current_lr == pytest.approx(topt.param_groups[0]["lr"], rel=1e-12)
        tp.grad = torch.tensor(g)
        topt.step()
        sched.step()
        np.testing.assert_allclose(params["w"], tp.detach().numpy(), rtol=1e-11, atol=1e-14,
                                   err_msg=f"after update {n + 1}")


def _train(opt, sched, params, rng, steps, start):
    """Noisy gradients on a bowl; the validation metric (f) is reported every 10 updates."""
    for n in range(start, start + steps):
        noise = rng.normal(size=params["w"].shape)
        opt.update(params, {"w": 2 * params["w"] + noise})
        if (n + 1) % 10 == 0:
            sched.report(float(np.sum(params["w"] ** 2)) + 0.1 * float(noise[0, 0]))


@pytest.mark.parametrize("wrap", [lambda s: s, lambda s: S.Join([S.Constant(0.2), s], [30])],
                         ids=["plateau", "join-with-plateau"])
def test_checkpoint_with_plateau_resumes_bit_identically(tmp_path, wrap):
    def fresh():
        plateau = S.ReduceOnPlateau(0.1, factor=0.5, patience=1, cooldown=1)
        return plateau, optim.Momentum(wrap(plateau), 0.9)

    w0 = np.random.default_rng(1).normal(size=(3, 2))
    # One run of 300 updates.
    plateau_full, opt_full = fresh()
    full = {"w": w0.copy()}
    rng = np.random.default_rng(11)
    _train(opt_full, plateau_full, full, rng, 150, 0)
    _train(opt_full, plateau_full, full, rng, 150, 150)
    assert plateau_full(0) < 0.01  # the plateau did reduce the rate, several times

    # The same run stopped after 150 updates, saved, and resumed in a new optimizer.
    plateau, opt = fresh()
    half = {"w": w0.copy()}
    rng = np.random.default_rng(11)
    _train(opt, plateau, half, rng, 150, 0)
    opt.save(tmp_path / "ckpt.npz")
    saved = plateau.state_dict()
    json.dumps(saved)  # the schedule state is plain JSON
    plateau2, opt2 = fresh()
    opt2.load(tmp_path / "ckpt.npz")
    assert plateau2.state_dict() == saved
    _train(opt2, plateau2, half, rng, 150, 150)
    assert np.array_equal(half["w"], full["w"])
    assert opt2.current_lr == opt_full.current_lr
    assert plateau2.state_dict() == plateau_full.state_dict()
    assert all(np.array_equal(opt2.state["w"][k], opt_full.state["w"][k])
               for k in opt_full.state["w"])


def test_plateau_state_rejects_other_schedules_state():
    with pytest.raises(ValueError, match="'Join'"):
        S.ReduceOnPlateau(0.1).load_state_dict({"type": "Join", "schedules": []})
    join = S.Join([S.Constant(0.1), S.ReduceOnPlateau(0.1)], [3])
    with pytest.raises(ValueError, match="does not match"):
        join.load_state_dict({"type": "Join", "schedules": [S.ReduceOnPlateau(0.1).state_dict(),
                                                            None]})


def test_manual_override_mid_run():
    sched = S.ExponentialDecay(0.1, 0.5)
    opt = optim.SGD(sched)
    params = {"x": 1.0}
    seen = []
    for step in range(6):
        if step == 2:
            opt.lr = opt.lr * 0.1  # scale: the schedule keeps decaying from a tenth
        if step == 4:
            opt.lr = 0.3  # replace: a constant from now on
        opt.update(params, {"x": 0.0})
        seen.append(opt.current_lr)
    assert seen == pytest.approx([0.1, 0.05, 0.0025, 0.00125, 0.3, 0.3], rel=1e-15)
    # start a new decay from its beginning at the current step
    opt.lr = S.ExponentialDecay(0.02, 0.5).starting_at(opt.step)
    opt.update(params, {"x": 0.0})
    opt.update(params, {"x": 0.0})
    assert opt.current_lr == 0.01
    # a number times a number stays a number
    opt.lr = 0.2
    opt.lr = opt.lr * 0.5
    assert opt.lr == 0.1
    # queue a change two updates ahead, from a number
    opt.lr = S.Join([opt.lr, S.ExponentialDecay(0.04, 0.5)], [opt.step + 2])
    used = []
    for _ in range(4):
        opt.update(params, {"x": 0.0})
        used.append(opt.current_lr)
    assert used == [0.1, 0.1, 0.04, 0.02]


# ------------------------------------------------------------------ E7: figure and command
def test_e7_constant_rate_wanders_decayed_rate_settles():
    from descentlab.lab.schedule_study import bowl_schedules, run_bowl

    tails = {}
    for label, rate in bowl_schedules(1000).items():
        path, rates = run_bowl(rate, 1000, noise=1.0, seed=0)
        assert rates[0] == 0.4
        tails[label] = np.sqrt(np.mean(np.sum(path[-250:] ** 2, axis=1)))
    constant, exponential, inverse_time, by_hand = tails.values()
    assert constant > 5 * exponential and constant > 5 * inverse_time, tails
    assert by_hand < constant, tails  # 0.02 is still drifting in (x relaxes over ~500 updates)


def test_schedules_command_writes_pngs_and_manifest(tmp_path, capsys):
    from PIL import Image

    from descentlab.cli import main

    assert main(["schedules", "--out", str(tmp_path), "--steps", "200", "--seed", "2"]) == 0
    printed = capsys.readouterr().out.split()
    names = sorted(p.rsplit("/", 1)[-1] for p in printed)
    assert names == ["manifest.json", "schedules_bowl.png", "schedules_curves.png"]
    for name in ("schedules_bowl.png", "schedules_curves.png"):
        with Image.open(tmp_path / name) as im:
            assert im.format == "PNG" and im.size[0] > 1000
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["command"] == "schedules"
    assert manifest["arguments"] == {"steps": 200, "noise": 1.0, "seed": 2}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_schedules_command_rejects_bad_arguments(tmp_path, capsys):
    from descentlab.cli import main

    assert main(["schedules", "--out", str(tmp_path), "--steps", "5"]) == 2
    assert "--steps must be at least 20, got 5" in capsys.readouterr().err
    assert main(["schedules", "--out", str(tmp_path), "--noise", "-1"]) == 2
    assert "--noise must be >= 0, got -1.0" in capsys.readouterr().err


def test_array_factor_sweeps_one_schedule_over_several_rates():
    peaks = np.array([[0.05], [0.1], [0.3]])
    sched = S.CosineDecay(1.0, 50, warmup_steps=5)
    rng = np.random.default_rng(4)
    x0 = rng.normal(size=(1, 2))
    together = {"x": np.repeat(x0, 3, axis=0)}
    opt = optim.Momentum(peaks * sched, 0.9)
    apart = [{"x": x0.copy()} for _ in peaks]
    opts = [optim.Momentum(sched * float(p), 0.9) for p in peaks.ravel()]
    for _ in range(60):
        opt.update(together, {"x": 2 * together["x"]})
        for o, q in zip(opts, apart):
            o.update(q, {"x": 2 * q["x"]})
    for k, q in enumerate(apart):
        np.testing.assert_allclose(together["x"][k], q["x"][0], rtol=1e-14, atol=1e-300)
    assert opt.current_lr.shape == (3, 1)
    with pytest.raises(ValueError, match="factor must be >= 0"):
        sched * np.array([0.1, -0.1])
