"""Insert documents that may already be there: the one duplicate-tolerant write of the store and the ledger.

Every writer of write-once documents (versions, spans, reconstruction notes, the restore ledger) inserts, as
an insert costs a fraction of an upsert, and tolerates the duplicates a retried task meets. Only the
duplicate-key error is tolerated: any other write error is raised.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pymongo import ReplaceOne, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

DUPLICATE_KEY = 11000

Redo = Callable[[dict[str, Any]], UpdateOne | ReplaceOne]


def insert_new(
    collection: Collection, documents: Sequence[dict[str, Any]], *, redo: Redo | None = None
) -> None:
    """Insert ``documents``; those whose ``_id`` exists already are left, or rewritten with ``redo``.

    :param collection: where to insert.
    :param documents: the documents, each with its ``_id``.
    :param redo: for a document found written, the write that makes the stored one what it should be now
        (:func:`replace_with` replaces it whole); ``None`` leaves it (content-addressed documents are equal).
    """
    if not documents:
        return
    try:
        collection.insert_many(list(documents), ordered=False)
    except BulkWriteError as error:
        errors = error.details.get("writeErrors", [])
        if any(entry.get("code") != DUPLICATE_KEY for entry in errors):
            raise
        if redo is not None and errors:
            collection.bulk_write([redo(documents[entry["index"]]) for entry in errors], ordered=False)


def replace_with(document: dict[str, Any]) -> ReplaceOne:
    """Return the write that replaces the stored document of the same ``_id`` with ``document``."""
    return ReplaceOne({"_id": document["_id"]}, document)
