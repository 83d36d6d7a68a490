"""backup_now: a whole backup of one schema in-process (before a rollback), on the sandbox and MongoDB."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pymongo
import pytest
from pymongo.database import Database

from airflow_assets.api import AssetsClient
from airflow_assets.backup.activity import export_activity
from airflow_assets.backup.adhoc import BackupBusyError, backup_now, present_run
from airflow_assets.backup.finalize import finalize
from airflow_assets.backup.objects import export_objects
from airflow_assets.backup.schema_config import export_config
from airflow_assets.dags.plan import RestoreDagSpec, plan_dags
from airflow_assets.devtools.embedded_mongo import EmbeddedMongo
from airflow_assets.exceptions import AssetsConfigError, AssetsTransportError
from airflow_assets.operators.restore import RestoreStepOperator
from airflow_assets.restore import RestoreSession
from airflow_assets.restore.request import SchemaMapping
from airflow_assets.sandbox.launch import RunningSandbox
from airflow_assets.sandbox.seed import SeedSummary
from airflow_assets.store import SnapshotStore
from airflow_assets.store.hashing import canonical_json
from airflow_assets.store.snapshots import COMPLETE, FAILED, RUNNING
from airflow_assets.tools.snapshots_list import snapshot_rows
from tests.integration.backup_support import (
    REPO,
    back_up,
    client_for,
    collection_counts,
    dropped_afterwards,
    fresh_database_name,
    live_objects,
    run_info,
    set_connections,
    stored,
    target,
)
from tests.integration.restore_support import session

pytestmark = pytest.mark.slow

DAG_ID = "jira_assets_backup_test_loc"
KEY = b"a snapshot key of the rollback tests, 32+ bytes long"
KINDS = ("object", "history", "comment", "ticket", "object_type", "attribute", "status_type", "schema")


def _everything(db: Database, snapshot_id: str) -> dict[str, set[str]]:
    return {kind: {canonical_json(item) for item in stored(db, snapshot_id, kind)} for kind in KINDS}


def _step_by_step(client: AssetsClient, db: Database, key: str, run_id: str) -> str:
    """Back up as the backup DAG's tasks do, one step after the other (what backup_now must match)."""
    config = export_config(client, db, target(key), run_info(run_id))
    export_objects(client, db, config.snapshot_id)
    for what in ("history", "comments", "tickets"):
        export_activity(client, db, config.snapshot_id, what)
    finalize(client, db, config.snapshot_id, key=KEY)
    return config.snapshot_id


def _seed(sandbox: RunningSandbox) -> SeedSummary:
    assert sandbox.seed is not None
    return sandbox.seed


def _snapshot_of(db: Database, snapshot_id: str) -> Any:
    snapshot = SnapshotStore(db).get(snapshot_id)
    assert snapshot is not None, snapshot_id
    return snapshot


def _change_the_site(client: AssetsClient, sandbox: RunningSandbox) -> None:
    """Delete two locations and rename a third: the live schema is no longer the seeded one."""
    objects = sorted(live_objects(client, _seed(sandbox).schema_ids["LOC"]), key=int)
    for object_id in objects[:2]:
        client.delete_object(object_id)
    client.create_comment(objects[2], "moved to the new wing ✓")


def test_backup_now_takes_a_complete_snapshot_with_what_the_dag_steps_store(
    sandbox: RunningSandbox, mongo_server: EmbeddedMongo, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    _change_the_site(client, sandbox)
    live = live_objects(client, _seed(sandbox).schema_ids["LOC"])

    done = backup_now(
        client, mongo_db, target("LOC"), present_run(DAG_ID, "rollback__manual_1"), key=KEY,
        taken_for="rollback jira_assets_restore:manual_1",
    )  # fmt: skip

    snapshot = _snapshot_of(mongo_db, done.snapshot_id)
    assert snapshot.status == COMPLETE and not done.already_complete
    assert done.counts["objects"] == snapshot.objects == len(live) == _seed(sandbox).object_counts["LOC"] - 2
    assert {str(item["id"]) for item in stored(mongo_db, done.snapshot_id, "object")} == set(live)
    # Recorded as a manual run of the schema's backup DAG, of the present, saying why it was taken.
    assert (snapshot.dag_id, snapshot.run_id, snapshot.run_type) == (DAG_ID, "rollback__manual_1", "manual")
    assert snapshot.run_kind == "real"
    assert snapshot.document["taken_for"] == "rollback jira_assets_restore:manual_1"
    row = next(row for row in snapshot_rows(mongo_db) if row["id"] == done.snapshot_id)
    assert row["taken_for"] == "rollback jira_assets_restore:manual_1" and row["status"] == "complete"
    # The same content as the backup DAG's steps store, taken one after the other into another database.
    server: pymongo.MongoClient = pymongo.MongoClient(mongo_server.uri)
    with server:
        reference = server[fresh_database_name("reference")]
        with dropped_afterwards(server, reference.name):
            reference_id = _step_by_step(client, reference, "LOC", "scheduled_1")
            assert _everything(mongo_db, done.snapshot_id) == _everything(reference, reference_id)
            assert snapshot.counts == _snapshot_of(reference, reference_id).counts


def test_a_second_call_for_the_same_run_returns_its_snapshot_and_writes_nothing(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    first = backup_now(client, mongo_db, target("LOC"), present_run(DAG_ID, "rollback__twice"), key=KEY)
    before = collection_counts(mongo_db)
    _change_the_site(client, sandbox)  # a retry an hour later must not take the changed site instead

    again = backup_now(client, mongo_db, target("LOC"), present_run(DAG_ID, "rollback__twice"), key=KEY)

    assert again.snapshot_id == first.snapshot_id and again.seq == first.seq
    assert again.already_complete and again.counts == first.counts
    assert collection_counts(mongo_db) == before
    assert len(list(SnapshotStore(mongo_db).list())) == 1


def test_a_run_of_a_past_date_is_refused(sandbox: RunningSandbox, mongo_db: Database) -> None:
    past = run_info("backfill__2026-01-01", run_type="backfill")

    with pytest.raises(AssetsConfigError, match="backup of the present"):
        backup_now(client_for(sandbox), mongo_db, target("LOC"), past, key=KEY)

    assert mongo_db["snapshots"].count_documents({}) == 0


def test_a_scheduled_backup_at_work_is_waited_for_and_named_when_it_takes_too_long(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    scheduled_id = "scheduled__2026-12-07T02:00:00+00:00"
    # The schema's backup DAG run started a moment ago: export_config opened its snapshot and holds the lease.
    other = export_config(client, mongo_db, target("LOC"), run_info(scheduled_id, run_type="scheduled"))
    run = present_run(DAG_ID, "rollback__busy")

    busy = f"schema LOC (id 2) is being written by backup run {scheduled_id} of DAG jira_assets_backup_test "
    with pytest.raises(BackupBusyError, match=re.escape(busy)):
        backup_now(client, mongo_db, target("LOC"), run, key=KEY, wait=0.5, poll=0.1)

    # Nothing opened, nothing superseded: the scheduled run goes on.
    assert SnapshotStore(mongo_db).find_for_run(DAG_ID, "rollback__busy") is None
    assert _snapshot_of(mongo_db, other.snapshot_id).status == RUNNING

    def finish_the_scheduled_run() -> None:
        time.sleep(1.0)
        with client_for(sandbox) as own:
            export_objects(own, mongo_db, other.snapshot_id)
            for what in ("history", "comments", "tickets"):
                export_activity(own, mongo_db, other.snapshot_id, what)
            finalize(own, mongo_db, other.snapshot_id)

    worker = threading.Thread(target=finish_the_scheduled_run)
    worker.start()
    try:
        done = backup_now(client, mongo_db, target("LOC"), run, key=KEY, wait=120, poll=0.1)
    finally:
        worker.join(timeout=120)

    assert done.waited_seconds >= 1.0
    scheduled = _snapshot_of(mongo_db, other.snapshot_id)
    assert scheduled.status == COMPLETE and done.seq > scheduled.seq
    assert _snapshot_of(mongo_db, done.snapshot_id).status == COMPLETE
    assert done.counts["objects"] == scheduled.objects == _seed(sandbox).object_counts["LOC"]


def test_a_process_killed_in_the_middle_is_resumed_by_the_retry(
    sandbox: RunningSandbox, mongo_server: EmbeddedMongo, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    _change_the_site(client, sandbox)
    script = f"""
import pymongo
from airflow_assets.api import AssetsClient, RateLimits
from airflow_assets.backup.adhoc import backup_now, present_run
from tests.integration.backup_support import target
client = AssetsClient(
    site_url={sandbox.url!r}, email={sandbox.email!r}, api_token={sandbox.api_token!r},
    api_base_url={sandbox.api_base_url!r},
    limits=RateLimits(default_limit=600, limits={{}}, total_limit=None),
)
db = pymongo.MongoClient({mongo_server.uri!r})[{mongo_db.name!r}]
backup_now(client, db, target("LOC"), present_run({DAG_ID!r}, "rollback__killed"), key={KEY!r})
"""
    process = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=dict(os.environ))
    snapshots = SnapshotStore(mongo_db)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = snapshots.find_for_run(DAG_ID, "rollback__killed")
        if found is not None and "export_objects" in found.steps:
            break
        assert process.poll() is None, "the backup ended before it could be killed"
        time.sleep(0.05)
    assert process.poll() is None, "the backup ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    killed = snapshots.find_for_run(DAG_ID, "rollback__killed")
    assert killed is not None and killed.status == RUNNING

    # The retry (Airflow's next try of the task) joins the lease the killed try left, finishes its snapshot.
    done = backup_now(client, mongo_db, target("LOC"), present_run(DAG_ID, "rollback__killed"), key=KEY)

    assert (done.snapshot_id, done.seq) == (killed.snapshot_id, killed.seq)
    assert done.waited_seconds < 5
    live = live_objects(client, _seed(sandbox).schema_ids["LOC"])
    assert {str(item["id"]) for item in stored(mongo_db, done.snapshot_id, "object")} == set(live)
    assert len(list(snapshots.list())) == 1


class _CommentsFail:
    """The sandbox's client whose comment reads fail as a dropped connection would, after all retries."""

    def __init__(self, client: AssetsClient) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_object_comments(self, object_id: str) -> Any:
        raise AssetsTransportError(
            "connection reset by peer (injected)", method="GET", endpoint=f"comment/list/{object_id}"
        )


def test_a_step_that_fails_marks_the_snapshot_failed_and_the_retry_completes_it(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    _change_the_site(client, sandbox)  # LOC's seed has no comments: add one
    run = present_run(DAG_ID, "rollback__flaky")
    broken: Any = _CommentsFail(client)

    with pytest.raises(AssetsTransportError, match="injected"):
        backup_now(broken, mongo_db, target("LOC"), run, key=KEY)

    failed = SnapshotStore(mongo_db).find_for_run(DAG_ID, "rollback__flaky")
    assert failed is not None and failed.status == FAILED
    # Its lease is free at once: a scheduled backup of the schema need not wait for it to lapse.
    assert mongo_db["leases"].find_one({"holder": failed.snapshot_id}) is None

    done = backup_now(client, mongo_db, target("LOC"), run, key=KEY)

    assert (done.snapshot_id, done.seq) == (failed.snapshot_id, failed.seq)
    assert _snapshot_of(mongo_db, done.snapshot_id).status == COMPLETE
    assert done.counts["comments"] == 1


def test_a_snapshot_superseded_by_a_newer_run_is_taken_again_under_an_attempt_id(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    run = present_run(DAG_ID, "rollback__overtaken")
    # The first try opened its snapshot and stalled; its lease lapsed and the schema's scheduled run began
    # (superseding it) and completed.
    first = export_config(client, mongo_db, target("LOC"), run)
    mongo_db["leases"].update_many({}, {"$set": {"expires_at": datetime.now(UTC) - timedelta(minutes=2)}})
    newer = back_up(client, mongo_db, "LOC", "scheduled__after")
    assert _snapshot_of(mongo_db, first.snapshot_id).status == FAILED

    done = backup_now(client, mongo_db, target("LOC"), run, key=KEY)
    again = backup_now(client, mongo_db, target("LOC"), run, key=KEY)

    assert done.run_id == "rollback__overtaken.2" and done.seq > newer.seq
    assert _snapshot_of(mongo_db, done.snapshot_id).status == COMPLETE
    assert (again.snapshot_id, again.already_complete) == (done.snapshot_id, True)


def test_the_restore_task_backup_before_backs_up_the_live_schema_of_a_rollback_once(
    sandbox: RunningSandbox, mongo_server: EmbeddedMongo, mongo_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connections(monkeypatch, sandbox, mongo_server, mongo_db.name)
    client = client_for(sandbox)
    back_up(client, mongo_db, "LOC", "scheduled__1")
    config = "sites: {test: {conn_id: jira_assets_default, schemas: [LOC]}}\nretention: {keep_last: 3}\n"
    spec = next(spec for spec in plan_dags(config, source="x") if isinstance(spec, RestoreDagSpec))
    operator = RestoreStepOperator(
        task_id="backup_before",
        step="backup_before",
        site_connections=spec.site_connections,
        backup_targets=spec.backup_targets,
    )
    restore_id = "jira_assets_restore:manual__r1"
    planned = session(
        client, mongo_db, {"schema_mappings": "LOC -> LOC2", "dry_run": False}, restore_id=restore_id
    )
    planned.plan()
    # The lead's rollback mode: the same stored plan, writing into the live schema LOC itself.
    request = dataclasses.replace(planned.request, mode="rollback", mappings=(SchemaMapping("LOC", "LOC"),))
    rollback = RestoreSession(request, mongo_db, client, planned.settings)
    dag_run = SimpleNamespace(run_id="manual__r1")

    first = operator._backup_before(rollback, dag_run)
    again = operator._backup_before(rollback, dag_run)
    other_mode = operator._backup_before(planned, dag_run)

    taken = first["backup_before"]["LOC"]
    assert again["backup_before"] == {"LOC": taken} and again["schemas"]["LOC"]["already_complete"]
    assert rollback.ledger.document()["backup_before"] == {"LOC": taken}
    snapshot = _snapshot_of(mongo_db, taken)
    assert snapshot.status == COMPLETE and snapshot.objects == _seed(sandbox).object_counts["LOC"]
    assert (snapshot.dag_id, snapshot.run_id) == ("jira_assets_backup_test_loc", "rollback__manual__r1")
    assert snapshot.document["taken_for"] == f"rollback {restore_id}"
    assert other_mode == {
        "skipped": "mode new_schema changes no existing object: no backup is taken before it writes"
    }
    assert mongo_db["snapshots"].count_documents({}) == 2
