"""Build the snapshot of a past moment from the nearest later real snapshot and its objects' history.

The base is the schema's nearest complete real snapshot taken at or after the moment. Its configuration is
kept; each object is rewound by the history entries recorded after the moment (:mod:`.rewind`); objects
created after the moment are left out; history and comments recorded after it are left out. History the
base stored is used; the API is asked only for objects whose history the store does not hold.

Objects deleted before the base cannot be rewound (deleting an object deletes its history). Those the
nearest older real snapshot holds are taken from it; the others are recorded as a gap: object keys are
numbered per schema, so a missing number below the newest key of the moment names an object that existed
at some time before it.

The result is written into the reconstructed lane of the version store under its own manifest (``kind:
reconstructed``), with a fidelity report in the manifest and one note per value not rewound exactly in
``reconstruction_notes``. Its id names the schema and the moment, so a second backfill of the moment
finds it complete and writes nothing.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo.database import Database

from airflow_assets.api import AssetsClient
from airflow_assets.backfill.rewind import UNKNOWN_LABEL, Attribute, Note, ObjectRewinder, Resolver
from airflow_assets.backup.run import BackupRun
from airflow_assets.exceptions import AssetsNotFoundError, JiraAssetsError
from airflow_assets.model import normalize as norm
from airflow_assets.model.display import iso_ms, parse_moment
from airflow_assets.model.schema_config import SchemaConfig
from airflow_assets.store import Item, SchemaLease, SnapshotStore, ensure_indexes
from airflow_assets.store.digest import compute_root
from airflow_assets.store.layout import CONFIG_KINDS
from airflow_assets.store.notes import ReconstructionNotes
from airflow_assets.store.snapshots import COMPLETE, RUN_RECONSTRUCTION, RUNNING, Snapshot
from airflow_assets.store.versions import BATCH, CONFIG_GROUP, RECONSTRUCTED_LANE, object_group

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]
GROUPS_PER_WRITE = 200  # objects whose history, comments or tickets are written per store round trip
NO_HISTORY = "object history neither stored nor fetched"
FROM_OLDER = "object deleted before the base snapshot: taken from an older snapshot"
LABELS_LISTED = 100  # labels of missing objects named in the manifest (all are counted)
NOTES_LISTED = 20  # notes quoted in the manifest (all are in reconstruction_notes)
# What a reconstruction cannot rewind (no history records it): kept as the base holds it.
KEPT_AS_IN_BASE = [
    "configuration (object types, attributes, statuses)",
    "connected tickets",
    "comment texts",
    "attachments flags",
]


class NoBaseSnapshot(JiraAssetsError):
    """No complete real snapshot was taken at or after the moment: there is nothing to rewind from."""


@dataclass
class ReconstructSummary:
    """What one reconstruction did (the task's XCom)."""

    snapshot_id: str
    moment: str
    base_snapshot_id: str = ""
    already_complete: bool = False
    objects: int = 0
    objects_left_out: int = 0
    objects_rewound: int = 0
    values_rewound: int = 0
    not_exact: int = 0
    missing_objects: int = 0
    from_older_snapshot: int = 0
    history_calls: int = 0
    seconds: float = 0.0

    def as_dict(self) -> JsonDict:
        """Return the summary as JSON-compatible values."""
        return asdict(self)


def reconstructed_id(workspace_id: str, schema_id: str, moment: datetime) -> str:
    """Return the id of the reconstructed snapshot of a schema at ``moment``."""
    return f"{workspace_id}:{schema_id}:at:{iso_ms(moment)}"


def find_base(
    snapshots: SnapshotStore, workspace_id: str, schema_id: str, moment: datetime, *, wait: float = 0.0
) -> Snapshot:
    """Return the nearest complete real snapshot taken at or after ``moment``.

    A real snapshot still running (another backfill run is taking it) is waited for up to ``wait`` seconds.

    :raises NoBaseSnapshot: there is none.
    """
    deadline = time.monotonic() + wait
    while True:
        later = list(snapshots.real_after(workspace_id, schema_id, moment))
        complete = [snapshot for snapshot in later if snapshot.status == COMPLETE]
        if complete:
            return complete[0]
        running = [snapshot for snapshot in later if snapshot.status == RUNNING]
        if not running or time.monotonic() >= deadline:
            taking = f" ({running[0].snapshot_id} is still running)" if running else ""
            raise NoBaseSnapshot(
                f"schema {schema_id} has no complete snapshot taken at or after {moment.isoformat()}"
                f"{taking}: a backfill rewinds a later real snapshot (its run takes one when none exists)"
            )
        log.info(
            "waiting for snapshot %s to complete: it is the base of this backfill", running[0].snapshot_id
        )
        time.sleep(min(15.0, max(deadline - time.monotonic(), 0.1)))


def reconstruct(
    db: Database,
    base: Snapshot,
    moment: datetime,
    *,
    manifest: Mapping[str, Any],
    client: AssetsClient | None = None,
    key: bytes | None = None,
) -> ReconstructSummary:
    """Write the snapshot of ``base``'s schema as it was at ``moment``; return what was done.

    :param base: the nearest complete real snapshot taken at or after the moment (:func:`find_base`).
    :param manifest: fields for the manifest (site, dag and run ids, ...).
    :param client: asked for the history of objects the store holds none for (None: such objects are
        kept as the base holds them, and counted as not rewound exactly).
    :param key: the snapshot key for the root digest (None: a plain SHA-256 root).
    """
    started = time.monotonic()
    ensure_indexes(db)
    moment = moment.astimezone(UTC)
    snapshots = SnapshotStore(db)
    snapshot_id = reconstructed_id(base.workspace_id, base.schema_id, moment)
    summary = ReconstructSummary(
        snapshot_id=snapshot_id, moment=moment.isoformat(), base_snapshot_id=base.snapshot_id
    )
    snapshot, _ = snapshots.begin_reconstructed(
        {
            **manifest,
            "_id": snapshot_id,
            "workspace_id": base.workspace_id,
            "schema_id": base.schema_id,
            "schema_key": base.schema_key,
            "schema_name": base.schema_name,
            "site": base.site,
            "site_url": base.site_url,
            "run_kind": RUN_RECONSTRUCTION,
            "state_at": moment,
            "base_snapshot_id": base.snapshot_id,
            "base_seq": base.seq,
            "include": base.include,
        }
    )
    if snapshot.status == COMPLETE:
        summary.base_snapshot_id = snapshot.base_snapshot_id or ""
        summary.already_complete = True
        log.info("snapshot %s of %s is complete already: nothing to do", snapshot_id, moment.isoformat())
        return summary
    lane_lease = SchemaLease(
        db, base.workspace_id, f"{base.schema_id}/{RECONSTRUCTED_LANE}", snapshot_id, wait=3600
    )
    # The lane has one writer at a time; it is let go as soon as this reconstruction ends, whatever happened.
    with lane_lease:
        try:
            snapshot = snapshots.restart_reconstructed(snapshot)
            if snapshot.status == COMPLETE:  # another run of the same moment finished it while we waited
                summary.already_complete = True
                return summary
            work = _Reconstruction(db, base, snapshot, moment, client, summary)
            work.lane.fence = lane_lease
            fidelity = work.run()
            counts = work.counts()
            snapshots.complete(
                snapshot_id,
                {
                    "counts": counts,
                    "fidelity": fidelity,
                    "steps": {"reconstruct": summary.as_dict()},
                    "root": compute_root(work.lane, snapshot.document, counts, key),
                },
                finished_at=datetime.now(UTC),
                fence=lane_lease,
            )
        finally:
            lane_lease.release()
    summary.seconds = round(time.monotonic() - started, 3)
    log.info(
        "snapshot %s: schema %s as of %s from %s: %s objects (%s left out, created later), "
        "%s values rewound in %s objects, %s not exactly, %s referenced objects missing, "
        "%s history calls, %.1f s",
        snapshot_id, base.schema_key, moment.isoformat(), base.snapshot_id, summary.objects,
        summary.objects_left_out, summary.values_rewound, summary.objects_rewound, summary.not_exact,
        summary.missing_objects, summary.history_calls, summary.seconds,
    )  # fmt: skip
    return summary


@dataclass
class _Timeline:
    """What is known of the objects of the base: type, creation, label changes after the moment."""

    object_type: dict[str, str] = field(default_factory=dict)
    created: dict[str, datetime | None] = field(default_factory=dict)
    label_now: dict[str, str] = field(default_factory=dict)
    label_changes: dict[str, list[tuple[datetime, str | None]]] = field(default_factory=dict)
    by_label: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def label_at(self, object_id: str, at: datetime) -> str | None:
        created = self.created.get(object_id)
        if created is not None and created > at:
            return None
        for changed_at, old in sorted(self.label_changes.get(object_id, ())):
            if changed_at > at:
                return old
        return self.label_now.get(object_id)


class _Reconstruction:
    def __init__(
        self,
        db: Database,
        base: Snapshot,
        snapshot: Snapshot,
        moment: datetime,
        client: AssetsClient | None,
        summary: ReconstructSummary,
    ) -> None:
        self.db = db
        self.base = base
        self.snapshot = snapshot
        self.seq = snapshot.seq
        self.moment = moment
        self.client = client
        self.summary = summary
        self.source = base.versions(db)
        self.lane = snapshot.versions(db)
        self.after: dict[str, list[JsonDict]] = defaultdict(list)
        self.last_before: dict[str, str] = {}
        self.fetched_before: dict[str, list[JsonDict]] = {}
        self.reasons: Counter[str] = Counter()
        self.quoted: list[JsonDict] = []
        self.included: set[str] = set()
        self.missing_labels: set[str] = set()
        # Objects whose history neither the store holds nor the API was asked for: kept as in the base.
        self.unrewound: set[str] = set()
        self.phases: dict[str, float] = {}
        self._phase_started = time.monotonic()

    # -- the whole run --------------------------------------------------------------------------------

    def run(self) -> JsonDict:
        config = self.source.read_kinds(CONFIG_KINDS, self.base.seq)
        schema_config = SchemaConfig(config)
        attributes_of = attribute_index(schema_config)
        # One pass over the base's history: entries after the moment are kept to rewind with, the others
        # are the snapshot's history (they belong to objects the moment had: an object created later has
        # no entry before it).
        has_history: set[str] = set()
        history_written: set[str] = set()
        if self.base.include.get("history"):
            history_written = self._copy_entries(
                "history",
                self._at_or_before,
                lambda object_id, entry: self._observe(has_history, object_id, entry),
            )
        self._phase("history read and copied")
        timeline, users = self._read_objects(attributes_of)
        self._phase("objects indexed")
        self._fetch_missing_history(set(timeline.object_type) - has_history, attributes_of, timeline)
        self._phase("missing history fetched")
        for actor in self._actors():
            _add_user(users, actor)
        resolver = Resolver(
            label_at=timeline.label_at,
            objects_by_label=timeline.by_label,
            object_type=timeline.object_type,
            users_named=_Users(users, self.client).named,
            statuses_by_name=schema_config.status_ids_by_name(),
            schema_types=set(schema_config.object_types),
        )
        rewinder = ObjectRewinder(self.moment, attributes_of, resolver)
        self._write_config(config)
        self._write_objects(rewinder)
        self._phase("objects rewound and written")
        older = self._older_objects()
        self._phase("older snapshot read")
        missing = sorted(self.missing_labels)
        self.summary.missing_objects = len(missing)
        history_written |= self._write_fetched_history()
        self._drop_stale("history", history_written)
        for kind, keep in (
            ("comment", self._at_or_before),
            ("ticket", lambda entry: str(entry.get("objectId")) in self.included),
        ):
            flag = "comments" if kind == "comment" else "connected_tickets"
            self._drop_stale(kind, self._copy_entries(kind, keep) if self.base.include.get(flag) else set())
        self._phase("comments and tickets copied")
        return {
            "moment": self.moment,
            "base_snapshot_id": self.base.snapshot_id,
            "base_started_at": self.base.started_at,
            "values_rewound": self.summary.values_rewound,
            "objects_rewound": self.summary.objects_rewound,
            "objects_left_out_created_later": self.summary.objects_left_out,
            "not_exact": self.summary.not_exact,
            "not_exact_by_reason": dict(self.reasons),
            "not_exact_examples": self.quoted,
            "missing_objects": {
                "referenced": len(missing),
                "labels": missing[:LABELS_LISTED],
                "why": "objects deleted between the moment and the base snapshot are gone with their "
                "history; those another object referenced at the moment are known by the label the "
                "reference showed (those nothing referenced cannot be told)",
            },
            "from_older_snapshot": {
                "count": self.summary.from_older_snapshot,
                "snapshot_id": older.snapshot.snapshot_id if older.snapshot else None,
                "why": "objects deleted before the base snapshot, as the older snapshot holds them "
                "(not rewound)",
            },
            "history_calls": self.summary.history_calls,
            "seconds_per_phase": self.phases,
            "kept_as_in_base": KEPT_AS_IN_BASE,
        }

    def _phase(self, name: str) -> None:
        """Record how long the phase that ends now took (the manifest keeps them; the log shows them)."""
        now = time.monotonic()
        self.phases[name] = round(now - self._phase_started, 3)
        self._phase_started = now
        log.info("%s in %.1f s", name, self.phases[name])

    def counts(self) -> JsonDict:
        tally = self.lane.tally_visible(self.seq)
        per_type = {
            type_id: counted["items"]
            for (kind, type_id), counted in tally.items()
            if kind == "object" and type_id is not None
        }
        return {
            "objects": sum(per_type.values()),
            "per_type": per_type,
            "history_entries": tally.get(("history", None), {}).get("items", 0),
            "comments": tally.get(("comment", None), {}).get("items", 0),
            "tickets": tally.get(("ticket", None), {}).get("items", 0),
            "objects_with_attachments": sum(
                counted["attachments"] for (kind, _), counted in tally.items() if kind == "object"
            ),
        }

    # -- reading the base ---------------------------------------------------------------------------

    def _at_or_before(self, entry: Mapping[str, Any]) -> bool:
        created = parse_moment(entry.get("created"))
        return created is None or created <= self.moment

    def _sort_entry(self, object_id: str, entry: JsonDict) -> None:
        if self._at_or_before(entry):
            created = str(entry.get("created") or "")
            if created > self.last_before.get(object_id, ""):
                self.last_before[object_id] = created
        else:
            self.after[object_id].append(entry)

    def _observe(self, seen: set[str], object_id: str, entry: JsonDict) -> None:
        seen.add(object_id)
        self._sort_entry(object_id, entry)

    def _write_fetched_history(self) -> set[str]:
        """Store the history the API gave for objects the store held none for (the moment's entries)."""
        if not self.base.include.get("history"):
            return set()
        written: set[str] = set()
        pending: dict[str, list[Item]] = {}
        for object_id, fetched in self.fetched_before.items():
            if object_id not in self.included:
                continue
            if len(pending) >= GROUPS_PER_WRITE:
                self._flush_entries("history", pending, written)
            pending[object_id] = [
                Item(str(entry["id"]), entry, group=object_id, parent_id=object_id) for entry in fetched
            ]
        self._flush_entries("history", pending, written)
        return written

    def _read_objects(
        self, attributes_of: Callable[[str], Mapping[str, Attribute]]
    ) -> tuple[_Timeline, dict]:
        timeline = _Timeline()
        users: dict[str, list[JsonDict]] = {}
        for data in self.source.read("object", self.base.seq):
            self._index_object(timeline, data, attributes_of)
            for attribute in data.get("attributes") or []:
                for value in attribute.get("values") or []:
                    if isinstance(value.get("user"), Mapping):
                        _add_user(users, value["user"])
        return timeline, users

    def _index_object(
        self,
        timeline: _Timeline,
        data: Mapping[str, Any],
        attributes_of: Callable[[str], Mapping[str, Attribute]],
    ) -> None:
        object_id = str(data["id"])
        type_id = str(data["objectTypeId"])
        timeline.object_type[object_id] = type_id
        timeline.created[object_id] = parse_moment(data.get("created"))
        label = str(data.get("label") or "")
        timeline.label_now[object_id] = label
        timeline.by_label[label].add(object_id)
        self._index_label_changes(timeline, object_id, attributes_of)

    def _index_label_changes(
        self, timeline: _Timeline, object_id: str, attributes_of: Callable[[str], Mapping[str, Attribute]]
    ) -> None:
        """Index the label changes of an object after the moment (labels a reference may have shown)."""
        type_id = timeline.object_type[object_id]
        label_names = {name for name, attribute in attributes_of(type_id).items() if attribute.label}
        changes = []
        for entry in self.after.get(object_id, ()):
            if entry.get("affectedAttribute") in label_names:
                at = parse_moment(entry.get("created"))
                if at is None:
                    continue
                old = entry.get("oldValue")
                changes.append((at, None if old is None else str(old)))
                for text in (entry.get("oldValue"), entry.get("newValue")):
                    if text is not None:
                        timeline.by_label[str(text)].add(object_id)
        if changes:
            timeline.label_changes[object_id] = changes

    def _fetch_missing_history(
        self,
        object_ids: set[str],
        attributes_of: Callable[[str], Mapping[str, Attribute]],
        timeline: _Timeline,
    ) -> None:
        """Ask the API for the history of objects the store holds none for (history not backed up)."""
        if not object_ids:
            return
        if self.client is None:
            self.unrewound = set(object_ids)
            return
        client = self.client

        def fetch(object_id: str) -> list[Mapping[str, Any]] | None:
            try:
                return list(client.get_object_history(object_id))
            except AssetsNotFoundError:
                return None

        wanted = sorted(object_ids, key=lambda object_id: int(object_id) if object_id.isdigit() else 0)
        for object_id, answer in client.map_concurrent(fetch, wanted, ordered=False):
            self.summary.history_calls += 1
            if answer is None:
                continue
            for raw in answer:
                entry = norm.normalize_history_entry(raw, object_id)
                self._sort_entry(object_id, entry)
                if self._at_or_before(entry):
                    self.fetched_before.setdefault(object_id, []).append(entry)
        # Label changes found by these calls matter for resolving references.
        for object_id in object_ids:
            if self.after.get(object_id):
                self._index_label_changes(timeline, object_id, attributes_of)

    def _actors(self) -> Iterator[Mapping[str, Any]]:
        for entries in self.after.values():
            for entry in entries:
                if isinstance(entry.get("actor"), Mapping):
                    yield entry["actor"]

    # -- writing the lane ---------------------------------------------------------------------------

    def _write_config(self, config: Mapping[str, list[JsonDict]]) -> None:
        for kind in CONFIG_KINDS:
            items = [
                Item(
                    str(data["id"]), data, parent_id=data.get("objectTypeId") if kind == "attribute" else None
                )
                for data in config[kind]
            ]
            self.lane.record(kind, items, self.seq)
            self.lane.close_absent(kind, self.seq, [CONFIG_GROUP], [item.item_id for item in items])

    def _write_objects(self, rewinder: ObjectRewinder) -> None:
        """Rewind and store every object the moment had."""
        batch: list[Item] = []
        notes: list[Note] = []
        for data in self.source.read("object", self.base.seq, sort="n"):
            object_id = str(data["id"])
            result = rewinder.rewind(data, self.after.get(object_id, ()), self.last_before.get(object_id))
            if result.data is None:
                self.summary.objects_left_out += 1
                continue
            self.summary.objects += 1
            self.summary.values_rewound += result.values_rewound
            self.summary.objects_rewound += 1 if result.values_rewound else 0
            notes.extend(result.notes)
            if object_id in self.unrewound:
                notes.append(Note(object_id, "*", NO_HISTORY, "kept as in the base snapshot"))
            self.included.add(object_id)
            batch.append(_object_item(result.data))
            if len(batch) >= BATCH:
                self._flush_objects(batch, notes)
        self._flush_objects(batch, notes)

    def _flush_objects(self, batch: list[Item], notes: list[Note]) -> None:
        if batch:
            self.lane.record("object", batch, self.seq)
            batch.clear()
        if notes:
            self._note(notes)
            notes.clear()

    def _note(self, notes: Iterable[Note]) -> None:
        stored = []
        for note in notes:
            if note.reason == UNKNOWN_LABEL:
                self.missing_labels.add(note.detail)
            self.summary.not_exact += 1
            self.reasons[note.reason] += 1
            if len(self.quoted) < NOTES_LISTED:
                self.quoted.append(note.as_dict())
            stored.append(note.as_dict())
        ReconstructionNotes(self.db).add(self.snapshot.snapshot_id, stored)

    def _older_objects(self) -> _Older:
        """Add the objects the nearest older real snapshot holds and the base does not (deleted since)."""
        snapshots = SnapshotStore(self.db)
        older = next(
            snapshots.complete_before(self.base.workspace_id, self.base.schema_id, self.base.seq), None
        )
        found = _Older(older)
        if older is None:
            self.lane.close_absent("object", self.seq, self.lane.groups("object"), self.included)
            return found
        batch: list[Item] = []
        notes: list[Note] = []
        for data in older.versions(self.db).read("object", older.seq, sort="n"):
            object_id = str(data["id"])
            created = parse_moment(data.get("created"))
            if object_id in self.included or (created is not None and created > self.moment):
                continue
            self.included.add(object_id)
            self.summary.objects += 1
            self.summary.from_older_snapshot += 1
            batch.append(_object_item(data))
            notes.append(
                Note(
                    object_id,
                    "*",
                    FROM_OLDER,
                    f"{older.snapshot_id} (existence and values at the moment uncertain)",
                )
            )
            if len(batch) >= BATCH:
                self._flush_objects(batch, notes)
        self._flush_objects(batch, notes)
        self.lane.close_absent("object", self.seq, self.lane.groups("object"), self.included)
        return found

    def _copy_entries(
        self,
        kind: str,
        keep: Callable[[Mapping[str, Any]], bool],
        observe: Callable[[str, JsonDict], None] | None = None,
    ) -> set[str]:
        """Store the base's history entries, comments or tickets that ``keep`` accepts; return their groups.

        Entries come grouped by object (sorted by parent): a group is written whole, with the entries of
        its object that this reconstruction no longer holds closed. ``observe`` sees every entry.
        """
        written: set[str] = set()
        pending: dict[str, list[Item]] = {}
        for entry in self.source.read(kind, self.base.seq, sort="parent_id"):
            object_id = str(entry.get("objectId"))
            if observe is not None:
                observe(object_id, entry)
            if not keep(entry):
                continue
            if object_id not in pending and len(pending) >= GROUPS_PER_WRITE:
                self._flush_entries(kind, pending, written)
            item_id = f"{object_id}:{entry['id']}" if kind == "ticket" else str(entry["id"])
            pending.setdefault(object_id, []).append(
                Item(item_id, entry, group=object_id, parent_id=object_id)
            )
        self._flush_entries(kind, pending, written)
        return written

    def _drop_stale(self, kind: str, written: set[str]) -> None:
        """Drop the lane's groups of ``kind`` this reconstruction did not write (objects it does not hold)."""
        stale = [group for group in self.lane.groups(kind) if group not in written]
        for start in range(0, len(stale), BATCH):
            self.lane.drop_groups(kind, self.seq, stale[start : start + BATCH])

    def _flush_entries(self, kind: str, pending: dict[str, list[Item]], written: set[str]) -> None:
        if not pending:
            return
        current = self.lane.members(kind, pending)
        items = list({item.item_id: item for group in pending.values() for item in group}.values())
        self.lane.record(kind, items, self.seq, current=current)
        present = {item.item_id for item in items}
        self.lane.close(
            kind, self.seq, {item_id: m for item_id, m in current.items() if item_id not in present}
        )
        written.update(pending)
        pending.clear()


@dataclass
class _Older:
    snapshot: Snapshot | None


class _Users:
    """Users by display name: those the snapshot shows, then the site's directory (asked once, if needed)."""

    def __init__(self, known: dict[str, list[JsonDict]], client: AssetsClient | None) -> None:
        self._known = known
        self._client = client

    def named(self, name: str) -> list[JsonDict]:
        """Return the users called ``name`` (stored form: account id, display name, email)."""
        if name not in self._known and self._client is not None:
            client, self._client = self._client, None
            for user in client.iter_users():
                if user.get("accountType") in (None, "atlassian"):
                    person = {key: user.get(key) for key in ("accountId", "displayName", "emailAddress")}
                    _add_user(self._known, {key: value for key, value in person.items() if value is not None})
        return self._known.get(name, [])


def _add_user(users: dict[str, list[JsonDict]], person: Mapping[str, Any]) -> None:
    name = person.get("displayName")
    account = person.get("accountId") or person.get("key")
    if not name or not account:
        return
    known = users.setdefault(str(name), [])
    for index, user in enumerate(known):
        if user.get("accountId") == account:
            if len(person) > len(user):
                known[index] = dict(person)  # the fuller form (with email) wins
            return
    known.append(dict(person))


def _object_item(data: JsonDict) -> Item:
    number = norm.object_number(str(data["id"]))
    return Item(
        str(data["id"]),
        data,
        group=object_group(str(data["objectTypeId"]), number),
        type_id=str(data["objectTypeId"]),
        n=number,
        fields={"updated": data.get("updated"), "attachments": bool(data.get("attachmentsExists"))},
        stamp=data.get("updated"),
    )


def attribute_index(config: SchemaConfig) -> Callable[[str], Mapping[str, Attribute]]:
    """Return object type id -> the attributes its objects carry, by name (its own win over inherited ones).

    A reference attribute's targets are its type and the types below it.
    """
    attributes: dict[str, Attribute] = {}
    for attribute_id, data in config.attributes.items():
        target = data.get("referenceObjectTypeId")
        references: frozenset[str] | None = None
        if target is not None and str(target) in config.object_types:
            references = config.type_and_descendants(str(target))
        elif target is not None:
            references = frozenset({str(target)})
        attributes[attribute_id] = Attribute.from_config(data, references)
    cache: dict[str, dict[str, Attribute]] = {}

    def attributes_of(type_id: str) -> Mapping[str, Attribute]:
        if type_id not in cache:
            merged: dict[str, Attribute] = {}
            for owner in config.inherits_from(type_id):
                for data in config.own_attributes.get(owner, ()):
                    attribute = attributes[str(data["id"])]
                    merged.setdefault(attribute.name, attribute)
            cache[type_id] = merged
        return cache[type_id]

    return attributes_of


def reconstruct_run(
    client: AssetsClient,
    db: Database,
    schema_key: str,
    run: BackupRun,
    moment: datetime,
    *,
    base_wait: float,
    key: bytes | None = None,
) -> ReconstructSummary:
    """Reconstruct the snapshot a backup run of a past date stands for (the ``reconstruct_past`` step).

    :param moment: the run's moment (:meth:`BackupRun.past_moment`).
    :param base_wait: seconds to wait for a later real snapshot another run is still taking.
    """
    schema = client.object_schema_by_key(schema_key)
    schema_id = norm.as_id(schema.get("id"), what=f"the id of schema {schema_key}")
    base = find_base(SnapshotStore(db), client.workspace_id, schema_id, moment, wait=base_wait)
    manifest = {
        **run.manifest_fields(),
        "kind_reason": f"the schema as of {moment.isoformat()}, rewound from {base.snapshot_id} by history",
    }
    return reconstruct(db, base, moment, manifest=manifest, client=client, key=key)
