"""Last steps of a backup run: check and complete the snapshot, or mark it failed."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo.database import Database

from airflow_assets.api import AssetsClient
from airflow_assets.exceptions import JiraAssetsError
from airflow_assets.store import SchemaLease, SnapshotStore, VersionStore
from airflow_assets.store.snapshots import COMPLETE, RUNNING
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


def finalize(client: AssetsClient, db: Database, snapshot_id: str) -> FinalSummary:
    """Check that every listed object has a stored version, record the counts and mark the snapshot complete.

    Drift between the stored count and ``object/aql/totalcount`` (objects created or deleted during a long
    run) is a warning, not a failure.

    :raises IncompleteSnapshotError: the objects step did not finish, or stored objects are missing.
    """
    snapshots = SnapshotStore(db)
    snapshot = snapshots.for_write(snapshot_id)
    if snapshot.status == COMPLETE:
        return FinalSummary(snapshot_id=snapshot_id, status=COMPLETE, kind=snapshot.kind)
    steps = snapshot.document.get("steps") or {}
    objects_step = steps.get("export_objects")
    if not objects_step:
        raise IncompleteSnapshotError(f"snapshot {snapshot_id}: export_objects has not completed")
    versions = VersionStore(db, snapshot.workspace_id, snapshot.schema_id)
    seq = snapshot.seq
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
    for step, flag in STEP_FLAGS.items():
        if snapshot.include.get(flag) and not steps.get(step):
            raise IncompleteSnapshotError(f"snapshot {snapshot_id}: {step} has not completed")
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
    snapshots.complete(
        snapshot_id,
        {
            "counts": {
                "objects": summary.objects,
                "per_type": summary.per_type,
                "history_entries": summary.history_entries,
                "comments": summary.comments,
                "tickets": summary.tickets,
                "objects_with_attachments": summary.objects_with_attachments,
            },
            "warnings": summary.warnings,
        },
        finished_at=datetime.now(UTC),
    )
    SchemaLease(db, snapshot.workspace_id, snapshot.schema_id, snapshot_id).release()
    log.info(
        "snapshot %s complete: %s objects, %s history entries, %s comments, %s tickets (%s run)",
        snapshot_id, summary.objects, summary.history_entries, summary.comments, summary.tickets,
        snapshot.kind,
    )  # fmt: skip
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
