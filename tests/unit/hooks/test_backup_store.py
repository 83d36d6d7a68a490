"""The backup database is opened through its connection, and never in one of MongoDB's own databases."""

from __future__ import annotations

import pytest

from airflow_assets.exceptions import AssetsConfigError
from airflow_assets.hooks.backup_store import backup_database


@pytest.mark.parametrize("database", ["admin", "local", "config", "Local"])
def test_the_servers_own_databases_are_refused_before_connecting(database: str) -> None:
    # The connection does not exist: the refusal comes before Airflow is asked for it.
    with (
        pytest.raises(AssetsConfigError, match=f"^mongo_database: {database!r} is a database MongoDB keeps"),
        backup_database("no_such_mongo_connection_anywhere", database),
    ):
        pass
