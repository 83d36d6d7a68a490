"""The store's one duplicate-tolerant insert against the real server: what a retried task's write does."""

from __future__ import annotations

from pymongo.database import Database

from airflow_assets.store.insert import insert_new, replace_with


def test_a_retried_insert_leaves_what_is_written_and_adds_what_is_not(mongo_db: Database) -> None:
    collection = mongo_db["insert_new_plain"]
    insert_new(collection, [{"_id": "a", "value": 1}])

    insert_new(collection, [{"_id": "a", "value": 2}, {"_id": "b", "value": 3}])

    assert list(collection.find({}, sort=[("_id", 1)])) == [
        {"_id": "a", "value": 1},
        {"_id": "b", "value": 3},
    ]


def test_a_redo_rewrites_only_the_documents_found_written(mongo_db: Database) -> None:
    collection = mongo_db["insert_new_redo"]
    insert_new(collection, [{"_id": "a", "value": 1, "stale": True}, {"_id": "b", "value": 2}])

    insert_new(collection, [{"_id": "a", "value": 10}, {"_id": "c", "value": 30}], redo=replace_with)

    assert list(collection.find({}, sort=[("_id", 1)])) == [
        {"_id": "a", "value": 10},
        {"_id": "b", "value": 2},
        {"_id": "c", "value": 30},
    ]


def test_nothing_to_insert_writes_nothing(mongo_db: Database) -> None:
    insert_new(mongo_db["insert_new_empty"], [])

    assert "insert_new_empty" not in mongo_db.list_collection_names()
