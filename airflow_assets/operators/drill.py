"""The drill DAG's operators: one restore drill per schema, and a teardown that deletes scratch schemas left.

The work is :func:`airflow_assets.restore.drill.run_drill` (plain Python); a drill that fails records why in
``drills`` and then fails its task, which alerts through the config's notifiers like a failed backup.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from airflow_assets.exceptions import AssetsAuthError, AssetsBadRequestError, AssetsConfigError
from airflow_assets.hooks import JiraAssetsHook
from airflow_assets.hooks.backup_store import backup_database
from airflow_assets.hooks.snapshot_key import snapshot_key
from airflow_assets.restore.drill import (
    DrillFailedError,
    DrillTarget,
    delete_scratch,
    run_drill,
    scratch_key,
)
from airflow_assets.restore.request import RestoreParamError

log = logging.getLogger(__name__)

# What a retry cannot mend: bad input, a refused write, a verify that found differences.
_NOT_RETRIED = (
    DrillFailedError,
    RestoreParamError,
    AssetsConfigError,
    AssetsBadRequestError,
    AssetsAuthError,
)


class RestoreDrillOperator(BaseOperator):
    """Restore one schema's latest snapshot into a scratch schema, verify it, record the RTO, delete it.

    :param site: the config's site the schema is backed up from.
    :param schema_key: the drilled schema.
    :param target_conn_id: the ``jira_assets`` connection drills restore into.
    :param max_objects: the most objects a drill restores (more: whole types up to it; the drill is partial).
    :param sites: the site names of the backup config.
    :param mongo_conn_id: the ``mongo`` connection of the backup store.
    :param mongo_database: the database backups are kept in.
    """

    template_fields: Sequence[str] = ("mongo_conn_id", "mongo_database")
    ui_color = "#e3f1e6"

    def __init__(
        self,
        *,
        site: str,
        schema_key: str,
        target_conn_id: str,
        max_objects: int,
        sites: Sequence[str],
        mongo_conn_id: str = "jira_assets_backup",
        mongo_database: str = "jira_assets",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.site = site
        self.schema_key = schema_key
        self.target_conn_id = target_conn_id
        self.max_objects = max_objects
        self.sites = list(sites)
        self.mongo_conn_id = mongo_conn_id
        self.mongo_database = mongo_database

    def execute(self, context: Context) -> dict[str, Any]:
        """Run the drill; return its figures (XCom), or fail after recording why."""
        dag_run = context["dag_run"]
        target = DrillTarget(
            dag_id=dag_run.dag_id,
            run_id=dag_run.run_id,
            site=self.site,
            schema_key=self.schema_key,
            target_conn_id=self.target_conn_id,
            max_objects=self.max_objects,
            sites=self.sites,
        )
        with backup_database(self.mongo_conn_id, self.mongo_database) as db:
            try:
                result = run_drill(
                    db,
                    target,
                    lambda conn_id: JiraAssetsHook(conn_id).get_client(),
                    snapshot_key=snapshot_key(),
                )
            except _NOT_RETRIED as error:
                log.error("drill of %s/%s failed: %s", self.site, self.schema_key, error)
                raise AirflowFailException(
                    f"drill of {self.site}/{self.schema_key} failed: {error}"
                ) from None
        return {
            key: value
            for key, value in result.as_dict().items()
            if key not in ("errors", "types")  # small XCom: the record holds the rest
        }


class DeleteScratchSchemasOperator(BaseOperator):
    """Delete every scratch schema of this drill run still on the target (a try killed before its cleanup).

    :param schemas: ``(site, schema key)`` of every drilled schema.
    :param target_conn_id: the ``jira_assets`` connection drills restore into.
    """

    ui_color = "#e3f1e6"

    def __init__(self, *, schemas: Sequence[Sequence[str]], target_conn_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.schemas = [list(schema) for schema in schemas]
        self.target_conn_id = target_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        """Delete the run's scratch schemas that are left; return their keys."""
        run_id = context["dag_run"].run_id
        deleted = []
        try:
            client = JiraAssetsHook(self.target_conn_id).get_client()
            for site, key in self.schemas:
                scratch = scratch_key(run_id, site, key)
                if delete_scratch(client, scratch):
                    log.warning("deleted scratch schema %s (drill of %s/%s) a try left", scratch, site, key)
                    deleted.append(scratch)
        except _NOT_RETRIED as error:
            # A target that refuses the credentials refuses them on every retry too.
            raise AirflowFailException(f"scratch schemas not checked: {error}") from None
        return {"deleted": deleted}
