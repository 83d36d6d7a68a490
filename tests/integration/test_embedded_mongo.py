"""The embedded MongoDB-wire server works through Airflow's own mongo connection and MongoHook."""

from __future__ import annotations

import pytest
from airflow.providers.mongo.hooks.mongo import MongoHook

from airflow_assets.devtools.embedded_mongo import EmbeddedMongo


def test_mongo_hook_round_trips_through_an_airflow_connection(
    mongo_server: EmbeddedMongo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_ASSETS_BACKUP", mongo_server.airflow_conn_uri("hook_round_trip"))

    client = MongoHook(mongo_conn_id="jira_assets_backup").get_conn()
    try:
        collection = client["hook_round_trip"]["snapshots"]
        collection.create_index([("schema_key", 1), ("taken_at", 1)], unique=True)
        collection.insert_one({"schema_key": "ITAM", "taken_at": "2026-11-25T00:00:00Z", "objects": 3})
        found = collection.find_one({"schema_key": "ITAM"}, {"_id": 0})
    finally:
        client.drop_database("hook_round_trip")
        client.close()

    assert found == {"schema_key": "ITAM", "taken_at": "2026-11-25T00:00:00Z", "objects": 3}


def test_each_test_gets_an_empty_database(mongo_db) -> None:  # type: ignore[no-untyped-def]
    assert mongo_db.list_collection_names() == []
    mongo_db["probe"].insert_one({"n": 1})
    assert mongo_db["probe"].count_documents({}) == 1
