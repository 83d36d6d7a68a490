"""The end-to-end demo: a sandbox site, an embedded MongoDB and the Assets client, wired through Airflow."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from types import FrameType


def run_demo(*, workdir: str | os.PathLike[str] = ".demo") -> int:
    """Start the sandbox and the embedded MongoDB, then list the demo schemas with object counts.

    :param workdir: directory for the demo's Airflow home and MongoDB data (kept between runs).
    """
    root = Path(workdir).resolve()
    # Airflow reads its configuration at import time: point it at the demo's own home first, and keep a
    # developer's secrets backend out of it (it is asked before environment variables, and could hand the
    # demo a real site's jira_assets_default instead of the sandbox).
    os.environ["AIRFLOW_HOME"] = str(root / "airflow")
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ.pop("AIRFLOW__SECRETS__BACKEND", None)
    Path(os.environ["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    # A stop request unwinds the context managers below (sandbox, MongoDB) instead of killing the process.
    signal.signal(signal.SIGTERM, _exit_on_signal)

    from airflow.providers.mongo.hooks.mongo import MongoHook

    from airflow_assets.devtools.embedded_mongo import embedded_mongo
    from airflow_assets.hooks import JiraAssetsHook
    from airflow_assets.sandbox.launch import run_sandbox

    with embedded_mongo(root / "mongo") as mongo, run_sandbox(seed="demo") as sandbox:
        print(f"sandbox (a local Jira Cloud site with Assets): {sandbox.url}")
        print(f"embedded MongoDB (SecantusDB):                 {mongo.uri}")
        # The same connections a deployment defines in the UI or in its secrets backend.
        os.environ["AIRFLOW_CONN_JIRA_ASSETS_DEFAULT"] = json.dumps(
            {
                "conn_type": "jira_assets",
                "host": sandbox.url,
                "login": sandbox.email,
                "password": sandbox.api_token,
                "extra": {"api_base_url": sandbox.url + "/jsm/assets/workspace/{workspaceId}/v1"},
            }
        )
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
    return 0


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)
