"""Sweeps: one vectorised run equals separate runs; E1's thresholds against a hand loop."""

import math

import numpy as np
import pytest

from descentlab import optim, problems
from descentlab.lab.engine import run_batch
from descentlab.lab.sweep import start_grid, sweep, sweep_starts

QUARTIC = problems.get("quartic")
GLOBAL_X, LOCAL_X = 6.335112384629728, -4.344625883336851


def quartic_grad(x):
    return (2 * x**3 - 3 * x**2 - 57 * x - 27) / 100


def hand_adam_run(lr, beta2, steps=99, x=-8.0, beta1=0.9, eps=1e-10, tol=0.22,
                  lo=-20.0, hi=20.0):
    """E1 written out: Adam from x, classified as the lab documents it (the quartic's
    bounds, where leaving counts as diverged, are [-20, 20])."""
    m = v = 0.0
    reached = bounced = False

    def near_global(z):
        return abs(z - GLOBAL_X) <= abs(z - LOCAL_X)

    for t in range(1, steps + 1):
        g = quartic_grad(x)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        x -= lr * (m / (1 - beta1**t)) / (math.sqrt(v / (1 - beta2**t)) + eps)
        if not (lo <= x <= hi):
            return "diverged", reached, x
        if reached and not near_global(x):
            bounced = True
        if abs(x - GLOBAL_X) <= tol:
            reached = True
    if abs(x - GLOBAL_X) <= tol:
        return "global", bounced, x
    if abs(x - LOCAL_X) <= tol:
        return "local", bounced, x
    return "moving", bounced, x


@pytest.mark.parametrize("beta2", [0.999, 0.5])
def test_e1_sweep_matches_hand_written_adam_runs(beta2):
    rates = np.round(np.arange(1, 121) * 0.1, 12)
    s = sweep(QUARTIC, "adam:eps=1e-10", rates, axis="beta2", axis_values=[beta2],
              start=(-8,), steps=99)
    assert s.tol == pytest.approx(0.22)
    hand = [hand_adam_run(lr, beta2) for lr in rates]
    assert s.outcome[0].tolist() == [h[0] for h in hand]
    assert s.bounced[0].tolist() == [h[1] for h in hand]
    finals = np.array([h[2] for h in hand])
    # β2 = 0.5 is chaotic: rounding differences of the two formula orders grow to ~1e-6.
    np.testing.assert_allclose(s.final[0, :, 0], finals, rtol=1e-5, atol=1e-5)
    th = s.thresholds()[0]
    glob = [lr for lr, h in zip(rates, hand) if h[0] == "global"]
    bounce = [lr for lr, h in zip(rates, hand) if h[1]]
    assert th["first_global"] == pytest.approx(min(glob))
    assert th["first_bounce"] == pytest.approx(min(bounce))


def test_vectorised_sweep_equals_separate_runs():
    rates = [0.05, 0.3, 1.0]
    momenta = [0.5, 0.9]
    bowl = problems.get("rosenbrock")
    s = sweep(bowl, "momentum", rates, axis="momentum", axis_values=momenta, steps=40)
    for j, mu in enumerate(momenta):
        for i, lr in enumerate(rates):
            b = run_batch(bowl, optim.create("momentum", lr=lr, momentum=mu),
                          np.array([bowl.start]), 40)
            assert s.outcome[j, i] == b.outcome[0]
            assert s.diverged_at[j, i] == b.diverged_at[0]
            np.testing.assert_allclose(s.final[j, i], b.final[0], rtol=1e-13, atol=0)


def test_start_sweep_equals_separate_runs_and_counts_success():
    p = problems.get("two_basin")
    starts = start_grid(p, 5)
    s = sweep_starts(p, "sgd", starts, [0.05, 0.1], steps=60)
    assert s.outcome.shape == (25, 2)
    for k in (0, 7, 24):
        for i, lr in enumerate((0.05, 0.1)):
            b = run_batch(p, optim.SGD(lr=lr), starts[k:k + 1], 60)
            assert s.outcome[k, i] == b.outcome[0]
            np.testing.assert_allclose(s.final[k, i], b.final[0], rtol=1e-13)
    assert s.success_rate().tolist() == (s.outcome == "global").mean(axis=0).tolist()


def test_records_hold_hyperparameters_outcome_and_final_position():
    s = sweep(QUARTIC, "adam:eps=1e-10", [1.0, 2.0], axis="beta2", axis_values=[0.999],
              start=(-8,), steps=10)
    rec = s.records()
    assert len(rec) == 2
    assert set(rec[0]) >= {"lr", "beta2", "outcome", "bounced", "final_x"}
    assert rec[1]["lr"] == 2.0 and rec[1]["final_x"] == s.final[0, 1, 0]


def test_second_axis_must_be_a_hyperparameter():
    with pytest.raises(ValueError, match="another hyperparameter"):
        sweep(QUARTIC, "adam", [0.1], axis="lr", axis_values=[0.1])
