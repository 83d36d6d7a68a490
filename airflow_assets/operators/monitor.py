"""The monitor DAG's operator: fail (and so alert) when backups are stale or a snapshot lost many objects."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from airflow_assets.backup.drill_watch import DrillWatch, check_drills
from airflow_assets.backup.monitor import SchemaWatch, check_snapshots
from airflow_assets.backup.site_monitor import SiteWatch, check_sites
from airflow_assets.hooks.backup_store import backup_database

log = logging.getLogger(__name__)


class SnapshotMonitorOperator(BaseOperator):
    """Check every configured schema's snapshots; fail listing what is wrong.

    :param schemas: ``{site, schema_key, schedule, timezone}`` of every configured schema.
    :param max_age_hours: the age of the newest complete snapshot that alerts (None: two schedule periods).
    :param max_object_drop: the share of objects a snapshot may lose against the one before it.
    :param mongo_conn_id: the ``mongo`` connection of the backup store.
    :param mongo_database: the database backups are kept in.
    :param sites: ``{site, dag_id, schedule, timezone, exclude}`` of every site with ``schemas: "*"``: the
        schemas its newest listing found are checked too, and those gone from it are reported as gone.
    :param drills: ``{site, schema_key, schedule, timezone}`` of every drilled schema (the drill schedule):
        alert when one has no successful restore drill in two drill periods.
    """

    template_fields: Sequence[str] = ("mongo_conn_id", "mongo_database")
    ui_color = "#fff4d6"

    def __init__(
        self,
        *,
        schemas: Sequence[dict[str, str]],
        max_age_hours: float | None,
        max_object_drop: float,
        mongo_conn_id: str = "jira_assets_backup",
        mongo_database: str = "jira_assets",
        sites: Sequence[dict[str, Any]] = (),
        drills: Sequence[dict[str, str]] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.schemas = [dict(schema) for schema in schemas]
        self.sites = [dict(site) for site in sites]
        self.max_age_hours = max_age_hours
        self.max_object_drop = max_object_drop
        self.mongo_conn_id = mongo_conn_id
        self.mongo_database = mongo_database
        self.drills = [dict(drill) for drill in drills]

    def execute(self, context: Context) -> dict[str, Any]:
        """Check; return the number of schemas checked, or fail with every finding."""
        with backup_database(self.mongo_conn_id, self.mongo_database) as db:
            findings = check_snapshots(
                db,
                [SchemaWatch(**schema) for schema in self.schemas],
                now=datetime.now(UTC),
                max_age_hours=self.max_age_hours,
                max_object_drop=self.max_object_drop,
            )
            findings += check_drills(
                db, [DrillWatch(**drill) for drill in self.drills], now=datetime.now(UTC)
            )
            every = check_sites(
                db,
                [SiteWatch(**{**site, "exclude": tuple(site.get("exclude") or ())}) for site in self.sites],
                now=datetime.now(UTC),
                max_age_hours=self.max_age_hours,
                max_object_drop=self.max_object_drop,
            )
        findings += every.alerts
        for notice in every.notices:
            log.warning("%s", notice.message)
        for finding in findings:
            log.error("%s", finding.message)
        if findings:
            raise AirflowFailException(
                f"{len(findings)} backup problem(s): " + "; ".join(finding.message for finding in findings)
            )
        checked = len(self.schemas) + every.watched
        log.info("all %s schemas have a recent snapshot and no mass deletion", checked)
        return {
            "schemas": checked,
            "findings": 0,
            "notices": [notice.as_dict() for notice in every.notices],
        }
