"""The encryption key of the backup store: an Airflow connection, never MongoDB.

Connection ``jira_assets_encryption_key`` (any connection type; a secrets backend works as for any
connection): its password is the current key (at least 16 characters), which seals every new write; its
extra may list the keys used before, ``{"previous_keys": ["<old key>", ...]}``, which only read what they
sealed. Without the connection the store is not encrypted (as before). A separate secret from the snapshot
key (``jira_assets_snapshot_key``): rotating the encryption key must not turn every earlier snapshot's
authenticated root into an unauthenticated one.
"""

from __future__ import annotations

import json
from typing import Any

from airflow_assets.store.encryption import MIN_SECRET_CHARS, EncryptionKeyError, Keyring

ENCRYPTION_KEY_CONN_ID = "jira_assets_encryption_key"


def encryption_keyring(conn_id: str = ENCRYPTION_KEY_CONN_ID) -> Keyring | None:
    """Return the keyring of connection ``conn_id``, or None when it is not defined (no encryption).

    :raises EncryptionKeyError: the connection exists but holds no usable key (too short, a malformed
        ``previous_keys``); the message never quotes a key.
    """
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        connection = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None
    current = connection.password or ""
    if len(current) < MIN_SECRET_CHARS:
        raise EncryptionKeyError(
            f"connection {conn_id} holds the encryption key in its password, which must be at least "
            f"{MIN_SECRET_CHARS} characters (e.g. the output of "
            "`python -c 'import secrets; print(secrets.token_hex(32))'`)"
        )
    previous = _previous_keys(conn_id, connection.extra)
    return Keyring.from_secrets(current.encode("utf-8"), [key.encode("utf-8") for key in previous])


def _previous_keys(conn_id: str, extra: Any) -> list[str]:
    if not extra:
        return []
    try:
        values = json.loads(extra) if isinstance(extra, str) else dict(extra)
    except (TypeError, ValueError):
        raise EncryptionKeyError(f"connection {conn_id}: its extra is not a JSON object") from None
    previous = values.get("previous_keys", []) if isinstance(values, dict) else None
    if not isinstance(previous, list) or not all(
        isinstance(key, str) and len(key) >= MIN_SECRET_CHARS for key in previous
    ):
        raise EncryptionKeyError(
            f"connection {conn_id}: `previous_keys` of its extra must be a list of keys of at least "
            f"{MIN_SECRET_CHARS} characters each"
        )
    return previous
