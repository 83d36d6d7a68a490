"""``airflow-assets snapshots export ID --out DIR``: a snapshot as plain files (backupAssets.py layout)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from airflow_assets.tools import EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from pymongo.database import Database


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
    from airflow_assets.tools.snapshot_reading import run_tool

    return run_tool("snapshots export", args, _export)


def _export(db: Database, args: argparse.Namespace) -> int:
    from airflow_assets.store.reader import SnapshotReader
    from airflow_assets.tools.rt_export import export_snapshot
    from airflow_assets.tools.snapshot_reading import ToolError, resolve_snapshot

    snapshot = resolve_snapshot(db, args.snapshot_id)
    if not SnapshotReader.readable(snapshot):
        raise ToolError(
            f"snapshot {args.snapshot_id} is {snapshot.status}: only complete snapshots export", EXIT_USAGE
        )
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
