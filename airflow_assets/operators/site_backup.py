"""Operators of the DAG of a site with ``schemas: "*"``: list the site's schemas, back up each one (mapped).

``ListSiteSchemasOperator`` returns the keys to back up; ``BackupSiteSchemaOperator`` is expanded over them,
one mapped task per schema (its map index shows the key), each a whole backup of its schema by
:func:`~airflow_assets.backup.adhoc.backup_now`, resumable on a retry. The teardown marks failed what a run
left running and frees the schemas' leases.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Asset, AssetAlias, Context
from airflow.sdk.exceptions import AirflowSkipException

from airflow_assets.backup.adhoc import MAX_ATTEMPTS
from airflow_assets.backup.schema_config import BackupTarget
from airflow_assets.backup.site_listing import back_up_listed_schema, list_site_schemas
from airflow_assets.hooks.snapshot_key import snapshot_key
from airflow_assets.operators.backup import _BackupStepOperator, _step, backup_run
from airflow_assets.store import SchemaLease, SnapshotStore
from airflow_assets.store.site_schemas import SiteListings
from airflow_assets.store.snapshots import Snapshot


class ListSiteSchemasOperator(_BackupStepOperator):
    """List the site's object schemas now (minus ``exclude``), record the listing; return the keys.

    :param site: the site's name in the configuration.
    :param exclude: keys the site leaves out.
    :param named_elsewhere: keys another site of the same connection lists by name (backed up by their own
        DAGs).
    """

    ui_color = "#e6f4ea"
    # It names the schemas to back up; each mapped backup reports the one it read and wrote.
    reports_lineage = False

    def __init__(
        self, *, site: str, exclude: Sequence[str] = (), named_elsewhere: Sequence[str] = (), **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.site = site
        self.exclude = list(exclude)
        self.named_elsewhere = list(named_elsewhere)

    @_step
    def execute(self, context: Context) -> list[str]:
        with self.database() as db:
            listing = list_site_schemas(
                self.hook.get_client(),
                db,
                site=self.site,
                run=backup_run(context),
                exclude=self.exclude,
                named_elsewhere=self.named_elsewhere,
            )
        return list(listing.keys)


class BackupSiteSchemaOperator(_BackupStepOperator):
    """Back up one schema the listing found, whole, under the site DAG's run (mapped over the keys).

    :param site: the site's name in the configuration.
    :param schema_key: the schema (the mapped argument).
    :param include: ``{history, comments, connected_tickets}`` flags.
    :param full_sweep_every: N of the sweep (``sweep``).
    :param sweep: ``rolling`` (1/N of the objects' activity re-read each run) or ``full`` (all every Nth run).
    :param schedule: the site's cron schedule.
    :param timezone: the schedule's time zone.
    """

    template_fields: Sequence[str] = (*_BackupStepOperator.template_fields, "schema_key")

    def __init__(
        self,
        *,
        site: str,
        schema_key: str,
        include: Mapping[str, bool],
        full_sweep_every: int,
        sweep: str,
        schedule: str,
        timezone: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.site = site
        self.schema_key = schema_key
        self.include = dict(include)
        self.full_sweep_every = full_sweep_every
        self.sweep = sweep
        self.schedule = schedule
        self.timezone = timezone

    def written_snapshot(self, store: SnapshotStore, dag_id: str, run_id: str) -> Snapshot | None:
        """Return this task's schema's snapshot in the site DAG's run (the run holds one per schema)."""
        return store.find_for_run(dag_id, run_id, schema_key=self.schema_key)

    @_step
    def execute(self, context: Context) -> dict[str, Any]:
        target = BackupTarget(
            site=self.site,
            schema_key=self.schema_key,
            include=self.include,
            full_sweep_every=self.full_sweep_every,
            sweep=self.sweep,
            schedule=self.schedule,
            timezone=self.timezone,
        )
        with self.database() as db:
            done = back_up_listed_schema(
                self.hook.get_client(), db, target, backup_run(context), key=snapshot_key()
            )
        if done is None:
            raise AirflowSkipException(f"schema {self.schema_key} left the site after the listing")
        # The schema's Airflow Asset event, through the site's alias: the URI and extra of a schema DAG's.
        uri = f"jira-assets://{self.site}/{self.schema_key}"
        extra: dict[str, Any] = {
            "snapshot_id": done.snapshot_id,
            "site": self.site,
            "schema_key": done.schema_key,
            "seq": done.seq,
            "kind": done.kind,
            "counts": done.counts,
        }
        for outlet in self.outlets:
            if isinstance(outlet, AssetAlias):
                context["outlet_events"][outlet].add(
                    Asset(name=uri, uri=uri, group="jira-assets"), extra=extra
                )
        return done.as_dict()


class MarkSiteSnapshotsFailedOperator(_BackupStepOperator):
    """Teardown: mark failed every snapshot the run left running, and free those schemas' leases."""

    ui_color = "#fde8e8"
    reports_lineage = False

    @_step
    def execute(self, context: Context) -> dict[str, Any]:
        dag_run = context["dag_run"]
        run_ids = [dag_run.run_id, *(f"{dag_run.run_id}.{n}" for n in range(2, MAX_ATTEMPTS + 1))]
        failed = []
        with self.database() as db:
            snapshots = SnapshotStore(db)
            for snapshot in SiteListings(db).running_of_runs(dag_run.dag_id, run_ids):
                reason = "a task of the run failed or was stopped before finalize completed the snapshot"
                if snapshots.fail(snapshot.snapshot_id, reason, finished_at=datetime.now(UTC)):
                    self.log.error(
                        "snapshot %s of %s marked failed", snapshot.snapshot_id, snapshot.schema_key
                    )
                    failed.append(snapshot.snapshot_id)
                SchemaLease(db, snapshot.workspace_id, snapshot.schema_id, snapshot.snapshot_id).release()
        return {"marked_failed": failed}
