"""What each restore step says in its task log: one short line a person can follow, no Python reprs."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_assets.restore.comments import CommentsSummary
    from airflow_assets.restore.objects import ObjectsSummary
    from airflow_assets.restore.rollback_writes import RollbackWrites
    from airflow_assets.restore.structure import StructureSummary

KEY_MAP_COMMAND = "airflow-assets restores show {restore_id} --key-map {file}"
CHANGES_COMMAND = "airflow-assets restores show {restore_id} --changes"
ROLLBACK_COUNTS = (
    ("put_back", "object gets attributes back", "objects get attributes back"),
    ("recreate", "deleted object is created again", "deleted objects are created again"),
    ("delete", "created object is deleted", "created objects are deleted"),
    ("conflicts", "object has conflicts (left as they are)", "objects have conflicts (left as they are)"),
    ("left", "object keeps changes outside the window", "objects keep changes outside the window"),
    ("kept_created", "created object stays", "created objects stay"),
    ("kept_deleted", "deleted object stays deleted", "deleted objects stay deleted"),
)


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """Return ``1 schema`` / ``2 schemas``."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def structure_line(summary: StructureSummary) -> str:
    """Return what the structure step created."""
    created = ", ".join(
        [
            counted(summary.schemas_created, "schema"),
            counted(summary.status_types_created, "status type"),
            counted(summary.reference_types_created, "reference type"),
            counted(summary.object_types_created, "object type"),
            counted(summary.attributes_created, "attribute"),
        ]
    )
    moved = f", {summary.attributes_moved} moved into place" if summary.attributes_moved else ""
    reused = f"; {summary.reused} found from an earlier try and reused" if summary.reused else ""
    return f"structure: created {created}{moved}{reused}; {counted(len(summary.warnings), 'warning')}"


def objects_line(summary: ObjectsSummary) -> str:
    """Return what the objects step did, with its rate."""
    rate = summary.created / summary.seconds * 60 if summary.seconds > 0 else 0.0
    parts = [f"objects: created {summary.created} of {summary.selected} selected in {summary.seconds:.1f} s"]
    parts.append(f"({rate:,.0f}/min)")
    extras = [
        f"{summary.already_done} done by an earlier try" if summary.already_done else "",
        f"{summary.reconciled} found after a lost answer" if summary.reconciled else "",
        f"{summary.cyclic} on reference cycles (a second call each)" if summary.cyclic else "",
        f"{summary.inbound_updates} references put back" if summary.inbound_updates else "",
        f"{summary.dropped_values} values left out" if summary.dropped_values else "",
    ]
    tail = "; ".join(extra for extra in extras if extra)
    return " ".join(parts) + (f"; {tail}" if tail else "") + f"; {counted(len(summary.warnings), 'warning')}"


def comments_line(summary: CommentsSummary, *, comments: bool, history: bool) -> str:
    """Return what the comments step created (or why it created nothing)."""
    if not comments and not history:
        return "comments: not restored (include_comments and history_as_comments are off)"
    done = f"; {summary.already_done} done by an earlier try" if summary.already_done else ""
    return (
        f"comments: created {counted(summary.comments_created, 'comment')} and "
        f"{counted(summary.history_comments_created, 'history comment')} "
        f"in {counted(summary.comment_calls, 'call')}{done}"
    )


def restrictions_line(applied: int, refused: Sequence[str], *, mode: str) -> str:
    """Return what the restrictions step set."""
    if mode != "new_schema":
        return f"restrictions: nothing to do in {mode} (the existing schema keeps its own)"
    line = f"restrictions: applied {counted(applied, 'restriction')} after the data"
    return line + (f"; {len(refused)} refused by the site (listed above)" if refused else "")


def report_lines(report: Mapping[str, Any]) -> list[str]:
    """Return the report as lines: totals, then where the old -> new key map is and how to export it."""
    restore_id = str(report.get("restore_id"))
    duration = report.get("duration_s")
    took = f" in {duration:.0f} s" if isinstance(duration, int | float) else ""
    key_map = report.get("key_map") or {}
    file = str(key_map.get("file") or "key_map.csv")
    command = KEY_MAP_COMMAND.format(restore_id=shlex.quote(restore_id), file=shlex.quote(file))
    restored = counted(int(report.get("objects_restored") or 0), "object")
    warnings = counted(int(report.get("warnings") or 0), "warning")
    return [
        f"restore {restore_id}: {restored} restored{took}, {warnings}",
        f"old -> new key map: {file} ({counted(int(key_map.get('rows') or 0), 'row')}), stored with the "
        "restore in the backup database (collection restore_files)",
        f"export it with: {command}",
    ]


def rollback_totals(plans: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Return a rollback plan's counts over every schema and type."""
    totals: dict[str, int] = {}
    for plan in plans:
        for name, count in (plan.get("totals") or {}).items():
            totals[name] = totals.get(name, 0) + int(count)
    return totals


def rollback_plan_lines(plans: Sequence[Mapping[str, Any]], *, dry_run: bool, restore_id: str) -> list[str]:
    """Return what a rollback's plan log says: per schema and type, what goes back; the first changes."""
    lines: list[str] = []
    for plan in plans:
        totals = plan.get("totals") or {}
        history = plan.get("history_snapshot_id")
        lines.append(
            f"rollback of {plan.get('old_key')} to snapshot {plan.get('snapshot_id')}: "
            f"{counted(int(totals.get('compared', 0)), 'object')} compared"
            + (f"; changes read from the history of snapshot {history}" if history else "")
        )
        for type_name, counts in sorted((plan.get("per_type") or {}).items()):
            said = [
                counted(int(counts[name]), singular, plural)
                for name, singular, plural in ROLLBACK_COUNTS
                if counts.get(name)
            ]
            if not said:
                continue
            attributes = counts.get("attributes") or {}
            which = ", ".join(f"{name} x{count}" for name, count in sorted(attributes.items()))
            lines.append(f"  {type_name}: {'; '.join(said)}" + (f" ({which})" if which else ""))
        if not plan.get("per_type"):
            lines.append("  nothing differs: nothing to roll back")
        config = plan.get("config") or {}
        for change in config.get("changes") or []:
            lines.append(f"  configuration: {change}")
        for refused in config.get("refused") or []:
            lines.append(f"  configuration NOT put back: {refused}")
        for change in plan.get("first_changes") or []:
            lines.append(f"  change: {change}")
        for conflict in plan.get("conflicts") or []:
            lines.append(f"  conflict: {conflict}")
    if plans:
        lines.append(
            "every change is stored with the restore: "
            + CHANGES_COMMAND.format(restore_id=restore_id)
            + (" (dry run: nothing was written)" if dry_run else "")
        )
    return lines


def rollback_line(writes: RollbackWrites) -> str:
    """Return what a rollback's writes did."""
    parts = [
        counted(writes.objects_put_back, "object") + " put back",
        counted(writes.deleted, "created object") + " deleted",
        f"{writes.writes} writes",
    ]
    if writes.already_back:
        parts.append(f"{writes.already_back} already back (an earlier try)")
    if writes.changed_since_plan:
        parts.append(f"{writes.changed_since_plan} changed after the plan and left as they are")
    return "rollback: " + ", ".join(parts)
