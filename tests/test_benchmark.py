"""The benchmark testbed: statistics against hand computations (exhaustive sign-flip
enumeration written out, Holm by hand, the integrated score by hand and by numerical
integration of the profile, bootstrap coverage on a known distribution), and the command
end to end on small data: a reduced smoke preset over every workload, resume after an
interruption, exactly ``budget`` trials with two workers, errors naming the culprit."""

from __future__ import annotations

import csv
import itertools
import json
import math
import sqlite3

import numpy as np
import pytest

from descentlab.cli import main
from descentlab.errors import InputError
from descentlab.lab.compare.report import performance_profile
from descentlab.lab.testbed import scaled, stats, target_rule
from descentlab.lab.testbed.run import median_study

from .test_data import write_files
from .test_workloads import striped_mnist

# ---------------------------------------------------------------- statistics (goldens)


def test_sign_flip_p_value_by_exhaustive_enumeration():
    # d = (3, -1, 2, 4): observed sum 8. The 16 sign patterns give sums ±3 ±1 ±2 ±4;
    # |sum| >= 8 for exactly four of them: +3+1+2+4 = 10, +3-1+2+4 = 8 and their negatives.
    sums = [a * 3 + b * 1 + c * 2 + e * 4 for a, b, c, e in itertools.product((1, -1),
                                                                             repeat=4)]
    assert sorted(abs(s) for s in sums if abs(s) >= 8) == [8, 8, 10, 10]
    assert stats.sign_flip_test([3.0, -1.0, 2.0, 4.0]) == 4 / 16
    # all differences zero: every pattern ties, p = 1
    assert stats.sign_flip_test([0.0, 0.0, 0.0]) == 1.0
    # five positive differences of one size: only the all-+ and all-− patterns: 2/32
    assert stats.sign_flip_test([2.0] * 5) == 2 / 32


def test_sign_flip_monte_carlo_beyond_the_exact_limit():
    n = stats.EXACT_UP_TO + 4
    p = stats.sign_flip_test([1.0] * n, seed=3)       # exact p = 2 / 2**20 ≈ 2e-6
    assert p == pytest.approx(1 / (1 + stats.N_PERM), abs=2 / (1 + stats.N_PERM))
    mixed = np.array([1.0, -1.0] * (n // 2))          # mean 0: every pattern is at least as far
    assert stats.sign_flip_test(mixed, seed=3) == 1.0
    with pytest.raises(InputError, match="finite"):
        stats.sign_flip_test([1.0, math.inf])


def test_holm_by_hand():
    # sorted 0.01 < 0.03 < 0.04 (m = 3): 3·0.01 = 0.03, 2·0.03 = 0.06, 1·0.04 = 0.04 → the
    # running maximum 0.03, 0.06, 0.06, returned in the order given
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])   # capped at 1


def test_verdicts_say_faster_slower_or_cannot_tell():
    fast = np.array([10.0, 12, 11, 10, 13, 12, 11, 10, 12, 11])
    v = stats.verdicts(np.stack([fast, fast + 5, fast + 0.0]), ["a", "b", "c"])
    # a vs b: every seed 5 faster → p = 2/1024, Holm over 3 pairs ×3 (the smallest p)
    assert v[("a", "b")] == ("faster", pytest.approx(3 * 2 / 1024))
    assert v[("b", "a")][0] == "slower"
    assert v[("a", "c")][0] == "cannot tell" and v[("a", "c")][1] == 1.0
    noisy = np.stack([fast, fast + np.array([3.0, -3, 3, -3, 3, -3, 3, -3, 3, -2])])
    assert stats.verdicts(noisy, ["a", "b"])[("a", "b")][0] == "cannot tell"


def test_integrated_score_by_hand_and_by_integrating_the_profile():
    costs = np.array([[10.0, 20.0], [30.0, 10.0], [np.inf, 50.0]])
    r = stats.ratios(costs)
    assert r.tolist() == [[1.0, 2.0], [3.0, 1.0], [math.inf, 1.0]]
    # solver 0: (4−1) + (4−3) + 0 = 4 → 4 / 3 problems / (4 − 1) = 4/9
    # solver 1: (4−2) + (4−1) + (4−1) = 8 → 8/9
    assert stats.integrated_score(r) == pytest.approx([4 / 9, 8 / 9])
    taus = np.linspace(1, 4, 300001)
    rho = performance_profile(costs, taus)
    numeric = np.trapezoid(rho, taus, axis=1) / 3
    assert numeric == pytest.approx(stats.integrated_score(r), abs=1e-4)


def test_bootstrap_interval_covers_the_mean_of_a_known_distribution():
    rng = np.random.default_rng(0)
    hits = 0
    reps = 300
    for i in range(reps):
        x = rng.normal(5.0, 2.0, 30)
        _, lo, hi = stats.bootstrap_ci(x, np.mean, n_boot=1000, seed=i)
        hits += lo <= 5.0 <= hi
    # the percentile interval at 95 % covers 92-96 % at n = 30; 300 repetitions: ±2.5 %
    assert 0.88 <= hits / reps <= 0.99


def test_bootstrap_median_with_runs_that_never_reach():
    est, lo, hi = stats.bootstrap_ci([1.0, 2.0, math.inf, math.inf, math.inf], seed=0)
    assert est == math.inf and hi == math.inf and lo >= 1.0
    with pytest.raises(InputError, match="at least one"):
        stats.bootstrap_ci([])


def test_median_study_by_hand():
    # best costs of five studies: sorted 0.1 (1), 0.2 (2), 0.25 (4), 0.3 (0), inf (3): the
    # middle (third) is study 4
    assert median_study([0.3, 0.1, 0.2, math.inf, 0.25]) == 4
    # four studies: the lower middle of 0.1 (2), 0.2 (0), 0.2 (3), 0.5 (1) → study 0 (a tie
    # with study 3 goes to the earlier)
    assert median_study([0.2, 0.5, 0.1, 0.2]) == 0
    assert median_study([0.7]) == 0


def _run(workload, variant, optimizer, seed, steps, config="tuned"):
    from descentlab.lab.testbed import TestRun

    return TestRun(workload=workload, variant=variant, optimizer=optimizer, config=config,
                   seed=seed, target=0.0, final=0.5, reached_at=steps,
                   cpu_at_target=steps / 100, cpu_seconds=1.0, wall_seconds=1.0,
                   diverged=False)


def test_a_failed_variant_disqualifies_the_base_workload():
    """Two optimizers, two workloads, three test seeds, hand-made steps to target:
    nqm: a 10, b 20; charlm: a 30, b 10; a's held-out nqm:steep never reaches the target on
    two of three seeds (median ∞), b's reaches it on all."""
    from descentlab.lab.testbed import WorkloadObjective
    from descentlab.lab.testbed.report import markdown
    from descentlab.lab.testbed.run import BenchmarkResult
    from descentlab.lab.testbed.summary import summarise

    steps = {("nqm", "", "a"): [10, 10, 10], ("nqm", "", "b"): [20, 20, 20],
             ("charlm", "", "a"): [30, 30, 30], ("charlm", "", "b"): [10, 10, 10],
             ("nqm", "steep", "a"): [math.inf, math.inf, 10], ("nqm", "steep", "b"): [20] * 3}
    runs = [_run(w, v, o, 1_000_000 + j, x, config)
            for (w, v, o), xs in steps.items() for j, x in enumerate(xs)
            for config in (("tuned", "default") if not v else ("tuned",))]
    objectives = [WorkloadObjective("nqm", {"dim": 5, "steps": 40, "eval_every": 10}),
                  WorkloadObjective("charlm", {"steps": 40, "eval_every": 10})]
    result = BenchmarkResult(
        objectives=objectives, labels=["a", "b"], spaces=[], budget=1, tuning_seeds=[0],
        test_seeds=[1_000_000, 1_000_001, 1_000_002], trials={},
        best={(w, o): {"lr": 0.1} for w in ("nqm", "charlm") for o in "ab"},
        defaults={}, targets={"nqm": 0.1, "charlm": 3.0}, runs=runs,
        variants={"nqm": ["steep"]})
    summary = summarise(result, n_boot=50)
    assert summary.disqualified_on("a") == ["nqm"] and summary.disqualified_on("b") == []
    # without the rule: ratios nqm (1, 2), charlm (3, 1) → a (3 + 1)/2/3 = 2/3, b 5/6.
    # with it: nqm (∞, 1), charlm (3, 1) → a (0 + 1)/2/3 = 1/6, b (3 + 3)/2/3 = 1
    assert summary.score == pytest.approx([1 / 6, 1.0])
    assert summary.steps_costs[0].tolist() == [math.inf, 20.0]
    page = markdown(result, summary, title="t", machine={}, wall_seconds=1.0)
    assert "| a | 0.167" in page and "| 1/2 | nqm |" in page
    assert "(**disqualified**: failed a variant)" in page


def test_a_variant_is_scored_against_its_own_target(tmp_path):
    """AlgoPerf gives a held-out variant a target of its own. Here: each optimizer's tuned
    configuration (of the base workload) trained on the variant on the tuning seed, its final
    validation loss; the variant's target is the median of these over the optimizers (two
    optimizers: their mean). The old code scored the variant against the base's target."""
    from descentlab import optim
    from descentlab.lab import workloads
    from descentlab.lab.compare.space import config_kwargs
    from descentlab.lab.testbed.run import benchmark

    nqm = {"dim": 10, "steps": 40, "eval_every": 10}
    # search spaces narrowed to stable step sizes (a diverging run's loss is dominated by
    # the largest curvature, the same 1 in the base and the variant)
    r = benchmark({"nqm": nqm}, ["sgd:lr=0.05..0.5", "adam:lr=0.005..0.05"], budget=2,
                  seeds=1, test_seeds=2, out=tmp_path, variants={"nqm": ["steep"]})
    steep = workloads.make("nqm", variant="steep", **nqm)
    losses = []
    for sp in r.spaces:
        opt = optim.create(sp.name, **config_kwargs(sp, r.best[("nqm", sp.label)]))
        run = steep.run(opt, seed=r.tuning_seeds[0])
        losses.append(math.inf if run.diverged else run.final["loss"])
    assert all(math.isfinite(v) and v < 10 for v in losses)
    by_hand = (losses[0] + losses[1]) / 2
    assert r.targets["nqm:steep"] == pytest.approx(by_hand, rel=1e-9)
    variant_runs = [x for x in r.runs if x.variant == "steep"]
    assert len(variant_runs) == 2 * 2
    assert all(x.target == pytest.approx(by_hand, rel=1e-9) for x in variant_runs)
    # not the base workload's target (what the old code used): the steeper spectrum's loss
    # is on another scale
    assert r.targets["nqm"] != pytest.approx(by_hand, rel=1e-3)
    # steps to target on the variant: the first evaluation meeting its own target
    for x in variant_runs:
        hit = [s for s, v in zip(x.curve_steps, x.curve_values) if v <= x.target]
        assert x.reached_at == (hit[0] if hit else math.inf)


def test_variant_settings_win_over_the_presets(mnist_dir):
    from descentlab.lab.testbed import WorkloadObjective

    base = {"n_train": 300, "n_valid": 100, "steps": 4, "eval_every": 2,
            "data_dir": str(mnist_dir)}
    tanh = WorkloadObjective("mlp", {**base, "activation": "relu"}, "tanh")
    assert tanh.task.activation == "tanh"
    short = WorkloadObjective("charlm", {"steps": 4, "eval_every": 2, "seq_len": 32}, "short")
    assert short.task.seq_len == 16
    # a "small-data" variant with more training images than the base is refused, by name
    with pytest.raises(InputError, match="variant cnn:small-data trains on 5000 images"):
        WorkloadObjective("cnn", base, "small-data")


def test_target_rule_and_scale():
    assert target_rule([0.4, 0.1, math.inf, 0.2]) == 0.2
    assert target_rule([math.inf]) == math.inf
    assert scaled({"steps": 150, "eval_every": 15, "n_train": 4000}, 0.1) == {
        "steps": 15, "eval_every": 7, "n_train": 400}


# ---------------------------------------------------------------- the command end to end


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("mnist")
    write_files(d, striped_mnist(720, 100))
    return d


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_reduced_smoke_preset_end_to_end(mnist_dir, tmp_path, capsys):
    """The smoke preset over all six workloads, shrunk (--scale 0.1, 2 optimizers, budget 2,
    3 test seeds) so that it runs in seconds."""
    out = tmp_path / "smoke"
    argv = ["benchmark", "--preset", "smoke", "--scale", "0.1", "--optimizers", "sgd", "adam",
            "--budget", "2", "--test-seeds", "3", "--data-dir", str(mnist_dir),
            "--out", str(out)]
    assert main(argv) == 0
    trials = rows(out / "trials.csv")
    assert len(trials) == 6 * 2 * 2
    assert {r["workload"] for r in trials} == {"nqm", "logreg", "mlp", "autoencoder", "cnn",
                                                 "charlm"}
    runs = rows(out / "runs.csv")
    # tuned + defaults on 6 workloads, tuned on 3 variants; 2 optimizers × 3 seeds
    assert len(runs) == 2 * 3 * (2 * 6 + 3)
    assert {r["variant"] for r in runs} == {"", "steep", "tanh", "short"}
    assert all(r["seed"].startswith("100000") for r in runs)       # fresh test seeds
    curves = rows(out / "curves.csv")
    assert len(curves) > len(runs)
    report = (out / "report.md").read_text()
    for section in ("## Leaderboard", "## Which optimizers cannot be separated",
                    "## Defaults against tuned", "## Held-out variants", "sign-flip"):
        assert section in report
    for fig in ("profiles", "steps_to_target", "curves", "defaults_vs_tuned"):
        assert (out / f"{fig}.png").stat().st_size > 10_000
        assert f"({fig}.png)" in report
    doc = json.loads((out / "manifest.json").read_text())
    assert doc["command"] == "benchmark" and set(doc["settings"]["targets"]) == {
        "nqm", "logreg", "mlp", "autoencoder", "cnn", "charlm",
        "nqm:steep", "mlp:tanh", "charlm:short"}             # a variant has its own target
    # every target is the median of the optimizers' best tuning costs (here: 2 optimizers)
    for w in ("nqm", "charlm"):
        best = [min(float(r["tuning_cost"]) for r in trials
                    if r["workload"] == w and r["optimizer"] == o) for o in ("sgd", "adam")]
        finite = [b for b in best if math.isfinite(b)]
        assert doc["settings"]["targets"][w] == pytest.approx(float(np.median(finite)))
    # steps to target re-derived from the curves: the first evaluation meeting the target
    by_run = {}
    for c in curves:
        by_run.setdefault((c["workload"], c["variant"], c["optimizer"], c["config"],
                           c["seed"]), []).append((int(c["step"]), float(c["value"] or "nan")))
    for r in runs:
        if r["workload"] != "charlm":
            continue
        target = float(r["target"])
        hit = [s for s, v in by_run[(r["workload"], r["variant"], r["optimizer"],
                                     r["config"], r["seed"])] if v <= target]
        assert r["steps_to_target"] == (str(hit[0]) if hit else "inf")


def completed_per_study(db_path):
    """{study name: COMPLETE trials} of an Optuna SQLite file."""
    db = sqlite3.connect(db_path)
    return dict(db.execute("select s.study_name, count(*) from trials t join studies s "
                           "on s.study_id = t.study_id where t.state = 'COMPLETE' "
                           "group by s.study_name").fetchall())


def test_interrupted_benchmark_resumes_with_exact_budget(tmp_path):
    out = tmp_path / "b"
    argv = ["benchmark", "--workloads", "nqm", "--optimizers", "sgd", "momentum",
            "--budget", "3", "--test-seeds", "2", "--scale", "0.1", "--no-variants",
            "--chunk", "1", "--out", str(out)]
    assert main([*argv, "--max-trials", "4"]) == 0          # stopped after 4 of 6 trials
    assert not (out / "report.md").exists()
    assert main([*argv, "--max-trials", "3"]) == 0          # the last 2 + 1 test run
    assert not (out / "report.md").exists()
    assert sum(completed_per_study(out / "study.db").values()) == 6 + 1
    assert main(argv) == 0
    trials = rows(out / "trials.csv")
    assert len(trials) == 2 * 3
    done = completed_per_study(out / "study.db")
    tuning = {k: v for k, v in done.items() if "/test/" not in k}
    tests = {k: v for k, v in done.items() if "/test/" in k}
    assert sorted(tuning.values()) == [3, 3]
    assert sorted(tests.values()) == [4, 4]                 # configs × seeds, each once
    first = rows(out / "runs.csv")
    assert len(first) == 2 * 2 * 2                           # optimizers × configs × seeds
    (out / "report.md").unlink()
    assert main(argv) == 0                                    # nothing left to run
    assert completed_per_study(out / "study.db") == done
    assert rows(out / "runs.csv") == first


def test_a_changed_tuning_result_gets_fresh_test_runs():
    """The test runs' study is named by what decides them: another configuration or target
    makes another study (so no stale run is reused), the same ones the same study."""
    from descentlab.lab.compare.space import parse_space
    from descentlab.lab.testbed import WorkloadObjective, test_plan

    obj = WorkloadObjective("nqm", {"dim": 5, "steps": 4, "eval_every": 2})
    sp = parse_space("sgd")
    a = test_plan("b", obj, sp, {"tuned": {"lr": 0.1}}, [7, 8])
    assert a.name == test_plan("b", obj, sp, {"tuned": {"lr": 0.1}}, [7, 8]).name
    assert a.budget == 2 and a.name.startswith("b/test/nqm/sgd/")
    assert a.name != test_plan("b", obj, sp, {"tuned": {"lr": 0.2}}, [7, 8]).name
    obj.set_target(0.5)
    assert a.name != test_plan("b", obj, sp, {"tuned": {"lr": 0.1}}, [7, 8]).name


def test_rerun_replays_a_benchmark(tmp_path):
    out = tmp_path / "a"
    assert main(["benchmark", "--workloads", "nqm", "--optimizers", "sgd", "adam",
                 "--budget", "2", "--test-seeds", "2", "--scale", "0.1", "--out",
                 str(out)]) == 0
    assert main(["rerun", str(out / "manifest.json"), "--out", str(tmp_path / "b")]) == 0
    for name in ("trials.csv", "summary.csv"):
        a = rows(out / name)
        b = rows(tmp_path / "b" / name)
        drop = ("cpu_median", "cpu_lo", "cpu_hi")   # CPU seconds are measured, not replayed
        assert [{k: v for k, v in r.items() if k not in drop} for r in a] == [
            {k: v for k, v in r.items() if k not in drop} for r in b]


def test_the_median_study_is_tested(tmp_path):
    """--studies 3: three studies of 3 trials per optimizer; the configuration re-run on the
    test seeds is the best trial of the median study, re-derived here from trials.csv, and
    the target is the median over the optimizers of those studies' best costs."""
    out = tmp_path / "s"
    assert main(["benchmark", "--workloads", "nqm", "--optimizers", "sgd", "adam",
                 "--budget", "3", "--studies", "3", "--test-seeds", "2", "--scale", "0.1",
                 "--no-variants", "--out", str(out)]) == 0
    trials = rows(out / "trials.csv")
    assert len(trials) == 2 * 3 * 3
    import optuna

    url = f"sqlite:///{out / 'study.db'}"
    tested_configs = {}
    for summary in optuna.get_all_study_summaries(url):
        if "/test/" in summary.study_name:
            protocol = summary.user_attrs["protocol"]
            tested_configs[protocol["optimizer"]] = protocol["configs"]["tuned"]
    doc = json.loads((out / "manifest.json").read_text())["settings"]
    chosen_costs = []
    for o in ("sgd", "adam"):
        mine = [r for r in trials if r["optimizer"] == o]
        assert sorted({r["study"] for r in mine}) == ["0", "1", "2"]
        best = {k: min((r for r in mine if r["study"] == k),
                       key=lambda r: (float(r["tuning_cost"]), int(r["plan_index"])))
                for k in ("0", "1", "2")}
        order = sorted(best, key=lambda k: (float(best[k]["tuning_cost"]), int(k)))
        median = best[order[1]]
        assert doc["chosen_study"][f"nqm/{o}"] == int(order[1])
        tested = tested_configs[o]
        assert tested == pytest.approx({k: float(median[k]) for k in tested})
        chosen_costs.append(float(median["tuning_cost"]))
    assert doc["targets"]["nqm"] == pytest.approx(float(np.median(chosen_costs)))


def test_two_workers_run_exactly_the_budget(tmp_path):
    out = tmp_path / "w"
    argv = ["benchmark", "--workloads", "nqm", "--optimizers", "sgd", "adam", "--budget", "6",
            "--test-seeds", "2", "--scale", "0.1", "--no-variants", "--workers", "2",
            "--out", str(out)]
    assert main(argv) == 0
    done = completed_per_study(out / "study.db")
    assert sorted(v for k, v in done.items() if "/test/" not in k) == [6, 6]
    # the test runs are shared too: every (configuration, seed) ran exactly once
    assert sorted(v for k, v in done.items() if "/test/" in k) == [4, 4]
    assert len(rows(out / "trials.csv")) == 12
    assert len(rows(out / "runs.csv")) == 2 * 2 * 2


@pytest.mark.parametrize("extra, culprit", [
    (["--workloads", "mnist"], "--workloads: unknown workload 'mnist'"),
    (["--workloads", "cnn"], "workload cnn needs --data-dir"),
    (["--workloads", "nqm", "--scale", "0"], "--scale"),
    (["--workloads", "nqm", "--optimizers", "adamz"], "unknown optimizer 'adamz'"),
    (["--workloads", "nqm", "--alpha", "1.5"], "--alpha"),
    (["--workloads", "nqm", "--budget", "0"], "--budget"),
])
def test_bad_input_names_the_culprit(tmp_path, capsys, extra, culprit):
    assert main(["benchmark", *extra, "--out", str(tmp_path / "x")]) == 2
    assert culprit in capsys.readouterr().err
    assert not (tmp_path / "x").exists()                     # nothing written


def test_an_optimizer_refusing_a_nonfinite_gradient_is_a_diverged_run(monkeypatch):
    from descentlab.errors import NonFiniteError
    from descentlab.lab.compare.space import parse_space
    from descentlab.lab.testbed import WorkloadObjective

    obj = WorkloadObjective("nqm", {"dim": 5, "steps": 4, "eval_every": 2})

    def refuse(optimizer, seed=0):
        raise NonFiniteError("the gradient of W is not finite at step 3")

    monkeypatch.setattr(obj.task, "run", refuse)
    ev = obj.evaluate(parse_space("lamb"), [{"lr": 1.0}], [0, 1])  # not element-wise: run()
    assert ev.values.tolist() == [[math.inf, math.inf]]
    assert ev.diverged.tolist() == [[True, True]]


def test_a_plugin_optimizer_runs_through_the_suite(tmp_path):
    from .test_plugins import RULES

    rules = tmp_path / "my_rules.py"
    rules.write_text(RULES)
    out = tmp_path / "p"
    assert main(["benchmark", "--plugin", str(rules), "--workloads", "nqm", "charlm",
                 "--optimizers", "my_signum", "sgd", "--budget", "2", "--test-seeds", "2",
                 "--scale", "0.1", "--out", str(out)]) == 0
    trials = rows(out / "trials.csv")
    assert {r["optimizer"] for r in trials} == {"my_signum", "sgd"}
    assert {r["beta"] for r in trials if r["optimizer"] == "my_signum"} != {""}  # tuned
    assert "| my_signum |" in (out / "report.md").read_text()


@pytest.mark.parametrize("preset", ["smoke", "standard"])
def test_docs_quote_the_committed_runs(preset):
    """docs/benchmark.md's numbers are lines of the committed report of each preset's run,
    its wall time and command those of the committed manifest."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    run = root / "docs" / "figures" / f"benchmark_{preset}"
    doc = (root / "docs" / "benchmark.md").read_text()
    block = doc.split(f"<!-- {preset}:begin -->")[1].split(f"<!-- {preset}:end -->")[0]
    report = (run / "report.md").read_text().splitlines()
    quoted = [line for line in block.splitlines()
              if line.startswith(("|", "Machine:", "- **"))]
    assert len(quoted) >= 10
    for line in quoted:
        assert line in report
    manifest = json.loads((run / "manifest.json").read_text())
    assert f"{manifest['settings']['wall_seconds'] / 60:.1f} min" in block
    assert "descentlab " + " ".join(manifest["argv"][:-2]) in " ".join(block.split())
    for name in manifest["outputs"]:
        assert (run / name).exists()


def test_the_parsers_names_are_the_testbeds():
    """commands/benchmark.py writes the preset and workload names and α for the parser (so
    that `descentlab --help` imports no network): they are the testbed's."""
    from descentlab.commands import benchmark
    from descentlab.lab import testbed, workloads

    assert benchmark.PRESET_NAMES == tuple(sorted(testbed.PRESETS))
    assert benchmark.WORKLOAD_NAMES == tuple(workloads.WORKLOADS)
    assert benchmark.ALPHA == testbed.stats.ALPHA


def test_targets_from_tuned_baselines(tmp_path):
    """A run at the NQM's own budget sets its target: the best over the optimizers of the
    median final validation loss over the test seeds, re-derived here from runs.csv; a
    shrunk run is refused by name; the targets file is merged, others kept."""
    import shutil

    from descentlab.lab.testbed import targets
    from descentlab.lab.workloads.base import TARGETS_FILE

    out = tmp_path / "full"
    assert main(["benchmark", "--preset", "standard", "--workloads", "nqm", "--optimizers",
                 "sgd", "adam", "--budget", "2", "--studies", "1", "--test-seeds", "3",
                 "--no-variants", "--out", str(out)]) == 0
    runs = [r for r in rows(out / "runs.csv") if r["config"] == "tuned" and not r["variant"]]
    # a diverged run (final empty) is the worst loss: ∞
    by_opt = {o: sorted(float(r["final"] or "inf") for r in runs if r["optimizer"] == o)
              for o in ("sgd", "adam")}
    medians = {o: v[1] for o, v in by_opt.items()}          # 3 seeds: the middle one
    best = min(medians, key=medians.get)
    file = tmp_path / "targets.json"
    shutil.copy(TARGETS_FILE, file)
    assert targets.main([str(out), "--file", str(file)]) == 0
    doc = json.loads(file.read_text())["workloads"]
    assert doc["nqm"]["value"] == pytest.approx(medians[best], rel=1e-5)
    assert doc["nqm"]["provenance"].startswith(f"best of tuned baselines: {best}, median "
                                               "over 3 test seeds")
    assert doc["cnn"] == json.loads(TARGETS_FILE.read_text())["workloads"]["cnn"]
    shrunk = tmp_path / "shrunk"
    assert main(["benchmark", "--workloads", "nqm", "--optimizers", "sgd", "--budget", "1",
                 "--test-seeds", "2", "--scale", "0.1", "--out", str(shrunk)]) == 0
    before = file.read_text()
    with pytest.raises(InputError, match="workload nqm in .* ran with settings"):
        targets.derive(shrunk)
    assert targets.main([str(shrunk), "--file", str(file)]) == 2
    assert file.read_text() == before                        # nothing changed


def test_the_workloads_read_their_targets_file():
    """Every workload's default target is its entry in targets.json, and the table in the
    workloads' docstring quotes those values."""
    from descentlab.lab import workloads
    from descentlab.lab.workloads.base import TARGETS_FILE

    doc = json.loads(TARGETS_FILE.read_text())["workloads"]
    bases = {name for name in doc if ":" not in name}
    assert bases == set(workloads.WORKLOADS)
    for name in set(doc) - bases:                      # a held-out variant's own entry
        w, v = name.split(":")
        assert v in workloads.VARIANTS[w] and workloads.default_target(w, v).value == \
            doc[name]["value"]
    table = workloads.__doc__
    for name, entry in ((n, doc[n]) for n in bases):
        target = workloads.default_target(name)
        assert (target.metric, target.value, target.mode) == (
            entry["metric"], entry["value"], entry["mode"])
        assert entry["provenance"]
        line = next(ln for ln in table.splitlines() if ln.startswith(name + " "))
        assert line.rstrip().endswith(f"{'≤' if entry['mode'] == 'min' else '≥'} "
                                      f"{entry['value']:g}")
    assert workloads.make("nqm").target.value == doc["nqm"]["value"]
    # an entry set from tuned baselines is what the targets tool derives again from the
    # committed run it names
    from pathlib import Path

    from descentlab.lab.testbed import targets

    root = Path(__file__).resolve().parents[1]
    derived = [name for name, e in doc.items() if not e["provenance"].startswith("provisional")]
    assert "nqm" in derived
    for name in derived:
        folder = doc[name]["provenance"].split("read from ")[1].split(" by ")[0]
        again = targets.derive(root / folder, [name.split(":")[0]])[name]
        assert (again["metric"], again["mode"], again["value"]) == (
            doc[name]["metric"], doc[name]["mode"], doc[name]["value"])


def test_targets_of_held_out_variants(tmp_path, monkeypatch):
    """A run that ran variants writes each one's own entry ("nqm:steep": the best over the
    optimizers of the median final loss of their tuned runs on the variant); make() scores a
    variant against its entry, and against the base workload's while it has none."""
    from descentlab.lab import workloads
    from descentlab.lab.testbed import targets
    from descentlab.lab.workloads import base

    out = tmp_path / "v"
    assert main(["benchmark", "--preset", "standard", "--workloads", "nqm", "--optimizers",
                 "sgd", "adam", "--budget", "2", "--studies", "1", "--test-seeds", "3",
                 "--out", str(out)]) == 0
    runs = [r for r in rows(out / "runs.csv") if r["config"] == "tuned"]
    entries = targets.derive(out)
    assert set(entries) == {"nqm", "nqm:steep", "nqm:wide", "nqm:small-batch"}
    for v in ("steep", "wide", "small-batch"):
        medians = {o: sorted(float(r["final"] or "inf") for r in runs
                             if r["variant"] == v and r["optimizer"] == o)[1]
                   for o in ("sgd", "adam")}                 # 3 seeds: the middle one
        best = min(medians, key=medians.get)
        assert entries[f"nqm:{v}"]["value"] == pytest.approx(medians[best], rel=1e-5)
        assert entries[f"nqm:{v}"]["provenance"].startswith(
            f"best of tuned baselines (tuned on nqm): {best}, median over 3 test seeds")
    committed = base._targets()
    assert workloads.make("nqm", variant="steep").target.value == committed["nqm:steep"][
        "value"]                                          # its own committed entry
    # without an entry for nqm:steep: the base workload's target (provisional rule)
    monkeypatch.setattr(base, "_targets", lambda: {k: v for k, v in committed.items()
                                                   if k != "nqm:steep"})
    assert workloads.make("nqm", variant="steep").target == workloads.make("nqm").target
    with_entry = {**committed, "nqm:steep": {"metric": "loss", "mode": "min",
                                             "value": 0.5, "provenance": "test"}}
    monkeypatch.setattr(base, "_targets", lambda: with_entry)
    assert workloads.make("nqm", variant="steep").target.value == 0.5
    assert workloads.make("nqm", variant="steep", target=0.25).target.value == 0.25
    assert workloads.make("nqm").target.value == with_entry["nqm"]["value"]


def test_docs_quote_the_standard_estimate():
    """docs/benchmark.md's estimate of the standard preset is the committed output of
    benchmarks/benchmark_estimate.py, made for the preset as it is now."""
    from pathlib import Path

    from descentlab.lab.testbed import PRESETS

    root = Path(__file__).resolve().parents[1]
    doc = (root / "docs" / "benchmark.md").read_text()
    out = (root / "docs" / "benchmark_estimate.txt").read_text().splitlines()
    block = doc.split("<!-- estimate:begin -->")[1].split("<!-- estimate:end -->")[0]
    total = [line for line in block.splitlines() if line.startswith("total:")]
    assert len(total) == 1 and total[0] in out
    p = PRESETS["standard"]
    assert out[0] == (f"preset standard: {len(p.optimizers)} optimizers "
                      f"({', '.join(p.optimizers)}); {p.budget} trials × {p.studies} studies "
                      f"× {p.seeds} tuning seed(s); {p.test_seeds} test seeds")
    rows = {line.split()[0]: float(line.split()[-1]) for line in out[2:-1]}
    assert set(rows) == {*p.workloads, *(f"{w}:{v}" for w, vs in p.variants.items()
                                         for v in vs)}
    assert f"{sum(rows.values()):.1f}" == total[0].split()[1] or abs(
        sum(rows.values()) - float(total[0].split()[1])) < 0.05 * len(rows)
