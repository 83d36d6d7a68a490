"""Which schemas the page shows, which DAG guards each, and where the store is: read from the DAG plan.

The page shows what the monitor watches (``dags.plan``'s monitor spec: every configured schema, and every
site of every schema), so the page and the alerts agree. A schema's snapshots are guarded by its backup DAG:
``jira_assets_backup_<site>_<key>``, or ``jira_assets_backup_<site>`` for a site of every schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from airflow_assets.backup.monitor import SchemaWatch
from airflow_assets.backup.site_monitor import SiteWatch
from airflow_assets.dags.plan import (
    RESTORE_DAG_ID,
    MonitorDagSpec,
    backup_dag_id,
    plan_from_file,
    site_backup_dag_id,
)


@dataclass(frozen=True)
class Catalog:
    """The configured schemas and sites, the store's connection, the monitor's thresholds.

    :param problems: why the configuration could not be read (the page says so instead of guessing).
    """

    mongo_conn_id: str
    mongo_database: str
    schemas: tuple[SchemaWatch, ...]
    sites: tuple[SiteWatch, ...]
    max_age_hours: float | None
    max_object_drop: float
    restore_dag_id: str = RESTORE_DAG_ID
    problems: tuple[str, ...] = ()

    def dag_for(self, site: str | None, schema_key: str) -> str:
        """Return the DAG whose read access lets a user see a schema's snapshots."""
        for watch in self.schemas:
            if watch.site == site and watch.schema_key == schema_key:
                return watch.dag_id or backup_dag_id(watch.site, watch.schema_key)
        for every in self.sites:
            if every.site == site:
                return every.dag_id
        # A schema no longer configured: its own DAG's name (read access to a DAG that is gone is refused).
        return backup_dag_id(site or "", schema_key)

    def watch_of(self, site: str | None, schema_key: str) -> SchemaWatch | None:
        """Return the schedule the schema is backed up on (a listed schema of a site of every schema too)."""
        for watch in self.schemas:
            if watch.site == site and watch.schema_key == schema_key:
                return watch
        for every in self.sites:
            if every.site == site:
                return SchemaWatch(every.site, schema_key, every.schedule, every.timezone, every.dag_id)
        return None


def load_catalog(path: str | None = None) -> Catalog:
    """Plan the configured DAGs (no I/O but the file) and keep what the page needs."""
    specs = plan_from_file(path)
    monitors = [spec for spec in specs if isinstance(spec, MonitorDagSpec)]
    if not monitors:
        problems: list[str] = []
        for spec in specs:
            problems.extend(getattr(spec, "problems", ()) or ())
        return Catalog("", "", (), (), None, 0.5, problems=tuple(problems) or ("no backup configuration",))
    monitor = monitors[0]
    return Catalog(
        mongo_conn_id=monitor.mongo_conn_id,
        mongo_database=monitor.mongo_database,
        schemas=tuple(monitor.schemas),
        sites=tuple(monitor.sites),
        max_age_hours=monitor.max_age_hours,
        max_object_drop=monitor.max_object_drop,
    )


def site_dag(site: str) -> str:
    """Return the DAG of a site of every schema."""
    return site_backup_dag_id(site)


def schema_dags(catalog: Catalog, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Return the guarding DAG of each (site, schema key)."""
    return {pair: catalog.dag_for(*pair) for pair in pairs}
