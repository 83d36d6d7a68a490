"""Versions, spans and heads: each distinct content stored once, and the runs during which it held.

A *version* (collection ``versions``) is an item's normalised content under the hash of its canonical JSON:
an object, a history entry, a comment, a connected ticket, an object type, an attribute... written once.
A *span* (collection ``spans``) says that an item had a given version from snapshot ``from_seq`` up to,
not including, ``to_seq`` (``OPEN`` while it is still current). A snapshot with sequence number ``s``
reads back every span with ``from_seq <= s < to_seq``, so a run that changes nothing writes nothing here,
and a failed run (whose sequence number no complete snapshot shares) never changes what an earlier
snapshot reads back.

A *head* (collection ``heads``) holds the current items of one group: for each, the ``from_seq`` of its open
span and, once that span is written, the version's hash and a change stamp (an object's ``updated``). So a
run compares what it reads with what is stored, and finds the spans to close, by ``_id`` lookups of heads
alone (which every MongoDB-compatible server answers from its primary index, down to the embedded one);
it never reads spans. Groups: the object id for its history entries, comments and tickets; the object type
and a bucket of 1,000 object ids for objects (``<typeId>|<bucket>``); ``all`` for configuration.

A changed item is written in this order: its head entry is marked unconfirmed and lists the spans it will
close; its version; those spans closed; its new span; its head entry confirmed with the new hash. A deleted
item: unconfirmed, span closed, entry removed. A crash at any point leaves an unconfirmed entry, which the
next try treats as changed: it closes every span the entry names and writes the item again. So an item
never has two open spans, and a confirmed entry always names an open span with that hash. Every write is
an idempotent insert, upsert or conditional update; no transaction is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo import UpdateOne
from pymongo.database import Database

from airflow_assets.exceptions import JiraAssetsError
from airflow_assets.store.encryption import (
    Keyring,
    SealedValueError,
    check_write_mode,
    envelope_bytes,
    is_sealed,
    keyed_content_id,
    keyring_of,
    missing_key,
    seal,
    split_content_id,
    unseal,
)
from airflow_assets.store.hashing import content_hash
from airflow_assets.store.insert import insert_new
from airflow_assets.store.layout import HEADS, SPANS, VERSIONS
from airflow_assets.store.leases import Fence

# The to_seq of a span that is still current: larger than any sequence number a schema will reach.
OPEN = 2**62
# Items per bulk write: well under any server's limits, a few hundred KB per batch.
BATCH = 500
# Ids per $in lookup. Small: the embedded server's cost of an $in grows faster than its length (2,500
# versions read 4.5x faster in lookups of 20 than of 500); for MongoDB it only adds round trips.
LOOKUP_BATCH = 50
# Object ids per head group of objects.
OBJECT_BUCKET = 1000
CONFIG_GROUP = "all"
# The lane of reconstructed (backfilled) snapshots: a timeline of its own beside the schema's real one.
RECONSTRUCTED_LANE = "reconstructed"
# The kinds whose items belong to one object (their head group is the object's id).
CHILD_KINDS = ("history", "comment", "ticket")


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
    :param stamp: a change marker kept in the head (an object's ``updated``): a listing that shows the same
        stamp needs no reading.
    """

    item_id: str
    data: Mapping[str, Any]
    group: str = CONFIG_GROUP
    parent_id: str | None = None
    type_id: str | None = None
    n: int | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    stamp: str | None = None


@dataclass(frozen=True)
class Member:
    """An item's head entry: where its open span starts and, once confirmed, its hash and stamp.

    :param group: the head group.
    :param from_seq: the ``from_seq`` of the item's open span.
    :param hash: the version of that span; None while unconfirmed (a write was interrupted).
    :param stamp: the change stamp given with the item (an object's ``updated``); None if unconfirmed.
    :param pending: spans an interrupted write still has to close.
    """

    group: str
    from_seq: int
    hash: str | None = None
    stamp: str | None = None
    pending: tuple[int, ...] = ()

    @classmethod
    def from_entry(cls, group: str, entry: Sequence[Any]) -> Member:
        """Read a stored entry ``[from_seq, hash, stamp, pending?]``."""
        pending = tuple(int(seq) for seq in entry[3]) if len(entry) > 3 and entry[3] else ()
        return cls(group, int(entry[0]), entry[1], entry[2], pending)

    def spans(self) -> list[int]:
        """Return the ``from_seq`` of every span this entry may still have open."""
        return sorted({self.from_seq, *self.pending})


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
    :param lane: None for the schema's real snapshots; :data:`RECONSTRUCTED_LANE` for the snapshots a
        backfill reconstructs. A lane has its own spans and heads (its sequence numbers are its own), and
        shares the versions: a value a real snapshot stored is not stored again.
    """

    def __init__(
        self,
        db: Database,
        workspace_id: str,
        schema_id: str,
        *,
        lane: str | None = None,
        fence: Fence | None = None,
    ) -> None:
        self.db = db
        # Writes are checked against the writer's lease (see airflow_assets.store.leases); readers need none.
        self.fence = fence or Fence()
        self.workspace_id = workspace_id
        self.schema_id = schema_id
        self.lane = lane
        # Spans and heads of a lane are kept apart under their own schema scope.
        self._span_schema = schema_id if lane is None else f"{schema_id}/{lane}"
        self._spans = db[SPANS]
        self._versions = db[VERSIONS]
        self._heads = db[HEADS]
        # Encryption at rest (see airflow_assets.store.encryption): None keeps content plain.
        self.keyring = keyring_of(db)
        self._mode_checked = False

    @property
    def span_schema(self) -> str:
        """Return the schema scope of this store's spans and heads (the schema id, plus the lane)."""
        return self._span_schema

    def _scope(self, kind: str) -> dict[str, Any]:
        return {"ws": self.workspace_id, "schema_id": self._span_schema, "kind": kind}

    def _head_id(self, kind: str, group: str) -> str:
        return f"{self.workspace_id}|{self._span_schema}|{kind}|{group}"

    def span_id(self, kind: str, item_id: str, from_seq: int) -> str:
        """Return the id of the span of ``item_id`` that starts at ``from_seq``."""
        return f"{self.workspace_id}|{self._span_schema}|{kind}|{item_id}|{from_seq}"

    # -- the current state --------------------------------------------------------------------------

    def members(
        self, kind: str, groups: Iterable[str], select: Callable[[str], bool] | None = None
    ) -> dict[str, Member]:
        """Return the current items of ``groups`` (those ``select`` accepts), by item id."""
        wanted = sorted(set(groups))
        found: dict[str, Member] = {}
        for start in range(0, len(wanted), LOOKUP_BATCH):
            ids = [self._head_id(kind, group) for group in wanted[start : start + LOOKUP_BATCH]]
            for head in self._heads.find({"_id": {"$in": ids}}):
                for key, entry in (head.get("members") or {}).items():
                    item_id = _decode(key)
                    if select is None or select(item_id):
                        member = Member.from_entry(head["group"], self._open_stamp(kind, item_id, entry))
                        found[item_id] = self._sealed_or_unconfirmed(member)
        return found

    def groups(self, kind: str, parent: str | None = None) -> list[str]:
        """Return the groups of ``kind`` (under ``parent``: the object groups of one type), sorted."""
        query = {**self._scope(kind)} if parent is None else {**self._scope(kind), "parent": parent}
        return sorted(head["group"] for head in self._heads.find(query, {"group": 1}))

    # -- writing ------------------------------------------------------------------------------------

    def record(
        self,
        kind: str,
        items: Sequence[Item],
        seq: int,
        *,
        current: Mapping[str, Member] | None = None,
    ) -> WriteCounts:
        """Store the current content of ``items`` as of snapshot ``seq``; unchanged items cost no write.

        :param kind: the item kind (``object``, ``history``, ``comment``, ``ticket``, ``object_type``...).
        :param items: at most one entry per item id.
        :param seq: the sequence number of the snapshot being written.
        :param current: the items' head entries from :meth:`members`, when the caller already has them.
        """
        counts = WriteCounts()
        for start in range(0, len(items), BATCH):
            batch = items[start : start + BATCH]
            known = current if current is not None else self.members(kind, {item.group for item in batch})
            counts.add(self._record_batch(kind, batch, seq, known))
        return counts

    def _record_batch(
        self, kind: str, items: Sequence[Item], seq: int, current: Mapping[str, Member]
    ) -> WriteCounts:
        changed: list[tuple[Item, str, list[int]]] = []
        counts = WriteCounts()
        for item in items:
            member = current.get(item.item_id)
            digest = self._content_id(kind, item, member)
            if member is not None and member.hash == digest:
                counts.unchanged += 1
                continue
            counts.new_versions += 1
            to_close = [] if member is None else [old for old in member.spans() if old != seq]
            changed.append((item, digest, to_close))
        if not changed:
            return counts
        if not self._mode_checked:
            check_write_mode(self.db, self.keyring)
            self._mode_checked = True
        # The order the crash analysis in the module docstring relies on.
        self._entries(kind, {(i.group, i.item_id): [seq, None, None, olds] for i, _, olds in changed})
        versions = {digest: self._version_document(kind, item, digest) for item, digest, _ in changed}
        insert_new(self._versions, list(versions.values()))
        # A version found stored already is only safe once a span names it, under a lease still ours.
        self.fence.check()
        self._close_spans(kind, seq, [(item.item_id, old) for item, _, olds in changed for old in olds])
        spans = []
        for item, digest, _ in changed:
            described = {"hash": digest, "parent_id": item.parent_id, "type_id": item.type_id, "n": item.n}
            spans.append(
                {
                    "_id": self.span_id(kind, item.item_id, seq),
                    **self._scope(kind),
                    "item_id": item.item_id,
                    "from_seq": seq,
                    "to_seq": OPEN,
                    **described,
                    **self._span_fields(self.span_id(kind, item.item_id, seq), item.fields),
                }
            )
        insert_new(self._spans, spans, redo=_reopen)
        # Confirmed only if no pruning could have run since the versions were found or written.
        self.fence.check()
        confirmed = {
            (i.group, i.item_id): [seq, digest, self._seal_stamp(kind, i.item_id, i.stamp)]
            for i, digest, _ in changed
        }
        self._entries(kind, confirmed)
        return counts

    def _content_id(self, kind: str, item: Item, member: Member | None) -> str:
        """Return the name of an item's content: its SHA-256, or with encryption on its keyed HMAC.

        An unchanged item hashed under a previous key keeps that name (a key rotation rewrites nothing); a
        plain name met with encryption on counts as changed, so the item is written again sealed.
        """
        if self.keyring is None:
            return content_hash(
                kind=kind, workspace_id=self.workspace_id, schema_id=self.schema_id, item_id=item.item_id,
                data=item.data,
            )  # fmt: skip
        envelope = envelope_bytes(
            kind=kind, workspace_id=self.workspace_id, schema_id=self.schema_id, item_id=item.item_id,
            data=item.data,
        )  # fmt: skip
        old_key_id = split_content_id(member.hash)[0] if member is not None and member.hash else None
        if (
            old_key_id is not None
            and old_key_id != self.keyring.current.key_id
            and self.keyring.has(old_key_id)
        ):
            named = keyed_content_id(self.keyring.key(old_key_id, what="a head entry"), envelope)
            if member is not None and named == member.hash:
                return named
        return keyed_content_id(self.keyring.current, envelope)

    def _sealed_or_unconfirmed(self, member: Member) -> Member:
        """Return a head entry; with encryption on, one naming a plain version reads as unconfirmed.

        So the first encrypted run reads and writes again, sealed, every item a plain store holds (and the
        history of every object it writes again), instead of keeping it in the clear while unchanged.
        """
        if self.keyring is None or member.hash is None or split_content_id(member.hash)[0] is not None:
            return member
        return Member(member.group, member.from_seq, None, None, member.pending)

    def _span_fields(self, span_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Return a span's extra fields; encrypted, a text one (an object's ``updated``) is sealed."""
        if self.keyring is None:
            return dict(fields)
        key = self.keyring.current
        return {
            name: seal(key, value, place=f"spans|{span_id}|{name}") if isinstance(value, str) else value
            for name, value in fields.items()
        }

    def _stamp_place(self, kind: str, item_id: str) -> str:
        return f"heads|{self.workspace_id}|{self._span_schema}|{kind}|{item_id}"

    def _seal_stamp(self, kind: str, item_id: str, stamp: str | None) -> Any:
        """Return a head entry's change stamp as stored: sealed when encrypted (it is an attribute value)."""
        if self.keyring is None or stamp is None:
            return stamp
        return seal(self.keyring.current, stamp, place=self._stamp_place(kind, item_id))

    def _open_stamp(self, kind: str, item_id: str, entry: Sequence[Any]) -> Sequence[Any]:
        """Return a stored head entry with its stamp opened; an altered one reads as no stamp (read again)."""
        if len(entry) < 3 or not is_sealed(entry[2]):
            return entry
        try:
            stamp = unseal(
                self.keyring, entry[2], place=self._stamp_place(kind, item_id), what="a head entry"
            )
        except SealedValueError:
            stamp = None
        return [entry[0], entry[1], stamp, *entry[3:]]

    def _version_document(self, kind: str, item: Item, digest: str) -> dict[str, Any]:
        document: dict[str, Any] = {
            "_id": digest,
            "ws": self.workspace_id,
            "schema_id": self.schema_id,
            "kind": kind,
            "item_id": item.item_id,
        }
        if self.keyring is None:
            document["data"] = item.data
        else:
            key = self.keyring.current
            document["key_id"] = key.key_id
            document["sealed"] = seal(key, dict(item.data), place=version_place(document))
        return document

    def close(self, kind: str, seq: int, gone: Mapping[str, Member]) -> list[str]:
        """End, as of snapshot ``seq``, every span of the items ``gone`` (deleted); return their ids.

        :param gone: item id -> head entry, as :meth:`members` returns them.
        """
        if not gone:
            return []
        self.fence.check()
        self._entries(
            kind, {(m.group, item_id): [m.from_seq, None, None, m.spans()] for item_id, m in gone.items()}
        )
        self._close_spans(kind, seq, [(item_id, old) for item_id, m in gone.items() for old in m.spans()])
        self._entries(kind, {(m.group, item_id): None for item_id, m in gone.items()})
        return list(gone)

    def close_absent(self, kind: str, seq: int, groups: Iterable[str], present: Iterable[str]) -> list[str]:
        """End the items of ``groups`` that are not in ``present``; return those items."""
        keep = set(present)
        return self.close(kind, seq, self.members(kind, groups, lambda item_id: item_id not in keep))

    def drop_groups(self, kind: str, seq: int, groups: Sequence[str]) -> int:
        """End every item of ``groups`` and forget the groups (a deleted object's history, comments...)."""
        gone = self.close(kind, seq, self.members(kind, groups))
        for start in range(0, len(groups), BATCH):
            ids = [self._head_id(kind, group) for group in groups[start : start + BATCH]]
            self._heads.delete_many({"_id": {"$in": ids}, "members": {}})
        return len(gone)

    def _close_spans(self, kind: str, seq: int, spans: Sequence[tuple[str, int]]) -> None:
        """End the spans (item id, from_seq) that are still open; a missing or closed one is left alone."""
        closes = [
            UpdateOne(
                {"_id": self.span_id(kind, item_id, from_seq), "to_seq": OPEN}, {"$set": {"to_seq": seq}}
            )
            for item_id, from_seq in spans
        ]
        for start in range(0, len(closes), BATCH):
            self._spans.bulk_write(closes[start : start + BATCH], ordered=False)

    def _entries(self, kind: str, entries: Mapping[tuple[str, str], list[Any] | None]) -> None:
        """Write head entries ((group, item id) -> entry; None removes the entry), one update per group."""
        by_group: dict[str, dict[str, list[Any] | None]] = {}
        for (group, item_id), entry in entries.items():
            by_group.setdefault(group, {})[item_id] = entry
        writes = []
        for group, group_entries in by_group.items():
            parent = group.partition("|")[0] if "|" in group else None
            update: dict[str, Any] = {"$setOnInsert": {**self._scope(kind), "group": group, "parent": parent}}
            sets = {f"members.{_encode(i)}": e for i, e in group_entries.items() if e is not None}
            unsets = {f"members.{_encode(i)}": "" for i, e in group_entries.items() if e is None}
            if sets:
                update["$set"] = sets
            if unsets:
                update["$unset"] = unsets
            writes.append(UpdateOne({"_id": self._head_id(kind, group)}, update, upsert=True))
        for start in range(0, len(writes), BATCH):
            self._heads.bulk_write(writes[start : start + BATCH], ordered=False)

    # -- repair -------------------------------------------------------------------------------------

    def absent(self, spans: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """Return the spans whose version is not stored (looked up by ``_id``, content not read)."""
        if not spans:
            return []
        hashes = sorted({str(span["hash"]) for span in spans})
        stored = {doc["_id"] for doc in self._versions.find({"_id": {"$in": hashes}}, {"_id": 1})}
        return [span for span in spans if span["hash"] not in stored]

    def item_group(self, kind: str, span: Mapping[str, Any]) -> str:
        """Return the head group of the item a span belongs to."""
        if kind == "object":
            return object_group(str(span.get("type_id")), int(span.get("n") or 0))
        if kind in CHILD_KINDS:
            return str(span.get("parent_id"))
        return CONFIG_GROUP

    def open_span(self, kind: str, item_id: str) -> dict[str, Any] | None:
        """Return the open span of an item, if it has one (an ``_id`` range: the primary index)."""
        prefix = f"{self.workspace_id}|{self._span_schema}|{kind}|{item_id}|"
        return self._spans.find_one(
            {"_id": {"$gte": prefix, "$lt": prefix[:-1] + "}"}, "to_seq": OPEN},
            {"hash": 1, "item_id": 1, "kind": 1, "parent_id": 1, "type_id": 1, "n": 1, "from_seq": 1},
        )

    def unconfirm(self, kind: str, items: Mapping[str, str]) -> int:
        """Mark items (item id -> head group) as changed, so the next backup reads and writes them again.

        An entry that is not current (the item was deleted, or changed since) is left alone. Return how
        many entries were marked.
        """
        marked: dict[tuple[str, str], list[Any] | None] = {}
        by_group: dict[str, set[str]] = {}
        for item_id, group in items.items():
            by_group.setdefault(group, set()).add(item_id)
        for item_id, member in self.members(kind, by_group, lambda i: i in items).items():
            if member.group == items[item_id]:
                marked[(member.group, item_id)] = [member.from_seq, None, None, member.spans()]
        self._entries(kind, marked)
        return len(marked)

    # -- reading a snapshot -------------------------------------------------------------------------

    def visible_spans(
        self,
        kind: str | None,
        seq: int,
        query: Mapping[str, Any] | None = None,
        *,
        sort: str | None = None,
        fields: Mapping[str, int] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield the spans of ``kind`` (None: every kind) that snapshot ``seq`` holds (``fields`` of them)."""
        # Pages of BATCH spans: a cursor's own batches grow to 16 MB, and memory must not grow with a schema.
        cursor = self._spans.find(self._visible(kind, seq, query), fields).batch_size(BATCH)
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
                    "schema_id": self._span_schema,
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

    def _visible(self, kind: str | None, seq: int, query: Mapping[str, Any] | None) -> dict[str, Any]:
        scope: dict[str, Any] = {"ws": self.workspace_id, "schema_id": self._span_schema}
        if kind is not None:
            scope["kind"] = kind
        return {**scope, "from_seq": {"$lte": seq}, "to_seq": {"$gt": seq}, **(query or {})}

    def read(
        self,
        kind: str,
        seq: int,
        query: Mapping[str, Any] | None = None,
        *,
        sort: str | None = None,
        on_damage: DamageHandler | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield the content of every item of ``kind`` that snapshot ``seq`` holds, a batch at a time.

        Every version is hashed again as it is read (:meth:`contents`).
        """
        batch: list[dict[str, Any]] = []
        for span in self.visible_spans(kind, seq, query, sort=sort):
            batch.append(span)
            if len(batch) >= LOOKUP_BATCH:
                yield from (data for _, data in self.contents(batch, on_damage=on_damage))
                batch = []
        if batch:
            yield from (data for _, data in self.contents(batch, on_damage=on_damage))

    def visible_items(
        self, kind: str, seq: int, item_ids: Iterable[str], *, on_damage: DamageHandler | None = None
    ) -> dict[str, dict[str, Any]]:
        """Return the content of the given items of ``kind`` that snapshot ``seq`` holds, by item id.

        Each item's spans are one range of the primary index (span ids start with ``ws|schema|kind|item|``):
        a regex would need no flags to be bounded (Python's re adds "u", and the server then scans every
        span id of the store).
        """
        wanted = sorted(set(item_ids))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), BATCH):
            ranges = [self._item_range(kind, item_id) for item_id in wanted[start : start + BATCH]]
            spans = list(
                self._spans.find(
                    {"$or": ranges, "from_seq": {"$lte": seq}, "to_seq": {"$gt": seq}},
                    {"hash": 1, "item_id": 1, "kind": 1},
                )
            )
            for offset in range(0, len(spans), LOOKUP_BATCH):
                for span, data in self.contents(spans[offset : offset + LOOKUP_BATCH], on_damage=on_damage):
                    found[str(span["item_id"])] = data
        return found

    def _item_range(self, kind: str, item_id: str) -> dict[str, Any]:
        prefix = f"{self.workspace_id}|{self._span_schema}|{kind}|{item_id}|"
        return {"_id": {"$gte": prefix, "$lt": prefix[:-1] + chr(ord(prefix[-1]) + 1)}}

    def visible_with_prefix(
        self, kind: str, seq: int, prefixes: Iterable[str], *, on_damage: DamageHandler | None = None
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yield (item id, content) of the items of ``kind`` whose id starts with one of ``prefixes``.

        Each prefix is one range of the primary index, as in :meth:`visible_items`: the connected tickets of
        an object (item ids ``<object id>:<issue id>``) are found without reading the other objects' spans.
        """
        wanted = sorted({prefix for prefix in prefixes if prefix})
        for start in range(0, len(wanted), BATCH):
            ranges = []
            for prefix in wanted[start : start + BATCH]:
                low = f"{self.workspace_id}|{self._span_schema}|{kind}|{prefix}"
                ranges.append({"_id": {"$gte": low, "$lt": low[:-1] + chr(ord(low[-1]) + 1)}})
            spans = list(
                self._spans.find(
                    {"$or": ranges, "from_seq": {"$lte": seq}, "to_seq": {"$gt": seq}},
                    {"hash": 1, "item_id": 1, "kind": 1},
                ).sort("_id", 1)
            )
            for offset in range(0, len(spans), LOOKUP_BATCH):
                for span, data in self.contents(spans[offset : offset + LOOKUP_BATCH], on_damage=on_damage):
                    yield str(span["item_id"]), data

    def spans_between(
        self, kind: str, low: int, high: int, fields: Mapping[str, int]
    ) -> Iterator[dict[str, Any]]:
        """Yield the spans of ``kind`` that start or end in ``(low, high]`` (an item in both: twice).

        Two range queries rather than one ``$or``: each uses its own index on every server, (kind, from_seq)
        or (kind, to_seq).
        """
        for bound in ("from_seq", "to_seq"):
            yield from self._spans.find({**self._scope(kind), bound: {"$gt": low, "$lte": high}}, fields)

    def versions_by_hash(self, hashes: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Return the content of versions by hash, each hashed again as it is read.

        :raises DamagedContentError: a version is missing, or its content no longer hashes to its name.
        """
        wanted = sorted(set(hashes))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), BATCH):
            for document in self._versions.find({"_id": {"$in": wanted[start : start + BATCH]}}):
                data, damage = open_version(document, keyring=self.keyring)
                if damage is not None:
                    raise damage
                assert data is not None
                found[document["_id"]] = data
        missing = set(wanted) - set(found)
        if missing:
            first = sorted(missing)[0]
            raise DamagedContentError(
                f"{len(missing)} version(s) are missing from the backup store, e.g. {first}: "
                "the store is damaged (run `airflow-assets snapshots verify`)",
                kind="?", item_id="?", digest=first, problem="missing",
            )  # fmt: skip
        return found

    def read_kinds(
        self, kinds: Sequence[str], seq: int, *, on_damage: DamageHandler | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        """Return the content of every item of several small kinds (the configuration) in one query."""
        found: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
        query = {"ws": self.workspace_id, "schema_id": self._span_schema, "kind": {"$in": list(kinds)}}
        spans = list(self._spans.find({**query, "from_seq": {"$lte": seq}, "to_seq": {"$gt": seq}}))
        for start in range(0, len(spans), LOOKUP_BATCH):
            for span, data in self.contents(spans[start : start + LOOKUP_BATCH], on_damage=on_damage):
                found[span["kind"]].append(data)
        return found

    def contents(
        self, spans: Sequence[Mapping[str, Any]], *, on_damage: DamageHandler | None = None
    ) -> Iterator[tuple[Mapping[str, Any], dict[str, Any]]]:
        """Yield (span, content) of each span's version, each hashed again and compared with its name.

        :param on_damage: called with a :class:`DamagedContentError` for a missing or altered version,
            which is then left out; without it the error is raised (before the caller can write anything
            from the batch).
        :raises DamagedContentError: a version is missing or its content no longer hashes to its name.
        """
        hashes = [span["hash"] for span in spans]
        stored = {doc["_id"]: doc for doc in self._versions.find({"_id": {"$in": hashes}})}
        for span in spans:
            document = stored.get(span["hash"])
            data, damage = self._open(span, document)
            if damage is None:
                assert data is not None
                yield span, data
            elif on_damage is None:
                raise damage
            else:
                on_damage(damage)

    def _open(
        self, span: Mapping[str, Any], document: Mapping[str, Any] | None
    ) -> tuple[dict[str, Any] | None, DamagedContentError | None]:
        kind, item_id, digest = str(span.get("kind")), str(span.get("item_id")), str(span.get("hash"))
        if document is None:
            return None, DamagedContentError(
                f"version {digest} of {kind} {item_id} is missing from {self._versions.full_name}: the "
                "backup store is damaged (run `airflow-assets snapshots verify`, then `snapshots repair`)",
                kind=kind, item_id=item_id, digest=digest, problem="missing",
            )  # fmt: skip
        # The version must be of the item the span names, in this schema, and hash to its name.
        expected = {"kind": kind, "item_id": item_id, "ws": self.workspace_id, "schema_id": self.schema_id}
        return open_version(document, expected=expected, keyring=self.keyring)


class DamagedContentError(JiraAssetsError, LookupError):
    """A stored version a snapshot names is missing, or its content no longer hashes to its name.

    :param kind: the item kind (``object``, ``history``...).
    :param item_id: the item's id.
    :param digest: the version's name (the hash the span names).
    :param problem: ``missing`` or ``hash mismatch``.
    """

    def __init__(self, message: str, *, kind: str, item_id: str, digest: str, problem: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.item_id = item_id
        self.digest = digest
        self.problem = problem

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_damage, (str(self), self.kind, self.item_id, self.digest, self.problem))


def _rebuild_damage(message: str, kind: str, item_id: str, digest: str, problem: str) -> DamagedContentError:
    return DamagedContentError(message, kind=kind, item_id=item_id, digest=digest, problem=problem)


DamageHandler = Callable[[DamagedContentError], None]


def version_place(document: Mapping[str, Any]) -> str:
    """Return what a version's sealed content is bound to (its name and identity): moved, it fails."""
    fields = ("_id", "ws", "schema_id", "kind", "item_id")
    return "versions|" + "|".join(str(document.get(name)) for name in fields)


def version_damage(
    document: Mapping[str, Any], *, expected: Mapping[str, str] | None = None, keyring: Keyring | None = None
) -> DamagedContentError | None:
    """Hash a stored version again by the fields it carries (kind, workspace, schema, item, content).

    Any edit of those fields leaves the version's name (its ``_id``) unmatched.

    :param expected: fields the version must hold (the item a span names it for): a genuine version of
        another item is damage too.
    :param keyring: the store's keys, for an encrypted version (see :func:`open_version`).
    """
    return open_version(document, expected=expected, keyring=keyring)[1]


def open_version(
    document: Mapping[str, Any], *, expected: Mapping[str, str] | None = None, keyring: Keyring | None = None
) -> tuple[dict[str, Any] | None, DamagedContentError | None]:
    """Return (content, None) of a stored version that is sound, or (None, its damage).

    An encrypted version is decrypted first: a failed GCM tag is damage like a hash mismatch. Its name is
    recomputed as it was made: plain SHA-256, or the HMAC under the key its name carries.

    :raises EncryptionKeyError: the version needs a key the keyring lacks (a missing key is not damage:
        nothing is quarantined or marked for it).
    """
    kind, item_id, digest = str(document.get("kind")), str(document.get("item_id")), str(document.get("_id"))
    wanted = dict(expected or {})
    for name, value in wanted.items():
        if document.get(name) != value:
            return None, DamagedContentError(
                f"version {digest} holds {name} {document.get(name)!r} where {value!r} was named: the backup "
                "store is damaged (run `airflow-assets snapshots verify`)",
                kind=wanted.get("kind", kind), item_id=wanted.get("item_id", item_id), digest=digest,
                problem="hash mismatch",
            )  # fmt: skip
    what = f"version {digest} of {kind} {item_id}"
    data: Any = document.get("data")
    if "sealed" in document:
        sealed = document["sealed"]
        try:
            if not is_sealed(sealed):
                raise SealedValueError(f"{what}: its encrypted content is not a sealed value")
            data = unseal(keyring, sealed, place=version_place(document), what=what)
        except SealedValueError as error:
            return None, DamagedContentError(
                f"{error}; it is not used (run `airflow-assets snapshots verify`)",
                kind=kind, item_id=item_id, digest=digest, problem="hash mismatch",
            )  # fmt: skip
    try:
        recomputed = recompute_name(document, data, keyring=keyring)
    except (TypeError, ValueError) as error:
        recomputed = f"(not hashable: {error})"
    if recomputed == digest and isinstance(data, Mapping):
        return dict(data), None
    return None, DamagedContentError(
        f"version {digest} of {kind} {item_id} was altered: its content now hashes to {recomputed}; it is "
        "not used (run `airflow-assets snapshots verify`)",
        kind=kind, item_id=item_id, digest=digest, problem="hash mismatch",
    )  # fmt: skip


def recompute_name(document: Mapping[str, Any], data: Any, *, keyring: Keyring | None) -> str:
    """Return the name ``data`` gets as the content of ``document``'s item, the way its ``_id`` was made.

    :raises EncryptionKeyError: the name is keyed with a key the keyring lacks.
    """
    digest = str(document.get("_id"))
    kind, item_id = str(document.get("kind")), str(document.get("item_id"))
    ws, schema_id = str(document.get("ws")), str(document.get("schema_id"))
    key_id = split_content_id(digest)[0]
    if key_id is None:
        return content_hash(kind=kind, workspace_id=ws, schema_id=schema_id, item_id=item_id, data=data or {})
    what = f"version {digest} of {kind} {item_id}"
    if keyring is None:
        raise missing_key(key_id, what, None)
    envelope = envelope_bytes(
        kind=kind, workspace_id=ws, schema_id=schema_id, item_id=item_id, data=data or {}
    )
    return keyed_content_id(keyring.key(key_id, what=what), envelope)


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
