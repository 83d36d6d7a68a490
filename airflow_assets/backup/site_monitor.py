"""Watch the sites backed up with ``schemas: "*"``: their listings, each listed schema, and schemas gone.

The schemas of such a site are known from its newest listing in the store, not from the config. Each is
checked like a configured schema (stale, never, shrank) against the site's schedule. A schema that earlier
listings found and the newest one lacks is *gone from the site*: its snapshots are kept (retention still
applies) and it is never called stale. Its disappearance alerts while it is recent (within the age that
alerts: a whole schema deleted by mistake is the worst loss there is); afterwards it is a notice only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pymongo.database import Database

from airflow_assets.backup.monitor import Finding, SchemaWatch, check_snapshots, schedule_period
from airflow_assets.store.reader import SnapshotReader
from airflow_assets.store.site_schemas import SiteListings


@dataclass(frozen=True)
class SiteWatch:
    """A site of every schema the monitor checks.

    :param site: the site's name in the configuration.
    :param dag_id: its DAG, ``jira_assets_backup_<site>``.
    :param schedule: the site's schedule.
    :param timezone: the schedule's time zone.
    :param exclude: the keys the site leaves out (never reported).
    """

    site: str
    dag_id: str
    schedule: str
    timezone: str
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class SiteFindings:
    """What the monitor found on the sites of every schema.

    :param alerts: what fails the monitor (and so alerts).
    :param notices: what it only reports: schemas gone from their site for longer than the alerting age.
    :param watched: how many listed schemas were checked.
    """

    alerts: tuple[Finding, ...]
    notices: tuple[Finding, ...]
    watched: int


def check_sites(
    db: Database,
    sites: Sequence[SiteWatch],
    *,
    now: datetime,
    max_age_hours: float | None,
    max_object_drop: float,
) -> SiteFindings:
    """Check every site of every schema: its newest listing, each schema it listed, the schemas gone.

    :param max_age_hours: the age that alerts; None: two schedule periods of the site.
    :param max_object_drop: the share of objects a snapshot may lose against the previous complete one.
    """
    alerts: list[Finding] = []
    notices: list[Finding] = []
    watched = 0
    listings = SiteListings(db)
    reader = SnapshotReader(db)
    for site in sites:
        limit = (
            timedelta(hours=max_age_hours)
            if max_age_hours
            else 2 * schedule_period(site.schedule, site.timezone, now)
        )
        latest = listings.latest(site.site)
        if latest is None:
            message = f"{site.site}/*: the DAG {site.dag_id} never listed the site's schemas"
            alerts.append(Finding(site.site, "*", "never", message))
            continue
        listed_at = _utc(latest.listed_at)
        if now - listed_at > limit:
            message = (
                f"{site.site}/*: the site's schemas were last listed {_age(now - listed_at)} ago "
                f"({listed_at:%Y-%m-%d %H:%M} UTC), more than the {_age(limit)} allowed: check the DAG "
                f"{site.dag_id}"
            )
            alerts.append(Finding(site.site, "*", "stale", message))
        known = {schema.key: schema for schema in listings.known(site.site)}
        keys = [key for key in latest.keys if key not in site.exclude]
        watches = [SchemaWatch(site.site, key, site.schedule, site.timezone, site.dag_id) for key in keys]
        watched += len(watches)
        for finding in check_snapshots(
            db, watches, now=now, max_age_hours=max_age_hours, max_object_drop=max_object_drop
        ):
            first = known.get(finding.schema_key)
            # A schema new on the site: its first backup may still be running.
            if finding.kind == "never" and first is not None and now - _utc(first.first_listed_at) <= limit:
                continue
            alerts.append(finding)
        on_site = set(latest.keys) | set(latest.left_out)
        for key, schema in sorted(known.items()):
            if key in on_site or key in site.exclude:
                continue
            last_listed = _utc(schema.last_listed_at)
            newest = reader.latest_real(key, site=site.site)
            finished = _utc(newest[0].finished_at or now) if newest else now
            kept = (
                f"its snapshots are kept (newest finished {finished:%Y-%m-%d %H:%M} UTC): restore it with "
                "jira_assets_restore, mode new_schema"
                if newest
                else "it has no complete snapshot"
            )
            message = (
                f"{site.site}/{key}: gone from the site (last listed {last_listed:%Y-%m-%d %H:%M} UTC, "
                f"schema id {schema.schema_id}); {kept}"
            )
            finding = Finding(site.site, key, "gone", message)
            (alerts if now - last_listed <= limit else notices).append(finding)
    return SiteFindings(tuple(alerts), tuple(notices), watched)


def _utc(moment: datetime) -> datetime:
    # MongoDB gives naive datetimes back (UTC) unless the client is tz-aware.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _age(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"
