"""``airflow-assets drills list``: the restore drills recorded in the backup store, newest first.

Each drill of a schema in a run of ``jira_assets_drill`` keeps one record
(see :mod:`airflow_assets.store.drills`): its result, the RTO (wall time of the restore, objects/min),
the bound the rate limits set for its object writes and the ratio, whether it was partial, and its errors.

``--json`` prints a list, one entry per drill::

    [{"id": "jira_assets_drill:<run id>:<site>/<KEY>", "site": "prod", "schema_key": "ITAM",
      "status": "succeeded" | "failed" | "running", "started_at": "<ISO 8601>", "finished_at": "<ISO 8601>",
      "snapshot_id": "...", "target": "<conn id>", "scratch_key": "DRL1A2B3C4", "objects": 150,
      "objects_total": 150, "partial": false, "seconds": 42.0, "objects_per_min": 214.3,
      "bound_seconds": 4.5, "ratio": 0.107, "verify_ok": true, "scratch_deleted": true, "tries": 1,
      "errors": []}]
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_assets.tools import EXIT_OK
from airflow_assets.tools.snapshot_reading import run_tool

if TYPE_CHECKING:
    from pymongo.database import Database

FIELDS = (
    "site", "schema_key", "status", "snapshot_id", "target", "scratch_key", "objects", "objects_total",
    "partial", "seconds", "objects_per_min", "bound_seconds", "ratio", "verify_ok", "scratch_deleted",
    "tries",
)  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--site``, ``--schema``, ``--json`` and ``--config``."""
    from airflow_assets.tools.backup_store import add_config_argument

    parser.add_argument("--site", default=None, help="only the drills of this site (its name in the config)")
    parser.add_argument("--schema", default=None, metavar="KEY", help="only the drills of this schema key")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    """List the drills."""
    return run_tool("drills list", args, _list)


def _list(db: Database, args: argparse.Namespace) -> int:
    from airflow_assets.store.drills import drill_history
    from airflow_assets.tools.snapshot_reading import print_json

    rows = [drill_row(record) for record in drill_history(db, site=args.site, schema_key=args.schema)]
    if args.json:
        print_json(rows)
    else:
        _print_table(rows)
    return EXIT_OK


def drill_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """Return the summary of one drill record (see the module docstring)."""
    from airflow_assets.tools.snapshot_reading import iso

    return {
        "id": str(record["_id"]),
        **{name: record.get(name) for name in FIELDS},
        "started_at": iso(record.get("started_at")),
        "finished_at": iso(record.get("finished_at")),
        "errors": list(record.get("errors") or []),
    }


def _print_table(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table
    from rich.text import Text

    from airflow_assets.tools.snapshot_reading import console, when

    out = console()
    if not rows:
        out.print("(no restore drills)")
        return
    table = Table(title="Restore drills (newest first): the RTO measured")
    for name, justify in (
        ("started at (UTC)", "left"),
        ("schema", "left"),
        ("result", "left"),
        ("objects", "right"),
        ("RTO", "right"),
        ("objects/min", "right"),
        ("bound", "right"),
        ("ratio", "right"),
        ("errors", "left"),
    ):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for row in rows:
        style = {"succeeded": "green", "failed": "red", "running": "yellow"}.get(str(row["status"]), "")
        objects = "" if row["objects"] is None else str(row["objects"])
        if row["partial"]:
            objects += f" of {row['objects_total']} (partial)"
        table.add_row(
            when(row["started_at"]),
            Text(f"{row['site']}/{row['schema_key']}"),
            Text(str(row["status"]), style=style),
            objects,
            f"{row['seconds']:.1f} s" if row["seconds"] else "",
            f"{row['objects_per_min']:,.0f}" if row["objects_per_min"] else "",
            f"{row['bound_seconds']:.1f} s" if row["bound_seconds"] else "",
            f"{row['ratio']:.2f}" if row["ratio"] is not None else "",
            Text("; ".join(row["errors"])[:300]),
        )
    out.print(table)
