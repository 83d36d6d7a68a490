"""Watch the restore drills: a drilled schema without a successful drill in two drill periods.

A schema never drilled alerts once it has had complete snapshots for two drill periods (before that there
was nothing to restore, or the drill DAG was just added).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pymongo.database import Database

from airflow_assets.backup.monitor import Finding, schedule_period
from airflow_assets.store.drills import last_successful
from airflow_assets.store.reader import SnapshotReader


@dataclass(frozen=True)
class DrillWatch:
    """A drilled schema and the drill schedule."""

    site: str
    schema_key: str
    schedule: str
    timezone: str


def check_drills(db: Database, drills: Sequence[DrillWatch], *, now: datetime) -> list[Finding]:
    """Return a finding per drilled schema whose last successful drill is older than two drill periods."""
    findings = []
    reader = SnapshotReader(db)
    for watch in drills:
        limit = 2 * schedule_period(watch.schedule, watch.timezone, now)
        name = f"{watch.site}/{watch.schema_key}"
        last = last_successful(db, watch.site, watch.schema_key)
        if last is None:
            oldest = _oldest_complete(reader, watch)
            if oldest is not None and now - oldest > limit:
                findings.append(
                    Finding(
                        watch.site, watch.schema_key, "never_drilled",
                        f"{name}: never restored by a drill, and backed up for {_days(now - oldest)}: "
                        "check the DAG jira_assets_drill (a backup never restored is not a backup)",
                    )
                )  # fmt: skip
            continue
        finished = last["finished_at"]
        finished = finished if finished.tzinfo else finished.replace(tzinfo=UTC)
        if now - finished > limit:
            findings.append(
                Finding(
                    watch.site, watch.schema_key, "drill_stale",
                    f"{name}: the last successful restore drill finished {_days(now - finished)} ago "
                    f"({finished:%Y-%m-%d %H:%M} UTC), more than two drill periods ({_days(limit)}): "
                    "check the DAG jira_assets_drill (`airflow-assets drills list` shows why drills failed)",
                )
            )  # fmt: skip
    return findings


def _oldest_complete(reader: SnapshotReader, watch: DrillWatch) -> datetime | None:
    """Return when the schema's oldest kept complete snapshot finished (None: it has none)."""
    snapshots = reader.latest_real(watch.schema_key, site=watch.site, count=1000)
    moments = [s.finished_at for s in snapshots if s.finished_at is not None]
    return min(moments) if moments else None


def _days(span: timedelta) -> str:
    return f"{span.total_seconds() / 86400:.1f} days"
