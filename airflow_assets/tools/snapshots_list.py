"""``airflow-assets snapshots list``: the snapshots in the backup store, newest first per schema.

The table shows each snapshot's short id (8 hex digits; every command taking a snapshot id takes it), site,
schema, when it was taken (``started_at``), kind (full, incremental, reconstructed), status, its objects,
and the objects added, removed and changed since the previous complete snapshot of its schema
(``+3 -1 ~12``; the first one shows ``+N (first)``). A snapshot taken outside the schedule says why
after its kind (``full (for rollback <restore id>)``). The changes come from the spans that start or end
between the two snapshots, never from reading objects.

``--json`` prints a list, one entry per snapshot::

    [{"id": "<workspace>:<schemaId>:<run id>", "short_id": "1a2b3c4d", "site": "prod", "schema_key": "ITAM",
      "schema_name": "...",
      "workspace_id": "...", "schema_id": "3", "seq": 2, "run_id": "...", "started_at": "<ISO 8601>",
      "finished_at": "<ISO 8601>" | null, "kind": "incremental", "kind_reason": "...",
      "taken_for": "rollback <restore id>" | null, "status": "complete",
      "objects": 150 | null,
      "changes": {"previous": "<snapshot id>" | null, "added": 1, "removed": 1, "changed": 2} | null}]

``changes`` is null for snapshots that are not complete (their content is never read back).

Each row also has ``last_drill``, the schema's newest successful restore drill (``jira_assets_drill``):
``{"id", "finished_at", "days_ago", "objects", "seconds", "partial"}``, or null when the schema was never
restored by a drill; the table ends with one line per schema: "restored and verified N days ago" or
"never restored" (a backup never restored is not a backup).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from airflow_assets.tools import EXIT_OK
from airflow_assets.tools.snapshot_reading import OBJECT, run_tool

if TYPE_CHECKING:
    from pymongo.database import Database

    from airflow_assets.store.reader import Changes
    from airflow_assets.store.snapshots import Snapshot


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``snapshots list``."""
    from airflow_assets.tools.backup_store import add_config_argument

    parser.add_argument(
        "--site", default=None, help="only the snapshots of this site (its name in the config)"
    )
    parser.add_argument("--schema", default=None, metavar="KEY", help="only the snapshots of this schema key")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    """List the snapshots."""
    return run_tool("snapshots list", args, _list)


def _list(db: Database, args: argparse.Namespace) -> int:
    rows = snapshot_rows(db, site=args.site, schema_key=args.schema)
    if args.json:
        from airflow_assets.tools.snapshot_reading import print_json

        print_json(rows)
    else:
        _print_table(rows, args)
    return EXIT_OK


def snapshot_rows(
    db: Database, *, site: str | None = None, schema_key: str | None = None
) -> list[dict[str, Any]]:
    """Return one row per snapshot (see the module docstring), newest first per schema."""
    from airflow_assets.store.reader import SnapshotReader, short_id
    from airflow_assets.store.snapshots import COMPLETE
    from airflow_assets.tools.snapshot_reading import iso

    reader = SnapshotReader(db)
    by_schema: dict[tuple[str, str], list[Snapshot]] = {}
    for snapshot in reader.list_snapshots(site=site, schema_key=schema_key):
        by_schema.setdefault((snapshot.workspace_id, snapshot.schema_id), []).append(snapshot)
    rows: list[dict[str, Any]] = []
    for (workspace_id, schema_id), snapshots in sorted(
        by_schema.items(), key=lambda entry: _schema_order(entry[1])
    ):
        snapshots.sort(key=lambda snapshot: snapshot.seq, reverse=True)
        previous: dict[int, tuple[int, str] | None] = {}
        changes: dict[tuple[int, int], Changes] = {}
        # Reconstructed snapshots are compared among themselves, in their own lane.
        for lane in (
            [s for s in snapshots if not s.reconstructed],
            [s for s in snapshots if s.reconstructed],
        ):
            if not lane:
                continue
            # The previous complete snapshot may be outside the filter (a key renamed since): ask for all.
            complete = reader.complete_seqs(lane[0])
            for index, (seq, _) in enumerate(complete):
                previous[seq] = complete[index - 1] if index else None
            shown = [s for s in lane if s.status == COMPLETE and s.seq in previous]
            pairs = [(entry[0], s.seq) for s in shown if (entry := previous[s.seq]) is not None]
            changes.update(reader.changes(lane[0], OBJECT, pairs))
        for snapshot in snapshots:
            objects = snapshot.objects
            rows.append(
                {
                    "id": snapshot.snapshot_id,
                    "short_id": short_id(snapshot.snapshot_id),
                    "site": snapshot.site,
                    "schema_key": snapshot.schema_key,
                    "schema_name": snapshot.schema_name,
                    "workspace_id": workspace_id,
                    "schema_id": schema_id,
                    "seq": snapshot.seq,
                    "run_id": snapshot.run_id,
                    "started_at": iso(snapshot.started_at),
                    "finished_at": iso(snapshot.finished_at),
                    # The moment the snapshot holds: its start, or a backfill's moment (reconstructed).
                    "state_at": iso(snapshot.state_at),
                    "kind": snapshot.kind,
                    "kind_reason": snapshot.kind_reason,
                    # Why a run outside the schedule took it (e.g. "rollback <restore id>"), or null.
                    "taken_for": _text(snapshot.document.get("taken_for")),
                    "status": snapshot.status,
                    "objects": objects,
                    "changes": _changes(snapshot.seq, snapshot.status, objects, previous, changes),
                }
            )
    return _with_drills(db, rows)


def _with_drills(db: Database, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add to each row its schema's newest successful restore drill (``last_drill``; None: never)."""
    from datetime import UTC, datetime

    from airflow_assets.store.drills import last_successful
    from airflow_assets.tools.snapshot_reading import iso

    now = datetime.now(UTC)
    found: dict[tuple[str, str], dict[str, Any] | None] = {}
    for row in rows:
        schema = (str(row["site"] or ""), str(row["schema_key"]))
        if schema not in found:
            record = last_successful(db, *schema)
            drill = None
            if record is not None:
                finished = record["finished_at"]
                finished = finished if finished.tzinfo else finished.replace(tzinfo=UTC)
                drill = {
                    "id": str(record["_id"]),
                    "finished_at": iso(finished),
                    "days_ago": round((now - finished).total_seconds() / 86400, 1),
                    "objects": record.get("objects"),
                    "seconds": record.get("seconds"),
                    "partial": bool(record.get("partial")),
                }
            found[schema] = drill
        row["last_drill"] = found[schema]
    return rows


def drill_line(site: str, schema_key: str, drill: dict[str, Any] | None) -> str:
    """Say when a schema was last restored and verified by a drill, or that it never was."""
    if drill is None:
        return f"{site}/{schema_key}: never restored"
    part = " (partial)" if drill["partial"] else ""
    return (
        f"{site}/{schema_key}: restored and verified {drill['days_ago']:g} days ago{part}: "
        f"{drill['objects']} objects in {drill['seconds']:.1f} s"
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _schema_order(snapshots: list[Snapshot]) -> tuple[str, str, str]:
    newest = max(snapshots, key=lambda snapshot: snapshot.seq)
    return (newest.site or "", newest.schema_key, newest.schema_id)


def _changes(
    seq: int,
    status: str,
    objects: int | None,
    previous: dict[int, tuple[int, str] | None],
    changes: dict[tuple[int, int], Changes],
) -> dict[str, Any] | None:
    if seq not in previous:
        return None
    before = previous[seq]
    if before is None:
        return {"previous": None, "added": objects or 0, "removed": 0, "changed": 0}
    return {"previous": before[1], **changes[(before[0], seq)].summary()}


def _changes_text(changes: dict[str, Any] | None) -> str:
    if changes is None:
        return ""
    if changes["previous"] is None:
        return f"+{changes['added']} (first)"
    return f"+{changes['added']} -{changes['removed']} ~{changes['changed']}"


def _print_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    from rich.table import Table
    from rich.text import Text

    from airflow_assets.tools.snapshot_reading import console, when

    out = console()
    if not rows:
        filters = [
            f"{name} {value}" for name, value in (("site", args.site), ("schema", args.schema)) if value
        ]
        out.print(f"(no snapshots{' of ' + ', '.join(filters) if filters else ''})")
        return
    table = Table(title="Snapshots (newest first per schema; changes against the previous complete snapshot)")
    # The short id never wraps, so it can be copied from any terminal; --json gives the full ids.
    table.add_column("id", no_wrap=True)
    for name, justify in (
        ("site", "left"),
        ("schema", "left"),
        ("taken at (UTC)", "left"),
        ("kind", "left"),
        ("status", "left"),
        ("objects", "right"),
        ("changes (+added -removed ~changed)", "right"),
    ):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for row in rows:
        status_style = {"complete": "green", "failed": "red", "running": "yellow"}.get(row["status"], "")
        table.add_row(
            row["short_id"],
            Text(str(row["site"] or "")),
            Text(row["schema_key"]),
            when(row["started_at"]),
            Text(
                row["kind"]
                + (f" as of {row['state_at']}" if row["kind"] == "reconstructed" else "")
                + (f" (for {row['taken_for']})" if row["taken_for"] else "")
            ),
            Text(row["status"], style=status_style),
            "" if row["objects"] is None else str(row["objects"]),
            _changes_text(row["changes"]),
        )
    out.print(table)
    lines = {(str(row["site"] or ""), row["schema_key"]): row["last_drill"] for row in rows}
    for (site, key), drill in lines.items():
        out.print(Text(drill_line(site, key, drill), style="" if drill else "yellow"))
