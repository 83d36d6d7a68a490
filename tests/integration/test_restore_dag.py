"""The restore DAG runs in real Airflow (``dag.test()``): a dry run writes nothing, a real run verifies."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from pymongo.database import Database

from airflow_assets.sandbox.launch import RunningSandbox
from tests.integration.backup_support import client_for
from tests.integration.conftest import BackupDags

pytestmark = pytest.mark.slow


def _states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def _schema_keys(sandbox: RunningSandbox) -> set[str]:
    return {str(s["objectSchemaKey"]) for s in client_for(sandbox).iter_object_schemas()}


def test_restore_dag_dry_run_plans_and_writes_nothing_then_a_real_run_verifies(
    backup_dags: BackupDags, sandbox: RunningSandbox, mongo_db: Database
) -> None:
    dags = backup_dags("LOC")
    assert str(dags["jira_assets_backup_test_loc"].test().state) == "success"
    restore = dags["jira_assets_restore"]
    before = _schema_keys(sandbox)
    conf = {"schema_mappings": [{"old_key": "LOC", "new_key": "LOCCOPY", "new_name": "Locations copy"}]}

    dry = restore.test(run_conf=conf)

    assert str(dry.state) == "success", _states(dry)
    assert _states(dry)["plan"] == "success"
    # backup_before passes through (only a rollback backs up first); every writing task is skipped.
    assert _states(dry)["backup_before"] == "success"
    assert {state for task, state in _states(dry).items() if task not in ("plan", "backup_before")} == {
        "skipped"
    }
    assert _schema_keys(sandbox) == before
    stored_plan = mongo_db["restores"].find_one({"_id": f"jira_assets_restore:{dry.run_id}"})
    assert stored_plan is not None and stored_plan["plan"]["objects"] == sandbox.seed.object_counts["LOC"]

    real = restore.test(run_conf={**conf, "dry_run": False})

    assert str(real.state) == "success", _states(real)
    assert _schema_keys(sandbox) == before | {"LOCCOPY"}
    document = mongo_db["restores"].find_one({"_id": f"jira_assets_restore:{real.run_id}"})
    assert document["steps"]["verify"]["ok"] is True
    assert document["report"]["objects_restored"] == sandbox.seed.object_counts["LOC"]


@pytest.mark.parametrize(
    ("conf", "param"),
    [
        ({"schema_mappings": [{"old_key": "LOC", "new_key": "LOC"}]}, "schema_mappings[0].new_key"),
        ({"schema_mappings": [{"old_key": "NOPE", "new_key": "NOPE2"}]}, "schema_mappings[0].old_key"),
        (
            {"snapshot": "ws:1:no-such-run", "schema_mappings": [{"old_key": "LOC", "new_key": "LOC3"}]},
            "snapshot",
        ),
        (
            {"schema_mappings": [{"old_key": "LOC", "new_key": "LOC3"}], "object_types": ["Spaceship"]},
            "object_types[0]",
        ),
        (
            # The backup store's connection, named by mistake: its type is said, not "email must be ...".
            {
                "schema_mappings": [{"old_key": "LOC", "new_key": "LOC3"}],
                "target_conn_id": "jira_assets_backup",
            },
            "target_conn_id",
        ),
    ],
)
def test_restore_dag_refuses_bad_parameters_in_the_plan_task_before_any_write(
    backup_dags: BackupDags, sandbox: RunningSandbox, mongo_db: Database, conf: dict[str, Any], param: str,
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    dags = backup_dags("LOC")
    assert str(dags["jira_assets_backup_test_loc"].test().state) == "success"
    before = _schema_keys(sandbox)
    caplog.set_level(logging.ERROR)

    run = dags["jira_assets_restore"].test(run_conf={**conf, "dry_run": False})

    assert str(run.state) == "failed"
    assert _states(run)["plan"] == "failed"
    assert _states(run)["create_structure"] == "upstream_failed"
    assert _schema_keys(sandbox) == before
    out, err = capfd.readouterr()
    assert f"AirflowFailException: parameter {param}:" in out + err
    # Also one plain line, outside the traceback.
    plain = [r.getMessage() for r in caplog.records if r.name == "airflow_assets.operators.restore"]
    assert [line for line in plain if line.startswith(f"plan failed: parameter {param}:")], plain
    if param == "target_conn_id":
        assert "connection 'jira_assets_backup' is of type 'mongo', expected 'jira_assets'" in out + err
    assert mongo_db["restore_ids"].count_documents({}) == mongo_db["restore_intents"].count_documents({}) == 0


def test_each_restore_step_logs_a_line_a_person_can_follow(
    backup_dags: BackupDags, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    dags = backup_dags("LOC")
    assert str(dags["jira_assets_backup_test_loc"].test().state) == "success"
    # A progress line after every object and comment (15 s apart in production).
    monkeypatch.setattr("airflow_assets.restore.progress.PROGRESS_SECONDS", 0.0)
    caplog.clear()
    caplog.set_level(logging.INFO)
    count = sandbox.seed.object_counts["LOC"]

    run = dags["jira_assets_restore"].test(
        run_conf={"schema_mappings": 'LOC -> LOCLOG "Locations (log test)"', "dry_run": False}
    )

    assert str(run.state) == "success", _states(run)
    ours = [record.getMessage() for record in caplog.records if record.name.startswith("airflow_assets")]
    text = "\n".join(ours)
    assert "structure: created 1 schema, " in text
    assert re.search(rf"objects: \d+/{count} \(\d+%\), [\d,]+/min, ETA \d+", text), text[-3000:]
    assert f"objects: created {count} of {count} selected in " in text
    assert re.search(r"comments: created \d+ comments? and 0 history comments in \d+ calls?", text)
    assert "restrictions: applied " in text
    assert f"restore jira_assets_restore:{run.run_id}: {count} objects restored in " in text
    assert "old -> new key map: key_map.csv" in text
    assert f"export it with: airflow-assets restores show jira_assets_restore:{run.run_id} --key-map " in text
    assert not [line for line in ours if "datetime.datetime(" in line or "{'" in line]


def test_a_rollback_backs_the_schema_up_first_and_that_backup_undoes_it(
    backup_dags: BackupDags, sandbox: RunningSandbox, mongo_db: Database
) -> None:
    dags = backup_dags("LOC")
    assert str(dags["jira_assets_backup_test_loc"].test().state) == "success"
    client = client_for(sandbox)
    assert sandbox.seed is not None
    office = sandbox.seed.type_ids["Office"]
    address = next(str(a["id"]) for a in client.get_object_type_attributes(office) if a["name"] == "Address")
    offices = sorted((str(o["id"]) for o in client.iter_objects(f"objectTypeId = {office}")), key=int)[:5]
    original = {object_id: _address(client, object_id, address) for object_id in offices}
    for object_id in offices:
        bad = [{"value": f"Bad import {object_id}"}]
        client.update_object(
            object_id, {"attributes": [{"objectTypeAttributeId": address, "objectAttributeValues": bad}]}
        )
    restore = dags["jira_assets_restore"]

    rollback = restore.test(run_conf={"mode": "rollback", "schema_mappings": "LOC", "dry_run": False})

    assert str(rollback.state) == "success", _states(rollback)
    document = mongo_db["restores"].find_one({"_id": f"jira_assets_restore:{rollback.run_id}"})
    assert document is not None and document["steps"]["verify"]["ok"] is True
    assert {object_id: _address(client, object_id, address) for object_id in offices} == original
    # The backup taken first holds the state the rollback undid; it is not the snapshot it went back to.
    taken = document["backup_before"]["LOC"]
    assert taken != document["plan"]["schemas"][0]["snapshot_id"]
    assert mongo_db["snapshots"].find_one({"_id": taken})["taken_for"].startswith("rollback ")

    undo = restore.test(
        run_conf={"mode": "rollback", "schema_mappings": "LOC", "snapshot": taken, "dry_run": False}
    )

    assert str(undo.state) == "success", _states(undo)
    assert {o: _address(client, o, address) for o in offices} == {o: [f"Bad import {o}"] for o in offices}


def _address(client: Any, object_id: str, attribute_id: str) -> list[str]:
    obj = client.get_object(object_id)
    return [
        str(value.get("value"))
        for attribute in obj["attributes"]
        if str(attribute["objectTypeAttributeId"]) == attribute_id
        for value in attribute["objectAttributeValues"]
    ]
