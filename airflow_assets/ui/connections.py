"""Let the page's hooks see the connections kept in Airflow's metadata database, as the UI's own routes do.

Outside a task, the Task SDK's ``BaseHook.get_connection`` reads environment variables and secrets backends,
and the metadata database only in a process marked as a server (the scheduler marks itself; the API server
does not). A connection added in the UI would then be "not defined" for the page. So the page looks each
connection up the API server's way (``airflow.models.Connection``: the metadata database too) and hands it to
the hooks built inside the block through the SDK's preset connections, the mechanism Airflow's own
connection test uses. Nothing is cached beyond the block.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def server_connections(*conn_ids: str) -> Iterator[None]:
    """Make the given connections, wherever Airflow keeps them, visible to hooks built in the block."""
    from airflow.sdk.execution_time.context import _preset_connections

    found = {conn_id: connection for conn_id in conn_ids if (connection := _stored(conn_id)) is not None}
    token = _preset_connections.set({**(_preset_connections.get() or {}), **found})
    try:
        yield
    finally:
        _preset_connections.reset(token)


def _stored(conn_id: str) -> Any:
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models.connection import Connection as StoredConnection
    from airflow.sdk.definitions.connection import Connection

    try:
        stored = StoredConnection.get_connection_from_secrets(conn_id)
    except AirflowNotFoundException:
        # Not anywhere: the hook's own lookup says so, in the words every command uses.
        return None
    return Connection(
        conn_id=conn_id,
        conn_type=stored.conn_type,
        host=stored.host,
        login=stored.login,
        password=stored.password,
        schema=stored.schema,
        port=stored.port,
        extra=stored.extra,
        description=stored.description,
    )
