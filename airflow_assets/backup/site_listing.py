"""Every schema of a site (``schemas: "*"``): list what the site has when a run starts, and back each one up.

The listing is taken by the first task of the site's DAG and recorded in the store
(:class:`~airflow_assets.store.site_schemas.SiteListings`), so a schema created on the site is backed up by
the next run without any config change, and one deleted from it is known as gone. Each listed schema is then
backed up by :func:`~airflow_assets.backup.adhoc.backup_now` under the site DAG's run: the same steps as a
schema's own DAG, resumable on a retry.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import replace
from datetime import UTC, datetime

from pymongo.database import Database

from airflow_assets.api import AssetsClient
from airflow_assets.backup.adhoc import AdhocBackup, backup_now
from airflow_assets.backup.run import BACKFILL, BackupRun
from airflow_assets.backup.schema_config import BackupTarget
from airflow_assets.exceptions import AssetsConfigError
from airflow_assets.store import ensure_indexes
from airflow_assets.store.site_schemas import ListedSchema, SiteListing, SiteListings

log = logging.getLogger(__name__)


def list_site_schemas(
    client: AssetsClient,
    db: Database,
    *,
    site: str,
    run: BackupRun,
    exclude: Collection[str] = (),
    named_elsewhere: Collection[str] = (),
    now: datetime | None = None,
) -> SiteListing:
    """List the site's object schemas now, record the listing and return it (a retry returns the first one).

    :param site: the site's name in the configuration.
    :param run: the site DAG's run.
    :param exclude: keys the site's ``exclude`` leaves out.
    :param named_elsewhere: keys another site of the same connection lists by name (their own DAGs back
        them up).
    :param now: the moment of the listing (default: now).
    :raises AssetsConfigError: the run is a backfill (a site of every schema takes no past snapshots).
    """
    if run.run_type == BACKFILL:
        raise AssetsConfigError(
            f'site {site!r} backs up every schema (schemas: "*"), which takes snapshots of the present only: '
            "to backfill a schema, list it by name in a site of its own and backfill that schema's DAG"
        )
    listings = SiteListings(db)
    earlier = listings.of_run(site, run.run_id)
    if earlier is not None:
        log.info("run %s listed the site before (a retry): %s", run.run_id, ", ".join(earlier.keys) or "none")
        return earlier
    found = [
        ListedSchema(str(raw.get("objectSchemaKey")), str(raw.get("id")), str(raw.get("name") or ""))
        for raw in client.iter_object_schemas()
    ]
    skipped = set(exclude) | set(named_elsewhere)
    listing = SiteListing(
        site=site,
        dag_id=run.dag_id,
        run_id=run.run_id,
        listed_at=now or datetime.now(UTC),
        schemas=tuple(sorted((s for s in found if s.key not in skipped), key=lambda s: s.key)),
        left_out=tuple(sorted(s.key for s in found if s.key in skipped)),
    )
    ensure_indexes(db)
    stored = listings.record(listing)
    log.info(
        "site %s has %s schemas to back up: %s (left out: %s)",
        site, len(stored.schemas), ", ".join(stored.keys) or "none", ", ".join(stored.left_out) or "none",
    )  # fmt: skip
    missing = sorted(set(exclude) - {s.key for s in found})
    if missing:
        log.warning("exclude names keys the site does not have: %s", ", ".join(missing))
    return stored


def of_the_present(run: BackupRun, *, schedule: str, timezone: str, now: datetime | None = None) -> BackupRun:
    """Return the run as one of the present: a scheduled run started late keeps its ids, not its old interval.

    A schema's own DAG rewinds a late run to its moment; a site of every schema backs up the present only,
    and its snapshot says when it was taken.
    """
    if run.past_moment(schedule=schedule, timezone=timezone, now=now) is None:
        return run
    moment = now or datetime.now(UTC)
    return replace(run, data_interval_start=moment, data_interval_end=moment)


def back_up_listed_schema(
    client: AssetsClient, db: Database, target: BackupTarget, run: BackupRun, *, key: bytes | None
) -> AdhocBackup | None:
    """Back up one listed schema under the site DAG's run; None when it left the site since the listing.

    Safe to call again for the same run (a retry): it resumes the snapshot an earlier try left, or returns
    the one it completed.
    """
    if client.find_object_schema(target.schema_key) is None:
        log.warning(
            "schema %s was deleted from the site after the listing: nothing to back up", target.schema_key
        )
        return None
    present = of_the_present(run, schedule=target.schedule, timezone=target.timezone)
    return backup_now(client, db, target, present, key=key, taken_for=None)
