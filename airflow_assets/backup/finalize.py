"""Last steps of a backup run: check and complete the snapshot, or mark it failed."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo.database import Database

from airflow_assets.api import AssetsClient
from airflow_assets.backup.activity import selection
from airflow_assets.exceptions import JiraAssetsError
from airflow_assets.store import SchemaLease, SnapshotStore, VersionStore
from airflow_assets.store.digest import seal
from airflow_assets.store.reader import SnapshotReader
from airflow_assets.store.repair import mark_for_reread
from airflow_assets.store.snapshots import COMPLETE, RUNNING, Snapshot
from airflow_assets.store.versions import RECONSTRUCTED_LANE

log = logging.getLogger(__name__)

ATTACHMENTS_NOTE = (
    "Jira Cloud has no REST API for the content of Assets attachments: only whether an object has "
    "attachments is backed up."
)


STEP_FLAGS = {
    "export_history": "history",
    "export_comments": "comments",
    "export_tickets": "connected_tickets",
}


class IncompleteSnapshotError(JiraAssetsError):
    """A snapshot's stored content does not match what the run listed; it is not marked complete."""


@dataclass
class FinalSummary:
    """What finalize recorded (the task's XCom)."""

    snapshot_id: str
    status: str
    kind: str = ""
    objects: int = 0
    per_type: dict[str, int] = field(default_factory=dict)
    history_entries: int = 0
    comments: int = 0
    tickets: int = 0
    objects_with_attachments: int = 0
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as JSON-compatible values."""
        return asdict(self)


def finalize(
    client: AssetsClient, db: Database, snapshot_id: str, *, key: bytes | None = None
) -> FinalSummary:
    """Check that the snapshot is complete and sound, record its counts and root digest, mark it complete.

    Under the schema's lease (fenced: a finalize whose lease was taken meanwhile completes nothing):

    - every object listed has a stored version, and every version this run named exists (a version
      pruned under a writer that lost its lease is found here: its item is marked to be read again);
    - every per-object step that the snapshot includes read the activity of exactly the objects created
      or changed since the last complete snapshot (an objects step retried after it makes it stale);
    - the root digest (:mod:`airflow_assets.store.digest`) is written with the counts.

    Drift between the stored count and ``object/aql/totalcount`` (objects created or deleted during a long
    run) is a warning, not a failure.

    :param key: the snapshot key: the root is an HMAC with it (None: a plain SHA-256 root).
    :raises IncompleteSnapshotError: a step did not finish, read other objects, or stored data is missing.
    """
    snapshots = SnapshotStore(db)
    snapshot = snapshots.for_write(snapshot_id)
    if snapshot.status == COMPLETE:
        return FinalSummary(snapshot_id=snapshot_id, status=COMPLETE, kind=snapshot.kind)
    steps = snapshot.steps
    objects_step = steps.get("export_objects")
    if not objects_step:
        raise IncompleteSnapshotError(f"snapshot {snapshot_id}: export_objects has not completed")
    with SchemaLease(db, snapshot.workspace_id, snapshot.schema_id, snapshot_id, wait=600) as lease:
        versions = VersionStore(db, snapshot.workspace_id, snapshot.schema_id, fence=lease)
        summary = _check_and_count(client, versions, snapshot, objects_step, steps)
        counts = {
            "objects": summary.objects,
            "per_type": summary.per_type,
            "history_entries": summary.history_entries,
            "comments": summary.comments,
            "tickets": summary.tickets,
            "objects_with_attachments": summary.objects_with_attachments,
        }
        root, missing = seal(versions, snapshot.document, counts, key)
        if missing:
            marked = mark_for_reread(versions, missing).items
            first = missing[0]
            raise IncompleteSnapshotError(
                f"snapshot {snapshot_id}: {len(missing)} versions this run stored are missing (e.g. "
                f"{first.get('kind')} {first.get('item_id')}, version {first.get('hash')}): they were "
                f"deleted while a writer had lost its lease; {marked} items are marked to be read again: "
                "retry the run"
            )
        # What changed since the previous complete snapshot, counted once here (the UI's schema table).
        changes = SnapshotReader(db).change_counts(snapshot)
        completed = snapshots.complete(
            snapshot_id,
            {
                "counts": counts,
                "warnings": summary.warnings,
                "root": root,
                **({"changes": changes} if changes else {}),
            },
            finished_at=datetime.now(UTC),
            fence=lease,
        )
    if not completed:
        current = snapshots.get(snapshot_id)
        raise IncompleteSnapshotError(
            f"snapshot {snapshot_id} could not be completed: it is {current.status if current else 'gone'} "
            f"({(current.failure if current else '') or 'no reason recorded'})"
        )
    SchemaLease(db, snapshot.workspace_id, snapshot.schema_id, snapshot_id).release()
    log.info(
        "snapshot %s complete: %s objects, %s history entries, %s comments, %s tickets (%s run), root %s %s",
        snapshot_id, summary.objects, summary.history_entries, summary.comments, summary.tickets,
        snapshot.kind, root["alg"], root["digest"][:16],
    )  # fmt: skip
    return summary


def _check_and_count(
    client: AssetsClient,
    versions: VersionStore,
    snapshot: Snapshot,
    objects_step: Mapping[str, Any],
    steps: Mapping[str, Any],
) -> FinalSummary:
    snapshot_id, seq = snapshot.snapshot_id, snapshot.seq
    summary = FinalSummary(snapshot_id=snapshot_id, status=COMPLETE, kind=snapshot.kind)
    tally = versions.tally_visible(seq)
    for (kind, type_id), counted in tally.items():
        if kind == "object" and type_id is not None:
            summary.per_type[type_id] = counted["items"]
            summary.objects += counted["items"]
            summary.objects_with_attachments += counted["attachments"]
    summary.history_entries = tally.get(("history", None), {}).get("items", 0)
    summary.comments = tally.get(("comment", None), {}).get("items", 0)
    summary.tickets = tally.get(("ticket", None), {}).get("items", 0)
    if summary.objects != objects_step["listed"]:
        raise IncompleteSnapshotError(
            f"snapshot {snapshot_id}: {objects_step['listed']} objects were listed but {summary.objects} are "
            "stored; it is not marked complete (retry export_objects)"
        )
    selected: tuple[int, str] | None = None
    for step, flag in STEP_FLAGS.items():
        if not snapshot.include.get(flag):
            continue
        done = steps.get(step)
        if not done:
            raise IncompleteSnapshotError(f"snapshot {snapshot_id}: {step} has not completed")
        selected = selected or selection(versions, snapshot)
        if (done.get("selected"), done.get("selection_digest")) != selected:
            raise IncompleteSnapshotError(
                f"snapshot {snapshot_id}: {step} read the activity of {done.get('selected')} objects, but "
                f"{selected[0]} objects were created or changed since the last complete snapshot (another "
                f"set: export_objects ran again after it); clear {step} and finalize to read them"
            )
    live = client.count_objects(f"objectSchemaId = {snapshot.schema_id}")
    if live != summary.objects:
        summary.warnings.append(
            f"the site counts {live} objects now and the snapshot holds {summary.objects}: objects were "
            "created or deleted while the backup ran (the next run records them)"
        )
    if summary.objects_with_attachments:
        summary.warnings.append(
            f"{summary.objects_with_attachments} objects have attachments. {ATTACHMENTS_NOTE}"
        )
    for warning in summary.warnings:
        log.warning("%s", warning)
    return summary


def mark_failed(db: Database, dag_id: str, run_id: str) -> str:
    """Mark a run's snapshot failed unless finalize completed it; release its lease. Return its status.

    A run of a past date may have a reconstructed snapshot instead (or beside its base): the same applies.
    """
    snapshots = SnapshotStore(db)
    reconstructed = snapshots.reconstructed_for_run(dag_id, run_id)
    if reconstructed is not None:
        if reconstructed.status == RUNNING:
            snapshots.fail(
                reconstructed.snapshot_id,
                "reconstruct_past failed or was stopped before the snapshot was complete",
                finished_at=datetime.now(UTC),
            )
        lane = f"{reconstructed.schema_id}/{RECONSTRUCTED_LANE}"
        SchemaLease(db, reconstructed.workspace_id, lane, reconstructed.snapshot_id).release()
    snapshot = snapshots.find_for_run(dag_id, run_id)
    if snapshot is None:
        current = snapshots.get(reconstructed.snapshot_id) if reconstructed else None
        return current.status if current else "none"
    if snapshot.status == RUNNING:
        snapshots.fail(
            snapshot.snapshot_id,
            "a task of the run failed or was stopped before finalize completed the snapshot",
            finished_at=datetime.now(UTC),
        )
        log.error("snapshot %s marked failed: it will never be offered for restore", snapshot.snapshot_id)
    SchemaLease(db, snapshot.workspace_id, snapshot.schema_id, snapshot.snapshot_id).release()
    current = snapshots.get(snapshot.snapshot_id)
    return current.status if current else "none"
