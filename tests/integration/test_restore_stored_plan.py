"""A restore's later tasks run the plan its plan task stored, not the request read again."""

from __future__ import annotations

import pytest
from pymongo.database import Database

from airflow_assets.restore.session import PlanNotStoredError
from airflow_assets.sandbox.launch import RunningSandbox
from tests.integration.backup_support import back_up, client_for
from tests.integration.restore_support import session


def test_the_structure_step_creates_the_schema_the_stored_plan_names(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    back_up(client, mongo_db, "LOC", "run-1")
    planned = {"schema_mappings": [{"old_key": "LOC", "new_key": "LOCX", "new_name": "Planned"}]}
    plan = session(client, mongo_db, {**planned, "dry_run": False}, "pinned").plan()
    back_up(client, mongo_db, "LOC", "run-2")  # a newer snapshot, finished after the plan

    # A later task rebuilds its request: here one that names another key, name and snapshot choice.
    rebuilt = {"schema_mappings": [{"old_key": "LOC", "new_key": "LOCY", "new_name": "Other"}]}
    later = session(client, mongo_db, {**rebuilt, "dry_run": False}, "pinned")
    later.build_structure()

    schemas = {str(s["objectSchemaKey"]): str(s["name"]) for s in client.iter_object_schemas()}
    assert schemas["LOCX"] == "Planned"
    assert "LOCY" not in schemas
    assert [s.snapshot.snapshot_id for s in later.snapshots] == [plan.schemas[0].snapshot_id]
    assert later.ledger.document()["plan"]["schemas"][0]["new_key"] == "LOCX"


def test_a_stored_plan_this_version_cannot_read_fails_the_step_with_what_to_do(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    back_up(client, mongo_db, "LOC", "run-1")
    request = {"schema_mappings": [{"old_key": "LOC", "new_key": "LOCZ"}], "dry_run": False}
    planning = session(client, mongo_db, request, "old-plan")
    planning.plan()
    # As an earlier version stored it: without the snapshot each schema's steps are pinned to.
    mongo_db["restores"].update_one(
        {"_id": planning.settings.restore_id}, {"$unset": {"plan.schemas.0.snapshot_id": ""}}
    )

    later = session(client, mongo_db, request, "old-plan")
    with pytest.raises(PlanNotStoredError, match=r"cannot read .*'snapshot_id'.* trigger the restore again"):
        later.build_structure()

    assert "LOCZ" not in {str(s["objectSchemaKey"]) for s in client.iter_object_schemas()}
