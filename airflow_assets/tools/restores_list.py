"""``airflow-assets restores list``: the restore runs recorded in the backup store, newest first.

Each restore run keeps one document in ``restores`` (``_id`` = ``jira_assets_restore:<run id>``): its request,
plan, step summaries, warnings and, once its report step ran, the report (status ``done``).

``--json`` prints a list, one entry per run::

    [{"id": "jira_assets_restore:<run id>", "status": "done" | "planned", "mode": "new_schema",
      "dry_run": false, "snapshot": "latest", "schemas": ["LOC -> LOC2"], "target_conn_id": "...",
      "planned_at": "<ISO 8601>", "finished_at": "<ISO 8601>" | null, "objects_planned": 40,
      "objects_restored": 40 | null, "warnings": 0, "verify_ok": true | null, "key_map_rows": 40 | null}]
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_assets.tools import EXIT_OK
from airflow_assets.tools.snapshot_reading import run_tool

if TYPE_CHECKING:
    from pymongo.database import Database


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--json`` and ``--config``."""
    from airflow_assets.tools.backup_store import add_config_argument

    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    """List the restore runs."""
    return run_tool("restores list", args, _list)


def _list(db: Database, args: argparse.Namespace) -> int:
    from airflow_assets.restore.ledger import RESTORES, opened_restore
    from airflow_assets.tools.snapshot_reading import print_json

    rows = [restore_row(opened_restore(db, document)) for document in db[RESTORES].find({}, {"warnings": 0})]
    rows.sort(key=lambda row: str(row["planned_at"] or ""), reverse=True)
    if args.json:
        print_json(rows)
    else:
        _print_table(rows)
    return EXIT_OK


def restore_row(document: Mapping[str, Any]) -> dict[str, Any]:
    """Return the summary of one restore document (see the module docstring)."""
    from airflow_assets.tools.snapshot_reading import iso

    request = document.get("request") or {}
    plan = document.get("plan") or {}
    report = document.get("report") or {}
    verify = (document.get("steps") or {}).get("verify") or report.get("verify")
    key_map = report.get("key_map") or {}
    return {
        "id": str(document["_id"]),
        "status": document.get("status"),
        "mode": request.get("mode"),
        "dry_run": request.get("dry_run"),
        "snapshot": request.get("snapshot"),
        "schemas": [
            f"{mapping.get('old_key')} -> {mapping.get('new_key') or mapping.get('old_key')}"
            for mapping in request.get("schema_mappings") or []
        ],
        "target_conn_id": request.get("target_conn_id"),
        "planned_at": iso(plan.get("planned_at")),
        "finished_at": iso(report.get("finished_at")),
        "objects_planned": plan.get("objects"),
        "objects_restored": report.get("objects_restored"),
        "warnings": sum(int(count) for count in (document.get("warning_counts") or {}).values()),
        "verify_ok": verify.get("ok") if isinstance(verify, Mapping) else None,
        "key_map_rows": key_map.get("rows"),
    }


def _print_table(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table
    from rich.text import Text

    from airflow_assets.tools.snapshot_reading import console, when

    out = console()
    if not rows:
        out.print("(no restore runs)")
        return
    table = Table(title="Restore runs (newest first)")
    table.add_column("id", no_wrap=True)
    for name, justify in (
        ("planned at (UTC)", "left"),
        ("mode", "left"),
        ("schemas", "left"),
        ("status", "left"),
        ("objects", "right"),
        ("warnings", "right"),
        ("verify", "left"),
    ):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for row in rows:
        verify = {True: "ok", False: "FAILED", None: "-"}[row["verify_ok"]]
        restored = row["objects_restored"]
        table.add_row(
            row["id"],
            when(row["planned_at"]),
            Text(f"{row['mode']}{' (dry run)' if row['dry_run'] else ''}"),
            Text(", ".join(row["schemas"])),
            Text(str(row["status"] or "")),
            f"{'-' if restored is None else restored} of {row['objects_planned']}",
            str(row["warnings"]),
            verify,
        )
    out.print(table)
