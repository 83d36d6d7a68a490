"""Make a damaged schema sound again: the next backup re-reads what the store lost (restic ``repair``).

A version that is missing, or whose content no longer hashes to its name, cannot be rebuilt from the
store. It can be read again from the site, as long as the item is still current there: its head entry
(:mod:`airflow_assets.store.versions`) is marked unconfirmed, so the next backup treats it as changed,
reads it and writes it again (for a history entry, comment or ticket, its object is marked too, so an
incremental run reads the object's activity). An altered version is moved to ``quarantine`` first:
otherwise the re-read content, under the same name, would be taken for the stored one.

Head entries that no longer agree with the spans (an open span removed or re-pointed by hand) are marked
the same way: a head that claims an item unchanged while its span says otherwise would pass the damage
on to every later snapshot, a full sweep included.

Snapshots that hold damaged items keep them: :func:`repair_schema` marks them ``damaged`` (never offered
for restore unless a restore accepts damage) and says which they are.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from pymongo.database import Database

from airflow_assets.store.check import SnapshotCheck, SnapshotChecker
from airflow_assets.store.encryption import keyring_of
from airflow_assets.store.layout import CONFIG_KINDS, CONTENT_KINDS, QUARANTINE, SNAPSHOTS, SPANS, VERSIONS
from airflow_assets.store.leases import SchemaLease
from airflow_assets.store.snapshots import COMPLETE, Snapshot, SnapshotStore
from airflow_assets.store.versions import (
    CHILD_KINDS,
    LOOKUP_BATCH,
    OPEN,
    Member,
    VersionStore,
    version_damage,
)

log = logging.getLogger(__name__)


class Marked(NamedTuple):
    """What :func:`mark_for_reread` did: head entries marked changed, altered versions quarantined."""

    items: int
    quarantined: int


def damaged_items(checks: Iterable[SnapshotCheck]) -> list[dict[str, str]]:
    """Return each damaged item the checks found once: ``kind``, ``item_id`` and ``hash`` (its version)."""
    found = {
        (problem.kind, problem.item_id, problem.document_id): None
        for check in checks
        for problem in check.problems
        if problem.collection == VERSIONS and problem.kind and problem.item_id
    }
    return [{"kind": kind, "item_id": item_id, "hash": digest} for kind, item_id, digest in found]


def mark_for_reread(versions: VersionStore, damaged: Iterable[Mapping[str, Any]]) -> Marked:
    """Quarantine altered versions of damaged items; mark the items so that the next backup reads them again.

    :param damaged: one mapping per damaged item with ``kind``, ``item_id`` and ``hash`` (the version the
        damaged span names). An item whose open span names another version (it changed since) is left:
        the next backup has nothing to read again for it.
    """
    marked = quarantined = 0
    for entry in damaged:
        kind, item_id, digest = str(entry.get("kind")), str(entry.get("item_id")), str(entry.get("hash"))
        quarantined += quarantine(versions, digest)
        span = versions.open_span(kind, item_id)
        if span is None or span.get("hash") != digest:
            continue
        marked += versions.unconfirm(kind, {item_id: versions.item_group(kind, span)})
        if kind in CHILD_KINDS and span.get("parent_id"):
            parent = versions.open_span("object", str(span["parent_id"]))
            if parent is not None:
                marked += versions.unconfirm(
                    "object", {parent["item_id"]: versions.item_group("object", parent)}
                )
    return Marked(marked, quarantined)


def quarantine(versions: VersionStore, digest: str) -> bool:
    """Move a version whose content no longer hashes to its name out of ``versions``; return if it moved.

    Judged by the version's own fields only: a genuine version that a tampered span names for another item
    is left where it is.
    """
    db = versions.db
    document = db[VERSIONS].find_one({"_id": digest})
    if document is None:
        return False
    damage = version_damage(document, keyring=keyring_of(db))
    if damage is None:
        return False
    db[QUARANTINE].insert_one(
        {
            "_id": f"{digest}:{uuid.uuid4().hex[:8]}",
            "version": document,
            "reason": str(damage),
            "at": datetime.now(UTC),
        }
    )
    # Only the document found (a sound one written since stays): plain or sealed content, as it was.
    db[VERSIONS].delete_one({"_id": digest, "data": document.get("data"), "sealed": document.get("sealed")})
    log.warning("%s: moved to %s", damage, QUARANTINE)
    return True


def heads_out_of_step(versions: VersionStore, kind: str) -> Iterator[tuple[str, Member]]:
    """Yield the confirmed head entries whose open span is missing, closed or names another version."""
    batch: list[tuple[str, Member]] = []

    def flush() -> Iterator[tuple[str, Member]]:
        ids = {
            versions.span_id(kind, item_id, member.from_seq): (item_id, member) for item_id, member in batch
        }
        found = {
            span["_id"]: span
            for span in versions.db[SPANS].find({"_id": {"$in": list(ids)}}, {"hash": 1, "to_seq": 1})
        }
        for span_id, (item_id, member) in ids.items():
            span = found.get(span_id)
            if span is None or span.get("hash") != member.hash or int(span.get("to_seq", 0)) != OPEN:
                yield item_id, member
        batch.clear()

    for group in versions.groups(kind):
        for item_id, member in versions.members(kind, [group]).items():
            if member.hash is None:
                continue  # unconfirmed already: the next backup writes it again
            batch.append((item_id, member))
            if len(batch) >= LOOKUP_BATCH:
                yield from flush()
    if batch:
        yield from flush()


@dataclass
class SchemaRepair:
    """What :func:`repair_schema` found and did for one schema.

    :param damaged_snapshots: the snapshots found damaged (now marked ``damaged``), with their problems.
    :param items_marked: head entries marked so that the next backup reads the item again.
    :param heads_realigned: of those, entries that disagreed with their span.
    :param quarantined: altered versions moved to ``quarantine``.
    """

    workspace_id: str
    schema_id: str
    schema_key: str
    checked: int = 0
    damaged_snapshots: dict[str, list[str]] = field(default_factory=dict)
    items_marked: int = 0
    heads_realigned: int = 0
    quarantined: int = 0

    def lines(self) -> list[str]:
        """Return what was done, in words."""
        name = f"schema {self.schema_key} ({self.workspace_id}:{self.schema_id})"
        if not self.damaged_snapshots and not self.items_marked:
            return [f"{name}: {self.checked} snapshots checked, sound; nothing to repair"]
        lines = [
            f"{name}: {self.checked} snapshots checked; {self.items_marked} items marked to be read again by "
            f"the next backup ({self.heads_realigned} head entries disagreed with their spans); "
            f"{self.quarantined} altered versions quarantined"
        ]
        for snapshot_id, problems in self.damaged_snapshots.items():
            lines.append(
                f"  stays damaged (marked damaged, restorable only with accept_damaged): {snapshot_id}: "
                f"{len(problems)} problems, e.g. {problems[0]}"
            )
        return lines

    def as_dict(self) -> dict[str, Any]:
        """Return the result as JSON-compatible values."""
        return {
            "workspace_id": self.workspace_id,
            "schema_id": self.schema_id,
            "schema_key": self.schema_key,
            "checked": self.checked,
            "damaged_snapshots": self.damaged_snapshots,
            "items_marked": self.items_marked,
            "heads_realigned": self.heads_realigned,
            "quarantined": self.quarantined,
        }


def repair_schema(
    db: Database, snapshots: Sequence[Snapshot], *, key: bytes | None = None, lease_wait: float = 600.0
) -> SchemaRepair:
    """Check a schema's complete snapshots, mark damaged items for re-reading and damaged snapshots.

    Runs under the schema's lease (a backup of the schema waits, and is not waited for longer than
    ``lease_wait``).

    :param snapshots: the schema's snapshots (all of one workspace and schema).
    """
    first = snapshots[0]
    result = SchemaRepair(first.workspace_id, first.schema_id, first.schema_key)
    with SchemaLease(
        db, first.workspace_id, first.schema_id, f"repair:{uuid.uuid4()}", wait=lease_wait
    ) as lease:
        try:
            versions = VersionStore(db, first.workspace_id, first.schema_id, fence=lease)
            checker = SnapshotChecker(db, key=key)
            checks = [
                checker.check(snapshot)
                for snapshot in sorted(snapshots, key=lambda s: s.seq)
                if snapshot.status == COMPLETE
            ]
            result.checked = len(checks)
            marked = mark_for_reread(versions, damaged_items(checks))
            result.items_marked, result.quarantined = marked.items, marked.quarantined
            for kind in (*CONFIG_KINDS, *CONTENT_KINDS):
                stale = {item_id: member.group for item_id, member in heads_out_of_step(versions, kind)}
                if stale:
                    moved = versions.unconfirm(kind, stale)
                    result.heads_realigned += moved
                    result.items_marked += moved
            store = SnapshotStore(db)
            now = datetime.now(UTC)
            for check in checks:
                if check.intact:
                    continue
                described = [problem.describe() for problem in check.problems]
                result.damaged_snapshots[check.snapshot_id] = described
                store.mark_damaged(
                    check.snapshot_id, {"problems": len(described), "first": described[:20]}, at=now
                )
        finally:
            lease.release()
    return result


def schemas_of(db: Database, schema_key: str | None = None) -> dict[tuple[str, str], list[Snapshot]]:
    """Return the snapshots per (workspace, schema), optionally of one schema key."""
    query: dict[str, Any] = {} if schema_key is None else {"schema_key": schema_key}
    grouped: dict[tuple[str, str], list[Snapshot]] = {}
    for document in db[SNAPSHOTS].find(query):
        snapshot = Snapshot.from_document(document, keyring=keyring_of(db))
        grouped.setdefault((snapshot.workspace_id, snapshot.schema_id), []).append(snapshot)
    return dict(sorted(grouped.items()))
