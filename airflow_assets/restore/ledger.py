"""The restore ledger: an intent stored before every create, completed with the new id after the answer.

One document per thing a restore creates (``restore_ids``), keyed by the restore, the kind and the old
id, so every retry of every task knows what exists already and never creates it twice. An intent left
``open`` by a crash (the create may or may not have reached the server) is reconciled by looking the
thing up on the target before it is created again.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.database import Database

RESTORE_IDS = "restore_ids"
RESTORES = "restores"
RESTORE_FILES = "restore_files"
OPEN = "open"
DONE = "done"


@dataclass(frozen=True)
class Created:
    """What a completed intent maps an old id to."""

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

    def ensure_indexes(self) -> None:
        """Create the ledger's index (a no-op when it exists)."""
        self._ids.create_indexes([IndexModel([("restore_id", ASCENDING), ("kind", ASCENDING)], name="kind")])

    def _id(self, kind: str, old_id: str) -> str:
        return f"{self.restore_id}|{kind}|{old_id}"

    def open(self, kind: str, old_id: str, context: Mapping[str, Any] | None = None) -> None:
        """Store the intent to create ``old_id`` (before the create is sent)."""
        self._ids.update_one(
            {"_id": self._id(kind, old_id), "state": {"$ne": DONE}},
            {
                "$set": {
                    "restore_id": self.restore_id,
                    "kind": kind,
                    "old_id": old_id,
                    "state": OPEN,
                    "opened_at": datetime.now(UTC),
                    "context": dict(context or {}),
                }
            },
            upsert=True,
        )

    def complete(self, kind: str, old_id: str, created: Created) -> None:
        """Record the id (and key) the target gave ``old_id``."""
        self._ids.update_one(
            {"_id": self._id(kind, old_id)},
            {
                "$set": {
                    "restore_id": self.restore_id,
                    "kind": kind,
                    "old_id": old_id,
                    "state": DONE,
                    "new_id": created.new_id,
                    "new_key": created.new_key,
                    "left_out": list(created.left_out),
                    "expects": list(created.expects),
                    "done_at": datetime.now(UTC),
                },
                "$unset": {"context": ""},
            },
            upsert=True,
        )

    def drop(self, kind: str, old_id: str) -> None:
        """Forget an open intent whose create certainly did not happen."""
        self._ids.delete_one({"_id": self._id(kind, old_id), "state": OPEN})

    def get(self, kind: str, old_id: str) -> Created | None:
        """Return what ``old_id`` was created as, or None."""
        document = self._ids.find_one({"_id": self._id(kind, old_id)})
        if document is None or document.get("state") != DONE:
            return None
        return _created(document)

    def created(self, kind: str) -> dict[str, Created]:
        """Return every completed create of ``kind``: old id -> new id and key."""
        return {
            doc["old_id"]: _created(doc)
            for doc in self._ids.find({"restore_id": self.restore_id, "kind": kind, "state": DONE})
        }

    def open_intents(self, kind: str) -> Iterator[Intent]:
        """Yield the intents of ``kind`` still open."""
        for doc in self._ids.find({"restore_id": self.restore_id, "kind": kind, "state": OPEN}):
            opened = doc["opened_at"]
            if opened.tzinfo is None:
                opened = opened.replace(tzinfo=UTC)
            yield Intent(kind, doc["old_id"], opened, doc.get("context") or {})

    def count(self, kind: str) -> int:
        """Count the completed creates of ``kind``."""
        return int(self._ids.count_documents({"restore_id": self.restore_id, "kind": kind, "state": DONE}))

    # -- the restore document ---------------------------------------------------------------------

    def save(self, fields: Mapping[str, Any]) -> None:
        """Merge ``fields`` into the restore's document (plan, step summaries, report)."""
        self.db[RESTORES].update_one({"_id": self.restore_id}, {"$set": dict(fields)}, upsert=True)

    def push_warnings(self, step: str, warnings: list[str]) -> None:
        """Store a step's warnings (replacing those of an earlier try of the step)."""
        self.save({f"warnings.{step}": warnings[:1000], f"warning_counts.{step}": len(warnings)})

    def document(self) -> dict[str, Any]:
        """Return the restore's document (empty before the plan is stored)."""
        return dict(self.db[RESTORES].find_one({"_id": self.restore_id}) or {})

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
                    "text": part,
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
        return "".join(part["text"] for part in parts) if parts else None


def _created(document: Mapping[str, Any]) -> Created:
    return Created(
        document["new_id"],
        document.get("new_key"),
        tuple(document.get("left_out") or ()),
        tuple(document.get("expects") or ()),
    )
