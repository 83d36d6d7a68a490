"""Reconstruction notes: one document per value a reconstructed snapshot could not rewind exactly."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pymongo.database import Database

from airflow_assets.store.insert import insert_new
from airflow_assets.store.layout import RECONSTRUCTION_NOTES


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
        insert_new(self._notes, documents)

    def of(self, snapshot_id: str) -> list[dict[str, Any]]:
        """Return the notes of a snapshot."""
        return list(self._notes.find({"snapshot_id": snapshot_id}))
