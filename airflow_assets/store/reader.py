"""Read snapshots: choose one (newest, by id, by moment), and read what it holds, in its own lane.

:class:`SnapshotReader` is the one way the rest of the package reads a snapshot. It owns the rules every
reader used to repeat: only ``complete`` snapshots are offered (a ``damaged`` one only when named and
accepted, a ``running`` or ``failed`` one never), a snapshot's moment (``state_at``) is UTC, and a
reconstructed snapshot's content is read from its own lane of the version store.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo import DESCENDING
from pymongo.database import Database

from airflow_assets.exceptions import JiraAssetsError
from airflow_assets.store.gc_pause import paused_gc
from airflow_assets.store.layout import CONFIG_KINDS, SNAPSHOTS
from airflow_assets.store.snapshots import COMPLETE, DAMAGED, RECONSTRUCTED, Snapshot, SnapshotStore
from airflow_assets.store.versions import DamageHandler, VersionStore

JsonDict = dict[str, Any]
SHORT_ID_LENGTH = 8
SPAN_FIELDS = {"_id": 0, "item_id": 1, "from_seq": 1, "to_seq": 1, "hash": 1, "type_id": 1}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SnapshotNotFoundError(JiraAssetsError, LookupError):
    """No snapshot has the id, short id or id ending that was given."""


class AmbiguousSnapshotError(JiraAssetsError, LookupError):
    """Several snapshots end with the text that was given.

    :param candidates: the matching snapshots, by schema key and newest first.
    """

    def __init__(self, message: str, candidates: Sequence[Snapshot]) -> None:
        super().__init__(message)
        self.candidates = list(candidates)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.candidates))


def short_id(snapshot_id: str) -> str:
    """Return a snapshot's short id: the first 8 hex digits of its id's SHA-256 (stable, never wraps)."""
    return hashlib.sha256(snapshot_id.encode()).hexdigest()[:SHORT_ID_LENGTH]


def utc(moment: datetime) -> datetime:
    """Return a moment in UTC; a naive one is taken as UTC (as pymongo reads stored dates)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def describe_candidate(snapshot: Snapshot) -> str:
    """Return one line naming a snapshot among candidates: short id, id, schema key and sequence number."""
    return (
        f"{short_id(snapshot.snapshot_id)}  {snapshot.snapshot_id}  ({snapshot.schema_key} #{snapshot.seq})"
    )


def newest_at_or_before(snapshots: Iterable[Snapshot], at: datetime | None) -> Snapshot | None:
    """Return the snapshot holding the newest state at or before ``at`` (None: the newest of all).

    A snapshot without a recorded moment counts as taken at ``at``.
    """
    moment = utc(at) if at is not None else None
    ordered = sorted(snapshots, key=lambda snapshot: snapshot.state_at or _EPOCH, reverse=True)
    if moment is None:
        return ordered[0] if ordered else None
    return next((s for s in ordered if (s.state_at or moment) <= moment), None)


@dataclass
class Changes:
    """Items that differ between two snapshots: item id -> (span at the older one, span at the newer one).

    A span is a dict with ``item_id``, ``hash``, ``type_id``, ``from_seq``, ``to_seq``; None where the item
    is absent.
    """

    added: dict[str, dict[str, Any]] = field(default_factory=dict)
    removed: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed: dict[str, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)

    def summary(self) -> dict[str, int]:
        """Return the counts: added, removed, changed."""
        return {"added": len(self.added), "removed": len(self.removed), "changed": len(self.changed)}


class SnapshotReader:
    """Choose snapshots and read what they hold.

    :param db: the backup database.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.store = SnapshotStore(db)
        self._snapshots = db[SNAPSHOTS]

    # -- choosing --------------------------------------------------------------------------------------

    def get(self, snapshot_id: str) -> Snapshot | None:
        """Return a snapshot by its exact id, whatever its status (None: no such snapshot)."""
        return self.store.get(snapshot_id)

    def find(self, text: str) -> Snapshot:
        """Return the snapshot whose id or short id is ``text``, or whose id ends with it (e.g. its run id).

        Any status: what may be read from it is for the caller to ask (:meth:`readable`).

        :raises SnapshotNotFoundError: no snapshot matches (or ``text`` is empty).
        :raises AmbiguousSnapshotError: several do (they are its ``candidates``).
        """
        wanted = text.strip()
        if not wanted:
            raise SnapshotNotFoundError("a snapshot id is empty")
        exact = self.store.get(wanted)
        if exact is not None:
            return exact
        # Manifests are one per run and schema: few enough to match here, on any compatible server.
        fields = {"schema_key": 1, "seq": 1}
        matches = [
            str(document["_id"])
            for document in self._snapshots.find({}, fields)
            if short_id(str(document["_id"])) == wanted or str(document["_id"]).endswith(wanted)
        ]
        if len(matches) == 1:
            # The whole manifest (its steps too), as an exact id would have read it.
            found = self.store.get(matches[0])
            if found is not None:
                return found
        if not matches:
            raise SnapshotNotFoundError(
                f"no snapshot {wanted!r}: give a snapshot id or short id (`airflow-assets snapshots list` "
                "shows them) or a unique end of an id, e.g. its run id"
            )
        candidates = [snapshot for snapshot_id in matches if (snapshot := self.store.get(snapshot_id))]
        candidates.sort(key=lambda snapshot: (snapshot.schema_key, -snapshot.seq))
        raise AmbiguousSnapshotError(
            f"{wanted!r} matches {len(matches)} snapshots; give more of the id, or a short id:", candidates
        )

    @staticmethod
    def readable(snapshot: Snapshot, *, accept_damaged: bool = False) -> bool:
        """Tell whether a snapshot may be read back: complete, or damaged and the damage accepted."""
        return snapshot.status == COMPLETE or (accept_damaged and snapshot.status == DAMAGED)

    def complete(self, schema_key: str, *, site: str | None = None) -> list[Snapshot]:
        """Return the complete snapshots of a schema key (on ``site``), newest state first.

        A reconstructed snapshot counts at the moment it was rewound to, not at its run's start.
        """
        query: dict[str, Any] = {"schema_key": schema_key, "status": COMPLETE}
        if site is not None:
            query["site"] = site
        found = [
            Snapshot.from_document(document, keyring=self.store.keyring)
            for document in self._snapshots.find(query, sort=[("started_at", DESCENDING)])
        ]
        return sorted(found, key=lambda snapshot: snapshot.state_at or _EPOCH, reverse=True)

    def latest(
        self, schema_key: str, *, site: str | None = None, at: datetime | None = None
    ) -> Snapshot | None:
        """Return the complete snapshot of a schema key holding the newest state (at or before ``at``).

        :param at: a moment (naive: UTC); None for the newest.
        """
        return newest_at_or_before(self.complete(schema_key, site=site), at)

    def schema_keys(self) -> list[str]:
        """Return the schema keys that have a complete snapshot, sorted."""
        return sorted(self._snapshots.distinct("schema_key", {"status": COMPLETE}))

    def workspaces(self) -> list[str]:
        """Return the workspaces that have a complete snapshot, sorted."""
        return sorted(self._snapshots.distinct("workspace_id", {"status": COMPLETE}))

    def latest_per_schema(self, workspace_id: str) -> dict[str, Snapshot]:
        """Return the newest complete real snapshot of every schema of a workspace, by schema id."""
        newest: dict[str, Snapshot] = {}
        for document in self._snapshots.find(
            {"workspace_id": workspace_id, "status": COMPLETE}, sort=[("schema_id", 1), ("seq", -1)]
        ):
            # Reconstructed snapshots number below every real one: the first of a schema is real if any is.
            newest.setdefault(
                str(document["schema_id"]), Snapshot.from_document(document, keyring=self.store.keyring)
            )
        return newest

    def latest_real(self, schema_key: str, *, site: str, count: int = 1) -> list[Snapshot]:
        """Return the last ``count`` complete real snapshots of a schema on a site, last finished first.

        A backfill's reconstruction of a past day says nothing of today's backups: it is left out.
        """
        query = {"site": site, "schema_key": schema_key, "status": COMPLETE, "kind": {"$ne": RECONSTRUCTED}}
        return [
            Snapshot.from_document(document, keyring=self.store.keyring)
            for document in self._snapshots.find(query, sort=[("finished_at", DESCENDING)], limit=count)
        ]

    def previous_complete(self, snapshot: Snapshot) -> Snapshot | None:
        """Return the newest complete snapshot of the same schema older than ``snapshot``."""
        return next(self.store.complete_before(snapshot.workspace_id, snapshot.schema_id, snapshot.seq), None)

    def list_snapshots(self, *, site: str | None = None, schema_key: str | None = None) -> list[Snapshot]:
        """Return every snapshot (any status) of a site and schema key when given, without step summaries."""
        query: dict[str, Any] = {}
        if site is not None:
            query["site"] = site
        if schema_key is not None:
            query["schema_key"] = schema_key
        return [
            Snapshot.from_document(document, keyring=self.store.keyring)
            for document in self._snapshots.find(query, {"steps": 0})
        ]

    def list_complete(self) -> list[Snapshot]:
        """Return every complete snapshot, newest first per schema."""
        return list(self.store.list(status=COMPLETE))

    def complete_seqs(self, snapshot: Snapshot) -> list[tuple[int, str]]:
        """Return (seq, id) of every complete snapshot of a snapshot's schema and lane, oldest first."""
        query = {
            "workspace_id": snapshot.workspace_id,
            "schema_id": snapshot.schema_id,
            "status": COMPLETE,
            "kind": RECONSTRUCTED if snapshot.reconstructed else {"$ne": RECONSTRUCTED},
        }
        return sorted(
            (int(document["seq"]), str(document["_id"]))
            for document in self._snapshots.find(query, {"seq": 1})
        )

    # -- reading ---------------------------------------------------------------------------------------

    def lane(self, snapshot: Snapshot) -> VersionStore:
        """Return the version store a snapshot reads from (its own lane when it was reconstructed)."""
        return snapshot.versions(self.db)

    def config(
        self,
        snapshot: Snapshot,
        kinds: Sequence[str] = CONFIG_KINDS,
        *,
        on_damage: DamageHandler | None = None,
    ) -> dict[str, list[JsonDict]]:
        """Return every item of the configuration kinds a snapshot holds, by kind (one query)."""
        return self.lane(snapshot).read_kinds(kinds, snapshot.seq, on_damage=on_damage)

    def read(
        self,
        snapshot: Snapshot,
        kind: str,
        query: Mapping[str, Any] | None = None,
        *,
        sort: str | None = None,
        on_damage: DamageHandler | None = None,
    ) -> Iterator[JsonDict]:
        """Yield every item of ``kind`` a snapshot holds (configuration or content), hashed again."""
        return self.lane(snapshot).read(kind, snapshot.seq, query, sort=sort, on_damage=on_damage)

    def objects(
        self, snapshot: Snapshot, *, type_id: str | None = None, on_damage: DamageHandler | None = None
    ) -> Iterator[JsonDict]:
        """Yield the objects a snapshot holds (of one object type when given), in id order."""
        query = None if type_id is None else {"type_id": type_id}
        return self.read(snapshot, "object", query, sort="n", on_damage=on_damage)

    def entries(
        self, snapshot: Snapshot, kind: str, *, on_damage: DamageHandler | None = None
    ) -> Iterator[JsonDict]:
        """Yield the ``history``, ``comment`` or ``ticket`` entries a snapshot holds, grouped by object."""
        return self.read(snapshot, kind, sort="parent_id", on_damage=on_damage)

    def count(self, snapshot: Snapshot, kind: str) -> int:
        """Return how many items of ``kind`` a snapshot holds."""
        return self.lane(snapshot).count_visible(kind, snapshot.seq)

    def tally(self, snapshot: Snapshot) -> dict[tuple[str, str | None], dict[str, int]]:
        """Count what a snapshot holds, per kind and object type: items, and items with attachments."""
        return self.lane(snapshot).tally_visible(snapshot.seq)

    def objects_by_id(
        self, snapshot: Snapshot, object_ids: Iterable[str], *, on_damage: DamageHandler | None = None
    ) -> dict[str, JsonDict]:
        """Return the content of the given objects a snapshot holds, by id (those it lacks left out)."""
        return self.lane(snapshot).visible_items("object", snapshot.seq, object_ids, on_damage=on_damage)

    def labels(self, snapshot: Snapshot, object_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """Return (label, object key) of the given objects a snapshot holds, by id."""
        return {
            object_id: (str(data.get("label") or ""), str(data.get("objectKey") or ""))
            for object_id, data in self.objects_by_id(snapshot, object_ids).items()
        }

    def contents(self, snapshot: Snapshot, hashes: Iterable[str]) -> dict[str, JsonDict]:
        """Return the content of versions of a snapshot's schema by hash (as :meth:`changes` names them).

        :raises DamagedContentError: a version is missing, or no longer hashes to its name.
        """
        return self.lane(snapshot).versions_by_hash(hashes)

    def change_counts(self, snapshot: Snapshot) -> dict[str, Any] | None:
        """Return how many objects were added, removed and changed since the previous complete snapshot.

        ``since`` names that snapshot. None for a schema's first snapshot (nothing to compare with).
        finalize records it in the manifest (``changes``): a schema's table of a thousand snapshots reads
        the counts there, not the spans of every change.
        """
        previous = self.previous_complete(snapshot)
        if previous is None:
            return None
        pair = (previous.seq, snapshot.seq)
        return {"since": previous.snapshot_id, **self.changes(snapshot, "object", [pair])[pair].summary()}

    def changes(
        self, snapshot: Snapshot, kind: str, pairs: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], Changes]:
        """Return what changed in the items of ``kind`` of a schema for each pair ``(older seq, newer seq)``.

        An item changed only if one of its spans starts or ends in ``(a, b]``: one query per run of
        consecutive pairs (the spans that start or end between the run's oldest and newest sequence number),
        never a pass over the whole schema, nor over the spans between two runs.

        :param snapshot: any snapshot of the schema and lane (its workspace, schema id and lane are used).
        :param pairs: (a, b) with a < b, not overlapping one another (consecutive snapshots, or one pair).
        """
        results: dict[tuple[int, int], Changes] = {}
        run: list[tuple[int, int]] = []
        # Every span read is kept until the answer is built: collecting meanwhile would free nothing.
        with paused_gc():
            for pair in sorted(pairs, key=lambda pair: pair[1]):
                if run and run[-1][1] != pair[0]:
                    results.update(self._changes_of_run(snapshot, kind, run))
                    run = []
                run.append(pair)
            if run:
                results.update(self._changes_of_run(snapshot, kind, run))
        return results

    def _changes_of_run(
        self, snapshot: Snapshot, kind: str, run: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], Changes]:
        """Return the changes of each pair of a run of consecutive pairs (ordered), from one query."""
        if len(run) == 1:
            return {run[0]: self._changes_of_pair(snapshot, kind, *run[0])}
        results = {pair: Changes() for pair in run}
        ordered_pairs = list(run)
        ends = [b for _, b in ordered_pairs]
        low, high = ordered_pairs[0][0], ends[-1]
        spans_by_item: dict[str, dict[int, dict[str, Any]]] = {}
        for span in self.lane(snapshot).spans_between(kind, low, high, SPAN_FIELDS):
            spans_by_item.setdefault(span["item_id"], {})[int(span["from_seq"])] = span
        for item_id, spans in spans_by_item.items():
            starts = sorted(spans)
            ordered = [spans[start] for start in starts]
            touched: set[tuple[int, int]] = set()
            for span in ordered:
                for event in (int(span["from_seq"]), int(span["to_seq"])):
                    index = bisect.bisect_left(ends, event)
                    if index < len(ordered_pairs) and ordered_pairs[index][0] < event:
                        touched.add(ordered_pairs[index])
            for pair in touched:
                before = _visible(ordered, starts, pair[0])
                after = _visible(ordered, starts, pair[1])
                changes = results[pair]
                if before is None and after is not None:
                    changes.added[item_id] = after
                elif before is not None and after is None:
                    changes.removed[item_id] = before
                elif before is not None and after is not None and before["hash"] != after["hash"]:
                    changes.changed[item_id] = (before, after)
        return results

    def _changes_of_pair(self, snapshot: Snapshot, kind: str, a: int, b: int) -> Changes:
        """Return what changed from ``a`` to ``b`` (one pair: a diff): each span read is looked at once.

        Of the spans that start or end in ``(a, b]``, the one holding at ``a`` starts at or before it, the
        one holding at ``b`` ends after it; the others came and went in between.
        """
        before: dict[str, dict[str, Any]] = {}
        after: dict[str, dict[str, Any]] = {}
        for span in self.lane(snapshot).spans_between(kind, a, b, SPAN_FIELDS):
            if int(span["from_seq"]) <= a:
                before[span["item_id"]] = span
            elif int(span["to_seq"]) > b:
                after[span["item_id"]] = span
        changes = Changes()
        for item_id, old in before.items():
            new = after.get(item_id)
            if new is None:
                changes.removed[item_id] = old
            elif new["hash"] != old["hash"]:
                changes.changed[item_id] = (old, new)
        changes.added.update((item_id, new) for item_id, new in after.items() if item_id not in before)
        return changes


def _visible(spans: Sequence[dict[str, Any]], starts: Sequence[int], seq: int) -> dict[str, Any] | None:
    """Return the span of an item that holds at ``seq`` (an item's spans never overlap)."""
    index = bisect.bisect_right(starts, seq) - 1
    if index < 0:
        return None
    span = spans[index]
    return span if int(span["to_seq"]) > seq else None
