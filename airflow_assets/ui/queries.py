"""Read the store into what each view of the page shows: plain functions over the store, typed results.

No Airflow and no HTTP here: the FastAPI layer (``ui.app``) checks the caller, then calls one of these with
the schemas the caller may read. Every read goes through an index (the manifests by ``key_status``, an
item's spans by ``_id`` range, a snapshot's content by ``from_seq``, versions by ``_id``).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo.database import Database

from airflow_assets.backup.monitor import Finding, SchemaWatch, check_snapshots, schedule_period
from airflow_assets.backup.site_monitor import check_sites
from airflow_assets.restore.request import NEW_SCHEMA, ROLLBACK
from airflow_assets.store.gc_pause import paused_gc
from airflow_assets.store.item_versions import item_spans
from airflow_assets.store.reader import SnapshotReader, short_id
from airflow_assets.store.site_schemas import SiteListings
from airflow_assets.store.snapshots import COMPLETE, Snapshot
from airflow_assets.store.versions import OPEN
from airflow_assets.tools.snapshot_reading import OBJECT, SnapshotConfig, read_snapshot_config
from airflow_assets.tools.snapshots_diff import _config_changes, _object_changes, _referenced
from airflow_assets.ui.catalog import Catalog
from airflow_assets.ui.charts import Point, day_of

# Changed objects shown per page of a diff: a page reads 2 versions per object and their references.
DIFF_PAGE_SIZE = 100
# Snapshots per page of a schema's table.
SCHEMA_PAGE_SIZE = 50
# A schema's table without a filter shows this many days back (a longer period: the filter).
DEFAULT_DAYS = 30
MayRead = Callable[[str | None, str], bool]


class NotVisible(LookupError):
    """The snapshot or object does not exist."""


class NotAllowed(PermissionError):
    """The caller may not read the schema this snapshot is of."""


# -- overview ---------------------------------------------------------------------------------------------


@dataclass
class SchemaSummary:
    """One schema on the overview: its newest complete snapshot, its age against the schedule, its chart."""

    site: str
    schema_key: str
    dag_id: str
    freshness: str  # "fresh", "late", "missing" or "gone"
    newest_id: str | None = None
    newest_short_id: str | None = None
    newest_at: datetime | None = None
    age_text: str = ""
    objects: int | None = None
    points: list[Point] = field(default_factory=list)


@dataclass
class Overview:
    """Every schema the caller may read, and the monitor's alerts about them."""

    schemas: list[SchemaSummary]
    alerts: list[Finding]
    notices: list[Finding]


def overview(db: Database, catalog: Catalog, may_read: MayRead, *, now: datetime | None = None) -> Overview:
    """Return the overview of every schema the caller may read (``may_read(site, key)``)."""
    now = now or datetime.now(UTC)
    reader = SnapshotReader(db)
    watches = [watch for watch in catalog.schemas if may_read(watch.site, watch.schema_key)]
    findings = check_snapshots(
        db, watches, now=now, max_age_hours=catalog.max_age_hours, max_object_drop=catalog.max_object_drop
    )
    every = check_sites(
        db,
        catalog.sites,
        now=now,
        max_age_hours=catalog.max_age_hours,
        max_object_drop=catalog.max_object_drop,
    )
    visible = [f for f in [*findings, *every.alerts] if f.schema_key == "*" or may_read(f.site, f.schema_key)]
    visible = [f for f in visible if f.schema_key != "*" or may_read(f.site, "*")]
    notices = [f for f in every.notices if may_read(f.site, f.schema_key)]
    gone = {(f.site, f.schema_key) for f in [*every.alerts, *every.notices] if f.kind == "gone"}
    listings = SiteListings(db)
    for site in catalog.sites:
        for known in listings.known(site.site):
            if known.key in site.exclude or not may_read(site.site, known.key):
                continue
            watches.append(SchemaWatch(site.site, known.key, site.schedule, site.timezone, site.dag_id))
    summaries = []
    for watch in sorted(watches, key=lambda w: (w.site, w.schema_key)):
        summaries.append(_summary(reader, catalog, watch, now, (watch.site, watch.schema_key) in gone))
    return Overview(summaries, visible, notices)


def _summary(
    reader: SnapshotReader, catalog: Catalog, watch: SchemaWatch, now: datetime, gone: bool
) -> SchemaSummary:
    # Manifests without their step summaries (the chart needs none): cheaper at a thousand snapshots.
    complete = [
        s for s in reader.list_snapshots(site=watch.site, schema_key=watch.schema_key) if s.status == COMPLETE
    ]
    summary = SchemaSummary(
        watch.site, watch.schema_key, catalog.dag_for(watch.site, watch.schema_key), "missing"
    )
    summary.points = [
        Point(s.state_at, float(s.objects), s.reconstructed, "reconstructed" if s.reconstructed else "")
        for s in complete
        if s.state_at is not None and s.objects is not None
    ]
    real = [s for s in complete if not s.reconstructed]
    if real:
        newest = max(real, key=lambda s: s.finished_at or s.state_at or now)
        finished = newest.finished_at or now
        limit = (
            catalog.max_age_hours * 3600
            if catalog.max_age_hours
            else 2 * schedule_period(watch.schedule, watch.timezone, now).total_seconds()
        )
        age = (now - finished).total_seconds()
        summary.freshness = "late" if age > limit else "fresh"
        summary.newest_id, summary.newest_short_id = newest.snapshot_id, short_id(newest.snapshot_id)
        summary.newest_at, summary.objects = newest.state_at, newest.objects
        summary.age_text = _age(age)
    if gone:
        summary.freshness = "gone"
    return summary


def _age(seconds: float) -> str:
    hours = seconds / 3600
    if hours < 1:
        return f"{seconds / 60:.0f} min"
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


# -- a schema ---------------------------------------------------------------------------------------------


@dataclass
class SnapshotRow:
    """One snapshot of a schema's table."""

    snapshot_id: str
    short_id: str
    started_at: datetime | None
    state_at: datetime | None
    kind: str
    status: str
    objects: int | None
    added: int | None
    removed: int | None
    changed: int | None
    previous_id: str | None
    soundness: str
    taken_for: str | None = None


@dataclass
class SchemaView:
    """A schema's snapshots (newest first) within a time filter, and its changes per day."""

    site: str
    schema_key: str
    dag_id: str
    rows: list[SnapshotRow]
    changes_per_day: list[tuple[datetime, int]]
    since: datetime | None = None
    until: datetime | None = None
    page: int = 1
    pages: int = 1
    total: int = 0


def schema_view(
    db: Database,
    catalog: Catalog,
    site: str,
    schema_key: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
) -> SchemaView:
    """Return a schema's snapshots whose state is in ``[since, until]``, a page of them, newest first.

    Changes against the previous complete snapshot (of the same lane) are found for the period's snapshots
    only: one query of the spans that start or end within the period per lane, never a pass over the
    schema's whole history. The chart counts them per day.
    """
    reader = SnapshotReader(db)
    zero = datetime.min.replace(tzinfo=UTC)
    in_period = [
        snapshot
        for snapshot in reader.list_snapshots(site=site, schema_key=schema_key)
        if (moment := snapshot.state_at or snapshot.started_at) is None
        or ((since is None or moment >= since) and (until is None or moment <= until))
    ]
    found: dict[str, tuple[str | None, dict[str, int] | None]] = {}
    for lane in (
        [s for s in in_period if not s.reconstructed],
        [s for s in in_period if s.reconstructed],
    ):
        if not lane:
            continue
        complete = reader.complete_seqs(lane[0])
        previous = {seq: complete[index - 1] if index else None for index, (seq, _) in enumerate(complete)}
        shown = [s for s in lane if s.status == COMPLETE and s.seq in previous]
        # finalize counted each snapshot's changes against the previous complete one: when that is still
        # the previous one (no snapshot between them was deleted since), the count stands.
        missing = [
            (entry[0], s.seq)
            for s in shown
            if (entry := previous[s.seq]) is not None and _recorded(s, entry[1]) is None
        ]
        by_pair = {
            pair: changes.summary() for pair, changes in reader.changes(lane[0], OBJECT, missing).items()
        }
        for snapshot in shown:
            before = previous[snapshot.seq]
            if before is None:
                found[snapshot.snapshot_id] = (None, None)
                continue
            counts = _recorded(snapshot, before[1]) or by_pair[(before[0], snapshot.seq)]
            found[snapshot.snapshot_id] = (before[1], counts)
    rows = []
    per_day: dict[datetime, int] = {}
    for snapshot in in_period:
        previous_id, changes = found.get(snapshot.snapshot_id, (None, None))
        counts = changes or {}
        if previous_id is None and snapshot.snapshot_id in found:
            counts = {"added": snapshot.objects or 0, "removed": 0, "changed": 0}
        state_at = snapshot.state_at or snapshot.started_at
        rows.append(
            SnapshotRow(
                snapshot_id=snapshot.snapshot_id,
                short_id=short_id(snapshot.snapshot_id),
                started_at=snapshot.started_at,
                state_at=state_at,
                kind=snapshot.kind,
                status=snapshot.status,
                objects=snapshot.objects,
                added=counts.get("added"),
                removed=counts.get("removed"),
                changed=counts.get("changed"),
                previous_id=previous_id,
                soundness=_soundness(snapshot.status),
                taken_for=_text(snapshot.document.get("taken_for")),
            )
        )
        if changes is not None and state_at is not None and not snapshot.reconstructed:
            day = day_of(state_at)
            per_day[day] = per_day.get(day, 0) + sum(changes.values())
    rows.sort(key=lambda r: (r.state_at or zero, r.snapshot_id), reverse=True)
    pages = max(1, -(-len(rows) // SCHEMA_PAGE_SIZE))
    page = min(max(page, 1), pages)
    return SchemaView(
        site,
        schema_key,
        catalog.dag_for(site, schema_key),
        rows[(page - 1) * SCHEMA_PAGE_SIZE : page * SCHEMA_PAGE_SIZE],
        sorted(per_day.items()),
        since,
        until,
        page=page,
        pages=pages,
        total=len(rows),
    )


def _recorded(snapshot: Snapshot, previous_id: str) -> dict[str, int] | None:
    """Return the change counts finalize recorded against ``previous_id``, or None (not recorded, or
    against another snapshot)."""
    recorded = snapshot.document.get("changes")
    if not isinstance(recorded, Mapping) or recorded.get("since") != previous_id:
        return None
    return {name: int(recorded.get(name) or 0) for name in ("added", "removed", "changed")}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _soundness(status: str) -> str:
    # A verify that finds damage marks the snapshot damaged (snapshots verify / repair); complete: none found.
    return {COMPLETE: "sound", "damaged": "damaged"}.get(status, "-")


def _moment(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# -- a snapshot -------------------------------------------------------------------------------------------


def find_snapshot(db: Database, snapshot_id: str, may_read: MayRead) -> Snapshot:
    """Return a snapshot by its exact id (the primary index), if the caller may read its schema.

    :raises NotVisible: no such snapshot.
    :raises NotAllowed: the caller may not read its schema.
    """
    snapshot = SnapshotReader(db).get(snapshot_id)
    if snapshot is None:
        raise NotVisible(f"no snapshot {snapshot_id!r}")
    if not may_read(snapshot.site, snapshot.schema_key):
        raise NotAllowed(f"you may not read the snapshots of {snapshot.site}/{snapshot.schema_key}")
    return snapshot


def snapshot_view(db: Database, snapshot: Snapshot) -> dict[str, Any]:
    """Return a snapshot's report: counts per type, steps with durations, warnings, fidelity."""
    from airflow_assets.tools.snapshots_show import snapshot_report

    report = snapshot_report(db, snapshot)
    report["step_rows"] = [_step_row(name, summary) for name, summary in (report["steps"] or {}).items()]
    report["readable"] = SnapshotReader.readable(snapshot)
    return report


def _step_row(name: str, summary: Any) -> dict[str, Any]:
    summary = summary if isinstance(summary, Mapping) else {"value": summary}
    seconds = summary.get("seconds") or summary.get("duration_seconds")
    if seconds is None and summary.get("started_at") and summary.get("finished_at"):
        start, end = _moment(summary["started_at"]), _moment(summary["finished_at"])
        seconds = (end - start).total_seconds() if start and end else None
    facts = {
        key: value
        for key, value in summary.items()
        if not isinstance(value, (Mapping, list)) and key not in {"snapshot_id", "step", "schema_id", "seq"}
    }
    return {"name": name, "seconds": seconds, "facts": facts}


# -- a diff -----------------------------------------------------------------------------------------------


@dataclass
class DiffPage:
    """What changed between two snapshots: configuration, counts per type, one page of object changes."""

    old: Snapshot
    new: Snapshot
    config: dict[str, list[dict[str, Any]]]
    counts: dict[str, int]
    per_type: list[dict[str, Any]]
    changes: list[dict[str, Any]]
    page: int
    pages: int
    total: int


def diff_page(
    db: Database, old: Snapshot, new: Snapshot, *, page: int = 1, type_id: str | None = None
) -> DiffPage:
    """Return one page of the diff from ``old`` to ``new`` (same schema and lane; ``old`` is the older).

    Which objects changed comes from the spans alone (no content read); only the page's objects are read,
    so a diff of 10,000 changes costs what a diff of one page costs, plus one pass over their spans.

    :raises ValueError: the snapshots are of different schemas or lanes, or not complete.
    """
    if (old.workspace_id, old.schema_id) != (new.workspace_id, new.schema_id):
        raise ValueError("a diff compares two snapshots of one schema")
    if old.reconstructed != new.reconstructed:
        raise ValueError("a reconstructed snapshot is compared with another reconstructed one")
    for snapshot in (old, new):
        if not SnapshotReader.readable(snapshot):
            raise ValueError(f"snapshot {snapshot.snapshot_id} is {snapshot.status}: not comparable")
    if old.seq > new.seq:
        old, new = new, old
    reader = SnapshotReader(db)
    old_config, new_config = read_snapshot_config(db, old), read_snapshot_config(db, new)
    # Thousands of entries, every one kept until the page is cut: collecting meanwhile would free nothing.
    with paused_gc():
        entries, per_type = _diff_entries(reader, old, new, (old_config, new_config), type_id)
    pages = max(1, -(-len(entries) // DIFF_PAGE_SIZE))
    page = min(max(page, 1), pages)
    shown = entries[(page - 1) * DIFF_PAGE_SIZE : page * DIFF_PAGE_SIZE]
    hashes = [span["hash"] for _, _, before, after in shown for span in (before, after) if span]
    contents = reader.contents(old, hashes)
    references: dict[str, set[str]] = {"old": set(), "new": set()}
    for change, _, before, after in shown:
        if change == "changed" and before and after:
            references["old"] |= _referenced(contents[before["hash"]])
            references["new"] |= _referenced(contents[after["hash"]])
    known_old = reader.objects_by_id(old, references["old"])
    known_new = reader.objects_by_id(new, references["new"])
    rows = []
    for change, item_id, before, after in shown:
        span = after or before or {}
        type_key = str(span.get("type_id"))
        if change == "changed" and before and after:
            detail = _object_changes(
                item_id,
                contents[before["hash"]],
                contents[after["hash"]],
                (old_config, known_old),
                (new_config, known_new),
            )
            detail["fields"] = {k: v for k, v in detail["fields"].items() if k != "updated"}
        else:
            data = contents[span["hash"]]
            detail = {"id": item_id, "key": data.get("objectKey"), "label": data.get("label"),
                      "fields": {}, "attributes": []}  # fmt: skip
        rows.append({**detail, "change": change, "type_id": type_key, "type": per_type[type_key]["name"]})
    counts = {"added": 0, "removed": 0, "changed": 0}
    for entry in per_type.values():
        for change in counts:
            counts[change] += entry[change]
    return DiffPage(
        old=old,
        new=new,
        config=_config_changes(old_config, new_config),
        counts=counts,
        per_type=sorted(per_type.values(), key=lambda e: (e["name"].lower(), e["id"])),
        changes=rows,
        page=page,
        pages=pages,
        total=len(entries),
    )


DiffEntry = tuple[str, str, dict[str, Any] | None, dict[str, Any] | None]


def _diff_entries(
    reader: SnapshotReader,
    old: Snapshot,
    new: Snapshot,
    configs: tuple[SnapshotConfig, SnapshotConfig],
    type_id: str | None,
) -> tuple[list[DiffEntry], dict[str, dict[str, Any]]]:
    """Return the changes from ``old`` to ``new``, sorted by type name and id, and the counts per type.

    Only the changes of ``type_id`` are returned when it is given; the counts are of every type.
    """
    old_config, new_config = configs
    found = (
        reader.changes(old, OBJECT, [(old.seq, new.seq)]).get((old.seq, new.seq))
        if old.seq < new.seq
        else None
    )
    entries: list[DiffEntry] = []
    if found is not None:
        entries += [("added", item, None, span) for item, span in found.added.items()]
        entries += [("removed", item, span, None) for item, span in found.removed.items()]
        entries += [("changed", item, before, after) for item, (before, after) in found.changed.items()]
    per_type: dict[str, dict[str, Any]] = {}
    for change, _, before, after in entries:
        type_key = str((after or before or {}).get("type_id"))
        entry = per_type.setdefault(
            type_key, {"id": type_key, "name": _type_name(type_key, old_config, new_config),
                       "added": 0, "removed": 0, "changed": 0},
        )  # fmt: skip
        entry[change] += 1
    if type_id is not None:
        entries = [e for e in entries if str((e[3] or e[2] or {}).get("type_id")) == type_id]
    entries.sort(key=lambda e: (per_type[str((e[3] or e[2] or {}).get("type_id"))]["name"].lower(),
                                _numeric(e[1])))  # fmt: skip
    return entries, per_type


def _type_name(type_id: str, old: SnapshotConfig, new: SnapshotConfig) -> str:
    return new.type_name(type_id) if type_id in new.of("object_type") else old.type_name(type_id)


def _numeric(item_id: str) -> tuple[int, str]:
    return (int(item_id), "") if item_id.isdigit() else (1 << 62, item_id)


# -- an object --------------------------------------------------------------------------------------------


@dataclass
class ObjectVersion:
    """One version of an object: the snapshots that hold it (first and last), and its content."""

    from_snapshot: str | None
    to_snapshot: str | None
    held_from: datetime | None
    held_until: datetime | None
    current: bool
    key: str | None
    label: str | None
    attributes: list[dict[str, Any]]


@dataclass
class ObjectView:
    """An object as one snapshot holds it, its versions across the schema's snapshots, its activity."""

    snapshot: Snapshot
    object_id: str
    key: str | None
    label: str | None
    type_id: str | None
    type_name: str
    versions: list[ObjectVersion]
    history: list[dict[str, Any]]
    comments: list[dict[str, Any]]


def object_view(db: Database, snapshot: Snapshot, object_id: str) -> ObjectView:
    """Return an object's versions across its schema's snapshots (one lane) and what ``snapshot`` holds.

    :raises NotVisible: the snapshot's schema never held the object.
    """
    from airflow_assets.tools.snapshots_diff import render_value

    reader = SnapshotReader(db)
    lane = reader.lane(snapshot)
    spans = item_spans(lane, OBJECT, object_id)
    if not spans:
        raise NotVisible(f"no object {object_id!r} in the snapshots of {snapshot.schema_key}")
    seqs = reader.complete_seqs(snapshot)
    seq_numbers = [seq for seq, _ in seqs]
    moments = {
        s.snapshot_id: s.state_at
        for s in reader.complete(snapshot.schema_key, site=snapshot.site)
        if s.reconstructed == snapshot.reconstructed
    }
    contents = reader.contents(snapshot, [span["hash"] for span in spans])
    config = read_snapshot_config(db, snapshot)
    referenced: set[str] = set()
    for data in contents.values():
        referenced |= _referenced(data)
    known = reader.objects_by_id(snapshot, referenced)
    versions = []
    for span in spans:
        low = bisect.bisect_left(seq_numbers, int(span["from_seq"]))
        high = bisect.bisect_left(seq_numbers, int(span["to_seq"])) - 1
        first = seqs[low][1] if low < len(seqs) and low <= high else None
        last = seqs[high][1] if 0 <= high < len(seqs) and low <= high else None
        data = contents[span["hash"]]
        attributes = [
            {
                "name": config.attribute_name(str(a.get("objectTypeAttributeId")))
                or f"attribute {a.get('objectTypeAttributeId')}",
                "values": [render_value(v, config, known) for v in a.get("values") or []],
            }
            for a in data.get("attributes") or []
        ]
        versions.append(
            ObjectVersion(
                from_snapshot=first,
                to_snapshot=last,
                held_from=moments.get(first) if first else None,
                held_until=moments.get(last) if last else None,
                current=int(span["to_seq"]) == OPEN,
                key=data.get("objectKey"),
                label=data.get("label"),
                attributes=attributes,
            )
        )
    versions.reverse()
    held = reader.objects_by_id(snapshot, [object_id]).get(object_id)
    newest = held or contents[spans[-1]["hash"]]
    type_id = str(spans[-1].get("type_id")) if spans[-1].get("type_id") is not None else None
    history = list(reader.read(snapshot, "history", {"parent_id": object_id})) if held else []
    comments = list(reader.read(snapshot, "comment", {"parent_id": object_id})) if held else []
    history.sort(key=lambda entry: str(entry.get("created") or ""))
    comments.sort(key=lambda entry: str(entry.get("created") or ""))
    return ObjectView(
        snapshot=snapshot,
        object_id=object_id,
        key=newest.get("objectKey"),
        label=newest.get("label"),
        type_id=type_id,
        type_name=config.type_name(type_id),
        versions=versions,
        history=history,
        comments=comments,
    )


# -- restore ----------------------------------------------------------------------------------------------


def restore_conf(
    snapshot: Snapshot,
    *,
    object_types: Sequence[str] = (),
    object_keys: Sequence[str] = (),
    gone: bool = False,
) -> dict[str, Any]:
    """Return the restore DAG's params that restore from ``snapshot`` (a type or objects when given).

    Always a dry run. A schema still on its site is rolled back in place (ids and keys stay); a schema gone
    from its site is rebuilt under its old key (``new_schema``).
    """
    conf: dict[str, Any] = {
        "snapshot": snapshot.snapshot_id,
        "schema_mappings": f"{snapshot.schema_key} -> {snapshot.schema_key}" if gone else snapshot.schema_key,
        "mode": NEW_SCHEMA if gone else ROLLBACK,
        "source_site": snapshot.site,
        "dry_run": True,
    }
    if object_types:
        conf["object_types"] = list(object_types)
    if object_keys:
        conf["object_keys"] = list(object_keys)
    return conf


def restore_summary(db: Database, restore_id: str) -> dict[str, Any] | None:
    """Return a restore run's summary and stored plan (``airflow-assets restores show``'s data), or None."""
    from airflow_assets.restore.ledger import Ledger
    from airflow_assets.restore.log_lines import rollback_plan_lines
    from airflow_assets.tools.restores_list import restore_row

    document = Ledger(db, restore_id).document()
    if not document:
        return None
    row = restore_row(document)
    # A rollback's plan: what goes back, per schema and type, as the plan task's log says it.
    rollback = (document.get("rollback") or {}).get("schemas") or []
    lines = rollback_plan_lines(rollback, dry_run=bool(row.get("dry_run")), restore_id=restore_id)
    return {
        **row,
        **{name: document.get(name) for name in ("request", "plan", "steps", "report")},
        "step_warnings": document.get("warnings") or {},
        "rollback_lines": lines,
    }
