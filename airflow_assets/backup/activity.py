"""Per-object steps of a backup run: history, comments and connected tickets, one call per object.

Each kind is its own endpoint with its own rate limit, so each runs as its own task, side by side with
the others, at its endpoint's limit (``map_concurrent``). A full sweep asks for every object of the
snapshot; an incremental run for the objects created or changed since the last *complete* snapshot (the
run's base): an object that a failed or superseded run stored anew is not unchanged for this one, because
that run never read its activity. A rolling run also asks for the objects of its sweep slice
(:mod:`airflow_assets.backup.rotation`), so a comment that did not touch ``updated`` is read within N runs.
Objects are taken in
id order and the results consumed in that order, so a checkpoint (the highest object id done) lets a
retried task continue where the failed try stopped.

The tickets step also records which Assets fields of each connected issue hold the object
(:mod:`airflow_assets.backup.ticket_fields`): the issues of a window of objects are read by one JQL search
per hundred keys, and the window is stored once they are known.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pymongo.database import Database

from airflow_assets.api import AssetsClient
from airflow_assets.backup.rotation import SweepSlice
from airflow_assets.backup.ticket_fields import AssetsFieldReader
from airflow_assets.exceptions import AssetsNotFoundError
from airflow_assets.model import normalize as norm
from airflow_assets.progress_log import ProgressLog
from airflow_assets.store import Item, SchemaLease, SnapshotStore, VersionStore
from airflow_assets.store.progress import Checkpoint
from airflow_assets.store.snapshots import COMPLETE, FULL, Snapshot
from airflow_assets.store.versions import OBJECT_BUCKET, group_bucket

log = logging.getLogger(__name__)

FLUSH_EVERY = 100  # objects per store write and checkpoint...
FLUSH_SECONDS = 5.0  # ...or this often, so a killed task loses at most a few seconds of calls
ID_CHUNK = 1000  # object ids read from the store at a time
# A window holding tickets whose issues are not yet read waits for a full search of keys, within these bounds
# (memory, and what a killed task loses).
LOOKUP_WINDOW_OBJECTS = 1000
LOOKUP_WINDOW_SECONDS = 30.0

Pending = list[tuple[str, int, Sequence[Mapping[str, Any]] | None]]


@dataclass(frozen=True)
class ActivityKind:
    """One per-object export: the stored kind, the include flag that enables it, and how to read it."""

    kind: str
    include_flag: str
    step: str
    fetch: Callable[[AssetsClient, str], Sequence[Mapping[str, Any]]]
    normalize: Callable[[Mapping[str, Any], str], dict[str, Any]]
    # A Jira issue can be connected to several objects: its id is unique only with the object's.
    per_object_ids: bool = False
    # Record which Assets fields of each entry's issue hold the object (connected tickets).
    reads_issue_fields: bool = False

    def item_id(self, object_id: str, data: Mapping[str, Any]) -> str:
        """Return the stored id of one entry of an object."""
        return f"{object_id}:{data['id']}" if self.per_object_ids else str(data["id"])


def _tickets(client: AssetsClient, object_id: str) -> Sequence[Mapping[str, Any]]:
    answer = client.get_connected_tickets(object_id)
    tickets = answer.get("tickets")
    return list(tickets) if isinstance(tickets, list) else []


ACTIVITY_KINDS = {
    "history": ActivityKind(
        "history", "history", "export_history",
        lambda client, object_id: client.get_object_history(object_id), norm.normalize_history_entry,
    ),
    "comments": ActivityKind(
        "comment", "comments", "export_comments",
        lambda client, object_id: client.get_object_comments(object_id), norm.normalize_comment,
    ),
    "tickets": ActivityKind(
        "ticket", "connected_tickets", "export_tickets", _tickets, norm.normalize_ticket, per_object_ids=True,
        reads_issue_fields=True,
    ),
}  # fmt: skip


@dataclass
class ActivitySummary:
    """What one per-object step did (the task's XCom)."""

    snapshot_id: str
    step: str
    objects: int = 0
    selected: int = 0
    selection_digest: str = ""
    resumed_after: int = 0
    items: int = 0
    new_versions: int = 0
    vanished_objects: int = 0
    issue_searches: int = 0
    unreadable_issues: int = 0
    calls_per_minute: float = 0.0
    seconds: float = 0.0
    skipped: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as JSON-compatible values."""
        return asdict(self)


def export_activity(client: AssetsClient, db: Database, snapshot_id: str, what: str) -> ActivitySummary:
    """Store the history, comments or connected tickets (``what``) of the snapshot's objects."""
    activity = ACTIVITY_KINDS[what]
    snapshots = SnapshotStore(db)
    snapshot = snapshots.for_write(snapshot_id)
    summary = ActivitySummary(snapshot_id=snapshot_id, step=activity.step)
    if snapshot.status == COMPLETE:
        summary.skipped = "snapshot already complete"
        return summary
    if not snapshot.include.get(activity.include_flag):
        summary.skipped = f"{activity.include_flag} not included for this schema"
        return summary
    versions = VersionStore(db, snapshot.workspace_id, snapshot.schema_id)
    checkpoint = Checkpoint(db, snapshot_id, activity.step)
    start_after = checkpoint.load()
    summary.resumed_after = max(start_after, 0)
    # What finalize compares with: the objects whose activity this step is responsible for.
    summary.selected, summary.selection_digest = selection(versions, snapshot)
    if start_after < 0:
        total = summary.selected
    else:
        total = sum(1 for _ in _object_refs(versions, snapshot, start_after))
    if start_after >= 0:
        log.info("%s: resuming after object id %s (%s objects left)", activity.step, start_after, total)
    progress = ProgressLog(log, f"{activity.step} calls", total)
    issue_fields = AssetsFieldReader.open(client) if activity.reads_issue_fields else None
    with SchemaLease(db, snapshot.workspace_id, snapshot.schema_id, snapshot_id, wait=600) as lease:
        versions.fence = lease
        pending: Pending = []
        window = _Window(issue_fields)

        def fetch(object_ref: tuple[str, int]) -> Sequence[Mapping[str, Any]] | None:
            try:
                return activity.fetch(client, object_ref[0])
            except AssetsNotFoundError:
                return None  # deleted since the objects were listed: keep what is stored

        failed = True
        try:
            for (object_id, number), answer in client.map_concurrent(
                fetch, _object_refs(versions, snapshot, start_after), ordered=True
            ):
                window.add(answer)
                pending.append((object_id, number, answer))
                progress.add()
                if window.due(len(pending)):
                    _flush(versions, snapshot, activity, pending, checkpoint, summary, window)
            while pending:
                _flush(versions, snapshot, activity, pending, checkpoint, summary, window, last=True)
            failed = False
        finally:
            if failed:
                # What was fetched (and whose issues are known) before a failure is kept, so a retry starts
                # after it; no call is made here.
                _flush(versions, snapshot, activity, pending, checkpoint, summary, window, offline=True)
    if issue_fields is not None:
        summary.issue_searches = issue_fields.searches
        summary.unreadable_issues = issue_fields.unreadable
    summary.seconds = round(progress.elapsed, 3)
    summary.calls_per_minute = round(summary.objects / progress.elapsed * 60, 1) if progress.elapsed else 0.0
    log.info("%s", progress.line())
    log.info(
        "%s: %s objects, %s %s entries, %s new versions, %s objects gone meanwhile",
        activity.step, summary.objects, summary.items, activity.kind, summary.new_versions,
        summary.vanished_objects,
    )  # fmt: skip
    if issue_fields is not None:
        log.info(
            "%s: %s Jira searches for the Assets fields of the connected issues; %s issues could not be read "
            "(deleted, or hidden from this account: recorded with no Assets field)",
            activity.step, summary.issue_searches, summary.unreadable_issues,
        )  # fmt: skip
    snapshots.record_step(snapshot_id, activity.step, summary.as_dict())
    return summary


def _object_refs(versions: VersionStore, snapshot: Snapshot, start_after: int) -> Iterator[tuple[str, int]]:
    """Yield (object id, number) of the objects to visit, in id order, one id bucket at a time.

    A full sweep visits every object of the snapshot; an incremental run the ones stored anew since its
    base, the last complete snapshot (also those a failed run stored: their activity was never read), and a
    rolling one besides them the objects of its sweep slice.
    """
    swept = SweepSlice.from_manifest(snapshot.document)
    # Every stored version is newer than this: a full sweep (or a run with no base) visits everything.
    since = -(2**62) if snapshot.kind == FULL or snapshot.base_seq is None else snapshot.base_seq
    buckets: dict[int, list[str]] = {}
    for group in versions.groups("object"):
        buckets.setdefault(group_bucket(group), []).append(group)
    for bucket in sorted(buckets):
        if (bucket + 1) * OBJECT_BUCKET <= start_after + 1:
            continue
        members = versions.members("object", buckets[bucket], lambda object_id: int(object_id) > start_after)
        chosen = sorted(
            (int(object_id), object_id)
            for object_id, member in members.items()
            if member.from_seq > since or (swept is not None and swept.covers(object_id))
        )
        for number, object_id in chosen:
            yield object_id, number


def selection(versions: VersionStore, snapshot: Snapshot) -> tuple[int, str]:
    """Return how many objects a per-object step of ``snapshot`` must visit, and a digest of their ids."""
    digest = hashlib.sha256()
    count = 0
    for object_id, _ in _object_refs(versions, snapshot, -1):
        digest.update(object_id.encode() + b"\n")
        count += 1
    return count, digest.hexdigest()


class _Window:
    """When the objects fetched so far are stored: every ``FLUSH_EVERY`` objects or ``FLUSH_SECONDS``.

    With tickets whose issues are still to be read, the window waits until their keys fill a search
    (``SEARCH_BATCH``), searches exactly that many, and stores the objects whose issues are all known; the
    rest wait for the next search. So a step makes one search per hundred issues, however the issues fall
    on objects and windows; within ``LOOKUP_WINDOW_OBJECTS`` and ``LOOKUP_WINDOW_SECONDS``, after which
    the keys gathered are searched whatever their number.
    """

    def __init__(self, issue_fields: AssetsFieldReader | None) -> None:
        self.issue_fields = issue_fields
        # Issue refs to search, in the order their objects came (the earliest objects are stored first).
        self.waiting: dict[str, None] = {}
        self.started = time.monotonic()

    def add(self, answer: Sequence[Mapping[str, Any]] | None) -> None:
        """Note the issues of one more object's answer that are not known yet."""
        if self.issue_fields is not None and answer:
            for ref in sorted(self.issue_fields.unknown(answer)):
                self.waiting.setdefault(ref, None)

    def bounded(self, objects: int) -> bool:
        """Tell whether a window holding unread issues reached its bounds (then it is searched as it is)."""
        return objects >= LOOKUP_WINDOW_OBJECTS or time.monotonic() - self.started >= LOOKUP_WINDOW_SECONDS

    def due(self, objects: int) -> bool:
        """Tell whether the window of ``objects`` objects is to be stored (and its issues searched) now."""
        if self.waiting and self.issue_fields is not None:
            return len(self.waiting) >= self.issue_fields.batch_size or self.bounded(objects)
        return objects >= FLUSH_EVERY or time.monotonic() - self.started >= FLUSH_SECONDS

    def look_up(self, objects: int, *, last: bool) -> None:
        """Search the issues waited for: whole batches only, unless the window is the last or bounded."""
        if self.issue_fields is None or not self.waiting:
            return
        refs = list(self.waiting)
        if not (last or self.bounded(objects)):
            batch = self.issue_fields.batch_size
            refs = refs[: len(refs) // batch * batch]
        self.issue_fields.look_up(refs)
        for ref in refs:
            self.waiting.pop(ref, None)


def _flush(
    versions: VersionStore,
    snapshot: Snapshot,
    activity: ActivityKind,
    pending: Pending,
    checkpoint: Checkpoint,
    summary: ActivitySummary,
    window: _Window,
    *,
    last: bool = False,
    offline: bool = False,
) -> None:
    """Store the first pending objects whose entries are complete, checkpoint the last of them.

    Without issue look-ups every pending object is stored. With them, the objects up to the first whose
    issues are still unknown are; the others stay pending for the next search.

    :param last: no object follows: search every issue waited for.
    :param offline: make no call (after a failure): what is not known yet is left for the retry.
    """
    issue_fields = window.issue_fields
    if not offline:
        window.look_up(len(pending), last=last)
    window.started = time.monotonic()
    ready = len(pending)
    if issue_fields is not None:
        ready = 0
        while ready < len(pending) and issue_fields.knows(pending[ready][2] or []):
            ready += 1
        if not offline:
            for _, _, answer in pending[ready:]:
                window.add(answer)  # an issue forgotten by the cache meanwhile is searched again
    # On a failure of the store, every pending object stays pending.
    _store(versions, snapshot, activity, pending[:ready], checkpoint, summary, issue_fields)
    del pending[:ready]


def _store(
    versions: VersionStore,
    snapshot: Snapshot,
    activity: ActivityKind,
    pending: Pending,
    checkpoint: Checkpoint,
    summary: ActivitySummary,
    issue_fields: AssetsFieldReader | None,
) -> None:
    if not pending:
        return
    items: list[Item] = []
    answered: list[str] = []
    for object_id, _, answer in pending:
        if answer is None:
            summary.vanished_objects += 1
            continue
        answered.append(object_id)
        for raw in answer:
            if issue_fields is not None:
                held_in = issue_fields.fields_holding(raw, object_id)
                if held_in is not None:
                    raw = {**raw, "assets_fields": held_in}
            data = activity.normalize(raw, object_id)
            items.append(Item(activity.item_id(object_id, data), data, group=object_id, parent_id=object_id))
    current = versions.members(activity.kind, answered)
    counts = versions.record(activity.kind, _unique(items), snapshot.seq, current=current)
    present = {item.item_id for item in items}
    versions.close(activity.kind, snapshot.seq, {i: span for i, span in current.items() if i not in present})
    summary.objects += len(pending)
    summary.items += len(items)
    summary.new_versions += counts.new_versions
    checkpoint.save(pending[-1][1])


def _unique(items: Sequence[Item]) -> list[Item]:
    """Keep one item per id (an API that repeats an entry must not make two spans)."""
    seen: dict[str, Item] = {}
    for item in items:
        seen.setdefault(item.item_id, item)
    return list(seen.values())
