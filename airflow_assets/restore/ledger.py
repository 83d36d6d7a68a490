"""The restore ledger: an intent stored before every create, and the new id stored after the answer.

Intents (``restore_intents``) and completions (``restore_ids``) are separate documents keyed by the restore,
the kind and the old id, each written once with an insert: every retry of every task knows what exists
already and never creates it twice. An intent without a completion was left by a crash (the create may or
may not have reached the server): it is reconciled by looking the thing up on the target before it is
created again. Two inserts of different documents per create also keep the ledger cheap on every
MongoDB-compatible server (rewriting a document just written is slow on some).

In an encrypted store (:mod:`airflow_assets.store.encryption`) what names or holds the site's content is
sealed: the intents' context (an object's label), the restore document's fields but its status (plan,
warnings, step summaries, report) and the stored files (the key map, a rollback's changes with their
values). Ids, keys and counts stay readable.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.database import Database

from airflow_assets.store.encryption import is_sealed, keyring_of, seal, seal_fields, unseal, unseal_fields
from airflow_assets.store.insert import insert_new, replace_with

RESTORE_IDS = "restore_ids"
RESTORE_INTENTS = "restore_intents"
RESTORES = "restores"
RESTORE_FILES = "restore_files"
# Fields of a restore document left readable in an encrypted store: its state, and how many warnings.
PLAIN_RESTORE_FIELDS = frozenset({"status", "warning_counts"})


@dataclass(frozen=True)
class Created:
    """What a completed create maps an old id to."""

    new_id: str
    new_key: str | None = None
    left_out: tuple[str, ...] = ()  # target attribute ids whose values the target refused
    expects: tuple[str, ...] = ()  # what verify checks beyond the snapshot (references put back: attr=key)


@dataclass(frozen=True)
class Intent:
    """An intent still open: the create may have reached the server."""

    kind: str
    old_id: str
    opened_at: datetime
    context: Mapping[str, Any]


class Ledger:
    """The intents and id map of one restore run.

    :param db: the backup database.
    :param restore_id: the restore's id (its DAG and run id).
    """

    def __init__(self, db: Database, restore_id: str) -> None:
        self.db = db
        self.restore_id = restore_id
        self._ids = db[RESTORE_IDS]
        self._intents = db[RESTORE_INTENTS]
        self._keyring = keyring_of(db)

    def ensure_indexes(self) -> None:
        """Create the ledger's indexes (a no-op when they exist)."""
        for collection in (self._ids, self._intents):
            collection.create_indexes(
                [IndexModel([("restore_id", ASCENDING), ("kind", ASCENDING)], name="kind")]
            )
        # save_file replaces and read_file reads a file's parts in order: without it both scan every
        # stored file of every restore.
        self.db[RESTORE_FILES].create_indexes(
            [
                IndexModel(
                    [("restore_id", ASCENDING), ("name", ASCENDING), ("part", ASCENDING)], name="file_part"
                )
            ]
        )

    def _id(self, kind: str, old_id: str) -> str:
        return f"{self.restore_id}|{kind}|{old_id}"

    def open(self, kind: str, old_id: str, context: Mapping[str, Any] | None = None) -> None:
        """Store the intent to create ``old_id`` (before the create is sent)."""
        intent = {
            "_id": self._id(kind, old_id),
            "restore_id": self.restore_id,
            "kind": kind,
            "old_id": old_id,
            "opened_at": datetime.now(UTC),
            "context": self._sealed_context(self._id(kind, old_id), context),
        }
        insert_new(self._intents, [intent], redo=replace_with)

    def _sealed_context(self, intent_id: str, context: Mapping[str, Any] | None) -> Any:
        if self._keyring is None:
            return dict(context or {})
        return seal(
            self._keyring.current, dict(context or {}), place=f"{RESTORE_INTENTS}|{intent_id}|context"
        )

    def _opened_context(self, document: Mapping[str, Any]) -> Mapping[str, Any]:
        context: Any = document.get("context") or {}
        if is_sealed(context):
            place = f"{RESTORE_INTENTS}|{document['_id']}|context"
            return dict(unseal(self._keyring, context, place=place, what=f"restore intent {document['_id']}"))
        return dict(context)

    def complete(self, kind: str, old_id: str, created: Created) -> None:
        """Record the id (and key) the target gave ``old_id``; its intent, if any, is settled by it."""
        insert_new(self._ids, [self._completion(kind, old_id, created)], redo=replace_with)

    def open_many(self, kind: str, entries: list[tuple[str, Mapping[str, Any]]]) -> None:
        """Store the intents of several creates in one write (before any of them is sent)."""
        now = datetime.now(UTC)
        documents = [
            {
                "_id": self._id(kind, old_id),
                "restore_id": self.restore_id,
                "kind": kind,
                "old_id": old_id,
                "opened_at": now,
                "context": self._sealed_context(self._id(kind, old_id), context),
            }
            for old_id, context in entries
        ]
        insert_new(self._intents, documents, redo=replace_with)

    def complete_many(self, kind: str, entries: list[tuple[str, Created]]) -> None:
        """Record several completed creates in one write."""
        completions = [self._completion(kind, old_id, created) for old_id, created in entries]
        insert_new(self._ids, completions, redo=replace_with)

    def _completion(self, kind: str, old_id: str, created: Created) -> dict[str, Any]:
        return {
            "_id": self._id(kind, old_id),
            "restore_id": self.restore_id,
            "kind": kind,
            "old_id": old_id,
            "new_id": created.new_id,
            "new_key": created.new_key,
            "left_out": list(created.left_out),
            "expects": list(created.expects),
            "done_at": datetime.now(UTC),
        }

    def drop(self, kind: str, old_id: str) -> None:
        """Forget an open intent whose create certainly did not happen."""
        self._intents.delete_one({"_id": self._id(kind, old_id)})

    def get(self, kind: str, old_id: str) -> Created | None:
        """Return what ``old_id`` was created as, or None."""
        document = self._ids.find_one({"_id": self._id(kind, old_id)})
        return _created(document) if document is not None else None

    def created(self, kind: str) -> dict[str, Created]:
        """Return every completed create of ``kind``: old id -> new id and key."""
        return {
            doc["old_id"]: _created(doc)
            for doc in self._ids.find({"restore_id": self.restore_id, "kind": kind})
        }

    def open_intents(self, kind: str) -> Iterator[Intent]:
        """Yield the intents of ``kind`` that no completion settled."""
        intents = list(self._intents.find({"restore_id": self.restore_id, "kind": kind}))
        if not intents:
            return
        done = {
            doc["_id"] for doc in self._ids.find({"_id": {"$in": [i["_id"] for i in intents]}}, {"_id": 1})
        }
        for doc in intents:
            if doc["_id"] in done:
                continue
            opened = doc["opened_at"]
            if opened.tzinfo is None:
                opened = opened.replace(tzinfo=UTC)
            yield Intent(kind, doc["old_id"], opened, self._opened_context(doc))

    def count(self, kind: str) -> int:
        """Count the completed creates of ``kind``."""
        return int(self._ids.count_documents({"restore_id": self.restore_id, "kind": kind}))

    def forget_settled_intents(self) -> int:
        """Delete the intents of this restore that a completion settled (housekeeping at the end)."""
        settled = [doc["_id"] for doc in self._ids.find({"restore_id": self.restore_id}, {"_id": 1})]
        removed = 0
        for start in range(0, len(settled), 500):
            removed += self._intents.delete_many({"_id": {"$in": settled[start : start + 500]}}).deleted_count
        return removed

    # -- the restore document ---------------------------------------------------------------------

    def save(self, fields: Mapping[str, Any]) -> None:
        """Merge ``fields`` into the restore's document (plan, step summaries, report)."""
        sealed = {name.partition(".")[0] for name in fields} - PLAIN_RESTORE_FIELDS
        values = seal_fields(self._keyring, fields, collection=RESTORES, doc_id=self.restore_id, names=sealed)
        self.db[RESTORES].update_one({"_id": self.restore_id}, {"$set": values}, upsert=True)

    def push_warnings(self, step: str, warnings: list[str]) -> None:
        """Store a step's warnings (replacing those of an earlier try of the step)."""
        self.save({f"warnings.{step}": warnings[:1000], f"warning_counts.{step}": len(warnings)})

    def document(self) -> dict[str, Any]:
        """Return the restore's document (empty before the plan is stored)."""
        return opened_restore(self.db, self.db[RESTORES].find_one({"_id": self.restore_id}) or {})

    def save_file(self, name: str, text: str, *, chunk: int = 1_000_000) -> int:
        """Store a text file (e.g. the key map CSV) in chunks well under any document size cap."""
        files = self.db[RESTORE_FILES]
        files.delete_many({"restore_id": self.restore_id, "name": name})
        parts = [text[start : start + chunk] for start in range(0, len(text), chunk)] or [""]
        files.insert_many(
            [
                {
                    "_id": f"{self.restore_id}|{name}|{number}",
                    "restore_id": self.restore_id,
                    "name": name,
                    "part": number,
                    "text": self._sealed_text(f"{self.restore_id}|{name}|{number}", part),
                }
                for number, part in enumerate(parts)
            ]
        )
        return len(parts)

    def read_file(self, name: str) -> str | None:
        """Return a stored file, or None."""
        parts = list(
            self.db[RESTORE_FILES].find({"restore_id": self.restore_id, "name": name}).sort("part", 1)
        )
        return "".join(self._opened_text(part) for part in parts) if parts else None

    def _sealed_text(self, part_id: str, text: str) -> Any:
        if self._keyring is None:
            return text
        return seal(self._keyring.current, text, place=f"{RESTORE_FILES}|{part_id}|text")

    def _opened_text(self, part: Mapping[str, Any]) -> str:
        text = part["text"]
        if is_sealed(text):
            where = f"{RESTORE_FILES}|{part['_id']}|text"
            return str(unseal(self._keyring, text, place=where, what=f"restore file part {part['_id']}"))
        return str(text)


def opened_restore(db: Database, document: Mapping[str, Any]) -> dict[str, Any]:
    """Return a ``restores`` document with its sealed fields opened (as it is in a plain store)."""
    return unseal_fields(keyring_of(db), document, collection=RESTORES) if document else {}


def _created(document: Mapping[str, Any]) -> Created:
    return Created(
        document["new_id"],
        document.get("new_key"),
        tuple(document.get("left_out") or ()),
        tuple(document.get("expects") or ()),
    )
