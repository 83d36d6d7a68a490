"""``airflow-assets snapshots repair [--schema KEY] [--json]``: make damaged schemas sound after one backup.

Checks every complete snapshot of each schema (as ``snapshots verify --all`` does), then, under the
schema's lease (:mod:`airflow_assets.store.repair`): moves altered versions to ``quarantine``, marks the
damaged items and every head entry that disagrees with its span so that the next backup reads them again,
and marks the damaged snapshots ``damaged`` (never offered for restore unless ``accept_damaged``;
forgotten once a newer sound snapshot exists). It says which snapshots stay damaged. Exit 0: nothing was
damaged; 3: damage found and marked (run a backup of each schema named, then ``snapshots verify``);
1: the store could not be read; 2: bad usage.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from airflow_assets.tools import EXIT_OK, EXIT_PROBLEMS
from airflow_assets.tools.snapshot_reading import ToolError, run_tool

if TYPE_CHECKING:
    from pymongo.database import Database


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the repair arguments."""
    from airflow_assets.tools.backup_store import add_config_argument

    parser.add_argument(
        "--schema", metavar="KEY", help="only the schema with this key (default: every schema)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of lines")
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Repair; exit 0 nothing damaged, 3 damage found and marked, 1 store unreachable, 2 bad usage."""
    return run_tool("snapshots repair", args, _repair)


def _repair(db: Database, args: argparse.Namespace) -> int:
    from airflow_assets.store.repair import repair_schema, schemas_of
    from airflow_assets.tools.snapshots_verify import configured_key

    key = configured_key()
    schemas = schemas_of(db, args.schema)
    if not schemas:
        which = f"of schema {args.schema} " if args.schema else ""
        raise ToolError(f"the backup store holds no snapshot {which}", 2)
    results = [repair_schema(db, snapshots, key=key) for snapshots in schemas.values()]
    damaged = any(result.damaged_snapshots or result.items_marked for result in results)
    if args.json:
        print(
            json.dumps({"repaired": damaged, "schemas": [result.as_dict() for result in results]}, indent=2)
        )
    else:
        for result in results:
            for line in result.lines():
                print(line)
        if damaged:
            keys = sorted({r.schema_key for r in results if r.damaged_snapshots or r.items_marked})
            print(
                f"next: run a backup of {', '.join(keys)} (it reads the marked items again), then "
                "`airflow-assets snapshots verify`"
            )
    return EXIT_PROBLEMS if damaged else EXIT_OK
