"""Shared fixtures: an isolated Airflow home, the embedded MongoDB server and sandbox sites."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

# Airflow reads its configuration when first imported: isolate it before anything imports airflow.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="airflow-assets-tests-"))
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parents[1] / "dags")

import pymongo  # noqa: E402
import pytest  # noqa: E402

from airflow_assets.devtools.embedded_mongo import EmbeddedMongo, embedded_mongo  # noqa: E402
from airflow_assets.sandbox.launch import RunningSandbox, run_sandbox  # noqa: E402


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedMongo]:
    """Run one embedded MongoDB-wire-protocol server for the whole test session."""
    with embedded_mongo(tmp_path_factory.mktemp("mongo")) as server:
        yield server


@pytest.fixture
def mongo_db(mongo_server: EmbeddedMongo) -> Iterator[pymongo.database.Database]:
    """Give each test a fresh database on the embedded server, dropped afterwards."""
    client: pymongo.MongoClient = pymongo.MongoClient(mongo_server.uri)
    name = f"test_{uuid.uuid4().hex[:12]}"
    try:
        yield client[name]
    finally:
        client.drop_database(name)
        client.close()


@pytest.fixture(scope="session")
def demo_sandbox() -> Iterator[RunningSandbox]:
    """Serve one demo-seeded sandbox for read-only tests of the whole session."""
    with run_sandbox(seed="demo") as sandbox:
        yield sandbox


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    """Serve a fresh demo-seeded sandbox that a test may change."""
    with run_sandbox(seed="demo") as running:
        yield running
