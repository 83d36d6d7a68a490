"""``airflow-assets snapshots export ID --out DIR``: a snapshot as plain files (backupAssets.py layout)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_assets.tools import EXIT_FAILURE, EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from pymongo.database import Database


class UsageError(Exception):
    """The command was asked something it cannot do (an unknown snapshot id...): exit 2."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the export's arguments."""
    from airflow_assets.tools.backup_store import add_config_argument

    parser.add_argument("snapshot_id", metavar="ID", help="the snapshot to export (see `snapshots list`)")
    parser.add_argument(
        "--out",
        required=True,
        help="the folder to write into: config/objectschemas.json and <KEY>/ (replaced as a whole)",
    )
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Export one complete snapshot; exit 2 for an unknown or incomplete one, 1 when the store fails."""
    return run_against_store("snapshots export", args, _export)


def _export(db: Database, args: argparse.Namespace) -> int:
    from airflow_assets.store.snapshots import COMPLETE, SnapshotStore
    from airflow_assets.tools.rt_export import export_snapshot

    snapshot = SnapshotStore(db).get(args.snapshot_id)
    if snapshot is None:
        raise UsageError(f"no snapshot has the id {args.snapshot_id!r} (see `airflow-assets snapshots list`)")
    if snapshot.status != COMPLETE:
        raise UsageError(f"snapshot {args.snapshot_id} is {snapshot.status}: only complete snapshots export")
    summary = export_snapshot(db, snapshot, Path(args.out))
    print(
        f"exported snapshot {summary.snapshot_id} to {summary.directory}: {summary.object_types} object "
        f"types, {summary.objects} objects, {summary.history_files} history files, "
        f"{summary.comment_files} comment files ({summary.files} files)"
    )
    if summary.unresolved_references:
        print(
            f"{summary.unresolved_references} referenced objects are in no snapshot of this store: their "
            "displayValue and searchValue are <KEY>-<id> (?-<id> when the schema is unknown)"
        )
    return EXIT_OK


def run_against_store(name: str, args: argparse.Namespace, body: Callable[[Database, Any], int]) -> int:
    """Run ``body(db, args)`` on the backup store of ``--config``; turn expected failures into exit codes.

    Exit 2: a bad configuration, an undefined connection, a :class:`UsageError`. Exit 1: the store cannot
    be reached or read, or a file cannot be written.
    """
    from airflow.sdk.exceptions import AirflowNotFoundException
    from pymongo.errors import PyMongoError

    from airflow_assets.backup.config import BackupConfigError
    from airflow_assets.tools.backup_store import backup_database, read_config

    try:
        config = read_config(args)
    except BackupConfigError as error:
        source = f" {error.source}" if error.source else ""
        _complain(name, f"invalid backup configuration{source}: {'; '.join(error.problems)}")
        return EXIT_USAGE
    conn_id = config.mongo.conn_id
    try:
        with backup_database(config) as db:
            return int(body(db, args))
    except UsageError as error:
        _complain(name, str(error))
        return EXIT_USAGE
    except AirflowNotFoundException:
        _complain(
            name, f"connection {conn_id!r} is not defined (add it or set AIRFLOW_CONN_{conn_id.upper()})"
        )
        return EXIT_USAGE
    except PyMongoError as error:
        _complain(name, f"cannot read the backup store (connection {conn_id!r}): {_first_line(error)}")
        return EXIT_FAILURE
    except (LookupError, OSError) as error:
        # A span naming a missing version (`snapshots verify` says where), or a folder that cannot be written.
        _complain(name, _first_line(error))
        return EXIT_FAILURE


def _first_line(error: BaseException) -> str:
    text = str(error)
    return text.splitlines()[0] if text else type(error).__name__


def _complain(name: str, message: str) -> None:
    print(f"airflow-assets {name}: {message}", file=sys.stderr)
