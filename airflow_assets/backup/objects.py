"""Second step of a backup run: store a version of every object of the schema that changed.

A full sweep reads every object with its attributes, in id windows per object type; types, and id lanes
of large types, are walked side by side.
An incremental run lists the ids of every object without attributes (small pages), which finds created
and deleted objects, and reads with attributes only the objects that are new or whose ``updated`` differs
from the stored version's, and, in a rolling run, those of its sweep slice. Either way each window is
reconciled with the store as it arrives: new versions written, objects gone from the window recorded as
deleted. Memory holds a window, not a schema.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pymongo.database import Database

from airflow_assets.api import AssetsClient
from airflow_assets.api.listing import (
    Lane,
    WalkStats,
    Window,
    fetch_by_ids,
    plan_lanes,
    prefetch,
    walk_lane,
)
from airflow_assets.backup.rotation import SweepSlice
from airflow_assets.model import normalize as norm
from airflow_assets.progress_log import ProgressLog
from airflow_assets.store import Item, SchemaLease, SnapshotStore, VersionStore
from airflow_assets.store.snapshots import COMPLETE, FULL, Snapshot
from airflow_assets.store.versions import (
    CHILD_KINDS,
    OBJECT_BUCKET,
    Member,
    group_bucket,
    object_group,
    object_groups,
)

log = logging.getLogger(__name__)

LIST_PAGE_SIZE = 1000  # ids only: small objects
READ_PAGE_SIZE = 250  # with attributes: every reference embeds its target, ~17 KB an object
READ_BATCH = 100  # changed objects read by id per request
LANE_WORKERS = 6  # id ranges walked side by side...
LANE_OBJECTS = 2000  # ...of about this many objects each...
MAX_LANES = 6  # ...and at most this many per object type


@dataclass
class ObjectsSummary:
    """What export_objects did (the task's XCom)."""

    snapshot_id: str
    kind: str
    listed: int = 0
    read: int = 0
    new_versions: int = 0
    unchanged: int = 0
    deleted: int = 0
    aql_requests: int = 0
    seconds: float = 0.0
    per_type: dict[str, int] = field(default_factory=dict)
    already_complete: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as JSON-compatible values."""
        return asdict(self)


class _Totals:
    """Counts shared by the per-type walkers (threads)."""

    def __init__(self, summary: ObjectsSummary, progress: ProgressLog) -> None:
        self.summary = summary
        self.progress = progress
        self.lock = threading.Lock()

    def add(self, type_id: str, *, listed: int, read: int, new: int, unchanged: int, deleted: int) -> None:
        with self.lock:
            self.summary.listed += listed
            self.summary.read += read
            self.summary.new_versions += new
            self.summary.unchanged += unchanged
            self.summary.deleted += deleted
            self.summary.per_type[type_id] = self.summary.per_type.get(type_id, 0) + listed
            self.progress.add(listed)


def export_objects(client: AssetsClient, db: Database, snapshot_id: str) -> ObjectsSummary:
    """Store the schema's objects into a running snapshot (see the module docstring)."""
    snapshots = SnapshotStore(db)
    snapshot = snapshots.for_write(snapshot_id)
    summary = ObjectsSummary(snapshot_id=snapshot_id, kind=snapshot.kind)
    if snapshot.status == COMPLETE:
        summary.already_complete = True
        return summary
    versions = VersionStore(db, snapshot.workspace_id, snapshot.schema_id)
    types = client.get_object_types(snapshot.schema_id, include_object_counts=True)
    expected = {
        norm.as_id(t.get("id"), what="an object type's id"): _count(t.get("objectCount")) for t in types
    }
    total = client.count_objects(f"objectSchemaId = {snapshot.schema_id}")
    progress = ProgressLog(log, f"objects ({snapshot.kind})", total)
    totals = _Totals(summary, progress)
    stats = WalkStats()
    with SchemaLease(db, snapshot.workspace_id, snapshot.schema_id, snapshot_id, wait=600) as lease:
        versions.fence = lease
        walker = _LaneWalker(client, versions, snapshot, totals, stats, expected)
        # Largest types first, large ones split into id ranges; lanes side by side, each in id order.
        lanes = [
            lane
            for type_id in sorted(expected, key=lambda type_id: -expected[type_id])
            for lane in plan_lanes(
                client, type_id, expected=expected[type_id], lane_objects=LANE_OBJECTS, max_lanes=MAX_LANES,
                stats=stats,
            )
        ]  # fmt: skip
        for _ in client.map_concurrent(walker, lanes, ordered=False, max_workers=LANE_WORKERS):
            pass
        # Objects of types that no longer exist are gone too.
        gone = _close_removed_types(versions, snapshot, set(expected))
        _close_children(versions, snapshot.seq, gone)
        summary.deleted += len(gone)
    summary.aql_requests = stats.requests
    summary.seconds = round(progress.elapsed, 3)
    log.info("%s", progress.line())
    log.info(
        "objects: %s listed, %s read with attributes, %s new versions, %s unchanged, %s deleted, "
        "%s AQL requests",
        summary.listed, summary.read, summary.new_versions, summary.unchanged, summary.deleted,
        summary.aql_requests,
    )  # fmt: skip
    snapshots.record_step(snapshot_id, "export_objects", summary.as_dict())
    return summary


def _close_removed_types(versions: VersionStore, snapshot: Snapshot, type_ids: set[str]) -> list[str]:
    """The objects of a type that no longer exists are gone too."""
    orphaned = [group for group in versions.groups("object") if group.partition("|")[0] not in type_ids]
    gone = list(versions.members("object", orphaned))
    versions.drop_groups("object", snapshot.seq, orphaned)
    return gone


def _close_children(versions: VersionStore, seq: int, object_ids: Sequence[str]) -> None:
    """A deleted object's history, comments and tickets end with it."""
    for kind in CHILD_KINDS:
        versions.drop_groups(kind, seq, object_ids)


class _LaneWalker:
    """Walk one lane of an object type and reconcile each window with the store (in worker threads)."""

    def __init__(
        self,
        client: AssetsClient,
        versions: VersionStore,
        snapshot: Snapshot,
        totals: _Totals,
        stats: WalkStats,
        expected: Mapping[str, int],
    ) -> None:
        self.expected = expected
        self.client = client
        self.versions = versions
        self.snapshot = snapshot
        self.totals = totals
        self.stats = stats
        self.full = snapshot.kind == FULL
        # A rolling run reads its sweep slice with attributes too, unchanged or not (backup.rotation).
        self.swept = SweepSlice.from_manifest(snapshot.document)

    def __call__(self, lane: Lane) -> None:
        page_size = READ_PAGE_SIZE if self.full else LIST_PAGE_SIZE
        expected = self.expected.get(lane.type_id)
        windows = walk_lane(
            self.client,
            lane,
            page_size=page_size,
            include_attributes=self.full,
            expected=expected,
            stats=self.stats,
        )
        # The next window is fetched while this one is written to the store.
        for window in prefetch(windows):
            self._reconcile(window)

    def _stored(self, window: Window) -> dict[str, Member]:
        """Return the head entry of every stored object of the window's type inside the window."""
        if window.high is None:
            first = (window.low + 1) // OBJECT_BUCKET
            parent = self.versions.groups("object", parent=window.type_id)
            groups = [group for group in parent if group_bucket(group) >= first]
        else:
            groups = object_groups(window.type_id, window.low, window.high)
        high = window.high

        def inside(object_id: str) -> bool:
            number = int(object_id)
            return window.low < number and (high is None or number <= high)

        return self.versions.members("object", groups, inside)

    def _reconcile(self, window: Window) -> None:
        seq = self.snapshot.seq
        listed = norm.ids_of(window.objects)
        current = self._stored(window)
        if self.full:
            objects: Sequence[Mapping[str, Any]] = window.objects
            present = listed
        else:
            wanted = [
                object_id
                for object_id, raw in zip(listed, window.objects, strict=True)
                if object_id not in current
                or _changed(current[object_id], raw)
                or (self.swept is not None and self.swept.covers(object_id))
            ]
            objects = []
            for start in range(0, len(wanted), READ_BATCH):
                batch = wanted[start : start + READ_BATCH]
                objects.extend(fetch_by_ids(self.client, window.type_id, batch, stats=self.stats))
            # An object deleted between listing and reading is not in the snapshot.
            vanished = set(wanted) - set(norm.ids_of(objects))
            present = [object_id for object_id in listed if object_id not in vanished]
        items = [_object_item(raw) for raw in objects]
        counts = self.versions.record("object", items, seq, current=current)
        kept = set(present)
        gone = self.versions.close("object", seq, {i: span for i, span in current.items() if i not in kept})
        _close_children(self.versions, seq, gone)
        self.totals.add(
            window.type_id,
            listed=len(present),
            read=len(objects),
            new=counts.new_versions,
            unchanged=counts.unchanged + (len(present) - len(objects)),
            deleted=len(gone),
        )


def _object_item(raw: Mapping[str, Any]) -> Item:
    data = norm.normalize_object(raw)
    number = norm.object_number(data["id"])
    return Item(
        data["id"],
        data,
        group=object_group(data["objectTypeId"], number),
        type_id=data["objectTypeId"],
        n=number,
        fields={"updated": data.get("updated"), "attachments": bool(data.get("attachmentsExists"))},
        stamp=data.get("updated"),
    )


def _changed(member: Member, listed: Mapping[str, Any]) -> bool:
    """Tell whether a listed object needs reading: its stored entry is unconfirmed or its stamp differs."""
    return member.hash is None or member.stamp != listed.get("updated")


def _count(value: Any) -> int:
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        return 0
