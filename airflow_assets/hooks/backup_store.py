"""Open the backup database through an Airflow ``mongo`` connection, for the length of a block."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pymongo.database import Database

from airflow_assets.hooks.encryption_key import encryption_keyring
from airflow_assets.store.database_name import check_database_name
from airflow_assets.store.encryption import use_keyring


@contextmanager
def backup_database(
    mongo_conn_id: str, database: str, *, server_selection_timeout_ms: int | None = None
) -> Iterator[Database]:
    """Yield the backup database; the client is closed when the block ends.

    MongoHook reads its connection when constructed: build it here, when a task or a command runs, never
    when a DAG file is parsed. A database MongoDB keeps for itself (``admin``, ``local``, ``config``) is
    refused before anything connects, whoever passed the name (config, operator argument, template).

    :param server_selection_timeout_ms: how long to wait for a reachable server when the connection does
        not say (its ``serverSelectionTimeoutMS`` extra wins); pymongo's default is 30 s, which suits a task,
        not someone waiting at a terminal.
    """
    check_database_name(database, "mongo_database")
    from airflow.providers.mongo.hooks.mongo import MongoHook

    hook = MongoHook(mongo_conn_id=mongo_conn_id)
    if server_selection_timeout_ms is not None:
        # The hook passes its extras to MongoClient as keyword arguments.
        hook.extras.setdefault("serverSelectionTimeoutMS", server_selection_timeout_ms)
    # Read before connecting: a broken key configuration stops the task before anything is written.
    keyring = encryption_keyring()
    client = hook.get_conn()
    try:
        db = client[database]
        # Encryption at rest when the jira_assets_encryption_key connection exists (see store.encryption).
        use_keyring(db, keyring)
        yield db
    finally:
        client.close()
