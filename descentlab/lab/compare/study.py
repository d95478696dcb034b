"""The Optuna side: one study per (problem, optimizer), trials planned up front, workers that
claim trials in batches, heartbeats, retries.

Layout. A comparison named ``NAME`` keeps one Optuna study per problem and optimizer,
``NAME/problem/optimizer``, in any storage Optuna takes (default: SQLite in the output
folder; a study per optimizer name, or per spec when one optimizer is compared in several
spaces). Each study's user attributes hold its *protocol* — search space, problem, metric,
steps, tuning seeds, noise, budget, sampler, seed — and ``ready`` once its trials are queued.
An existing study whose protocol differs is an error, and nothing in it is touched.

Trials. The study's creator queues exactly ``budget`` WAITING trials (``study.add_trial``),
each with its ``plan_index``: for random search with the configuration drawn up front
(:func:`.space.plan`) as its parameters, for TPE with none (TPE chooses them when the trial
starts, through ``trial.suggest_float``).
Workers never create trials: they *claim* waiting ones (WAITING → RUNNING is atomic in the
storage), evaluate a whole batch as one computation, and tell Optuna the values (ask-and-tell).
So a study has exactly ``budget`` trials whatever the number of workers, and random-search
trials are the same bits whoever runs them. On SQLite and PostgreSQL random-search trials
are queued, claimed and told a batch per transaction (:mod:`.bulk`: the same rows Optuna's
per-trial calls write, ~10× less time); TPE and other storages go through Optuna's API.
TPE in parallel is not reproducible: what TPE proposes depends on which trials have
finished when a trial starts, i.e. on timing.

Failures. While a batch runs, a thread records a heartbeat for each of its trials. A worker
that dies (killed, machine lost) stops beating; after the grace period any other worker marks
those trials FAIL (``optuna.storages.fail_stale_trials``) and Optuna's
``RetryHeartbeatStaleTrialCallback`` queues a copy with the same parameters and plan index,
which the next free worker runs. Ctrl-C fails and re-queues the batch at once. A worker
leaves only when no trial of any study is waiting or running, so every worker ends with the
complete study.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ...errors import InputError

#: Seconds between heartbeats by default; a trial is stale after GRACE_FACTOR of them.
HEARTBEAT = 10
GRACE_FACTOR = 3
#: How often an idle worker looks for work (seconds).
POLL = 0.25
#: How many times a failed trial is queued again (Optuna's retry callback).
MAX_RETRY = 3


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages and manifests).

    >>> redact("postgresql://me:secret@db.example:5432/studies")
    'postgresql://me:***@db.example:5432/studies'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def open_storage(url: str, heartbeat: int = HEARTBEAT) -> Any:
    """An Optuna RDB storage with heartbeats and retries, or an InputError naming the URL
    when it cannot be reached (bad URL, missing driver, server down, bad credentials)."""
    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not isinstance(heartbeat, int) or heartbeat < 1:
        raise InputError(f"--heartbeat must be a whole number of seconds >= 1, got {heartbeat}")
    engine: dict[str, Any] = {}
    if url.startswith("sqlite"):
        engine["connect_args"] = {"timeout": 60}
    check_sqlite_file(url)
    fresh = _new_sqlite_file(url)
    import warnings

    for attempt in range(20):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # heartbeat arguments are 'experimental'
                storage = RDBStorage(  # a file Optuna creates now has its schema: no check
                    url, engine_kwargs=engine, skip_compatibility_check=fresh and attempt == 0,
                    heartbeat_interval=heartbeat,
                    grace_period=GRACE_FACTOR * heartbeat,
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
                        max_retry=MAX_RETRY))
            if url.startswith("sqlite"):
                fast_sqlite(storage.engine)
            return storage
        except Exception as e:  # noqa: BLE001 - SQLAlchemy/driver errors of every kind
            text = str(e)
            if ("duplicate key" in text or "already exists" in text) and attempt < 19:
                time.sleep(0.1)  # another worker is creating the tables right now
                continue
            first = text.strip().splitlines()[0] if text.strip() else type(e).__name__
            raise InputError(f"--storage {redact(url)}: cannot be reached ({first})") from None
    raise AssertionError("unreachable")


def _sqlite_path(url: str) -> str | None:
    """The file of an ``sqlite:///`` URL (None: another storage, or in memory)."""
    if not url.startswith("sqlite:///"):
        return None
    from sqlalchemy.engine import make_url

    try:
        path = make_url(url).database
    except Exception:  # noqa: BLE001 - a malformed URL: RDBStorage reports it
        return None
    return None if not path or path == ":memory:" else path


def check_sqlite_file(url: str) -> None:
    """An existing SQLite study file must pass SQLite's ``PRAGMA integrity_check`` (read
    only, nothing written): a damaged one is refused with SQLite's first complaint instead
    of being read (wrong trials) or written (more damage)."""
    import os
    import sqlite3

    path = _sqlite_path(url)
    if path is None or not os.path.isfile(path) or os.path.getsize(path) == 0:
        return
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)
        try:
            rows = connection.execute("PRAGMA integrity_check(20)").fetchall()
        finally:
            connection.close()
        problems = [line for r in rows for line in str(r[0]).splitlines()
                    if line and not line.startswith("*** ")]
    except sqlite3.Error as e:
        problems = [str(e)]
    if problems != ["ok"]:
        raise InputError(f"--storage {redact(url)}: {path} is damaged or not an SQLite "
                         f"database (SQLite's integrity check: {problems[0] if problems else '?'}"
                         f"{f'; {len(problems)} problems' if len(problems) > 1 else ''}); "
                         "nothing was changed: restore it from a copy or choose another --out")


def _new_sqlite_file(url: str) -> bool:
    """Whether ``url`` names an SQLite file that does not exist yet; if so, create it empty
    in WAL mode (a property of the file), so creating the tables commits cheaply too."""
    import os
    import sqlite3

    path = _sqlite_path(url)
    if path is None or os.path.exists(path) \
            or not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        return False
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()
    return True


def fast_sqlite(engine: Any) -> None:
    """WAL journal, fsync at checkpoints only: a commit costs ~0.1 ms instead of ~4 ms, and
    the study still survives a crash of the process (not of the machine's power)."""
    import sqlalchemy

    def pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    sqlalchemy.event.listen(engine, "connect", pragmas)
    engine.dispose()


@dataclass
class StudyPlan:
    """What one study must hold: its name, protocol and (random search) planned configs."""

    name: str
    protocol: dict[str, Any]
    direction: str  #: "minimize" or "maximize"
    configs: list[dict[str, float]] | None  #: None: TPE chooses (budget empty trials)
    budget: int
    distributions: dict[str, Any]


def _normal(value: Any) -> Any:
    return json.loads(json.dumps(value))


def check_existing(storage: Any, plans: Sequence[StudyPlan]) -> list[bool]:
    """For every plan: does its study exist already? An existing one must have the same
    protocol (else InputError, naming the study and the first difference) — but for a
    larger budget, which :func:`extend_studies` adds; a smaller one is refused (a study is
    never shrunk)."""
    out = []
    for p in plans:
        try:
            sid = storage.get_study_id_from_name(p.name)
        except KeyError:
            out.append(False)
            continue
        _wait_ready(storage, sid, p.name)
        stored = storage.get_study_user_attrs(sid).get("protocol") or {}
        new = _normal(p.protocol)
        diff = [k for k in sorted(set(stored) | set(new))
                if k != "budget" and stored.get(k) != new.get(k)]
        if diff or "budget" not in stored:
            raise InputError(f"--study: study {p.name!r} exists with a different protocol "
                             f"(differs in {', '.join(diff) or 'everything'}); choose another "
                             "--study name or --out folder")
        if stored["budget"] > p.budget:
            raise InputError(f"--budget {p.budget}: study {p.name!r} already holds "
                             f"{stored['budget']} trials and is never shrunk; give --budget "
                             f"{stored['budget']} or more (or another --study or --out)")
        out.append(True)
    return out


def extend_studies(storage: Any, plans: Sequence[StudyPlan]) -> list[str]:
    """Raise the budget of existing studies to their plan's: queue the planned trials
    old budget … new budget − 1 (random search continues its plan — the first trials and
    their results are unchanged; TPE gets more trials to propose), then record the new
    budget. Safe to repeat (only plan indices not yet queued are added); run it from one
    process before starting workers on the larger budget. Returns the studies extended."""
    import optuna

    extended = []
    for p in plans:
        try:
            sid = storage.get_study_id_from_name(p.name)
        except KeyError:
            continue
        protocol = storage.get_study_user_attrs(sid).get("protocol") or {}
        if protocol.get("budget", p.budget) >= p.budget:
            continue
        have = {t.user_attrs.get("plan_index") for t in storage.get_all_trials(sid)}
        _add_waiting(optuna.load_study(study_name=p.name, storage=storage), p,
                     [i for i in range(p.budget) if i not in have])
        storage.set_study_user_attr(sid, "protocol", _normal(p.protocol))
        extended.append(p.name)
    return extended


def _add_waiting(study: Any, p: StudyPlan, indices: Sequence[int]) -> None:
    """Queue WAITING trials for these plan indices, with their planned parameters."""
    import optuna

    dists = _distributions(p)
    for i in indices:  # with their parameters: nothing to suggest
        params = p.configs[i] if p.configs else {}
        study.add_trial(optuna.trial.create_trial(
            state=optuna.trial.TrialState.WAITING, params=params,
            distributions={k: dists[k] for k in params}, user_attrs={"plan_index": i}))


def _distributions(p: StudyPlan) -> dict[str, Any]:
    """Optuna's distributions of the plan's tuned dims."""
    import optuna

    return {k: optuna.distributions.FloatDistribution(d.low, d.high, log=d.log)
            for k, d in p.distributions.items()}


def remaining(storage: Any, plans: Sequence[StudyPlan]) -> int:
    """Planned trials (over all studies) without a completed run yet."""
    return sum(p.budget - len(_completed_by_index(storage, p)) for p in plans)


def use_bulk(storage: Any, bulk: bool | None) -> bool:
    """Whether to write trials with :mod:`.bulk` (``None``: whenever the storage allows)."""
    from . import bulk as _bulk

    ok = _bulk.supported(storage)
    if bulk and not ok:
        raise InputError("bulk trial bookkeeping needs an SQLite or PostgreSQL storage of "
                         f"Optuna schema version {_bulk.SCHEMA}")
    return ok if bulk is None else bool(bulk)


def create_studies(storage: Any, plans: Sequence[StudyPlan], sampler: str, seed: int,
                   bulk: bool | None = None) -> None:
    """Create every missing study and queue its trials (in one transaction per study with
    :mod:`.bulk`, else one ``add_trial`` each); wait for studies another worker is creating
    right now. A study whose queueing fails (an error, Ctrl-C) is deleted again: nothing is
    left half-queued, and the next run creates it afresh."""
    import optuna

    from . import bulk as _bulk

    fast = use_bulk(storage, bulk)
    others = []  # created by another worker meanwhile: checked below
    for p in plans:
        direction = optuna.study.StudyDirection[p.direction.upper()]
        try:
            sid = storage.create_new_study([direction], study_name=p.name)
        except optuna.exceptions.DuplicatedStudyError:
            others.append(p)
            continue
        dists = _distributions(p)
        configs = p.configs or [{} for _ in range(p.budget)]  # TPE: chosen at the start
        try:
            if fast:  # protocol, trials and 'ready' in one transaction
                _bulk.queue(storage, sid, configs, dists,
                            {"protocol": _normal(p.protocol), "ready": True})
                continue
            study = optuna.load_study(study_name=p.name, storage=storage)
            study.set_user_attr("protocol", _normal(p.protocol))
            _add_waiting(study, p, range(len(configs)))
            study.set_user_attr("ready", True)
        except BaseException:  # Ctrl-C, a lost connection: no study half-queued stays behind
            storage.delete_study(sid)
            raise
    check_existing(storage, others)


def _wait_ready(storage: Any, study_id: int, name: str, wait: float = 120.0) -> None:
    """Wait while another worker is creating this study and queueing its trials."""
    deadline = time.monotonic() + wait
    while not storage.get_study_user_attrs(study_id).get("ready"):
        if time.monotonic() > deadline:
            raise InputError(f"study {name!r} was created but its trials were never queued "
                             "(its creator died?); delete it or use another --study")
        time.sleep(POLL)


def load(storage: Any, plan: StudyPlan, sampler: str, seed: int) -> Any:
    import optuna

    s = optuna.samplers.TPESampler(seed=seed) if sampler == "tpe" \
        else optuna.samplers.RandomSampler(seed=seed)
    return optuna.load_study(study_name=plan.name, storage=storage, sampler=s)


class _Heartbeat:
    """Records a heartbeat for ``trial_ids`` every ``interval`` seconds while open."""

    def __init__(self, storage: Any, trial_ids: list[int], interval: int) -> None:
        self.storage, self.ids, self.interval = storage, trial_ids, interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while not self.stop.wait(self.interval):
            for tid in self.ids:
                self.storage.record_heartbeat(tid)

    def __enter__(self) -> _Heartbeat:
        for tid in self.ids:
            self.storage.record_heartbeat(tid)
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join()


def _claim(storage: Any, study_id: int, n: int) -> list[int]:
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    got: list[int] = []
    for t in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING,)):
        if len(got) >= n:
            break
        tid = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
        try:
            if storage.set_trial_state_values(tid, state=TrialState.RUNNING):
                got.append(tid)
        except UpdateFinishedTrialError:
            continue
    return got


#: evaluate(configs) -> (values per config, user attrs per config)
Evaluate = Callable[[list[dict[str, float]]], tuple[list[float], list[dict[str, Any]]]]


def work(storage: Any, plans: Sequence[StudyPlan], evaluators: Sequence[Evaluate], *,
         sampler: str = "random", seed: int = 0, chunk: int | None = None,
         heartbeat: int = HEARTBEAT, progress: Callable[[int], None] | None = None,
         max_trials: int | None = None, bulk: bool | None = None) -> int:
    """Run trials of every study until none is waiting or running; return how many trials
    this worker ran. ``chunk``: trials claimed (and evaluated as one batch) at a time
    (default: all waiting ones for random search, 1 for TPE). ``max_trials`` stops this
    worker after that many (for tests of interruption). ``bulk``: claim and tell a batch of
    random-search trials in one transaction each (:mod:`.bulk`; default: whenever the
    storage allows); TPE always goes trial by trial through Optuna's ask-and-tell, since
    each proposal depends on the trials told before it."""
    import warnings

    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    fast = sampler == "random" and use_bulk(storage, bulk)
    studies = [load(storage, p, sampler, seed) for p in plans]
    ids = [storage.get_study_id_from_name(p.name) for p in plans]
    size = chunk or (1 if sampler == "tpe" else 10**9)
    done = 0
    while True:
        busy = False
        for study, sid, plan, evaluate in zip(studies, ids, plans, evaluators):
            optuna.storages.fail_stale_trials(study)
            while True:
                n = size if max_trials is None else min(size, max_trials - done)
                if n <= 0:
                    break
                ran = (_bulk_batch if fast else _optuna_batch)(
                    storage, study, sid, plan, evaluate, n, heartbeat)
                if not ran:
                    break
                done += ran
                if progress is not None:
                    progress(ran)
                if max_trials is not None and done >= max_trials:
                    return done
                if ran < n:  # none left waiting right now (the outer loop looks again)
                    break
            busy = busy or _open_trials(storage, sid, fast) > 0
        if not busy:
            return done
        time.sleep(POLL)


def _open_trials(storage: Any, study_id: int, fast: bool) -> int:
    from optuna.trial import TrialState

    from . import bulk as _bulk

    if fast:
        return _bulk.open_count(storage, study_id)
    return len(storage.get_all_trials(study_id, deepcopy=False,
                                      states=(TrialState.WAITING, TrialState.RUNNING)))


def _bulk_batch(storage: Any, study: Any, study_id: int, plan: StudyPlan,
                evaluate: Evaluate, n: int, heartbeat: int) -> int:
    """Claim up to ``n`` trials, evaluate them as one batch, tell them: one transaction
    each way (:mod:`.bulk`). Returns how many ran."""
    from . import bulk as _bulk

    claimed = _bulk.claim(storage, study_id, n)
    if not claimed:
        return 0
    tids = [c.trial_id for c in claimed]
    try:
        with _bulk.Heartbeat(storage, tids, heartbeat):
            configs = [{k: c.params[k] for k in plan.distributions} for c in claimed]
            values, attrs = evaluate(configs)
    except BaseException:
        _bulk.fail_and_requeue(storage, study_id, tids, MAX_RETRY)
        raise
    _bulk.tell(storage, tids, values, attrs)
    return len(claimed)


def _optuna_batch(storage: Any, study: Any, study_id: int, plan: StudyPlan,
                  evaluate: Evaluate, n: int, heartbeat: int) -> int:
    """The same through Optuna's per-trial API (ask-and-tell): any storage, and TPE, whose
    ``suggest_float`` proposes each configuration when its trial starts."""
    import optuna

    claimed = _claim(storage, study_id, n)
    if not claimed:
        return 0
    study.get_trials(deepcopy=False)  # lets the study's cache see them
    trials = [optuna.trial.Trial(study, tid) for tid in claimed]
    try:
        with _Heartbeat(storage, claimed, heartbeat):
            configs = [{k: t.suggest_float(k, d.low, d.high, log=d.log)
                        for k, d in plan.distributions.items()} for t in trials]
            values, attrs = evaluate(configs)
    except BaseException:
        _fail_and_requeue(storage, study, claimed)
        raise
    for t, v, a in zip(trials, values, attrs):
        for k, x in a.items():
            t.set_user_attr(k, x)
        study.tell(t, float(v))
    return len(trials)


def _fail_and_requeue(storage: Any, study: Any, trial_ids: list[int]) -> None:
    """Interrupted: mark the batch FAIL and queue each trial again (Optuna's retry)."""
    import copy

    from optuna.trial import TrialState

    retry = storage.get_heartbeat_stale_trial_callback()
    for tid in trial_ids:
        try:
            if not storage.set_trial_state_values(tid, state=TrialState.FAIL):
                continue
        except Exception:  # noqa: BLE001 - already finished elsewhere
            continue
        if retry is not None:
            retry(study, copy.deepcopy(storage.get_trial(tid)))


def _completed_by_index(storage: Any, plan: StudyPlan) -> dict[int, Any]:
    """Plan index → its first completed trial (indices within the plan's budget)."""
    from optuna.trial import TrialState

    from . import bulk as _bulk

    sid = storage.get_study_id_from_name(plan.name)
    if _bulk.supported(storage):
        trials = _bulk.completed(storage, sid)
    else:
        trials = storage.get_all_trials(sid, states=(TrialState.COMPLETE,))
    by_index: dict[int, Any] = {}
    for t in trials:
        i = t.user_attrs.get("plan_index")
        if i is not None and i < plan.budget and i not in by_index:
            by_index[i] = t
    return by_index


def completed(storage: Any, plan: StudyPlan) -> list[Any]:
    """The COMPLETE trials of a study, one per plan index (the first to complete), in plan
    order: objects with ``value``, ``params`` and ``user_attrs`` (Optuna's FrozenTrials, or
    :class:`.bulk.Done` read in bulk where the storage allows — the same fields). Raises
    InputError if some planned trial has no completed run."""


    by_index = _completed_by_index(storage, plan)
    missing = [i for i in range(plan.budget) if i not in by_index]
    if missing:
        raise InputError(f"study {plan.name!r}: trials {missing[:5]} never completed "
                         f"({len(missing)} of {plan.budget}); run the command again to resume")
    return [by_index[i] for i in range(plan.budget)]


__all__ = ["HEARTBEAT", "StudyPlan", "open_storage", "fast_sqlite", "check_existing",
           "create_studies", "extend_studies", "remaining", "use_bulk", "work", "completed",
           "redact", "check_sqlite_file", "MAX_RETRY"]
