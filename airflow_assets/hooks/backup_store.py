"""Open the backup database through an Airflow ``mongo`` connection, for the length of a block."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pymongo.database import Database


@contextmanager
def backup_database(mongo_conn_id: str, database: str) -> Iterator[Database]:
    """Yield the backup database; the client is closed when the block ends.

    MongoHook reads its connection when constructed: build it here, when a task or a command runs, never
    when a DAG file is parsed.
    """
    from airflow.providers.mongo.hooks.mongo import MongoHook

    client = MongoHook(mongo_conn_id=mongo_conn_id).get_conn()
    try:
        yield client[database]
    finally:
        client.close()
