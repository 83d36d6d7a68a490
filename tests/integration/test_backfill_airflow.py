"""A week of LOC backfilled by Airflow's scheduler: ``airflow backfill create`` on the Celery stack.

The demo's LOC backup DAG on a daily schedule, a backfill of its last seven slots created with the CLI in
the stack's environment, two runs at a time, newest first. Each run stands for its logical date: one real
snapshot is taken (by whichever run gets there first) and every run rewinds it to its moment. Then the
restore DAG copies one of the reconstructed snapshots into LOC7 and verifies it.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pymongo
import pytest

from airflow_assets.devtools.celery_stack import CeleryStack, celery_stack, unavailable_reason
from airflow_assets.devtools.connections import sandbox_connection
from airflow_assets.devtools.demo import DEMO_CONFIG, DEMO_DAG_FILE
from airflow_assets.devtools.embedded_mongo import embedded_mongo
from airflow_assets.sandbox.launch import run_sandbox
from tests.integration.backup_support import client_for, dropped_afterwards, fresh_database_name

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

DAG_ID = "jira_assets_backup_demo_loc"
RESTORE_DAG = "jira_assets_restore"
POOL = "jira_assets_demo"
# Databases of its own: with AIRFLOW_ASSETS_MONGO_URI the test runs on a shared server.
MONGO_DATABASE = fresh_database_name()
DAYS = 7
# Daily at 02:00 UTC. The backfill ends at the latest slot: the one the scheduler would otherwise run
# (catchup off) when the DAG is unpaused. The backfill's run of that date is there first, so the scheduler
# creates no scheduled run beside the backfill's (and no real snapshot of its own).
HOUR = 2
DAILY = f"    conn_id: jira_assets_default\n    schedule: '0 {HOUR} * * *'\n"
MAX_ACTIVE_RUNS = 2
NEW_KEY = "LOC7"


def test_a_week_of_loc_backfilled_by_the_scheduler_then_restored(tmp_path: Path) -> None:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"Backfill end-to-end test needs PostgreSQL, Redis and the celery extra: {reason}")
    began = time.monotonic()
    timings: dict[str, float] = {}
    dags_folder = tmp_path / "dags"
    dags_folder.mkdir()
    (dags_folder / "jira_assets_backup.py").write_text(DEMO_DAG_FILE)
    config = dags_folder / "jira_assets.yaml"
    config.write_text(
        DEMO_CONFIG.replace("    conn_id: jira_assets_default\n", DAILY).replace(
            "database: jira_assets_backup}", f"database: {MONGO_DATABASE}}}"
        )
    )
    latest = _latest_slot(datetime.now(UTC))
    moments = [latest - timedelta(days=days) for days in range(DAYS - 1, -1, -1)]

    with embedded_mongo(tmp_path / "mongo") as mongo, run_sandbox(seed="demo") as sandbox:
        env = {
            "JIRA_ASSETS_CONFIG": str(config),
            "AIRFLOW_CONN_JIRA_ASSETS_DEFAULT": sandbox_connection(sandbox, rate_limit_scale=20),
            "AIRFLOW_CONN_JIRA_ASSETS_BACKUP": mongo.airflow_conn_uri(MONGO_DATABASE),
        }
        mongo_client: pymongo.MongoClient = pymongo.MongoClient(mongo.uri, tz_aware=True)
        with (
            mongo_client,
            dropped_afterwards(mongo_client, MONGO_DATABASE),
            celery_stack(tmp_path, dags_folder=dags_folder, env=env) as stack,
        ):
            stack.start()
            created = stack.run(str(Path(sys.executable).with_name("airflow-assets")), "pools", "create")
            assert f"pool {POOL}: 3 slots" in created.stdout, created.stdout
            stack.wait_until_healthy()
            stack.wait_for_dags([DAG_ID, RESTORE_DAG])
            timings["stack up"] = time.monotonic() - began

            # The backfill is created while the DAG is still paused (its runs wait queued), then unpaused.
            started = time.monotonic()
            backfill = stack.airflow(
                "backfill", "create", "--dag-id", DAG_ID,
                "--from-date", moments[0].isoformat(), "--to-date", moments[-1].isoformat(),
                "--run-backwards", "--max-active-runs", str(MAX_ACTIVE_RUNS),
            )  # fmt: skip
            timings["backfill create"] = time.monotonic() - started
            # The CLI creates every run at once (queued), newest first, and logs one line per run.
            assert backfill.stdout.count("Created backfill Dag run.") == DAYS, backfill.stdout
            stack.unpause(DAG_ID)
            stack.unpause(RESTORE_DAG)

            started = time.monotonic()
            runs = _wait_for_backfill(stack, DAG_ID, DAYS, timeout=600)
            timings["backfill runs"] = time.monotonic() - started
            states = {run["dag_run_id"]: run["state"] for run in runs}
            assert set(states.values()) == {"success"}, _failure(stack, runs)
            logical_dates = sorted(_moment(run["logical_date"]) for run in runs)
            assert logical_dates == moments, (logical_dates, moments)
            # Nothing else ran: no scheduled run of the latest slot beside the backfill's.
            every_run = stack.api("GET", f"dags/{DAG_ID}/dagRuns", params={"limit": 100})["dag_runs"]
            assert {run["run_type"] for run in every_run} == {"backfill"}, every_run
            backfills = stack.api("GET", "backfills", params={"dag_id": DAG_ID})["backfills"]
            assert len(backfills) == 1 and backfills[0]["max_active_runs"] == MAX_ACTIVE_RUNS, backfills

            # The backfill's own limit, not the DAG's max_active_runs=1; newest date first.
            peak = _peak_overlap(runs)
            assert peak == MAX_ACTIVE_RUNS, (peak, runs)
            by_date = {_moment(run["logical_date"]): run for run in runs}
            assert _moment(by_date[moments[-1]]["start_date"]) <= _moment(by_date[moments[0]]["start_date"])

            # One run took the base; the others skipped the export steps (another run's base exists).
            tasks = {run["dag_run_id"]: stack.task_states(DAG_ID, run["dag_run_id"]) for run in runs}
            exported = [run_id for run_id, task in tasks.items() if task["export_objects"] == "success"]
            assert len(exported) == 1, tasks
            others = [task for run_id, task in tasks.items() if run_id not in exported]
            # export_config succeeds (it is the run's setup: skipping it would skip reconstruct_past too).
            assert all(task["export_config"] == "success" for task in tasks.values()), tasks
            assert all(task["export_objects"] == "skipped" for task in others), tasks

            db = mongo_client[MONGO_DATABASE]
            real = list(db["snapshots"].find({"schema_key": "LOC", "kind": {"$ne": "reconstructed"}}))
            assert len(real) == 1, [snapshot["_id"] for snapshot in real]
            base = real[0]
            assert base["status"] == "complete", base
            assert ":backfill-base-" in base["_id"], base["_id"]
            assert base["run_id"] == exported[0], (base["run_id"], exported)
            assert base["counts"]["objects"] == sandbox.seed.object_counts["LOC"], base["counts"]

            # Each reconstruction holds its run's moment, rewound from the one base.
            reconstructed = list(db["snapshots"].find({"schema_key": "LOC", "kind": "reconstructed"}))
            by_moment = {snapshot["state_at"]: snapshot for snapshot in reconstructed}
            assert len(by_moment) == len(reconstructed) and set(by_moment) <= set(moments), sorted(by_moment)
            for moment, snapshot in by_moment.items():
                run = by_date[moment]
                assert snapshot["status"] == "complete", snapshot["_id"]
                assert snapshot["run_id"] == run["dag_run_id"], (snapshot["_id"], snapshot["run_id"])
                assert snapshot["_id"] == f"{base['workspace_id']}:{base['schema_id']}:at:{_iso_ms(moment)}"
                fidelity = snapshot["fidelity"]
                assert fidelity["base_snapshot_id"] == base["_id"], fidelity
                # The demo's history is older than any moment of the week: nothing to rewind or leave out.
                assert fidelity["objects_left_out_created_later"] == 0, fidelity
                assert snapshot["counts"]["objects"] == base["counts"]["objects"], snapshot["counts"]

            # Every run reconstructed its moment: seven snapshots, one per logical date.
            states = {run_id: task["reconstruct_past"] for run_id, task in tasks.items()}
            assert set(states.values()) == {"success"}, f"reconstruct_past states: {states}"
            assert sorted(by_moment) == moments, (sorted(by_moment), moments)

            # Restore the oldest reconstruction into a new key, and verify it.
            chosen = by_moment[min(by_moment)]
            conf = {
                "schema_mappings": [{"old_key": "LOC", "new_key": NEW_KEY}],
                "snapshot": chosen["_id"],
                "dry_run": False,
            }
            started = time.monotonic()
            restore = {RESTORE_DAG: stack.trigger(RESTORE_DAG, conf)}
            restore_states = stack.wait_for_runs(restore, timeout=180)
            timings["restore"] = time.monotonic() - started
            assert restore_states[RESTORE_DAG] == "success", (
                stack.task_states(RESTORE_DAG, restore[RESTORE_DAG]),
                stack.logs(40),
            )
            report = db["restores"].find_one({"_id": f"{RESTORE_DAG}:{restore[RESTORE_DAG]}"})
            assert report is not None
            verify = report["steps"]["verify"]
            assert verify["ok"] is True, verify
            assert chosen["_id"] in json.dumps(report, default=str), report

            client = client_for(sandbox)
            copies = [s for s in client.iter_object_schemas() if s.get("objectSchemaKey") == NEW_KEY]
            assert len(copies) == 1, copies
            restored = client.count_objects(f"objectSchemaId = {copies[0]['id']}")
            assert restored == chosen["counts"]["objects"], (restored, chosen["counts"])
            timings["total"] = time.monotonic() - began
            print(
                f"\nbackfill of {DAYS} days, {MAX_ACTIVE_RUNS} at a time: peak {peak} runs at once, "
                f"{len(reconstructed)} moments reconstructed, {chosen['state_at']:%Y-%m-%d} restored into "
                f"{NEW_KEY} ({restored} objects); "
                + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items())
            )


def _latest_slot(now: datetime) -> datetime:
    """Return the latest daily slot at ``HOUR``:00 UTC at or before ``now``."""
    slot = now.replace(hour=HOUR, minute=0, second=0, microsecond=0)
    return slot if slot <= now else slot - timedelta(days=1)


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _iso_ms(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _wait_for_backfill(
    stack: CeleryStack, dag_id: str, count: int, *, timeout: float
) -> list[dict[str, Any]]:
    """Wait until ``count`` backfill runs of ``dag_id`` exist and have all ended; return them."""
    deadline = time.monotonic() + timeout
    runs: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        stack.check_alive()
        listed = stack.api("GET", f"dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]
        runs = [run for run in listed if run["run_type"] == "backfill"]
        if len(runs) >= count and all(run["state"] in ("success", "failed") for run in runs):
            return runs
        time.sleep(2)
    raise AssertionError(f"backfill runs not ended after {timeout:.0f} s: {_failure(stack, runs)}")


def _peak_overlap(runs: Sequence[Mapping[str, Any]]) -> int:
    """Return the most runs running at one moment (one ending as another starts do not overlap)."""
    events = []
    for run in runs:
        if run.get("start_date") and run.get("end_date"):
            events.append((_moment(run["start_date"]), 1))
            events.append((_moment(run["end_date"]), -1))
    running = peak = 0
    for _, change in sorted(events):
        running += change
        peak = max(peak, running)
    return peak


def _failure(stack: CeleryStack, runs: Sequence[Mapping[str, Any]]) -> str:
    """Say each run's state and task states, and the tail of every component's log."""
    described = {
        f"{run['logical_date']} {run['dag_run_id']} {run['state']}": stack.task_states(
            DAG_ID, run["dag_run_id"]
        )
        for run in runs
    }
    return f"{json.dumps(described, indent=1)}\n{stack.logs(40)}"
