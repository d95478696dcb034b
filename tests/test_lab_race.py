"""Races: E3's final points against textbook loops written out here; divergence handling."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from descentlab import problems
from descentlab.lab.engine import run_batch
from descentlab.lab.race import race
from descentlab.problems import Problem


def grad_bowl(x, y):
    return x / 10, 2 * y


def hand_sgd(lr, steps):
    x, y = -7.0, 2.0
    for _ in range(steps):
        gx, gy = grad_bowl(x, y)
        x, y = x - lr * gx, y - lr * gy
    return x, y


def hand_momentum(lr, steps, mu=0.9, nesterov=False):
    x, y = -7.0, 2.0
    bx = by = 0.0
    for t in range(1, steps + 1):
        gx, gy = grad_bowl(x, y)
        bx, by = (gx, gy) if t == 1 else (mu * bx + gx, mu * by + gy)
        if nesterov:
            x, y = x - lr * (gx + mu * bx), y - lr * (gy + mu * by)
        else:
            x, y = x - lr * bx, y - lr * by
    return x, y


def hand_adagrad(lr, steps, eps=1e-10):
    x, y = -7.0, 2.0
    hx = hy = 0.0
    for _ in range(steps):
        gx, gy = grad_bowl(x, y)
        hx, hy = hx + gx * gx, hy + gy * gy
        x, y = x - lr * gx / (math.sqrt(hx) + eps), y - lr * gy / (math.sqrt(hy) + eps)
    return x, y


def hand_rmsprop(lr, steps, alpha=0.99, eps=1e-8):
    x, y = -7.0, 2.0
    sx = sy = 0.0
    for _ in range(steps):
        gx, gy = grad_bowl(x, y)
        sx, sy = alpha * sx + (1 - alpha) * gx * gx, alpha * sy + (1 - alpha) * gy * gy
        x, y = x - lr * gx / (math.sqrt(sx) + eps), y - lr * gy / (math.sqrt(sy) + eps)
    return x, y


def hand_adam(lr, steps, b1=0.9, b2=0.999, eps=1e-8):
    p = [-7.0, 2.0]
    m = [0.0, 0.0]
    v = [0.0, 0.0]
    for t in range(1, steps + 1):
        g = grad_bowl(*p)
        for i in range(2):
            m[i] = b1 * m[i] + (1 - b1) * g[i]
            v[i] = b2 * v[i] + (1 - b2) * g[i] ** 2
            m_hat = m[i] / (1 - b1**t)
            v_hat = v[i] / (1 - b2**t)
            p[i] -= lr * m_hat / (math.sqrt(v_hat) + eps)
    return tuple(p)


E3 = {
    "sgd:lr=0.95": hand_sgd(0.95, 30),
    "momentum:lr=0.1": hand_momentum(0.1, 30),
    "adagrad:lr=1.5": hand_adagrad(1.5, 30),
    "adam:lr=0.3": hand_adam(0.3, 30),
    "rmsprop:lr=0.3": hand_rmsprop(0.3, 30),
    "nesterov:lr=0.3": hand_momentum(0.3, 30, nesterov=True),
}


def test_e3_final_points_match_hand_written_loops():
    result = race(problems.get("bowl"), list(E3), start=(-7, 2), steps=30)
    assert [e.spec for e in result.entries] == list(E3)
    for e in result.entries:
        expected = E3[e.spec]
        np.testing.assert_allclose(e.path[-1], expected, rtol=1e-12, atol=1e-15,
                                   err_msg=e.spec)
        assert e.path.shape == (31, 2) and e.diverged_at is None
        assert e.f[-1] == pytest.approx(expected[0] ** 2 / 20 + expected[1] ** 2, rel=1e-12)


def test_csv_has_one_row_per_point_and_round_trips():
    result = race(problems.get("bowl"), ["sgd:lr=0.95", "adam:lr=0.3"], (-7, 2), 5)
    lines = result.csv().splitlines()
    assert lines[0] == "optimizer,step,x,y,f"
    assert len(lines) == 1 + 2 * 6
    name, step, x, y, f = lines[6].split(",")
    assert (name, step) == ("sgd", "5")
    assert (float(x), float(y)) == tuple(result.entries[0].path[5])


def test_too_large_rate_is_reported_as_diverged_at_the_step():
    # y ← y − lr·2y = (1 − 2·lr)·y: with lr = 2, y = 2 → −6, outside the window |y| ≤ 5.
    result = race(problems.get("bowl"), ["sgd:lr=2", "sgd:lr=0.1"], (-7, 2), 20)
    bad, good = result.entries
    assert bad.diverged_at == 1 and bad.outcome == "diverged"
    assert bad.path.shape == (2, 2) and bad.path[1, 1] == pytest.approx(-6.0)
    assert good.diverged_at is None
    assert "step 1" in result.table()


def test_overflow_to_inf_is_an_outcome_not_a_crash():
    # f = exp(x²): the gradient overflows to inf after one huge step; margin lets it run on.
    p = Problem("steep", 1, "exp(x**2)", lambda X: np.exp(X[..., 0] ** 2),
                lambda X: 2 * X * np.exp(X ** 2), start=(1.0,), window=((-3.0, 3.0),))
    b = run_batch(p, __import__("descentlab").optim.SGD(lr=10.0), np.array([[1.0]]), 5,
                  margin=1e300)
    assert b.diverged_at.tolist() == [1] and b.outcome.tolist() == ["diverged"]


def test_undefined_points_diverge():
    # f = log(x): the first step jumps to x < 0, where f is nan (the gradient 1/x is not).
    p = Problem("log", 1, "log(x)", lambda X: np.log(X[..., 0]), lambda X: 1 / X,
                start=(0.5,), window=((-5.0, 5.0),))
    result = race(p, ["sgd:lr=1"], None, 4)
    assert result.entries[0].diverged_at == 1  # 0.5 → −1.5: in the window, f is nan


def test_e3_final_points_match_torch_optim():
    import torch

    builders = {
        "sgd:lr=0.95": lambda p: torch.optim.SGD(p, lr=0.95),
        "momentum:lr=0.1": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
        "adagrad:lr=1.5": lambda p: torch.optim.Adagrad(p, lr=1.5),
        "adam:lr=0.3": lambda p: torch.optim.Adam(p, lr=0.3),
        "rmsprop:lr=0.3": lambda p: torch.optim.RMSprop(p, lr=0.3),
        "nesterov:lr=0.3": lambda p: torch.optim.SGD(p, lr=0.3, momentum=0.9, nesterov=True),
    }
    result = race(problems.get("bowl"), list(builders), start=(-7, 2), steps=30)
    for e in result.entries:
        xy = torch.tensor([-7.0, 2.0], dtype=torch.float64, requires_grad=True)
        opt = builders[e.spec]([xy])
        for _ in range(30):
            opt.zero_grad()
            (xy[0] ** 2 / 20 + xy[1] ** 2).backward()
            opt.step()
        np.testing.assert_allclose(e.path[-1], xy.detach().numpy(), rtol=1e-10, atol=1e-13,
                                   err_msg=e.spec)


# ------------------------------------------------------------------ the printed table
def _columns_of(header):
    """(start, end) of each header word group: headers are separated by 2+ spaces or are
    the known multi-word names."""
    names = ["optimizer", "final point", "final f", "nearest minimum", "distance",
             "steps to tol", "ended early"]
    spans, at = [], 0
    for name in names:
        start = header.index(name, at)
        spans.append((start, start + len(name)))
        at = start + len(name)
    return spans


@pytest.mark.parametrize("specs", [
    ["adam:lr=0.1,beta1=0.5", "sgd"],
    ["adam:lr=0.1,beta1=0.5", "sgd", "adam:lr=0.1,beta1=0.5,beta2=0.9999,eps=1e-12"],
    ["sgd:lr=0.1", "sgd:lr=0.5", "momentum:lr=0.05,momentum=0.99,dampening=0.5"],
    ["sgd", "adam:lr=50"],  # leaves the window: the last column is long too
])
def test_race_table_columns_stay_aligned_with_long_labels(specs):
    r = race(problems.get("two_basin"), specs, steps=20)
    header, rule, *lines, note = r.table().splitlines()
    assert len(lines) == len(specs) and note.startswith("(tol = ")
    assert set(rule) == {"-"} and len(rule) >= max(len(x) for x in [header, *lines])
    spans = _columns_of(header)
    for line, e in zip(lines, r.entries):
        # each cell, formatted here from the entry, sits under its header: the label and
        # the last column start where their headers start, the others end where theirs end
        assert line.startswith(e.label + " ")
        cells = ["(" + ", ".join(f"{c:.4g}" for c in e.path[-1]) + ")", f"{e.f[-1]:.4g}",
                 r.describe_minimum(e.nearest),
                 "-" if np.isnan(e.distance) else f"{e.distance:.3g}",
                 "-" if e.reached_at is None else str(e.reached_at)]
        for cell, (_, end) in zip(cells, spans[1:6]):
            assert line[end - len(cell):end] == cell, (line, cell)
            assert line[end - len(cell) - 1] == " " and line[end:end + 1] in ("", " ")
        assert line[spans[6][0]:] == (e.ended or "-")
    if "adam:lr=50" in specs:
        assert r.entries[-1].ended.startswith("left the window at step")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.text("ab:=,.0 ", min_size=1, max_size=30).map(str.strip)
                         .filter(bool), min_size=3, max_size=3), min_size=1, max_size=5))
def test_fixed_width_aligns_any_cells(rows):
    from descentlab.lab.race import fixed_width

    columns = [("name", "<", 5), ("value", ">", 0), ("note", "<", 0)]
    header, rule, *lines = fixed_width(columns, rows)
    name_end = header.index("value") + len("value")
    note_start = header.index("note")
    for line, (a, b, c) in zip(lines, rows):
        assert line.startswith(a) and line[len(a)] == " "
        assert line[name_end - len(b):name_end] == b and line[name_end - len(b) - 1] == " "
        assert line[note_start:] == c and line[note_start - 1] == " "
    assert len(rule) == max(len(x) for x in [header, *lines])
