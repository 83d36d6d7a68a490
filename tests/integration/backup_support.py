"""Helpers of the backup tests: connections to a sandbox and the embedded MongoDB, the expected state."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pymongo
import pytest
from pymongo.database import Database

from airflow_assets.api import AssetsClient, RateLimits
from airflow_assets.backup.adhoc import backup_now
from airflow_assets.backup.run import BackupRun
from airflow_assets.backup.schema_config import BackupTarget, ConfigSummary
from airflow_assets.devtools.connections import sandbox_connection
from airflow_assets.devtools.embedded_mongo import EmbeddedMongo
from airflow_assets.model import normalize as norm
from airflow_assets.sandbox.launch import RunningSandbox
from airflow_assets.store import SnapshotStore
from tests.fast_retry import FAST_RETRY

# The sandbox enforces no limit unless asked: pace at 100x the documented ones so tests stay fast.
FAST_LIMITS = RateLimits(default_limit=100_000, limits={}, total_limit=None)
ALL_INCLUDED = {"history": True, "comments": True, "connected_tickets": True}


REPO = Path(__file__).resolve().parents[2]


def client_for(sandbox: RunningSandbox, **options: Any) -> AssetsClient:
    """Return a client of ``sandbox`` that paces fast and retries quickly."""
    return AssetsClient(
        site_url=sandbox.url,
        email=sandbox.email,
        api_token=sandbox.api_token,
        api_base_url=sandbox.api_base_url,
        limits=options.pop("limits", FAST_LIMITS),
        retry=options.pop("retry", FAST_RETRY),
        **options,
    )


def accepted(sandbox: RunningSandbox, klass: str) -> int:
    """Return how many requests of an endpoint class the sandbox served."""
    return sandbox.realism.stats.accepted.get(klass, 0)


def set_connections(
    monkeypatch: pytest.MonkeyPatch, sandbox: RunningSandbox, mongo: EmbeddedMongo, db: str
) -> None:
    """Point ``jira_assets_default`` at the sandbox and ``jira_assets_backup`` at the embedded MongoDB."""
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_ASSETS_DEFAULT", sandbox_connection(sandbox, rate_limit_scale=100))
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_ASSETS_BACKUP", mongo.airflow_conn_uri(db))


def target(key: str, *, include: dict[str, bool] | None = None, full_sweep_every: int = 7) -> BackupTarget:
    """Return the backup target of schema ``key`` of the site ``test``."""
    return BackupTarget(
        site="test",
        schema_key=key,
        include=include if include is not None else ALL_INCLUDED,
        full_sweep_every=full_sweep_every,
        schedule="0 2 * * *",
        timezone="UTC",
    )


def run_info(run_id: str, *, run_type: str = "manual") -> BackupRun:
    """Return a run happening now."""
    now = datetime.now(UTC)
    return BackupRun("jira_assets_backup_test", run_id, run_type, now, now, now, now)


def back_up(
    client: AssetsClient, db: Database, key: str, run_id: str, **target_options: Any
) -> ConfigSummary:
    """Run every step of a backup of ``key`` in plain Python, as the DAG does; return the config summary."""
    done = backup_now(client, db, target(key, **target_options), run_info(run_id), key=None, wait=600)
    snapshot = SnapshotStore(db).get(done.snapshot_id)
    assert snapshot is not None
    return ConfigSummary(**snapshot.steps["export_config"])


def live_objects(client: AssetsClient, schema_id: str) -> dict[str, dict[str, Any]]:
    """Return every object of a schema, normalised, read one by one (another path than the backup's)."""
    objects = {}
    for listed in client.iter_objects(
        f"objectSchemaId = {schema_id}", page_size=1000, include_attributes=False
    ):
        raw = client.get_object(str(listed["id"]))
        objects[str(raw["id"])] = norm.normalize_object(raw)
    return objects


def stored(db: Database, snapshot_id: str, kind: str) -> Iterator[dict[str, Any]]:
    """Yield the content of every item of ``kind`` a snapshot holds."""
    snapshot = SnapshotStore(db).get(snapshot_id)
    assert snapshot is not None
    yield from snapshot.versions(db).read(kind, snapshot.seq)


def collection_counts(db: Database) -> dict[str, int]:
    """Return the number of documents of every collection."""
    return {name: db[name].count_documents({}) for name in sorted(db.list_collection_names())}


def mongo_database(mongo: EmbeddedMongo, name: str) -> Database:
    """Return a fresh database of the test server whose name starts with ``name`` (the caller drops it)."""
    return pymongo.MongoClient(mongo.uri)[fresh_database_name(name)]


def fresh_database_name(prefix: str = "test") -> str:
    """Return a database name no other test uses (AIRFLOW_ASSETS_MONGO_URI may name a shared server)."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@contextmanager
def dropped_afterwards(client: pymongo.MongoClient, *names: str) -> Iterator[None]:
    """Drop the test's own databases when the block exits."""
    try:
        yield
    finally:
        for name in names:
            client.drop_database(name)


def kill_step_after_checkpoint(
    sandbox: RunningSandbox, mongo: EmbeddedMongo, db: Database, snapshot_id: str, what: str, setup: str
) -> int:
    """Run ``export_activity(..., what)`` in its own process, paced slowly; SIGKILL it once it checkpointed.

    :param setup: Python lines run first in the process (e.g. smaller batches, so a checkpoint comes early).
    :return: the object id the checkpoint had reached when the process was killed.
    """
    script = f"""
import pymongo
from airflow_assets.api import AssetsClient, RateLimits
from airflow_assets.backup.activity import export_activity
{setup}
client = AssetsClient(
    site_url={sandbox.url!r}, email={sandbox.email!r}, api_token={sandbox.api_token!r},
    api_base_url={sandbox.api_base_url!r},
    limits=RateLimits(default_limit=600, limits={{}}, total_limit=None),
)
db = pymongo.MongoClient({mongo.uri!r})[{db.name!r}]
export_activity(client, db, {snapshot_id!r}, {what!r})
"""
    process = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=dict(os.environ))
    checkpoint = f"{snapshot_id}|export_{what}"
    deadline = time.monotonic() + 60
    while db["progress"].find_one({"_id": checkpoint}) is None and time.monotonic() < deadline:
        assert process.poll() is None, f"the {what} step ended before it could be killed"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    reached = db["progress"].find_one({"_id": checkpoint})
    assert reached is not None
    return int(reached["done_through"])


def write_demo_config(path: Path, database: str) -> Path:
    """Write the config the operator commands read: the demo schemas of site ``test`` into ``database``."""
    path.write_text(
        textwrap.dedent(
            f"""
            mongo: {{conn_id: jira_assets_backup, database: {database}}}
            sites:
              test:
                conn_id: jira_assets_default
                schemas: [PEOPLE, LOC, ITAM]
                include: {{history: true, comments: true, connected_tickets: true}}
            retention: {{keep_last: 3}}
            """
        )
    )
    return path
