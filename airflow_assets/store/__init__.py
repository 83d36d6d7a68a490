"""MongoDB storage of snapshots: content-addressed versions, spans of validity, manifests, leases.

Nothing here calls the Assets API. The layout is documented in the README ("Storage in MongoDB").
"""

from __future__ import annotations

from airflow_assets.store.layout import ensure_indexes
from airflow_assets.store.leases import LeaseHeldError, LeaseLostError, SchemaLease
from airflow_assets.store.reader import SnapshotReader
from airflow_assets.store.snapshots import Snapshot, SnapshotStateError, SnapshotStore
from airflow_assets.store.versions import OPEN, Item, VersionStore

__all__ = [
    "OPEN",
    "Item",
    "LeaseHeldError",
    "LeaseLostError",
    "SchemaLease",
    "Snapshot",
    "SnapshotReader",
    "SnapshotStateError",
    "SnapshotStore",
    "VersionStore",
    "ensure_indexes",
]
