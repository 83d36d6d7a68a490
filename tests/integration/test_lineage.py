"""Backup and restore runs report their OpenLineage datasets through the provider; nothing changes without it.

The runs are real: ``dag.test()`` against the sandbox and the embedded MongoDB. The datasets are checked as a
lineage tool receives them (the provider's ``file`` transport) and as each task returns them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from airflow_assets.devtools.connections import sandbox_connection
from airflow_assets.devtools.embedded_mongo import EmbeddedMongo
from airflow_assets.sandbox.launch import RunningSandbox
from airflow_assets.store import SnapshotStore
from tests.integration.backup_support import REPO, client_for
from tests.integration.conftest import BackupDags

pytestmark = pytest.mark.slow

# Odd characters on purpose: a password that leaked would show in names quoted or not.
PASSWORD = "Lin3age:p@ss/w?rd"
LOGIN = "lineage_writer"
RUNNER = Path(__file__).with_name("lineage_backup_run.py")
STORE_COLLECTIONS = ("snapshots", "spans", "versions")
# Every backup step reads the schema and writes the snapshot; the teardown only marks it failed.
BACKUP_STEPS = ("export_config", "export_objects", "export_history", "export_comments", "export_tickets")


def _with_password(mongo: EmbeddedMongo, db: Database) -> str:
    """Create a user of ``db`` with a password; return a ``mongo`` connection that logs in as it.

    The embedded server does not enforce authentication, but it checks credentials that are sent: a wrong
    password fails the run, so the run proves the connection really carried it.
    """
    db.command("createUser", LOGIN, pwd=PASSWORD, roles=["readWrite"])
    return json.dumps(
        {
            "conn_type": "mongo",
            "host": mongo.host,
            "port": mongo.port,
            "login": LOGIN,
            "password": PASSWORD,
            "schema": db.name,
            "extra": {"authSource": db.name},
        }
    )


def _expected(sandbox: RunningSandbox, mongo: EmbeddedMongo, db: Database, key: str) -> dict[str, Any]:
    workspace = client_for(sandbox).workspace_id
    site_port = sandbox.url.rsplit(":", 1)[1]
    return {
        "schema": (f"jira-assets://127.0.0.1:{site_port}", f"{workspace}/{key}"),
        "store": [
            (f"mongodb://{mongo.host}:{mongo.port}", f"{db.name}.{name}") for name in STORE_COLLECTIONS
        ],
    }


def _names(datasets: list[Any]) -> list[tuple[str, str]]:
    return [(dataset.namespace, dataset.name) for dataset in datasets]


def _task_states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def test_each_backup_task_names_the_schema_it_read_and_the_collections_it_wrote_and_no_secret(
    backup_dags: BackupDags,
    sandbox: RunningSandbox,
    mongo_server: EmbeddedMongo,
    mongo_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("airflow.providers.openlineage")
    from openlineage.client.serde import Serde

    dag = backup_dags("PEOPLE")["jira_assets_backup_test_people"]
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_ASSETS_BACKUP", _with_password(mongo_server, mongo_db))

    dag_run = dag.test()

    assert str(dag_run.state) == "success", _task_states(dag_run)
    expected = _expected(sandbox, mongo_server, mongo_db, "PEOPLE")
    reported = {
        ti.task_id: dag.get_task(ti.task_id).get_openlineage_facets_on_complete(ti)
        for ti in dag_run.get_task_instances()
    }
    for step in (*BACKUP_STEPS, "finalize"):
        assert _names(reported[step].inputs) == [expected["schema"]], step
        assert _names(reported[step].outputs) == expected["store"], step
    assert reported["mark_failed_if_incomplete"] is None  # the teardown writes no snapshot content
    assert reported["reconstruct_past"] is None  # a run of the present reconstructs nothing
    emitted = "\n".join(Serde.to_json(lineage) for lineage in reported.values() if lineage is not None)
    for secret in (PASSWORD, LOGIN, sandbox.api_token, sandbox.email):
        assert secret not in emitted


def test_a_lineage_tool_receives_the_backup_datasets_through_the_provider(
    backup_dags: BackupDags,
    sandbox: RunningSandbox,
    mongo_server: EmbeddedMongo,
    mongo_db: Database,
    tmp_path: Path,
) -> None:
    pytest.importorskip("airflow.providers.openlineage")
    backup_dags("LOC")  # writes the config file and the connections the run's process inherits
    events_file = tmp_path / "openlineage.jsonl"
    environment = _process_environment(tmp_path, sandbox, mongo_server, mongo_db)
    environment["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(
        {"type": "file", "log_file_path": str(events_file), "append": True}
    )

    result = _run_backup(environment, "jira_assets_backup_test_loc")

    assert result["state"] == "success", result
    events = [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]
    completed = {
        event["job"]["name"].rsplit(".", 1)[1]: event
        for event in events
        if event["eventType"] == "COMPLETE" and event["job"]["name"].count(".") == 1
    }
    expected = _expected(sandbox, mongo_server, mongo_db, "LOC")
    for step in (*BACKUP_STEPS, "finalize"):
        event = completed[step]
        assert [(d["namespace"], d["name"]) for d in event["inputs"]] == [expected["schema"]], step
        assert [(d["namespace"], d["name"]) for d in event["outputs"]] == expected["store"], step
        assert event["inputs"][0]["facets"]["dataSource"]["uri"] == expected["schema"][0]
    assert sandbox.api_token not in events_file.read_text()


def test_without_the_provider_a_backup_run_is_unchanged_and_reports_nothing(
    backup_dags: BackupDags,
    sandbox: RunningSandbox,
    mongo_server: EmbeddedMongo,
    mongo_db: Database,
    tmp_path: Path,
) -> None:
    backup_dags("LOC")
    environment = _process_environment(tmp_path, sandbox, mongo_server, mongo_db)

    result = _run_backup(environment, "jira_assets_backup_test_loc", "--without-openlineage")

    assert result["state"] == "success", result
    assert {task["lineage"] for task in result["tasks"].values()} == {None}
    snapshot = SnapshotStore(mongo_db).find_for_run("jira_assets_backup_test_loc", result["run_id"])
    assert snapshot is not None and snapshot.status == "complete"
    assert snapshot.counts["objects"] == sandbox.seed.object_counts["LOC"]
    # No warning, no error, not a word about OpenLineage from any part of the run.
    assert "openlineage" not in result["output"].lower()


def test_each_restore_step_names_the_store_it_read_and_the_target_schema_it_wrote(
    backup_dags: BackupDags,
    sandbox: RunningSandbox,
    mongo_server: EmbeddedMongo,
    mongo_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("airflow.providers.openlineage")
    from openlineage.client.serde import Serde

    dags = backup_dags("LOC")
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_ASSETS_BACKUP", _with_password(mongo_server, mongo_db))
    assert str(dags["jira_assets_backup_test_loc"].test().state) == "success"
    restore = dags["jira_assets_restore"]
    conf = {"schema_mappings": [{"old_key": "LOC", "new_key": "LOCLIN", "new_name": "Locations lineage"}]}

    dry = restore.test(run_conf=conf)
    real = restore.test(run_conf={**conf, "dry_run": False})

    assert str(real.state) == "success", _task_states(real)
    expected = _expected(sandbox, mongo_server, mongo_db, "LOCLIN")
    store, target = expected["store"], [expected["schema"]]

    def reported(dag_run: Any) -> dict[str, Any]:
        return {
            ti.task_id: restore.get_task(ti.task_id).get_openlineage_facets_on_complete(ti)
            for ti in dag_run.get_task_instances()
        }

    dry_lineage, real_lineage = reported(dry), reported(real)
    # A dry run plans from the store and writes nothing into the target.
    assert (_names(dry_lineage["plan"].inputs), _names(dry_lineage["plan"].outputs)) == (store, [])
    for step in ("create_structure", "create_objects", "restore_comments", "apply_restrictions"):
        assert _names(real_lineage[step].inputs) == store, step
        assert _names(real_lineage[step].outputs) == target, step
    assert (_names(real_lineage["verify"].inputs), real_lineage["verify"].outputs) == ([*store, *target], [])
    # Only a rollback backs the target up before writing: a new schema has nothing to back up.
    assert real_lineage["backup_before"] is None
    emitted = "\n".join(Serde.to_json(lineage) for lineage in real_lineage.values() if lineage is not None)
    for secret in (PASSWORD, LOGIN, sandbox.api_token, sandbox.email):
        assert secret not in emitted


def test_a_rollback_names_the_live_schema_it_backs_up_first_and_then_writes_into(
    backup_dags: BackupDags, sandbox: RunningSandbox, mongo_server: EmbeddedMongo, mongo_db: Database
) -> None:
    pytest.importorskip("airflow.providers.openlineage")
    dags = backup_dags("LOC")
    assert str(dags["jira_assets_backup_test_loc"].test().state) == "success"
    client = client_for(sandbox)
    assert sandbox.seed is not None
    office = sandbox.seed.type_ids["Office"]
    address = next(str(a["id"]) for a in client.get_object_type_attributes(office) if a["name"] == "Address")
    first_office = min((str(o["id"]) for o in client.iter_objects(f"objectTypeId = {office}")), key=int)
    wrong = [{"value": "Wrong address"}]
    client.update_object(
        first_office, {"attributes": [{"objectTypeAttributeId": address, "objectAttributeValues": wrong}]}
    )
    restore = dags["jira_assets_restore"]

    rollback = restore.test(run_conf={"mode": "rollback", "schema_mappings": "LOC", "dry_run": False})

    assert str(rollback.state) == "success", _task_states(rollback)
    expected = _expected(sandbox, mongo_server, mongo_db, "LOC")
    lineage = {
        ti.task_id: restore.get_task(ti.task_id).get_openlineage_facets_on_complete(ti)
        for ti in rollback.get_task_instances()
    }
    # The live schema is backed up into the store before the first write, then written into from it.
    before, objects = lineage["backup_before"], lineage["create_objects"]
    assert (_names(before.inputs), _names(before.outputs)) == ([expected["schema"]], expected["store"])
    assert (_names(objects.inputs), _names(objects.outputs)) == (expected["store"], [expected["schema"]])


def _process_environment(
    tmp_path: Path, sandbox: RunningSandbox, mongo: EmbeddedMongo, db: Database
) -> dict[str, str]:
    """Return the environment of a run in its own process: its own Airflow home, the test's connections."""
    home = tmp_path / "airflow-home"
    home.mkdir()
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW__OPENLINEAGE__", "OPENLINEAGE_"))
    }
    environment.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="True",
        AIRFLOW_CONN_JIRA_ASSETS_DEFAULT=sandbox_connection(sandbox, rate_limit_scale=100),
        AIRFLOW_CONN_JIRA_ASSETS_BACKUP=mongo.airflow_conn_uri(db.name),
    )
    # The checkout is not put on sys.path (neither PYTHONPATH nor the working directory): there, its
    # ``*.egg-info`` (left by the editable install) lists this package's ``airflow.plugins`` entry point a
    # second time, and the task SDK's plugin loader (Airflow 3.3, ``airflow.sdk.plugins_manager``) stops at
    # the first duplicate. Every plugin after it, the OpenLineage provider's listener among them, is never
    # loaded, and no task event is sent. The installed package is what a user's workers import anyway.
    environment.pop("PYTHONPATH", None)
    return environment


def _run_backup(environment: dict[str, str], dag_id: str, *flags: str) -> dict[str, Any]:
    config = environment.get("JIRA_ASSETS_CONFIG") or os.environ["JIRA_ASSETS_CONFIG"]
    done = subprocess.run(
        [sys.executable, str(RUNNER), config, dag_id, *flags],
        cwd=environment["AIRFLOW_HOME"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=420,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, textwrap.shorten(done.stderr[-3000:], 3000)
    return {**json.loads(lines[-1].removeprefix("RESULT ")), "output": done.stdout + done.stderr}
