"""Fixtures of the integration tests that run generated DAGs in real Airflow (``dag.test()``)."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pymongo
import pytest
from airflow.sdk import DAG
from pymongo.database import Database

from airflow_assets.dags import build_from_config
from airflow_assets.devtools.embedded_mongo import EmbeddedMongo
from airflow_assets.sandbox.launch import RunningSandbox
from tests.integration.backup_support import client_for, set_connections
from tests.integration.restore_support import back_up_demo


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[None]:
    """Create the Airflow metadata DB of the test session's Airflow home once."""
    from airflow.utils.db import initdb

    initdb()
    yield


@pytest.fixture(scope="session")
def demo_backup(mongo_server: EmbeddedMongo, demo_sandbox: RunningSandbox) -> Iterator[Database]:
    """Back up the demo schema LOC of the session's demo sandbox once; the database holding the snapshot.

    LOC only: the readers so far plan restores of LOC, and ITAM's history makes a backup of all three schemas
    cost more than the backups it saves. Add a key here when a reader needs it.

    Shared by every test that only reads it: such a test never writes snapshots, and gives each restore it
    plans an id of its own (the plan is stored in ``restores``). A test that backs up again, restores into the
    site or damages the store takes its own ``mongo_db``.
    """
    client: pymongo.MongoClient = pymongo.MongoClient(mongo_server.uri)
    db = client[f"test_demo_backup_{uuid.uuid4().hex[:8]}"]
    with client_for(demo_sandbox) as assets:
        back_up_demo(assets, db, keys=("LOC",))
    try:
        yield db
    finally:
        client.drop_database(db.name)
        client.close()


BackupDags = Callable[..., dict[str, DAG]]


@pytest.fixture
def backup_dags(
    airflow_db: None,
    sandbox: RunningSandbox,
    mongo_server: EmbeddedMongo,
    mongo_db: Database,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> BackupDags:
    """Connect to the sandbox and the test's database; return a builder of the DAGs of a config for schemas.

    The config is written to a file and the repository's DAG file is pointed at it: dag.test() parses it.
    """
    set_connections(monkeypatch, sandbox, mongo_server, mongo_db.name)

    def build(*schemas: str, alerts: str = "", extra: str = "") -> dict[str, DAG]:
        config = tmp_path / "jira_assets.yaml"
        config.write_text(
            textwrap.dedent(
                f"""
                mongo: {{conn_id: jira_assets_backup, database: {mongo_db.name}}}
                sites:
                  test:
                    conn_id: jira_assets_default
                    schemas: [{", ".join(schemas)}]
                    include: {{history: true, comments: true, connected_tickets: true}}
                retention: {{keep_last: 3}}
                """
            )
            + (f"alerts: {alerts}\n" if alerts else "")
            + (f"{extra}\n" if extra else "")  # further top-level sections, e.g. drills
        )
        monkeypatch.setenv("JIRA_ASSETS_CONFIG", str(config))
        return build_from_config(config)

    return build
