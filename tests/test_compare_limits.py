"""`compare` at its limits: documented bounds before any work, a damaged study file refused,
nothing half-queued, an interrupted batch re-queued at once (as Optuna's retry would)."""

import hashlib
import sqlite3

import optuna
import pytest

from descentlab import problems
from descentlab.cli import main
from descentlab.lab import limits
from descentlab.lab.compare import SurfaceTask, evaluators, prepare
from descentlab.lab.compare.study import MAX_RETRY, work


def run_cli(capsys, *argv):
    try:
        code = main(["compare", *argv])
    except SystemExit as e:  # argparse's flag types
        code = e.code
    return code, *capsys.readouterr()


def names(url):
    return sorted(s.study_name for s in optuna.get_all_study_summaries(url))


@pytest.mark.parametrize("argv, culprit", [
    (["--workers", "100000"], f"argument --workers: 100000 is more than the limit of "
                              f"{limits.MAX_WORKERS:,} local worker processes"),
    (["--steps", "1000000000"], "argument --steps: 1000000000 is more than the limit of 1,000,000"),
    (["--budget", "100001"], "argument --budget: 100001 is more than the limit of 100,000 trials"),
    (["--seeds", "1000000"], "argument --seeds: 1000000 is more than the limit of 999,999 seeds"),
    # 3,000 × 10,000 runs × 2 coordinates × 700 bytes = 39.1 GiB, estimated before any array
    (["--budget", "3000", "--seeds", "10000"],
     "--budget × --seeds: a batch of 3,000 trials × 10,000 seeds on bowl would need about "
     "39.1 GiB, more than the limit of 4 GiB; evaluate fewer at a time with --chunk 306"),
    # with --chunk the memory fits, but 30,000,000 runs × 100 steps is past MAX_WORK
    (["--budget", "3000", "--seeds", "10000", "--chunk", "10"],
     "3,000,000,000 run-steps, more than the limit of 2,000,000,000"),
    (["--test-seeds", "900000", "--steps", "1000"],
     "--test-seeds: the re-runs on 900,000 test seeds with their curves on bowl would need"),
])
def test_limits_refuse_before_anything_is_written(tmp_path, capsys, argv, culprit):
    out = tmp_path / "o"
    code, _, err = run_cli(capsys, "--problem", "bowl", "--optimizers", "sgd", *argv,
                           "--out", str(out))
    assert code == 2 and culprit in err and len(err.strip().splitlines()) == 1
    assert not out.exists()  # not even the folder


def test_memory_estimate_is_the_sweep_rate():
    """The estimate is what benchmarks/sweep_memory.py measured per run and coordinate,
    plus the race's count for the paths: written out by hand here."""
    task = SurfaceTask(problems.get("bowl"), steps=99)
    assert task.batch_bytes(3, 4) == 3 * 4 * 2 * 700
    assert task.batch_bytes(1, 5, curves=True) == 5 * 2 * 700 + 3 * 8 * 100 * 5 * 3


def _study_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    store, _, _ = prepare([SurfaceTask(problems.get("bowl"), steps=5)], ["sgd"], budget=200,
                          seeds=1, test_seeds=1, seed=0, sampler="random", storage=url,
                          study="s")
    store.engine.dispose()
    with sqlite3.connect(tmp_path / "study.db") as c:  # everything into the main file
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return tmp_path / "study.db"


def test_a_damaged_study_file_is_refused_untouched(tmp_path, capsys):
    db = _study_file(tmp_path)
    size = db.stat().st_size
    with open(db, "r+b") as f:  # cell pointers of a b-tree page near the end: garbage
        f.seek(size - 3 * 4096 + 8)
        f.write(b"\xff" * 64)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    code, _, err = run_cli(capsys, "--problem", "bowl", "--optimizers", "sgd", "--budget",
                           "200", "--seeds", "1", "--steps", "5", "--study", "s",
                           "--out", str(tmp_path))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{db} is damaged or not an SQLite database (SQLite's integrity check: " in err
    assert "out of range" in err or "malformed" in err  # SQLite's own words
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert not (tmp_path / "report.txt").exists()


def test_a_file_that_is_not_a_database_is_refused(tmp_path, capsys):
    (tmp_path / "study.db").write_text("notes, not a study\n")
    code, _, err = run_cli(capsys, "--problem", "bowl", "--optimizers", "sgd", "--budget",
                           "3", "--steps", "5", "--out", str(tmp_path))
    assert code == 2 and "file is not a database" in err
    assert (tmp_path / "study.db").read_text() == "notes, not a study\n"


class Boom(Exception):
    pass


@pytest.mark.parametrize("bulk", [True, False])
def test_an_error_mid_queue_leaves_the_storage_as_before(tmp_path, monkeypatch, bulk):
    """An error after some trials of a study were queued (both ways of queueing) leaves the
    storage as it was: the other study, already there, untouched; no half-queued one."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    task = SurfaceTask(problems.get("bowl"), steps=5)
    kw = dict(budget=30, seeds=1, test_seeds=1, seed=0, sampler="random", storage=url,
              bulk=bulk)
    prepare([task], ["adam"], study="kept", **kw)
    real = optuna.distributions.FloatDistribution.to_internal_repr
    calls = []

    def failing(self, value):  # the 20th parameter written: some trials are queued already
        calls.append(value)
        if len(calls) == 20:
            raise Boom("injected")
        return real(self, value)

    monkeypatch.setattr(optuna.distributions.FloatDistribution, "to_internal_repr", failing)
    with pytest.raises(Boom):
        prepare([task], ["sgd"], study="new", **kw)
    monkeypatch.undo()
    assert len(calls) == 20
    assert names(url) == ["kept/bowl/adam"]
    kept = optuna.load_study(study_name="kept/bowl/adam", storage=url).get_trials()
    assert len(kept) == 30 and {t.state.name for t in kept} == {"WAITING"}
    store, plans, spaces = prepare([task], ["sgd"], study="new", **kw)  # runs afresh
    assert work(store, plans, evaluators([task], spaces, [0]), bulk=bulk) == 30


def _interrupted(tmp_path, name, bulk, times, chunk):
    """A study of 6 trials whose batch is interrupted ``times`` times, then finished."""
    url = f"sqlite:///{tmp_path / name}"
    task = SurfaceTask(problems.get("bowl"), steps=5)
    store, plans, spaces = prepare([task], ["sgd"], budget=6, seeds=1, test_seeds=1, seed=0,
                                   sampler="random", storage=url, study="i", bulk=bulk)
    evaluate = evaluators([task], spaces, [0])[0]
    left = [times]

    def flaky(configs):
        if left[0]:
            left[0] -= 1
            raise KeyboardInterrupt
        return evaluate(configs)

    for _ in range(times):
        with pytest.raises(KeyboardInterrupt):
            work(store, plans, [flaky], chunk=chunk, bulk=bulk)
    work(store, plans, [flaky], chunk=chunk, bulk=bulk)
    return optuna.load_study(study_name="i/bowl/sgd", storage=url).get_trials()


@pytest.mark.parametrize("times, chunk", [(1, 4), (2, 4), (MAX_RETRY + 1, None)])
def test_bulk_requeue_is_optunas_retry(tmp_path, times, chunk):
    """Failed and re-queued in one transaction, the study holds what Optuna's retry callback
    writes trial by trial: numbers, states, parameters, plan indices, failed_trial and
    retry_history; past MAX_RETRY retries a trial is not queued again."""
    fast = _interrupted(tmp_path, "a.db", True, times, chunk)
    slow = _interrupted(tmp_path, "b.db", False, times, chunk)

    def fields(trials):
        return [(t.number, t.state.name, t.value, t.params, t.distributions, t.user_attrs,
                 t.system_attrs) for t in trials]

    assert fields(fast) == fields(slow)
    failed = [t for t in fast if t.state.name == "FAIL"]
    if times == 1:  # trials 0-3 failed; their copies are 6-9, which ran
        assert len(fast) == 10 and [t.number for t in failed] == [0, 1, 2, 3]
        retry = next(t for t in fast if t.system_attrs.get("failed_trial") == 0)
        assert retry.number == 6 and retry.system_attrs["retry_history"] == [0]
        assert retry.params == failed[0].params and retry.state.name == "COMPLETE"
    if chunk is None:  # every trial failed 4 times: after the 3rd retry they are given up
        assert len(fast) == 6 * (MAX_RETRY + 1) and len(failed) == len(fast)
        assert max(len(t.system_attrs.get("retry_history", [])) for t in fast) == MAX_RETRY
