"""Which MongoDB database may hold backups: a valid name, and never one of the server's own."""

from __future__ import annotations

from airflow_assets.exceptions import AssetsConfigError
from airflow_assets.messages import shown

FORBIDDEN_CHARACTERS = set('/\\. "$\x00')
MAX_LENGTH = 63
# The server's own databases: users and roles (admin), the replication oplog (local), sharding metadata
# (config). Backups written there could overwrite what the server runs on, or vanish with a resync.
# MongoDB refuses two names that differ only in case, so "Admin" is refused as well.
RESERVED = ("admin", "local", "config")


def check_database_name(name: str, field: str | None = None) -> str:
    """Return ``name`` if backups may be kept in a database of that name.

    :param name: the database name.
    :param field: the setting the name comes from, put in front of the message (e.g. ``mongo_database``).
    :raises AssetsConfigError: (a ``ValueError``) saying what is wrong with the name.
    """
    problem = _problem(name)
    if problem is None:
        return name
    raise AssetsConfigError(f"{field}: {problem}" if field else problem)


def _problem(name: str) -> str | None:
    if not name:
        return "the MongoDB database name must not be empty"
    if name.lower() in RESERVED:
        return (
            f"{shown(name)} is a database MongoDB keeps for itself ({', '.join(RESERVED)} are refused): "
            "choose a database of your own, e.g. jira_assets"
        )
    bad = sorted(FORBIDDEN_CHARACTERS.intersection(name))
    if bad:
        listed = ", ".join(repr(char) for char in bad)
        return f"{shown(name)} is not a MongoDB database name: it must not contain {listed}"
    if len(name) > MAX_LENGTH:
        return f"MongoDB database names are shorter than 64 characters; {shown(name)} has {len(name)}"
    return None
