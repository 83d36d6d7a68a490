"""The snapshots a stored plan pinned, found again by the tasks after the plan's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from pymongo.database import Database

from airflow_assets.restore.plan import RestorePlan
from airflow_assets.restore.request import RestoreRequest, SchemaMapping, SnapshotChoice
from airflow_assets.restore.source import SourceSnapshot, resolve_sources


def pinned_snapshots(
    db: Database, request: RestoreRequest, plan: RestorePlan, sites: Sequence[str]
) -> list[SourceSnapshot]:
    """Return the snapshot of each schema of the plan, in the plan's order, under its planned key and name.

    The request's choice (``latest``, a moment) is not asked again: a backup finished since the plan would
    give later tasks another snapshot than the one planned.
    """
    snapshots = []
    for schema in plan.schemas:
        pinned = replace(
            request,
            mappings=(SchemaMapping(schema.old_key, schema.new_key, schema.name),),
            snapshot=SnapshotChoice(snapshot_id=schema.snapshot_id),
        )
        (snapshot,) = resolve_sources(db, pinned, sites)
        snapshots.append(replace(snapshot, index=schema.index))
    return snapshots
