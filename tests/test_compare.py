"""`descentlab compare`: search spaces, the protocol, vectorised trials, reports, bad input."""

import csv
import itertools
import json
import sqlite3

import numpy as np
import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from descentlab import optim, problems
from descentlab.cli import main
from descentlab.errors import InputError
from descentlab.lab.compare import (
    SurfaceTask,
    collect,
    compare,
    evaluators,
    held_out_seeds,
    prepare,
    tuning_seeds,
)
from descentlab.lab.compare.report import (
    expected_best,
    median_iqr,
    performance_profile,
    quantile,
    ranks,
)
from descentlab.lab.compare.space import parse_space, plan
from descentlab.lab.compare.study import work
from descentlab.lab.engine import draw_starts, gradient_noise, run_batch
from descentlab.optim.hyperparams import UNIT, Hyper

from .test_data import tiny_mnist, write_files

SIX = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]


def sqlite(tmp_path, name="s.db"):
    return f"sqlite:///{tmp_path / name}"


def trials_of(url, name):
    return optuna.load_study(study_name=name, storage=url).get_trials()


# -- search spaces -----------------------------------------------------------------------------

#: The spaces of the classic eleven before they moved onto the classes (the compare reports
#: in docs/ were made with them): key → (low, high, log).
_LR, _B1, _B2 = (1e-4, 10.0, True), (0.5, 0.99, False), (0.9, 0.9999, False)
CLASSIC_SPACES = {
    "sgd": {"lr": _LR}, "adagrad": {"lr": _LR},
    "momentum": {"lr": _LR, "momentum": (0.0, 0.99, False)},
    "nesterov": {"lr": _LR, "momentum": (0.01, 0.99, False)},
    "rmsprop": {"lr": _LR, "rho": (0.9, 0.999, False)},
    "adadelta": {"lr": (1e-2, 100.0, True), "rho": (0.8, 0.99, False)},
    **{name: {"lr": _LR, "beta1": _B1, "beta2": _B2}
       for name in ("adam", "adamw", "amsgrad", "nadam", "adamax")},
}


def test_default_spaces_are_the_declared_ones_and_build_at_both_ends():
    for name in optim.available():  # every registered optimizer, the classic eleven unchanged
        s = parse_space(name)
        declared = optim.search_space(name)
        assert {d.key: (d.low, d.high, d.log) for d in s.dims} == declared
        assert [d.key for d in s.dims] == list(declared)
        assert s.dims[0].key == "lr" and s.dims[0].log
        if name in CLASSIC_SPACES:
            assert declared == CLASSIC_SPACES[name], name
    # the case: Lion is tuned on all its tunables, not lr alone
    assert [d.key for d in parse_space("lion").dims] == ["lr", "beta1", "beta2"]


def test_every_tunable_hyperparameter_of_every_registered_optimizer_has_a_range():
    missing = [f"{name}.{key}" for name in optim.available()
               for key in optim.get_class(name).hyperparameter_names()
               if getattr(optim.get_class(name), key).tunable
               and getattr(optim.get_class(name), key).search is None]
    assert not missing, f"declare search=(LOW, HIGH) or tunable=False for {missing}"


def test_a_tunable_hyperparameter_without_a_range_is_named(registered):
    class Bare(optim.SGD):
        """Bare: SGD with a tunable knob that declares no range (a test double)."""

        name = "bare"
        knob = Hyper(UNIT, "a knob")

        def __init__(self, lr=0.1, knob=0.5, **options):
            super().__init__(lr, **options)
            self.knob = knob

    registered(Bare)
    with pytest.raises(InputError, match=r"Bare.knob is tunable but declares no search range"):
        parse_space("bare")
    assert [d.key for d in parse_space("bare:knob=0.2").dims] == ["lr"]  # fixed: fine
    ranged = parse_space("bare:knob=0.1..0.9").dims  # ranged in the spec: fine
    assert [(d.key, d.low, d.high, d.log) for d in ranged] == [
        ("lr", 1e-4, 10.0, True), ("knob", 0.1, 0.9, False)]


def test_fix_narrow_widen_and_scale():
    s = parse_space("adam:lr=1e-6..100,beta1=0.9,beta2=0.99..0.9999/log,eps=1e-10")
    assert s.fixed == {"beta1": 0.9, "eps": 1e-10}
    assert [(d.key, d.low, d.high, d.log) for d in s.dims] == [
        ("lr", 1e-6, 100.0, True), ("beta2", 0.99, 0.9999, True)]
    assert parse_space("sgd:lr=0.5").dims == ()          # everything fixed: one config
    w = parse_space("momentum:dampening=0..0.5")          # a key outside the default space
    assert [d.key for d in w.dims] == ["lr", "momentum", "dampening"]
    assert not w.dims[2].log and parse_space("sgd:lr=0.1..1/lin").dims[0].log is False


@pytest.mark.parametrize("spec, culprit", [
    ("adamm", "unknown optimizer 'adamm'"),
    ("adam:gamma=0.1..1", "no hyperparameter 'gamma'"),
    ("adam:lr=0.1..0.1", "is empty"),
    ("adam:lr=1..0.1", "is inverted"),
    ("adam:lr=0..1", "needs LOW > 0"),
    ("adam:beta1=0.5..1.5", "beta1"),
    ("adam:lr=a..b", "two numbers"),
    ("adam:lr=0.1,lr=0.2", "given twice"),
    ("adam:lr", "not key=value"),
])
def test_bad_spaces_name_the_culprit(spec, culprit):
    with pytest.raises(InputError, match=culprit):
        parse_space(spec)


def test_plan_is_drawn_from_the_seed_per_optimizer():
    a = plan(parse_space("adam"), 20, seed=3)
    assert a == plan(parse_space("adam"), 20, seed=3)
    assert a[:5] == plan(parse_space("adam"), 5, seed=3)   # a prefix: the budget only cuts
    assert a != plan(parse_space("adam"), 20, seed=4)
    lrs = np.array([c["lr"] for c in plan(parse_space("sgd"), 4000, seed=0)])
    assert lrs.min() >= 1e-4 and lrs.max() <= 10
    # log-uniform: each decade holds about a sixth of the draws
    counts = np.histogram(np.log10(lrs), bins=6, range=(-4, 1))[0]
    assert (abs(counts / 4000 - 1 / 6) < 0.03).all()


# -- randomness in the engine ------------------------------------------------------------------

class Line:
    """f(x) = x²/2 on [-100, 100]; minimum at 0."""
    name, dim, window, minima = "line", 1, ((-100.0, 100.0),), []

    def f(self, X):
        return X[:, 0] ** 2 / 2

    def grad(self, X):
        return X.copy()


def test_noise_is_the_documented_additive_gaussian():
    """SGD with noise: x_{k+1} = x_k − lr·(x_k + σ·ξ_k), ξ from default_rng([seed, 2])."""
    lr, sigma, steps = 0.1, 0.5, 6
    b = run_batch(Line(), optim.SGD(lr=lr), np.array([[3.0], [3.0]]), steps, noise=sigma,
                  seeds=[7, 8])
    for row, seed in enumerate((7, 8)):
        xi = np.random.default_rng([seed, 2]).standard_normal((steps, 1))
        x = 3.0
        for k in range(steps):
            x = x - lr * (x + sigma * xi[k, 0])
            assert b.path[k + 1, row, 0] == x


def test_noise_and_starts_depend_on_the_seed_only():
    n = gradient_noise(0.3, [5, 1, 5], 4, 2)
    assert np.array_equal(n[:, 0], n[:, 2]) and not np.array_equal(n[:, 0], n[:, 1])
    assert np.array_equal(gradient_noise(0.3, [1], 4, 2)[:, 0], n[:, 1])
    p = problems.get("bowl")
    a = draw_starts(p, (-7, 2), 1.0, [0, 1, 2])
    assert np.array_equal(draw_starts(p, (-7, 2), 1.0, [2])[0], a[2])
    assert (abs(a - [-7, 2]) <= 1).all() and len({tuple(r) for r in a}) == 3
    g = draw_starts(p, (9.9, 4.9), 5.0, range(50), shape="gaussian")
    assert (g <= [10, 5]).all() and (g >= [-10, -5]).all()       # clipped into the window
    with pytest.raises(InputError, match="spread"):
        draw_starts(p, (0, 0), -1, [0])
    with pytest.raises(InputError, match="seeds"):
        gradient_noise(0.1, [-1], 3, 2)


# -- the vectorised batch ----------------------------------------------------------------------

@pytest.mark.parametrize("name", SIX + ["adadelta", "nadam", "adamax", "amsgrad"])
def test_batch_equals_trials_one_by_one_bit_for_bit(name):
    task = SurfaceTask(problems.get("rosenbrock"), steps=40, noise=0.3, spread=0.2)
    space = parse_space(name)
    configs = plan(space, 6, seed=1)
    seeds = [0, 1, 2]
    together = task.evaluate(space, configs, seeds, curves=True)
    for i, c in enumerate(configs):
        alone = task.evaluate(space, [c], seeds, curves=True)
        assert np.array_equal(alone.values[0], together.values[i])
        assert np.array_equal(alone.curves[0], together.curves[i], equal_nan=True)
        for j, s in enumerate(seeds):  # and one seed at a time, with scalar hyperparameters
            opt = optim.create(name, **c)
            start = draw_starts(task.problem, task.start, 0.2, [s])
            b = run_batch(task.problem, opt, start, 40, noise=0.3, seeds=[s])
            f = float(task.problem.f(b.final)[0]) if b.diverged_at[0] < 0 else np.inf
            assert f == together.values[i, j]


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 5), st.integers(1, 4), st.sampled_from(["loss", "distance", "steps"]))
def test_batch_shapes_and_metrics(m, s, metric):
    task = SurfaceTask(problems.get("bowl"), steps=15, metric=metric, noise=0.1, spread=0.5)
    space = parse_space("adam")
    ev = task.evaluate(space, plan(space, m, seed=m), list(range(s)))
    assert ev.values.shape == (m, s)
    if metric == "steps":
        assert ((ev.values >= 0) & (ev.values <= 16)).all()
    else:
        assert (ev.values >= 0).all()


def test_diverged_runs_are_worst_values_not_crashes():
    task = SurfaceTask(problems.get("bowl"), steps=20)
    ev = task.evaluate(parse_space("sgd"), [{"lr": 5.0}, {"lr": 0.1}], [0])
    assert ev.values[0, 0] == np.inf and ev.diverged[0, 0] and np.isfinite(ev.values[1, 0])
    steps = SurfaceTask(problems.get("bowl"), steps=20, metric="steps")
    assert steps.evaluate(parse_space("sgd"), [{"lr": 5.0}], [0]).values[0, 0] == 21


# -- the protocol ------------------------------------------------------------------------------

def test_equal_budgets_and_disjoint_seeds(tmp_path):
    url = sqlite(tmp_path)
    task = SurfaceTask(problems.get("bowl"), steps=20, noise=0.2)
    r = compare([task], ["sgd", "adam", "momentum:momentum=0.9"], budget=7, seeds=3,
                test_seeds=4, storage=url, study="eq")
    for label in ("sgd", "adam", "momentum"):
        trials = trials_of(url, f"eq/bowl/{label}")
        assert len(trials) == 7 and all(t.state.name == "COMPLETE" for t in trials)
        assert sorted(t.user_attrs["plan_index"] for t in trials) == list(range(7))
        assert all(len(t.user_attrs["seeds"]["values"]) == 3 for t in trials)
    assert r.tuning_seeds == [0, 1, 2] and r.test_seeds == held_out_seeds(4)
    assert not set(r.tuning_seeds) & set(r.test_seeds)
    assert not set(tuning_seeds(10**5, 3)) & set(held_out_seeds(10**5, 3))
    row = r.get("bowl", "adam")
    assert row.test.values.shape == (1, 4) and row.test.curves.shape == (1, 4, 21)
    # the trial value is the mean over the tuning seeds of the best configuration
    ev = task.evaluate(row.space, [row.best_config], [0, 1, 2])
    assert ev.values.mean() == row.trial_values[row.best_index] == row.trial_values.min()
    # the planned configurations are what ran, in plan order, bit for bit
    assert row.trial_configs == plan(parse_space("adam"), 7, seed=0)


def test_interrupted_run_resumes_without_redoing_trials(tmp_path):
    url = sqlite(tmp_path)
    task = SurfaceTask(problems.get("bowl"), steps=20, noise=0.2, spread=0.5)
    kw = dict(budget=9, seeds=2, test_seeds=2, seed=0, sampler="random", storage=url,
              study="r")
    store, plans, spaces = prepare([task], ["sgd", "adam"], **kw)
    calls = []

    def boom(configs):  # the third batch is interrupted by Ctrl-C
        calls.append(len(configs))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return evaluate[0](configs)

    evaluate = evaluators([task], spaces, [0, 1])
    with pytest.raises(KeyboardInterrupt):
        work(store, plans[:1], [boom], chunk=4)
    done = [t for t in trials_of(url, "r/bowl/sgd") if t.state.name == "COMPLETE"]
    assert len(done) == 8
    stamps = {t.number: t.datetime_complete for t in done}
    failed = [t for t in trials_of(url, "r/bowl/sgd") if t.state.name == "FAIL"]
    assert len(failed) == 1                      # the interrupted batch: failed and re-queued
    resumed = compare([task], ["sgd", "adam"], **kw)
    after = trials_of(url, "r/bowl/sgd")
    assert {t.number: t.datetime_complete for t in after if t.number in stamps} == stamps
    assert sum(t.state.name == "COMPLETE" for t in after) == 9
    fresh = compare([task], ["sgd", "adam"], **{**kw, "storage": sqlite(tmp_path, "b.db")})
    assert resumed.rows() == fresh.rows()


# -- the statistics ----------------------------------------------------------------------------

@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_expected_best_against_brute_force(direction):
    values = np.array([3.0, 1.0, 4.0, 1.0, 5.0])
    pick = min if direction == "minimize" else max
    ns = [1, 2, 3, 4]
    mean, lo, hi = expected_best(values, ns, direction)
    for k, n in enumerate(ns):
        best = np.array([pick(values[list(ix)])
                         for ix in itertools.product(range(5), repeat=n)])
        assert mean[k] == pytest.approx(best.mean(), rel=1e-12)
        assert lo[k] == np.quantile(best, 0.25, method="inverted_cdf")
        assert hi[k] == np.quantile(best, 0.75, method="inverted_cdf")


def test_performance_profile_and_ranks_by_hand():
    # costs of solvers A, B, C on three problems; C fails problem 3
    t = np.array([[1.0, 2.0, 4.0],
                  [3.0, 3.0, 1.0],
                  [2.0, 5.0, np.inf]])
    # ratios: p1 (1, 2, 4); p2 (3, 3, 1); p3 (1, 2.5, inf)
    rho = performance_profile(t, np.array([1.0, 2.0, 2.5, 3.0, 4.0, 1e9]))
    assert rho.tolist() == [[2 / 3, 2 / 3, 2 / 3, 1, 1, 1],
                            [0, 1 / 3, 2 / 3, 1, 1, 1],
                            [1 / 3, 1 / 3, 1 / 3, 1 / 3, 2 / 3, 2 / 3]]
    assert ranks(t).tolist() == [[1, 2, 3], [2.5, 2.5, 1], [1, 2, 3]]
    with pytest.raises(ValueError):
        performance_profile(np.array([[0.0, 1.0]]), np.array([1.0]))


def test_quantiles_hold_infinity():
    v = np.array([1.0, 2.0, 3.0, np.inf])
    assert quantile(v, 0.25) == np.quantile(v[:3].tolist() + [9.0], 0.25)
    assert median_iqr(v) == (2.5, 1.75, np.inf)
    assert median_iqr(np.full(4, np.inf)) == (np.inf, np.inf, np.inf)


# -- the command: reports, manifests, rerun, bad input -----------------------------------------

def run_cli(capsys, *argv):
    try:
        code = main(["compare", *argv])
    except SystemExit as e:  # a flag's type refused its value (argparse)
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def test_report_figures_and_rerun(tmp_path, capsys):
    out = tmp_path / "a"
    args = ["--problem", "bowl", "rosenbrock", "--optimizers", "sgd", "adam", "--budget", "5",
            "--seeds", "2", "--steps", "15", "--noise", "0.1", "--start-spread", "0.3"]
    code, text, _ = run_cli(capsys, *args, "--out", str(out))
    assert code == 0 and "median [IQR]" in text and "mean rank" in text
    names = {p.name for p in out.iterdir()}
    assert {"study.db", "report.txt", "results.csv", "trials.csv", "manifest.json",
            "expected_best_bowl.png", "loss_rosenbrock.png", "profile.png"} <= names
    doc = json.loads((out / "manifest.json").read_text())
    assert doc["command"] == "compare" and doc["settings"]["budget"] == 5
    with open(out / "trials.csv") as f:
        assert len(list(csv.reader(f))) == 1 + 2 * 2 * 5
    assert main(["rerun", str(out / "manifest.json"), "--out", str(tmp_path / "b")]) == 0
    for name in ("results.csv", "trials.csv", "report.txt", "profile.png", "loss_bowl.png"):
        assert (out / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


@pytest.mark.parametrize("argv, culprit", [
    (["--optimizers", "adamm"], "unknown optimizer 'adamm'"),
    (["--optimizers", "adam:gamma=1..2"], "gamma"),
    (["--optimizers", "adam:lr=1..1"], "empty"),
    (["--optimizers", "adam:lr=2..1"], "inverted"),
    (["--optimizers", "adam", "--budget", "0"], "--budget"),
    (["--optimizers", "adam", "--seeds", "0"], "--seeds"),
    (["--optimizers", "adam", "--noise", "-1"], "--noise"),
    (["--optimizers", "adam", "--storage", "postgresql://u@127.0.0.1:1/db"],
     "--storage postgresql://u@127.0.0.1:1/db: cannot be reached"),
    (["--optimizers", "adam", "--storage", "nosuchdb://x"], "--storage nosuchdb://x"),
    (["--optimizers", "adam", "--metric", "accuracy"], "--metric"),
    (["--optimizers", "adam", "--chunk", "0"], "--chunk"),
    (["--optimizers", "adam", "--workers", "0"], "--workers"),
    (["--optimizers", "adam", "--heartbeat", "0"], "--heartbeat"),
    (["--optimizers", "adam", "adam"], "given twice"),
    (["--optimizers", "adam", "--test-seeds", "0"], "--test-seeds"),
])
def test_bad_input_is_one_line_before_any_trial(tmp_path, capsys, argv, culprit):
    out = tmp_path / "o"
    code, _, err = run_cli(capsys, "--problem", "bowl", "--steps", "5", "--budget", "3",
                           *argv, "--out", str(out))
    assert code == 2 and culprit in err and len(err.strip().splitlines()) == 1
    db = out / "study.db"
    if db.exists():
        with sqlite3.connect(db) as c:
            assert c.execute("select count(*) from trials").fetchone()[0] == 0


def test_a_study_with_another_space_is_left_alone(tmp_path, capsys):
    out = str(tmp_path / "o")
    base = ["--problem", "bowl", "--steps", "5", "--budget", "3", "--seeds", "1", "--out", out]
    assert run_cli(capsys, *base, "--optimizers", "sgd", "adam")[0] == 0
    url = f"sqlite:///{tmp_path / 'o' / 'study.db'}"
    before = [(t.number, t.value, t.params, t.state) for t in trials_of(url, "compare/bowl/adam")]
    code, _, err = run_cli(capsys, *base, "--optimizers", "sgd", "adam:lr=1e-3..1")
    assert code == 2 and "'compare/bowl/adam' exists with a different protocol" in err
    assert "space" in err
    code, _, err = run_cli(capsys, *base, "--optimizers", "sgd", "adam", "--noise", "0.5")
    assert code == 2 and "task" in err
    after = [(t.number, t.value, t.params, t.state) for t in trials_of(url, "compare/bowl/adam")]
    assert after == before
    names = [s.study_name for s in optuna.study.get_all_study_summaries(storage=url)]
    assert sorted(names) == ["compare/bowl/adam", "compare/bowl/sgd"]


def test_tpe_runs_exactly_the_budget(tmp_path):
    task = SurfaceTask(problems.get("bowl"), steps=10)
    r = compare([task], ["adam"], budget=12, seeds=1, sampler="tpe", storage=sqlite(tmp_path))
    assert len(r.results[0].trial_values) == 12
    assert len(trials_of(sqlite(tmp_path), "compare/bowl/adam")) == 12


def test_mnist_study_on_tiny_data(tmp_path, capsys):
    write_files(tmp_path / "mnist", tiny_mnist(n_train=64, n_test=16))
    out = tmp_path / "m"
    code, text, _ = run_cli(capsys, "--problem", "mnist", "--optimizers", "sgd", "adam",
                            "--budget", "3", "--seeds", "2", "--iterations", "8",
                            "--batch-size", "8", "--hidden", "6", "--data-dir",
                            str(tmp_path / "mnist"), "--out", str(out))
    assert code == 0 and "test_accuracy median [IQR]" in text and "higher is better" in text
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["optimizer"] for r in rows] == ["sgd", "adam"]
    assert all(0 <= float(r["test_median"]) <= 1 for r in rows)
    assert (out / "loss.png").exists() and (out / "expected_best.png").exists()


def test_collect_is_a_function_of_the_trials(tmp_path):
    """Two reports built from one study are equal (what every worker writes)."""
    url = sqlite(tmp_path)
    task = SurfaceTask(problems.get("bowl"), steps=10, noise=0.3)
    kw = dict(budget=4, seeds=2, test_seeds=3, seed=1, sampler="random", storage=url,
              study="c")
    compare([task], ["adam"], **kw)
    store, plans, spaces = prepare([task], ["adam"], **kw)
    a = collect(store, plans, [task], spaces, budget=4, tuning=[1, 2],
                test=held_out_seeds(3, 1), sampler="random")
    b = compare([task], ["adam"], **kw)
    assert a.rows() == b.rows()


# -- noise in race and sweep -------------------------------------------------------------------

def test_race_with_seeds_draws_a_band(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["race", "--problem", "bowl", "--start=-7,2", "--steps", "12", "--optimizers",
                 "sgd:lr=0.3", "adam:lr=0.3", "--seeds", "4", "--noise", "0.5",
                 "--start-spread", "1", "--out", str(out)]) == 0
    with open(out / "seeds.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 4 * 13 and {r["seed"] for r in rows} == {"0", "1", "2", "3"}
    assert (out / "spread.png").exists()
    # seed 2 of sgd is the documented draw: start from default_rng([2, 1]), noise from [2, 2]
    task = SurfaceTask(problems.get("bowl"), steps=12, noise=0.5, spread=1.0)
    ev = task.evaluate(parse_space("sgd"), [{"lr": 0.3}], [2], curves=True)
    mine = [float(r["f"]) for r in rows if r["optimizer"] == "sgd" and r["seed"] == "2"]
    assert mine == ev.curves[0, 0].tolist()
    code = main(["race", "--problem", "bowl", "--optimizers", "sgd", "--noise", "-1",
                 "--out", str(tmp_path / "x")])
    assert code == 2 and "--noise" in capsys.readouterr().err


def test_sweep_noise_changes_outcomes_and_is_reproducible(tmp_path):
    from descentlab.lab.sweep import sweep

    p = problems.get("quartic")
    clean = sweep(p, "adam:eps=1e-10", lr=np.linspace(0.1, 3, 30), start=(-8,), steps=99)
    noisy = [sweep(p, "adam:eps=1e-10", lr=np.linspace(0.1, 3, 30), start=(-8,), steps=99,
                   noise=2.0, seed=3) for _ in range(2)]
    assert np.array_equal(noisy[0].final, noisy[1].final)
    assert not np.array_equal(clean.final, noisy[0].final)
    zero = sweep(p, "adam:eps=1e-10", lr=np.linspace(0.1, 3, 30), start=(-8,), steps=99,
                 noise=0.0, seed=3)
    assert np.array_equal(zero.final, clean.final)


def test_local_workers_share_the_study(tmp_path, capsys):
    args = ["--problem", "bowl", "--optimizers", "sgd", "adam", "--budget", "6", "--seeds",
            "2", "--steps", "10", "--noise", "0.2"]
    assert run_cli(capsys, *args, "--workers", "2", "--out", str(tmp_path / "two"))[0] == 0
    assert run_cli(capsys, *args, "--out", str(tmp_path / "one"))[0] == 0
    for f in ("results.csv", "trials.csv"):
        assert (tmp_path / "two" / f).read_bytes() == (tmp_path / "one" / f).read_bytes()
    url = f"sqlite:///{tmp_path / 'two' / 'study.db'}"
    assert len(trials_of(url, "compare/bowl/adam")) == 6


# -- bulk bookkeeping: the same study as Optuna's per-trial API ------------------------------

def _stored(url, name):
    """Every field of every trial a report or a user could read, in trial order."""
    return [(t.number, t.state, t.value, t.params, t.distributions, t.user_attrs,
             t.system_attrs, t.datetime_start is not None, t.datetime_complete is not None)
            for t in trials_of(url, name)]


@pytest.mark.parametrize("chunk", [None, 3])
def test_bulk_study_is_the_per_trial_study(tmp_path, chunk):
    """Queued, claimed and told in bulk, the study holds what Optuna's own calls write —
    params with their distributions, values (∞ for diverged trials), states, user attrs —
    and the report is the same."""
    task = SurfaceTask(problems.get("bowl"), steps=25, noise=0.3, spread=0.5)
    specs = ["sgd:lr=1e-3..20", "adam"]  # sgd above lr 1 diverges: ∞ values in the study
    kw = dict(budget=8, seeds=3, test_seeds=2, seed=4, chunk=chunk)
    fast = compare([task], specs, storage=sqlite(tmp_path, "a.db"), bulk=True, **kw)
    slow = compare([task], specs, storage=sqlite(tmp_path, "b.db"), bulk=False, **kw)
    assert fast.rows() == slow.rows() and fast.table() == slow.table()
    for name in ("compare/bowl/sgd", "compare/bowl/adam"):
        a, b = _stored(sqlite(tmp_path, "a.db"), name), _stored(sqlite(tmp_path, "b.db"), name)
        assert a == b and len(a) == 8
    values = [t.value for t in trials_of(sqlite(tmp_path, "a.db"), "compare/bowl/sgd")]
    assert np.inf in values and all(t.state.name == "COMPLETE"
                                    for t in trials_of(sqlite(tmp_path, "a.db"),
                                                       "compare/bowl/sgd"))
    # Optuna reads the bulk study as its own: best trial, dataframe
    study = optuna.load_study(study_name="compare/bowl/adam", storage=sqlite(tmp_path, "a.db"))
    assert study.best_value == min(fast.get("bowl", "adam").trial_values)
    r = fast.get("bowl", "adam")
    assert study.best_trial.params == r.best_config
    assert len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 8


def test_bulk_claims_never_overlap(tmp_path):
    """Two claimers on one study get disjoint trials, and all of them."""
    from descentlab.lab.compare import bulk

    task = SurfaceTask(problems.get("bowl"), steps=5)
    store, plans, _ = prepare([task], ["sgd"], budget=20, seeds=1, test_seeds=1, seed=0,
                              sampler="random", storage=sqlite(tmp_path), study="o")
    sid = store.get_study_id_from_name(plans[0].name)
    got = []
    while batch := bulk.claim(store, sid, 3) + bulk.claim(store, sid, 2):
        got += batch
    numbers = [c.number for c in got]
    assert sorted(numbers) == list(range(20)) and len(set(numbers)) == 20
    assert [c.params for c in sorted(got, key=lambda c: c.number)] == plan(
        parse_space("sgd"), 20, seed=0)
    assert bulk.claim(store, sid, 5) == [] and bulk.open_count(store, sid) == 20
    # a trial no longer RUNNING (failed as stale elsewhere) is not told
    store.set_trial_state_values(got[0].trial_id, optuna.trial.TrialState.FAIL)
    done = bulk.tell(store, [c.trial_id for c in got[:2]], [1.0, float("nan")], [{}, {}])
    assert done == []  # the first had failed, the second's nan value fails it
    states = {t.number: t.state.name for t in trials_of(sqlite(tmp_path), plans[0].name)}
    assert states[got[0].number] == "FAIL" and states[got[1].number] == "FAIL"


def test_adam_batch_equals_scalar_runs_where_numpy_power_differs():
    """NumPy's vectorised power differs from C's pow for some (β, t) (β = 0.97076…, t = 19);
    a batch of array β's must still give each run what it gets with a float β."""
    from descentlab.optim.moments import power

    b = 0.9707673451833094
    assert power(np.full((3, 1), b), 19)[0, 0] == b ** 19
    task = SurfaceTask(problems.get("bowl"), steps=100, noise=0.5, spread=1.0)
    space = parse_space("adam")
    c = {"lr": 0.07399580872738955, "beta1": 0.9653889166713064, "beta2": b}
    together = task.evaluate(space, [c, c], [0, 3])
    for j, s in enumerate((0, 3)):
        start = draw_starts(task.problem, task.start, 1.0, [s])
        one = run_batch(task.problem, optim.create("adam", **c), start, 100, noise=0.5,
                        seeds=[s])
        assert float(task.problem.f(one.final)[0]) == together.values[0, j]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.0, 1.0, exclude_max=True), min_size=1, max_size=6),
       st.integers(0, 400))
def test_power_is_the_float_pow_element_by_element(betas, t):
    from descentlab.optim.moments import power

    out = power(np.array(betas)[:, None], t)
    assert out.dtype == np.float64 and out[:, 0].tolist() == [b ** t for b in betas]


# -- MNIST: iterations to a target accuracy ---------------------------------------------------

def learnable_mnist(n_train, n_test, seed=0):
    """Small IDX data a network can learn: class y lights image rows 2y and 2y + 1."""
    rng = np.random.default_rng(seed)
    out = {}
    for part, n in (("train", n_train), ("t10k", n_test)):
        y = rng.integers(0, 10, n)
        x = rng.integers(0, 60, (n, 28, 28))
        for i, label in enumerate(y):
            x[i, 2 * label:2 * label + 2] = 255
        out[f"{part}-images-idx3-ubyte"], out[f"{part}-labels-idx1-ubyte"] = x, y
    return out


def _tiny_task(tmp_path, **kw):
    from descentlab.data import load_mnist
    from descentlab.lab.compare import MnistTask

    write_files(tmp_path / "mnist", learnable_mnist(n_train=72, n_test=8, seed=2))
    (x, t), (xt, tt) = load_mnist(tmp_path / "mnist", download=False)
    return MnistTask(x, t, xt, tt, **{"iterations": 12, "batch_size": 8, "hidden": (6,),
                                      "metric": "iterations_to_accuracy", **kw})


def test_iterations_to_accuracy_by_hand(tmp_path):
    """The value is the first checked iteration whose held-out accuracy reaches the target:
    computed here by training separately for K, 2K, … iterations (the mini-batches of a
    shorter run are a prefix of a longer one's) and measuring the accuracy at the end."""
    from descentlab.lab.mnist_race import train_together
    from descentlab.nn import MultiLayerNet

    task = _tiny_task(tmp_path, target_accuracy=0.5, check_every=3)
    assert task.n_val == 6 and len(task.x_fit) == 66          # 72 // 12 held out
    assert np.array_equal(task.x_val, task.x_train[66:])
    space = parse_space("adam")
    configs = [{"lr": 0.05, "beta1": 0.9, "beta2": 0.999},
               {"lr": 1e-4, "beta1": 0.9, "beta2": 0.999}]
    ev = task.evaluate(space, configs, [0, 1])
    for i, c in enumerate(configs):
        for j, seed in enumerate((0, 1)):
            expected = 13.0                                   # never: iterations + 1
            for k in (3, 6, 9, 12):
                net = MultiLayerNet(784, [6], 10, seed=seed)
                train_together({"n": net}, {"n": optim.create("adam", **c)}, task.x_fit,
                               task.t_fit, iterations=k, batch_size=8, seed=seed, log=None,
                               progress=False, train_accuracy=False)
                if net.accuracy(task.x_val, task.t_val) >= 0.5:
                    expected = float(k)
                    break
            assert ev.values[i, j] == expected, (i, j)
    assert ev.values[0].min() < 13                           # the test can tell a reach
    # the test-seed re-runs train on (for the loss curves) and give the same values
    assert np.array_equal(task.evaluate(space, configs, [0, 1], curves=True).values, ev.values)


def test_unreached_and_diverged_score_the_worst_value(tmp_path):
    task = _tiny_task(tmp_path, target_accuracy=1.0, check_every=4)
    ev = task.evaluate(parse_space("sgd"), [{"lr": 1e-6}, {"lr": 1e12}], [0])
    assert ev.values.tolist() == [[13.0], [13.0]] and ev.diverged.tolist() == [[False], [True]]


def test_mnist_iterations_to_accuracy_study(tmp_path, capsys):
    write_files(tmp_path / "mnist", learnable_mnist(n_train=72, n_test=8, seed=2))
    out = tmp_path / "m"
    code, text, _ = run_cli(capsys, "--problem", "mnist", "--optimizers", "sgd", "adam",
                            "--budget", "3", "--seeds", "2", "--test-seeds", "3",
                            "--iterations", "10", "--batch-size", "8", "--hidden", "6",
                            "--metric",
                            "iterations_to_accuracy", "--target-accuracy", "0.3",
                            "--check-every", "2", "--data-dir", str(tmp_path / "mnist"),
                            "--out", str(out))
    assert code == 0, text
    assert "iterations to 0.3 val. accuracy median [IQR]" in text and "lower is better" in text
    assert "6 held-out training images, checked every 2 iterations; not reached in 10: 11" \
        in text
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert all(float(r["test_median"]) in (2, 4, 6, 8, 10, 11) for r in rows)  # 3 seeds
    assert min(float(r["test_median"]) for r in rows) <= 10   # some optimizer got there
    doc = json.loads((out / "manifest.json").read_text())
    assert doc["settings"]["tasks"][0]["target_accuracy"] == 0.3


@pytest.mark.parametrize("argv, culprit", [
    (["--target-accuracy", "0"], "--target-accuracy must be a number in (0, 1], got 0.0"),
    (["--target-accuracy", "1.5"], "--target-accuracy"),
    (["--target-accuracy", "nan"], "--target-accuracy"),
    (["--check-every", "0"], "--check-every"),
    (["--check-every", "11"], "--check-every must be a whole number from 1 to --iterations"),
])
def test_bad_accuracy_target_is_one_line_before_any_data(tmp_path, capsys, argv, culprit):
    out = tmp_path / "o"
    code, _, err = run_cli(capsys, "--problem", "mnist", "--optimizers", "adam", "--budget",
                           "2", "--iterations", "10", "--metric", "iterations_to_accuracy",
                           "--data-dir", str(tmp_path / "none"), *argv, "--out", str(out))
    assert code == 2 and culprit in err and len(err.strip().splitlines()) == 1
    assert not (out / "study.db").exists()


@pytest.mark.parametrize("argv", [["--problem", "mnist", "--metric", "test_accuracy"],
                                  ["--problem", "bowl"]])
def test_target_accuracy_only_with_its_metric(tmp_path, capsys, argv):
    code, _, err = run_cli(capsys, *argv, "--optimizers", "adam", "--target-accuracy", "0.9",
                           "--data-dir", str(tmp_path / "none"), "--out", str(tmp_path / "o"))
    assert code == 2 and "--target-accuracy and --check-every apply to" in err


def test_mnist_study_runs_under_the_blas_thread_policy(tmp_path, capsys, monkeypatch):
    """compare --problem mnist: the same --blas-threads policy as `mnist` and `init`
    (:func:`blas_threads`, tested in test_trust_cli.py), in force while every trial and test
    re-run trains, and recorded in the manifest."""
    import contextlib

    from descentlab.commands import _common
    from descentlab.lab.compare import tasks

    policy = _common.blas_threads
    active = []

    @contextlib.contextmanager
    def spy_policy(setting):
        with policy(setting) as n:
            active.append(setting)
            yield n
            active.pop()

    calls = []
    evaluate = tasks.MnistTask.evaluate

    def spy(self, *a, **k):
        calls.append(list(active))
        return evaluate(self, *a, **k)

    monkeypatch.setattr(_common, "blas_threads", spy_policy)
    monkeypatch.setattr(tasks.MnistTask, "evaluate", spy)
    write_files(tmp_path / "mnist", tiny_mnist(n_train=64, n_test=16))
    for flag, setting in (([], "auto"), (["--blas-threads", "2"], 2)):
        calls.clear()
        out = tmp_path / f"m{setting}"
        code, _, _ = run_cli(capsys, "--problem", "mnist", "--optimizers", "sgd", "--budget",
                             "2", "--seeds", "1", "--iterations", "3", "--batch-size", "8",
                             "--hidden", "4", "--data-dir", str(tmp_path / "mnist"), *flag,
                             "--out", str(out))
        assert code == 0 and len(calls) >= 2 and all(c == [setting] for c in calls), calls
        doc = json.loads((out / "manifest.json").read_text())
        with policy(setting) as n:
            assert doc["settings"]["blas_threads"] == n
    with pytest.raises(SystemExit) as e:  # argparse's own error for a flag's value
        main(["compare", "--problem", "mnist", "--optimizers", "sgd", "--blas-threads", "0",
              "--out", str(tmp_path / "x")])
    assert e.value.code == 2 and "--blas-threads" in capsys.readouterr().err
