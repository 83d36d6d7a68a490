"""The plain-file export holds what the older public restore script reads, and references carry labels.

``importAssets.py`` of github.com/Rudy-Tmc/backupAndRestoreAssetsCloud (commit 9f5406a5, read through in
issue 15) restores a folder of the backupAssets.py layout. It indexes the JSON it loads directly, so every
field it reads must be in every file and entry, with the type it uses it as: a missing ``objectType`` in
``objectsmeta`` stopped it at once. :data:`SCRIPT_READS` lists each field path it reads, with the line of
the script that reads it; the test exports snapshots of the demo schemas and checks every path against
every file. docs/export.md lists the same paths for readers.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from airflow_assets.backfill.reconstruct import reconstruct
from airflow_assets.sandbox.launch import RunningSandbox
from airflow_assets.store import SnapshotStore
from airflow_assets.store.snapshots import Snapshot
from airflow_assets.tools.rt_export import export_snapshot
from tests.integration.backup_support import back_up, client_for, run_info, stored

pytestmark = pytest.mark.slow


def _snapshot(db: Database, snapshot_id: str) -> Snapshot:
    snapshot = SnapshotStore(db).get(snapshot_id)
    assert snapshot is not None and snapshot.status == "complete"
    return snapshot


def _type_files(root: Path, key: str, folder: str) -> dict[str, Any]:
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted((root / key / folder).glob("*.json"))
    }


def test_a_reconstructed_snapshot_exports_its_references_with_the_labels_of_its_moment(
    sandbox: RunningSandbox, mongo_db: Database, tmp_path: Path
) -> None:
    with client_for(sandbox) as client:
        back_up(client, mongo_db, "PEOPLE", "run-1")
        first = back_up(client, mongo_db, "LOC", "run-1").snapshot_id
        moment = datetime.now(UTC)
        time.sleep(0.05)
        # A country cities refer to is renamed after the moment: the reconstruction holds its old name, the
        # real lane (which the export used to read) only the new one.
        before = {item["id"]: item for item in stored(mongo_db, first, "object")}
        referenced = sorted(
            str(value["referencedObjectId"])
            for item in before.values()
            for attribute in item["attributes"]
            for value in attribute["values"]
            if value.get("referencedObjectId") is not None
        )
        renamed = before[max(set(referenced), key=referenced.count)]
        name_attribute = next(
            attribute
            for attribute in client.get_object_type_attributes(renamed["objectTypeId"])
            if attribute.get("label")
        )
        client.update_object(
            renamed["id"],
            {
                "objectTypeId": renamed["objectTypeId"],
                "attributes": [
                    {
                        "objectTypeAttributeId": str(name_attribute["id"]),
                        "objectAttributeValues": [{"value": f"{renamed['label']} (renamed)"}],
                    }
                ],
            },
        )
        base = _snapshot(mongo_db, back_up(client, mongo_db, "LOC", "run-2").snapshot_id)
        summary = reconstruct(
            mongo_db, base, moment, manifest=run_info("backfill-1").manifest_fields(), client=client
        )
    rebuilt = _snapshot(mongo_db, summary.snapshot_id)
    assert rebuilt.reconstructed
    then = {item["objectKey"]: item for item in stored(mongo_db, rebuilt.snapshot_id, "object")}
    assert then[renamed["objectKey"]]["label"] == renamed["label"]

    export_snapshot(mongo_db, rebuilt, tmp_path)

    shown_references = [
        shown
        for values_by_object in _type_files(tmp_path, "LOC", "objects").values()
        for values in values_by_object.values()
        for value in values.values()
        for shown in (value if isinstance(value, list) else [value])
        if isinstance(shown, dict)
    ]
    assert len(shown_references) == len(referenced) > 0
    for shown in shown_references:
        # The label the referenced object had at the snapshot's moment, never a bare key.
        target = then[shown["searchValue"]]
        assert shown == {"displayValue": target["label"], "searchValue": target["objectKey"]}
    assert {"displayValue": renamed["label"], "searchValue": renamed["objectKey"]} in shown_references
