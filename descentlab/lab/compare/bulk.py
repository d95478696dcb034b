"""Bulk bookkeeping in Optuna's RDB storage: a batch of trials queued, claimed and told in one
transaction each, instead of several storage round trips per trial.

Why. A random-search study knows its trials up front (:func:`.space.plan`) and evaluates a
whole batch of them as one vectorised computation; Optuna's per-trial API (``add_trial``,
``set_trial_state_values``, ``set_trial_user_attr``, ``tell``) then costs more than the
evaluations: a transaction and several queries per trial and per attribute (~10 ms a trial
on SQLite, measured by ``benchmarks/compare_speed.py``). Here the same rows are written
with one statement per table and batch:

* :func:`queue` — the study's ``budget`` WAITING trials with their numbers, parameters
  (value and distribution, as ``add_trial`` stores them) and ``plan_index``;
* :func:`claim` — WAITING → RUNNING for up to ``n`` trials as ONE ``UPDATE … RETURNING``
  (atomic in SQLite and PostgreSQL: two workers never claim the same trial; in PostgreSQL
  the candidates are picked ``FOR UPDATE SKIP LOCKED``), their first heartbeats and their
  parameters read back in the same transaction;
* :func:`tell` — RUNNING → COMPLETE with the values and user attributes; a trial that is no
  longer RUNNING (failed meanwhile as stale by another worker, which re-queued a copy) is
  left alone, as Optuna's ``tell`` would refuse it;
* :func:`fail_and_requeue` — an interrupted batch RUNNING → FAIL and a WAITING copy of each
  (what Optuna's ``RetryHeartbeatStaleTrialCallback`` adds trial by trial: the same
  parameters, user attributes and ``failed_trial``/``retry_history``), in one transaction;
* :class:`Heartbeat` — one ``UPDATE`` per beat for the whole batch;
* :func:`completed` — the finished trials read back with three queries.

The rows are exactly those Optuna's own calls write (same tables, columns, encodings: enum
names, naive UTC datetimes, JSON attributes, ±∞ as value types), so Optuna, the dashboard,
``fail_stale_trials`` and the retry callback read them as their own; tests compare a study
written here with one written through Optuna's API field by field. It is used only on the
schema it was written for (:func:`supported`: SQLite or PostgreSQL, Optuna schema version
:data:`SCHEMA`); any other storage takes Optuna's per-trial API.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: The Optuna RDB schema version (``optuna.storages._rdb.models.SCHEMA_VERSION``) these
#: statements were written and tested against.
SCHEMA = 12
DIALECTS = ("sqlite", "postgresql")


def _models() -> Any:
    from optuna.storages._rdb import models

    return models


def supported(storage: Any) -> bool:
    """Can this storage take the bulk statements? (An RDB storage on SQLite or PostgreSQL
    with the schema version they were written for.)"""
    from optuna.storages import RDBStorage

    if not isinstance(storage, RDBStorage) or storage.engine.name not in DIALECTS:
        return False
    try:
        return _models().SCHEMA_VERSION == SCHEMA
    except Exception:  # noqa: BLE001 - a changed Optuna: use its API
        return False


def _now() -> datetime:
    """What Optuna stores: naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


def queue(storage: Any, study_id: int, configs: Sequence[dict[str, float]],
          distributions: dict[str, Any], study_attrs: dict[str, Any] | None = None) -> None:
    """Add one WAITING trial per configuration to a study that has none yet (its creator's
    first write), numbered 0…, with its parameters and ``plan_index``, and the study's user
    attributes ``study_attrs`` (new keys), in one transaction: other workers see all of it
    or nothing. An empty configuration (TPE) queues a trial without parameters."""
    import sqlalchemy as sa
    from optuna.distributions import distribution_to_json
    from optuna.trial import TrialState

    m = _models()
    trials, params, attrs = (m.TrialModel.__table__, m.TrialParamModel.__table__,
                             m.TrialUserAttributeModel.__table__)
    dist_json = {k: distribution_to_json(d) for k, d in distributions.items()}
    with storage.engine.begin() as c:
        if study_attrs:
            c.execute(sa.insert(m.StudyUserAttributeModel.__table__), [
                {"study_id": study_id, "key": k, "value_json": json.dumps(v)}
                for k, v in study_attrs.items()])
        c.execute(sa.insert(trials), [{"number": i, "study_id": study_id,
                                       "state": TrialState.WAITING}
                                      for i in range(len(configs))])
        ids = dict(c.execute(sa.select(trials.c.number, trials.c.trial_id)
                             .where(trials.c.study_id == study_id)).all())
        if len(ids) != len(configs):
            raise RuntimeError(f"study {study_id} already had trials; not queued")
        rows = [{"trial_id": ids[i], "param_name": k,
                 "param_value": distributions[k].to_internal_repr(v),
                 "distribution_json": dist_json[k]}
                for i, cfg in enumerate(configs) for k, v in cfg.items()]
        if rows:
            c.execute(sa.insert(params), rows)
        c.execute(sa.insert(attrs), [{"trial_id": ids[i], "key": "plan_index",
                                      "value_json": json.dumps(i)}
                                     for i in range(len(configs))])


@dataclass
class Claimed:
    """A trial this worker now runs: its id, number and parameters (external values)."""

    trial_id: int
    number: int
    params: dict[str, float]


def claim(storage: Any, study_id: int, n: int) -> list[Claimed]:
    """WAITING → RUNNING for up to ``n`` trials of the study (lowest numbers first), their
    heartbeats started, in one transaction; returns them in number order."""
    import sqlalchemy as sa
    from optuna.distributions import json_to_distribution
    from optuna.trial import TrialState

    m = _models()
    trials, params, beats = (m.TrialModel.__table__, m.TrialParamModel.__table__,
                             m.TrialHeartbeatModel.__table__)
    pick = (sa.select(trials.c.trial_id)
            .where(trials.c.study_id == study_id, trials.c.state == TrialState.WAITING)
            .order_by(trials.c.number).limit(n))
    if storage.engine.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    with storage.engine.begin() as c:
        got = c.execute(sa.update(trials)
                        .where(trials.c.trial_id.in_(pick.scalar_subquery()),
                               trials.c.state == TrialState.WAITING)
                        .values(state=TrialState.RUNNING, datetime_start=_now())
                        .returning(trials.c.trial_id, trials.c.number)).all()
        if not got:
            return []
        ids = [tid for tid, _ in got]
        c.execute(sa.delete(beats).where(beats.c.trial_id.in_(ids)))
        c.execute(sa.insert(beats), [{"trial_id": tid} for tid in ids])
        found: dict[int, dict[str, float]] = {tid: {} for tid in ids}
        for tid, name, value, dist in c.execute(
                sa.select(params.c.trial_id, params.c.param_name, params.c.param_value,
                          params.c.distribution_json).where(params.c.trial_id.in_(ids))):
            found[tid][name] = json_to_distribution(dist).to_external_repr(value)
    return [Claimed(tid, num, found[tid]) for tid, num in sorted(got, key=lambda r: r[1])]


def tell(storage: Any, trial_ids: Sequence[int], values: Sequence[float],
         attrs: Sequence[dict[str, Any]]) -> list[int]:
    """RUNNING → COMPLETE for the batch, with one value and the user attributes of each, in
    one transaction. A nan value makes the trial FAIL without a value (as Optuna's ``tell``
    does). Returns the ids actually finished (those still RUNNING)."""
    import math

    import sqlalchemy as sa
    from optuna.trial import TrialState

    m = _models()
    trials, vals, uattrs = (m.TrialModel.__table__, m.TrialValueModel.__table__,
                            m.TrialUserAttributeModel.__table__)
    by_id = {int(t): (float(v), a) for t, v, a in zip(trial_ids, values, attrs)}
    now = _now()
    done: list[int] = []
    with storage.engine.begin() as c:
        for state, ids in ((TrialState.COMPLETE,
                            [t for t, (v, _) in by_id.items() if not math.isnan(v)]),
                           (TrialState.FAIL,
                            [t for t, (v, _) in by_id.items() if math.isnan(v)])):
            if not ids:
                continue
            finished = [r[0] for r in c.execute(
                sa.update(trials)
                .where(trials.c.trial_id.in_(ids), trials.c.state == TrialState.RUNNING)
                .values(state=state, datetime_complete=now).returning(trials.c.trial_id))]
            if not finished:
                continue
            if state == TrialState.COMPLETE:
                rows = []
                for t in finished:
                    stored, kind = m.TrialValueModel.value_to_stored_repr(by_id[t][0])
                    rows.append({"trial_id": t, "objective": 0, "value": stored,
                                 "value_type": kind})
                c.execute(sa.insert(vals), rows)
                done += finished
            keys = sorted({k for t in finished for k in by_id[t][1]})
            if keys:
                c.execute(sa.delete(uattrs).where(uattrs.c.trial_id.in_(finished),
                                                  uattrs.c.key.in_(keys)))
                c.execute(sa.insert(uattrs), [
                    {"trial_id": t, "key": k, "value_json": json.dumps(x)}
                    for t in finished for k, x in by_id[t][1].items()])
    return done


def fail_and_requeue(storage: Any, study_id: int, trial_ids: Sequence[int],
                     max_retry: int | None) -> int:
    """RUNNING → FAIL for the batch and, for each trial retried at most ``max_retry`` times
    so far, a WAITING copy numbered after every trial of the study: one transaction, so an
    interrupted batch of 20,000 trials is re-queued at once and never half. Returns how many
    copies were queued. Trials no longer RUNNING (finished or failed elsewhere) are left
    alone."""
    import sqlalchemy as sa
    from optuna.trial import TrialState

    m = _models()
    trials, params, uattrs, sattrs = (m.TrialModel.__table__, m.TrialParamModel.__table__,
                                      m.TrialUserAttributeModel.__table__,
                                      m.TrialSystemAttributeModel.__table__)
    with storage.engine.begin() as c:
        failed = sorted(c.execute(
            sa.update(trials)
            .where(trials.c.trial_id.in_(list(trial_ids)), trials.c.state == TrialState.RUNNING)
            .values(state=TrialState.FAIL, datetime_complete=_now())
            .returning(trials.c.trial_id, trials.c.number)).all(), key=lambda r: r[1])
        if not failed:
            return 0
        ids = [tid for tid, _ in failed]
        system: dict[int, dict[str, Any]] = {tid: {} for tid in ids}
        for tid, key, text in c.execute(sa.select(sattrs.c.trial_id, sattrs.c.key,
                                                  sattrs.c.value_json)
                                        .where(sattrs.c.trial_id.in_(ids))):
            system[tid][key] = json.loads(text)
        copies = []
        for tid, number in failed:
            attrs = {"failed_trial": number, "retry_history": [], **system[tid]}
            attrs["retry_history"] = [*attrs["retry_history"], number]
            if max_retry is None or len(attrs["retry_history"]) <= max_retry:
                copies.append((tid, attrs))
        if not copies:
            return 0
        count = c.execute(sa.select(sa.func.count()).select_from(trials)
                          .where(trials.c.study_id == study_id)).scalar_one()
        c.execute(sa.insert(trials), [{"number": count + i, "study_id": study_id,
                                       "state": TrialState.WAITING}
                                      for i in range(len(copies))])
        new = dict(c.execute(sa.select(trials.c.number, trials.c.trial_id)
                             .where(trials.c.study_id == study_id,
                                    trials.c.number >= count)).all())
        old_to_new = {old: new[count + i] for i, (old, _) in enumerate(copies)}
        rows = [{"trial_id": old_to_new[t], "param_name": n, "param_value": v,
                 "distribution_json": d}
                for t, n, v, d in c.execute(
                    sa.select(params.c.trial_id, params.c.param_name, params.c.param_value,
                              params.c.distribution_json)
                    .where(params.c.trial_id.in_(list(old_to_new))))]
        if rows:
            c.execute(sa.insert(params), rows)
        rows = [{"trial_id": old_to_new[t], "key": k, "value_json": v}
                for t, k, v in c.execute(
                    sa.select(uattrs.c.trial_id, uattrs.c.key, uattrs.c.value_json)
                    .where(uattrs.c.trial_id.in_(list(old_to_new))))]
        if rows:
            c.execute(sa.insert(uattrs), rows)
        c.execute(sa.insert(sattrs), [{"trial_id": old_to_new[t], "key": k,
                                       "value_json": json.dumps(v)}
                                      for t, attrs in copies for k, v in attrs.items()])
    return len(copies)


@dataclass
class Done:
    """A COMPLETE trial as read back: what the report needs of it."""

    trial_id: int
    number: int
    value: float
    params: dict[str, float]
    user_attrs: dict[str, Any]


def completed(storage: Any, study_id: int) -> list[Done]:
    """Every COMPLETE trial of the study with its value, parameters and user attributes, in
    trial-id order (the order Optuna's ``get_all_trials`` gives): three queries, not a
    session and object graph per trial."""
    import sqlalchemy as sa
    from optuna.distributions import json_to_distribution
    from optuna.trial import TrialState

    m = _models()
    trials, params, vals, uattrs = (m.TrialModel.__table__, m.TrialParamModel.__table__,
                                    m.TrialValueModel.__table__,
                                    m.TrialUserAttributeModel.__table__)
    done = (sa.select(trials.c.trial_id)
            .where(trials.c.study_id == study_id, trials.c.state == TrialState.COMPLETE))
    with storage.engine.connect() as c:
        rows = c.execute(sa.select(trials.c.trial_id, trials.c.number, vals.c.value,
                                   vals.c.value_type)
                         .join(vals, vals.c.trial_id == trials.c.trial_id)
                         .where(trials.c.trial_id.in_(done), vals.c.objective == 0)
                         .order_by(trials.c.trial_id)).all()
        found = {tid: Done(tid, num, m.TrialValueModel.stored_repr_to_value(v, kind), {}, {})
                 for tid, num, v, kind in rows}
        # Other workers may complete trials between these queries (each sees what is
        # committed when it runs): keep to the trials the first query found.
        for tid, name, value, dist in c.execute(
                sa.select(params.c.trial_id, params.c.param_name, params.c.param_value,
                          params.c.distribution_json).where(params.c.trial_id.in_(done))):
            if tid in found:
                found[tid].params[name] = json_to_distribution(dist).to_external_repr(value)
        for tid, key, text in c.execute(
                sa.select(uattrs.c.trial_id, uattrs.c.key, uattrs.c.value_json)
                .where(uattrs.c.trial_id.in_(done))):
            if tid in found:
                found[tid].user_attrs[key] = json.loads(text)
    return [found[tid] for tid, *_ in rows]


def open_count(storage: Any, study_id: int) -> int:
    """How many trials of the study are WAITING or RUNNING."""
    import sqlalchemy as sa
    from optuna.trial import TrialState

    trials = _models().TrialModel.__table__
    with storage.engine.connect() as c:
        return int(c.execute(sa.select(sa.func.count()).select_from(trials).where(
            trials.c.study_id == study_id,
            trials.c.state.in_([TrialState.WAITING, TrialState.RUNNING]))).scalar_one())


class Heartbeat:
    """Beats for a claimed batch every ``interval`` seconds while open: one UPDATE a beat
    (the first beat was written by :func:`claim`)."""

    def __init__(self, storage: Any, trial_ids: list[int], interval: int) -> None:
        self.storage, self.ids, self.interval = storage, trial_ids, interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        import sqlalchemy as sa

        beats = _models().TrialHeartbeatModel.__table__
        while not self.stop.wait(self.interval):
            with self.storage.engine.begin() as c:
                now = c.execute(sa.select(sa.func.now())).scalar()
                c.execute(sa.update(beats).where(beats.c.trial_id.in_(self.ids))
                          .values(heartbeat=now))

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join()


__all__ = ["SCHEMA", "supported", "queue", "claim", "tell", "fail_and_requeue", "completed",
           "open_count", "Heartbeat", "Claimed", "Done"]
