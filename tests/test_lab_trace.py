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


def test_exact_refuses_clipping_and_array_hyperparameters():
    with pytest.raises(ValueError, match="clip_norm"):
        trace(problems.get("xy"), "adam:clip_norm=1", (1, 2), 1, exact=True)


def test_exact_adamw_by_hand():
    # AdamW on x·y from (1, 2): lr 1, β1 = β2 = 1/2, λ = 1/2, ε → 0. Written out by hand:
    # step 1: g = (2, 1); decay p = (1/2, 1); m = (1, 1/2), v = (2, 1/2); m̂ = (2, 1),
    #         v̂ = (4, 1); p = (1/2 − 1, 1 − 1) = (−1/2, 0)
    # step 2: g = (y, x) = (0, −1/2); decay p = (−1/4, 0); m = (1/2, 0), v = (1, 3/8);
    #         m̂ = (2/3, 0), v̂ = (4/3, 1/2); x: −1/4 − (2/3)/√(4/3) = −1/4 − √3/3; y: 0
    t = trace(problems.get("xy"), "adamw:lr=1,beta1=0.5,beta2=0.5,weight_decay=0.5", (1, 2),
              2, exact=True)
    one, two = ({q: tuple(map(str, v)) for q, v in s.exact.items()} for s in t.steps)
    assert one["m"] == ("1", "1/2") and one["v̂"] == ("4", "1")
    assert one["new point"] == ("-1/2", "0")
    assert two["g"] == ("0", "-1/2") and two["m"] == ("1/2", "0") and two["v"] == ("1", "3/8")
    assert two["m̂"] == ("2/3", "0") and two["v̂"] == ("4/3", "1/2")
    assert two["new point"] == ("-1/4 - sqrt(3)/3", "0")
    assert two["step"] == ("1/4 - sqrt(3)/3", "0")  # the decay is part of the step


def test_exact_adadelta_by_hand_keeps_its_eps():
    # Adadelta on f = x² from x = 1: lr 1, ρ = 1/2, ε = 1/4 (part of the rule: not → 0).
    # step 1: g = 2; s = ½·4 = 2; Δ = √(0 + ¼)/√(2 + ¼)·2 = (½)/(3/2)·2 = 2/3;
    #         u = ½·(2/3)² = 2/9; x = 1 − 2/3 = 1/3
    # step 2: g = 2/3; s = ½·2 + ½·4/9 = 11/9; Δ = √(2/9 + ¼)/√(11/9 + ¼)·2/3
    #         = √(17/53)·2/3 = 2√901/159; u = ½·2/9 + ½·(4/9)(17/53) = 29/159
    f = problems.from_expression("x**2", start=(1.0,))
    t = trace(f, "adadelta:lr=1,rho=0.5,eps=0.25", (1,), 2, exact=True)
    one, two = ({q: str(v[0]) for q, v in s.exact.items()} for s in t.steps)
    assert (one["square_avg"], one["acc_delta"], one["new point"]) == ("2", "2/9", "1/3")
    assert (two["g"], two["square_avg"]) == ("2/3", "11/9")
    assert two["acc_delta"] == "29/159"
    assert two["step"] == "-2*sqrt(901)/159"
    assert two["new point"] == "1/3 - 2*sqrt(901)/159"
    assert "ε → 0" not in t.note


#: Not exactly traceable: Adafactor's RMS over the array divides by √n as PyTorch does (a
#: float), Muon takes matrices only, L-BFGS needs a closure (see the test after this one),
#: full-matrix AdaGrad's H^(-1/2) comes from eigh (G stays exact: tests/test_adagrad_full.py),
#: NovoGrad's and Adam-mini's v is one number per array (the exact trace keeps slots per
#: coordinate), MADGRAD
#: takes a cube root (exact numbers here are rationals and square roots); Shampoo's roots
#: Lᵢ^(−1/2k) come from an SVD; PSGD Kron's refit divides by norms of a random probe; the
#: learning-rate-free rules (DoG, Prodigy, ...) take their step from sums over all parameters
#: in a pre-pass, which --exact refuses (tests/test_lrfree.py); the rules that need a closure
#: compute their step from the loss over all parameters (a float trace: below); Noisy SGD
#: adds floating-point draws of N(0, 1).
NOT_EXACT = ("adafactor", "muon", "lbfgs", "adagrad_full", "novograd", "madgrad", "shampoo",
             "psgd_kron", "noisy_sgd", "dog", "dowg", "prodigy", "dadapt_adamw", "mechanize",
             "adam_mini",
             *(n for n in __import__("descentlab").optim.available()
               if getattr(__import__("descentlab").optim.get_class(n), "needs_closure", False)))


@pytest.mark.parametrize("name", [n for n in __import__("descentlab").optim.available()
                                  if n not in NOT_EXACT])
def test_every_optimizer_traces_exactly_from_its_own_rule(name):
    # The first update of every registered optimizer on the bowl from (−7, 2) is a rational
    # or a simple radical (NAdam's μ needs 0.96^(tψ): exact with ψ = 1, Keras's schedule).
    # Lion's (signSGD's, Signum's; simplified AdEMAMix's 1e-5) default step (1e-4 against a
    # coordinate of 7) leaves the float run's step, a difference of two points, only 11
    # digits: a larger rate (Scion's 1e-3 too). LaProp's and MARS's ε̄ inside the root
    # (pytorch-optimizer's 1e-15) makes v + ε̄ unfactorable: 0.
    spec = {"nadam": "nadam:momentum_decay=1", "lion": "lion:lr=0.01", "clion": "clion:lr=0.01",
            "sign_sgd": "sign_sgd:lr=0.01", "signum": "signum:lr=0.01",
            "simplified_ademamix": "simplified_ademamix:lr=0.01",
            "laprop": "laprop:eps_root=0", "mars": "mars:eps_root=0",
            "scion": "scion:lr=0.1"}.get(name, name)
    t = trace(problems.get("bowl"), spec, (-7, 2), 1, exact=True)
    step = t.steps[0]
    assert all(e is not None for e in step.exact["new point"]), (name, t.table())
    for q, values in step.values.items():
        for e, f in zip(step.exact[q], values):
            assert e is not None and float(e) == pytest.approx(f, rel=1e-12, abs=1e-300), q


def test_optimizers_that_cannot_be_traced_exactly_say_why():
    from descentlab.errors import InputError, InputTypeError

    t = trace(problems.get("bowl"), "adafactor", (-7, 2), 1, exact=True)
    assert t.steps[0].values["new point"] is not None  # the float trace runs
    with pytest.raises(InputError, match="2-D parameters only"):
        trace(problems.get("bowl"), "muon", (-7, 2), 1, exact=True)
    with pytest.raises(InputError, match="--exact cannot trace lbfgs") as e:
        trace(problems.get("bowl"), "lbfgs", (-7, 2), 1, exact=True)
    assert not isinstance(e.value, InputTypeError) and "closure" not in str(e.value)


def test_lbfgs_trace_by_hand(capsys):
    """`trace lbfgs` (the CLI once answered with the Python API's "call update(params,
    closure=closure)"): one iteration per update on f = x²/2 + y² from (1, 1), by hand.
    Step 1: g = (1, 2), d = −g, t = min(1, 1/‖g‖₁)·lr = 1/3, x = (2/3, 1/3).
    Step 2: g = (2/3, 2/3); s = t·d = (−1/3, −2/3), y = Δg = (−1/3, −4/3), sᵀy = 1 (ρ = 1),
    H_diag = sᵀy/yᵀy = 9/17; two-loop: q = −g, α = ρ sᵀq = 2/3, q − α y = (−4/9, 2/9),
    r = H_diag·q = (−4/17, 2/17), β = ρ yᵀr = −4/51, d = r + (α − β) s = (−74/153, −58/153);
    t = lr = 1: x = (28/153, −7/153)."""
    f = problems.from_expression("x**2/2 + y**2")
    t = trace(f, "lbfgs:max_iter=1", (1, 1), 2)
    hand = [{"g": (1, 2), "d": (-1, -2), "new point": (2 / 3, 1 / 3)},
            {"g": (2 / 3, 2 / 3), "d": (-74 / 153, -58 / 153), "new point": (28 / 153, -7 / 153)}]
    for step, want in zip(t.steps, hand):
        for q, v in want.items():
            np.testing.assert_allclose(step.values[q], v, rtol=1e-14, err_msg=q)
    assert t.steps[0].scalars["t"] == pytest.approx(1 / 3, rel=1e-15)
    assert t.steps[1].scalars["H_diag"] == pytest.approx(9 / 17, rel=1e-14)
    assert t.steps[1].scalars["pairs"] == 1 and t.steps[1].scalars["evaluations"] == 1
    # The default (20 iterations, as torch.optim.LBFGS) from the CLI: the same points `race`
    # draws for L-BFGS.
    from descentlab.lab.race import race

    assert main(["trace", "lbfgs", "--problem", "bowl", "--steps", "2"]) == 0
    out = capsys.readouterr().out
    assert "iterations" in out and "new point" in out
    path = race(problems.get("bowl"), ["lbfgs"], start=(-7, 2), steps=2).entries[0].path
    t = trace(problems.get("bowl"), "lbfgs", (-7, 2), 2)
    np.testing.assert_array_equal([s.values["new point"] for s in t.steps], path[1:])
    assert main(["trace", "lbfgs", "--problem", "bowl", "--exact"]) == 2
    err = capsys.readouterr().err
    assert "--exact cannot trace lbfgs" in err and "closure" not in err


def test_exact_trace_is_bounded_on_huge_radicands():
    # Rationals whose roots need factoring numbers past the trial-division limit end exact
    # arithmetic at once instead of hanging.
    import time

    start = time.process_time()
    trace(problems.get("bowl"), "adagrad:lr=0.37", (-6.9, 1.3), 6, exact=True)
    assert time.process_time() - start < 20


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


@given(surds, surds)
def test_surd_comparisons_and_abs_agree_with_floats(a, b):
    fa, fb = float(a), float(b)
    if abs(fa - fb) > 1e-9:
        assert (a < b) == (fa < fb) and (a > b) == (fa > fb) and (a >= b) == (fa >= fb)
    assert float(abs(a)) == pytest.approx(abs(fa), abs=1e-9)
    assert a == a and not (a < a) and a <= a


@given(fractions, st.integers(-4, 4))
def test_surd_powers(q, n):
    x = Surd.of(q)
    if q == 0 and n < 0:
        with pytest.raises(NotSimple):
            x**n
    else:
        assert x**n == Surd.of(q**n)
    if q >= 0:
        assert x**0.5 == x.sqrt()


def test_surd_max_in_object_arrays():
    a = np.array([Surd.of(1, 2), Surd({2: Fraction(1)})], dtype=object)
    b = np.array([Surd({3: Fraction(1, 3)}), Surd.of(1)], dtype=object)
    assert [str(v) for v in np.maximum(a, b)] == ["sqrt(3)/3", "sqrt(2)"]
    assert [str(v) for v in np.sqrt(np.array([Surd.of(9, 4)], dtype=object))] == ["3/2"]


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


def test_exact_values_are_bounded_and_the_trace_falls_back_to_floats(capsys):
    """Issue 21: SGD on x³ doubles the digits of x at every step (x ← x − (3/10)·x²); the
    exact run stops at the size budget with a note instead of running without end, and
    never reaches str() of an integer past Python's 4,300-digit limit."""
    import time

    from descentlab.lab.exact import MAX_DIGITS

    f = problems.from_expression("x**3")
    begin = time.process_time()
    t = trace(f, "sgd:lr=0.1", (0.5,), 30, exact=True)
    assert time.process_time() - begin < 10
    x, exact_steps = Fraction(1, 2), 0
    for step in t.steps:  # the recurrence by hand, in Python's own Fractions
        x = x - Fraction(3, 10) * x * x
        e = step.exact["new point"][0]
        if e is None:
            break
        assert e == Surd({1: x}) and len(str(e)) < 2 * MAX_DIGITS + 2
        exact_steps += 1
    assert 5 < exact_steps < 30
    assert all(s.exact["new point"] == [None] for s in t.steps[exact_steps:])
    assert f"more than {MAX_DIGITS:,} digits" in t.note
    assert f"exact arithmetic ends at step {exact_steps + 1}" in t.note
    assert "≈" in t.table()
    # the CLI, at its own limit of 200 exact steps
    begin = time.perf_counter()
    assert main(["trace", "sgd:lr=0.1", "--f", "x**3", "--start", "0.5", "--steps", "200",
                 "--exact"]) == 0
    assert time.perf_counter() - begin < 30
    assert "more than 1,000 digits" in capsys.readouterr().out


def test_surd_size_budget():
    import time

    from descentlab.lab.exact import MAX_DIGITS, TooLarge

    big = Surd.of(10 ** MAX_DIGITS - 1)  # 1,000 digits: allowed, and it prints
    assert len(str(big)) == MAX_DIGITS
    with pytest.raises(TooLarge, match="1,000 digits"):
        Surd.of(10 ** MAX_DIGITS)
    with pytest.raises(TooLarge):
        big * big
    begin = time.process_time()
    with pytest.raises(TooLarge):
        Surd.of(3) ** 10**9
    assert Surd.of(-1) ** (10**9 + 1) == Surd.of(-1)  # square and multiply: no 10⁹ loop
    assert time.process_time() - begin < 1
    with pytest.raises(TooLarge, match="radicals"):
        Surd({c: Fraction(1) for c in (1, 2, 3, 5, 6, 7, 10, 11, 13)})
    assert issubclass(TooLarge, NotSimple)  # the trace's fallback catches it
