"""Restore drills against the sandbox: the drill DAG in real Airflow (``dag.test()``), a failing target, a
restore that breaks half-way, and a try killed with its scratch schema on the target."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from airflow_assets.devtools.connections import sandbox_connection
from airflow_assets.devtools.embedded_mongo import EmbeddedMongo
from airflow_assets.restore.drill import DrillTarget, run_drill, scratch_key
from airflow_assets.sandbox.launch import RunningSandbox
from airflow_assets.store.drills import drill_history
from tests.integration.backup_support import REPO, accepted, back_up, client_for
from tests.integration.conftest import BackupDags

pytestmark = pytest.mark.slow

DRILL_CONN = "jira_assets_drill"


def _drill_section(**settings: Any) -> str:
    fields = {"target_conn_id": DRILL_CONN, "schemas": "[LOC]", **settings}
    return "drills: {" + ", ".join(f"{key}: {value}" for key, value in fields.items()) + "}"


def _scratch_schemas(sandbox: RunningSandbox) -> list[str]:
    return [
        str(s["objectSchemaKey"])
        for s in client_for(sandbox).iter_object_schemas()
        if str(s["objectSchemaKey"]).startswith("DRL")
    ]


def _states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def _cli(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> str:
    from airflow_assets.cli import main

    capsys.readouterr()
    code = main([*args, "--config", str(config)])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_the_drill_dag_restores_verifies_records_the_rto_and_deletes_the_scratch_schema(
    backup_dags: BackupDags, sandbox: RunningSandbox, mongo_db: Database, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{DRILL_CONN.upper()}", sandbox_connection(sandbox, rate_limit_scale=100)
    )
    dags = backup_dags("LOC", extra=_drill_section())
    config = tmp_path / "jira_assets.yaml"
    assert str(dags["jira_assets_backup_test_loc"].test().state) == "success"
    assert "test/LOC: never restored" in _cli(capsys, config, "snapshots", "list")
    assert json.loads(_cli(capsys, config, "drills", "list", "--json")) == []
    keys_before = {str(s["objectSchemaKey"]) for s in client_for(sandbox).iter_object_schemas()}
    creates_before = accepted(sandbox, "POST object/create")

    run = dags["jira_assets_drill"].test()

    assert str(run.state) == "success", _states(run)
    [record] = drill_history(mongo_db)
    count = sandbox.seed.object_counts["LOC"]
    assert record["status"] == "succeeded" and record["verify_ok"] is True
    assert record["objects"] == record["objects_total"] == count and record["partial"] is False
    assert record["seconds"] > 0 and record["objects_per_min"] == pytest.approx(
        count / record["seconds"] * 60, 0.01
    )
    assert record["bound_seconds"] > 0 and record["ratio"] == pytest.approx(
        record["bound_seconds"] / record["seconds"], abs=0.01
    )
    assert record["scratch_key"] == scratch_key(run.run_id, "test", "LOC")
    assert record["scratch_deleted"] is True and record["errors"] == []
    # The objects were really created on the target, and the scratch schema is gone again.
    assert accepted(sandbox, "POST object/create") - creates_before >= count
    assert _scratch_schemas(sandbox) == []
    assert {str(s["objectSchemaKey"]) for s in client_for(sandbox).iter_object_schemas()} == keys_before
    # The history and the snapshots page say it.
    [row] = json.loads(_cli(capsys, config, "drills", "list", "--json"))
    assert row["id"] == record["_id"] and row["status"] == "succeeded" and row["seconds"] == record["seconds"]
    assert "test/LOC" in _cli(capsys, config, "drills", "list")
    listed = _cli(capsys, config, "snapshots", "list")
    assert f"test/LOC: restored and verified 0 days ago: {count} objects in " in listed
    [snapshot] = json.loads(_cli(capsys, config, "snapshots", "list", "--json"))
    assert snapshot["last_drill"]["id"] == record["_id"] and snapshot["last_drill"]["objects"] == count


def test_a_drill_into_a_refused_target_records_the_failure_and_alerts(
    backup_dags: BackupDags, sandbox: RunningSandbox, mongo_db: Database, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:  # fmt: skip
    wrong = sandbox_connection(sandbox, rate_limit_scale=100).replace(sandbox.api_token, "not-the-token")
    monkeypatch.setenv(f"AIRFLOW_CONN_{DRILL_CONN.upper()}", wrong)
    alerts = tmp_path / "alerts.jsonl"
    dags = backup_dags(
        "LOC", alerts=f"{{notify: [{{kind: file, path: '{alerts}'}}]}}", extra=_drill_section()
    )
    assert str(dags["jira_assets_backup_test_loc"].test().state) == "success"

    run = dags["jira_assets_drill"].test()

    assert str(run.state) == "failed"
    assert _states(run)["drill_test_loc"] == "failed"
    [record] = drill_history(mongo_db)
    assert record["status"] == "failed"
    assert any("401" in error or "auth" in error.lower() for error in record["errors"]), record["errors"]
    assert "not-the-token" not in json.dumps(record, default=str)
    sent = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert [alert for alert in sent if alert.get("task_id") == "drill_test_loc"], sent
    assert _scratch_schemas(sandbox) == []


def _target(run_id: str, **options: Any) -> DrillTarget:
    return DrillTarget(
        dag_id="jira_assets_drill", run_id=run_id, site="test", schema_key="LOC",
        target_conn_id=DRILL_CONN, max_objects=options.pop("max_objects", 10_000), sites=("test",),
    )  # fmt: skip


def test_a_restore_that_breaks_half_way_is_recorded_and_its_scratch_schema_still_deleted(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    back_up(client, mongo_db, "LOC", "run-1")
    created: list[str] = []
    seen_on_target: list[list[str]] = []

    def crash_after_three(old_id: str) -> None:
        created.append(old_id)
        if len(created) == 3:
            seen_on_target.append(_scratch_schemas(sandbox))
            raise ConnectionResetError("the target went away")

    with pytest.raises(ConnectionResetError):
        run_drill(
            mongo_db,
            _target("manual__1"),
            lambda _: client,
            settle_seconds=0.05,
            on_created=crash_after_three,
        )

    assert seen_on_target == [[scratch_key("manual__1", "test", "LOC")]]  # it existed, with objects
    [record] = drill_history(mongo_db)
    assert record["status"] == "failed" and record["scratch_deleted"] is True
    assert record["errors"] == ["ConnectionResetError: the target went away"]
    assert _scratch_schemas(sandbox) == []


def test_a_drill_capped_by_max_objects_restores_whole_types_and_says_it_was_partial(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    back_up(client, mongo_db, "LOC", "run-1")
    total = sandbox.seed.object_counts["LOC"]

    result = run_drill(
        mongo_db, _target("manual__cap", max_objects=total - 1), lambda _: client, settle_seconds=0.05
    )

    assert result.partial and result.types
    assert 0 < result.objects <= total - 1 and result.objects_total == total
    assert result.verify_ok is True
    [record] = drill_history(mongo_db)
    assert record["partial"] is True and record["types"] == result.types
    assert _scratch_schemas(sandbox) == []


def test_a_retried_drill_deletes_what_the_killed_try_left_and_never_holds_two_scratch_schemas(
    sandbox: RunningSandbox, mongo_server: EmbeddedMongo, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    back_up(client, mongo_db, "LOC", "run-1")
    # The first try runs in its own process, paced slowly, and is SIGKILLed once its scratch schema holds
    # objects: its `finally` never runs.
    script = f"""
import pymongo
from airflow_assets.api import AssetsClient, RateLimits
from airflow_assets.restore.drill import DrillTarget, run_drill
client = AssetsClient(
    site_url={sandbox.url!r}, email={sandbox.email!r}, api_token={sandbox.api_token!r},
    api_base_url={sandbox.api_base_url!r},
    limits=RateLimits(default_limit=300, limits={{}}, total_limit=None),
)
db = pymongo.MongoClient({mongo_server.uri!r})[{mongo_db.name!r}]
target = DrillTarget("jira_assets_drill", "manual__k", "test", "LOC", {DRILL_CONN!r}, 10000, ("test",))
run_drill(db, target, lambda _: client, settle_seconds=0.05)
"""
    process = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=dict(os.environ))
    key = scratch_key("manual__k", "test", "LOC")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the first try ended before it could be killed"
        counts = {
            s["objectSchemaKey"]: s.get("objectCount")
            for s in client.iter_object_schemas(include_counts=True)
        }
        if counts.get(key):
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert _scratch_schemas(sandbox) == [key]  # the killed try left it
    during: list[int] = []

    result = run_drill(
        mongo_db, _target("manual__k"), lambda _: client, settle_seconds=0.05,
        on_created=lambda _: during.append(len(_scratch_schemas(sandbox))) if len(during) < 5 else None,
    )  # fmt: skip

    assert result.status == "succeeded" and result.objects == sandbox.seed.object_counts["LOC"]
    assert during and max(during) == 1
    assert _scratch_schemas(sandbox) == []
    [record] = drill_history(mongo_db)
    assert record["tries"] == 2 and record["status"] == "succeeded"


def test_the_monitor_alerts_when_a_drilled_schema_has_no_successful_drill_in_two_periods(
    backup_dags: BackupDags, sandbox: RunningSandbox, mongo_db: Database, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:  # fmt: skip
    from datetime import UTC, datetime, timedelta

    monkeypatch.setenv(
        f"AIRFLOW_CONN_{DRILL_CONN.upper()}", sandbox_connection(sandbox, rate_limit_scale=100)
    )
    alerts = tmp_path / "alerts.jsonl"
    config = {"alerts": f"{{notify: [{{kind: file, path: '{alerts}'}}]}}", "extra": _drill_section()}
    dags = backup_dags("LOC", **config)
    assert str(dags["jira_assets_backup_test_loc"].test().state) == "success"
    assert str(dags["jira_assets_drill"].test().state) == "success"
    assert str(dags["jira_assets_monitor"].test().state) == "success"

    # The drills kept failing since: the last successful one is 15 days old (weekly drills: 14 allowed).
    mongo_db["drills"].update_many({}, {"$set": {"finished_at": datetime.now(UTC) - timedelta(days=15)}})
    stale = backup_dags("LOC", **config)["jira_assets_monitor"].test()

    assert str(stale.state) == "failed"
    message = json.loads(alerts.read_text().splitlines()[-1])["message"]
    assert "test/LOC: the last successful restore drill finished 15.0 days ago" in message
    assert "more than two drill periods (14.0 days)" in message


def test_a_schema_backed_up_for_two_drill_periods_and_never_drilled_alerts(mongo_db: Database) -> None:
    from datetime import UTC, datetime, timedelta

    from airflow_assets.backup.drill_watch import DrillWatch, check_drills

    now = datetime(2026, 12, 7, 9, tzinfo=UTC)
    base = {"site": "test", "schema_key": "LOC", "workspace_id": "ws", "schema_id": "3", "status": "complete"}
    mongo_db["snapshots"].insert_one(
        {**base, "seq": 1, "kind": "full", "finished_at": now - timedelta(days=3)}
    )
    watch = [DrillWatch("test", "LOC", "0 5 * * 0", "UTC")]

    assert check_drills(mongo_db, watch, now=now) == []  # too young to have missed two drills
    mongo_db["snapshots"].insert_one(
        {**base, "seq": 0, "kind": "full", "finished_at": now - timedelta(days=20)}
    )
    [finding] = check_drills(mongo_db, watch, now=now)
    assert finding.kind == "never_drilled" and "never restored by a drill" in finding.message
    # A failed drill does not count; a successful one does.
    mongo_db["drills"].insert_one(
        {"site": "test", "schema_key": "LOC", "status": "failed", "finished_at": now}
    )
    assert [f.kind for f in check_drills(mongo_db, watch, now=now)] == ["never_drilled"]
    mongo_db["drills"].insert_one(
        {"site": "test", "schema_key": "LOC", "status": "succeeded", "finished_at": now}
    )
    assert check_drills(mongo_db, watch, now=now) == []


def test_a_schema_that_holds_the_scratch_key_but_is_no_drills_is_never_deleted(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    from airflow_assets.restore.drill import DrillFailedError

    client = client_for(sandbox)
    back_up(client, mongo_db, "LOC", "run-1")
    key = scratch_key("manual__taken", "test", "LOC")
    client.create_object_schema({"name": "Finance assets", "objectSchemaKey": key})

    with pytest.raises(DrillFailedError, match="not a drill's scratch schema: it is left alone"):
        run_drill(mongo_db, _target("manual__taken"), lambda _: client, settle_seconds=0.05)

    assert _scratch_schemas(sandbox) == [key]
    assert client.find_object_schema(key)["name"] == "Finance assets"
    [record] = drill_history(mongo_db)
    assert record["status"] == "failed" and "left alone" in record["errors"][0]
