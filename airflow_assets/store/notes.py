"""Reconstruction notes: one document per value a reconstructed snapshot could not rewind exactly."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pymongo.database import Database
from pymongo.errors import BulkWriteError

from airflow_assets.store.layout import RECONSTRUCTION_NOTES

DUPLICATE_KEY = 11000


class ReconstructionNotes:
    """The notes of reconstructed snapshots (a fidelity report in full; the manifest quotes a few).

    :param db: the backup database.
    """

    def __init__(self, db: Database) -> None:
        self._notes = db[RECONSTRUCTION_NOTES]

    def add(self, snapshot_id: str, notes: Sequence[Mapping[str, Any]]) -> None:
        """Store notes of a snapshot; a note stored before (a retried try) is kept as it is.

        :param notes: each with ``object_id`` and ``attribute`` (which name it within the snapshot).
        """
        documents = [
            {
                "_id": f"{snapshot_id}|{note['object_id']}|{note['attribute']}",
                "snapshot_id": snapshot_id,
                **note,
            }
            for note in notes
        ]
        if not documents:
            return
        try:
            self._notes.insert_many(documents, ordered=False)
        except BulkWriteError as error:
            if any(entry.get("code") != DUPLICATE_KEY for entry in error.details.get("writeErrors", [])):
                raise

    def of(self, snapshot_id: str) -> list[dict[str, Any]]:
        """Return the notes of a snapshot."""
        return list(self._notes.find({"snapshot_id": snapshot_id}))
