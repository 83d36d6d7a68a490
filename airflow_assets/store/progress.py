"""Checkpoints of per-object steps: the highest object id whose results are stored, per snapshot and step."""

from __future__ import annotations

from pymongo.database import Database

from airflow_assets.store.layout import PROGRESS


class Checkpoint:
    """Where a per-object step of one snapshot got to, so a retried task continues after it.

    :param db: the backup database.
    :param snapshot_id: the snapshot the step writes.
    :param step: the step (``export_history``...).
    """

    def __init__(self, db: Database, snapshot_id: str, step: str) -> None:
        self._progress = db[PROGRESS]
        self._id = f"{snapshot_id}|{step}"

    def load(self) -> int:
        """Return the highest object id (as a number) done so far; -1 when the step has not started."""
        document = self._progress.find_one({"_id": self._id})
        return int(document["done_through"]) if document else -1

    def save(self, done_through: int) -> None:
        """Record that every object up to ``done_through`` is done (a lower number never moves it back)."""
        self._progress.update_one({"_id": self._id}, {"$max": {"done_through": done_through}}, upsert=True)
