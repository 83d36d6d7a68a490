"""The snapshot key: the secret that makes snapshot root digests HMACs (borg's authenticated manifest).

It lives where Airflow keeps secrets, never in MongoDB: an Airflow connection ``jira_assets_snapshot_key``
whose password is the key (any connection type; a secrets backend works as for any connection). Without
that connection snapshots get a plain SHA-256 root digest, which catches accidents but not someone who can
write to the backup database and recompute it.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

SNAPSHOT_KEY_CONN_ID = "jira_assets_snapshot_key"


def snapshot_key(conn_id: str = SNAPSHOT_KEY_CONN_ID) -> bytes | None:
    """Return the snapshot key from the Airflow connection ``conn_id``, or None when it is not defined.

    :raises ValueError: the connection exists but has no password (an empty key would protect nothing).
    """
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        connection = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None
    secret = connection.password or ""
    if len(secret) < 16:
        raise ValueError(
            f"connection {conn_id} holds the snapshot key in its password, which must be at least 16 "
            "characters (e.g. the output of `python -c 'import secrets; print(secrets.token_hex(32))'`)"
        )
    return secret.encode("utf-8")
