"""The check after a rollback: the live scope against the state its plan intended (see :mod:`rollback`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from airflow_assets.api import AssetsClient
from airflow_assets.model.schema_config import SchemaConfig
from airflow_assets.restore.ledger import Created
from airflow_assets.restore.request import RestoreRequest
from airflow_assets.restore.rollback import DELETE, RECREATE, diff_filter
from airflow_assets.restore.rollback_diff import (
    CREATED_SINCE,
    DELETED_SINCE,
    ObjectChange,
    diff_schema,
)
from airflow_assets.restore.values import ValueMaps
from airflow_assets.store.layout import CONFIG_KINDS
from airflow_assets.store.reader import SnapshotReader
from airflow_assets.store.snapshots import Snapshot

log = logging.getLogger(__name__)
JsonDict = dict[str, Any]


def verify_schema(
    client: AssetsClient,
    reader: SnapshotReader,
    snapshot: Snapshot,
    request: RestoreRequest,
    changes: Iterator[JsonDict],
    maps: ValueMaps,
    recreated: Mapping[str, Created],
    *,
    limit: int = 200,
) -> tuple[list[str], int]:
    """Compare the live scope with the state the plan intended; return the differences and objects compared.

    Intended: what the plan put back holds the snapshot's values; what it kept (conflicts, other accounts'
    changes, objects created since without ``delete_created``) is left as it was; objects deleted since
    exist again (under their new ids, compared by the restore's own verify).
    """
    planned: dict[str, JsonDict] = {change["id"]: change for change in changes}
    new_ids = {created.new_id for created in recreated.values()}
    config = SchemaConfig(reader.config(snapshot, CONFIG_KINDS))
    differences: list[str] = []
    found: list[ObjectChange] = []
    selection = diff_filter(client, config, snapshot.schema_id, request)
    if selection.object_ids is not None:
        # An AQL filter: the objects it finds now, and those the plan changed (a put-back value may no
        # longer match it).
        selection = replace(selection, object_ids=selection.object_ids | frozenset(planned))
    diff = diff_schema(
        client, reader, snapshot, selection, maps=maps, on_change=found.append, first_changes=0
    )
    seen: set[str] = set()
    for change in found:
        seen.add(change.object_id)
        plan = planned.get(change.object_id)
        if change.kind == CREATED_SINCE:
            if change.object_id in new_ids:
                continue
            if plan is not None and plan.get("action") == DELETE:
                differences.append(f"{change.object_key}: created since, still exists (planned: delete)")
            elif plan is None:
                differences.append(f"{change.object_key}: created after the plan")
            continue
        if change.kind == DELETED_SINCE:
            if change.object_id in recreated:
                continue
            if plan is None or plan.get("action") == RECREATE:
                differences.append(f"{change.object_key}: deleted since, not created again")
            continue
        kept = {a["id"] for a in (plan or {}).get("kept", [])}
        for attribute in change.attributes:
            if attribute.attribute_id in kept:
                continue
            differences.append(f"{change.object_key}: {attribute.name} still differs: {attribute.line()}")
    compared = sum(sum(counts.values()) for counts in diff.counts.values())
    return differences[:limit] + (
        [f"... and {len(differences) - limit} more"] if len(differences) > limit else []
    ), compared
