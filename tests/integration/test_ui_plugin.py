"""The plugin in Airflow's own API server app: mounted, listed for the UI, protected, reading the store.

A fresh interpreter builds Airflow's real FastAPI app (``airflow.api_fastapi.app.create_app``), which loads
the plugin from a plugins folder (the provider's ``airflow.plugins`` entry point does the same once the
package is installed), with the backup connection stored in Airflow's metadata database, as a user adds it
in the UI: the page must find it there, though the Task SDK's lookup outside a task does not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pymongo
import pytest

from airflow_assets.devtools.embedded_mongo import EmbeddedMongo
from airflow_assets.store.reader import short_id
from tests.integration.backup_support import REPO, back_up, client_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SCRIPT = """
import json, sys
from airflow.utils.db import initdb
initdb()
from airflow.models import Connection
from airflow.utils.session import create_session
with create_session() as session:
    session.add(Connection(conn_id="jira_assets_backup", uri=sys.argv[1]))
from airflow.api_fastapi.app import create_app, get_auth_manager
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
from fastapi.testclient import TestClient
client = TestClient(create_app("all"))
result = {"anonymous": client.get("/jira-assets/").status_code}
token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
plugins = client.get("/api/v2/plugins", headers={"Authorization": f"Bearer {token}"}).json()["plugins"]
result["plugin"] = next(p for p in plugins if p["name"] == "jira_assets")
client.cookies.set("_token", token)
page = client.get("/jira-assets/")
result["page"] = [page.status_code, page.text]
print("RESULT " + json.dumps(result))
"""


def test_airflow_mounts_the_page_lists_its_views_and_the_page_reads_a_ui_connection(
    mongo_server: EmbeddedMongo, demo_sandbox: object, tmp_path: Path
) -> None:
    mongo: pymongo.MongoClient = pymongo.MongoClient(mongo_server.uri)
    name = f"test_{uuid.uuid4().hex[:12]}"
    try:
        with client_for(demo_sandbox) as assets:  # type: ignore[arg-type]
            snapshot = back_up(assets, mongo[name], "LOC", "run_1")
        plugins = tmp_path / "plugins"
        plugins.mkdir()
        plugin_file = plugins / "jira_assets_page.py"
        plugin_file.write_text("from airflow_assets.ui.plugin import JiraAssetsPlugin\n")
        config = tmp_path / "jira_assets.yaml"
        config.write_text(
            textwrap.dedent(
                f"""
                mongo: {{conn_id: jira_assets_backup, database: {name}}}
                sites:
                  test:
                    conn_id: jira_assets_default
                    schemas: [LOC]
                """
            )
        )
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AIRFLOW_CONN_", "AIRFLOW__", "_AIRFLOW"))
        }
        env.update(
            AIRFLOW_HOME=str(tmp_path / "home"),
            AIRFLOW__CORE__PLUGINS_FOLDER=str(plugins),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__DAGS_FOLDER=str(tmp_path / "dags"),
            JIRA_ASSETS_CONFIG=str(config),
            PYTHONPATH=str(REPO),
        )
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, mongo_server.airflow_conn_uri(name)],
            env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path,
        )  # fmt: skip
        line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
        assert line is not None, done.stderr[-3000:]
        result = json.loads(line.removeprefix("RESULT "))
    finally:
        mongo.drop_database(name)
        mongo.close()

    assert result["anonymous"] == 401
    plugin = result["plugin"]
    assert [app["url_prefix"] for app in plugin["fastapi_apps"]] == ["/jira-assets"]
    views = {view["destination"]: view["href"] for view in plugin["external_views"]}
    assert views == {
        "nav": "jira-assets/",
        "dag": "jira-assets/dag/{DAG_ID}",
        "dag_run": "jira-assets/run/{DAG_ID}/{RUN_ID}",
    }
    status, text = result["page"]
    assert status == 200, text[:500]
    assert 'data-schema="test/LOC"' in text and short_id(snapshot.snapshot_id) in text
    assert "mongo://" not in text and "mongodb://" not in text
