"""The demo's DAGs on Airflow with the CeleryExecutor: PostgreSQL, Redis, two workers, over the REST API.

The deployment's compose file started as native processes (``airflow_assets.devtools.celery_stack``): the
three backups run at once on two workers within the site's pool, a restore copies LOC into LOC2 and
verifies it, and what they stored matches the same backups made in-process.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pymongo
import pytest
from pymongo.database import Database

from airflow_assets.devtools.celery_stack import CeleryStack, celery_stack, unavailable_reason
from airflow_assets.devtools.connections import sandbox_connection
from airflow_assets.devtools.demo import DEMO_CONFIG, DEMO_DAG_FILE
from airflow_assets.devtools.embedded_mongo import embedded_mongo
from airflow_assets.sandbox.launch import run_sandbox
from airflow_assets.store import SnapshotStore
from airflow_assets.store.layout import SPANS
from tests.integration.backup_support import back_up, client_for, dropped_afterwards, fresh_database_name

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

BACKUP_DAGS = {
    "jira_assets_backup_demo_people": "PEOPLE",
    "jira_assets_backup_demo_loc": "LOC",
    "jira_assets_backup_demo_itam": "ITAM",
}
RESTORE_DAG = "jira_assets_restore"
POOL = "jira_assets_demo"
BACKUP_INCLUDE = {"history": True, "comments": True, "connected_tickets": False}
INCLUDE_OVERRIDES = {"ITAM": {"connected_tickets": True}}
RESTORE_CONF = {"schema_mappings": [{"old_key": "LOC", "new_key": "LOC2"}], "dry_run": False}
# The weekly restore drill of LOC, into a staging connection (here the same sandbox), triggered by the test.
DRILL_DAG = "jira_assets_drill"
DRILLS = "drills: {target_conn_id: jira_assets_drill, schemas: [LOC], schedule: '0 0 29 2 *'}\n"
# Databases of its own: with AIRFLOW_ASSETS_MONGO_URI the test runs on a shared server.
MONGO_DATABASE = fresh_database_name()
REFERENCE_DATABASE = fresh_database_name("reference")
# The demo's config, but on a schedule whose latest slot lies before the DAGs' start date: an unpaused
# backup DAG gets no scheduled run beside the ones the test triggers.
NEVER_SOON = "    conn_id: jira_assets_default\n    schedule: '0 0 29 2 *'\n"
# A team's warehouse load, scheduled on the LOC backups' Airflow Asset (the README's example).
DOWNSTREAM_DAG = "load_loc_snapshots"
DOWNSTREAM_FILE = f"""\
import pendulum
from airflow.sdk import DAG, Asset, task

LOC_SNAPSHOTS = Asset("jira-assets://demo/LOC")

with DAG(
    dag_id="{DOWNSTREAM_DAG}",
    schedule=[LOC_SNAPSHOTS],
    start_date=pendulum.datetime(2025, 1, 1),
    catchup=False,
):

    @task
    def load(*, triggering_asset_events=None):
        return [event.extra["snapshot_id"] for event in triggering_asset_events[LOC_SNAPSHOTS]]

    load()
"""


def test_demo_backups_and_a_restore_run_on_two_celery_workers_like_dag_test(tmp_path: Path) -> None:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"Celery end-to-end test needs PostgreSQL, Redis and the celery extra: {reason}")
    began = time.monotonic()
    timings: dict[str, float] = {}
    dags_folder = tmp_path / "dags"
    dags_folder.mkdir()
    (dags_folder / "jira_assets_backup.py").write_text(DEMO_DAG_FILE)
    (dags_folder / "load_loc_snapshots.py").write_text(DOWNSTREAM_FILE)
    config = dags_folder / "jira_assets.yaml"
    config.write_text(
        DEMO_CONFIG.replace("    conn_id: jira_assets_default\n", NEVER_SOON).replace(
            "database: jira_assets_backup}", f"database: {MONGO_DATABASE}}}"
        )
        + DRILLS
    )

    with embedded_mongo(tmp_path / "mongo") as mongo, run_sandbox(seed="demo") as sandbox:
        env = {
            "JIRA_ASSETS_CONFIG": str(config),
            "AIRFLOW_CONN_JIRA_ASSETS_DEFAULT": sandbox_connection(sandbox, rate_limit_scale=20),
            "AIRFLOW_CONN_JIRA_ASSETS_BACKUP": mongo.airflow_conn_uri(MONGO_DATABASE),
            "AIRFLOW_CONN_JIRA_ASSETS_DRILL": sandbox_connection(sandbox, rate_limit_scale=20),
        }
        mongo_client: pymongo.MongoClient = pymongo.MongoClient(mongo.uri)
        with (
            mongo_client,
            dropped_afterwards(mongo_client, MONGO_DATABASE, REFERENCE_DATABASE),
            celery_stack(tmp_path, dags_folder=dags_folder, env=env) as stack,
        ):
            timings["db migrate"] = time.monotonic() - began
            stack.start()
            # The pool, from the same config, while the components start.
            created = stack.run(str(Path(sys.executable).with_name("airflow-assets")), "pools", "create")
            assert f"pool {POOL}: 3 slots" in created.stdout, created.stdout
            stack.wait_until_healthy()
            stack.wait_for_dags([*BACKUP_DAGS, RESTORE_DAG, DOWNSTREAM_DAG, DRILL_DAG])
            for dag_id in [*BACKUP_DAGS, RESTORE_DAG, DOWNSTREAM_DAG, DRILL_DAG]:
                stack.unpause(dag_id)
            timings["stack up"] = time.monotonic() - began

            # All three at once: their tasks overlap, compete for the pool and spread over both workers.
            started = time.monotonic()
            backups = {dag_id: stack.trigger(dag_id) for dag_id in BACKUP_DAGS}
            states = stack.wait_for_runs(backups, timeout=150)
            assert set(states.values()) == {"success"}, _failure(stack, backups, states)
            timings["backups"] = time.monotonic() - started

            # The same backups made in-process, the plain-Python path the operators call, into another DB.
            started = time.monotonic()
            db = mongo_client[MONGO_DATABASE]
            reference = mongo_client[REFERENCE_DATABASE]
            client = client_for(sandbox)
            snapshots = {}
            for dag_id, key in BACKUP_DAGS.items():
                made = SnapshotStore(db).find_for_run(dag_id, backups[dag_id])
                assert made is not None and made.status == "complete", (dag_id, made)
                include = {**BACKUP_INCLUDE, **INCLUDE_OVERRIDES.get(key, {})}
                expected = SnapshotStore(reference).get(
                    back_up(client, reference, key, "reference", include=include).snapshot_id
                )
                assert expected is not None
                assert made.document.get("counts") == expected.document.get("counts"), key
                assert _held_versions(db, made) == _held_versions(reference, expected), key
                snapshots[key] = made
            timings["reference backups"] = time.monotonic() - started

            # The LOC snapshot's Airflow Asset event started the downstream DAG, which read the snapshot id.
            loaded = _wait_for_asset_run(stack, DOWNSTREAM_DAG, timeout=90)
            assert snapshots["LOC"].snapshot_id in json.dumps(loaded), loaded

            started = time.monotonic()
            restore = {RESTORE_DAG: stack.trigger(RESTORE_DAG, RESTORE_CONF)}
            states = stack.wait_for_runs(restore, timeout=120)
            assert states[RESTORE_DAG] == "success", _failure(stack, restore, states)
            timings["restore"] = time.monotonic() - started
            assert stack.task_states(RESTORE_DAG, restore[RESTORE_DAG])["verify"] == "success"
            report = db["restores"].find_one({"_id": f"{RESTORE_DAG}:{restore[RESTORE_DAG]}"})
            assert report is not None
            verify = report["steps"]["verify"]
            assert verify["ok"] is True, verify
            loc_objects = snapshots["LOC"].document["counts"]["objects"]
            assert verify["objects_checked"] == loc_objects == sandbox.seed.object_counts["LOC"], verify

            # The restore drill of LOC: restored, verified, recorded, its scratch schema deleted again.
            started = time.monotonic()
            drill = {DRILL_DAG: stack.trigger(DRILL_DAG)}
            states = stack.wait_for_runs(drill, timeout=120)
            assert states[DRILL_DAG] == "success", _failure(stack, drill, states)
            timings["drill"] = time.monotonic() - started
            record = db["drills"].find_one({"_id": f"{DRILL_DAG}:{drill[DRILL_DAG]}:demo/LOC"})
            assert record is not None and record["status"] == "succeeded", record
            assert record["verify_ok"] is True and record["objects"] == loc_objects, record
            assert record["scratch_deleted"] is True
            assert not [s for s in client.iter_object_schemas() if s["objectSchemaKey"].startswith("DRL")]

            # Both workers executed tasks (the REST API names the same host for both: their logs tell).
            executed = {worker.name: stack.executed_on(worker) for worker in stack.workers}
            assert all(executed.values()), executed
            runs = {**backups, **restore, **drill}
            task_instances = [
                ti for dag_id, run_id in runs.items() for ti in stack.task_instances(dag_id, run_id)
            ]
            ran = sum(len(tasks) for tasks in executed.values())
            assert ran >= sum(ti["state"] == "success" for ti in task_instances), (ran, executed)

            # No more API tasks of the site ran at once than its pool has slots, and the pool was filled.
            slots = stack.api("GET", f"pools/{POOL}")["slots"]
            in_pool = [ti for ti in task_instances if ti["pool"] == POOL]
            peak = _peak_overlap(in_pool)
            assert 2 <= peak <= slots, (peak, slots)
            timings["total"] = time.monotonic() - began
            spread = {name: len(tasks) for name, tasks in executed.items()}
            print(
                f"\ncelery stack: tasks per worker {spread}, pool {POOL} peak {peak} of {slots} slots; "
                + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items())
            )


def _held_versions(db: Database, snapshot: Any) -> set[tuple[str, str, str]]:
    """Return (kind, item id, content hash) of every version a snapshot holds."""
    spans = db[SPANS].find(
        {
            "ws": snapshot.workspace_id,
            "schema_id": snapshot.schema_id,
            "from_seq": {"$lte": snapshot.seq},
            "to_seq": {"$gt": snapshot.seq},
        },
        {"kind": 1, "item_id": 1, "hash": 1},
    )
    return {(span["kind"], span["item_id"], span["hash"]) for span in spans}


def _peak_overlap(task_instances: Iterable[Mapping[str, Any]]) -> int:
    """Return the most task instances running at one moment (one ending as another starts do not overlap)."""
    events = []
    for ti in task_instances:
        if ti.get("start_date") and ti.get("end_date"):
            events.append((datetime.fromisoformat(ti["start_date"]), 1))
            events.append((datetime.fromisoformat(ti["end_date"]), -1))
    running = peak = 0
    for _, change in sorted(events):
        running += change
        peak = max(peak, running)
    return peak


def _failure(stack: CeleryStack, runs: Mapping[str, str], states: Mapping[str, str]) -> str:
    """Say which runs failed, their task states and the tail of the scheduler's and workers' logs."""
    tasks = {dag_id: stack.task_states(dag_id, run_id) for dag_id, run_id in runs.items()}
    return f"run states {dict(states)}; task states {tasks}\n{stack.logs(40)}"


def _wait_for_asset_run(stack: Any, dag_id: str, *, timeout: float) -> Any:
    """Wait for the first asset-triggered run of ``dag_id`` to succeed; return its task's XCom value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = stack.api("GET", f"dags/{dag_id}/dagRuns")["dag_runs"]
        done = [run for run in runs if run["state"] == "success"]
        if done:
            run_id = done[0]["dag_run_id"]
            assert done[0]["run_type"] == "asset_triggered", done[0]
            entry = stack.api(
                "GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/load/xcomEntries/return_value"
            )
            return entry["value"]
        assert not [run for run in runs if run["state"] == "failed"], runs
        time.sleep(1)
    raise AssertionError(f"no run of {dag_id} succeeded within {timeout} s of the backups")
