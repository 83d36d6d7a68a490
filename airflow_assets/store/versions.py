"""Versions, spans and heads: each distinct content stored once, and the runs during which it held.

A *version* (collection ``versions``) is an item's normalised content under the hash of its canonical JSON:
an object, a history entry, a comment, a connected ticket, an object type, an attribute... written once.
A *span* (collection ``spans``) says that an item had a given version from snapshot ``from_seq`` up to,
not including, ``to_seq`` (``OPEN`` while it is still current). A snapshot with sequence number ``s``
reads back every span with ``from_seq <= s < to_seq``, so a run that changes nothing writes nothing here,
and a failed run (whose sequence number no complete snapshot shares) never changes what an earlier
snapshot reads back.

A *head* (collection ``heads``) lists the current items of one group, each with the ``from_seq`` of its
open span, so the current state is found by ``_id`` lookups alone (every MongoDB-compatible server, down
to the embedded one, answers those from its primary index). Groups: the object id for its history entries,
comments and tickets; the object type and a bucket of 1,000 object ids for objects (``<typeId>|<bucket>``);
``all`` for configuration.

Write order for every changed item: its version; its old span closed; its head entry pointed at the new
span; the new span. So an item's only open span, if any, is the one its head entry names: a crash at any
point leaves at most an item without an open span, which the next try sees as new and writes again, never
two open spans. Every write is an idempotent upsert or a conditional update; no transaction is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo import UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from airflow_assets.store.hashing import content_hash
from airflow_assets.store.layout import HEADS, SPANS, VERSIONS

# The to_seq of a span that is still current: larger than any sequence number a schema will reach.
OPEN = 2**62
# Items per $in query and per bulk write: well under any server's limits, a few hundred KB per batch.
BATCH = 500
# Object ids per head group of objects.
OBJECT_BUCKET = 1000
CONFIG_GROUP = "all"
DUPLICATE_KEY = 11000


def object_group(type_id: str, number: int) -> str:
    """Return the head group of an object: its type and its id's bucket (zero-padded: groups sort by id)."""
    return f"{type_id}|{number // OBJECT_BUCKET:012d}"


def object_groups(type_id: str, low: int, high: int) -> list[str]:
    """Return the head groups that hold the objects of ``type_id`` with ``low < id <= high``."""
    first, last = (low + 1) // OBJECT_BUCKET, high // OBJECT_BUCKET
    return [f"{type_id}|{bucket:012d}" for bucket in range(first, last + 1)]


def group_bucket(group: str) -> int:
    """Return the id bucket of an object group."""
    return int(group.rpartition("|")[2])


@dataclass(frozen=True)
class Item:
    """The current content of one item, as the backup read it.

    :param item_id: the item's id within its kind (object id, history entry id, comment id...).
    :param data: the normalised content (JSON-compatible; hashed and stored as is).
    :param group: the head group (see the module docstring).
    :param parent_id: the object a history entry, comment or ticket belongs to; the owning object type
        of an attribute.
    :param type_id: the object type of an object.
    :param n: a numeric sort key (the object id as a number).
    :param fields: small extra fields kept on the span for queries (``updated``, ``attachments``).
    """

    item_id: str
    data: Mapping[str, Any]
    group: str = CONFIG_GROUP
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
    """The versions, spans and heads of one schema of one workspace.

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
        self._heads = db[HEADS]

    def _scope(self, kind: str) -> dict[str, Any]:
        return {"ws": self.workspace_id, "schema_id": self.schema_id, "kind": kind}

    def _head_id(self, kind: str, group: str) -> str:
        return f"{self.workspace_id}|{self.schema_id}|{kind}|{group}"

    def span_id(self, kind: str, item_id: str, from_seq: int) -> str:
        """Return the id of the span of ``item_id`` that starts at ``from_seq``."""
        return f"{self.workspace_id}|{self.schema_id}|{kind}|{item_id}|{from_seq}"

    # -- the current state --------------------------------------------------------------------------

    def members(self, kind: str, groups: Iterable[str]) -> dict[str, dict[str, int]]:
        """Return, per group, its current items with the ``from_seq`` of their open span."""
        wanted = sorted(set(groups))
        found: dict[str, dict[str, int]] = {group: {} for group in wanted}
        for start in range(0, len(wanted), BATCH):
            ids = [self._head_id(kind, group) for group in wanted[start : start + BATCH]]
            for head in self._heads.find({"_id": {"$in": ids}}):
                found[head["group"]] = {
                    _decode(key): int(seq) for key, seq in (head.get("members") or {}).items()
                }
        return found

    def groups(self, kind: str, parent: str | None = None) -> list[str]:
        """Return the groups of ``kind`` (under ``parent``: the object groups of one type), sorted."""
        query = {**self._scope(kind)} if parent is None else {**self._scope(kind), "parent": parent}
        return sorted(head["group"] for head in self._heads.find(query, {"group": 1}))

    def open_spans(self, kind: str, members: Mapping[str, int]) -> dict[str, dict[str, Any]]:
        """Return the open span of each item of ``members`` (item id -> from_seq) that has one."""
        ids = [self.span_id(kind, item_id, seq) for item_id, seq in members.items()]
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), BATCH):
            for span in self._spans.find({"_id": {"$in": ids[start : start + BATCH]}}):
                if span["to_seq"] == OPEN:
                    found[span["item_id"]] = span
        return found

    def current(self, kind: str, groups: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Return the open span of every current item of ``groups``, by item id (with its ``group``)."""
        spans: dict[str, dict[str, Any]] = {}
        for group, items in self.members(kind, groups).items():
            for item_id, span in self.open_spans(kind, items).items():
                spans[item_id] = {**span, "group": group}
        return spans

    # -- writing ------------------------------------------------------------------------------------

    def record(
        self,
        kind: str,
        items: Sequence[Item],
        seq: int,
        *,
        current: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> WriteCounts:
        """Store the current content of ``items`` as of snapshot ``seq``; unchanged items cost no write.

        :param kind: the item kind (``object``, ``history``, ``comment``, ``ticket``, ``object_type``...).
        :param items: at most one entry per item id.
        :param seq: the sequence number of the snapshot being written.
        :param current: the items' open spans from :meth:`current`, when the caller already has them.
        """
        counts = WriteCounts()
        for start in range(0, len(items), BATCH):
            batch = items[start : start + BATCH]
            known = current if current is not None else self.current(kind, {item.group for item in batch})
            counts.add(self._record_batch(kind, batch, seq, known))
        return counts

    def _record_batch(
        self, kind: str, items: Sequence[Item], seq: int, current: Mapping[str, Mapping[str, Any]]
    ) -> WriteCounts:
        versions: dict[str, dict[str, Any]] = {}
        closes: list[UpdateOne] = []
        pointers: dict[str, dict[str, int]] = {}
        opens: list[dict[str, Any]] = []
        reopens: list[UpdateOne] = []
        counts = WriteCounts()
        for item in items:
            digest = content_hash(
                kind=kind, workspace_id=self.workspace_id, schema_id=self.schema_id, item_id=item.item_id,
                data=item.data,
            )  # fmt: skip
            span = current.get(item.item_id)
            if span is not None and span["hash"] == digest:
                counts.unchanged += 1
                continue
            counts.new_versions += 1
            versions[digest] = {
                "_id": digest,
                **self._scope(kind),
                "item_id": item.item_id,
                "data": item.data,
            }
            described = {"hash": digest, "parent_id": item.parent_id, "type_id": item.type_id, "n": item.n}
            described.update(item.fields)
            pointers.setdefault(item.group, {})[item.item_id] = seq
            if span is not None and span["from_seq"] == seq:
                # Our own span from an earlier try of this run: the item changed again since; update it.
                reopens.append(UpdateOne({"_id": span["_id"]}, {"$set": {**described, "to_seq": OPEN}}))
                continue
            if span is not None:
                closes.append(UpdateOne({"_id": span["_id"], "to_seq": OPEN}, {"$set": {"to_seq": seq}}))
                if span.get("group", item.group) != item.group:
                    pointers.setdefault(span["group"], {})[item.item_id] = -1  # moved: drop the old entry
            opens.append(
                {
                    "_id": self.span_id(kind, item.item_id, seq),
                    **self._scope(kind),
                    "item_id": item.item_id,
                    "from_seq": seq,
                    "to_seq": OPEN,
                    **described,
                }
            )
        # The order every crash analysis in the module docstring relies on.
        _insert_new(self._versions, list(versions.values()), redo=None)
        if closes:
            self._spans.bulk_write(closes, ordered=False)
        self._point(kind, pointers)
        _insert_new(self._spans, opens, redo=_reopen)
        if reopens:
            self._spans.bulk_write(reopens, ordered=False)
        return counts

    def close(self, kind: str, seq: int, current: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """End, as of snapshot ``seq``, the open spans ``current`` names (items deleted); return their ids.

        :param current: item id -> open span with its ``group``, as :meth:`current` returns them.
        """
        closes = [
            UpdateOne({"_id": span["_id"], "to_seq": OPEN}, {"$set": {"to_seq": seq}})
            for span in current.values()
        ]
        for start in range(0, len(closes), BATCH):
            self._spans.bulk_write(closes[start : start + BATCH], ordered=False)
        pointers: dict[str, dict[str, int]] = {}
        for item_id, span in current.items():
            pointers.setdefault(span["group"], {})[item_id] = -1
        self._point(kind, pointers)
        return list(current)

    def close_absent(self, kind: str, seq: int, groups: Iterable[str], present: Iterable[str]) -> list[str]:
        """End the open spans of the items of ``groups`` that are not in ``present``; return those items."""
        keep = set(present)
        gone = {item_id: span for item_id, span in self.current(kind, groups).items() if item_id not in keep}
        return self.close(kind, seq, gone)

    def drop_groups(self, kind: str, seq: int, groups: Sequence[str]) -> int:
        """End every open span of ``groups`` and forget them (a deleted object's history, comments...)."""
        gone = self.current(kind, groups)
        self.close(kind, seq, gone)
        for start in range(0, len(groups), BATCH):
            ids = [self._head_id(kind, group) for group in groups[start : start + BATCH]]
            self._heads.delete_many({"_id": {"$in": ids}, "members": {}})
        return len(gone)

    def _point(self, kind: str, pointers: Mapping[str, Mapping[str, int]]) -> None:
        """Point each group's head entries at their new span (``-1``: remove the entry)."""
        writes = []
        for group, entries in pointers.items():
            parent = group.partition("|")[0] if "|" in group else None
            update: dict[str, Any] = {"$setOnInsert": {**self._scope(kind), "group": group, "parent": parent}}
            sets = {f"members.{_encode(item)}": seq for item, seq in entries.items() if seq >= 0}
            unsets = {f"members.{_encode(item)}": "" for item, seq in entries.items() if seq < 0}
            if sets:
                update["$set"] = sets
            if unsets:
                update["$unset"] = unsets
            writes.append(UpdateOne({"_id": self._head_id(kind, group)}, update, upsert=True))
        for start in range(0, len(writes), BATCH):
            self._heads.bulk_write(writes[start : start + BATCH], ordered=False)

    # -- reading a snapshot -------------------------------------------------------------------------

    def visible_spans(
        self, kind: str, seq: int, query: Mapping[str, Any] | None = None, *, sort: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield the spans of ``kind`` that snapshot ``seq`` holds."""
        cursor = self._spans.find(self._visible(kind, seq, query))
        if sort is not None:
            cursor = cursor.sort(sort, 1)
        yield from cursor

    def count_visible(self, kind: str, seq: int, query: Mapping[str, Any] | None = None) -> int:
        """Count the items of ``kind`` that snapshot ``seq`` holds."""
        return int(self._spans.count_documents(self._visible(kind, seq, query)))

    def tally_visible(self, seq: int) -> dict[tuple[str, str | None], dict[str, int]]:
        """Count what snapshot ``seq`` holds in one pass: items, and with attachments, per kind and type."""
        pipeline: list[dict[str, Any]] = [
            {
                "$match": {
                    "ws": self.workspace_id,
                    "schema_id": self.schema_id,
                    "from_seq": {"$lte": seq},
                    "to_seq": {"$gt": seq},
                }
            },
            {
                "$group": {
                    "_id": {"kind": "$kind", "type_id": "$type_id"},
                    "items": {"$sum": 1},
                    "attachments": {"$sum": {"$cond": [{"$eq": ["$attachments", True]}, 1, 0]}},
                }
            },
        ]
        return {
            (row["_id"]["kind"], row["_id"].get("type_id")): {
                "items": row["items"],
                "attachments": row["attachments"],
            }
            for row in self._spans.aggregate(pipeline)
        }

    def _visible(self, kind: str, seq: int, query: Mapping[str, Any] | None) -> dict[str, Any]:
        return {**self._scope(kind), "from_seq": {"$lte": seq}, "to_seq": {"$gt": seq}, **(query or {})}

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


def _insert_new(
    collection: Collection,
    documents: Sequence[dict[str, Any]],
    *,
    redo: Callable[[dict[str, Any]], UpdateOne] | None,
) -> None:
    """Insert documents that are new as far as the caller knows (inserts cost a fraction of upserts).

    A document whose ``_id`` exists already (a retried write, content seen before) is left as it is, or
    rewritten with ``redo``.
    """
    if not documents:
        return
    try:
        collection.insert_many(documents, ordered=False)
    except BulkWriteError as error:
        errors = error.details.get("writeErrors", [])
        if any(entry.get("code") != DUPLICATE_KEY for entry in errors):
            raise
        if redo is not None:
            collection.bulk_write([redo(documents[entry["index"]]) for entry in errors], ordered=False)


def _reopen(span: dict[str, Any]) -> UpdateOne:
    """Rewrite an existing span of this run with the content it should now have."""
    return UpdateOne(
        {"_id": span["_id"]}, {"$set": {key: value for key, value in span.items() if key != "_id"}}
    )


def _encode(item_id: str) -> str:
    """Make an item id safe as a document field name (no ``.``, no leading ``$``)."""
    return item_id.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def _decode(key: str) -> str:
    return key.replace("%24", "$").replace("%2E", ".").replace("%25", "%")
