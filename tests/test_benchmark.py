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
    assert {r["variant"] for r in runs} == {"", "steep", "tanh", "small-data"}
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
        "nqm", "logreg", "mlp", "autoencoder", "cnn", "charlm"}
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


def test_interrupted_benchmark_resumes_with_exact_budget(tmp_path):
    out = tmp_path / "b"
    argv = ["benchmark", "--workloads", "nqm", "--optimizers", "sgd", "momentum",
            "--budget", "3", "--test-seeds", "2", "--scale", "0.1", "--no-variants",
            "--chunk", "1", "--out", str(out)]
    assert main([*argv, "--max-trials", "4"]) == 0          # stopped after 4 of 6 trials
    assert not (out / "report.md").exists()
    assert main(argv) == 0
    trials = rows(out / "trials.csv")
    assert len(trials) == 2 * 3
    journal = (out / "test_runs.jsonl").read_text().splitlines()
    assert len(journal) == 2 * 2 * 2                         # optimizers × configs × seeds
    first = rows(out / "runs.csv")
    (out / "report.md").unlink()
    assert main(argv) == 0                                    # nothing left to run
    assert (out / "test_runs.jsonl").read_text().splitlines() == journal
    assert rows(out / "runs.csv") == first
    # a journal line for another configuration (e.g. an older run's) is not reused
    stale = json.loads(journal[0])
    stale["params"] = {k: v * 2 for k, v in stale["params"].items()}
    (out / "test_runs.jsonl").write_text("\n".join([json.dumps(stale), *journal[1:]]) + "\n")
    assert main(argv) == 0
    assert len((out / "test_runs.jsonl").read_text().splitlines()) == len(journal) + 1
    again = rows(out / "runs.csv")          # the same numbers again (the NQM's batch of
    for a, b in zip(again, first, strict=True):   # one run may differ in the last bit)
        assert {k: a[k] for k in ("seed", "config", "steps_to_target", "diverged")} == {
            k: b[k] for k in ("seed", "config", "steps_to_target", "diverged")}
        assert float(a["final"]) == pytest.approx(float(b["final"]), rel=1e-12)
    db = sqlite3.connect(out / "study.db")
    counts = db.execute("select count(*) from trials where state = 'COMPLETE' "
                        "group by study_id").fetchall()
    assert [c for (c,) in counts] == [3, 3]


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


def test_two_workers_run_exactly_the_budget(tmp_path):
    out = tmp_path / "w"
    argv = ["benchmark", "--workloads", "nqm", "--optimizers", "sgd", "adam", "--budget", "6",
            "--test-seeds", "2", "--scale", "0.1", "--no-variants", "--workers", "2",
            "--out", str(out)]
    assert main(argv) == 0
    db = sqlite3.connect(out / "study.db")
    counts = db.execute("select count(*) from trials where state = 'COMPLETE' "
                        "group by study_id").fetchall()
    assert [c for (c,) in counts] == [6, 6]
    assert len(rows(out / "trials.csv")) == 12


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


def test_docs_quote_the_committed_smoke_run():
    """docs/benchmark.md's numbers are lines of the committed report, its wall time and
    command those of the committed manifest."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    run = root / "docs" / "figures" / "benchmark_smoke"
    doc = (root / "docs" / "benchmark.md").read_text()
    block = doc.split("<!-- smoke:begin -->")[1].split("<!-- smoke:end -->")[0]
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
