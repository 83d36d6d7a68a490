"""The rules across entries: a schema listed twice in a site, site names equal but for case, a schema two
sites back up through one connection.

The models refuse these when a whole configuration is validated at once; the part-by-part validation
(:mod:`airflow_assets.config.parts`) refuses them entry by entry. Both say it in the words kept here.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

from airflow_assets.config.field_paths import format_path
from airflow_assets.messages import shown


def duplicate_indexes(values: Iterable[Hashable]) -> list[int]:
    """Return the index of every value seen before it in ``values``."""
    seen: set[Hashable] = set()
    duplicates = []
    for index, value in enumerate(values):
        if value in seen:
            duplicates.append(index)
        seen.add(value)
    return duplicates


def duplicate_message(key: str) -> str:
    """Say that a site lists schema ``key`` more than once."""
    return f"schema {key!r} is listed more than once in this site"


def backed_up_twice_message(key: str, conn_id: str, site: str, index: int) -> str:
    """Say that schema ``key`` of a connection is already backed up by entry ``index`` of ``site``."""
    where = format_path(["sites", site, "schemas", index])
    return (
        f"schema {key!r} of connection {shown(conn_id)} is already backed up by {where}: both sites use "
        "that connection, so two DAGs would back up the same schema; list it in one site only"
    )


def site_clash_message(name: str, names: Sequence[str]) -> str:
    """Say that site ``name`` differs from the first of ``names`` equal to it but for case."""
    other = next(other for other in names if other.lower() == name.lower())
    return f"site name {shown(name)} differs from {shown(other)} only in case (DAG ids are lowercase)"
