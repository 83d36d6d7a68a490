"""Open the backup store the way the DAGs do: the config's ``mongo`` settings and their Airflow connection."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from airflow_assets.backup.config import BackupConfig, load_config

CONFIG_HELP = "the backup configuration (default: $JIRA_ASSETS_CONFIG, else dags/jira_assets.yaml)"


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--config`` (the file that names the MongoDB connection and the sites)."""
    parser.add_argument("--config", default=None, help=CONFIG_HELP)


def read_config(args: argparse.Namespace) -> BackupConfig:
    """Load the backup configuration named by ``--config`` (or the default)."""
    return load_config(getattr(args, "config", None))


@contextmanager
def backup_database(config: BackupConfig) -> Iterator[Any]:
    """Yield the backup database (pymongo ``Database``) through the config's Airflow ``mongo`` connection."""
    from airflow.providers.mongo.hooks.mongo import MongoHook

    client = MongoHook(mongo_conn_id=config.mongo.conn_id).get_conn()
    try:
        yield client[config.mongo.database]
    finally:
        client.close()
