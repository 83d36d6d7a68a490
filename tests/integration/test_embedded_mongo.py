"""The test MongoDB: which server serves, an existing one by URI, and Airflow's own mongo connection to it."""

from __future__ import annotations

import pymongo
import pytest
from airflow.providers.mongo.hooks.mongo import MongoHook

from airflow_assets.devtools import embedded_mongo as embedded_module
from airflow_assets.devtools.embedded_mongo import (
    MONGO_URI_ENV,
    SECANTUSDB,
    SERVER_ENV,
    EmbeddedMongo,
    embedded_mongo,
)
from tests.integration.backup_support import fresh_database_name


def test_mongo_hook_round_trips_through_an_airflow_connection(
    mongo_server: EmbeddedMongo, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = fresh_database_name("hook_round_trip")
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_ASSETS_BACKUP", mongo_server.airflow_conn_uri(name))

    client = MongoHook(mongo_conn_id="jira_assets_backup").get_conn()
    try:
        collection = client[name]["snapshots"]
        collection.create_index([("schema_key", 1), ("taken_at", 1)], unique=True)
        collection.insert_one({"schema_key": "ITAM", "taken_at": "2026-11-25T00:00:00Z", "objects": 3})
        found = collection.find_one({"schema_key": "ITAM"}, {"_id": 0})
    finally:
        client.drop_database(name)
        client.close()

    assert found == {"schema_key": "ITAM", "taken_at": "2026-11-25T00:00:00Z", "objects": 3}


def test_each_test_gets_an_empty_database(mongo_db) -> None:  # type: ignore[no-untyped-def]
    assert mongo_db.list_collection_names() == []
    mongo_db["probe"].insert_one({"n": 1})
    assert mongo_db["probe"].count_documents({}) == 1


def test_the_session_server_says_what_it_is(mongo_server: EmbeddedMongo) -> None:
    client: pymongo.MongoClient = pymongo.MongoClient(mongo_server.uri)
    with client:
        version = client.server_info()["version"]

    if mongo_server.kind == SECANTUSDB:
        assert not mongo_server.is_mongodb
    else:
        assert mongo_server.is_mongodb
        assert version in mongo_server.kind


def test_an_existing_server_is_used_and_not_stopped(
    mongo_server: EmbeddedMongo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MONGO_URI_ENV, mongo_server.uri)

    with embedded_mongo() as existing:
        assert existing.process is None
        assert existing.uri == mongo_server.uri
        assert MONGO_URI_ENV in existing.reason

    client: pymongo.MongoClient = pymongo.MongoClient(mongo_server.uri)
    with client:
        assert client.admin.command("ping")["ok"] == 1


def test_an_existing_servers_uri_becomes_an_airflow_connection() -> None:
    existing = EmbeddedMongo(
        "db1.example.com",
        27017,
        None,
        None,
        kind="MongoDB 7.0.2",
        uri="mongodb://back%40up:p%3Aw@db1.example.com:27017,db2.example.com:27017/admin?replicaSet=rs0&tls=true",
    )

    assert existing.airflow_connection("jira_assets_backup") == {
        "conn_type": "mongo",
        "schema": "jira_assets_backup",
        "host": "db1.example.com:27017,db2.example.com:27017",
        "login": "back@up",
        "password": "p:w",
        "extra": {"replicaSet": "rs0", "tls": "true", "authSource": "admin"},
    }


def test_without_the_mongod_wheel_secantusdb_stands_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MONGO_URI_ENV, raising=False)
    monkeypatch.delenv(SERVER_ENV, raising=False)
    monkeypatch.setattr(embedded_module, "MONGOD_DISTRIBUTION", "no-such-distribution-here")

    with embedded_mongo() as server:
        client: pymongo.MongoClient = pymongo.MongoClient(server.uri)
        with client:
            assert client.admin.command("ping")["ok"] == 1

    assert server.kind == SECANTUSDB
    assert "no-such-distribution-here is not installed" in server.reason
