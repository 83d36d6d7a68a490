"""``airflow-assets snapshots show ID``: one snapshot, its counts per object type, what it includes, fidelity.

``ID`` is a snapshot id (``<workspace>:<schemaId>:<run id>``), its short id (as ``snapshots list`` prints
it) or a unique end of an id, e.g. the run id; several matches are refused (exit 2), the candidates
listed.

Counts per object type are the ones finalize recorded, under the type names of the snapshot's own
configuration; a snapshot that is not complete has none recorded, so its types are counted from the store.

``--json`` prints one object::

    {"id": "...", "short_id": "1a2b3c4d", "site": "prod", "schema_key": "ITAM", "schema_name": "...",
     "workspace_id": "...",
     "schema_id": "3", "seq": 2, "status": "complete", "failure": null, "kind": "incremental",
     "kind_reason": "...", "base_seq": 1, "sweep_slice": "3/7" | null,
     "include": {"history": true, "comments": true, "tickets": false},
     "dag_id": "...", "run_id": "...", "run_type": "scheduled", "started_at": "<ISO 8601>",
     "finished_at": "<ISO 8601>" | null, "seconds": 12.5 | null,
     "counts": {"objects": 150, "history_entries": 322, "comments": 89, "tickets": 45,
                "objects_with_attachments": 0, "counted_from_store": false},
     "object_types": [{"id": "9", "name": "Laptop", "parent_id": "8" | null, "abstract": false,
                       "objects": 93}],
     "steps": {"export_objects": {...the step's recorded summary...}},
     "warnings": ["..."],
     "fidelity": {...} | null}

``sweep_slice`` is the slice ``k/N`` (k from 0) a rolling run re-read in full, null for other runs.
``fidelity`` is the manifest's fidelity report of a reconstructed snapshot, null for a backup.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from airflow_assets.tools import EXIT_OK
from airflow_assets.tools.snapshot_reading import OBJECT, run_tool

if TYPE_CHECKING:
    from pymongo.database import Database

    from airflow_assets.store.snapshots import Snapshot

# Recorded step summary fields that repeat the manifest: left out of the steps table.
_STEP_NOISE = frozenset({"snapshot_id", "step", "schema_id", "schema_key", "seq", "kind", "per_type"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``snapshots show``."""
    from airflow_assets.tools.backup_store import add_config_argument

    parser.add_argument(
        "snapshot", metavar="ID", help="a snapshot id or short id, or a unique end of an id (e.g. its run id)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Show one snapshot."""
    return run_tool("snapshots show", args, _show)


def _show(db: Database, args: argparse.Namespace) -> int:
    from airflow_assets.tools.snapshot_reading import print_json, resolve_snapshot

    snapshot = resolve_snapshot(db, args.snapshot)
    report = snapshot_report(db, snapshot)
    if args.json:
        print_json(report)
    else:
        _print_report(report)
    return EXIT_OK


def snapshot_report(db: Database, snapshot: Snapshot) -> dict[str, Any]:
    """Return what ``show`` prints (see the module docstring)."""
    from airflow_assets.store.reader import SnapshotReader, short_id
    from airflow_assets.store.snapshots import COMPLETE
    from airflow_assets.tools.snapshot_reading import iso, read_snapshot_config

    config = read_snapshot_config(db, snapshot)
    counts = snapshot.counts
    per_type: dict[str, int] = {str(key): int(value) for key, value in (counts.get("per_type") or {}).items()}
    counted_from_store = snapshot.status != COMPLETE or not counts
    if counted_from_store:
        tally = SnapshotReader(db).tally(snapshot)
        per_type = {str(type_id): row["items"] for (kind, type_id), row in tally.items() if kind == OBJECT}
        by_kind = {kind: sum(row["items"] for (k, _), row in tally.items() if k == kind) for kind, _ in tally}
        counts = {
            "objects": sum(per_type.values()),
            "history_entries": by_kind.get("history", 0),
            "comments": by_kind.get("comment", 0),
            "tickets": by_kind.get("ticket", 0),
            "objects_with_attachments": sum(
                row["attachments"] for (kind, _), row in tally.items() if kind == OBJECT
            ),
        }
    types = config.of("object_type")
    object_types = [
        {
            "id": type_id,
            "name": str(data.get("name")),
            "parent_id": data.get("parentObjectTypeId"),
            "abstract": bool(data.get("abstractObjectType")),
            "objects": per_type.get(type_id, 0),
        }
        for type_id, data in types.items()
    ]
    # Types the configuration no longer names (should not happen in a complete snapshot) still count.
    object_types += [
        {"id": type_id, "name": f"type {type_id}", "parent_id": None, "abstract": False, "objects": number}
        for type_id, number in per_type.items()
        if type_id not in types
    ]
    object_types.sort(key=lambda entry: (str(entry["name"]).lower(), entry["id"]))
    include = snapshot.include
    started, finished = snapshot.started_at, snapshot.finished_at
    seconds = None
    if started is not None and finished is not None:
        seconds = round(finished.timestamp() - started.timestamp(), 3)
    return {
        "id": snapshot.snapshot_id,
        "short_id": short_id(snapshot.snapshot_id),
        "site": snapshot.site,
        "schema_key": snapshot.schema_key,
        "schema_name": snapshot.schema_name,
        "workspace_id": snapshot.workspace_id,
        "schema_id": snapshot.schema_id,
        "seq": snapshot.seq,
        "status": snapshot.status,
        "failure": snapshot.failure,
        "kind": snapshot.kind,
        "kind_reason": snapshot.kind_reason,
        "base_seq": snapshot.base_seq,
        "sweep_slice": _sweep_label(snapshot.document.get("sweep_slice")),
        "include": {
            "history": bool(include.get("history")),
            "comments": bool(include.get("comments")),
            "tickets": bool(include.get("connected_tickets")),
        },
        "dag_id": snapshot.dag_id,
        "run_id": snapshot.run_id,
        "run_type": snapshot.run_type,
        "started_at": iso(started),
        "finished_at": iso(finished),
        "seconds": seconds,
        "counts": {
            "objects": counts.get("objects"),
            "history_entries": counts.get("history_entries"),
            "comments": counts.get("comments"),
            "tickets": counts.get("tickets"),
            "objects_with_attachments": counts.get("objects_with_attachments"),
            "counted_from_store": counted_from_store,
        },
        "object_types": object_types,
        "steps": snapshot.steps,
        "warnings": snapshot.warnings,
        "fidelity": snapshot.fidelity or None,
    }


def _sweep_label(stored: Any) -> str | None:
    """Return a rolling run's sweep slice as ``k/N`` (k from 0), or None when it swept none."""
    if isinstance(stored, dict) and "index" in stored and "of" in stored:
        return f"{stored['index']}/{stored['of']}"
    return None


def _print_report(report: dict[str, Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    from airflow_assets.tools.snapshot_reading import console, when

    out = console()
    facts = Table(show_header=False, title=f"Snapshot {report['short_id']}", title_justify="left")
    facts.add_column("field", style="bold")
    facts.add_column("value", overflow="fold")
    include = report["include"]
    included = [name for name in ("history", "comments", "tickets") if include[name]]
    timing = f"{when(report['started_at'])} -> {when(report['finished_at']) or '(not finished)'}"
    if report["seconds"] is not None:
        timing += f" ({report['seconds']:.1f} s)"
    for name, value in (
        ("id", report["id"]),
        ("site", report["site"]),
        ("schema", f"{report['schema_key']} ({report['schema_name']}, id {report['schema_id']})"),
        ("sequence", report["seq"]),
        ("status", report["status"] + (f": {report['failure']}" if report["failure"] else "")),
        ("kind", f"{report['kind']} ({report['kind_reason']})" if report["kind_reason"] else report["kind"]),
        ("base_seq", "-" if report["base_seq"] is None else report["base_seq"]),
        ("sweep_slice", report["sweep_slice"] or "-"),
        ("includes", "objects, config" + "".join(f", {name}" for name in included)),
        ("run", f"{report['dag_id']} {report['run_id']} ({report['run_type']})"),
        ("taken (UTC)", timing),
    ):
        facts.add_row(name, Text(str(value)))
    out.print(facts)

    counts = report["counts"]
    types = Table(
        title="Objects per object type"
        + (" (counted from the store)" if counts["counted_from_store"] else "")
    )
    types.add_column("object type")
    types.add_column("id", justify="right")
    types.add_column("objects", justify="right")
    for entry in report["object_types"]:
        name = entry["name"] + (" (abstract)" if entry["abstract"] else "")
        types.add_row(Text(name), entry["id"], str(entry["objects"]))
    types.add_section()
    types.add_row("all objects", "", str(counts["objects"]))
    for label, key in (
        ("history entries", "history_entries"),
        ("comments", "comments"),
        ("connected tickets", "tickets"),
        ("objects with attachments", "objects_with_attachments"),
    ):
        types.add_row(label, "", "-" if counts[key] is None else str(counts[key]))
    out.print(types)

    if report["steps"]:
        steps = Table(title="Steps")
        steps.add_column("step")
        steps.add_column("seconds", justify="right")
        steps.add_column("summary", overflow="fold")
        for name, summary in report["steps"].items():
            summary = summary if isinstance(summary, dict) else {"value": summary}
            seconds = summary.get("seconds")
            details = ", ".join(
                f"{key}={value}"
                for key, value in summary.items()
                if key not in _STEP_NOISE and key != "seconds" and value not in ("", None, [], {}, False)
            )
            steps.add_row(name, "" if seconds is None else f"{seconds:.1f}", Text(details))
        out.print(steps)

    fidelity = report.get("fidelity")
    if fidelity:
        _print_fidelity(out, fidelity)

    if report["warnings"]:
        out.print("Warnings:")
        for warning in report["warnings"]:
            out.print(Text(f"  - {warning}"))
    else:
        out.print("Warnings: none")

    fidelity = report["fidelity"]
    if fidelity is None:
        out.print("Fidelity: not reconstructed")
    elif isinstance(fidelity, dict):
        table = Table(title="Fidelity (reconstructed snapshot)")
        table.add_column("aspect")
        table.add_column("report", overflow="fold")
        for key, value in fidelity.items():
            table.add_row(Text(str(key)), Text(_text(value)))
        out.print(table)
    else:
        out.print(Text(f"Fidelity: {_text(fidelity)}"))


def _text(value: Any) -> str:
    import json

    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def _print_fidelity(out: Any, fidelity: dict[str, Any]) -> None:
    """Print a reconstructed snapshot's fidelity report."""
    from rich.table import Table
    from rich.text import Text

    table = Table(show_header=False, title="Fidelity (reconstructed from history)", title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    missing = fidelity.get("missing_objects") or {}
    older = fidelity.get("from_older_snapshot") or {}
    rows = [
        ("as of (UTC)", str(fidelity.get("moment"))),
        ("base snapshot", str(fidelity.get("base_snapshot_id"))),
        (
            "values rewound",
            f"{fidelity.get('values_rewound', 0)} in {fidelity.get('objects_rewound', 0)} objects",
        ),
        ("left out", f"{fidelity.get('objects_left_out_created_later', 0)} objects created later"),
        ("not exactly", str(fidelity.get("not_exact", 0))),
    ]
    rows += [
        (f"  {reason}", str(count)) for reason, count in (fidelity.get("not_exact_by_reason") or {}).items()
    ]
    labels = ", ".join(str(label) for label in missing.get("labels") or [])
    rows.append(
        (
            "missing objects",
            f"{missing.get('referenced', 0)} known by label" + (f": {labels}" if labels else ""),
        )
    )
    rows.append(("from older snapshot", str(older.get("count", 0))))
    rows.append(("as in the base", ", ".join(fidelity.get("kept_as_in_base") or [])))
    for name, value in rows:
        table.add_row(name, Text(value))
    out.print(table)
    for note in fidelity.get("not_exact_examples") or []:
        out.print(
            Text(f"  ~ object {note['object_id']} {note['attribute']}: {note['reason']} ({note['detail']})")
        )
