"""Open the backup store the way the DAGs do: the config's ``mongo`` settings and their Airflow connection."""

from __future__ import annotations

import argparse
from contextlib import AbstractContextManager
from typing import Any

from airflow_assets.config.backup_config import BackupConfig
from airflow_assets.config.loading import load_config

# Someone waits at the terminal: an unreachable MongoDB is reported after seconds, not pymongo's 30.
SERVER_SELECTION_TIMEOUT_MS = 3000
CONFIG_HELP = "the backup configuration (default: $JIRA_ASSETS_CONFIG, else dags/jira_assets.yaml)"


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--config`` (the file that names the MongoDB connection and the sites)."""
    parser.add_argument("--config", default=None, help=CONFIG_HELP)


def read_config(args: argparse.Namespace) -> BackupConfig:
    """Load the backup configuration named by ``--config`` (or the default)."""
    return load_config(getattr(args, "config", None))


def backup_database(config: BackupConfig) -> AbstractContextManager[Any]:
    """Open the backup database (pymongo ``Database``) through the config's Airflow ``mongo`` connection."""
    from airflow_assets.hooks.backup_store import backup_database as open_database

    return open_database(
        config.mongo.conn_id, config.mongo.database, server_selection_timeout_ms=SERVER_SELECTION_TIMEOUT_MS
    )
