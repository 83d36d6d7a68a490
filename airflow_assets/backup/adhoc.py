"""A whole backup of one schema in one call: the backup DAG's steps run in-process (e.g. before a rollback).

:func:`backup_now` runs ``export_config`` -> ``export_objects`` -> ``export_activity`` (the included kinds
side by side) -> ``finalize``, the same functions the backup DAG's tasks call, under one run (DAG id, run
id). It is safe to call again for the same run (an Airflow retry): it returns the run's complete snapshot, or
resumes the one an earlier try left running or failed, and never takes a second one.

Another writer of the schema (a scheduled backup run in progress, pruning) is waited for, up to ``wait``
seconds, *before* this run opens its snapshot: opening one marks every older running snapshot of the schema
superseded, which would fail a scheduled run that is still working. The schema's lease tells: a backup run
holds it from its first task to finalize (it lapses 90 s after a task ends, so the usual gap between two
tasks is covered); a run whose lease lapsed (its worker died or stalled) is superseded, as a scheduled run
would. A snapshot of this run that a newer run superseded all the same (it opened while this one was
running) cannot be resumed; the next call takes the backup again under an attempt run id (``<run id>.2``,
``.3`` ...), after waiting for that newer run.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from pymongo.database import Database

from airflow_assets.api import AssetsClient
from airflow_assets.backup.activity import ACTIVITY_KINDS, export_activity
from airflow_assets.backup.finalize import finalize
from airflow_assets.backup.objects import export_objects
from airflow_assets.backup.run import BackupRun
from airflow_assets.backup.schema_config import BackupTarget, export_config
from airflow_assets.exceptions import AssetsConfigError, JiraAssetsError
from airflow_assets.model import normalize as norm
from airflow_assets.store import SchemaLease, Snapshot, SnapshotStore, ensure_indexes
from airflow_assets.store.leases import lease_holder
from airflow_assets.store.snapshots import COMPLETE, FAILED, snapshot_id_for

log = logging.getLogger(__name__)

# At most this many attempts of one run (each superseded by a newer run of the schema): then give up.
MAX_ATTEMPTS = 5


class BackupBusyError(JiraAssetsError):
    """Another writer of the schema (a backup run, pruning) kept it busy for longer than the wait allowed."""


@dataclass(frozen=True)
class AdhocBackup:
    """What :func:`backup_now` did.

    :param snapshot_id: the run's complete snapshot.
    :param schema_key: the schema key.
    :param seq: its sequence number.
    :param kind: ``full`` or ``incremental``.
    :param run_id: the run id the snapshot is recorded under (the run's, or an attempt's ``<run id>.N``).
    :param already_complete: an earlier call of the same run had completed it: nothing was read now.
    :param counts: the counts finalize recorded (objects, per type, history entries, comments, tickets...).
    :param seconds: how long this call took.
    :param waited_seconds: how long it waited for another writer of the schema.
    """

    snapshot_id: str
    schema_key: str
    seq: int
    kind: str
    run_id: str
    already_complete: bool
    counts: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    waited_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """Return the result as JSON-compatible values (an XCom, a ledger entry)."""
        return {
            "snapshot_id": self.snapshot_id,
            "schema_key": self.schema_key,
            "seq": self.seq,
            "kind": self.kind,
            "run_id": self.run_id,
            "already_complete": self.already_complete,
            "counts": dict(self.counts),
            "seconds": self.seconds,
            "waited_seconds": self.waited_seconds,
        }


def present_run(dag_id: str, run_id: str, *, now: datetime | None = None) -> BackupRun:
    """Return a manual run whose data interval ends now (never a run of a past date).

    :param dag_id: the DAG the snapshot is recorded under (the schema's backup DAG).
    :param run_id: the run id (e.g. ``rollback__<restore run id>``): the same on every retry.
    :param now: the moment (default: the current time).
    """
    moment = now or datetime.now(UTC)
    return BackupRun(
        dag_id=dag_id,
        run_id=run_id,
        run_type="manual",
        logical_date=moment,
        data_interval_start=moment,
        data_interval_end=moment,
        started_at=moment,
    )


def backup_now(
    client: AssetsClient,
    db: Database,
    target: BackupTarget,
    run: BackupRun,
    *,
    key: bytes | None,
    taken_for: str | None = None,
    wait: float = 900.0,
    poll: float = 2.0,
) -> AdhocBackup:
    """Back up one schema now, in this process, as a backup DAG run does; return its complete snapshot.

    :param client: the client of the schema's site.
    :param db: the backup database.
    :param target: the schema and how it is backed up (its backup DAG's settings).
    :param run: the run the snapshot is recorded under (:func:`present_run`); the same on a retry.
    :param key: the snapshot key (the root digest is an HMAC with it; None: a plain SHA-256 root).
    :param taken_for: why the snapshot was taken, kept in its manifest (e.g. ``rollback <restore id>``).
    :param wait: seconds to wait for another writer of the schema (a backup run, pruning) to finish.
    :param poll: seconds between two looks at that writer.
    :raises AssetsConfigError: the run is of a past date (a backfill's or an old data interval).
    :raises BackupBusyError: another writer kept the schema busy for longer than ``wait``.
    :raises IncompleteSnapshotError: finalize found the snapshot incomplete (nothing is marked complete).
    """
    started = time.monotonic()
    snapshots = SnapshotStore(db)
    schema = client.object_schema_by_key(target.schema_key)
    workspace_id = client.workspace_id
    schema_id = norm.as_id(schema.get("id"), what=f"the id of schema {target.schema_key}")
    done = _complete_attempt(snapshots, workspace_id, schema_id, run)
    if done is not None:
        log.info(
            "run %s of %s already took snapshot %s: nothing to do", run.run_id, run.dag_id, done.snapshot_id
        )
        return _result(done, already_complete=True, started=started, waited=0.0)
    if run.past_moment(schedule=target.schedule, timezone=target.timezone) is not None:
        raise AssetsConfigError(
            f"backup_now takes a backup of the present, but run {run.run_id} ({run.run_type}) stands for "
            f"{run.moment}: give it a manual run whose data interval ends now (present_run)"
        )
    ensure_indexes(db)
    attempt = _attempt(snapshots, workspace_id, schema_id, run)
    snapshot_id = snapshot_id_for(workspace_id, schema_id, attempt.run_id)
    named = f"{target.schema_key} (id {schema_id})"
    waited = _wait_for_other_writers(
        db, snapshots, workspace_id, named, schema_id, snapshot_id, wait=wait, poll=poll
    )
    try:
        with SchemaLease(db, workspace_id, schema_id, snapshot_id):
            config = export_config(client, db, target, attempt, taken_for=taken_for)
            if not config.already_complete:
                export_objects(client, db, config.snapshot_id)
                _export_activities(client, db, config.snapshot_id, target)
        # Outside the block: finalize releases the lease, which the block's renewer would report as lost.
        finalize(client, db, config.snapshot_id, key=key)
    except Exception as error:
        # As the backup DAG's teardown does: never leave it looking alive, and free the schema.
        if snapshots.fail(snapshot_id, f"backup_now stopped: {error}", finished_at=datetime.now(UTC)):
            log.error("snapshot %s marked failed: it will never be offered for restore", snapshot_id)
        SchemaLease(db, workspace_id, schema_id, snapshot_id).release()
        raise
    snapshot = snapshots.get(config.snapshot_id)
    assert snapshot is not None and snapshot.status == COMPLETE  # finalize raises otherwise
    result = _result(snapshot, already_complete=config.already_complete, started=started, waited=waited)
    log.info(
        "schema %s backed up for run %s: snapshot %s (seq %s, %s), %s objects in %.1f s",
        target.schema_key, attempt.run_id, snapshot.snapshot_id, snapshot.seq, snapshot.kind,
        snapshot.objects, result.seconds,
    )  # fmt: skip
    return result


def _export_activities(client: AssetsClient, db: Database, snapshot_id: str, target: BackupTarget) -> None:
    """Store the history, comments and tickets the target includes, side by side, as a DAG run's tasks do.

    Each kind is its own endpoint class with its own rate limit, so one after the other would take the sum
    of their times where the limits allow the longest of them. Each keeps its own checkpoint: after a
    failure of one, the others still finish what they read, and a retry resumes every kind where it stopped.
    """
    kinds = [what for what, activity in ACTIVITY_KINDS.items() if target.include.get(activity.include_flag)]
    if len(kinds) <= 1:
        for what in kinds:
            export_activity(client, db, snapshot_id, what)
        return
    with ThreadPoolExecutor(max_workers=len(kinds), thread_name_prefix="backup-activity") as pool:
        futures = [pool.submit(export_activity, client, db, snapshot_id, what) for what in kinds]
    for future in futures:
        future.result()  # the first failure, in the kinds' order, once every kind stopped


def _attempt_ids(run_id: str) -> list[str]:
    return [run_id, *(f"{run_id}.{number}" for number in range(2, MAX_ATTEMPTS + 1))]


def _complete_attempt(
    snapshots: SnapshotStore, workspace_id: str, schema_id: str, run: BackupRun
) -> Snapshot | None:
    """Return the run's complete snapshot of the schema (of any attempt), or None."""
    for run_id in _attempt_ids(run.run_id):
        found = snapshots.get(snapshot_id_for(workspace_id, schema_id, run_id))
        if found is None:
            return None
        if found.status == COMPLETE:
            return found
    return None


def _attempt(snapshots: SnapshotStore, workspace_id: str, schema_id: str, run: BackupRun) -> BackupRun:
    """Return the run to write under: the run itself, or the first attempt whose snapshot can be written.

    A failed snapshot older than the schema's newest cannot be reopened (:meth:`SnapshotStore.for_write`).

    :raises BackupBusyError: every attempt was superseded by a newer run of the schema.
    """
    newest = snapshots.latest(workspace_id, schema_id)
    for run_id in _attempt_ids(run.run_id):
        existing = snapshots.get(snapshot_id_for(workspace_id, schema_id, run_id))
        superseded = (
            existing is not None
            and existing.status == FAILED
            and newest is not None
            and newest.seq > existing.seq
        )
        if not superseded:
            if run_id != run.run_id:
                log.warning("the run's earlier snapshot was superseded by a newer run: attempt %s", run_id)
            return replace(run, run_id=run_id)
    raise BackupBusyError(
        f"run {run.run_id} of {run.dag_id}: {MAX_ATTEMPTS} attempts to back up schema {schema_id} were each "
        "superseded by a newer backup run of the schema before they completed: pause the schema's backup "
        "DAG while this run takes its backup, then retry"
    )


def _wait_for_other_writers(
    db: Database,
    snapshots: SnapshotStore,
    workspace_id: str,
    schema: str,
    schema_id: str,
    snapshot_id: str,
    *,
    wait: float,
    poll: float,
) -> float:
    """Wait until no other writer works on the schema, then take its lease for ``snapshot_id``.

    :param schema: the schema as messages name it (key and id).

    :returns: the seconds waited.
    :raises BackupBusyError: another writer was still at work after ``wait`` seconds (named in the message).
    """
    started = time.monotonic()
    lease = SchemaLease(db, workspace_id, schema_id, snapshot_id)
    announced = ""
    while True:
        if lease.try_acquire():
            return round(time.monotonic() - started, 3)
        busy = _lease_holder(db, snapshots, lease.lease_id)
        waited = time.monotonic() - started
        if waited >= wait:
            raise BackupBusyError(
                f"schema {schema} is being written by {busy}; waited {waited:.0f} s (the limit) for it to "
                "finish: retry once it has (the retry takes this backup then), or stop that run"
            )
        if busy != announced:
            log.info("waiting for %s to finish before backing up schema %s", busy, schema)
            announced = busy
        time.sleep(max(0.0, min(poll, wait - waited)))


def _lease_holder(db: Database, snapshots: SnapshotStore, lease_id: str) -> str:
    return _describe_holder(snapshots, lease_holder(db, lease_id))


def _describe_holder(snapshots: SnapshotStore, holder: str) -> str:
    """Name who holds the schema's lease: a backup run (DAG and run id) or pruning (``prune:...``)."""
    snapshot = snapshots.get(holder)
    if snapshot is None:
        return holder
    return f"backup run {snapshot.run_id} of DAG {snapshot.dag_id} (snapshot {holder})"


def _result(snapshot: Snapshot, *, already_complete: bool, started: float, waited: float) -> AdhocBackup:
    return AdhocBackup(
        snapshot_id=snapshot.snapshot_id,
        schema_key=snapshot.schema_key,
        seq=snapshot.seq,
        kind=snapshot.kind,
        run_id=snapshot.run_id or "",
        already_complete=already_complete,
        counts=snapshot.counts,
        seconds=round(time.monotonic() - started, 3),
        waited_seconds=waited,
    )
