"""The generated backup DAGs run in real Airflow (``dag.test()``) against the sandbox and embedded MongoDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pymongo.database import Database

from airflow_assets.backup.objects import export_objects
from airflow_assets.backup.run import BackupRun
from airflow_assets.backup.schema_config import export_config
from airflow_assets.sandbox.launch import RunningSandbox
from airflow_assets.store import SnapshotStore
from tests.integration.backup_support import (
    client_for,
    collection_counts,
    live_objects,
    stored,
    target,
)
from tests.integration.conftest import BackupDags

pytestmark = pytest.mark.slow


def _task_states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def test_a_backup_run_stores_what_the_site_holds(
    backup_dags: BackupDags, sandbox: RunningSandbox, mongo_db: Database
) -> None:
    dag = backup_dags("ITAM")["jira_assets_backup_test_itam"]

    dag_run = dag.test()

    assert str(dag_run.state) == "success", _task_states(dag_run)
    snapshot = SnapshotStore(mongo_db).find_for_run(dag.dag_id, dag_run.run_id)
    assert snapshot is not None and snapshot.status == "complete"
    client = client_for(sandbox)
    schema_id = sandbox.seed.schema_ids["ITAM"]
    # Every object, with every attribute value, exactly as the site answers it one by one.
    expected = live_objects(client, schema_id)
    assert {item["id"]: item for item in stored(mongo_db, snapshot.snapshot_id, "object")} == expected
    counts = snapshot.document["counts"]
    for type_name in ("Laptop", "Server", "Application"):
        type_id = sandbox.seed.type_ids[type_name]
        assert counts["per_type"][type_id] == sandbox.seed.type_counts[type_name]
    # Every attribute definition of every type, every history entry, comment and connected ticket.
    attributes = {
        str(attribute["id"])
        for object_type in client.get_object_types(schema_id)
        for attribute in client.get_object_type_attributes(str(object_type["id"]))
    }
    assert {item["id"] for item in stored(mongo_db, snapshot.snapshot_id, "attribute")} == attributes
    history = sum(len(client.get_object_history(object_id)) for object_id in expected)
    comments = sum(len(client.get_object_comments(object_id)) for object_id in expected)
    tickets = sum(len(client.get_connected_tickets(object_id)["tickets"]) for object_id in expected)
    assert (counts["history_entries"], counts["comments"], counts["tickets"]) == (history, comments, tickets)
    assert history and comments and tickets
    # Each task leaves a small summary in XCom.
    summary = dag_run.get_task_instance("export_objects").xcom_pull(task_ids="export_objects")
    assert summary["listed"] == len(expected)


def test_a_run_with_nothing_changed_writes_no_versions_and_a_repeated_run_no_duplicates(
    backup_dags: BackupDags, sandbox: RunningSandbox, mongo_db: Database
) -> None:
    dag = backup_dags("LOC")["jira_assets_backup_test_loc"]
    first = dag.test()
    after_first = collection_counts(mongo_db)

    second = dag.test()

    assert str(first.state) == str(second.state) == "success"
    after_second = collection_counts(mongo_db)
    assert after_second["versions"] == after_first["versions"]
    assert after_second["spans"] == after_first["spans"]
    assert after_second["snapshots"] == after_first["snapshots"] + 1
    snapshots = SnapshotStore(mongo_db)
    older = snapshots.find_for_run(dag.dag_id, first.run_id)
    newer = snapshots.find_for_run(dag.dag_id, second.run_id)
    assert older is not None and newer is not None
    assert newer.kind == "incremental" and newer.document["steps"]["export_objects"]["new_versions"] == 0
    # Both snapshots read back the same schema.
    assert list(stored(mongo_db, older.snapshot_id, "object")) == list(
        stored(mongo_db, newer.snapshot_id, "object")
    )


def test_a_run_killed_after_export_objects_does_not_hide_changes_from_the_next_run(
    backup_dags: BackupDags, sandbox: RunningSandbox, mongo_db: Database
) -> None:
    dag = backup_dags("LOC")["jira_assets_backup_test_loc"]
    assert str(dag.test().state) == "success"
    client = client_for(sandbox)
    schema_id = sandbox.seed.schema_ids["LOC"]
    country = sandbox.seed.type_ids["Country"]
    objects = [i for i, data in live_objects(client, schema_id).items() if data["objectTypeId"] == country]
    name = next(a["id"] for a in client.get_object_type_attributes(country) if a["name"] == "Name")
    for number, object_id in enumerate(objects[:3]):
        client.update_object(
            object_id,
            {
                "attributes": [
                    {"objectTypeAttributeId": name, "objectAttributeValues": [{"value": f"Land {number}"}]}
                ]
            },
        )
        client.create_comment(object_id, f"renamed during the night ({number})")
    # A run whose worker was killed -9 right after export_objects: those two steps ran, nothing else did,
    # not even the teardown (the same code the DAG's tasks run).
    killed = BackupRun(dag.dag_id, "manual__killed", "manual", *(datetime.now(UTC),) * 4)
    config = export_config(client, mongo_db, target("LOC"), killed)
    export_objects(client, mongo_db, config.snapshot_id)

    next_run = dag.test()

    assert str(next_run.state) == "success", _task_states(next_run)
    snapshot = SnapshotStore(mongo_db).find_for_run(dag.dag_id, next_run.run_id)
    assert snapshot is not None and snapshot.kind == "incremental"
    everything = live_objects(client, schema_id)
    history = sum(len(client.get_object_history(object_id)) for object_id in everything)
    comments = sum(len(client.get_object_comments(object_id)) for object_id in everything)
    counts = snapshot.document["counts"]
    assert (counts["history_entries"], counts["comments"]) == (history, comments)


def test_a_run_for_a_past_date_takes_a_base_then_reconstructs_its_moment(
    backup_dags: BackupDags, sandbox: RunningSandbox, mongo_db: Database
) -> None:
    dag = backup_dags("LOC")["jira_assets_backup_test_loc"]
    moment = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0)

    dag_run = dag.test(logical_date=moment)

    states = _task_states(dag_run)
    assert str(dag_run.state) == "success", states
    assert states["reconstruct_past"] == "success", states
    snapshots = SnapshotStore(mongo_db)
    # No snapshot was taken after that moment: the run took one now, as the base to rewind.
    base = snapshots.find_for_run(dag.dag_id, dag_run.run_id)
    assert base is not None and base.status == "complete" and base.kind == "full"
    assert "backfill-base" in base.snapshot_id and base.document["taken_for"]
    reconstructed = snapshots.reconstructed_for_run(dag.dag_id, dag_run.run_id)
    assert reconstructed is not None and reconstructed.status == "complete"
    assert reconstructed.state_at is not None
    assert reconstructed.state_at.replace(tzinfo=UTC) == moment
    assert reconstructed.document["fidelity"]["base_snapshot_id"] == base.snapshot_id
    summary = dag_run.get_task_instance("reconstruct_past").xcom_pull(task_ids="reconstruct_past")
    assert summary["snapshot_id"] == reconstructed.snapshot_id and summary["history_calls"] == 0
    assert summary["objects"] == reconstructed.document["counts"]["objects"] > 0

    # A run of an earlier date now finds that base: it takes no snapshot of its own, only reconstructs.
    earlier = dag.test(logical_date=moment - timedelta(days=1))
    states = _task_states(earlier)
    assert str(earlier.state) == "success", states
    assert states["export_objects"] == "skipped" and states["reconstruct_past"] == "success", states
    assert snapshots.find_for_run(dag.dag_id, earlier.run_id) is None
    second = snapshots.reconstructed_for_run(dag.dag_id, earlier.run_id)
    assert second is not None and second.status == "complete"
    assert second.document["fidelity"]["base_snapshot_id"] == base.snapshot_id

    # A run of the present does not reconstruct anything.
    now_run = dag.test()
    assert _task_states(now_run)["reconstruct_past"] == "skipped"


def test_a_broken_entry_becomes_a_placeholder_that_fails_naming_the_field(backup_dags: BackupDags) -> None:
    dags = backup_dags("ITAM", "{key: ITAM2, schedule: every day}")

    assert "jira_assets_backup_test_itam" in dags
    placeholder = dags["jira_assets_backup_test_itam2"]
    assert [task.task_id for task in placeholder.tasks] == ["config_error"]
    assert "sites.test.schemas[1].schedule" in (placeholder.doc_md or "")
    dag_run = placeholder.test()
    assert str(dag_run.state) == "failed"


def test_the_retention_dag_forgets_beyond_the_policy_and_its_dry_run_changes_nothing(
    backup_dags: BackupDags, mongo_db: Database
) -> None:
    dags = backup_dags("LOC")  # the config keeps the last 3 snapshots of each schema
    backup, retention = dags["jira_assets_backup_test_loc"], dags["jira_assets_retention"]
    for _ in range(4):
        assert str(backup.test().state) == "success"
    before = collection_counts(mongo_db)

    dry = retention.test(run_conf={"dry_run": True})

    assert str(dry.state) == "success"
    assert collection_counts(mongo_db) == before
    report = dry.get_task_instance("forget_and_prune").xcom_pull(task_ids="forget_and_prune")
    assert report["dry_run"] is True

    assert str(retention.test(run_conf={"dry_run": False}).state) == "success"
    kept = list(SnapshotStore(mongo_db).list(status="complete"))
    assert len(kept) == 3
    for snapshot in kept:  # every kept snapshot still reads back whole
        assert (
            len(list(stored(mongo_db, snapshot.snapshot_id, "object")))
            == snapshot.document["counts"]["objects"]
        )
