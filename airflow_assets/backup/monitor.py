"""Watch the backups: a schema without a recent complete snapshot, or a snapshot that lost many objects.

A mass deletion is the disaster backups exist for; the monitor makes sure someone hears of it the same day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from croniter import croniter
from pymongo.database import Database

from airflow_assets.store.reader import SnapshotReader


@dataclass(frozen=True)
class Finding:
    """One thing the monitor alerts about."""

    site: str
    schema_key: str
    kind: str  # "never", "stale", "shrank" or "gone" (a schema deleted from a site of every schema)
    message: str

    def as_dict(self) -> dict[str, Any]:
        """Return the finding as JSON-compatible values."""
        return asdict(self)


@dataclass(frozen=True)
class SchemaWatch:
    """A schema the monitor checks: where it is backed up, and how often."""

    site: str
    schema_key: str
    schedule: str
    timezone: str
    # The DAG that backs the schema up; empty: its own, jira_assets_backup_<site>_<key>.
    dag_id: str = ""


def schedule_period(schedule: str, timezone: str, now: datetime) -> timedelta:
    """Return the time between two runs of a cron schedule around ``now``."""
    from zoneinfo import ZoneInfo

    local = now.astimezone(ZoneInfo(timezone))
    runs = croniter(schedule, local)
    first = runs.get_next(datetime)
    return runs.get_next(datetime) - first


def check_snapshots(
    db: Database,
    schemas: Sequence[SchemaWatch],
    *,
    now: datetime,
    max_age_hours: float | None,
    max_object_drop: float,
) -> list[Finding]:
    """Return what is wrong with the schemas' snapshots (nothing: all is well).

    :param max_age_hours: the age of the newest complete snapshot that alerts; None: two schedule periods.
    :param max_object_drop: the share of objects a snapshot may lose against the previous complete one.
    """
    findings = []
    reader = SnapshotReader(db)
    for watch in schemas:
        # Real snapshots only: a backfill's reconstruction of a past day says nothing of today's backups.
        latest = reader.latest_real(watch.schema_key, site=watch.site, count=2)
        name = f"{watch.site}/{watch.schema_key}"
        limit = (
            timedelta(hours=max_age_hours)
            if max_age_hours
            else 2 * schedule_period(watch.schedule, watch.timezone, now)
        )
        if not latest:
            findings.append(
                Finding(watch.site, watch.schema_key, "never", f"{name}: no complete snapshot at all")
            )
            continue
        finished = latest[0].finished_at or now
        age = now - finished
        if age > limit:
            dag_id = watch.dag_id or f"jira_assets_backup_{watch.site.lower()}_{watch.schema_key.lower()}"
            message = (
                f"{name}: the newest complete snapshot finished {_hours(age)} ago "
                f"({finished:%Y-%m-%d %H:%M} UTC), more than the {_hours(limit)} allowed: "
                f"check the DAG {dag_id}"
            )
            findings.append(Finding(watch.site, watch.schema_key, "stale", message))
        if len(latest) == 2:
            now_count = latest[0].objects
            before = latest[1].objects
            if before and now_count is not None and (before - now_count) / before > max_object_drop:
                lost = before - now_count
                message = (
                    f"{name}: snapshot {latest[0].snapshot_id} holds {now_count} objects, "
                    f"{lost} ({lost / before:.0%}) fewer than the one before it ({before}); if they were "
                    "deleted by mistake, restore them with jira_assets_restore, mode recreate_missing"
                )
                findings.append(Finding(watch.site, watch.schema_key, "shrank", message))
    return findings


def _hours(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"
