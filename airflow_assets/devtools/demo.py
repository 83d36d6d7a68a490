"""The end-to-end demo: a sandbox site, an embedded MongoDB, and the backup DAGs run by real Airflow."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pymongo.database import Database


DEMO_CONFIG = """\
# Written by `airflow-assets demo`: back up every schema of the demo sandbox.
mongo: {conn_id: jira_assets_backup, database: jira_assets_backup}
sites:
  demo:
    conn_id: jira_assets_default
    schemas: [PEOPLE, LOC, {key: ITAM, include: {connected_tickets: true}}]
    include: {history: true, comments: true}
retention: {keep_last: 7, keep_daily: 14, keep_weekly: 8, keep_monthly: 12}
"""
DEMO_DAG_FILE = """\
# Written by `airflow-assets demo`: the same two lines a deployment's dags/ folder holds.
from airflow_assets.dags import build_from_config

globals().update(build_from_config())
"""


def run_demo(*, workdir: str | os.PathLike[str] = ".demo") -> int:
    """Start the sandbox and the embedded MongoDB, list the demo schemas, then back each one up with Airflow.

    :param workdir: directory for the demo's Airflow home and MongoDB data (kept between runs).
    """
    root = Path(workdir).resolve()
    # Airflow reads its configuration at import time: point it at the demo's own home first, and keep a
    # developer's secrets backend out of it (it is asked before environment variables, and could hand the
    # demo a real site's jira_assets_default instead of the sandbox).
    os.environ["AIRFLOW_HOME"] = str(root / "airflow")
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    # dag.test() logs every scheduling step at INFO: keep the demo's own lines readable.
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    os.environ.pop("AIRFLOW__SECRETS__BACKEND", None)
    Path(os.environ["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    # The demo's own DAG folder and backup config, as a deployment would have them.
    dags = root / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    (dags / "jira_assets_backup.py").write_text(DEMO_DAG_FILE)
    (dags / "jira_assets.yaml").write_text(DEMO_CONFIG)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
    os.environ["JIRA_ASSETS_CONFIG"] = str(dags / "jira_assets.yaml")
    # A stop request unwinds the context managers below (sandbox, MongoDB) instead of killing the process.
    signal.signal(signal.SIGTERM, _exit_on_signal)

    from airflow.providers.mongo.hooks.mongo import MongoHook

    from airflow_assets.devtools.connections import sandbox_connection
    from airflow_assets.devtools.embedded_mongo import embedded_mongo
    from airflow_assets.hooks import JiraAssetsHook
    from airflow_assets.sandbox.launch import run_sandbox

    with embedded_mongo(root / "mongo") as mongo, run_sandbox(seed="demo") as sandbox:
        print(f"sandbox (a local Jira Cloud site with Assets): {sandbox.url}")
        print(f"embedded MongoDB (SecantusDB):                 {mongo.uri}")
        # The same connections a deployment defines in the UI or in its secrets backend.
        # The sandbox enforces no limit: pace at 20x the documented ones so the demo takes seconds.
        os.environ["AIRFLOW_CONN_JIRA_ASSETS_DEFAULT"] = sandbox_connection(sandbox, rate_limit_scale=20)
        os.environ["AIRFLOW_CONN_JIRA_ASSETS_BACKUP"] = mongo.airflow_conn_uri("jira_assets_backup")

        hook = JiraAssetsHook()
        ok, message = hook.test_connection()
        print(f"connection jira_assets_default: {'OK' if ok else 'FAILED'} - {message}")
        if not ok:
            return 1
        client = hook.get_client()
        print()
        print(f"{'key':<10} {'schema':<24} {'object types':>12} {'objects':>8}")
        total = 0
        for schema in client.iter_object_schemas():
            objects = client.count_objects(f"objectSchemaId = {schema['id']}")
            types = len(client.get_object_types(schema["id"]))
            total += objects
            print(f"{schema['objectSchemaKey']:<10} {schema['name']:<24} {types:>12} {objects:>8}")
        print(f"{'':<10} {'total':<24} {'':>12} {total:>8}")

        backup_db = MongoHook(mongo_conn_id="jira_assets_backup").get_conn()["jira_assets_backup"]
        reply = backup_db.command("ping")
        version = backup_db.client.server_info().get("version", "?")
        print()
        print(
            f"connection jira_assets_backup: MongoDB wire protocol, "
            f"server version {version}, ping ok={reply['ok']}"
        )
        print()
        return _run_backups(backup_db)
    return 0


def _run_backups(backup_db: Database) -> int:
    """Run every backup DAG once with ``dag.test()``; print each schema's snapshot and counts."""
    from airflow.utils.db import initdb

    from airflow_assets.dags import build_from_config
    from airflow_assets.store import SnapshotStore

    initdb()
    snapshots = SnapshotStore(backup_db)
    columns = ("objects", "history_entries", "comments", "tickets")
    headings = "".join(f" {column.split('_')[0]:>8}" for column in columns)
    print(f"{'backup DAG':<34} {'state':<8}{headings}  snapshot")
    failed = 0
    for dag_id, dag in sorted(build_from_config().items()):
        if not dag_id.startswith("jira_assets_backup_"):
            continue
        dag_run = dag.test()
        snapshot = snapshots.find_for_run(dag_id, dag_run.run_id)
        counts = snapshot.document.get("counts", {}) if snapshot else {}
        state = str(dag_run.state)
        failed += state != "success"
        figures = "".join(f" {counts.get(column, '-'):>8}" for column in columns)
        print(f"{dag_id:<34} {state:<8}{figures}  {snapshot.snapshot_id if snapshot else '-'}")
    return 1 if failed else 0


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)
