"""Reconstruction notes: one document per value a reconstructed snapshot could not rewind exactly."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pymongo.database import Database

from airflow_assets.store.encryption import keyring_of, seal_fields, unseal_fields
from airflow_assets.store.insert import insert_new
from airflow_assets.store.layout import RECONSTRUCTION_NOTES

# The fields of a note sealed when the store is encrypted (they quote names and values).
SEALED = ("attribute", "reason", "detail")


class ReconstructionNotes:
    """The notes of reconstructed snapshots (a fidelity report in full; the manifest quotes a few).

    :param db: the backup database.
    """

    def __init__(self, db: Database) -> None:
        self._notes = db[RECONSTRUCTION_NOTES]
        self._keyring = keyring_of(db)

    def add(self, snapshot_id: str, notes: Sequence[Mapping[str, Any]]) -> None:
        """Store notes of a snapshot; a note stored before (a retried try) is kept as it is.

        :param notes: each with ``object_id`` and ``attribute`` (which name it within the snapshot).
        """
        documents = []
        for note in notes:
            attribute = str(note["attribute"])
            if self._keyring is not None:
                # The id must not quote the attribute's name: a keyed HMAC of it names the note instead.
                attribute = self._keyring.current.mac(f"note|{attribute}".encode())[:32]
            doc_id = f"{snapshot_id}|{note['object_id']}|{attribute}"
            fields = {"_id": doc_id, "snapshot_id": snapshot_id, **note}
            documents.append(
                seal_fields(
                    self._keyring, fields, collection=RECONSTRUCTION_NOTES, doc_id=doc_id, names=SEALED
                )
            )
        insert_new(self._notes, documents)

    def of(self, snapshot_id: str) -> list[dict[str, Any]]:
        """Return the notes of a snapshot."""
        found = self._notes.find({"snapshot_id": snapshot_id})
        return [unseal_fields(self._keyring, note, collection=RECONSTRUCTION_NOTES) for note in found]
