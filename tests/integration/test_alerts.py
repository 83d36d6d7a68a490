"""Alerts and Airflow Asset events, in real Airflow (``dag.test()``) against the sandbox and MongoDB."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from airflow_assets.sandbox.launch import RunningSandbox
from airflow_assets.store import SnapshotStore
from tests.integration.backup_support import client_for
from tests.integration.conftest import BackupDags

pytestmark = pytest.mark.slow


def _alerts(path: Path) -> list[dict[str, Any]]:
    """Return what the file notifier was sent."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _alerting(path: Path, **monitor: Any) -> str:
    settings = ", ".join(f"{key}: {value}" for key, value in monitor.items())
    return f"{{notify: [{{kind: file, path: '{path}'}}], monitor: {{{settings}}}}}"


def test_a_completed_snapshot_updates_the_schema_asset_with_its_id_and_counts(
    backup_dags: BackupDags, sandbox: RunningSandbox, mongo_db: Database
) -> None:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    dag = backup_dags("LOC")["jira_assets_backup_test_loc"]

    run = dag.test()

    assert str(run.state) == "success"
    snapshot = SnapshotStore(mongo_db).find_for_run(dag.dag_id, run.run_id)
    assert snapshot is not None
    with create_session() as session:
        events = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.uri == "jira-assets://test/LOC")
            .all()
        )
        extras = [event.extra for event in events]
    assert {"snapshot_id": snapshot.snapshot_id, "objects": sandbox.seed.object_counts["LOC"]} in [
        {"snapshot_id": extra["snapshot_id"], "objects": extra["counts"]["objects"]} for extra in extras
    ]


def test_the_monitor_alerts_when_a_schema_has_no_snapshot_and_is_quiet_once_it_has_a_fresh_one(
    backup_dags: BackupDags, tmp_path: Path
) -> None:
    alerts = tmp_path / "alerts.jsonl"
    dags = backup_dags("LOC", alerts=_alerting(alerts))

    first = dags["jira_assets_monitor"].test()

    assert str(first.state) == "failed"
    sent = _alerts(alerts)
    assert len(sent) == 1 and sent[0]["dag_id"] == "jira_assets_monitor"
    assert "test/LOC: no complete snapshot at all" in sent[0]["message"]

    assert str(dags["jira_assets_backup_test_loc"].test().state) == "success"
    second = backup_dags("LOC", alerts=_alerting(alerts))["jira_assets_monitor"].test()

    assert str(second.state) == "success"
    assert len(_alerts(alerts)) == 1


def test_the_monitor_alerts_on_a_stale_snapshot_and_on_a_mass_deletion(
    backup_dags: BackupDags, sandbox: RunningSandbox, mongo_db: Database, tmp_path: Path
) -> None:
    alerts = tmp_path / "alerts.jsonl"
    dags = backup_dags("LOC", alerts=_alerting(alerts, max_object_drop=0.25))
    assert str(dags["jira_assets_backup_test_loc"].test().state) == "success"
    # The daily backup last finished three days ago.
    mongo_db["snapshots"].update_many({}, {"$set": {"finished_at": datetime.now(UTC) - timedelta(days=3)}})

    stale = backup_dags("LOC", alerts=_alerting(alerts, max_object_drop=0.25))["jira_assets_monitor"].test()

    assert str(stale.state) == "failed"
    assert "finished 3.0 days ago" in _alerts(alerts)[-1]["message"]
    assert "more than the 2.0 days allowed" in _alerts(alerts)[-1]["message"]

    # A third of the locations are deleted by mistake; the next backup shows it.
    client = client_for(sandbox)
    objects = list(client.iter_objects(f"objectSchemaId = {sandbox.seed.schema_ids['LOC']}", page_size=100))
    for obj in objects[: len(objects) // 3]:
        client.delete_object(str(obj["id"]))
    dags = backup_dags("LOC", alerts=_alerting(alerts, max_object_drop=0.25))
    assert str(dags["jira_assets_backup_test_loc"].test().state) == "success"

    shrank = dags["jira_assets_monitor"].test()

    assert str(shrank.state) == "failed"
    message = _alerts(alerts)[-1]["message"]
    assert f"holds {len(objects) - len(objects) // 3} objects, {len(objects) // 3} (" in message
    assert "recreate_missing" in message and "allowed" not in message


def test_every_dag_of_the_package_alerts_on_failure(backup_dags: BackupDags, tmp_path: Path) -> None:
    dags = backup_dags("LOC", "ITAM", alerts=_alerting(tmp_path / "alerts.jsonl"))

    for dag in dags.values():
        for task in dag.tasks:
            callbacks = task.on_failure_callback
            assert callbacks, f"{dag.dag_id}.{task.task_id} has no failure notifier"


def test_the_monitor_judges_real_backups_only_not_a_backfills_reconstructions(mongo_db: Database) -> None:
    from airflow_assets.backup.monitor import SchemaWatch, check_snapshots

    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    common = {
        "site": "test",
        "schema_key": "LOC",
        "workspace_id": "ws",
        "schema_id": "3",
        "status": "complete",
    }
    mongo_db["snapshots"].insert_many(
        [
            # The last real backup, three days old, with 40 objects.
            {**common, "_id": "real", "seq": 1, "kind": "full", "finished_at": now - timedelta(days=3),
             "counts": {"objects": 40}},
            # A backfill rebuilt a day of last year just now, when the schema had 5 objects.
            {**common, "_id": "past", "seq": -(2**40) + 1, "kind": "reconstructed",
             "finished_at": now - timedelta(minutes=5), "counts": {"objects": 5}},
        ]
    )  # fmt: skip

    findings = check_snapshots(
        mongo_db, [SchemaWatch("test", "LOC", "0 2 * * *", "UTC")], now=now, max_age_hours=None,
        max_object_drop=0.5,
    )  # fmt: skip

    assert [finding.kind for finding in findings] == ["stale"], findings
