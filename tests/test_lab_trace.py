"""E4 (Adam by hand on f = x·y) and the exact arithmetic behind ``trace --exact``."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from descentlab import problems
from descentlab.cli import main
from descentlab.lab.exact import NotSimple, Surd
from descentlab.lab.trace import recognise, trace

# PRODUCT.md, E4: lr 1, β1 = β2 = 1/2, ε → 0, from (1, 2).
S2, S3 = math.sqrt(2), math.sqrt(3)
HAND = [
    {"g": (2, 1), "m": (1, 1 / 2), "v": (2, 1 / 2), "m̂": (2, 1), "v̂": (4, 1),
     "new point": (0, 1)},
    {"g": (1, 0), "m": (1, 1 / 4), "v": (3 / 2, 1 / 4), "m̂": (4 / 3, 1 / 3), "v̂": (2, 1 / 3),
     "new point": (-2 * S2 / 3, 1 - S3 / 3)},
]
EXACT = [
    {"g": ("2", "1"), "m": ("1", "1/2"), "v": ("2", "1/2"), "m̂": ("2", "1"), "v̂": ("4", "1"),
     "step": ("-1", "-1"), "new point": ("0", "1")},
    {"g": ("1", "0"), "m": ("1", "1/4"), "v": ("3/2", "1/4"), "m̂": ("4/3", "1/3"),
     "v̂": ("2", "1/3"), "step": ("-2*sqrt(2)/3", "-sqrt(3)/3"),
     "new point": ("-2*sqrt(2)/3", "1 - sqrt(3)/3")},
]
SPEC = "adam:lr=1,beta1=0.5,beta2=0.5"


def test_float_trace_matches_the_hand_computation():
    t = trace(problems.get("xy"), SPEC + ",eps=1e-300", (1, 2), 2)
    for step, hand in zip(t.steps, HAND):
        for name, expected in hand.items():
            np.testing.assert_allclose(step.values[name], expected, rtol=0, atol=1e-12,
                                       err_msg=f"step {step.t} {name}")
        np.testing.assert_allclose(step.values["step"],
                                   np.array(hand["new point"]) - (
                                       (1, 2) if step.t == 1 else HAND[0]["new point"]),
                                   atol=1e-12)


def test_exact_trace_prints_the_hand_values():
    t = trace(problems.get("xy"), SPEC, (1, 2), 2, exact=True)
    for step, hand in zip(t.steps, EXACT):
        for name, expected in hand.items():
            assert tuple(str(v) for v in step.exact[name]) == expected, (step.t, name)


def test_cli_trace_exact_prints_e4_table(capsys):
    assert main(["trace", SPEC, "--problem", "xy", "--start", "1,2", "--steps", "2",
                 "--exact"]) == 0
    out = capsys.readouterr().out
    rows = {}
    step = 0
    for line in out.splitlines():
        if line.startswith("step "):
            step = int(line.split()[1])
        elif line.startswith("  ") and step:
            label = line[:line.index("  ", 2)].strip() if "  " in line[2:] else line.strip()
            rows[(step, label)] = line
    assert "-2*sqrt(2)/3" in rows[(2, "new point")]
    assert "1 - sqrt(3)/3" in rows[(2, "new point")]
    assert rows[(2, "m̂")].split()[-2:] == ["4/3", "1/3"]
    assert rows[(1, "v")].split()[-2:] == ["2", "1/2"]


def test_exact_falls_back_to_floats_when_not_simple():
    t = trace(problems.get("xy"), SPEC, (1, 2), 4, exact=True)
    assert t.steps[3].exact["new point"] == [None, None]
    assert "≈" in t.table() and "exact arithmetic ends at step 3" in t.table()


def test_exact_is_refused_for_unsupported_optimizers():
    with pytest.raises(ValueError, match="--exact supports sgd, momentum"):
        trace(problems.get("xy"), "nadam", (1, 2), 1, exact=True)
    with pytest.raises(ValueError, match="amsgrad"):
        trace(problems.get("xy"), "adam:amsgrad=true", (1, 2), 1, exact=True)


def test_exact_momentum_matches_float_trace():
    t = trace(problems.get("bowl"), "nesterov:lr=0.1", None, 3, exact=True)
    for step in t.steps:
        for name, values in step.values.items():
            for e, f in zip(step.exact[name], values):
                assert e is not None and float(e) == pytest.approx(f, rel=1e-12, abs=1e-15)


fractions = st.fractions(min_value=-50, max_value=50, max_denominator=30)
surds = st.builds(lambda a, b, c: Surd({1: a, c: b}), fractions, fractions,
                  st.sampled_from([2, 3, 5, 6]))


@given(surds, surds)
def test_surd_arithmetic_agrees_with_floats(a, b):
    assert float(a + b) == pytest.approx(float(a) + float(b), abs=1e-9)
    assert float(a * b) == pytest.approx(float(a) * float(b), rel=1e-9, abs=1e-9)
    if not b.is_zero() and len(b.terms) <= 2:
        assert float(a / b) == pytest.approx(float(a) / float(b), rel=1e-9, abs=1e-9)


@given(fractions)
def test_sqrt_of_rationals_is_exact(q):
    if q < 0:
        with pytest.raises(NotSimple):
            Surd.of(q).sqrt()
    else:
        r = Surd.of(q).sqrt()
        assert r * r == Surd.of(q)


def test_recognise_simple_values_only():
    assert str(recognise(-2 * S2 / 3)) == "-2*sqrt(2)/3"
    assert recognise(0.1) == Surd.of(Fraction(1, 10))
    assert recognise(math.pi) is None and recognise(float("nan")) is None
