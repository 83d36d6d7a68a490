"""``airflow-assets restores show ID [--key-map FILE]``: one restore run, and its old -> new key map.

``ID`` is a restore id (``jira_assets_restore:<run id>``, as ``restores list`` prints it) or a unique end
of one, e.g. the run id. ``--key-map FILE`` writes the CSV the report step stored (``restore_files``,
``key_map.csv``: old_key, new_key, old_id, new_id, schema_old_key, schema_new_key); a run whose report step
has not run yet has none (exit 1).

``--json`` prints the ``restores list`` entry with ``request``, ``plan``, ``steps``, ``report`` and
``step_warnings`` (the warnings stored per step) added.

``--changes`` lists every change a rollback planned, one object per line: what goes back (attribute: live
value -> snapshot value), what is kept and why (a conflict, a change outside the window), the objects
created again and deleted. With ``--json``, one JSON object per line (as stored).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_assets.tools import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from airflow_assets.tools.snapshot_reading import ToolError, run_tool

if TYPE_CHECKING:
    from pymongo.database import Database

# Warnings printed per step in the table view (--json has all that are stored).
SHOWN_WARNINGS = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ID, ``--key-map``, ``--json`` and ``--config``."""
    from airflow_assets.tools.backup_store import add_config_argument

    parser.add_argument(
        "restore", metavar="ID", help="a restore id, or a unique end of one (e.g. its run id)"
    )
    parser.add_argument(
        "--key-map", metavar="FILE", default=None, help="write the old -> new key map CSV here"
    )
    parser.add_argument(
        "--changes", action="store_true", help="list every change a rollback planned (old -> new values)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Show one restore run."""
    return run_tool("restores show", args, _show)


def _show(db: Database, args: argparse.Namespace) -> int:
    from airflow_assets.tools.restores_list import restore_row
    from airflow_assets.tools.snapshot_reading import print_json

    document = resolve_restore(db, args.restore)
    if getattr(args, "changes", False):
        return _print_changes(db, str(document["_id"]), as_json=args.json)
    if args.key_map is not None:
        _write_key_map(db, str(document["_id"]), Path(args.key_map))
    report = {
        **restore_row(document),
        **{name: document.get(name) for name in ("request", "plan", "steps", "report")},
        "step_warnings": document.get("warnings") or {},
    }
    if args.json:
        print_json(report)
    else:
        _print_report(report)
    return EXIT_OK


def resolve_restore(db: Database, text: str) -> dict[str, Any]:
    """Return the restore document with id ``text``, or the one whose id ends with it.

    :raises ToolError: (exit 2) no restore matches, or several do (they are listed).
    """
    from airflow_assets.restore.ledger import RESTORES, opened_restore

    wanted = text.strip()
    if not wanted:
        raise ToolError("a restore id is empty", EXIT_USAGE)
    exact = db[RESTORES].find_one({"_id": wanted})
    if exact is not None:
        return opened_restore(db, exact)
    matches = [
        str(doc["_id"]) for doc in db[RESTORES].find({}, {"_id": 1}) if str(doc["_id"]).endswith(wanted)
    ]
    if len(matches) == 1:
        found = db[RESTORES].find_one({"_id": matches[0]})
        if found is not None:
            return opened_restore(db, found)
    if not matches:
        raise ToolError(
            f"no restore {wanted!r}: give a restore id (`airflow-assets restores list` shows them) "
            "or a unique end of one, e.g. its run id",
            EXIT_USAGE,
        )
    raise ToolError(
        f"{wanted!r} matches {len(matches)} restores; give more of the id:", EXIT_USAGE, sorted(matches)
    )


def _write_key_map(db: Database, restore_id: str, file: Path) -> None:
    from airflow_assets.restore.ledger import Ledger
    from airflow_assets.restore.session import KEY_MAP_FILE

    text = Ledger(db, restore_id).read_file(KEY_MAP_FILE)
    if text is None:
        raise ToolError(
            f"restore {restore_id!r} has no key map: its report step has not run (see its status)",
            EXIT_FAILURE,
        )
    file.write_text(text, encoding="utf-8")
    rows = max(len(text.splitlines()) - 1, 0)
    print(f"key map of {restore_id}: {rows} rows written to {file}", file=sys.stderr)


def _print_report(report: dict[str, Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    from airflow_assets.tools.snapshot_reading import console, when

    out = console()
    facts = Table(show_header=False, title=f"Restore {report['id']}", title_justify="left")
    facts.add_column("field", style="bold")
    facts.add_column("value", overflow="fold")
    restored = report["objects_restored"]
    verify = {True: "ok", False: "FAILED", None: "not run"}[report["verify_ok"]]
    for name, value in (
        ("status", report["status"]),
        ("mode", f"{report['mode']}{' (dry run)' if report['dry_run'] else ''}"),
        ("snapshot", report["snapshot"]),
        ("schemas", ", ".join(report["schemas"])),
        ("target connection", report["target_conn_id"]),
        ("planned at (UTC)", when(report["planned_at"])),
        ("finished at (UTC)", when(report["finished_at"]) or "(not finished)"),
        (
            "objects",
            f"{'-' if restored is None else restored} restored of {report['objects_planned']} planned",
        ),
        ("verify", verify),
        (
            "key map",
            "-" if report["key_map_rows"] is None else f"{report['key_map_rows']} rows (--key-map FILE)",
        ),
    ):
        facts.add_row(name, Text(str(value)))
    out.print(facts)
    steps = report.get("steps") or {}
    if steps:
        table = Table(title="Steps")
        table.add_column("step")
        table.add_column("summary", overflow="fold")
        for name, summary in steps.items():
            if isinstance(summary, dict):
                text = ", ".join(
                    f"{key}={value}"
                    for key, value in summary.items()
                    if not isinstance(value, (dict, list)) and value not in ("", None)
                )
            else:
                text = str(summary)
            table.add_row(name, Text(text))
        out.print(table)
    shown = [(step, items) for step, items in report["step_warnings"].items() if items]
    if not shown:
        out.print("Warnings: none")
    for step, items in shown:
        out.print(f"Warnings of {step} ({len(items)}):")
        for warning in items[:SHOWN_WARNINGS]:
            out.print(Text(f"  - {warning}"))


def _print_changes(db: Database, restore_id: str, *, as_json: bool) -> int:
    from airflow_assets.restore.ledger import Ledger
    from airflow_assets.restore.rollback import CHANGES_FILE

    text = Ledger(db, restore_id).read_file(CHANGES_FILE)
    if text is None:
        raise ToolError(
            f"restore {restore_id!r} stored no changes: only a rollback's plan stores them", EXIT_FAILURE
        )
    for line in text.splitlines():
        if line.strip():
            print(line if as_json else change_line(json.loads(line)))
    return EXIT_OK


def change_line(change: dict[str, Any]) -> str:
    """Return one stored rollback change as a person reads it."""
    key = f"{change.get('schema')} {change.get('key') or change.get('id')}"
    action = change.get("action")
    if change.get("kind") == "deleted_since":
        return f"{key}: deleted since: " + ("created again" if action == "recreate" else "stays deleted")
    if change.get("kind") == "created_since":
        kept = f"stays ({change.get('reason')})" if change.get("reason") else "stays"
        return f"{key}: created since: " + ("deleted" if action == "delete" else kept)
    parts = [f"{a['name']}: {_values(a['new'])} -> {_values(a['old'])}" for a in change.get("put") or []]
    parts += [
        f"{a['name']} kept at {_values(a['new'])} ({a.get('reason')})" for a in change.get("kept") or []
    ]
    return f"{key}: " + "; ".join(parts)


def _values(values: list[str]) -> str:
    """Return values on one line (a line break of a text area shown as ``\\n``)."""
    text = ", ".join(value.replace("\r", "").replace("\n", "\\n") for value in values)
    return f"[{text[:117]}...]" if len(text) > 120 else f"[{text}]"
