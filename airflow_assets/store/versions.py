"""Versions and spans: each distinct content stored once, and the run sequence numbers during which it held.

A *version* (collection ``versions``) is an item's normalised content under the hash of its canonical JSON:
an object, a history entry, a comment, a connected ticket, an object type, an attribute... written once.
A *span* (collection ``spans``) says that an item had a given version from snapshot ``from_seq`` up to,
not including, ``to_seq`` (``OPEN`` while it is still current). A snapshot with sequence number ``s``
reads back every span with ``from_seq <= s < to_seq``, so a run that changes nothing writes nothing here,
and a failed run (whose sequence number no complete snapshot shares) never changes what an earlier
snapshot reads back.

Write order within one item: the version, then the old span is closed, then the new span is opened. A
crash in between leaves the item without an open span, which the next try sees as new and writes again;
never two open spans. Every write is an idempotent upsert or a conditional update, so a retried task
writes the same documents again, never duplicates.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo import UpdateOne
from pymongo.database import Database

from airflow_assets.store.hashing import content_hash
from airflow_assets.store.layout import SPANS, VERSIONS

# The to_seq of a span that is still current: larger than any sequence number a schema will reach.
OPEN = 2**62
# Items per $in query and per bulk write: well under any server's limits, a few hundred KB per batch.
BATCH = 500


@dataclass(frozen=True)
class Item:
    """The current content of one item, as the backup read it.

    :param item_id: the item's id within its kind (object id, history entry id, comment id...).
    :param data: the normalised content (JSON-compatible; hashed and stored as is).
    :param parent_id: the object a history entry, comment or ticket belongs to; the owning object type
        of an attribute.
    :param type_id: the object type of an object.
    :param n: a numeric sort key (the object id as a number), for id windows and resumable walks.
    :param fields: small extra fields kept on the span for queries (``updated``, ``attachments``).
    """

    item_id: str
    data: Mapping[str, Any]
    parent_id: str | None = None
    type_id: str | None = None
    n: int | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class WriteCounts:
    """What one call of :meth:`VersionStore.record` did."""

    new_versions: int = 0
    unchanged: int = 0

    def add(self, other: WriteCounts) -> None:
        """Add another call's counts to these."""
        self.new_versions += other.new_versions
        self.unchanged += other.unchanged


class VersionStore:
    """The versions and spans of one schema of one workspace.

    :param db: the backup database.
    :param workspace_id: the Assets workspace id.
    :param schema_id: the object schema id (stable across key renames).
    """

    def __init__(self, db: Database, workspace_id: str, schema_id: str) -> None:
        self.db = db
        self.workspace_id = workspace_id
        self.schema_id = schema_id
        self._spans = db[SPANS]
        self._versions = db[VERSIONS]

    def _scope(self, kind: str) -> dict[str, Any]:
        return {"ws": self.workspace_id, "schema_id": self.schema_id, "kind": kind}

    # -- reading the current state ------------------------------------------------------------------

    def open_spans(
        self,
        kind: str,
        query: Mapping[str, Any] | None = None,
        *,
        projection: Sequence[str] | None = None,
        sort: str | None = None,
        limit: int = 0,
    ) -> Iterator[dict[str, Any]]:
        """Yield the open spans of ``kind`` matching ``query`` (e.g. ``{"type_id": "9"}``)."""
        spec = {**self._scope(kind), "to_seq": OPEN, **(query or {})}
        fields = dict.fromkeys(projection, 1) if projection is not None else None
        cursor = self._spans.find(spec, fields, limit=limit)
        if sort is not None:
            cursor = cursor.sort(sort, 1)
        yield from cursor

    def count_open(self, kind: str, query: Mapping[str, Any] | None = None) -> int:
        """Count the open spans of ``kind`` matching ``query``."""
        return int(self._spans.count_documents({**self._scope(kind), "to_seq": OPEN, **(query or {})}))

    def open_by_item(self, kind: str, item_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Return the open span of each item that has one, by item id."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(item_ids), BATCH):
            chunk = list(item_ids[start : start + BATCH])
            for span in self.open_spans(kind, {"item_id": {"$in": chunk}}):
                found[span["item_id"]] = span
        return found

    # -- writing ------------------------------------------------------------------------------------

    def record(self, kind: str, items: Sequence[Item], seq: int) -> WriteCounts:
        """Store the current content of ``items`` as of snapshot ``seq``; unchanged items cost no write.

        :param kind: the item kind (``object``, ``history``, ``comment``, ``ticket``, ``object_type``...).
        :param items: at most one entry per item id.
        :param seq: the sequence number of the snapshot being written.
        """
        counts = WriteCounts()
        for start in range(0, len(items), BATCH):
            counts.add(self._record_batch(kind, items[start : start + BATCH], seq))
        return counts

    def _record_batch(self, kind: str, items: Sequence[Item], seq: int) -> WriteCounts:
        current = self.open_by_item(kind, [item.item_id for item in items])
        version_writes: list[UpdateOne] = []
        span_writes: list[UpdateOne] = []
        counts = WriteCounts()
        for item in items:
            digest = content_hash(
                kind=kind,
                workspace_id=self.workspace_id,
                schema_id=self.schema_id,
                item_id=item.item_id,
                data=item.data,
            )
            span = current.get(item.item_id)
            if span is not None and span["hash"] == digest:
                counts.unchanged += 1
                continue
            counts.new_versions += 1
            version_writes.append(
                UpdateOne(
                    {"_id": digest},
                    {"$setOnInsert": {**self._scope(kind), "item_id": item.item_id, "data": item.data}},
                    upsert=True,
                )
            )
            described = {"hash": digest, "parent_id": item.parent_id, "type_id": item.type_id, "n": item.n}
            described.update(item.fields)
            if span is not None and span["from_seq"] == seq:
                # Our own span from an earlier try of this run: the item changed again since; update it.
                span_writes.append(UpdateOne({"_id": span["_id"]}, {"$set": described}))
                continue
            if span is not None:
                span_writes.append(UpdateOne({"_id": span["_id"], "to_seq": OPEN}, {"$set": {"to_seq": seq}}))
            span_writes.append(
                UpdateOne(
                    {"_id": self._span_id(kind, item.item_id, seq)},
                    {
                        "$set": {**described, "to_seq": OPEN},
                        "$setOnInsert": {**self._scope(kind), "item_id": item.item_id, "from_seq": seq},
                    },
                    upsert=True,
                )
            )
        # Versions first: a span never names a version that is not stored.
        if version_writes:
            self._versions.bulk_write(version_writes, ordered=False)
        if span_writes:
            self._spans.bulk_write(span_writes, ordered=True)
        return counts

    def close(self, kind: str, seq: int, query: Mapping[str, Any]) -> int:
        """End, as of snapshot ``seq``, every open span of ``kind`` matching ``query``; return how many."""
        result = self._spans.update_many(
            {**self._scope(kind), "to_seq": OPEN, **query}, {"$set": {"to_seq": seq}}
        )
        return int(result.modified_count)

    def close_absent(
        self, kind: str, seq: int, query: Mapping[str, Any], present: Iterable[str]
    ) -> list[str]:
        """End the open spans matching ``query`` whose item is not in ``present``; return those items."""
        keep = set(present)
        gone = [
            span["item_id"]
            for span in self.open_spans(kind, query, projection=["item_id"])
            if span["item_id"] not in keep
        ]
        for start in range(0, len(gone), BATCH):
            self.close(kind, seq, {"item_id": {"$in": gone[start : start + BATCH]}})
        return gone

    @staticmethod
    def _span_id(kind: str, item_id: str, seq: int) -> str:
        return f"{kind}|{item_id}|{seq}"

    # -- reading a snapshot -------------------------------------------------------------------------

    def visible_spans(
        self, kind: str, seq: int, query: Mapping[str, Any] | None = None, *, sort: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield the spans of ``kind`` that snapshot ``seq`` holds."""
        spec = {**self._scope(kind), "from_seq": {"$lte": seq}, "to_seq": {"$gt": seq}, **(query or {})}
        cursor = self._spans.find(spec)
        if sort is not None:
            cursor = cursor.sort(sort, 1)
        yield from cursor

    def count_visible(self, kind: str, seq: int, query: Mapping[str, Any] | None = None) -> int:
        """Count the items of ``kind`` that snapshot ``seq`` holds."""
        spec = {**self._scope(kind), "from_seq": {"$lte": seq}, "to_seq": {"$gt": seq}, **(query or {})}
        return int(self._spans.count_documents(spec))

    def read(
        self, kind: str, seq: int, query: Mapping[str, Any] | None = None, *, sort: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield the content of every item of ``kind`` that snapshot ``seq`` holds, a batch at a time."""
        batch: list[dict[str, Any]] = []
        for span in self.visible_spans(kind, seq, query, sort=sort):
            batch.append(span)
            if len(batch) >= BATCH:
                yield from self._contents(batch)
                batch = []
        if batch:
            yield from self._contents(batch)

    def _contents(self, spans: Sequence[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
        hashes = [span["hash"] for span in spans]
        stored = {doc["_id"]: doc["data"] for doc in self._versions.find({"_id": {"$in": hashes}})}
        for span in spans:
            data = stored.get(span["hash"])
            if data is None:
                raise LookupError(
                    f"version {span['hash']} of {span['kind']} {span['item_id']} is missing from "
                    f"{self._versions.full_name}: the backup store is damaged"
                )
            yield data
